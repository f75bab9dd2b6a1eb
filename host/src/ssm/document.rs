//! Automation documents (`schemaVersion: '0.3'`), in YAML or JSON, read
//! into typed steps and checked as a whole before anything runs: step
//! names, jumps, actions, selectors and every `{{ reference }}`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::branch::Choice;
use super::interpolate::{Reference, references, strings};
use super::parameters::ParameterSpec;
use super::selector::Selector;
use super::types::ValueType;

/// The longest an `aws:executeScript` step may run, as AWS caps it.
pub const MAX_SCRIPT_SECONDS: u64 = 600;

/// The actions that run locally.
pub const EXECUTE_SCRIPT: &str = "aws:executeScript";
pub const SLEEP: &str = "aws:sleep";
pub const BRANCH: &str = "aws:branch";

/// The `global:` variables a document may use.
pub const GLOBALS: &[&str] = &[
    "ACCOUNT_ID",
    "REGION",
    "DATE",
    "DATE_TIME",
    "AWS_PARTITION",
    "AWS_URL_SUFFIX",
];

/// A checked Automation document.
#[derive(Debug)]
pub struct Document {
    /// The file name without its extension (the document's name).
    pub name: String,
    /// The folder the document is in; attachments are looked up there.
    pub dir: PathBuf,
    pub description: Option<String>,
    pub parameters: Vec<(String, ParameterSpec)>,
    pub steps: Vec<Step>,
    /// `step.Output` names that the execution reports as its outputs.
    pub outputs: Vec<String>,
    /// Attachments by name.
    pub files: BTreeMap<String, FileSpec>,
}

/// An entry of `files`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSpec {
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
}

/// What a step does when it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailure {
    Abort,
    Continue,
    Step(String),
}

/// A declared step output.
#[derive(Debug, Clone)]
pub struct StepOutput {
    pub name: String,
    pub selector: Selector,
    pub kind: ValueType,
}

/// One step of `mainSteps`.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub action: String,
    /// The inputs as written; references are resolved when the step runs.
    pub inputs: Map<String, Value>,
    pub timeout_seconds: Option<u64>,
    pub max_attempts: u32,
    pub on_failure: OnFailure,
    pub is_critical: bool,
    pub is_end: bool,
    pub next_step: Option<String>,
    pub outputs: Vec<StepOutput>,
    /// For `aws:branch`: its choices and default.
    pub choices: Vec<Choice>,
    pub default_step: Option<String>,
}

