//! Local script sources: a file, a folder, a `.zip`, or script text on
//! stdin, turned into the folder that the guest sees at `/script`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;
use tempfile::TempDir;

use crate::archive::{UnpackLimits, unpack_zip};
use crate::cli::{FetchArgs, SourceArgs};
use crate::exit::bad_input;
use crate::progress::Progress;
use crate::remote::http::DownloadLimits;
use crate::remote::secrets::SecretProvider;
use crate::remote::store::{Store, file_digest, format_digest};
use crate::remote::{self, FetchOptions, S3Options, spec};

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
    /// What ran, for the result.
    pub info: SourceInfo,
    /// Keeps a temporary copy alive as long as the source is used.
    _temp: Option<TempDir>,
}

/// The source of a run, as results report it.
#[derive(Debug, Clone, Serialize)]
pub struct SourceInfo {
    /// `local`, `stdin`, `https`, `s3`, `github` or `git`.
    pub kind: &'static str,
    /// The source as given (without secrets).
    pub location: String,
    /// `sha256:<hex>` of the file, or of the folder for remote folders.
    pub digest: Option<String>,
    /// The commit, for GitHub and git sources.
    pub revision: Option<String>,
}

/// The fetch settings from the command line.
pub fn fetch_options(args: &FetchArgs) -> FetchOptions {
    let defaults = DownloadLimits::default();
    FetchOptions {
        limits: DownloadLimits {
            max_bytes: args.max_download.unwrap_or(defaults.max_bytes),
            timeout: args
                .download_timeout
                .map_or(defaults.timeout, std::time::Duration::from_secs),
            retries: defaults.retries,
            allow_insecure_http: args.allow_insecure_http,
            ca_cert: args.ca_cert.clone(),
            redirect_hosts: None,
        },
        offline: args.offline,
        github_api_url: args.github_api_url.clone(),
        s3: S3Options {
            endpoint: args.s3_endpoint.clone(),
        },
        secrets: SecretProvider {
            file: args.secrets_file.clone(),
            only: None,
        },
    }
}

/// The remote source that the arguments name, if any.
pub fn remote_source(args: &SourceArgs) -> anyhow::Result<Option<spec::RemoteSource>> {
    match (&args.source, &args.source_type) {
        (_, Some(kind)) => {
            spec::from_seed(kind, args.source_info.as_deref().unwrap_or_default()).map(Some)
        }
        (Some(source), None) => spec::parse(source),
        (None, None) => Err(bad_input!(
            "name a SOURCE, or --source-type with --source-info"
        )),
    }
}

impl ScriptSource {
    /// Resolves the source arguments: remote sources are fetched into the
    /// cache under `cache_dir` (or taken from it), local ones opened.
    pub fn resolve(
        args: &SourceArgs,
        cache_dir: &Path,
        progress: &Progress,
    ) -> anyhow::Result<ScriptSource> {
        let Some(remote_source) = remote_source(args)? else {
            return Self::open(args.source.as_deref().unwrap_or("-"));
        };
        Self::from_remote(
            &remote_source,
            cache_dir,
            &fetch_options(&args.fetch),
            progress,
        )
    }

    /// Fetches a remote source into the cache under `cache_dir` (or takes
    /// it from there) with the given options.
    pub fn from_remote(
        remote_source: &spec::RemoteSource,
        cache_dir: &Path,
        options: &FetchOptions,
        progress: &Progress,
    ) -> anyhow::Result<ScriptSource> {
        let store = Store::new(cache_dir);
        let fetched = remote::fetch(remote_source, &store, options, progress)?;
        progress.finish();
        let info = SourceInfo {
            kind: fetched.kind,
            location: fetched.origin.clone(),
            digest: Some(fetched.digest.clone()),
            revision: fetched.revision.clone(),
        };
        match &fetched.file_name {
            Some(name) => Self::from_file(&fetched.path, name, info),
            None => Ok(ScriptSource {
                dir: fetched.path.clone(),
                entry: None,
                origin: fetched.origin,
                info,
                _temp: None,
            }),
        }
    }

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
            let mut source = Self::from_text(&text)?;
            source.origin = "stdin".into();
            source.info.kind = "stdin";
            source.info.location = "-".into();
            return Ok(source);
        }
        let path = Path::new(source);
        let metadata = std::fs::metadata(path).map_err(|e| {
            bad_input!(
                "cannot open the source {source}: {e}; give a .py file, a folder, a .zip, or - for stdin"
            )
        })?;
        let local = |digest| SourceInfo {
            kind: "local",
            location: source.to_string(),
            digest,
            revision: None,
        };
        if metadata.is_dir() {
            let dir = path
                .canonicalize()
                .with_context(|| format!("cannot resolve {source}"))?;
            return Ok(ScriptSource {
                dir,
                entry: None,
                origin: source.into(),
                info: local(None),
                _temp: None,
            });
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad_input!("{source}: the file name is not valid UTF-8"))?
            .to_string();
        let digest = file_digest(path).with_context(|| format!("cannot read {source}"))?;
        Self::from_file(path, &name, local(Some(format_digest(&digest))))
    }

    /// Script text (stdin, an inline `Script` of a runbook), alone in a
    /// temporary folder as [`STDIN_SCRIPT`].
    pub fn from_text(text: &str) -> anyhow::Result<ScriptSource> {
        let temp = new_temp()?;
        let path = temp.path().join(STDIN_SCRIPT);
        std::fs::write(&path, text).context("cannot write the script's temporary copy")?;
        Ok(ScriptSource {
            dir: temp.path().to_path_buf(),
            entry: Some(STDIN_SCRIPT.into()),
            origin: "inline script".into(),
            info: SourceInfo {
                kind: "inline",
                location: STDIN_SCRIPT.into(),
                digest: file_digest(&path).ok().map(|hex| format_digest(&hex)),
                revision: None,
            },
            _temp: Some(temp),
        })
    }

    /// A `.zip` given as bytes (an HTTP request body), unpacked with the
    /// usual entry, size and path-escape checks.
    pub fn from_zip_bytes(bytes: &[u8]) -> anyhow::Result<ScriptSource> {
        let holder = new_temp()?;
        let path = holder.path().join("source.zip");
        std::fs::write(&path, bytes).context("cannot write the zip's temporary copy")?;
        let info = SourceInfo {
            kind: "zip",
            location: "request body".into(),
            digest: file_digest(&path).ok().map(|hex| format_digest(&hex)),
            revision: None,
        };
        Self::from_file(&path, "source.zip", info)
    }

    /// A single file named `name`: a `.zip` is unpacked into a temporary
    /// folder, anything else is copied alone into one (so it cannot read
    /// its siblings).
    fn from_file(path: &Path, name: &str, info: SourceInfo) -> anyhow::Result<ScriptSource> {
        let temp = new_temp()?;
        let origin = info.location.clone();
        if is_zip(path, name)? {
            unpack_zip(path, temp.path(), UnpackLimits::default())
                .map_err(|e| bad_input!("{e}"))?;
            return Ok(ScriptSource {
                dir: temp.path().to_path_buf(),
                entry: None,
                origin,
                info,
                _temp: Some(temp),
            });
        }
        std::fs::copy(path, temp.path().join(name))
            .with_context(|| format!("cannot copy {origin} into the sandbox folder"))?;
        Ok(ScriptSource {
            dir: temp.path().to_path_buf(),
            entry: Some(name.to_string()),
            origin,
            info,
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
fn is_zip(path: &Path, name: &str) -> anyhow::Result<bool> {
    if Path::new(name)
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
