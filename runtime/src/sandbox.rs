//! One invocation: a fresh store with its limits, a WASI context that grants
//! only what the policy says, the call, and the classification of how it
//! ended. Every `preopened_dir` of the runtime is in this file.

use std::collections::BTreeMap;
use std::path::{Component as PathComponent, Path};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::Notify;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreContextMut, Trap, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::clock::{InvocationMonotonicClock, VirtualWallClock};
use crate::error::RuntimeError;
use crate::image::{GuestImage, ImageKind};
use crate::invocation::{Call, Invocation};
use crate::limiter::MemoryMeter;
use crate::outcome::{ErrorInfo, RunResult, Stats, Status, Truncated, error_type};
use crate::output::CappedOutput;
use crate::policy::{Access, ClockAccess, Policy};
use crate::protocol::{GuestRequest, GuestResponse, SCRATCH_DIR, SCRIPT_DIR};

/// An image compiled and linked for one engine; instantiated per invocation.
pub(crate) enum Prepared {
    Component(wasmtime::component::InstancePre<P2State>),
    Command(wasmtime::InstancePre<P1State>),
}

/// Store data for component guests.
pub(crate) struct P2State {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: Limits,
    /// The host tools this guest may call, and the calls it made.
    pub(crate) tools: Option<std::sync::Arc<crate::ToolSet>>,
    pub(crate) tool_calls: Vec<crate::ToolCall>,
}

impl P2State {
    /// The guest's `call-tool` import.
    pub(crate) fn call_tool(&mut self, name: &str, arguments: &str) -> Result<String, String> {
        match &self.tools {
            Some(tools) => tools.call(name, arguments, &mut self.tool_calls),
            None => Err(format!(
                "no host tool {name:?}: none are registered for this run"
            )),
        }
    }
}

impl WasiView for P2State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Store data for preview-1 command guests.
pub(crate) struct P1State {
    pub(crate) wasi: WasiP1Ctx,
    limits: Limits,
}

/// What a store's limits need while the guest runs.
pub(crate) struct Limits {
    pub(crate) meter: MemoryMeter,
    pub(crate) deadline: Instant,
    pub(crate) cancel: Arc<AtomicBool>,
    /// Set by the epoch callback when it interrupts the guest.
    pub(crate) stopped_by: Option<&'static str>,
}

/// Cancels a running invocation from another thread or task.
#[derive(Clone, Debug, Default)]
pub struct CancelHandle(pub(crate) Arc<CancelState>);

#[derive(Debug, Default)]
pub(crate) struct CancelState {
    pub(crate) flag: Arc<AtomicBool>,
    notify: Notify,
}

impl CancelHandle {
    /// A handle that nothing has cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Interrupts the invocation: a running guest stops within about 10 ms,
    /// one blocked in a host call (a sleep) at once. Its result says
    /// `cancelled`.
    pub fn cancel(&self) {
        self.0.flag.store(true, Ordering::Relaxed);
        self.0.notify.notify_waiters();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.flag.load(Ordering::Relaxed)
    }

    async fn cancelled(&self) {
        let notified = self.0.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_cancelled() {
            return;
        }
        notified.await;
    }
}

/// Why the host stopped waiting for the guest.
#[derive(Clone, Copy)]
pub(crate) enum Stop {
    Timeout,
    Cancelled,
}

/// Awaits the guest's call unless the deadline passes or the caller
/// cancels first. The epoch callback stops a guest that is computing; this
/// also stops one that is blocked in a host call such as `time.sleep`,
/// because dropping the call's future abandons that host call.
pub(crate) async fn guarded<T>(
    call: impl Future<Output = wasmtime::Result<T>>,
    deadline: Instant,
    cancel: &CancelHandle,
) -> Result<wasmtime::Result<T>, Stop> {
    tokio::select! {
        biased;
        result = call => Ok(result),
        () = tokio::time::sleep_until(deadline.into()) => Err(Stop::Timeout),
        () = cancel.cancelled() => Err(Stop::Cancelled),
    }
}

/// Turns a host-side stop into the same shape as an epoch interrupt.
pub(crate) fn settle<T, S>(
    guarded: Result<wasmtime::Result<T>, Stop>,
    store: &mut Store<S>,
    limits: fn(&mut S) -> &mut Limits,
) -> wasmtime::Result<T> {
    guarded.unwrap_or_else(|stop| {
        limits(store.data_mut()).stopped_by = Some(match stop {
            Stop::Timeout => error_type::TIMEOUT,
            Stop::Cancelled => error_type::CANCELLED,
        });
        Err(wasmtime::Error::new(Trap::Interrupt))
    })
}

