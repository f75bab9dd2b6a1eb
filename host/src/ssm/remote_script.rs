//! `AWS-RunRemoteScript`: download a script or folder from GitHub or S3
//! into the working directory and run its command line there, on one or
//! many targets under rate control, reporting each invocation as Run
//! Command does.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use anyhow::Context as _;
use sandrun_runtime::{Access, Call, CancelHandle, GuestImage, Invocation, Policy, Status};
use serde::Serialize;
use serde_json::{Map, Value};

use super::clock;
use super::rate::Amount;
use super::types::show;
use crate::cli::{EntryArgs, FetchArgs, SourceArgs};
use crate::exit;
use crate::plan;
use crate::progress::Progress;
use crate::remote::s3::{Bucket, S3Options};
use crate::source::{ScriptSource, SourceInfo};

/// The document this module runs.
pub const DOCUMENT_NAME: &str = "AWS-RunRemoteScript";
/// Run Command keeps this many characters of stdout in the result…
pub const STDOUT_CHARS: usize = 24_000;
/// …and this many of stderr.
pub const STDERR_CHARS: usize = 8_000;
/// `executionTimeout`'s default and ceiling, in seconds.
pub const DEFAULT_TIMEOUT: u64 = 3600;
pub const MAX_TIMEOUT: u64 = 172_800;
/// The plugin folder Run Command writes output under.
const PLUGIN_PATH: &str = "awsrunShellScript/runShellScript";

/// The document's parameters, after checking.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameters {
    pub source_type: String,
    pub source_info: String,
    pub command_line: String,
    pub working_directory: String,
    pub execution_timeout: u64,
}

const KNOWN: &[&str] = &[
    "sourceType",
    "sourceInfo",
    "commandLine",
    "workingDirectory",
    "executionTimeout",
];

/// Reads `--parameters` as `aws ssm send-command` takes it: every value a
/// list of strings (a plain string is accepted too).
pub fn parameters(given: &Map<String, Value>) -> Result<Parameters, String> {
    for key in given.keys() {
        if !KNOWN.contains(&key.as_str()) {
            return Err(format!(
                "{DOCUMENT_NAME} has no parameter {key:?}; its parameters are {}",
                KNOWN.join(", ")
            ));
        }
    }
    let text = |key: &str| -> Result<Option<String>, String> {
        match given.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )),
            Some(other) => Err(format!(
                "parameter {key}: give a list of strings such as [\"value\"], not {}",
                show(other)
            )),
        }
    };
    let required = |key: &str| -> Result<String, String> {
        text(key)?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| format!("parameter {key} is required by {DOCUMENT_NAME}"))
    };
    let source_type = required("sourceType")?;
    if source_type != "GitHub" && source_type != "S3" {
        return Err(format!(
            "parameter sourceType {source_type:?}: {DOCUMENT_NAME} takes GitHub or S3"
        ));
    }
    let execution_timeout = match text("executionTimeout")? {
        None => DEFAULT_TIMEOUT,
        Some(s) if s.trim().is_empty() => DEFAULT_TIMEOUT,
        Some(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_TIMEOUT).contains(n))
            .ok_or_else(|| {
                format!("parameter executionTimeout {s:?}: give seconds from 1 to {MAX_TIMEOUT}")
            })?,
    };
    Ok(Parameters {
        source_type,
        source_info: required("sourceInfo")?,
        command_line: required("commandLine")?,
        working_directory: text("workingDirectory")?.unwrap_or_default(),
        execution_timeout,
    })
}

/// One target: its id and its parameters.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: String,
    pub parameters: Parameters,
}

/// Reads a targets file: one target per line, either a working directory
/// or a JSON object of parameters that override `--parameters`. Blank
/// lines and `#` comments are skipped.
pub fn targets(text: &str, base: &Map<String, Value>) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut merged = base.clone();
        if line.starts_with('{') {
            let Value::Object(overrides) = serde_json::from_str(line)
                .map_err(|e| format!("targets line {}: not a JSON object: {e}", number + 1))?
            else {
                return Err(format!("targets line {}: not a JSON object", number + 1));
            };
            merged.extend(overrides);
        } else {
            merged.insert("workingDirectory".into(), Value::String(line.to_string()));
        }
        let parameters =
            parameters(&merged).map_err(|e| format!("targets line {}: {e}", number + 1))?;
        targets.push(Target {
            id: format!("target-{}", targets.len() + 1),
            parameters,
        });
    }
    if targets.is_empty() {
        return Err(
            "the targets file names no targets; give one working directory or JSON object per line"
                .into(),
        );
    }
    Ok(targets)
}

