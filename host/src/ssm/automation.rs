//! Runs a checked Automation document: steps in order, with retries,
//! failure paths, branches and jumps, and an execution record of all of it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use sandrun_runtime::{CancelHandle, ClockAccess, GuestImage, Invocation, Policy, Runtime, Status};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::clock;
use super::document::{
    BRANCH, Document, EXECUTE_SCRIPT, MAX_SCRIPT_SECONDS, OnFailure, SLEEP, Step,
};
use super::interpolate::{Reference, Resolved, interpolate};
use super::mock::{MockStatus, MockStep};
use super::types::show;
use crate::cli::{FetchArgs, SourceArgs};
use crate::progress::Progress;
use crate::remote::secrets::{self, SecretProvider};
use crate::source::ScriptSource;

/// A run stops after this many step executions: a `nextStep` cycle.
const MAX_STEP_EXECUTIONS: usize = 1000;

/// How a step or an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ExecutionStatus {
    Success,
    Failed,
    TimedOut,
    Cancelled,
}

/// One step's part of the record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepRecord {
    pub step_name: String,
    pub action: String,
    pub step_status: ExecutionStatus,
    pub execution_start_time: String,
    pub execution_end_time: String,
    pub duration_ms: u64,
    pub attempts: u32,
    pub is_critical: bool,
    /// The inputs after interpolation, secrets shown as `****`.
    pub inputs: Value,
    pub outputs: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mocked: bool,
}

/// The whole execution, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecutionRecord {
    pub automation_execution_id: String,
    pub document_name: String,
    pub status: ExecutionStatus,
    pub execution_start_time: String,
    pub execution_end_time: String,
    pub parameters: Value,
    pub outputs: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    pub step_executions: Vec<StepRecord>,
}

