//! One invocation through the service: the request checked against its
//! tenant (source kinds, hosts, limit ceilings) before it is queued, then
//! its source prepared and the sandbox run on a blocking thread.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sandrun_runtime::{CancelHandle, GuestImage, Policy};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::api::{ApiError, InvokeRequest};
use super::config::{Limits, TenantConfig};
use super::metrics::Metrics;
use crate::cli::EntryArgs;
use crate::remote::http::DownloadLimits;
use crate::remote::secrets::SecretProvider;
use crate::remote::spec::{self, RemoteSource};
use crate::remote::{FetchOptions, S3Options};
use crate::source::ScriptSource;

/// Defaults for limits the tenant does not set (safe for a shared host).
const DEFAULT_TIMEOUT_SECS: f64 = 30.0;
/// How many prepared inline or zip sources are kept per server.
const SOURCE_CACHE_ENTRIES: usize = 256;

/// Where the code comes from, checked.
pub enum SourceSpec {
    Inline(String),
    Zip(Vec<u8>),
    Remote(RemoteSource),
    Local(String),
}

/// A request that passed its tenant's checks.
pub struct Prepared {
    pub source: SourceSpec,
    pub entry: EntryArgs,
    pub command_line: Option<String>,
    pub payload: Option<Value>,
    pub env: BTreeMap<String, String>,
    pub policy: Policy,
}

/// A tenant with its settings in the shapes the service uses.
pub struct Tenant {
    pub config: TenantConfig,
    pub secrets: Arc<BTreeMap<String, String>>,
}

/// What the server forbids whatever a tenant's config says.
#[derive(Debug, Clone, Default)]
pub struct SourceRules {
    /// Plain http:// (and git over http) sources are allowed.
    pub allow_insecure_http: bool,
    /// Buckets no tenant may read (the result store's).
    pub reserved_buckets: Vec<String>,
}

/// Checks `request` against `tenant`: one source, an allowed kind and
/// host, limits within the ceilings.
pub fn prepare(
    tenant: &Tenant,
    rules: &SourceRules,
    request: InvokeRequest,
) -> Result<Prepared, ApiError> {
    let config = &tenant.config;
    let allowed = |kind: &str| config.allowed_sources.iter().any(|k| k == kind);
    let refuse_kind = |kind: &str| {
        ApiError::forbidden(format!(
            "source kind {kind:?} is not allowed for tenant {}; allowed: {}",
            config.id,
            config.allowed_sources.join(", ")
        ))
    };
    let given = [
        request.source.is_some(),
        request.script.is_some(),
        request.zip_base64.is_some(),
        request.source_type.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::bad_request(
            "give exactly one of source, source_type (with source_info), script and zip_base64",
        ));
    }
    if request.source_type.is_some() != request.source_info.is_some() {
        return Err(ApiError::bad_request(
            "source_type and source_info go together",
        ));
    }
    let source = if let Some(text) = request.script {
        if !allowed("inline") {
            return Err(refuse_kind("inline"));
        }
        if text.trim().is_empty() {
            return Err(ApiError::bad_request("script is empty"));
        }
        SourceSpec::Inline(text)
    } else if let Some(encoded) = request.zip_base64 {
        if !allowed("zip") {
            return Err(refuse_kind("zip"));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| ApiError::bad_request(format!("zip_base64 is not valid base64: {e}")))?;
        SourceSpec::Zip(bytes)
    } else {
        let text = request.source.unwrap_or_default();
        let remote = match (&request.source_type, &request.source_info) {
            (Some(kind), Some(info)) => Some(
                spec::from_seed(kind, info)
                    .map_err(|e| ApiError::bad_request(format!("source_info: {e}")))?,
            ),
            _ => spec::parse(&text).map_err(|e| ApiError::bad_request(format!("source: {e}")))?,
        };
        match remote {
            Some(remote) => {
                if !allowed(remote.kind()) {
                    return Err(refuse_kind(remote.kind()));
                }
                check_transport(&remote, rules, &config.allowed_hosts)?;
                let authority = authority(&remote);
                if !host_allowed(&config.allowed_hosts, &authority) {
                    return Err(ApiError::forbidden(format!(
                        "{authority} is not among tenant {}'s allowed hosts",
                        config.id
                    )));
                }
                SourceSpec::Remote(remote)
            }
            None if allowed("local") => SourceSpec::Local(text),
            None => return Err(refuse_kind("local")),
        }
    };
    if request.handler.is_some() && request.command_line.is_some() {
        return Err(ApiError::bad_request(
            "give handler or command_line, not both",
        ));
    }
    if request.payload.is_some() && request.handler.is_none() {
        return Err(ApiError::bad_request("payload needs a handler"));
    }
    if let Some(runtime) = &request.runtime {
        crate::language::Language::from_name(runtime)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let policy = policy(&config.id, &config.limits, &request.limits)?;
    Ok(Prepared {
        source,
        entry: EntryArgs {
            handler: request.handler,
            payload: None,
            runtime: request.runtime,
        },
        command_line: request.command_line,
        payload: request.payload,
        env: request.env,
        policy,
    })
}

