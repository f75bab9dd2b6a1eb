//! `sandrun cache list|clean`: the source cache.

use std::process::ExitCode;

use crate::cli::{CacheCommand, GlobalArgs};
use crate::loader;
use crate::remote::store::{EntryKind, Store};

pub fn run(global: &GlobalArgs, command: &CacheCommand) -> anyhow::Result<ExitCode> {
    let store = Store::new(&loader::cache_dir(global)?);
    match command {
        CacheCommand::List { json } => {
            let entries = store.entries();
            if *json {
                println!("{}", serde_json::to_string(&entries)?);
            } else if entries.is_empty() {
                println!("no cached sources in {}", store.root().display());
            } else {
                for entry in entries {
                    let kind = match entry.kind {
                        EntryKind::Blob => "file",
                        EntryKind::Tree => "folder",
                    };
                    println!(
                        "{}\t{kind}\tsha256:{}\t{}",
                        entry.key, entry.digest, entry.fetched_at
                    );
                }
            }
        }
        CacheCommand::Clean => {
            let freed = store.clean()?;
            eprintln!("removed {} ({freed} bytes)", store.root().display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