/// One invocation's result, named as `GetCommandInvocation` names it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationRecord {
    pub target: String,
    pub parameters: Parameters,
    pub status: String,
    pub status_details: String,
    /// The command's exit status; -1 when it has none (timed out,
    /// cancelled, never started).
    pub response_code: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_start_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_end_date_time: Option<String>,
    pub execution_elapsed_time: String,
    pub standard_output_content: String,
    pub standard_error_content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standard_output_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standard_error_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    /// Why the command did not run or failed, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// The exit code sandrun itself would give this invocation alone.
    #[serde(skip)]
    pub exit_code: u8,
}

/// Where full output goes besides the result.
#[derive(Debug, Clone, Default)]
pub struct OutputSinks {
    pub dir: Option<PathBuf>,
    pub s3_bucket: Option<String>,
    pub s3_prefix: String,
    pub s3: S3Options,
}

/// Settings shared by every target.
pub struct RunSettings<'a> {
    pub command_id: String,
    pub image: &'a GuestImage,
    pub fetch: FetchArgs,
    pub cache_dir: PathBuf,
    pub sinks: OutputSinks,
    pub max_output: Option<usize>,
    pub cancelled: Arc<AtomicBool>,
    pub running: Arc<Mutex<Vec<CancelHandle>>>,
}