impl GuestImage {
    /// Runs one invocation in a fresh sandbox and returns its result.
    ///
    /// Script failures and stopped scripts are results with a status, not
    /// errors; `Err` means the sandbox could not be set up (an invalid
    /// policy, a missing script, an unusable mount).
    ///
    /// This blocks the calling thread. Inside async code (a tokio task), use
    /// [`run_async`](Self::run_async) instead.
    pub fn run(&self, invocation: &Invocation, policy: &Policy) -> Result<RunResult, RuntimeError> {
        self.run_cancellable(invocation, policy, &CancelHandle::new())
    }

    /// Like [`run`](Self::run), stoppable through `cancel`.
    pub fn run_cancellable(
        &self,
        invocation: &Invocation,
        policy: &Policy,
        cancel: &CancelHandle,
    ) -> Result<RunResult, RuntimeError> {
        wasmtime_wasi::runtime::in_tokio(self.run_async(invocation, policy, cancel))
    }

    /// Runs one invocation from async code; `cancel` can stop it.
    pub async fn run_async(
        &self,
        invocation: &Invocation,
        policy: &Policy,
        cancel: &CancelHandle,
    ) -> Result<RunResult, RuntimeError> {
        policy.validate()?;
        check_invocation(invocation)?;
        if self.inner.manifest.kind == ImageKind::Command
            && matches!(invocation.call, Call::Handler { .. })
        {
            return Err(RuntimeError::InvalidInvocation(format!(
                "the {} image runs commands only; call it with a command line",
                self.inner.manifest.name
            )));
        }
        let prepared = self.prepared(policy.fuel.is_some())?;
        let scratch = tempfile::Builder::new()
            .prefix("sandrun-scratch-")
            .tempdir_in(&self.inner.runtime.inner.scratch_root)
            .map_err(|e| RuntimeError::io("cannot create the scratch folder", e))?;
        let stdout = CappedOutput::new(policy.stdout_bytes, invocation.stdout_live.clone());
        let stderr = CappedOutput::new(policy.stderr_bytes, invocation.stderr_live.clone());
        // Computed once: the WASI context and the shim's os.environ agree.
        let env = guest_env(invocation);
        let mut wasi =
            self.wasi_builder(invocation, &env, policy, scratch.path(), &stdout, &stderr)?;
        let deadline = Instant::now() + policy.timeout();
        let limits = Limits {
            meter: MemoryMeter::new(usize::try_from(policy.memory_bytes).unwrap_or(usize::MAX)),
            deadline,
            cancel: cancel.0.flag.clone(),
            stopped_by: None,
        };

        let started = Instant::now();
        let mut tool_calls = Vec::new();
        let outcome = match &*prepared {
            Prepared::Component(pre) => {
                let state = P2State {
                    wasi: wasi.build(),
                    table: ResourceTable::new(),
                    limits,
                    tools: invocation.tools.clone(),
                    tool_calls: Vec::new(),
                };
                let mut store = new_store(pre.engine(), state, policy, |s| &mut s.limits);
                let request = guest_request(invocation, &env, policy);
                let call = async {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let run = instance.get_typed_func::<(&str,), (String,)>(&mut store, "run")?;
                    let (response,) = run.call_async(&mut store, (request.as_str(),)).await?;
                    Ok(response)
                };
                let called = guarded(call, deadline, cancel).await;
                let called = settle(called, &mut store, |s| &mut s.limits);
                let ended = Ended::from_store(&mut store, |s| &s.limits, policy);
                tool_calls = std::mem::take(&mut store.data_mut().tool_calls);
                classify(called.map(Finished::Response), ended, policy)
            }
            Prepared::Command(pre) => {
                let state = P1State {
                    wasi: wasi.build_p1(),
                    limits,
                };
                let mut store = new_store(pre.module().engine(), state, policy, |s| &mut s.limits);
                let call = async {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                    start.call_async(&mut store, ()).await
                };
                let called = guarded(call, deadline, cancel).await;
                let called = settle(called, &mut store, |s| &mut s.limits);
                let ended = Ended::from_store(&mut store, |s| &s.limits, policy);
                classify(called.map(|()| Finished::Exited(0)), ended, policy)
            }
        };
        let duration = started.elapsed();
        drop(scratch);

        let mut result = finish(
            outcome,
            &stdout,
            &stderr,
            duration,
            self.digest(),
            &invocation.id,
        );
        result.tool_calls = tool_calls;
        Ok(result)
    }

