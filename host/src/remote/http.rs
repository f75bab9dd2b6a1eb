//! HTTP for every source kind that speaks it (HTTPS files, the GitHub API):
//! a size cap enforced while streaming, a timeout, a redirect limit, retries
//! with backoff for transient failures only, and the sha256 computed as the
//! bytes arrive.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt;
use reqwest::header::{ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{Response, StatusCode, Url};
use sha2::{Digest, Sha256};

use crate::exit::bad_input;
use crate::progress::Progress;

/// How many redirects a download may follow.
pub const MAX_REDIRECTS: usize = 5;

/// Limits every download obeys.
#[derive(Debug, Clone)]
pub struct DownloadLimits {
    /// Largest body, in bytes (default 100 MiB).
    pub max_bytes: u64,
    /// Longest a single request may take, body included (default 300 s).
    pub timeout: Duration,
    /// Attempts after the first, for transient failures (default 3).
    pub retries: u32,
    /// Whether `http://` is allowed.
    pub allow_insecure_http: bool,
    /// An extra root certificate (PEM), for private servers.
    pub ca_cert: Option<PathBuf>,
    /// When set, redirects may only lead to these hosts (or their
    /// subdomains): a tenant's allowed hosts hold through redirects.
    pub redirect_hosts: Option<Vec<String>>,
}

/// Whether `host` is `entry` or one of its subdomains, for some entry.
pub fn host_matches(allowed: &[String], host: &str) -> bool {
    allowed
        .iter()
        .any(|entry| host == entry || host.ends_with(&format!(".{entry}")))
}

impl Default for DownloadLimits {
    fn default() -> Self {
        DownloadLimits {
            max_bytes: 100 * 1024 * 1024,
            timeout: Duration::from_secs(300),
            retries: 3,
            allow_insecure_http: false,
            ca_cert: None,
            redirect_hosts: None,
        }
    }
}

/// The shared HTTP client.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    pub limits: DownloadLimits,
}

/// A finished body: in a temporary file with its digest, or not modified.
pub enum Body {
    /// 304: the cached copy is current.
    NotModified,
    /// The whole body.
    Fresh(Fresh),
}

/// A downloaded body.
pub struct Fresh {
    /// The bytes, in a temporary file inside the cache.
    pub file: tempfile::NamedTempFile,
    /// Their sha256, hex.
    pub hex: String,
    /// Validators for the next revalidation.
    pub etag: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
}