impl Step {
    /// Outputs every step of this action has without declaring them.
    pub fn builtin_outputs(&self) -> &'static [&'static str] {
        match self.action.as_str() {
            EXECUTE_SCRIPT => &["Payload"],
            _ => &[],
        }
    }

    /// Whether the step declares (or has) output `name`.
    pub fn has_output(&self, name: &str) -> bool {
        self.outputs.iter().any(|o| o.name == name) || self.builtin_outputs().contains(&name)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawStep {
    name: String,
    action: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    inputs: Map<String, Value>,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    on_failure: Option<String>,
    #[serde(default)]
    on_cancel: Option<String>,
    #[serde(default)]
    is_critical: Option<bool>,
    #[serde(default)]
    is_end: Option<bool>,
    #[serde(default)]
    next_step: Option<String>,
    #[serde(default)]
    outputs: Vec<RawOutput>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Selector")]
    selector: String,
    #[serde(rename = "Type")]
    kind: ValueType,
}

/// Reads a document file (YAML or JSON, by content).
pub fn load(path: &Path) -> Result<Document, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the document {}: {e}", path.display()))?;
    let value: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(&text)
            .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?
    } else {
        serde_yaml::from_str(&text)
            .map_err(|e| format!("{} is not valid YAML: {e}", path.display()))?
    };
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "document".into());
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    parse(name, dir, value).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a document from its JSON form.
pub fn parse(name: String, dir: PathBuf, value: Value) -> Result<Document, String> {
    let Value::Object(mut top) = value else {
        return Err("a document is a mapping with schemaVersion, parameters and mainSteps".into());
    };
    let schema = top.remove("schemaVersion").map(|v| match v {
        Value::String(s) => s,
        other => other.to_string(),
    });
    match schema.as_deref() {
        Some("0.3") => {}
        Some(version @ ("2.2" | "2.0" | "1.2")) => {
            return Err(format!(
                "schemaVersion {version} is a Command document; run it with `sandrun command run`"
            ));
        }
        Some(other) => {
            return Err(format!(
                "schemaVersion {other:?} is not an Automation runbook; sandrun runs schemaVersion '0.3'"
            ));
        }
        None => {
            return Err(
                "schemaVersion is missing; Automation runbooks declare schemaVersion: '0.3'".into(),
            );
        }
    }
    let description = top
        .remove("description")
        .and_then(|v| v.as_str().map(str::to_string));
    top.remove("assumeRole");
    let mut parameters = Vec::new();
    if let Some(raw) = top.remove("parameters") {
        let Value::Object(raw) = raw else {
            return Err("parameters must be a mapping of name to declaration".into());
        };
        for (name, spec) in raw {
            let spec: ParameterSpec =
                serde_json::from_value(spec).map_err(|e| format!("parameter {name}: {e}"))?;
            if let Some(default) = &spec.default {
                spec.check(&name, default)
                    .map_err(|e| format!("the default of {e}"))?;
            }
            parameters.push((name, spec));
        }
    }
    let raw_steps = match top.remove("mainSteps") {
        Some(Value::Array(steps)) if !steps.is_empty() => steps,
        _ => return Err("mainSteps is missing or empty; a runbook needs at least one step".into()),
    };
    let outputs: Vec<String> = match top.remove("outputs") {
        None => Vec::new(),
        Some(value) => serde_json::from_value(value)
            .map_err(|_| "outputs must be a list of \"step.Output\" names".to_string())?,
    };
    let files: BTreeMap<String, FileSpec> = match top.remove("files") {
        None => BTreeMap::new(),
        Some(value) => serde_json::from_value(value).map_err(|e| {
            format!("files: {e}; give each attachment's name with checksums: {{sha256: HEX}}")
        })?,
    };
    if let Some(unknown) = top.keys().next() {
        return Err(format!(
            "unknown top-level field {unknown:?}; a runbook has schemaVersion, description, assumeRole, parameters, mainSteps, outputs and files"
        ));
    }

    let mut steps = Vec::with_capacity(raw_steps.len());
    for (index, raw) in raw_steps.into_iter().enumerate() {
        let label = raw
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| format!("step {}", index + 1), |n| format!("step {n}"));
        steps.push(parse_step(raw).map_err(|e| format!("{label}: {e}"))?);
    }
    let document = Document {
        name,
        dir,
        description,
        parameters,
        steps,
        outputs,
        files,
    };
    check(&document)?;
    Ok(document)
}

