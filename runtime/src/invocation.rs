//! What to run: a handler call or a command line, against a script folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::output::LiveOutput;
use crate::policy::Access;

/// How the script is entered.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `handler(events, context)`, as `aws:executeScript` calls it. The
    /// result is the JSON payload.
    Handler {
        /// `func` for a single file, `module.func` for a folder.
        name: String,
        /// The first argument, `events`.
        event: Value,
    },
    /// A command line, as `AWS-RunRemoteScript` runs it: `argv[0]` is the
    /// script (relative to the script folder), the rest are its arguments;
    /// it runs as `__main__` and its exit status is the result.
    Command {
        /// `sys.argv`.
        argv: Vec<String>,
    },
}

/// One run of a script: the folder it lives in, how it is called, and the
/// environment it sees.
///
/// ```
/// use sandrun_runtime::Invocation;
/// let call = Invocation::handler("examples/hello", "main.handler")
///     .event(serde_json::json!({"name": "world"}))
///     .env("GREETING", "hello");
/// assert_eq!(call.handler_name(), Some("main.handler"));
/// ```
#[derive(Clone)]
pub struct Invocation {
    pub(crate) script_dir: PathBuf,
    pub(crate) entry: Option<String>,
    pub(crate) script_access: Access,
    pub(crate) call: Call,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) id: String,
    pub(crate) stdout_live: Option<LiveOutput>,
    pub(crate) stderr_live: Option<LiveOutput>,
    pub(crate) tools: Option<std::sync::Arc<crate::ToolSet>>,
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("script_dir", &self.script_dir)
            .field("entry", &self.entry)
            .field("call", &self.call)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Invocation {
    fn new(script_dir: impl Into<PathBuf>, call: Call) -> Self {
        Invocation {
            script_dir: script_dir.into(),
            entry: None,
            script_access: Access::ReadOnly,
            call,
            env: BTreeMap::new(),
            id: new_invocation_id(),
            stdout_live: None,
            stderr_live: None,
            tools: None,
        }
    }

    /// Calls `handler` in the scripts of `script_dir`, with `null` as the
    /// event until [`event`](Self::event) sets one.
    pub fn handler(script_dir: impl Into<PathBuf>, handler: impl Into<String>) -> Self {
        Self::new(
            script_dir,
            Call::Handler {
                name: handler.into(),
                event: Value::Null,
            },
        )
    }

    /// Runs a command line; `argv[0]` is a script inside `script_dir`.
    pub fn command<I, S>(script_dir: impl Into<PathBuf>, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(
            script_dir,
            Call::Command {
                argv: argv.into_iter().map(Into::into).collect(),
            },
        )
    }

    /// Sets the handler's event (ignored by commands).
    pub fn event(mut self, event: Value) -> Self {
        if let Call::Handler { event: slot, .. } = &mut self.call {
            *slot = event;
        }
        self
    }

    /// Marks the script folder as holding a single script file: a handler
    /// named `func` (or `stem.func`) is looked up in that file.
    pub fn entry_file(mut self, file_name: impl Into<String>) -> Self {
        self.entry = Some(file_name.into());
        self
    }

    /// Lets the script write to its own folder (read-only by default), as
    /// a command that works in a granted working directory needs.
    pub fn script_access(mut self, access: Access) -> Self {
        self.script_access = access;
        self
    }

    /// Adds an environment variable. The guest sees no others, except
    /// `TMPDIR=/tmp` unless set here.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Replaces the generated invocation id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Copies the output the guest writes to stdout (up to its cap) to
    /// `live` as it arrives, besides capturing it for the result.
    pub fn stdout_to(mut self, live: LiveOutput) -> Self {
        self.stdout_live = Some(live);
        self
    }

    /// Hands the guest these host tools (`from sandrun import tools`).
    pub fn tools(mut self, tools: std::sync::Arc<crate::ToolSet>) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Copies the guest's stderr to `live` as it arrives.
    pub fn stderr_to(mut self, live: LiveOutput) -> Self {
        self.stderr_live = Some(live);
        self
    }

    /// The host folder of the script.
    pub fn script_dir(&self) -> &Path {
        &self.script_dir
    }

    /// How the script is entered.
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// The invocation id, also given to the handler's `context`.
    pub fn invocation_id(&self) -> &str {
        &self.id
    }

    /// The handler's name, for handler calls.
    pub fn handler_name(&self) -> Option<&str> {
        match &self.call {
            Call::Handler { name, .. } => Some(name),
            Call::Command { .. } => None,
        }
    }
}

/// A process-unique, time-ordered id such as `sr-18c2f0a1b2c3-000001`.
fn new_invocation_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    format!("sr-{micros:x}-{:x}-{n:06}", std::process::id())
}
