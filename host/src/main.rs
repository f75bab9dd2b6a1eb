//! The `sandrun` command line.

mod archive;
mod cli;
mod commands;
mod exit;
mod id;
mod images;
mod language;
mod loader;
mod mcp;
mod payload;
mod plan;
mod progress;
mod remote;
mod serve;
mod source;
mod ssm;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{AutomationCommand, Cli, Command, CommandCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Run(args) => commands::run::run(&cli.global, args),
        Command::Bench(args) => commands::bench::run(&cli.global, args),
        Command::Fetch(args) => commands::fetch::run(&cli.global, args),
        Command::Cache(command) => commands::cache::run(&cli.global, command),
        Command::Image(command) => commands::image::run(&cli.global, command),
        Command::Automation(AutomationCommand::Run(args)) => {
            commands::automation::run(&cli.global, args)
        }
        Command::Ssm(CommandCommand::Run(args)) => commands::command::run(&cli.global, args),
        Command::Serve(args) => commands::serve::run(&cli.global, args),
        Command::Mcp(args) => commands::mcp::run(&cli.global, args),
        Command::HashKey { key } => commands::serve::hash_key(key),
    };
    outcome.unwrap_or_else(|error| {
        let code = exit::for_error(&error);
        let json_mode = match &cli.command {
            Command::Run(args) => args.json,
            Command::Automation(AutomationCommand::Run(args)) => args.json,
            Command::Ssm(CommandCommand::Run(args)) => args.json,
            _ => false,
        };
        if json_mode {
            // JSON mode promises one object on stdout, also when nothing ran.
            println!("{}", exit::error_json(&error));
        }
        eprintln!("sandrun: {error}");
        for cause in error.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        code
    })
}