impl Http {
    /// A client with these limits.
    pub fn new(limits: DownloadLimits) -> anyhow::Result<Http> {
        let allow_insecure = limits.allow_insecure_http;
        let redirect_hosts = limits.redirect_hosts.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if attempt.url().scheme() == "http" && !allow_insecure {
                attempt.error(
                    "a redirect to insecure http:// (pass --allow-insecure-http to allow it)",
                )
            } else if let Some(allowed) = &redirect_hosts
                && !host_matches(allowed, attempt.url().host_str().unwrap_or_default())
            {
                let host = attempt.url().host_str().unwrap_or_default().to_string();
                attempt.error(format!(
                    "a redirect to {host}, which is not an allowed host"
                ))
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("sandrun/", env!("CARGO_PKG_VERSION")))
            .redirect(redirects)
            .connect_timeout(Duration::from_secs(30))
            .timeout(limits.timeout);
        if let Some(path) = &limits.ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| bad_input!("cannot read --ca-cert {}: {e}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                bad_input!("--ca-cert {}: not a PEM certificate: {e}", path.display())
            })?;
            builder = builder.tls_certs_merge([cert]);
        }
        Ok(Http {
            client: builder.build().context("cannot set up the HTTP client")?,
            limits,
        })
    }

    /// Refuses `http://` unless it was allowed.
    pub fn check_scheme(&self, url: &Url) -> anyhow::Result<()> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.limits.allow_insecure_http => Ok(()),
            "http" => Err(bad_input!(
                "{url}: plain http:// downloads are refused; use https:// or pass --allow-insecure-http"
            )),
            other => Err(bad_input!("{url}: unsupported URL scheme {other}")),
        }
    }

    /// GET with retries for transient failures (connection errors,
    /// timeouts, 5xx, 429); any other status is returned to the caller.
    pub async fn get(&self, url: &Url, headers: &HeaderMap) -> anyhow::Result<Response> {
        self.check_scheme(url)?;
        let mut attempt = 0;
        loop {
            let sent = self
                .client
                .get(url.clone())
                .headers(headers.clone())
                .send()
                .await;
            let transient = match &sent {
                Ok(response) => {
                    let status = response.status();
                    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
                }
                Err(error) => error.is_timeout() || error.is_connect() || error.is_request(),
            };
            if !transient || attempt >= self.limits.retries {
                return sent.map_err(|e| describe(url, e));
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }

    /// Downloads `url` into a temporary file of `store`, hashing as it goes;
    /// with `cached` validators a 304 answers [`Body::NotModified`].
    pub async fn download(
        &self,
        url: &Url,
        mut headers: HeaderMap,
        cached: Option<(&Option<String>, &Option<String>)>,
        temp: tempfile::NamedTempFile,
        progress: &Progress,
    ) -> anyhow::Result<Body> {
        if let Some((etag, last_modified)) = cached {
            if let Some(value) = etag.as_deref().and_then(|v| v.parse().ok()) {
                headers.insert(IF_NONE_MATCH, value);
            }
            if let Some(value) = last_modified.as_deref().and_then(|v| v.parse().ok()) {
                headers.insert(IF_MODIFIED_SINCE, value);
            }
        }
        let response = self.get(url, &headers).await?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && cached.is_some() {
            return Ok(Body::NotModified);
        }
        if !status.is_success() {
            return Err(bad_input!("{url}: the server answered {status}"));
        }
        let etag = header_text(&response, ETAG);
        let last_modified = header_text(&response, LAST_MODIFIED);
        let (file, hex) = self.stream_to(url, response, temp, progress).await?;
        Ok(Body::Fresh(Fresh {
            file,
            hex,
            etag,
            last_modified,
        }))
    }

    /// Streams a successful response into `temp` under the size cap.
    pub async fn stream_to(
        &self,
        url: &Url,
        response: Response,
        mut temp: tempfile::NamedTempFile,
        progress: &Progress,
    ) -> anyhow::Result<(tempfile::NamedTempFile, String)> {
        let cap = self.limits.max_bytes;
        let too_large = || {
            bad_input!(
                "{url}: the download is larger than the limit of {cap} bytes (raise it with --max-download)"
            )
        };
        if response.content_length().is_some_and(|len| len > cap) {
            return Err(too_large());
        }
        progress.start_bytes(&label(url), response.content_length());
        let mut hasher = Sha256::new();
        let mut received: u64 = 0;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| describe(url, e))?;
            received += chunk.len() as u64;
            if received > cap {
                return Err(too_large());
            }
            hasher.update(&chunk);
            temp.write_all(&chunk)
                .context("cannot write the download to the cache")?;
            progress.advance(chunk.len() as u64);
        }
        temp.flush()?;
        progress.finish_bytes();
        Ok((temp, hex::encode(hasher.finalize())))
    }

    /// GET a small body (an API answer) into memory, under the size cap.
    pub async fn get_bytes(
        &self,
        url: &Url,
        headers: &HeaderMap,
    ) -> anyhow::Result<(StatusCode, HeaderMap, Vec<u8>)> {
        let response = self.get(url, headers).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let cap = self.limits.max_bytes;
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| describe(url, e))?;
            if body.len() as u64 + chunk.len() as u64 > cap {
                return Err(bad_input!(
                    "{url}: the answer is larger than the limit of {cap} bytes (raise it with --max-download)"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, headers, body))
    }
}

fn header_text(response: &Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn label(url: &Url) -> String {
    url.path_segments()
        .and_then(|mut segments| segments.next_back().map(str::to_string))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| url.host_str().unwrap_or("download").to_string())
}

/// A transport error in words, with what to try.
fn describe(url: &Url, error: reqwest::Error) -> anyhow::Error {
    let what = if error.is_timeout() {
        "timed out (raise it with --download-timeout)".to_string()
    } else if error.is_redirect() {
        format!("redirect refused: {}", error_chain(&error))
    } else if error.is_connect() {
        format!("cannot connect: {}", error_chain(&error))
    } else {
        error_chain(&error)
    };
    bad_input!("{url}: {what}")
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
