//! GitHub's REST contents API: a file or a whole folder of a repository at
//! a commit. A branch is first resolved to its commit
//! (`GET /repos/{owner}/{repo}/commits/{ref}`), so content is cached by
//! commit and a commit reference costs no request at all once cached.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::http::Http;
use super::secrets::Secret;
use crate::exit::bad_input;
use crate::progress::Progress;

/// A client for one repository.
pub struct Repo<'a> {
    pub http: &'a Http,
    pub api: Url,
    pub owner: &'a str,
    pub repo: &'a str,
    pub token: Option<&'a Secret>,
}

#[derive(Debug, Deserialize)]
struct ContentEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
}

/// One answer of the contents API: a file or a folder listing.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Contents {
    Folder(Vec<ContentEntry>),
    File(ContentEntry),
}

impl Repo<'_> {
    fn url(&self, tail: &str) -> anyhow::Result<Url> {
        let base = self.api.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/repos/{}/{}/{tail}", self.owner, self.repo))
            .map_err(|e| bad_input!("bad GitHub API URL: {e}"))
    }

    fn headers(&self, accept: &'static str) -> anyhow::Result<HeaderMap> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        headers.insert(
            "X-GitHub-Api-Version",
            HeaderValue::from_static("2022-11-28"),
        );
        if let Some(token) = self.token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    bad_input!("the GitHub token holds characters a header cannot carry")
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(headers)
    }

    async fn get(&self, url: &Url, accept: &'static str) -> anyhow::Result<Vec<u8>> {
        let (status, headers, body) = self.http.get_bytes(url, &self.headers(accept)?).await?;
        if status.is_success() {
            return Ok(body);
        }
        Err(self.explain(status, &headers, &body))
    }

    /// A clear error, with what to do, for a failed API call.
    fn explain(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> anyhow::Error {
        let message = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_default();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let repo = format!("{}/{}", self.owner, self.repo);
        let rate_limited = header("x-ratelimit-remaining") == Some("0");
        match status {
            _ if rate_limited => {
                let reset = header("x-ratelimit-reset")
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(|at| {
                        let wait = at.saturating_sub(super::store::now_secs());
                        format!(" for about {} more minutes", wait.div_ceil(60))
                    })
                    .unwrap_or_default();
                bad_input!(
                    "GitHub's API rate limit is exhausted{reset} ({message}); wait, or give a token \
                     (tokenInfo, or a github token secret) for a higher limit"
                )
            }
            StatusCode::UNAUTHORIZED => bad_input!(
                "GitHub rejected the token for {repo} ({message}): check the secret named by tokenInfo"
            ),
            StatusCode::FORBIDDEN => bad_input!(
                "GitHub refused access to {repo} ({message}): the token lacks permission to read its contents"
            ),
            StatusCode::NOT_FOUND => {
                let hint = if self.token.is_some() {
                    "check the owner, repository, path and ref, and that the token can see the repository"
                } else {
                    "check the owner, repository, path and ref; a private repository needs a token (tokenInfo)"
                };
                bad_input!("GitHub has no {repo} content there (404): {hint}")
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                bad_input!("GitHub cannot resolve that ref in {repo}: {message}")
            }
            other => bad_input!("GitHub answered {other} for {repo}: {message}"),
        }
    }

    /// The commit a branch, tag or the default branch (`HEAD`) points at.
    pub async fn resolve(&self, reference: &str) -> anyhow::Result<String> {
        let url = self.url(&format!("commits/{reference}"))?;
        let body = self.get(&url, "application/vnd.github.sha").await?;
        let sha = String::from_utf8_lossy(&body).trim().to_string();
        if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad_input!(
                "GitHub answered an unexpected commit id for {reference}"
            ));
        }
        Ok(sha)
    }

    fn contents_url(&self, path: &str, commit: &str) -> anyhow::Result<Url> {
        let mut url = self.url(&format!("contents/{path}"))?;
        url.query_pairs_mut().append_pair("ref", commit);
        Ok(url)
    }

    /// Writes `path` at `commit` into `dest`: a file as `dest/<name>` (its
    /// name is returned), a folder's whole tree into `dest`.
    pub async fn fetch(
        &self,
        path: &str,
        commit: &str,
        dest: &Path,
        progress: &Progress,
    ) -> anyhow::Result<Option<String>> {
        let url = self.contents_url(path, commit)?;
        let body = self.get(&url, "application/vnd.github+json").await?;
        let contents: Contents = serde_json::from_slice(&body)
            .context("GitHub's contents answer is not the documented JSON")?;
        match contents {
            Contents::File(file) => {
                let name = file
                    .path
                    .rsplit('/')
                    .next()
                    .unwrap_or(&file.path)
                    .to_string();
                let bytes = self.file_bytes(&file, commit).await?;
                std::fs::write(dest.join(&name), bytes)?;
                Ok(Some(name))
            }
            Contents::Folder(entries) => {
                let prefix = if path.is_empty() {
                    String::new()
                } else {
                    format!("{path}/")
                };
                self.fetch_folder(entries, &prefix, commit, dest, progress)
                    .await?;
                Ok(None)
            }
        }
    }

    async fn fetch_folder(
        &self,
        entries: Vec<ContentEntry>,
        prefix: &str,
        commit: &str,
        dest: &Path,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let mut pending = vec![entries];
        let mut total: u64 = 0;
        while let Some(entries) = pending.pop() {
            for entry in entries {
                let relative = entry.path.strip_prefix(prefix).unwrap_or(&entry.path);
                let target = super::safe_join(dest, relative)?;
                match entry.kind.as_str() {
                    "file" => {
                        progress.set_message(&format!("GitHub: {}", entry.path));
                        let url = self.contents_url(&entry.path, commit)?;
                        let bytes = self.get(&url, "application/vnd.github.raw").await?;
                        total += bytes.len() as u64;
                        if total > self.http.limits.max_bytes {
                            return Err(bad_input!(
                                "the folder is larger than the download limit of {} bytes (raise it with --max-download)",
                                self.http.limits.max_bytes
                            ));
                        }
                        if let Some(parent) = target.parent() {
                            std::fs::create_dir_all(parent)?;
                        }
                        std::fs::write(&target, bytes)?;
                    }
                    "dir" => {
                        std::fs::create_dir_all(&target)?;
                        let url = self.contents_url(&entry.path, commit)?;
                        let body = self.get(&url, "application/vnd.github+json").await?;
                        let listing: Vec<ContentEntry> = serde_json::from_slice(&body)
                            .context("GitHub's folder listing is not the documented JSON")?;
                        pending.push(listing);
                    }
                    // Symlinks and submodules could point anywhere; they are not fetched.
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// A file's bytes: inline base64, or (over 1 MiB, where GitHub leaves
    /// `content` empty) through the raw media type.
    async fn file_bytes(&self, file: &ContentEntry, commit: &str) -> anyhow::Result<Vec<u8>> {
        match (file.encoding.as_deref(), &file.content) {
            (Some("base64"), Some(content)) => {
                let compact: String = content.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .context("GitHub sent base64 content that does not decode")
            }
            _ => {
                let url = self.contents_url(&file.path, commit)?;
                self.get(&url, "application/vnd.github.raw").await
            }
        }
    }
}
