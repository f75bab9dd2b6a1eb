//! Opens the runtime and the Python image for a command, building the image
//! on first use.

use std::path::PathBuf;

use anyhow::Context as _;
use sandrun_runtime::{GuestImage, Runtime};

use crate::cli::GlobalArgs;
use crate::images;
use crate::progress::Progress;

/// The cache folder: `--cache-dir`, `SANDRUN_CACHE_DIR`, or the user's cache.
pub fn cache_dir(global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    match &global.cache_dir {
        Some(dir) => Ok(dir.clone()),
        None => dirs::cache_dir().map(|dir| dir.join("sandrun")).context(
            "no user cache folder is known here; pass --cache-dir or set SANDRUN_CACHE_DIR",
        ),
    }
}

/// The Python image folder, built if it is missing.
pub fn python_image_dir(global: &GlobalArgs, progress: &Progress) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &global.image_dir {
        return Ok(dir.clone());
    }
    let dir = images::python_image_dir(&cache_dir(global)?);
    if !images::is_built(&dir) {
        images::build_python_image(&dir, progress)?;
    }
    Ok(dir)
}

/// The runtime and the loaded Python image, with slots for `sandboxes`
/// at once (a one-shot command needs one or two; reserving the pool costs
/// start-up time in proportion).
pub fn open_python(
    global: &GlobalArgs,
    progress: &Progress,
    sandboxes: u32,
) -> anyhow::Result<(Runtime, GuestImage)> {
    let image_dir = python_image_dir(global, progress)?;
    let runtime = Runtime::builder()
        .cache_dir(cache_dir(global)?)
        .max_instances(sandboxes)
        // One-shot commands gain nothing from resident slots.
        .keep_resident(if sandboxes <= 2 {
            0
        } else {
            sandrun_runtime::DEFAULT_KEEP_RESIDENT
        })
        .build()
        .context("cannot start the sandbox runtime")?;
    progress.set_message("loading the Python image (compiled once, then cached)");
    let image = runtime
        .load_image(&image_dir)
        .with_context(|| format!("cannot load the Python image at {}", image_dir.display()))?;
    progress.finish();
    Ok((runtime, image))
}
