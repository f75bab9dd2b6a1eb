//! The JSON that crosses the `run` export of the guest's WIT world
//! (`guest-images/wit/sandrun.wit`); the one place the host writes requests
//! and reads responses. The Python side is `guest-images/python/shim`.
//!
//! Request:
//! ```json
//! {"mode": "handler" | "command" | "exec",
//!  "script_dir": "/script",            // where the script's folder is mounted
//!  "entry": "main.py" | null,          // handler mode, single file: its functions are `func` handlers
//!  "handler": "main.handler" | null,
//!  "event": <any JSON>,                // handler mode
//!  "context": {"invocation_id": "...", "automation:EXECUTION_ID": "...",
//!              "handler": "...", "remaining_time_ms": 600000},
//!  "argv": ["main.py", "arg1"],        // sys.argv
//!  "cwd": "/script",
//!  "env": {"KEY": "VALUE"},
//!  "code": "x + 1" | null}               // exec mode (sessions): runs in the
//!                                        // session's globals; the last expression's
//!                                        // value is the payload {"value", "repr"}
//! ```
//! Response:
//! ```json
//! {"payload": "<the handler's result as JSON text>" | null,
//!  "error": null | {"type": "...", "message": "...", "traceback": "..."},
//!  "exit_code": <int> | null}
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The guest path of the script's folder.
pub(crate) const SCRIPT_DIR: &str = "/script";
/// The guest path of the scratch folder.
pub(crate) const SCRATCH_DIR: &str = "/tmp";

#[derive(Serialize)]
pub(crate) struct GuestRequest<'a> {
    pub mode: &'static str,
    pub script_dir: &'static str,
    pub entry: Option<&'a str>,
    pub handler: Option<&'a str>,
    pub event: &'a Value,
    pub context: Value,
    pub argv: &'a [String],
    pub cwd: &'static str,
    pub env: &'a BTreeMap<String, String>,
    pub code: Option<&'a str>,
    /// The host tools' names, descriptions and argument schemas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<&'a Value>,
}

#[derive(Deserialize)]
pub(crate) struct GuestResponse {
    pub payload: Option<String>,
    pub error: Option<crate::ErrorInfo>,
    pub exit_code: Option<i32>,
}
