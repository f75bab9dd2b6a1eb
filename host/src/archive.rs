//! Unpacks `.zip` sources into a folder without letting any entry land
//! outside it, with caps on the entry count and the unpacked size.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

/// Caps on what one archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct UnpackLimits {
    /// Most entries (files and folders).
    pub max_entries: usize,
    /// Most bytes, counted as they are written (not as the archive claims).
    pub max_bytes: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_entries: 10_000,
            max_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not a readable zip file.
    #[error("{path} is not a valid zip archive ({reason}); check that the file is complete")]
    Corrupt { path: PathBuf, reason: String },
    /// An entry would escape the folder, or is a link.
    #[error("{path}: refusing entry {entry:?}: {reason}")]
    UnsafeEntry {
        path: PathBuf,
        entry: String,
        reason: &'static str,
    },
    /// Too many entries or too many bytes (a zip bomb, or a wrong file).
    #[error("{path}: {what}; the archive is refused")]
    TooLarge { path: PathBuf, what: String },
    /// Writing the unpacked files failed.
    #[error("cannot unpack {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Unpacks the zip at `archive` into the empty folder `dest`.
pub fn unpack_zip(archive: &Path, dest: &Path, limits: UnpackLimits) -> Result<(), ArchiveError> {
    let path = archive.to_path_buf();
    let io = |source: std::io::Error| ArchiveError::Io {
        path: path.clone(),
        source,
    };
    let corrupt = |e: zip::result::ZipError| ArchiveError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    };
    let file = std::fs::File::open(archive).map_err(io)?;
    let mut zip = zip::ZipArchive::new(file).map_err(corrupt)?;
    if zip.len() > limits.max_entries {
        return Err(ArchiveError::TooLarge {
            path,
            what: format!(
                "it has {} entries, more than the limit of {}",
                zip.len(),
                limits.max_entries
            ),
        });
    }
    // Every write goes through this capability: no path can leave `dest`.
    let root = Dir::open_ambient_dir(dest, ambient_authority()).map_err(io)?;
    let mut written: u64 = 0;
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).map_err(corrupt)?;
        let name = entry.name().to_string();
        let unsafe_entry = |reason| ArchiveError::UnsafeEntry {
            path: path.clone(),
            entry: name.clone(),
            reason,
        };
        let relative = safe_relative_path(&name).ok_or_else(|| {
            unsafe_entry("absolute paths and `..` would leave the unpacked folder")
        })?;
        if entry.is_symlink() {
            return Err(unsafe_entry("symbolic links are not unpacked"));
        }
        if entry.is_dir() {
            root.create_dir_all(&relative).map_err(io)?;
            continue;
        }
        if let Some(parent) = relative.parent().filter(|p| !p.as_os_str().is_empty()) {
            root.create_dir_all(parent).map_err(io)?;
        }
        let mut out = root.create(&relative).map_err(io)?;
        let mut buffer = [0u8; 64 * 1024];
        loop {
            let n = entry.read(&mut buffer).map_err(|e| ArchiveError::Corrupt {
                path: path.clone(),
                reason: format!("entry {name:?}: {e}"),
            })?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > limits.max_bytes {
                return Err(ArchiveError::TooLarge {
                    path,
                    what: format!(
                        "it unpacks to more than the limit of {} bytes",
                        limits.max_bytes
                    ),
                });
            }
            out.write_all(&buffer[..n]).map_err(io)?;
        }
    }
    Ok(())
}

/// The entry's path if it is relative and stays inside the folder.
fn safe_relative_path(name: &str) -> Option<PathBuf> {
    if name.contains('\\') || name.contains('\0') {
        return None;
    }
    let path = Path::new(name);
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!clean.as_os_str().is_empty()).then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_that_leave_the_folder_are_refused() {
        assert_eq!(safe_relative_path("a/b.py"), Some(PathBuf::from("a/b.py")));
        assert_eq!(safe_relative_path("./a.py"), Some(PathBuf::from("a.py")));
        assert_eq!(safe_relative_path("../evil.py"), None);
        assert_eq!(safe_relative_path("a/../../evil.py"), None);
        assert_eq!(safe_relative_path("/etc/passwd"), None);
        assert_eq!(safe_relative_path("a\\..\\evil"), None);
        assert_eq!(safe_relative_path(""), None);
    }
}
