//! Sessions: one guest instance kept alive across calls, like a notebook
//! kernel. Names, imports and files in its scratch folder carry over; each
//! call has its own deadline, fuel and output caps. A session ends when it
//! is closed, when it idles past its idle timeout, when its lifetime passes,
//! or when a call traps or hits a limit (its state can no longer be
//! trusted); after that every call fails with [`SessionError::Ended`].
//! A session belongs to one owner: it is `Send` but not `Sync`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::Store;
use wasmtime::component::{ResourceTable, TypedFunc};

use crate::error::RuntimeError;
use crate::image::{GuestImage, ImageKind};
use crate::invocation::Invocation;
use crate::limiter::MemoryMeter;
use crate::outcome::{RunResult, Status};
use crate::output::CappedOutput;
use crate::policy::Policy;
use crate::protocol::{GuestRequest, SCRIPT_DIR};
use crate::sandbox::{
    CancelHandle, Ended, Finished, Limits, P2State, Prepared, classify, finish, guarded, guest_env,
    new_store, settle,
};

/// How long a session may live and idle.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Per-call limits (timeout, fuel, output, payload) and the session's
    /// memory limit and grants.
    pub policy: Policy,
    /// The session ends after this long without a call (default 10 min).
    pub idle_timeout: Duration,
    /// The session ends this long after it opened (default 1 h).
    pub lifetime: Duration,
    /// Environment variables the guest sees (besides `TMPDIR`).
    pub env: BTreeMap<String, String>,
    /// Host tools the session's code may call.
    pub tools: Option<std::sync::Arc<crate::ToolSet>>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            policy: Policy {
                timeout_ms: 30_000,
                ..Policy::default()
            },
            idle_timeout: Duration::from_secs(600),
            lifetime: Duration::from_secs(3600),
            env: BTreeMap::new(),
            tools: None,
        }
    }
}

/// Why a session call did not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The session is over; open a new one.
    #[error("the session has ended ({0}); open a new session")]
    Ended(String),
    /// The session could not be set up.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

type RunFunc = TypedFunc<(String,), (String,)>;

/// A live guest instance that runs code call after call.
pub struct Session {
    image: GuestImage,
    options: SessionOptions,
    store: Store<P2State>,
    run: RunFunc,
    stdout: CappedOutput,
    stderr: CappedOutput,
    env: BTreeMap<String, String>,
    opened: Instant,
    last_used: Instant,
    calls: u64,
    ended: Option<String>,
    // Mounted at /script (empty) and /tmp; deleted when the session drops.
    _script: tempfile::TempDir,
    scratch: tempfile::TempDir,
}

impl GuestImage {
    /// Opens a session on this image (component images only).
    pub fn open_session(&self, options: SessionOptions) -> Result<Session, RuntimeError> {
        options.policy.validate()?;
        let prepared = self.prepared(options.policy.fuel.is_some())?;
        let Prepared::Component(pre) = &*prepared else {
            return Err(RuntimeError::InvalidInvocation(format!(
                "the {} image runs commands only and has no sessions",
                self.manifest().name
            )));
        };
        debug_assert_eq!(self.manifest().kind, ImageKind::Component);
        let root = &self.inner.runtime.inner.scratch_root;
        let temp = |prefix: &str| {
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in(root)
                .map_err(|e| RuntimeError::io("cannot create the session's folders", e))
        };
        let script = temp("sandrun-session-")?;
        let scratch = temp("sandrun-scratch-")?;
        let mut shape = Invocation::handler(script.path(), "<session>");
        for (key, value) in &options.env {
            shape = shape.env(key, value);
        }
        let stdout = CappedOutput::new(options.policy.stdout_bytes, None);
        let stderr = CappedOutput::new(options.policy.stderr_bytes, None);
        let env = guest_env(&shape);
        let mut wasi = self.wasi_builder(
            &shape,
            &env,
            &options.policy,
            scratch.path(),
            &stdout,
            &stderr,
        )?;
        let limits = Limits {
            meter: MemoryMeter::new(
                usize::try_from(options.policy.memory_bytes).unwrap_or(usize::MAX),
            ),
            deadline: Instant::now() + options.policy.timeout(),
            cancel: CancelHandle::new().0.flag.clone(),
            stopped_by: None,
        };
        let state = P2State {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits,
            tools: options.tools.clone(),
            tool_calls: Vec::new(),
        };
        let mut store = new_store(pre.engine(), state, &options.policy, |s| &mut s.limits);
        let instantiated = wasmtime_wasi::runtime::in_tokio(async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.get_typed_func::<(String,), (String,)>(&mut store, "run")
        });
        let run = instantiated.map_err(|e| RuntimeError::Compile {
            path: self.dir().to_path_buf(),
            reason: format!("cannot start a session: {e:#}"),
        })?;
        let now = Instant::now();
        Ok(Session {
            image: self.clone(),
            env,
            options,
            store,
            run,
            stdout,
            stderr,
            opened: now,
            last_used: now,
            calls: 0,
            ended: None,
            _script: script,
            scratch,
        })
    }
}