/// Runs every target, at most `concurrency` at once, and stops starting
/// new ones once more than `max_errors` have failed. `on_done` sees each
/// record as it ends.
pub fn run_all(
    settings: &RunSettings<'_>,
    targets: &[Target],
    concurrency: Amount,
    max_errors: Amount,
    on_done: &(dyn Fn(&InvocationRecord) + Sync),
) -> Vec<InvocationRecord> {
    let workers = concurrency.concurrency(targets.len());
    let threshold = max_errors.error_threshold(targets.len());
    let next = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<InvocationRecord>>> = Mutex::new(vec![None; targets.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let at = next.fetch_add(1, Ordering::SeqCst);
                    let Some(target) = targets.get(at) else { break };
                    let record = if settings.cancelled.load(Ordering::SeqCst) {
                        not_started(
                            target,
                            "Cancelled",
                            "the command was cancelled before this target started",
                        )
                    } else if errors.load(Ordering::SeqCst) > threshold {
                        not_started(
                            target,
                            "Cancelled",
                            &format!(
                                "not started: more than {threshold} targets failed (--max-errors)"
                            ),
                        )
                    } else {
                        let record = run_one(settings, target);
                        if record.status != "Success" {
                            errors.fetch_add(1, Ordering::SeqCst);
                        }
                        record
                    };
                    on_done(&record);
                    results.lock().unwrap_or_else(|e| e.into_inner())[at] = Some(record);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .zip(targets)
        .map(|(record, target)| {
            record.unwrap_or_else(|| not_started(target, "Cancelled", "not started"))
        })
        .collect()
}

fn not_started(target: &Target, status: &str, why: &str) -> InvocationRecord {
    InvocationRecord {
        target: target.id.clone(),
        parameters: target.parameters.clone(),
        status: status.into(),
        status_details: why.into(),
        response_code: -1,
        execution_start_date_time: None,
        execution_end_date_time: None,
        execution_elapsed_time: clock::iso_duration(Default::default()),
        standard_output_content: String::new(),
        standard_error_content: String::new(),
        standard_output_url: None,
        standard_error_url: None,
        source: None,
        error: None,
        exit_code: exit::CANCELLED,
    }
}

/// The first `n` characters of `text`.
fn first_chars(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((at, _)) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// Runs one target; errors before the command starts (a failed download,
/// a bad command line) become a failed invocation that says why.
fn run_one(settings: &RunSettings<'_>, target: &Target) -> InvocationRecord {
    let started = SystemTime::now();
    let clock_start = Instant::now();
    let mut record = not_started(target, "Failed", "Failed");
    record.execution_start_date_time = Some(clock::rfc3339(started));
    let outcome = prepare_and_run(settings, target, &mut record);
    record.execution_end_date_time = Some(clock::rfc3339(SystemTime::now()));
    record.execution_elapsed_time = clock::iso_duration(clock_start.elapsed());
    let (stdout, stderr) = match outcome {
        Ok(output) => output,
        Err(error) => {
            let message = error
                .chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ");
            let json = exit::error_json(&error);
            record.status = "Failed".into();
            record.status_details = "Failed".into();
            record.response_code = -1;
            record.exit_code = exit::code_for_error(&error);
            record.error = json.get("error").cloned();
            (String::new(), format!("{message}\n"))
        }
    };
    record.standard_output_content = first_chars(&stdout, STDOUT_CHARS);
    record.standard_error_content = first_chars(&stderr, STDERR_CHARS);
    if let Err(error) = write_outputs(settings, &mut record, &stdout, &stderr) {
        record.status = "Failed".into();
        record.status_details = "Failed".into();
        record.exit_code = exit::INTERNAL;
        record
            .standard_error_content
            .push_str(&format!("sandrun: cannot save the output: {error:#}\n"));
    }
    record
}

/// Downloads, places and runs; returns the full stdout and stderr.
fn prepare_and_run(
    settings: &RunSettings<'_>,
    target: &Target,
    record: &mut InvocationRecord,
) -> anyhow::Result<(String, String)> {
    let p = &target.parameters;
    let args = SourceArgs {
        source: None,
        source_type: Some(p.source_type.clone()),
        source_info: Some(p.source_info.clone()),
        fetch: settings.fetch.clone(),
    };
    let source = ScriptSource::resolve(&args, &settings.cache_dir, &Progress::new(true))?;
    record.source = Some(source.info.clone());
    let entry = EntryArgs {
        handler: None,
        payload: None,
        runtime: None,
    };
    let (planned, _) = plan::invocation(&source, &entry, Some(&p.command_line))?;
    let Call::Command { argv } = planned.call() else {
        anyhow::bail!("the command line did not plan as a command");
    };
    // As on an instance: the download lands in the working directory (a
    // fresh temporary one unless given), and the command runs there and may
    // write beside its files.
    let temporary;
    let dir = if p.working_directory.trim().is_empty() {
        temporary = tempfile::Builder::new()
            .prefix("sandrun-workdir-")
            .tempdir()
            .context("cannot create a temporary working directory")?;
        temporary.path().to_path_buf()
    } else {
        PathBuf::from(p.working_directory.trim())
    };
    copy_folder(&source.dir, &dir).with_context(|| {
        format!(
            "cannot place the download in the working directory {}",
            dir.display()
        )
    })?;
    let invocation = Invocation::command(dir.canonicalize()?, argv.clone())
        .id(format!("{}-{}", settings.command_id, target.id))
        .script_access(Access::ReadWrite);
    let mut policy = Policy {
        timeout_ms: p.execution_timeout * 1000,
        ..Policy::default()
    };
    if let Some(bytes) = settings.max_output {
        policy.stdout_bytes = bytes;
        policy.stderr_bytes = bytes;
    }
    let cancel = CancelHandle::new();
    settings
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(cancel.clone());
    if settings.cancelled.load(Ordering::SeqCst) {
        cancel.cancel();
    }
    let result = settings
        .image
        .run_cancellable(&invocation, &policy, &cancel)?;
    let (status, code) = match result.status {
        Status::Success => ("Success", result.exit_code.unwrap_or(0)),
        Status::Failed => ("Failed", result.exit_code.unwrap_or(-1)),
        Status::TimedOut => ("TimedOut", -1),
        Status::Cancelled => ("Cancelled", -1),
    };
    record.status = status.into();
    record.status_details = match result.status {
        Status::TimedOut => "ExecutionTimedOut".into(),
        _ => status.into(),
    };
    record.response_code = i64::from(code);
    record.exit_code = exit::for_status_code(result.status);
    let mut stderr = result.stderr.clone();
    if let Some(error) = &result.error
        && !stderr.contains(&error.message)
    {
        stderr.push_str(&format!("sandrun: {}: {}\n", error.kind, error.message));
    }
    if result.truncated.stdout || result.truncated.stderr {
        stderr.push_str(&format!(
            "sandrun: output was cut at {} bytes per stream (raise it with --max-output)\n",
            policy.stdout_bytes
        ));
    }
    Ok((result.stdout, stderr))
}

/// Copies `from` into `to` (created if missing), replacing files of the
/// same name, as a download into an existing folder does.
fn copy_folder(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_folder(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Writes the full output under `--output-dir` and to S3, in Run
/// Command's layout: `COMMAND_ID/TARGET/awsrunShellScript/runShellScript/stdout`.
fn write_outputs(
    settings: &RunSettings<'_>,
    record: &mut InvocationRecord,
    stdout: &str,
    stderr: &str,
) -> anyhow::Result<()> {
    let relative = format!("{}/{}/{PLUGIN_PATH}", settings.command_id, record.target);
    if let Some(dir) = &settings.sinks.dir {
        let folder = dir.join(&relative);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        std::fs::write(folder.join("stdout"), stdout)?;
        std::fs::write(folder.join("stderr"), stderr)?;
        record.standard_output_url = Some(folder.join("stdout").display().to_string());
        record.standard_error_url = Some(folder.join("stderr").display().to_string());
    }
    if let Some(bucket) = &settings.sinks.s3_bucket {
        let prefix = settings.sinks.s3_prefix.trim_matches('/');
        let key = |name: &str| {
            if prefix.is_empty() {
                format!("{relative}/{name}")
            } else {
                format!("{prefix}/{relative}/{name}")
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let bucket_client = Bucket::connect(bucket, None, &settings.sinks.s3).await;
            bucket_client
                .put(
                    &key("stdout"),
                    stdout.as_bytes().to_vec(),
                    "text/plain; charset=utf-8",
                )
                .await?;
            bucket_client
                .put(
                    &key("stderr"),
                    stderr.as_bytes().to_vec(),
                    "text/plain; charset=utf-8",
                )
                .await?;
            anyhow::Ok(())
        })?;
        record.standard_output_url = Some(format!("s3://{bucket}/{}", key("stdout")));
        record.standard_error_url = Some(format!("s3://{bucket}/{}", key("stderr")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Map<String, Value> {
        json!({"sourceType": ["S3"], "sourceInfo": ["{\"path\": \"https://x/y\"}"], "commandLine": ["main.py"]})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn parameters_read_like_send_command() {
        let p = parameters(&base()).unwrap();
        assert_eq!(
            (p.command_line.as_str(), p.execution_timeout),
            ("main.py", 3600)
        );
        let mut bad = base();
        bad.insert("executionTimeout".into(), json!(["172801"]));
        assert!(parameters(&bad).unwrap_err().contains("executionTimeout"));
        let mut bad = base();
        bad.insert("sourceType".into(), json!(["FTP"]));
        assert!(parameters(&bad).unwrap_err().contains("GitHub or S3"));
        let mut bad = base();
        bad.remove("commandLine");
        assert!(
            parameters(&bad)
                .unwrap_err()
                .contains("commandLine is required")
        );
        let mut bad = base();
        bad.insert("commandline".into(), json!(["x"]));
        assert!(
            parameters(&bad)
                .unwrap_err()
                .contains("no parameter \"commandline\"")
        );
    }

    #[test]
    fn targets_are_folders_or_parameter_sets() {
        let list = targets(
            "# two\nwork/a\n\n{\"commandLine\": [\"main.py b\"]}\n",
            &base(),
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].parameters.working_directory, "work/a");
        assert_eq!(list[1].parameters.command_line, "main.py b");
        assert_eq!(list[1].id, "target-2");
        assert!(targets("{oops", &base()).unwrap_err().contains("line 1"));
        assert!(targets("\n# none\n", &base()).is_err());
    }

    #[test]
    fn output_is_cut_by_characters() {
        assert_eq!(first_chars("héllo", 2), "hé");
        assert_eq!(first_chars("hi", 5), "hi");
    }
}
