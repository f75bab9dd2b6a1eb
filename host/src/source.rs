//! Local script sources: a file, a folder, a `.zip`, or script text on
//! stdin, turned into the folder that the guest sees at `/script`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tempfile::TempDir;

use crate::archive::{UnpackLimits, unpack_zip};
use crate::exit::bad_input;

/// The file name that script text from stdin gets.
pub const STDIN_SCRIPT: &str = "script.py";

/// A script folder ready to mount, and the single file it holds when the
/// source was one file.
pub struct ScriptSource {
    /// The folder mounted read-only at `/script`.
    pub dir: PathBuf,
    /// For a single-file source: its file name inside `dir`.
    pub entry: Option<String>,
    /// Where it came from, for messages.
    pub origin: String,
    /// Keeps a temporary copy alive as long as the source is used.
    _temp: Option<TempDir>,
}

impl ScriptSource {
    /// Resolves `source`: `-` reads stdin, a folder is mounted as it is, a
    /// `.zip` is unpacked into a temporary folder, and a single file is
    /// copied alone into one (so it cannot read its siblings).
    pub fn open(source: &str) -> anyhow::Result<ScriptSource> {
        if source == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the script from stdin")?;
            if text.trim().is_empty() {
                return Err(bad_input!("the script on stdin is empty"));
            }
            let temp = new_temp()?;
            std::fs::write(temp.path().join(STDIN_SCRIPT), text)
                .context("cannot write the script's temporary copy")?;
            return Ok(ScriptSource {
                dir: temp.path().to_path_buf(),
                entry: Some(STDIN_SCRIPT.into()),
                origin: "stdin".into(),
                _temp: Some(temp),
            });
        }
        let path = Path::new(source);
        let metadata = std::fs::metadata(path).map_err(|e| {
            bad_input!(
                "cannot open the source {source}: {e}; give a .py file, a folder, a .zip, or - for stdin"
            )
        })?;
        if metadata.is_dir() {
            let dir = path
                .canonicalize()
                .with_context(|| format!("cannot resolve {source}"))?;
            return Ok(ScriptSource {
                dir,
                entry: None,
                origin: source.into(),
                _temp: None,
            });
        }
        let temp = new_temp()?;
        if is_zip(path)? {
            unpack_zip(path, temp.path(), UnpackLimits::default())
                .map_err(|e| bad_input!("{e}"))?;
            return Ok(ScriptSource {
                dir: temp.path().to_path_buf(),
                entry: None,
                origin: source.into(),
                _temp: Some(temp),
            });
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad_input!("{source}: the file name is not valid UTF-8"))?
            .to_string();
        std::fs::copy(path, temp.path().join(&name))
            .with_context(|| format!("cannot copy {source} into the sandbox folder"))?;
        Ok(ScriptSource {
            dir: temp.path().to_path_buf(),
            entry: Some(name),
            origin: source.into(),
            _temp: Some(temp),
        })
    }
}

fn new_temp() -> anyhow::Result<TempDir> {
    tempfile::Builder::new()
        .prefix("sandrun-source-")
        .tempdir()
        .context("cannot create a temporary folder for the script")
}

/// A `.zip` by name, or by its magic bytes.
fn is_zip(path: &Path) -> anyhow::Result<bool> {
    if path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("zip"))
    {
        return Ok(true);
    }
    let mut magic = [0u8; 4];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let n = file.read(&mut magic).unwrap_or(0);
    Ok(n == 4 && magic == *b"PK\x03\x04")
}
