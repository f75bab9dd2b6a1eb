//! `sandrun.toml`: the server's settings and its tenants.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8080"
//! max_running = 2                  # sandboxes at once (default: CPU count)
//! max_body_bytes = 6291456
//! shutdown_grace_secs = 30
//! result_store = "s3://bucket/prefix"   # or a folder; default <cache>/results
//!
//! [[tenants]]
//! id = "acme"
//! api_key_sha256 = ["<hex of sha256(key)>"]   # `sandrun serve hash-key KEY`
//! max_concurrent = 2
//! max_queue = 32
//! allowed_sources = ["inline", "zip", "https", "s3", "github", "git"]
//! allowed_hosts = ["raw.githubusercontent.com", "my-bucket", "octo/runbooks"]
//! [tenants.limits]                 # ceilings, and the defaults requests get
//! timeout_secs = 30
//! memory_mib = 256
//! [tenants.secrets]
//! github-token = "…"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

/// Source kinds a tenant may use.
pub const SOURCE_KINDS: &[&str] = &["inline", "zip", "https", "s3", "github", "git", "local"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: Option<SocketAddr>,
    /// Sandboxes running at once, over all tenants.
    pub max_running: Option<usize>,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// How long running invocations may finish after SIGTERM before they
    /// are cancelled.
    pub shutdown_grace_secs: u64,
    /// Where async invocations are recorded: a folder, or s3://BUCKET/PREFIX.
    pub result_store: Option<String>,
    /// An S3-compatible endpoint for the result store and S3 sources.
    pub s3_endpoint: Option<String>,
    /// The GitHub API for GitHub sources.
    pub github_api_url: Option<String>,
    /// Allow plain http:// sources (tests and private networks).
    pub allow_insecure_http: bool,
}

impl ServerConfig {
    /// Sandboxes at once: as configured, else the CPU count.
    pub fn max_running(&self) -> usize {
        self.max_running.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: None,
            max_running: None,
            max_body_bytes: 6 * 1024 * 1024,
            shutdown_grace_secs: 30,
            result_store: None,
            s3_endpoint: None,
            github_api_url: None,
            allow_insecure_http: false,
        }
    }
}

/// Limits: a tenant's ceilings (and defaults), or what a request asks for.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub timeout_secs: Option<f64>,
    pub memory_mib: Option<u64>,
    pub fuel: Option<u64>,
    pub max_output_bytes: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: String,
    /// sha256 (hex) of each API key; the keys themselves are never stored.
    pub api_key_sha256: Vec<String>,
    #[serde(default = "default_concurrent")]
    pub max_concurrent: usize,
    #[serde(default = "default_queue")]
    pub max_queue: usize,
    #[serde(default = "default_sources")]
    pub allowed_sources: Vec<String>,
    /// For remote sources: the URL host (https, git), the bucket (s3), or
    /// `owner` / `owner/repo` (github). Empty: any.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

fn default_concurrent() -> usize {
    2
}
fn default_queue() -> usize {
    32
}
fn default_sources() -> Vec<String> {
    vec!["inline".into(), "zip".into()]
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the config {}: {e}", path.display()))?;
        let config: Config =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        config
            .check()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if let Some(n) = self.server.max_running
            && !(1..=sandrun_runtime::DEFAULT_MAX_INSTANCES as usize).contains(&n)
        {
            return Err(format!(
                "server.max_running {n}: give 1 to {}",
                sandrun_runtime::DEFAULT_MAX_INSTANCES
            ));
        }
        if self.tenants.is_empty() {
            return Err("no [[tenants]]: add at least one with an id and an api_key_sha256".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        for tenant in &self.tenants {
            if tenant.id.is_empty()
                || !tenant
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "tenant id {:?}: use letters, digits, - and _",
                    tenant.id
                ));
            }
            if !ids.insert(tenant.id.as_str()) {
                return Err(format!("two tenants are named {}", tenant.id));
            }
            if tenant.api_key_sha256.is_empty() {
                return Err(format!("tenant {}: api_key_sha256 is empty", tenant.id));
            }
            for hash in &tenant.api_key_sha256 {
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "tenant {}: {hash:?} is not a sha256 in hex; make one with `sandrun serve hash-key KEY`",
                        tenant.id
                    ));
                }
            }
            if tenant.max_concurrent == 0 {
                return Err(format!(
                    "tenant {}: max_concurrent must be at least 1",
                    tenant.id
                ));
            }
            for kind in &tenant.allowed_sources {
                if !SOURCE_KINDS.contains(&kind.as_str()) {
                    return Err(format!(
                        "tenant {}: unknown source kind {kind:?} (kinds: {})",
                        tenant.id,
                        SOURCE_KINDS.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_checked() {
        let good = format!(
            "[[tenants]]\nid = \"a\"\napi_key_sha256 = [\"{}\"]\n[tenants.limits]\ntimeout_secs = 5\n",
            "0".repeat(64)
        );
        let config: Config = toml::from_str(&good).unwrap();
        config.check().unwrap();
        assert_eq!(config.tenants[0].limits.timeout_secs, Some(5.0));
        assert_eq!(config.tenants[0].allowed_sources, ["inline", "zip"]);
        let bad_hash = good.replace(&"0".repeat(64), "secret");
        assert!(
            toml::from_str::<Config>(&bad_hash)
                .unwrap()
                .check()
                .unwrap_err()
                .contains("hash-key")
        );
        assert!(toml::from_str::<Config>("[server]\nlisten_on = 1\n").is_err());
    }

    #[test]
    fn the_shipped_example_and_kubernetes_configs_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let example = Config::load(&root.join("examples/serve/sandrun.toml")).unwrap();
        assert_eq!(example.tenants.len(), 2);
        assert_eq!(
            example.tenants[0].api_key_sha256[0],
            crate::serve::hash_key("demo-key")
        );
        let map: serde_yaml::Value = serde_yaml::from_str(
            &std::fs::read_to_string(root.join("deploy/configmap.yaml")).unwrap(),
        )
        .unwrap();
        let text = map["data"]["sandrun.toml"].as_str().unwrap();
        let deployed: Config = toml::from_str(text).unwrap();
        deployed.check().unwrap();
    }
}