/// What a run reports as it goes.
pub enum StepEvent<'r> {
    /// A step is about to run.
    Started(&'r Step),
    /// A step ended.
    Finished(&'r StepRecord),
}

/// Everything a run depends on besides the document.
pub struct Options {
    pub execution_id: String,
    pub account_id: String,
    pub region: String,
    pub no_sleep: bool,
    pub allow_clock: bool,
    pub mocks: BTreeMap<String, MockStep>,
    /// Attachment name → any source `sandrun run` accepts.
    pub attachments: BTreeMap<String, String>,
    pub fetch: FetchArgs,
    pub cache_dir: PathBuf,
    pub secrets: SecretProvider,
    /// Set from another thread (Ctrl-C) to cancel the run.
    pub cancelled: Arc<AtomicBool>,
    /// The running script's cancel handle, for the same purpose.
    pub current: Arc<Mutex<Option<CancelHandle>>>,
}

/// Opens the Python image the first time a script step needs it.
pub type ImageOpener<'a> = dyn Fn() -> anyhow::Result<(Runtime, GuestImage)> + 'a;

/// What one attempt of an action gave.
struct Outcome {
    status: ExecutionStatus,
    response: Option<Value>,
    /// Outputs given directly (by a mock), not selected.
    outputs: Option<Map<String, Value>>,
    failure: Option<String>,
    traceback: Option<String>,
    next_step: Option<String>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn success(response: Option<Value>) -> Outcome {
        Outcome {
            status: ExecutionStatus::Success,
            response,
            outputs: None,
            failure: None,
            traceback: None,
            next_step: None,
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    fn failed(message: impl Into<String>) -> Outcome {
        Outcome {
            status: ExecutionStatus::Failed,
            failure: Some(message.into()),
            ..Outcome::success(None)
        }
    }
}

/// Runs documents.
pub struct Executor<'a> {
    document: &'a Document,
    parameters: Map<String, Value>,
    options: Options,
    open_image: &'a ImageOpener<'a>,
    image: OnceLock<(Runtime, GuestImage)>,
    started: SystemTime,
}

impl<'a> Executor<'a> {
    pub fn new(
        document: &'a Document,
        parameters: Map<String, Value>,
        options: Options,
        open_image: &'a ImageOpener<'a>,
    ) -> Executor<'a> {
        Executor {
            document,
            parameters,
            options,
            open_image,
            image: OnceLock::new(),
            started: SystemTime::now(),
        }
    }

    /// Runs the document; `on_step` hears when each step starts and sees
    /// its record when it ends.
    pub fn run(&self, on_step: &mut dyn FnMut(StepEvent<'_>)) -> ExecutionRecord {
        let started = SystemTime::now();
        let mut outputs: Map<String, Value> = Map::new();
        let mut steps = Vec::new();
        let mut status = ExecutionStatus::Success;
        let mut failure = None;
        let mut index = Some(0usize);
        while let Some(at) = index {
            if steps.len() >= MAX_STEP_EXECUTIONS {
                status = ExecutionStatus::Failed;
                failure = Some(format!(
                    "the execution ran {MAX_STEP_EXECUTIONS} steps; check the nextStep and onFailure jumps for a cycle"
                ));
                break;
            }
            if self.options.cancelled.load(Ordering::SeqCst) {
                status = ExecutionStatus::Cancelled;
                failure = Some("the execution was cancelled".into());
                break;
            }
            let step = &self.document.steps[at];
            on_step(StepEvent::Started(step));
            let record = self.run_step(step, &mut outputs);
            on_step(StepEvent::Finished(&record));
            let step_status = record.step_status;
            let chosen = record.next_step.clone();
            let message = record.failure_message.clone();
            steps.push(record);
            let position = |name: &str| self.document.steps.iter().position(|s| s.name == name);
            let following = (at + 1 < self.document.steps.len()).then_some(at + 1);
            if step_status == ExecutionStatus::Success {
                index = if let Some(next) = chosen {
                    position(&next)
                } else if step.is_end {
                    None
                } else if let Some(next) = &step.next_step {
                    position(next)
                } else {
                    following
                };
                continue;
            }
            if step_status == ExecutionStatus::Cancelled {
                status = ExecutionStatus::Cancelled;
                failure = Some(format!("step {} was cancelled", step.name));
                break;
            }
            let step_failure = format!(
                "step {} {}: {}",
                step.name,
                if step_status == ExecutionStatus::TimedOut {
                    "timed out"
                } else {
                    "failed"
                },
                message.unwrap_or_default()
            );
            if step.is_critical && status == ExecutionStatus::Success {
                status = ExecutionStatus::Failed;
                failure = Some(step_failure.clone());
            }
            match &step.on_failure {
                OnFailure::Abort => {
                    status = step_status;
                    failure = Some(step_failure);
                    index = None;
                }
                OnFailure::Continue => index = following,
                OnFailure::Step(next) => index = position(next),
            }
            // AWS: isEnd stops the automation whether the step failed or succeeded.
            if step.is_end {
                index = None;
            }
        }
        let mut document_outputs = Map::new();
        for name in &self.document.outputs {
            if let Some(value) = outputs.get(name) {
                document_outputs.insert(name.clone(), value.clone());
            }
        }
        ExecutionRecord {
            automation_execution_id: self.options.execution_id.clone(),
            document_name: self.document.name.clone(),
            status,
            execution_start_time: clock::rfc3339(started),
            execution_end_time: clock::rfc3339(SystemTime::now()),
            // Secret references stay references: resolved only where a step uses them.
            parameters: Value::Object(self.parameters.clone()),
            outputs: document_outputs,
            failure_message: failure,
            step_executions: steps,
        }
    }

    fn run_step(&self, step: &Step, outputs: &mut Map<String, Value>) -> StepRecord {
        let started = SystemTime::now();
        let clock_start = Instant::now();
        let mut attempts = 0;
        let (mut outcome, mut shown_inputs);
        loop {
            attempts += 1;
            (outcome, shown_inputs) = self.attempt(step, outputs);
            if outcome.status == ExecutionStatus::Success {
                outcome = self.select_outputs(step, outcome);
            }
            let retry = matches!(
                outcome.status,
                ExecutionStatus::Failed | ExecutionStatus::TimedOut
            ) && attempts < step.max_attempts
                && !self.options.cancelled.load(Ordering::SeqCst);
            if !retry {
                break;
            }
        }
        let mut step_outputs = Map::new();
        if outcome.status == ExecutionStatus::Success {
            for (name, value) in outcome.outputs.take().unwrap_or_default() {
                outputs.insert(format!("{}.{name}", step.name), value.clone());
                step_outputs.insert(name, value);
            }
        }
        StepRecord {
            step_name: step.name.clone(),
            action: step.action.clone(),
            step_status: outcome.status,
            execution_start_time: clock::rfc3339(started),
            execution_end_time: clock::rfc3339(SystemTime::now()),
            duration_ms: clock_start.elapsed().as_millis() as u64,
            attempts,
            is_critical: step.is_critical,
            inputs: shown_inputs,
            outputs: step_outputs,
            response: outcome.response,
            failure_message: outcome.failure,
            traceback: outcome.traceback,
            next_step: outcome.next_step,
            stdout: outcome.stdout,
            stderr: outcome.stderr,
            mocked: self.options.mocks.contains_key(&step.name),
        }
    }

    /// One attempt: resolve the inputs, then act (or take the mock).
    fn attempt(&self, step: &Step, outputs: &Map<String, Value>) -> (Outcome, Value) {
        let raw = Value::Object(step.inputs.clone());
        let (inputs, shown) = match interpolate(&raw, &mut |r| self.resolve(r, outputs)) {
            Ok(pair) => pair,
            Err(e) => return (Outcome::failed(e), raw),
        };
        let inputs = match inputs {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        if let Some(mock) = self.options.mocks.get(&step.name) {
            return (mocked(mock), shown);
        }
        let outcome = match step.action.as_str() {
            EXECUTE_SCRIPT => self.execute_script(step, &inputs),
            SLEEP => self.sleep(step, &inputs),
            BRANCH => self.branch(step, outputs),
            other => Outcome::failed(format!(
                "{other} is not supported locally; give this step's result with --mock FILE"
            )),
        };
        (outcome, shown)
    }

    /// Resolves one reference at run time.
    fn resolve(
        &self,
        reference: Reference<'_>,
        outputs: &Map<String, Value>,
    ) -> Result<Resolved, String> {
        match reference {
            Reference::Parameter(name) => {
                let value = self
                    .parameters
                    .get(name)
                    .ok_or_else(|| format!("{{{{ {name} }}}} is not a parameter"))?;
                // A parameter given as {{ssm-secure:NAME}} takes the secret's value.
                match value.as_str().and_then(secrets::reference_name) {
                    Some(secret) => self.resolve(Reference::Secret(secret), outputs),
                    None => Ok(Resolved::plain(value.clone())),
                }
            }
            Reference::StepOutput { step, output } => outputs
                .get(&format!("{step}.{output}"))
                .cloned()
                .map(Resolved::plain)
                .ok_or_else(|| {
                    format!("{{{{ {step}.{output} }}}} has no value: step {step} has not run successfully in this execution")
                }),
            Reference::Global(name) => Ok(Resolved::plain(Value::String(match name {
                "ACCOUNT_ID" => self.options.account_id.clone(),
                "REGION" => self.options.region.clone(),
                "DATE" => clock::date(self.started),
                "DATE_TIME" => clock::date_time(self.started),
                "AWS_PARTITION" => "aws".into(),
                "AWS_URL_SUFFIX" => "amazonaws.com".into(),
                other => return Err(format!("{{{{ global:{other} }}}} is not a global variable")),
            }))),
            Reference::Automation("EXECUTION_ID") => {
                Ok(Resolved::plain(Value::String(self.options.execution_id.clone())))
            }
            Reference::Automation(name) => Err(format!("{{{{ automation:{name} }}}} is not known")),
            Reference::Secret(name) => {
                let secret = self
                    .options
                    .secrets
                    .lookup(name)
                    .map_err(|e| e.to_string())?;
                Ok(Resolved {
                    value: Value::String(secret.expose().to_string()),
                    shown: Value::String("****".into()),
                })
            }
        }
    }

    /// Picks the declared outputs from the response, converted to their
    /// types; a selector that matches nothing or a value of the wrong type
    /// fails the step.
    fn select_outputs(&self, step: &Step, mut outcome: Outcome) -> Outcome {
        let mut selected = Map::new();
        let given = outcome.outputs.take();
        if step.action == EXECUTE_SCRIPT
            && let Some(payload) = outcome.response.as_ref().and_then(|r| r.get("Payload"))
        {
            selected.insert("Payload".into(), payload.clone());
        }
        for declared in &step.outputs {
            let raw = match (&given, &outcome.response) {
                (Some(given), _) if given.contains_key(&declared.name) => {
                    given.get(&declared.name).cloned()
                }
                (_, Some(response)) => declared.selector.select(response),
                _ => None,
            };
            let Some(raw) = raw else {
                let shown = outcome.response.as_ref().map_or("no result".into(), show);
                outcome.status = ExecutionStatus::Failed;
                outcome.failure = Some(format!(
                    "output {}: the selector {} matched nothing in the step's result {shown}",
                    declared.name,
                    declared.selector.as_str()
                ));
                return outcome;
            };
            match declared.kind.convert(&raw) {
                Ok(value) => {
                    selected.insert(declared.name.clone(), value);
                }
                Err(e) => {
                    outcome.status = ExecutionStatus::Failed;
                    outcome.failure = Some(format!(
                        "output {} (selector {}, Type {}): {e}",
                        declared.name,
                        declared.selector.as_str(),
                        declared.kind
                    ));
                    return outcome;
                }
            }
        }
        if let Some(given) = given {
            for (name, value) in given {
                selected.entry(name).or_insert(value);
            }
        }
        outcome.outputs = Some(selected);
        outcome
    }

    fn image(&self) -> anyhow::Result<&GuestImage> {
        if let Some((_, image)) = self.image.get() {
            return Ok(image);
        }
        let opened = (self.open_image)()?;
        Ok(&self.image.get_or_init(|| opened).1)
    }

    fn execute_script(&self, step: &Step, inputs: &Map<String, Value>) -> Outcome {
        match self.try_execute_script(step, inputs) {
            Ok(outcome) => outcome,
            Err(e) => Outcome::failed(
                e.chain()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": "),
            ),
        }
    }

    fn try_execute_script(
        &self,
        step: &Step,
        inputs: &Map<String, Value>,
    ) -> anyhow::Result<Outcome> {
        let text = |key: &str| inputs.get(key).and_then(Value::as_str).map(str::to_string);
        let runtime = text("Runtime").unwrap_or_default();
        crate::language::Language::from_name(&runtime)?;
        let handler = text("Handler")
            .filter(|h| !h.trim().is_empty())
            .ok_or_else(|| anyhow::anyhow!("Handler must name the function to call"))?;
        let event = match inputs.get("InputPayload") {
            None | Some(Value::Null) => json!({}),
            // JSON or YAML text; never `@FILE`: a runbook must not read host files.
            Some(Value::String(s)) => serde_json::from_str(s)
                .or_else(|_| serde_yaml::from_str::<Value>(s))
                .map_err(|e| anyhow::anyhow!("InputPayload is neither JSON nor YAML: {e}"))?,
            Some(other) => other.clone(),
        };
        let (source, handler) = match (inputs.get("Script"), text("Attachment")) {
            (Some(Value::String(script)), _) => (ScriptSource::from_text(script)?, handler),
            (_, Some(name)) => (self.attachment(&name)?, handler),
            _ => anyhow::bail!("give the script as Script text or name an Attachment"),
        };
        let mut invocation = Invocation::handler(&source.dir, handler)
            .event(event)
            .id(self.options.execution_id.clone());
        if let Some(file) = &source.entry {
            invocation = invocation.entry_file(file.clone());
        }
        let mut policy = Policy {
            timeout_ms: step
                .timeout_seconds
                .unwrap_or(MAX_SCRIPT_SECONDS)
                .min(MAX_SCRIPT_SECONDS)
                * 1000,
            ..Policy::default()
        };
        if self.options.allow_clock {
            policy.clock = ClockAccess::Host;
        }
        let image = self.image()?;
        let cancel = CancelHandle::new();
        *self
            .options
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(cancel.clone());
        if self.options.cancelled.load(Ordering::SeqCst) {
            cancel.cancel();
        }
        let result = image.run_cancellable(&invocation, &policy, &cancel);
        *self
            .options
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        let result = result?;
        let status = match result.status {
            Status::Success => ExecutionStatus::Success,
            Status::Failed => ExecutionStatus::Failed,
            Status::TimedOut => ExecutionStatus::TimedOut,
            Status::Cancelled => ExecutionStatus::Cancelled,
        };
        let error = result.error.as_ref();
        Ok(Outcome {
            status,
            response: (status == ExecutionStatus::Success)
                .then(|| json!({"Payload": result.payload.clone().unwrap_or(Value::Null)})),
            outputs: None,
            failure: error.map(|e| format!("{}: {}", e.kind, e.message)),
            traceback: error.map(|e| e.traceback.clone()).filter(|t| !t.is_empty()),
            next_step: None,
            stdout: result.stdout,
            stderr: result.stderr,
        })
    }

    /// An attachment: `--attachment NAME=SOURCE`, else the file beside the
    /// document; checked against the document's sha256 when it gives one.
    fn attachment(&self, name: &str) -> anyhow::Result<ScriptSource> {
        let spec = self.document.files.get(name).ok_or_else(|| {
            anyhow::anyhow!("the Attachment {name:?} is not in the document's files")
        })?;
        let location = match self.options.attachments.get(name) {
            Some(source) => source.clone(),
            None => self.document.dir.join(name).to_string_lossy().into_owned(),
        };
        let args = SourceArgs {
            source: Some(location.clone()),
            source_type: None,
            source_info: None,
            fetch: self.options.fetch.clone(),
        };
        let source = ScriptSource::resolve(&args, &self.options.cache_dir, &Progress::new(true))
            .map_err(|e| anyhow::anyhow!("attachment {name} ({location}): {e:#}"))?;
        if let Some(expected) = spec.checksums.get("sha256")
            && let Some(actual) = &source.info.digest
        {
            let actual = actual.trim_start_matches("sha256:");
            if !actual.eq_ignore_ascii_case(expected.trim()) {
                anyhow::bail!(
                    "attachment {name}: its sha256 is {actual}, but the document's files give {expected}; update the checksum or the file"
                );
            }
        }
        Ok(source)
    }

    fn sleep(&self, step: &Step, inputs: &Map<String, Value>) -> Outcome {
        let until = match (inputs.get("Duration"), inputs.get("Timestamp")) {
            (Some(Value::String(d)), None) => match clock::parse_duration(d) {
                Ok(duration) => duration,
                Err(e) => return Outcome::failed(format!("Duration: {e}")),
            },
            (None, Some(Value::String(t))) => match clock::parse_timestamp(t) {
                Ok(at) => at.duration_since(SystemTime::now()).unwrap_or_default(),
                Err(e) => return Outcome::failed(format!("Timestamp: {e}")),
            },
            _ => {
                return Outcome::failed(
                    "aws:sleep takes Duration (e.g. PT30S) or Timestamp (e.g. 2026-11-27T12:00:00Z), one of them",
                );
            }
        };
        let response =
            Some(json!({"Duration": clock::iso_duration(until), "Waited": !self.options.no_sleep}));
        if self.options.no_sleep {
            return Outcome::success(response);
        }
        let limit = step.timeout_seconds.map(Duration::from_secs);
        let wait = limit.map_or(until, |limit| until.min(limit));
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.options.cancelled.load(Ordering::SeqCst) {
                return Outcome {
                    status: ExecutionStatus::Cancelled,
                    ..Outcome::failed("cancelled while sleeping")
                };
            }
            std::thread::sleep((deadline - Instant::now()).min(Duration::from_millis(50)));
        }
        if wait < until {
            return Outcome {
                status: ExecutionStatus::TimedOut,
                ..Outcome::failed(format!(
                    "the sleep of {} is longer than the step's timeoutSeconds",
                    clock::iso_duration(until)
                ))
            };
        }
        Outcome::success(response)
    }

    fn branch(&self, step: &Step, outputs: &Map<String, Value>) -> Outcome {
        let chosen =
            super::branch::choose(&step.choices, step.default_step.as_deref(), &mut |value| {
                interpolate(value, &mut |r| self.resolve(r, outputs)).map(|(used, _)| used)
            });
        match chosen {
            Ok(next) => Outcome {
                next_step: Some(next.clone()),
                ..Outcome::success(Some(json!({"NextStep": next})))
            },
            Err(e) => Outcome::failed(e),
        }
    }
}

fn mocked(mock: &MockStep) -> Outcome {
    match mock.status {
        MockStatus::Success => Outcome {
            outputs: mock.outputs.clone(),
            ..Outcome::success(mock.response.clone())
        },
        status => Outcome {
            status: if status == MockStatus::TimedOut {
                ExecutionStatus::TimedOut
            } else {
                ExecutionStatus::Failed
            },
            ..Outcome::failed(
                mock.failure_message
                    .clone()
                    .unwrap_or_else(|| "failed (mocked)".into()),
            )
        },
    }
}
