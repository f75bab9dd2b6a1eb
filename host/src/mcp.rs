//! `sandrun mcp`: a Model Context Protocol server that lets an AI agent run
//! Python in sandboxes — fresh ones, or sessions that keep their state like
//! a notebook kernel — over stdio or streamable HTTP.
//!
//! Every result carries the status, stdout, stderr, the last expression's
//! value (or a handler's payload) and, on failure, the error's type,
//! message and traceback, so a model can correct its code.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData as McpError, ServerHandler, tool, tool_handler, tool_router};
use sandrun_runtime::{CancelHandle, GuestImage, RunResult, Session, SessionOptions};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::serve::api::InvokeRequest;
use crate::serve::config::{Limits, TenantConfig};
use crate::serve::invoke::{self, Context, SourceCache, Tenant};
use crate::serve::metrics::Metrics;

/// `sandrun mcp --config FILE`: limits and what `run_handler` may fetch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Per-call limits (defaults: 30 s, 256 MiB).
    pub limits: Limits,
    /// Source kinds `run_handler` accepts (default: https, s3, github, git;
    /// add "local" to let it read host paths).
    pub allowed_sources: Vec<String>,
    /// Hosts, buckets or GitHub owners `run_handler` may fetch from (empty: any).
    pub allowed_hosts: Vec<String>,
    /// Sessions open at once.
    pub max_sessions: usize,
    /// A session closes after this long without a call.
    pub session_idle_secs: u64,
    /// Secrets for `{{ssm-secure:NAME}}` token references of sources.
    pub secrets: BTreeMap<String, String>,
    /// An S3-compatible endpoint and the GitHub API, for sources.
    pub s3_endpoint: Option<String>,
    pub github_api_url: Option<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            limits: Limits {
                timeout_secs: Some(30.0),
                memory_mib: Some(256),
                fuel: None,
                max_output_bytes: Some(1 << 20),
            },
            allowed_sources: ["https", "s3", "github", "git"].map(String::from).to_vec(),
            allowed_hosts: Vec::new(),
            max_sessions: 16,
            session_idle_secs: 600,
            secrets: BTreeMap::new(),
            s3_endpoint: None,
            github_api_url: None,
        }
    }
}

/// What the tools share: the image, the config, and this client's sessions.
pub struct Shared {
    pub image: GuestImage,
    pub config: McpConfig,
    pub cache_dir: PathBuf,
    tenant: Tenant,
    sources: SourceCache,
    metrics: Metrics,
}

impl Shared {
    pub fn new(image: GuestImage, config: McpConfig, cache_dir: PathBuf) -> Arc<Shared> {
        let tenant = Tenant {
            config: TenantConfig {
                id: "mcp".into(),
                api_key_sha256: Vec::new(),
                max_concurrent: 1,
                max_queue: 1,
                allowed_sources: config.allowed_sources.clone(),
                allowed_hosts: config.allowed_hosts.clone(),
                limits: config.limits.clone(),
                secrets: config.secrets.clone(),
            },
            secrets: Arc::new(config.secrets.clone()),
        };
        Arc::new(Shared {
            image,
            config,
            cache_dir,
            tenant,
            sources: SourceCache::default(),
            metrics: Metrics::default(),
        })
    }
}

/// One MCP client's server: its sessions are its own.
#[derive(Clone)]
pub struct SandrunMcp {
    shared: Arc<Shared>,
    sessions: Arc<Mutex<HashMap<String, Arc<Mutex<Session>>>>>,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunPythonArgs {
    /// Python code. The value of a final expression is returned, as a REPL
    /// echoes it.
    pub code: String,
    /// Run in this session (from open_session) to keep variables, imports
    /// and files between calls; without it the code runs in a fresh sandbox.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Files to place in /tmp before the code runs: name → text, or
    /// "base64:…" for binary content.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunHandlerArgs {
    /// Where the handler's code is: https://…, s3://…, github:OWNER/REPO/PATH[@REF], git+URL (as the server's config allows).
    pub source: String,
    /// `func` for a single file, `module.func` for a folder or zip.
    pub handler: String,
    /// The event passed to handler(event, context).
    #[serde(default)]
    pub payload: Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SessionArgs {
    /// A session id from open_session.
    pub session_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadFileArgs {
    /// A session id from open_session.
    pub session_id: String,
    /// A path inside the session's /tmp, such as "out.csv" or "/tmp/out.csv".
    pub path: String,
}

/// The result a model reads: status, output, value, error.
fn report(result: &RunResult) -> CallToolResult {
    let mut body = json!({
        "status": result.status,
        "stdout": result.stdout,
        "stderr": result.stderr,
    });
    if let Some(payload) = &result.payload {
        match payload {
            Value::Object(map) if map.contains_key("repr") => {
                body["value"] = map.get("value").cloned().unwrap_or(Value::Null);
                body["repr"] = map.get("repr").cloned().unwrap_or(Value::Null);
            }
            other => body["payload"] = other.clone(),
        }
    }
    if let Some(error) = &result.error {
        body["error"] =
            json!({"type": error.kind, "message": error.message, "traceback": error.traceback});
    }
    if result.truncated.stdout || result.truncated.stderr {
        body["truncated"] = json!(result.truncated);
    }
    if result.is_success() {
        CallToolResult::structured(body)
    } else {
        CallToolResult::structured_error(body)
    }
}

fn failure(message: impl Into<String>) -> CallToolResult {
    CallToolResult::structured_error(
        json!({"status": "error", "error": {"type": "BadRequest", "message": message.into(), "traceback": ""}}),
    )
}

/// A path inside a session's scratch folder, refusing anything that leads
/// out of it.
fn scratch_path(scratch: &Path, path: &str) -> Result<PathBuf, String> {
    let relative = path
        .trim()
        .trim_start_matches("/tmp/")
        .trim_start_matches('/');
    let relative = Path::new(relative);
    if relative.as_os_str().is_empty()
        || relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "{path:?}: name a file inside /tmp, such as out.txt"
        ));
    }
    let full = scratch.join(relative);
    // No symlink made by the guest may lead outside.
    let resolved = full.canonicalize().map_err(|e| format!("{path}: {e}"))?;
    let root = scratch.canonicalize().map_err(|e| format!("{path}: {e}"))?;
    if !resolved.starts_with(&root) {
        return Err(format!("{path:?} leads outside the session's /tmp"));
    }
    Ok(resolved)
}

