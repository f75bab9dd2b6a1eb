//! `--mock FILE`: canned results for steps whose actions cannot run
//! locally (`aws:executeAwsApi`, `aws:runCommand`, …), or for any step a
//! test wants to pin.
//!
//! ```yaml
//! describeInstance:          # the step's name
//!   Response:                # what the API would return; the step's
//!     Reservations: [...]    # declared Selectors pick its outputs from it
//! approve:
//!   Outputs: {Approved: true}  # or the outputs themselves
//! flaky:
//!   Status: Failed
//!   FailureMessage: throttled
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

/// How a mocked step ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum MockStatus {
    #[default]
    Success,
    Failed,
    TimedOut,
}

/// One step's canned result.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MockStep {
    #[serde(default)]
    pub response: Option<Value>,
    #[serde(default)]
    pub outputs: Option<Map<String, Value>>,
    #[serde(default)]
    pub status: MockStatus,
    #[serde(default)]
    pub failure_message: Option<String>,
}

/// Reads a mock file (YAML or JSON): step name → canned result.
pub fn load(path: &Path) -> Result<BTreeMap<String, MockStep>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the mock file {}: {e}", path.display()))?;
    let value: Value = serde_yaml::from_str(&text).map_err(|e| {
        format!(
            "the mock file {} is not valid YAML or JSON: {e}",
            path.display()
        )
    })?;
    let Value::Object(steps) = value else {
        return Err(format!(
            "the mock file {} must map step names to Response / Outputs / Status",
            path.display()
        ));
    };
    steps
        .into_iter()
        .map(|(name, entry)| {
            let step: MockStep = serde_json::from_value(entry).map_err(|e| {
                format!(
                    "the mock file {}: step {name}: {e}; give Response, Outputs, Status or FailureMessage",
                    path.display()
                )
            })?;
            Ok((name, step))
        })
        .collect()
}