/// Refuses what would reach past the tenant's sources: local or ssh git
/// remotes (they use the server's files and keys), plain http unless the
/// server allows it, and S3 buckets not named for the tenant (S3 is read
/// with the server's credentials) or reserved for the server.
fn check_transport(
    remote: &RemoteSource,
    rules: &SourceRules,
    allowed_hosts: &[String],
) -> Result<(), ApiError> {
    let secure =
        |scheme: &str| scheme == "https" || (scheme == "http" && rules.allow_insecure_http);
    match remote {
        RemoteSource::Http { url, .. } if !secure(url.scheme()) => Err(ApiError::forbidden(
            format!("{}: only https:// sources are allowed here", url.scheme()),
        )),
        RemoteSource::Git { url, .. }
            if !url::Url::parse(url).is_ok_and(|u| secure(u.scheme())) =>
        {
            Err(ApiError::forbidden(
                "git sources must be https:// URLs here (not file, ssh or git remotes)",
            ))
        }
        RemoteSource::S3 { bucket, .. } if rules.reserved_buckets.contains(bucket) => Err(
            ApiError::forbidden(format!("the bucket {bucket} is reserved for the server")),
        ),
        RemoteSource::S3 { bucket, .. } if allowed_hosts.is_empty() => {
            Err(ApiError::forbidden(format!(
                "s3://{bucket}: S3 is read with the server's credentials, so a tenant reads only the buckets its allowed_hosts name"
            )))
        }
        _ => Ok(()),
    }
}

/// What a remote source is allowed by: the URL host, the bucket, or
/// `owner/repo`.
fn authority(remote: &RemoteSource) -> String {
    match remote {
        RemoteSource::Http { url, .. } => url.host_str().unwrap_or_default().to_string(),
        RemoteSource::S3 { bucket, .. } => bucket.clone(),
        RemoteSource::GitHub { owner, repo, .. } => format!("{owner}/{repo}"),
        RemoteSource::Git { url, .. } => url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| url.clone()),
    }
}

/// An entry allows itself, its subdomains, and (for `owner`) every
/// repository of that owner.
fn host_allowed(allowed: &[String], authority: &str) -> bool {
    allowed.is_empty()
        || crate::remote::http::host_matches(allowed, authority)
        || allowed
            .iter()
            .any(|entry| authority.starts_with(&format!("{entry}/")))
}