fn parse_step(raw: Value) -> Result<Step, String> {
    let raw: RawStep = serde_json::from_value(raw).map_err(|e| e.to_string())?;
    let _ = (raw.description, raw.on_cancel);
    if raw.name.is_empty()
        || !raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err("a step name uses only letters, digits, _ and -".into());
    }
    let on_failure = match raw.on_failure.as_deref().map(str::trim) {
        None | Some("Abort") => OnFailure::Abort,
        Some("Continue") => OnFailure::Continue,
        Some(other) => match other.strip_prefix("step:") {
            Some(target) if !target.trim().is_empty() => OnFailure::Step(target.trim().to_string()),
            _ => {
                return Err(format!(
                    "onFailure {other:?}: give Abort, Continue or step:STEP_NAME"
                ));
            }
        },
    };
    // AWS: a step that continues on failure is not critical unless it says so.
    let is_critical = raw.is_critical.unwrap_or(on_failure != OnFailure::Continue);
    let max_attempts = raw.max_attempts.unwrap_or(1);
    if max_attempts == 0 {
        return Err("maxAttempts must be at least 1".into());
    }
    if raw.timeout_seconds == Some(0) {
        return Err("timeoutSeconds must be at least 1".into());
    }
    let outputs = raw
        .outputs
        .into_iter()
        .map(|o| {
            let selector =
                Selector::parse(&o.selector).map_err(|e| format!("output {}: {e}", o.name))?;
            Ok(StepOutput {
                name: o.name,
                selector,
                kind: o.kind,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let (choices, default_step) = if raw.action == BRANCH {
        super::branch::parse_inputs(&raw.inputs)?
    } else {
        (Vec::new(), None)
    };
    Ok(Step {
        name: raw.name,
        action: raw.action,
        inputs: raw.inputs,
        timeout_seconds: raw.timeout_seconds,
        max_attempts,
        on_failure,
        is_critical,
        is_end: raw.is_end.unwrap_or(false),
        next_step: raw.next_step,
        outputs,
        choices,
        default_step,
    })
}

/// Checks what spans steps: unique names, jump targets, and references.
fn check(document: &Document) -> Result<(), String> {
    let mut names = BTreeSet::new();
    for step in &document.steps {
        if !names.insert(step.name.as_str()) {
            return Err(format!(
                "two steps are named {}; step names must be unique",
                step.name
            ));
        }
    }
    let known = names.iter().copied().collect::<Vec<_>>().join(", ");
    let target = |step: &Step, what: &str, name: &str| -> Result<(), String> {
        if names.contains(name) {
            Ok(())
        } else {
            Err(format!(
                "step {}: {what} names step {name:?}, which does not exist (steps: {known})",
                step.name
            ))
        }
    };
    for step in &document.steps {
        if let Some(next) = &step.next_step {
            target(step, "nextStep", next)?;
        }
        if let OnFailure::Step(next) = &step.on_failure {
            target(step, "onFailure", next)?;
        }
        for choice in &step.choices {
            target(step, "a choice's NextStep", &choice.next_step)?;
        }
        if let Some(default) = &step.default_step {
            target(step, "Default", default)?;
        }
        if step.action == EXECUTE_SCRIPT {
            check_execute_script(document, step)?;
        }
        for text in strings(&Value::Object(step.inputs.clone())) {
            for inner in references(text) {
                check_reference(document, inner).map_err(|e| format!("step {}: {e}", step.name))?;
            }
        }
    }
    for output in &document.outputs {
        match Reference::parse(output) {
            Reference::StepOutput { step, output: name } => {
                let found = document.steps.iter().find(|s| s.name == step);
                if !found.is_some_and(|s| s.has_output(name)) {
                    return Err(format!(
                        "outputs: {output:?} is not an output of a step; declare {name} in the outputs of step {step}"
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "outputs: {output:?} must name a step output as step.Output"
                ));
            }
        }
    }
    Ok(())
}

fn check_execute_script(document: &Document, step: &Step) -> Result<(), String> {
    let fail = |why: String| Err(format!("step {} ({EXECUTE_SCRIPT}): {why}", step.name));
    for key in step.inputs.keys() {
        if !["Runtime", "Handler", "InputPayload", "Script", "Attachment"].contains(&key.as_str()) {
            return fail(format!(
                "unknown input {key:?}; it takes Runtime, Handler, InputPayload, Script and Attachment"
            ));
        }
    }
    for required in ["Runtime", "Handler"] {
        if !step.inputs.contains_key(required) {
            return fail(format!("the input {required} is required"));
        }
    }
    match (step.inputs.get("Script"), step.inputs.get("Attachment")) {
        (Some(_), Some(_)) => return fail("give Script or Attachment, not both".into()),
        (None, None) => {
            return fail("give the script inline as Script, or name an Attachment".into());
        }
        (None, Some(Value::String(name)))
            if references(name).is_empty() && !document.files.contains_key(name) =>
        {
            return fail(format!(
                "the Attachment {name:?} is not in the document's files; add it under files: with its checksums"
            ));
        }
        _ => {}
    }
    if let Some(seconds) = step.timeout_seconds
        && seconds > MAX_SCRIPT_SECONDS
    {
        return fail(format!(
            "timeoutSeconds {seconds} is more than the {MAX_SCRIPT_SECONDS} seconds an executeScript step may run"
        ));
    }
    if let Some(Value::String(runtime)) = step.inputs.get("Runtime")
        && references(runtime).is_empty()
        && let Err(e) = crate::language::Language::from_name(runtime)
    {
        return fail(e.to_string());
    }
    Ok(())
}

fn check_reference(document: &Document, inner: &str) -> Result<(), String> {
    match Reference::parse(inner) {
        Reference::Parameter(name) => {
            if document.parameters.iter().any(|(p, _)| p == name) {
                Ok(())
            } else {
                let declared: Vec<&str> = document
                    .parameters
                    .iter()
                    .map(|(p, _)| p.as_str())
                    .collect();
                Err(format!(
                    "{{{{ {name} }}}} is not a declared parameter (parameters: {})",
                    if declared.is_empty() {
                        "none".into()
                    } else {
                        declared.join(", ")
                    }
                ))
            }
        }
        Reference::StepOutput { step, output } => {
            let Some(found) = document.steps.iter().find(|s| s.name == step) else {
                return Err(format!(
                    "{{{{ {step}.{output} }}}} names step {step:?}, which does not exist"
                ));
            };
            if found.has_output(output) {
                Ok(())
            } else {
                Err(format!(
                    "{{{{ {step}.{output} }}}}: step {step} has no output {output:?}; declare it in that step's outputs"
                ))
            }
        }
        Reference::Global(name) => {
            if GLOBALS.contains(&name) {
                Ok(())
            } else {
                Err(format!(
                    "{{{{ global:{name} }}}} is not a global variable (known: {})",
                    GLOBALS.join(", ")
                ))
            }
        }
        Reference::Automation(name) => {
            if name == "EXECUTION_ID" {
                Ok(())
            } else {
                Err(format!(
                    "{{{{ automation:{name} }}}} is not known; the automation variable is EXECUTION_ID"
                ))
            }
        }
        Reference::Secret(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(value: Value) -> Result<Document, String> {
        parse("doc".into(), PathBuf::from("."), value)
    }

    fn doc_with_steps(steps: Value) -> Value {
        json!({"schemaVersion": "0.3", "parameters": {"Name": {"type": "String", "default": "x"}}, "mainSteps": steps})
    }

    #[test]
    fn a_runbook_with_jumps_and_references_parses() {
        let document = parse_json(doc_with_steps(json!([
            {"name": "first", "action": "aws:executeScript", "onFailure": "step:recover",
             "inputs": {"Runtime": "python3.11", "Handler": "h", "Script": "def h(e, c): return 1",
                        "InputPayload": {"n": "{{ Name }}", "id": "{{automation:EXECUTION_ID}}"}},
             "outputs": [{"Name": "n", "Selector": "$.Payload", "Type": "Integer"}]},
            {"name": "recover", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}, "isEnd": true},
        ])))
        .unwrap();
        assert_eq!(document.steps.len(), 2);
        assert_eq!(
            document.steps[0].on_failure,
            OnFailure::Step("recover".into())
        );
        assert!(document.steps[0].is_critical);
    }

    #[test]
    fn mistakes_are_found_before_running() {
        let script =
            |inputs: Value| json!([{"name": "s", "action": "aws:executeScript", "inputs": inputs}]);
        let cases = [
            (
                doc_with_steps(script(
                    json!({"Runtime": "python3.8", "Handler": "h", "Script": "x = '{{ Nope }}'"}),
                )),
                "Nope",
            ),
            (
                doc_with_steps(script(
                    json!({"Runtime": "python3.8", "Handler": "h", "Script": "{{ other.Out }}"}),
                )),
                "does not exist",
            ),
            (
                doc_with_steps(script(
                    json!({"Runtime": "python3.8", "Handler": "h", "Script": "{{ s.Out }}"}),
                )),
                "no output \"Out\"",
            ),
            (
                doc_with_steps(script(
                    json!({"Runtime": "python3.8", "Handler": "h", "Attachment": "a.zip"}),
                )),
                "not in the document's files",
            ),
            (
                doc_with_steps(script(
                    json!({"Runtime": "ruby3.3", "Handler": "h", "Script": ""}),
                )),
                "unsupported runtime",
            ),
            (
                doc_with_steps(script(json!({"Runtime": "python3.8", "Script": ""}))),
                "Handler is required",
            ),
            (
                doc_with_steps(json!([{"name": "s", "action": "aws:sleep", "nextStep": "gone"}])),
                "does not exist",
            ),
            (
                doc_with_steps(json!([{"name": "s", "action": "aws:sleep", "inptus": {}}])),
                "unknown field",
            ),
            (
                doc_with_steps(
                    json!([{"name": "s", "action": "aws:sleep", "outputs": [{"Name": "o", "Selector": "Payload", "Type": "String"}]}]),
                ),
                "not valid JSONPath",
            ),
            (
                doc_with_steps(
                    json!([{"name": "s", "action": "aws:sleep"}, {"name": "s", "action": "aws:sleep"}]),
                ),
                "unique",
            ),
            (
                json!({"schemaVersion": "2.2", "mainSteps": []}),
                "sandrun command run",
            ),
        ];
        for (document, expected) in cases {
            let error = parse_json(document).unwrap_err();
            assert!(error.contains(expected), "expected {expected:?} in {error}");
        }
    }
}
