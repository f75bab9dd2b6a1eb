//! Git repositories through the `git` client: `git ls-remote` resolves a
//! branch to its commit, a shallow fetch of that commit gets the content,
//! and only the requested path is kept. The client never prompts (no
//! terminal), and uses the caller's ssh setup for `ssh://` URLs.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context as _;

use crate::exit::bad_input;

fn git(args: &[&str], cwd: Option<&Path>) -> anyhow::Result<String> {
    let mut command = Command::new("git");
    command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .stdin(Stdio::null());
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    let output = command
        .output()
        .context("git sources need the git client; install it (apt-get install git)")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(bad_input!(
            "git {}: {}",
            args.first().unwrap_or(&""),
            stderr.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The commit `reference` (a branch, a tag, or `HEAD`) points at in `url`.
pub fn resolve(url: &str, reference: &str) -> anyhow::Result<String> {
    let listing = git(&["ls-remote", "--", url, reference], None)
        .map_err(|e| bad_input!("cannot reach the git repository {url}: {e}"))?;
    // Prefer an exact match (refs/heads/x, refs/tags/x^{} for annotated tags).
    let mut best: Option<&str> = None;
    for line in listing.lines() {
        let Some((sha, name)) = line.split_once('\t') else {
            continue;
        };
        if name.ends_with("^{}") || best.is_none() {
            best = Some(sha);
        }
    }
    best.map(str::to_string).ok_or_else(|| {
        bad_input!("the git repository {url} has no branch or tag named {reference:?}")
    })
}

/// Copies `path` (a file or a folder, "" for everything) of `commit` into
/// `dest`; returns the file name when `path` is a file.
pub fn fetch(url: &str, commit: &str, path: &str, dest: &Path) -> anyhow::Result<Option<String>> {
    let work = tempfile::tempdir().context("cannot create a folder for git")?;
    let repo = work.path();
    git(&["init", "--quiet"], Some(repo))?;
    let shallow = git(
        &["fetch", "--quiet", "--depth", "1", "--", url, commit],
        Some(repo),
    );
    if shallow.is_err() {
        // Servers that refuse to serve an unadvertised commit by id: fetch
        // every ref and find the commit among them.
        git(
            &[
                "fetch",
                "--quiet",
                "--",
                url,
                "+refs/*:refs/remotes/origin/*",
            ],
            Some(repo),
        )
        .map_err(|e| bad_input!("cannot fetch {url}: {e}"))?;
    }
    git(
        &[
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            commit,
        ],
        Some(repo),
    )
    .map_err(|_| bad_input!("the git repository {url} has no commit {commit}"))?;

    let source = if path.is_empty() {
        repo.to_path_buf()
    } else {
        super::safe_join(repo, path)?
    };
    let metadata = std::fs::symlink_metadata(&source)
        .map_err(|_| bad_input!("{path:?} does not exist in {url} at {commit}"))?;
    if metadata.is_file() {
        let name = source
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("script")
            .to_string();
        std::fs::copy(&source, dest.join(&name))?;
        return Ok(Some(name));
    }
    if !metadata.is_dir() {
        return Err(bad_input!(
            "{path:?} in {url} is neither a file nor a folder"
        ));
    }
    copy_tree(&source, dest)?;
    Ok(None)
}

/// Copies regular files and folders, leaving out `.git` and links.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() == ".git" {
            continue;
        }
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
