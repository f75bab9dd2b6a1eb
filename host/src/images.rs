//! The Python guest image: where it is cached, and building it from the
//! recipe in `guest-images/` (embedded in this binary) when it is missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};

use crate::progress::Progress;

/// The recipe's files, relative to `guest-images/`. Their hash names the
/// image folder, so a changed recipe builds a new image beside the old one.
const PYTHON_RECIPE: &[(&str, &str)] = &[
    (
        "python/build.py",
        include_str!("../../guest-images/python/build.py"),
    ),
    (
        "python/requirements.txt",
        include_str!("../../guest-images/python/requirements.txt"),
    ),
    (
        "python/shim/sandrun_guest.py",
        include_str!("../../guest-images/python/shim/sandrun_guest.py"),
    ),
    (
        "python/shim/sandrun/__init__.py",
        include_str!("../../guest-images/python/shim/sandrun/__init__.py"),
    ),
    (
        "wit/sandrun.wit",
        include_str!("../../guest-images/wit/sandrun.wit"),
    ),
];

/// The cached image folder for the current recipe.
pub fn python_image_dir(cache_dir: &Path) -> PathBuf {
    let mut hasher = Sha256::new();
    for (name, text) in PYTHON_RECIPE {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(Sha256::digest(text.as_bytes()));
    }
    let recipe = hex::encode(hasher.finalize());
    cache_dir
        .join("images")
        .join(format!("python-{}", &recipe[..16]))
}

/// Whether the folder holds a finished image.
pub fn is_built(image_dir: &Path) -> bool {
    image_dir.join("image.json").is_file()
}

/// Builds the Python image into `image_dir` with the system's `python3` and
/// pip, showing each step on the progress line.
pub fn build_python_image(image_dir: &Path, progress: &Progress) -> anyhow::Result<()> {
    let parent = image_dir
        .parent()
        .context("the image folder has no parent folder")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let recipe = tempfile::Builder::new()
        .prefix(".recipe-")
        .tempdir_in(parent)
        .context("cannot create a folder for the image recipe")?;
    for (name, text) in PYTHON_RECIPE {
        let path = recipe.path().join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }

    progress.set_message("building the Python image (first use only)");
    let python = std::env::var("SANDRUN_BUILD_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(&python)
        .arg(recipe.path().join("python/build.py"))
        .arg("--out")
        .arg(image_dir)
        .arg("--work")
        .arg(parent.join("build"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "building the Python image needs {python} (3.11–3.13, with venv and pip); \
                 install it (apt-get install python3 python3-venv python3-pip) \
                 or point SANDRUN_IMAGE_DIR at a built image"
            )
        })?;
    // Step lines become the progress message; the rest is kept for errors.
    let mut log = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(step) = line.strip_prefix("[python image] ") {
                progress.set_message(&format!("Python image: {step}"));
            }
            log.push(line);
        }
    }
    let status = child.wait().context("the image build did not finish")?;
    if !status.success() || !is_built(image_dir) {
        let tail: Vec<&str> = log
            .iter()
            .rev()
            .take(20)
            .rev()
            .map(String::as_str)
            .collect();
        bail!(
            "building the Python image failed ({status}); its last output:\n{}",
            tail.join("\n")
        );
    }
    Ok(())
}
