//! The command line, as clap parses it. Validation and defaults that depend
//! on several flags live with the commands, not here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run scripts in a WebAssembly sandbox: no network, no host files or
/// environment unless granted, enforced time, fuel, memory and output limits.
#[derive(Debug, Parser)]
#[command(name = "sandrun", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where images, compiled artifacts and sources are cached
    /// [default: the user cache folder, e.g. ~/.cache/sandrun]
    #[arg(long, global = true, env = "SANDRUN_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Use this prebuilt Python image folder instead of the cached one
    #[arg(long, global = true, env = "SANDRUN_IMAGE_DIR", value_name = "DIR")]
    pub image_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a script, a handler, or a command line in a fresh sandbox
    Run(RunArgs),
    /// Measure per-invocation latency against a native python3 subprocess
    Bench(BenchArgs),
    /// Build or locate the Python guest image
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A .py file, a folder, a .zip, or `-` for script text on stdin
    pub source: String,

    #[command(flatten)]
    pub entry: EntryArgs,

    /// The command line, as AWS-RunRemoteScript runs it: "mainFile.py arg1 arg2"
    #[arg(long, value_name = "\"FILE ARGS...\"", conflicts_with = "handler")]
    pub command_line: Option<String>,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// Grant a host folder: HOST:GUEST[:ro|rw] (read-only unless :rw)
    #[arg(long = "mount", value_name = "HOST:GUEST[:ro|rw]")]
    pub mounts: Vec<String>,

    /// Set an environment variable in the guest (it sees no others)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Let the guest read the host's real wall clock (default: a virtual
    /// clock that starts at the Unix epoch)
    #[arg(long)]
    pub allow_clock: bool,

    /// Print exactly one JSON object with the whole result on stdout
    #[arg(long)]
    pub json: bool,
}

/// Which function to call, with what input, in which interpreter.
#[derive(Debug, Args)]
pub struct EntryArgs {
    /// The handler: `func` for a single file, `module.func` for a folder or .zip
    #[arg(long, value_name = "NAME")]
    pub handler: Option<String>,

    /// The event: JSON text, or @FILE.json / @FILE.yaml
    #[arg(long, value_name = "JSON|@FILE", requires = "handler")]
    pub payload: Option<String>,

    /// The interpreter: python, python3, or an aws:executeScript name such as python3.11
    /// [default: by the script's extension]
    #[arg(long, value_name = "NAME")]
    pub runtime: Option<String>,
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Wall-clock limit in seconds [default: 600 for handlers, 3600 for commands; at most 172800]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,

    /// Instruction budget (CPython burns about 18 G per second) [default: unmetered]
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,

    /// Memory limit in MiB [default: 256]
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u64>,

    /// Bytes kept of stdout and of stderr, each [default: 1048576]
    #[arg(long, value_name = "BYTES")]
    pub max_output: Option<usize>,

    /// Largest handler payload in bytes of JSON [default: 102400]
    #[arg(long, value_name = "BYTES")]
    pub max_payload: Option<usize>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A .py file, a folder or a .zip holding the handler
    pub source: String,

    #[command(flatten)]
    pub entry: EntryArgs,

    /// Invocations to measure, each in a fresh sandbox
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,

    /// Native python3 subprocess runs to measure for comparison (0 skips them)
    #[arg(long, default_value_t = 30)]
    pub native_iterations: usize,

    /// Whole-process `sandrun run` and `python3 script.py` runs to compare (0 skips them)
    #[arg(long, default_value_t = 10)]
    pub process_iterations: usize,

    /// Print the figures as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the Python image from its pinned recipe (pip, componentize-py)
    Build {
        /// Rebuild even if the image is already cached
        #[arg(long)]
        force: bool,
        /// Print errors only
        #[arg(long)]
        quiet: bool,
    },
    /// Print the Python image's folder, building it first if it is missing
    Path,
}
