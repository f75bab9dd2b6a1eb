//! `sandrun serve` and `sandrun hash-key`.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::exit::bad_input;
use crate::loader;
use crate::progress::Progress;
use crate::serve::{self, ServeOptions, config::Config};

pub fn run(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config).map_err(|e| bad_input!("{e}"))?;
    init_logging(&args.log_format);
    let cache_dir = loader::cache_dir(global)?;
    let listen = args
        .listen
        .or(config.server.listen)
        .unwrap_or_else(|| ([127, 0, 0, 1], 8080).into());
    let result_store = args
        .result_store
        .clone()
        .or_else(|| config.server.result_store.clone())
        .unwrap_or_else(|| cache_dir.join("results").display().to_string());
    // The image is compiled (or loaded from the cache) before listening,
    // so /readyz means ready.
    // Slots for every sandbox that may run at once, and the abandoned
    // ones still unwinding after a cancel.
    let slots = u32::try_from(config.server.max_running() * 2)
        .unwrap_or(u32::MAX)
        .max(4);
    let (_runtime, image) = loader::open_python(global, &Progress::new(true), slots)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(512)
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(serve::run(
        config,
        ServeOptions {
            listen,
            cache_dir,
            result_store,
            image,
        },
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(format: &str) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO);
    if format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.with_ansi(false).init();
    }
}

pub fn hash_key(key: &str) -> anyhow::Result<ExitCode> {
    let key = if key == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        key.to_string()
    };
    if key.trim().is_empty() {
        return Err(bad_input!("the key is empty"));
    }
    println!("{}", serve::hash_key(&key));
    Ok(ExitCode::SUCCESS)
}
