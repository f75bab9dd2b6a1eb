//! Remote sources: fetched once into the content-addressed cache, verified
//! by digest, and revalidated when their reference can move.
//!
//! | reference | cached under | on the next run |
//! |---|---|---|
//! | URL with `#sha256=` | its pin | no request |
//! | URL | the URL | a conditional GET (ETag / Last-Modified) |
//! | `s3://bucket/key` | bucket and key | a HEAD (ETag) |
//! | `s3://bucket/prefix/` | bucket and prefix | a listing (keys and ETags) |
//! | GitHub or git at a commit | the commit and path | no request |
//! | GitHub or git at a branch | the branch, then the commit | one request to resolve the branch |
//!
//! With `--offline` nothing is requested: the last fetched content of the
//! reference runs, or the run fails saying it is not cached.

mod git;
mod github;
pub mod http;
pub mod s3;
pub mod secrets;
pub mod spec;
pub mod store;

use std::path::{Component, Path, PathBuf};

use reqwest::header::HeaderMap;
use sha2::{Digest, Sha256};

use self::http::{Body, DownloadLimits, Http};
use self::secrets::SecretProvider;
use self::spec::{GitRef, RemoteSource};
use self::store::{EntryKind, IndexEntry, Store, now_secs};
use crate::exit::bad_input;
use crate::progress::Progress;

pub use self::s3::S3Options;

/// Everything fetching depends on.
#[derive(Clone)]
pub struct FetchOptions {
    /// Download limits and TLS settings.
    pub limits: DownloadLimits,
    /// Run from the cache only.
    pub offline: bool,
    /// The GitHub API base URL.
    pub github_api_url: String,
    /// S3 endpoint settings.
    pub s3: S3Options,
    /// Where `{{ssm-secure:…}}` values come from.
    pub secrets: SecretProvider,
}

/// Fetched content, ready to run.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The cached file (a blob) or folder (a tree).
    pub path: PathBuf,
    /// For a single file: its name.
    pub file_name: Option<String>,
    /// `sha256:<hex>` of the content (a tree digest for folders).
    pub digest: String,
    /// The source as written, without secrets.
    pub origin: String,
    /// The source kind (`https`, `s3`, `github`, `git`).
    pub kind: &'static str,
    /// The commit that ran, for GitHub and git sources.
    pub revision: Option<String>,
}

/// Fetches `source` (or takes it from the cache).
pub fn fetch(
    source: &RemoteSource,
    store: &Store,
    options: &FetchOptions,
    progress: &Progress,
) -> anyhow::Result<Fetched> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(
        Fetcher {
            store,
            options,
            progress,
        }
        .fetch(source),
    )
}

struct Fetcher<'a> {
    store: &'a Store,
    options: &'a FetchOptions,
    progress: &'a Progress,
}