fn write_files(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, content) in files {
        let relative = Path::new(name.trim_start_matches("/tmp/"));
        if relative.components().count() != 1
            || !matches!(
                relative.components().next(),
                Some(std::path::Component::Normal(_))
            )
        {
            return Err(format!(
                "file name {name:?}: give a plain name such as data.csv"
            ));
        }
        let bytes = match content.strip_prefix("base64:") {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| format!("{name}: not valid base64: {e}"))?,
            None => content.clone().into_bytes(),
        };
        std::fs::write(dir.join(relative), bytes).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

impl SandrunMcp {
    pub fn new(shared: Arc<Shared>) -> SandrunMcp {
        SandrunMcp {
            shared,
            sessions: Arc::new(Mutex::new(HashMap::new())),
            tool_router: Self::tool_router(),
        }
    }

    fn options(&self) -> Result<SessionOptions, String> {
        // The config's limits are both the ceiling and what every call gets.
        let policy = invoke::policy("mcp", &self.shared.config.limits, &Limits::default())
            .map_err(|e| e.message)?;
        Ok(SessionOptions {
            policy,
            idle_timeout: Duration::from_secs(self.shared.config.session_idle_secs),
            ..SessionOptions::default()
        })
    }

    /// The scratch folder (guest `/tmp`) of session `id`.
    fn scratch_of(&self, id: &str) -> Result<PathBuf, String> {
        let session = self
            .session(id)
            .ok_or_else(|| format!("no session {id:?}"))?;
        let scratch = session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .scratch_dir()
            .to_path_buf();
        Ok(scratch)
    }

    fn session(&self, id: &str) -> Option<Arc<Mutex<Session>>> {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, McpError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| McpError::internal_error(format!("the sandbox thread failed: {e}"), None))
}

