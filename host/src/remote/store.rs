//! The content-addressed source cache, shared by every source kind:
//!
//! ```text
//! <cache>/sources/blobs/<sha256 hex>     one downloaded file
//! <cache>/sources/trees/<sha256 hex>/    one fetched folder
//! <cache>/sources/index/<sha256 of key>.json   what a source reference resolved to
//! ```
//!
//! Everything is written beside its final name and renamed into place, so
//! concurrent `sandrun` processes never see half a file, and content is
//! checked against its digest whenever it is used: a damaged entry is
//! dropped and fetched again. Index files are named by a hash of the
//! reference, which never holds a secret.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A `sha256:<hex>` digest.
pub fn format_digest(hex: &str) -> String {
    format!("sha256:{hex}")
}

/// What a source reference resolved to when it was last fetched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexEntry {
    /// The reference, as shown to people (no secrets).
    pub key: String,
    /// `blob` or `tree`.
    pub kind: EntryKind,
    /// The content's sha256, hex.
    pub digest: String,
    /// For a blob: the file's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Validators for mutable references.
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
    /// The commit a branch pointed at, or a listing's fingerprint.
    #[serde(default)]
    pub revision: Option<String>,
    /// Seconds since the Unix epoch.
    pub fetched_at: u64,
}

/// A single file or a folder.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// One file.
    Blob,
    /// A folder.
    Tree,
}