    /// The WASI context: script folder read-only at `/script`, scratch
    /// read-write at `/tmp`, the image's own read-only mounts, the policy's
    /// grants, and nothing else (no sockets, no host environment, no stdin).
    pub(crate) fn wasi_builder(
        &self,
        invocation: &Invocation,
        env: &BTreeMap<String, String>,
        policy: &Policy,
        scratch: &Path,
        stdout: &CappedOutput,
        stderr: &CappedOutput,
    ) -> Result<WasiCtxBuilder, RuntimeError> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            // Each invocation already has a thread to itself: filesystem calls
            // run on it instead of hopping to tokio's blocking pool (two
            // thread switches per `stat`, which dominated small scripts).
            .allow_blocking_current_thread(true)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        if policy.clock == ClockAccess::Virtual {
            wasi.wall_clock(VirtualWallClock::new())
                .monotonic_clock(InvocationMonotonicClock::new());
        }

        let env: Vec<(&String, &String)> = env.iter().collect();
        wasi.envs(&env);
        let mut args = self.inner.manifest.argv_prefix.clone();
        if let Call::Command { argv } = &invocation.call {
            args.extend(argv.iter().cloned());
        }
        wasi.args(&args);

        let mut preopen = |host: &Path, guest: &str, access: Access| {
            let perms = match access {
                Access::ReadOnly => FsPerms::ReadOnly,
                Access::ReadWrite => FsPerms::ReadWrite,
            };
            wasi.preopened_dir(host, guest, perms)
                .map(drop)
                .map_err(|e| RuntimeError::Mount {
                    host: host.to_path_buf(),
                    guest: guest.to_string(),
                    reason: format!("{e:#}"),
                })
        };
        preopen(&invocation.script_dir, SCRIPT_DIR, invocation.script_access)?;
        preopen(scratch, SCRATCH_DIR, Access::ReadWrite)?;
        for (guest, host) in &self.inner.manifest.mounts {
            preopen(&self.inner.dir.join(host), guest, Access::ReadOnly)?;
        }
        for mount in &policy.mounts {
            preopen(&mount.host, &mount.guest, mount.access)?;
        }
        Ok(wasi)
    }
}

/// Rejects what cannot run before a sandbox is built.
fn check_invocation(invocation: &Invocation) -> Result<(), RuntimeError> {
    let dir = &invocation.script_dir;
    if !dir.is_dir() {
        return Err(RuntimeError::InvalidInvocation(format!(
            "the script folder {} does not exist",
            dir.display()
        )));
    }
    let script =
        match (&invocation.call, &invocation.entry) {
            (_, Some(entry)) => Some(entry),
            (Call::Command { argv }, None) => Some(argv.first().ok_or_else(|| {
                RuntimeError::InvalidInvocation("the command line is empty".into())
            })?),
            (Call::Handler { .. }, None) => None,
        };
    if let Some(script) = script {
        let relative = Path::new(script);
        let inside = relative
            .components()
            .all(|c| matches!(c, PathComponent::Normal(_) | PathComponent::CurDir));
        if !inside || !dir.join(relative).is_file() {
            return Err(RuntimeError::InvalidInvocation(format!(
                "no script {script:?} in {}: name a file inside the script folder",
                dir.display()
            )));
        }
    }
    if let Call::Handler { name, .. } = &invocation.call
        && name.trim().is_empty()
    {
        return Err(RuntimeError::InvalidInvocation(
            "the handler name is empty".into(),
        ));
    }
    Ok(())
}

/// The invocation's variables, plus `TMPDIR` pointing at the scratch folder.
pub(crate) fn guest_env(invocation: &Invocation) -> BTreeMap<String, String> {
    let mut env = invocation.env.clone();
    env.entry("TMPDIR".into())
        .or_insert_with(|| SCRATCH_DIR.into());
    env
}

fn guest_request(
    invocation: &Invocation,
    env: &BTreeMap<String, String>,
    policy: &Policy,
) -> String {
    let no_args = Vec::new();
    let (mode, handler, event, argv) = match &invocation.call {
        Call::Handler { name, event } => ("handler", Some(name.as_str()), event, &no_args),
        Call::Command { argv } => ("command", None, &Value::Null, argv),
    };
    let request = GuestRequest {
        mode,
        script_dir: SCRIPT_DIR,
        entry: invocation.entry.as_deref(),
        handler,
        event,
        context: json!({
            "invocation_id": invocation.id,
            "automation:EXECUTION_ID": invocation.id,
            "handler": handler,
            "remaining_time_ms": policy.timeout_ms,
        }),
        argv,
        cwd: SCRIPT_DIR,
        env,
        code: None,
        tools: invocation.tools.as_deref().map(crate::ToolSet::describe),
    };
    // Serializing plain strings and JSON values cannot fail.
    serde_json::to_string(&request).unwrap_or_default()
}