/// The request's limits within the tenant's ceilings; a request over a
/// ceiling is refused, not clamped.
pub(crate) fn policy(tenant: &str, ceiling: &Limits, asked: &Limits) -> Result<Policy, ApiError> {
    fn pick<T: PartialOrd + Copy + std::fmt::Display>(
        tenant: &str,
        name: &str,
        asked: Option<T>,
        ceiling: Option<T>,
    ) -> Result<Option<T>, ApiError> {
        match (asked, ceiling) {
            (Some(a), Some(c)) if a > c => Err(ApiError::bad_request(format!(
                "limits.{name} {a} is above tenant {tenant}'s ceiling of {c}"
            ))),
            (Some(a), _) => Ok(Some(a)),
            (None, c) => Ok(c),
        }
    }
    let mut policy = Policy::default();
    let timeout = pick(
        tenant,
        "timeout_secs",
        asked.timeout_secs,
        ceiling.timeout_secs,
    )?
    .unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(timeout > 0.0 && timeout <= 172_800.0) {
        return Err(ApiError::bad_request(format!(
            "limits.timeout_secs {timeout}: give seconds between 0.001 and 172800"
        )));
    }
    policy.timeout_ms = ((timeout * 1000.0).round() as u64).max(1);
    if let Some(mib) = pick(tenant, "memory_mib", asked.memory_mib, ceiling.memory_mib)? {
        if !(1..=4096).contains(&mib) {
            return Err(ApiError::bad_request(format!(
                "limits.memory_mib {mib}: give 1 to 4096"
            )));
        }
        policy.memory_bytes = mib * 1024 * 1024;
    }
    policy.fuel = pick(tenant, "fuel", asked.fuel, ceiling.fuel)?;
    if let Some(bytes) = pick(
        tenant,
        "max_output_bytes",
        asked.max_output_bytes,
        ceiling.max_output_bytes,
    )? {
        policy.stdout_bytes = bytes;
        policy.stderr_bytes = bytes;
    }
    Ok(policy)
}

/// Prepared inline and zip sources, by tenant and content digest, so a
/// repeated script is not written or unpacked again.
#[derive(Default)]
pub struct SourceCache {
    entries: Mutex<CacheEntries>,
}

/// The prepared sources, and their keys oldest first.
type CacheEntries = (HashMap<String, Arc<ScriptSource>>, VecDeque<String>);