impl Fetcher<'_> {
    async fn fetch(&self, source: &RemoteSource) -> anyhow::Result<Fetched> {
        let origin = source.display();
        self.progress.set_message(&format!("fetching {origin}"));
        let (entry, revision) = match source {
            RemoteSource::Http { url, pin } => (self.http(url, pin.as_deref()).await?, None),
            RemoteSource::S3 {
                bucket,
                key,
                region,
            } => (self.s3(bucket, key, region.as_deref()).await?, None),
            RemoteSource::GitHub {
                owner,
                repo,
                path,
                reference,
                token,
            } => {
                let entry = self
                    .github(owner, repo, path, reference, token.as_deref())
                    .await?;
                let revision = entry.revision.clone();
                (entry, revision)
            }
            RemoteSource::Git {
                url,
                reference,
                path,
            } => {
                let entry = self.git(url, reference, path).await?;
                let revision = entry.revision.clone();
                (entry, revision)
            }
        };
        // Every entry here was just stored or just verified by `cached`:
        // hashing it once more would double the cost of large sources.
        let path = self.store.path(entry.kind, &entry.digest);
        if !path.exists() {
            anyhow::bail!("the cached content of {origin} vanished while it was being used");
        }
        Ok(Fetched {
            path,
            file_name: entry.name.clone(),
            digest: store::format_digest(&entry.digest),
            origin,
            kind: source.kind(),
            revision,
        })
    }

    /// The cached entry for `key` when its content is intact.
    fn cached(&self, key: &str) -> Option<IndexEntry> {
        self.store
            .lookup(key)
            .filter(|entry| self.store.content(entry).is_some())
    }

    fn offline_entry(&self, key: &str) -> anyhow::Result<IndexEntry> {
        self.cached(key).ok_or_else(|| {
            bad_input!("{key} is not in the cache, and --offline forbids fetching it; run once without --offline")
        })
    }

    fn record(&self, entry: IndexEntry) -> anyhow::Result<IndexEntry> {
        self.store.record(&entry)?;
        Ok(entry)
    }

    async fn http(&self, url: &url::Url, pin: Option<&str>) -> anyhow::Result<IndexEntry> {
        let key = url.to_string();
        let name = url
            .path_segments()
            .and_then(|mut s| s.next_back().map(str::to_string))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "script.py".into());
        let blob_entry = |hex: String, etag, last_modified| IndexEntry {
            key: key.clone(),
            kind: EntryKind::Blob,
            digest: hex,
            name: Some(name.clone()),
            etag,
            last_modified,
            revision: None,
            fetched_at: now_secs(),
        };
        // A pinned digest already in the cache needs no request at all.
        if let Some(pin) = pin
            && self.store.verified(EntryKind::Blob, pin).is_some()
        {
            return self.record(blob_entry(pin.to_string(), None, None));
        }
        if self.options.offline {
            let entry = self.offline_entry(&key)?;
            if pin.is_some_and(|pin| pin != entry.digest) {
                return Err(bad_input!(
                    "{key}: the cached copy does not match the #sha256 pin; run without --offline"
                ));
            }
            return Ok(entry);
        }
        let http = Http::new(self.options.limits.clone())?;
        let previous = if pin.is_none() {
            self.cached(&key)
        } else {
            None
        };
        let validators = previous.as_ref().map(|e| (&e.etag, &e.last_modified));
        let temp = self.store.temp_file()?;
        match http
            .download(url, HeaderMap::new(), validators, temp, self.progress)
            .await?
        {
            Body::NotModified => {
                let mut entry =
                    previous.ok_or_else(|| anyhow::anyhow!("304 without a cached copy"))?;
                entry.fetched_at = now_secs();
                self.record(entry)
            }
            Body::Fresh(fresh) => {
                if let Some(pin) = pin
                    && pin != fresh.hex
                {
                    return Err(bad_input!(
                        "{key}: the download's sha256 is {}, not the pinned {pin}; nothing was run",
                        fresh.hex
                    ));
                }
                self.store.put_blob(fresh.file, &fresh.hex)?;
                self.record(blob_entry(fresh.hex, fresh.etag, fresh.last_modified))
            }
        }
    }

    async fn s3(
        &self,
        bucket: &str,
        key: &str,
        region: Option<&str>,
    ) -> anyhow::Result<IndexEntry> {
        let index_key = format!("s3://{bucket}/{key}");
        if self.options.offline {
            return self.offline_entry(&index_key);
        }
        let client = s3::Bucket::connect(bucket, region, &self.options.s3).await;
        let max = self.options.limits.max_bytes;
        let previous = self.cached(&index_key);
        if key.is_empty() || key.ends_with('/') {
            let listed = client.list(key).await?;
            if listed.is_empty() {
                return Err(bad_input!("{index_key}: no objects under this prefix"));
            }
            let mut fingerprint = Sha256::new();
            for object in &listed {
                fingerprint.update(format!("{}\0{}\n", object.key, object.etag));
            }
            let fingerprint = hex::encode(fingerprint.finalize());
            if let Some(entry) = previous.filter(|e| e.revision.as_deref() == Some(&fingerprint)) {
                return Ok(entry);
            }
            let staging = self.store.temp_dir()?;
            client
                .download_all(key, &listed, staging.path(), max, self.progress)
                .await?;
            let (_, hex) = self.store.put_tree(staging)?;
            return self.record(IndexEntry {
                key: index_key,
                kind: EntryKind::Tree,
                digest: hex,
                name: None,
                etag: None,
                last_modified: None,
                revision: Some(fingerprint),
                fetched_at: now_secs(),
            });
        }
        let etag = client.etag(key).await?;
        if let Some(entry) = previous.filter(|e| e.etag.as_deref() == Some(&etag)) {
            return Ok(entry);
        }
        let mut temp = self.store.temp_file()?;
        let (hex, etag) = client.download(key, &mut temp, max, self.progress).await?;
        self.store.put_blob(temp, &hex)?;
        let name = key.rsplit('/').next().unwrap_or(key).to_string();
        self.record(IndexEntry {
            key: index_key,
            kind: EntryKind::Blob,
            digest: hex,
            name: Some(name),
            etag: Some(etag),
            last_modified: None,
            revision: None,
            fetched_at: now_secs(),
        })
    }

    /// Resolves a branch to a commit (or takes the commit), then fetches the
    /// content at that commit unless it is cached. `resolve` asks the remote.
    async fn at_commit<R, F>(
        &self,
        base_key: &str,
        reference: &GitRef,
        resolve: R,
        fetch: F,
    ) -> anyhow::Result<IndexEntry>
    where
        R: AsyncFnOnce() -> anyhow::Result<String>,
        F: AsyncFnOnce(&str, &Path) -> anyhow::Result<Option<String>>,
    {
        let branch_key = format!("{base_key}@{}", reference.remote_name());
        let commit = match reference {
            GitRef::Commit(sha) => sha.clone(),
            _ if self.options.offline => {
                return self.offline_entry(&branch_key);
            }
            _ => resolve().await?,
        };
        let commit_key = format!("{base_key}@{commit}");
        let entry = match self.cached(&commit_key) {
            Some(entry) => entry,
            None if self.options.offline => return self.offline_entry(&commit_key),
            None => {
                let staging = self.store.temp_dir()?;
                let file_name = fetch(&commit, staging.path()).await?;
                let entry = match &file_name {
                    Some(name) => {
                        let file = staging.path().join(name);
                        let hex = store::file_digest(&file)?;
                        let mut temp = self.store.temp_file()?;
                        std::io::copy(&mut std::fs::File::open(&file)?, &mut temp)?;
                        self.store.put_blob(temp, &hex)?;
                        (EntryKind::Blob, hex)
                    }
                    None => {
                        let (_, hex) = self.store.put_tree(staging)?;
                        (EntryKind::Tree, hex)
                    }
                };
                self.record(IndexEntry {
                    key: commit_key.clone(),
                    kind: entry.0,
                    digest: entry.1,
                    name: file_name,
                    etag: None,
                    last_modified: None,
                    revision: Some(commit.clone()),
                    fetched_at: now_secs(),
                })?
            }
        };
        if !matches!(reference, GitRef::Commit(_)) {
            // Remember where the branch pointed, for --offline.
            let mut moving = entry.clone();
            moving.key = branch_key;
            self.record(moving)?;
        }
        Ok(entry)
    }

    async fn github(
        &self,
        owner: &str,
        repo: &str,
        path: &str,
        reference: &GitRef,
        token: Option<&str>,
    ) -> anyhow::Result<IndexEntry> {
        let api = &self.options.github_api_url;
        let base_key = format!("github:{}/{owner}/{repo}/{path}", api.trim_end_matches('/'));
        let token = match token {
            Some(text) => Some(self.options.secrets.resolve(text)?),
            None => None,
        };
        let http = Http::new(self.options.limits.clone())?;
        let api_url = url::Url::parse(api)
            .map_err(|e| bad_input!("--github-api-url {api}: not a valid URL: {e}"))?;
        let client = github::Repo {
            http: &http,
            api: api_url,
            owner,
            repo,
            token: token.as_ref(),
        };
        let reference_name = reference.remote_name();
        self.at_commit(
            &base_key,
            reference,
            async || client.resolve(reference_name).await,
            async |commit: &str, dest: &Path| client.fetch(path, commit, dest, self.progress).await,
        )
        .await
    }

    async fn git(&self, url: &str, reference: &GitRef, path: &str) -> anyhow::Result<IndexEntry> {
        if url.starts_with("http://") && !self.options.limits.allow_insecure_http {
            return Err(bad_input!(
                "{url}: plain http:// is refused; use https:// or pass --allow-insecure-http"
            ));
        }
        let base_key = format!("git+{url}#path={path}");
        let reference_name = reference.remote_name();
        // The git client blocks; a CLI fetch has this thread to itself.
        self.at_commit(
            &base_key,
            reference,
            async || git::resolve(url, reference_name),
            async |commit: &str, dest: &Path| git::fetch(url, commit, path, dest),
        )
        .await
    }
}

/// `root` joined with a relative path from a listing or a user, refusing
/// anything that would leave `root`.
pub fn safe_join(root: &Path, relative: &str) -> anyhow::Result<PathBuf> {
    let mut joined = root.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => joined.push(part),
            Component::CurDir => {}
            _ => {
                return Err(bad_input!(
                    "refusing the path {relative:?}: it would leave its folder"
                ));
            }
        }
    }
    Ok(joined)
}