pub(crate) fn new_store<T: Send + 'static>(
    engine: &wasmtime::Engine,
    state: T,
    policy: &Policy,
    limits: fn(&mut T) -> &mut Limits,
) -> Store<T> {
    let mut store = Store::new(engine, state);
    store.limiter(move |state| &mut limits(state).meter);
    if let Some(fuel) = policy.fuel {
        // Only the metered engine consumes fuel; this cannot fail there.
        let _ = store.set_fuel(fuel);
    }
    // Check the deadline and the cancel flag on every epoch tick.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |mut ctx: StoreContextMut<'_, T>| {
        let limits = limits(ctx.data_mut());
        if limits.cancel.load(Ordering::Relaxed) {
            limits.stopped_by = Some(error_type::CANCELLED);
            return Ok(UpdateDeadline::Interrupt);
        }
        if Instant::now() >= limits.deadline {
            limits.stopped_by = Some(error_type::TIMEOUT);
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Continue(1))
    });
    store
}

/// What the store knew when the call ended.
pub(crate) struct Ended {
    stopped_by: Option<&'static str>,
    pub(crate) memory_denied: bool,
    memory_peak: usize,
    fuel_consumed: Option<u64>,
}

impl Ended {
    pub(crate) fn from_store<T>(
        store: &mut Store<T>,
        limits: fn(&T) -> &Limits,
        policy: &Policy,
    ) -> Self {
        let fuel_consumed = policy
            .fuel
            .map(|fuel| fuel.saturating_sub(store.get_fuel().unwrap_or(0)));
        let limits = limits(store.data());
        Ended {
            stopped_by: limits.stopped_by,
            memory_denied: limits.meter.denied,
            memory_peak: limits.meter.peak,
            fuel_consumed,
        }
    }
}

pub(crate) enum Finished {
    Response(String),
    Exited(i32),
}

pub(crate) struct Outcome {
    pub(crate) status: Status,
    pub(crate) payload: Option<Value>,
    pub(crate) error: Option<ErrorInfo>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) payload_cut: bool,
    pub(crate) fuel_consumed: Option<u64>,
    pub(crate) memory_peak: usize,
}