impl SourceCache {
    fn get_or_prepare(
        &self,
        key: String,
        metrics: &Metrics,
        prepare: impl FnOnce() -> anyhow::Result<ScriptSource>,
    ) -> anyhow::Result<Arc<ScriptSource>> {
        if let Some(found) = self.lock().0.get(&key) {
            metrics.source_cache(true);
            return Ok(Arc::clone(found));
        }
        metrics.source_cache(false);
        let prepared = Arc::new(prepare()?);
        let mut entries = self.lock();
        if entries
            .0
            .insert(key.clone(), Arc::clone(&prepared))
            .is_none()
        {
            entries.1.push_back(key);
        }
        while entries.1.len() > SOURCE_CACHE_ENTRIES {
            if let Some(old) = entries.1.pop_front() {
                entries.0.remove(&old);
            }
        }
        Ok(prepared)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheEntries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the blocking half needs from the server.
pub struct Context<'a> {
    pub image: &'a GuestImage,
    pub cache_dir: &'a Path,
    pub sources: &'a SourceCache,
    pub metrics: &'a Metrics,
    pub s3_endpoint: Option<&'a str>,
    pub github_api_url: &'a str,
    pub allow_insecure_http: bool,
}

fn content_key(tenant: &str, kind: &str, bytes: &[u8]) -> String {
    format!("{tenant}/{kind}/{}", hex::encode(Sha256::digest(bytes)))
}

/// Prepares the source and runs the sandbox; returns the result as
/// `sandrun run --json` prints it, with the source and the id. A source
/// that cannot be prepared (a 404, a corrupt zip) gives `status: error`.
pub fn execute(
    context: &Context<'_>,
    tenant: &Tenant,
    prepared: &Prepared,
    id: &str,
    cancel: &CancelHandle,
) -> Value {
    match try_execute(context, tenant, prepared, id, cancel) {
        Ok(value) => value,
        Err(error) => {
            let mut value = crate::exit::error_json(&error);
            value["id"] = json!(id);
            value
        }
    }
}

fn try_execute(
    context: &Context<'_>,
    tenant: &Tenant,
    prepared: &Prepared,
    id: &str,
    cancel: &CancelHandle,
) -> anyhow::Result<Value> {
    let tenant_id = &tenant.config.id;
    let source = match &prepared.source {
        SourceSpec::Inline(text) => context.sources.get_or_prepare(
            content_key(tenant_id, "inline", text.as_bytes()),
            context.metrics,
            || ScriptSource::from_text(text),
        )?,
        SourceSpec::Zip(bytes) => context.sources.get_or_prepare(
            content_key(tenant_id, "zip", bytes),
            context.metrics,
            || ScriptSource::from_zip_bytes(bytes),
        )?,
        SourceSpec::Remote(remote) => {
            let options = FetchOptions {
                limits: DownloadLimits {
                    allow_insecure_http: context.allow_insecure_http,
                    redirect_hosts: (matches!(remote, RemoteSource::Http { .. })
                        && !tenant.config.allowed_hosts.is_empty())
                    .then(|| tenant.config.allowed_hosts.clone()),
                    ..DownloadLimits::default()
                },
                offline: false,
                github_api_url: context.github_api_url.to_string(),
                s3: S3Options {
                    endpoint: context.s3_endpoint.map(str::to_string),
                },
                secrets: SecretProvider {
                    file: None,
                    only: Some(Arc::clone(&tenant.secrets)),
                },
            };
            // Each tenant has its own source cache: a private source one
            // tenant fetched with its token is never served to another.
            let cache = context.cache_dir.join("tenants").join(tenant_id);
            Arc::new(ScriptSource::from_remote(
                remote,
                &cache,
                &options,
                &crate::progress::Progress::new(true),
            )?)
        }
        SourceSpec::Local(path) => Arc::new(ScriptSource::open(path)?),
    };
    let (mut invocation, _) =
        crate::plan::invocation(&source, &prepared.entry, prepared.command_line.as_deref())?;
    invocation = invocation.id(id.to_string());
    if let Some(payload) = &prepared.payload {
        invocation = invocation.event(payload.clone());
    }
    for (key, value) in &prepared.env {
        invocation = invocation.env(key.clone(), value.clone());
    }
    let result = context
        .image
        .run_cancellable(&invocation, &prepared.policy, cancel)?;
    let mut value = serde_json::to_value(&result)?;
    value["id"] = json!(id);
    value["source"] = serde_json::to_value(&source.info)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_over_a_ceiling_are_refused_and_unset_ones_take_it() {
        let ceiling = Limits {
            timeout_secs: Some(10.0),
            memory_mib: Some(128),
            fuel: None,
            max_output_bytes: None,
        };
        let within = policy("t", &ceiling, &Limits::default()).unwrap();
        assert_eq!(
            (within.timeout_ms, within.memory_bytes),
            (10_000, 128 << 20)
        );
        let asked = Limits {
            memory_mib: Some(512),
            ..Limits::default()
        };
        let error = policy("t", &ceiling, &asked).unwrap_err();
        assert!(
            error
                .message
                .contains("limits.memory_mib 512 is above tenant t's ceiling of 128")
        );
        assert_eq!(
            policy("t", &Limits::default(), &Limits::default())
                .unwrap()
                .timeout_ms,
            30_000
        );
    }

    #[test]
    fn hosts_match_themselves_subdomains_and_owners() {
        let allowed = vec!["example.com".to_string(), "octo".to_string()];
        assert!(host_allowed(&allowed, "example.com"));
        assert!(host_allowed(&allowed, "raw.example.com"));
        assert!(host_allowed(&allowed, "octo/runbooks"));
        assert!(!host_allowed(&allowed, "evilexample.com"));
        assert!(!host_allowed(&allowed, "octopus/x"));
        assert!(host_allowed(&[], "anything"));
    }
}
