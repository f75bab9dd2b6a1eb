//! The result of one invocation. It always comes back, also when the script
//! fails or a limit stops it: whatever output the guest wrote is kept.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The handler returned, or the command exited with status 0.
    Success,
    /// The script raised, exited non-zero, or a limit other than the
    /// deadline stopped it (fuel, memory, payload size).
    Failed,
    /// The wall-clock deadline passed.
    TimedOut,
    /// The caller cancelled the invocation.
    Cancelled,
}

/// Error kinds that the sandbox itself reports (the script's own errors use
/// their exception class name, such as `ZeroDivisionError`).
pub mod error_type {
    /// The deadline passed.
    pub const TIMEOUT: &str = "Timeout";
    /// The fuel budget was spent.
    pub const FUEL_EXHAUSTED: &str = "FuelExhausted";
    /// The guest asked for more memory than its limit.
    pub const MEMORY_LIMIT_EXCEEDED: &str = "MemoryLimitExceeded";
    /// The handler's payload is larger than allowed.
    pub const PAYLOAD_TOO_LARGE: &str = "PayloadTooLarge";
    /// The handler is missing or not callable.
    pub const HANDLER_NOT_FOUND: &str = "HandlerNotFound";
    /// The handler returned something JSON cannot hold.
    pub const PAYLOAD_NOT_SERIALIZABLE: &str = "PayloadNotSerializable";
    /// The caller cancelled the invocation.
    pub const CANCELLED: &str = "Cancelled";
    /// Every sandbox slot of the runtime was in use
    /// (`RuntimeBuilder::max_instances`); nothing ran.
    pub const CAPACITY_EXCEEDED: &str = "CapacityExceeded";
    /// The guest trapped for a reason other than a limit (a bug in the
    /// interpreter or the image).
    pub const GUEST_TRAP: &str = "GuestTrap";
}

/// What went wrong, in the words a script author needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The exception class (`KeyError`) or a sandbox kind from [`error_type`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The message.
    pub message: String,
    /// The Python traceback, without the shim's own frames; empty for
    /// sandbox limits.
    #[serde(default)]
    pub traceback: String,
}

impl ErrorInfo {
    pub(crate) fn new(kind: &str, message: impl Into<String>) -> Self {
        ErrorInfo {
            kind: kind.to_string(),
            message: message.into(),
            traceback: String::new(),
        }
    }
}

/// Which outputs were cut at their caps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncated {
    /// stdout passed `Policy::stdout_bytes`.
    pub stdout: bool,
    /// stderr passed `Policy::stderr_bytes`.
    pub stderr: bool,
    /// The handler returned a list longer than `Policy::list_items`.
    pub payload: bool,
}

/// What the invocation cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// From the start of instantiation to the end of the call.
    pub duration_ms: f64,
    /// Fuel spent, when fuel was metered.
    pub fuel_consumed: Option<u64>,
    /// The most linear memory the guest held at once.
    pub memory_peak_bytes: u64,
}

/// The whole outcome of an invocation, shaped as `sandrun run --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// How it ended.
    pub status: Status,
    /// The handler's return value (handler mode, on success).
    pub payload: Option<Value>,
    /// Why it failed.
    pub error: Option<ErrorInfo>,
    /// The command's exit status (command mode), or the `SystemExit` code.
    pub exit_code: Option<i32>,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error.
    pub stderr: String,
    /// Which outputs were cut.
    pub truncated: Truncated,
    /// Costs.
    pub stats: Stats,
    /// The digest of the guest image that ran.
    pub image: String,
    /// The invocation id.
    pub invocation_id: String,
    /// The host tools the guest called, with the host-side detail of any
    /// failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<crate::ToolCall>,
}

impl RunResult {
    /// True when the status is [`Status::Success`].
    pub fn is_success(&self) -> bool {
        self.status == Status::Success
    }

    /// The error's kind, if any.
    pub fn error_type(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.kind.as_str())
    }
}