impl Session {
    /// Runs `code` in the session. The payload is `{"value": <the last
    /// expression as JSON, or null>, "repr": "<its repr>"}`.
    pub fn run(&mut self, code: &str) -> Result<RunResult, SessionError> {
        self.run_cancellable(code, &CancelHandle::new())
    }

    /// Like [`run`](Self::run), stoppable through `cancel` (which also ends
    /// the session).
    pub fn run_cancellable(
        &mut self,
        code: &str,
        cancel: &CancelHandle,
    ) -> Result<RunResult, SessionError> {
        self.check_alive()?;
        let policy = self.options.policy.clone();
        let deadline = Instant::now() + policy.timeout();
        {
            let limits = &mut self.store.data_mut().limits;
            limits.deadline = deadline;
            limits.cancel = cancel.0.flag.clone();
            limits.stopped_by = None;
        }
        if let Some(fuel) = policy.fuel {
            // Only the metered engine meters; this cannot fail there.
            let _ = self.store.set_fuel(fuel);
        }
        self.store.set_epoch_deadline(1);
        self.calls += 1;
        let id = format!("session-call-{}", self.calls);
        let request = serde_json::to_string(&GuestRequest {
            mode: "exec",
            script_dir: SCRIPT_DIR,
            entry: None,
            handler: None,
            event: &Value::Null,
            context: serde_json::json!({"invocation_id": id, "remaining_time_ms": policy.timeout_ms}),
            argv: &[],
            cwd: crate::protocol::SCRATCH_DIR,
            env: &self.env,
            code: Some(code),
            tools: self.options.tools.as_deref().map(crate::ToolSet::describe),
        })
        .unwrap_or_default();

        let started = Instant::now();
        let run = self.run;
        let store = &mut self.store;
        let called = wasmtime_wasi::runtime::in_tokio(async {
            let call = async { run.call_async(&mut *store, (request,)).await.map(|(r,)| r) };
            guarded(call, deadline, cancel).await
        });
        let called = settle(called, &mut self.store, |s| &mut s.limits);
        let trapped = called.is_err();
        let ended = Ended::from_store(&mut self.store, |s| &s.limits, &policy);
        let memory_denied = ended.memory_denied;
        let outcome = classify(called.map(Finished::Response), ended, &policy);
        let mut result = finish(
            outcome,
            &self.stdout,
            &self.stderr,
            started.elapsed(),
            self.image.digest(),
            &id,
        );
        result.tool_calls = std::mem::take(&mut self.store.data_mut().tool_calls);
        self.last_used = Instant::now();
        if trapped || memory_denied || result.status == Status::TimedOut {
            self.ended = Some(format!(
                "a call was stopped: {}",
                result.error.as_ref().map_or("trap", |e| e.kind.as_str())
            ));
        }
        Ok(result)
    }

    fn check_alive(&mut self) -> Result<(), SessionError> {
        if self.ended.is_none() {
            let now = Instant::now();
            if now.duration_since(self.last_used) > self.options.idle_timeout {
                self.ended = Some("it was idle longer than its idle timeout".into());
            } else if now.duration_since(self.opened) > self.options.lifetime {
                self.ended = Some("its lifetime passed".into());
            }
        }
        match &self.ended {
            Some(reason) => Err(SessionError::Ended(reason.clone())),
            None => Ok(()),
        }
    }

    /// Whether calls can still run.
    pub fn is_open(&mut self) -> bool {
        self.check_alive().is_ok()
    }

    /// The host folder behind the session's `/tmp`.
    pub fn scratch_dir(&self) -> &Path {
        self.scratch.path()
    }

    /// Ends the session and deletes its folders.
    pub fn close(self) {}
}
