//! `sandrun fetch SOURCE`: download into the cache without running, and
//! print where the content is and its digest.

use std::process::ExitCode;

use crate::cli::{FetchCommandArgs, GlobalArgs};
use crate::exit::bad_input;
use crate::loader;
use crate::progress::Progress;
use crate::remote::{self, store::Store};
use crate::source::{fetch_options, remote_source};

pub fn run(global: &GlobalArgs, args: &FetchCommandArgs) -> anyhow::Result<ExitCode> {
    let source = remote_source(&args.source)?.ok_or_else(|| {
        bad_input!("sandrun fetch takes a remote source (https://, s3://, github:, git+…); local files need no fetching")
    })?;
    let progress = Progress::new(args.json);
    let store = Store::new(&loader::cache_dir(global)?);
    let fetched = remote::fetch(
        &source,
        &store,
        &fetch_options(&args.source.fetch),
        &progress,
    )?;
    progress.finish();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "source": fetched.origin,
                "kind": fetched.kind,
                "path": fetched.path,
                "file_name": fetched.file_name,
                "digest": fetched.digest,
                "revision": fetched.revision,
            })
        );
    } else {
        println!("{}\t{}", fetched.path.display(), fetched.digest);
    }
    Ok(ExitCode::SUCCESS)
}