/// Decides the status from how the call returned and what the limits saw.
/// The one place where traps are told apart, by downcasting.
pub(crate) fn classify(
    called: wasmtime::Result<Finished>,
    ended: Ended,
    policy: &Policy,
) -> Outcome {
    let mut outcome = Outcome {
        status: Status::Failed,
        payload: None,
        error: None,
        exit_code: None,
        payload_cut: false,
        fuel_consumed: ended.fuel_consumed,
        memory_peak: ended.memory_peak,
    };
    let memory_message = || {
        format!(
            "the script needed more than its memory limit of {} MiB",
            policy.memory_bytes / (1024 * 1024)
        )
    };
    match called {
        Ok(Finished::Exited(code)) => {
            outcome.exit_code = Some(code);
            outcome.status = status_for_exit(code);
        }
        Ok(Finished::Response(text)) => {
            let response: GuestResponse = match serde_json::from_str(&text) {
                Ok(response) => response,
                Err(e) => {
                    outcome.error = Some(ErrorInfo::new(
                        error_type::GUEST_TRAP,
                        format!("the guest answered with malformed JSON: {e}"),
                    ));
                    return outcome;
                }
            };
            outcome.exit_code = response.exit_code;
            match (response.error, response.payload) {
                (Some(mut error), _) => {
                    if ended.memory_denied {
                        error.message = if error.message.is_empty() {
                            format!("{} (the script raised {})", memory_message(), error.kind)
                        } else {
                            format!("{} ({}: {})", memory_message(), error.kind, error.message)
                        };
                        error.kind = error_type::MEMORY_LIMIT_EXCEEDED.into();
                    }
                    outcome.error = Some(error);
                }
                (None, Some(payload)) => match shape_payload(&payload, policy) {
                    Ok((value, cut)) => {
                        outcome.status = Status::Success;
                        outcome.payload = Some(value);
                        outcome.payload_cut = cut;
                    }
                    Err(error) => outcome.error = Some(error),
                },
                (None, None) => {
                    let code = response.exit_code.unwrap_or(0);
                    outcome.status = status_for_exit(code);
                }
            }
        }
        Err(err) => {
            if let Some(exit) = err.downcast_ref::<I32Exit>() {
                outcome.exit_code = Some(exit.0);
                outcome.status = status_for_exit(exit.0);
                return outcome;
            }
            let trap = err.downcast_ref::<Trap>().copied();
            outcome.error = Some(match (trap, ended.stopped_by) {
                (_, Some(error_type::CANCELLED)) => {
                    outcome.status = Status::Cancelled;
                    ErrorInfo::new(error_type::CANCELLED, "the invocation was cancelled")
                }
                (Some(Trap::Interrupt), _) | (_, Some(error_type::TIMEOUT)) => {
                    outcome.status = Status::TimedOut;
                    ErrorInfo::new(
                        error_type::TIMEOUT,
                        format!(
                            "the script ran past its timeout of {}",
                            human_duration(policy.timeout_ms)
                        ),
                    )
                }
                (Some(Trap::OutOfFuel), _) => ErrorInfo::new(
                    error_type::FUEL_EXHAUSTED,
                    format!(
                        "the script used all of its fuel ({} units)",
                        policy.fuel.unwrap_or_default()
                    ),
                ),
                _ if ended.memory_denied => {
                    ErrorInfo::new(error_type::MEMORY_LIMIT_EXCEEDED, memory_message())
                }
                (Some(trap), _) => {
                    ErrorInfo::new(error_type::GUEST_TRAP, format!("the guest trapped: {trap}"))
                }
                // The pool's slots are all taken: the caller's capacity,
                // not the guest's fault.
                (None, _) if format!("{err:#}").contains("maximum concurrent limit") => {
                    ErrorInfo::new(
                        error_type::CAPACITY_EXCEEDED,
                        format!(
                            "every sandbox slot of this runtime is in use ({err:#}); \
                             wait for one, or raise RuntimeBuilder::max_instances"
                        ),
                    )
                }
                (None, _) => ErrorInfo::new(
                    error_type::GUEST_TRAP,
                    format!("the guest failed: {:#}", err),
                ),
            });
        }
    }
    outcome
}

/// The result of a call, with the output the guest wrote during it.
pub(crate) fn finish(
    outcome: Outcome,
    stdout: &CappedOutput,
    stderr: &CappedOutput,
    duration: std::time::Duration,
    image: &str,
    invocation_id: &str,
) -> RunResult {
    let (stdout, stdout_cut) = stdout.take();
    let (stderr, stderr_cut) = stderr.take();
    RunResult {
        status: outcome.status,
        payload: outcome.payload,
        error: outcome.error,
        exit_code: outcome.exit_code,
        stdout,
        stderr,
        truncated: Truncated {
            stdout: stdout_cut,
            stderr: stderr_cut,
            payload: outcome.payload_cut,
        },
        stats: Stats {
            duration_ms: duration.as_secs_f64() * 1000.0,
            fuel_consumed: outcome.fuel_consumed,
            memory_peak_bytes: outcome.memory_peak as u64,
        },
        image: image.to_string(),
        invocation_id: invocation_id.to_string(),
        tool_calls: Vec::new(),
    }
}

fn status_for_exit(code: i32) -> Status {
    if code == 0 {
        Status::Success
    } else {
        Status::Failed
    }
}

/// Applies the payload rules of `aws:executeScript`: a list is cut to its
/// first `list_items` items (flagged), and the JSON may not exceed
/// `payload_bytes`.
fn shape_payload(text: &str, policy: &Policy) -> Result<(Value, bool), ErrorInfo> {
    let mut value: Value = serde_json::from_str(text).map_err(|e| {
        ErrorInfo::new(
            error_type::PAYLOAD_NOT_SERIALIZABLE,
            format!("the handler's result is not valid JSON: {e}"),
        )
    })?;
    let mut cut = false;
    let mut size = text.len();
    if let Value::Array(items) = &mut value
        && items.len() > policy.list_items
    {
        items.truncate(policy.list_items);
        cut = true;
        size = serde_json::to_string(&value)
            .map(|s| s.len())
            .unwrap_or(size);
    }
    if size > policy.payload_bytes {
        return Err(ErrorInfo::new(
            error_type::PAYLOAD_TOO_LARGE,
            format!(
                "the handler returned {size} bytes of JSON; the payload limit is {} bytes",
                policy.payload_bytes
            ),
        ));
    }
    Ok((value, cut))
}

fn human_duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}
