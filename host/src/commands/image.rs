//! `sandrun image build|path`.

use std::process::ExitCode;

use crate::cli::{GlobalArgs, ImageCommand};
use crate::images;
use crate::loader;
use crate::progress::Progress;

pub fn run(global: &GlobalArgs, command: &ImageCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImageCommand::Build { force, quiet } => {
            let dir = images::python_image_dir(&loader::cache_dir(global)?);
            let progress = Progress::new(*quiet);
            if *force || !images::is_built(&dir) {
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)?;
                }
                images::build_python_image(&dir, &progress)?;
            }
            // Compile it too, so the first run starts warm.
            let global = GlobalArgs {
                cache_dir: global.cache_dir.clone(),
                image_dir: Some(dir.clone()),
            };
            let (_runtime, image) = loader::open_python(&global, &progress, 1)?;
            progress.finish();
            if !*quiet {
                eprintln!("Python image {} ready", image.digest());
            }
            println!("{}", dir.display());
        }
        ImageCommand::Path => {
            let progress = Progress::new(false);
            let dir = loader::python_image_dir(global, &progress)?;
            progress.finish();
            println!("{}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