/// The cache folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store under `<cache_dir>/sources`.
    pub fn new(cache_dir: &Path) -> Store {
        Store {
            root: cache_dir.join("sources"),
        }
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the cache folder {}", dir.display()))?;
        Ok(dir)
    }

    /// A temporary file inside the store, for a download in progress.
    pub fn temp_file(&self) -> anyhow::Result<tempfile::NamedTempFile> {
        tempfile::NamedTempFile::new_in(self.dir("tmp")?)
            .context("cannot create a temporary file in the cache")
    }

    /// A temporary folder inside the store, for a folder being fetched.
    pub fn temp_dir(&self) -> anyhow::Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("tree-")
            .tempdir_in(self.dir("tmp")?)
            .context("cannot create a temporary folder in the cache")
    }

    /// Moves a finished download into place under its digest.
    pub fn put_blob(&self, file: tempfile::NamedTempFile, hex: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir("blobs")?.join(hex);
        if path.exists() {
            return Ok(path);
        }
        file.persist(&path)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot store {}", path.display()))?;
        Ok(path)
    }

    /// Moves a fetched folder into place under its tree digest.
    pub fn put_tree(&self, staging: tempfile::TempDir) -> anyhow::Result<(PathBuf, String)> {
        let hex = tree_digest(staging.path())?;
        let path = self.dir("trees")?.join(&hex);
        if !path.exists() {
            let staged = staging.keep();
            if std::fs::rename(&staged, &path).is_err() {
                // Another process stored the same tree first.
                let _ = std::fs::remove_dir_all(&staged);
            }
        }
        Ok((path, hex))
    }

    /// Where content of this kind and digest lives (present or not).
    pub fn path(&self, kind: EntryKind, hex: &str) -> PathBuf {
        let folder = match kind {
            EntryKind::Blob => "blobs",
            EntryKind::Tree => "trees",
        };
        self.root.join(folder).join(hex)
    }

    /// The content with this digest, if it is present and intact; damaged
    /// content is removed, so that it is fetched again.
    pub fn verified(&self, kind: EntryKind, hex: &str) -> Option<PathBuf> {
        let path = self.path(kind, hex);
        let actual = match kind {
            EntryKind::Blob if path.is_file() => file_digest(&path).ok(),
            EntryKind::Tree if path.is_dir() => tree_digest(&path).ok(),
            _ => return None,
        };
        if actual.as_deref() == Some(hex) {
            return Some(path);
        }
        let _ = match kind {
            EntryKind::Blob => std::fs::remove_file(&path),
            EntryKind::Tree => std::fs::remove_dir_all(&path),
        };
        None
    }

    /// The content an index entry names, if intact.
    pub fn content(&self, entry: &IndexEntry) -> Option<PathBuf> {
        self.verified(entry.kind, &entry.digest)
    }

    fn index_path(&self, key: &str) -> PathBuf {
        let name = hex::encode(Sha256::digest(key.as_bytes()));
        self.root.join("index").join(format!("{name}.json"))
    }

    /// What `key` resolved to last time.
    pub fn lookup(&self, key: &str) -> Option<IndexEntry> {
        let text = std::fs::read_to_string(self.index_path(key)).ok()?;
        serde_json::from_str::<IndexEntry>(&text)
            .ok()
            .filter(|entry| entry.key == key)
    }

    /// Records what `entry.key` resolved to.
    pub fn record(&self, entry: &IndexEntry) -> anyhow::Result<()> {
        let dir = self.dir("index")?;
        let mut temp = tempfile::NamedTempFile::new_in(&dir)?;
        serde_json::to_writer_pretty(&mut temp, entry)?;
        temp.flush()?;
        temp.persist(self.index_path(&entry.key))
            .map_err(|e| e.error)
            .context("cannot write the cache index")?;
        Ok(())
    }

    /// Every index entry, oldest first.
    pub fn entries(&self) -> Vec<IndexEntry> {
        let mut entries: Vec<IndexEntry> = std::fs::read_dir(self.root.join("index"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|text| serde_json::from_str(&text).ok())
            .collect();
        entries.sort_by_key(|e| e.fetched_at);
        entries
    }

    /// Removes every cached source; returns the bytes freed.
    pub fn clean(&self) -> anyhow::Result<u64> {
        let size = dir_size(&self.root);
        if self.root.exists() {
            std::fs::remove_dir_all(&self.root)
                .with_context(|| format!("cannot remove {}", self.root.display()))?;
        }
        Ok(size)
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The sha256 of a file, hex.
pub fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The sha256 over a folder: each file's relative path and content digest,
/// in sorted order (empty folders and links do not count).
pub fn tree_digest(root: &Path) -> anyhow::Result<String> {
    let mut files = Vec::new();
    collect_files(root, root, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for relative in files {
        let digest = file_digest(&root.join(&relative))
            .with_context(|| format!("cannot read {relative}"))?;
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update(digest.as_bytes());
        hasher.update([b'\n']);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(root, &entry.path(), files)?;
        } else if kind.is_file() {
            let relative = entry
                .path()
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            files.push(relative);
        }
    }
    Ok(())
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_size(&entry.path()),
            _ => entry.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_blobs_and_trees_are_dropped() {
        let cache = tempfile::tempdir().unwrap();
        let store = Store::new(cache.path());
        let mut temp = store.temp_file().unwrap();
        temp.write_all(b"print('hi')\n").unwrap();
        let hex = file_digest(temp.path()).unwrap();
        let path = store.put_blob(temp, &hex).unwrap();
        assert_eq!(store.verified(EntryKind::Blob, &hex), Some(path.clone()));
        std::fs::write(&path, b"print('tampered')\n").unwrap();
        assert_eq!(store.verified(EntryKind::Blob, &hex), None);
        assert!(!path.exists());

        let staging = store.temp_dir().unwrap();
        std::fs::create_dir(staging.path().join("pkg")).unwrap();
        std::fs::write(staging.path().join("pkg/a.py"), "a = 1\n").unwrap();
        let (tree, hex) = store.put_tree(staging).unwrap();
        assert_eq!(store.verified(EntryKind::Tree, &hex), Some(tree.clone()));
        std::fs::write(tree.join("pkg/a.py"), "a = 2\n").unwrap();
        assert_eq!(store.verified(EntryKind::Tree, &hex), None);
    }

    #[test]
    fn index_entries_round_trip_under_a_hashed_name() {
        let cache = tempfile::tempdir().unwrap();
        let store = Store::new(cache.path());
        let entry = IndexEntry {
            key: "https://example.test/a.py".into(),
            kind: EntryKind::Blob,
            digest: "ab".into(),
            name: Some("a.py".into()),
            etag: Some("\"1\"".into()),
            last_modified: None,
            revision: None,
            fetched_at: 1,
        };
        store.record(&entry).unwrap();
        assert_eq!(store.lookup(&entry.key), Some(entry.clone()));
        let names: Vec<_> = std::fs::read_dir(store.root().join("index"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names[0].contains("example"), "{names:?}");
    }
}