#[tool_router]
impl SandrunMcp {
    #[tool(
        description = "Run Python code in a sandbox (no network, no host files, limited time and memory). Returns stdout, stderr, the value of the final expression, and on failure the error type, message and traceback. Pass session_id to keep state between calls."
    )]
    async fn run_python(
        &self,
        Parameters(args): Parameters<RunPythonArgs>,
    ) -> Result<CallToolResult, McpError> {
        if let Some(id) = &args.session_id {
            let Some(session) = self.session(id) else {
                return Ok(failure(format!(
                    "no session {id:?}: it was closed or has ended; open a new one with open_session"
                )));
            };
            let result = blocking(move || {
                let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
                write_files(session.scratch_dir(), &args.files)?;
                session.run(&args.code).map_err(|e| e.to_string())
            })
            .await?;
            return Ok(match result {
                Ok(result) => report(&result),
                Err(message) => failure(message),
            });
        }
        let options = match self.options() {
            Ok(options) => options,
            Err(message) => return Ok(failure(message)),
        };
        let image = self.shared.image.clone();
        let result = blocking(move || -> Result<RunResult, String> {
            // A fresh sandbox that answers like a REPL: a one-call session.
            let mut session = image.open_session(options).map_err(|e| e.to_string())?;
            write_files(session.scratch_dir(), &args.files)?;
            session.run(&args.code).map_err(|e| e.to_string())
        })
        .await?;
        Ok(match result {
            Ok(result) => report(&result),
            Err(message) => failure(message),
        })
    }

    #[tool(
        description = "Call handler(event, context) from a script source (a URL, s3://, github:OWNER/REPO/PATH, git+URL — as the server allows) with a JSON payload; returns its return value as payload."
    )]
    async fn run_handler(
        &self,
        Parameters(args): Parameters<RunHandlerArgs>,
    ) -> Result<CallToolResult, McpError> {
        let request = InvokeRequest {
            source: Some(args.source),
            source_type: None,
            source_info: None,
            script: None,
            zip_base64: None,
            handler: Some(args.handler),
            command_line: None,
            payload: Some(args.payload),
            runtime: None,
            env: BTreeMap::new(),
            limits: Limits::default(),
            run_async: false,
        };
        let prepared = match invoke::prepare(
            &self.shared.tenant,
            &invoke::SourceRules::default(),
            request,
        ) {
            Ok(prepared) => prepared,
            Err(error) => return Ok(failure(error.message)),
        };
        let shared = Arc::clone(&self.shared);
        let value = blocking(move || {
            let context = Context {
                image: &shared.image,
                cache_dir: &shared.cache_dir,
                sources: &shared.sources,
                metrics: &shared.metrics,
                s3_endpoint: shared.config.s3_endpoint.as_deref(),
                github_api_url: shared
                    .config
                    .github_api_url
                    .as_deref()
                    .unwrap_or("https://api.github.com"),
                allow_insecure_http: false,
            };
            let id = crate::id::new_uuid();
            invoke::execute(
                &context,
                &shared.tenant,
                &prepared,
                &id,
                &CancelHandle::new(),
            )
        })
        .await?;
        match serde_json::from_value::<RunResult>(value.clone()) {
            Ok(result) => Ok(report(&result)),
            Err(_) => Ok(CallToolResult::structured_error(value)),
        }
    }

    #[tool(
        description = "Open a session: a sandbox that keeps variables, imports and /tmp files between run_python calls. Returns its session_id."
    )]
    async fn open_session(&self) -> Result<CallToolResult, McpError> {
        let open = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        if open >= self.shared.config.max_sessions {
            return Ok(failure(format!(
                "{open} sessions are open, the most allowed; close one with close_session"
            )));
        }
        let options = match self.options() {
            Ok(options) => options,
            Err(message) => return Ok(failure(message)),
        };
        let image = self.shared.image.clone();
        let session = blocking(move || image.open_session(options)).await?;
        match session {
            Ok(session) => {
                let id = crate::id::new_uuid();
                self.sessions
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.clone(), Arc::new(Mutex::new(session)));
                Ok(CallToolResult::structured(json!({"session_id": id})))
            }
            Err(error) => Ok(failure(error.to_string())),
        }
    }

    #[tool(description = "Close a session and delete its files.")]
    async fn close_session(
        &self,
        Parameters(args): Parameters<SessionArgs>,
    ) -> Result<CallToolResult, McpError> {
        let removed = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&args.session_id);
        Ok(match removed {
            Some(_) => CallToolResult::structured(json!({"closed": args.session_id})),
            None => failure(format!("no session {:?}", args.session_id)),
        })
    }

    #[tool(description = "List the files in a session's /tmp folder, with their sizes.")]
    async fn list_files(
        &self,
        Parameters(args): Parameters<SessionArgs>,
    ) -> Result<CallToolResult, McpError> {
        let scratch = match self.scratch_of(&args.session_id) {
            Ok(scratch) => scratch,
            Err(message) => return Ok(failure(message)),
        };
        let mut files = Vec::new();
        let mut stack = vec![scratch.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                let name = path
                    .strip_prefix(&scratch)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    files.push(json!({"path": format!("/tmp/{name}"), "bytes": size}));
                }
            }
        }
        files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        Ok(CallToolResult::structured(json!({"files": files})))
    }

    #[tool(
        description = "Read a file from a session's /tmp folder (text, or base64 for binary content)."
    )]
    async fn read_file(
        &self,
        Parameters(args): Parameters<ReadFileArgs>,
    ) -> Result<CallToolResult, McpError> {
        let scratch = match self.scratch_of(&args.session_id) {
            Ok(scratch) => scratch,
            Err(message) => return Ok(failure(message)),
        };
        let path = match scratch_path(&scratch, &args.path) {
            Ok(path) => path,
            Err(message) => return Ok(failure(message)),
        };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(failure(format!("{}: {e}", args.path))),
        };
        Ok(CallToolResult::structured(match String::from_utf8(bytes) {
            Ok(text) => json!({"path": args.path, "text": text}),
            Err(e) => {
                json!({"path": args.path, "base64": base64::engine::general_purpose::STANDARD.encode(e.into_bytes())})
            }
        }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SandrunMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("sandrun", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Run Python 3.14 in WebAssembly sandboxes: no network, no host files, limited time and memory. \
                 Use run_python for code (pass a session_id from open_session to keep state), \
                 run_handler for handler(event, context) scripts from a URL or repository.",
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_paths_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("out.txt"), "x").unwrap();
        assert!(scratch_path(dir.path(), "/tmp/out.txt").is_ok());
        assert!(scratch_path(dir.path(), "out.txt").is_ok());
        assert!(scratch_path(dir.path(), "../etc/passwd").is_err());
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        assert!(
            scratch_path(dir.path(), "link")
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            write_files(
                dir.path(),
                &BTreeMap::from([("../x".to_string(), "y".to_string())])
            )
            .is_err()
        );
    }
}
