//! Exit statuses, and the mark that tells the caller's mistakes apart from
//! sandrun's own failures.

use std::process::ExitCode;

use sandrun_runtime::{RuntimeError, Status};

/// The script ran and succeeded.
pub const SUCCESS: u8 = 0;
/// The script failed: it raised, exited non-zero, or hit a limit other
/// than the deadline (fuel, memory, payload size).
pub const SCRIPT_FAILED: u8 = 1;
/// Bad usage or input: a flag, a payload, a missing file, a corrupt archive,
/// an unknown runtime.
pub const BAD_INPUT: u8 = 2;
/// sandrun itself could not work: the image could not be built, an I/O error.
pub const INTERNAL: u8 = 3;
/// The script ran past its deadline (as `timeout(1)` reports it).
pub const TIMED_OUT: u8 = 124;
/// The invocation was cancelled.
pub const CANCELLED: u8 = 130;

/// The exit status for a finished invocation.
pub fn for_status(status: Status) -> ExitCode {
    ExitCode::from(for_status_code(status))
}

/// The exit status for a finished invocation, as a number.
pub fn for_status_code(status: Status) -> u8 {
    match status {
        Status::Success => SUCCESS,
        Status::Failed => SCRIPT_FAILED,
        Status::TimedOut => TIMED_OUT,
        Status::Cancelled => CANCELLED,
    }
}

/// An error in what the user gave sandrun; exits with [`BAD_INPUT`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Shorthand: `Err(bad_input!("..."))`.
macro_rules! bad_input {
    ($($arg:tt)*) => { anyhow::Error::new($crate::exit::BadInput(format!($($arg)*))) };
}
pub(crate) use bad_input;

/// The exit status for an error that ended a command.
pub fn for_error(error: &anyhow::Error) -> ExitCode {
    ExitCode::from(code_for_error(error))
}

/// [`for_error`] as a number: [`BAD_INPUT`] or [`INTERNAL`].
pub fn code_for_error(error: &anyhow::Error) -> u8 {
    if is_bad_input(error) {
        BAD_INPUT
    } else {
        INTERNAL
    }
}

/// The `--json` object for a run that could not start: `status` is
/// `"error"`, `error.type` is `BadInput` (exit 2) or `InternalError` (exit 3).
pub fn error_json(error: &anyhow::Error) -> serde_json::Value {
    let kind = if is_bad_input(error) {
        "BadInput"
    } else {
        "InternalError"
    };
    let message = error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    serde_json::json!({
        "status": "error",
        "payload": null,
        "error": {"type": kind, "message": message, "traceback": ""},
        "exit_code": null,
        "stdout": "",
        "stderr": "",
    })
}

fn is_bad_input(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<BadInput>()
            || matches!(
                cause.downcast_ref::<RuntimeError>(),
                Some(
                    RuntimeError::InvalidInvocation(_)
                        | RuntimeError::InvalidPolicy(_)
                        | RuntimeError::Mount { .. }
                )
            )
    })
}
