//! `sandrun automation run`: an Automation runbook, step by step.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use crate::cli::{AutomationRunArgs, GlobalArgs};
use crate::exit::{self, bad_input};
use crate::loader;
use crate::progress::Progress;
use crate::ssm::automation::{
    ExecutionRecord, ExecutionStatus, Executor, Options, StepEvent, StepRecord,
};
use crate::ssm::document::{self, BRANCH, EXECUTE_SCRIPT, SLEEP};
use crate::ssm::{self, mock, parameters};

pub fn run(global: &GlobalArgs, args: &AutomationRunArgs) -> anyhow::Result<ExitCode> {
    let document = document::load(&args.document).map_err(|e| bad_input!("{e}"))?;
    let mocks = match &args.mock {
        Some(path) => mock::load(path).map_err(|e| bad_input!("{e}"))?,
        None => BTreeMap::new(),
    };
    for name in mocks.keys() {
        if !document.steps.iter().any(|s| &s.name == name) {
            return Err(bad_input!(
                "the mock file gives step {name:?}, which is not a step of {}",
                document.name
            ));
        }
    }
    for step in &document.steps {
        let runs_here = [EXECUTE_SCRIPT, SLEEP, BRANCH].contains(&step.action.as_str());
        if !runs_here && !mocks.contains_key(&step.name) {
            return Err(bad_input!(
                "step {}: {} is not supported locally (sandrun runs {EXECUTE_SCRIPT}, {SLEEP} and {BRANCH}); \
                 give this step's result with --mock FILE",
                step.name,
                step.action
            ));
        }
    }
    let json = args
        .parameters_json
        .as_deref()
        .map(crate::payload::parse)
        .transpose()?;
    let given = parameters::given(&args.parameters, json).map_err(|e| bad_input!("{e}"))?;
    let bound = parameters::bind(&document.parameters, &given).map_err(|e| bad_input!("{e}"))?;
    let mut attachments = BTreeMap::new();
    for pair in &args.attachments {
        let (name, source) = pair
            .split_once('=')
            .filter(|(name, source)| !name.is_empty() && !source.is_empty())
            .ok_or_else(|| bad_input!("--attachment {pair:?}: expected NAME=SOURCE"))?;
        if !document.files.contains_key(name) {
            return Err(bad_input!(
                "--attachment {name}: the document's files have no attachment of that name"
            ));
        }
        attachments.insert(name.to_string(), source.to_string());
    }

    let cancelled = Arc::new(AtomicBool::new(false));
    let current = Arc::new(Mutex::new(None::<sandrun_runtime::CancelHandle>));
    {
        let current = current.clone();
        ssm::cancel_on_interrupt(cancelled.clone(), move || {
            if let Some(handle) = current.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                handle.cancel();
            }
        });
    }
    let options = Options {
        execution_id: crate::id::new_uuid(),
        account_id: args.account_id.clone(),
        region: args.region.clone(),
        no_sleep: args.no_sleep,
        allow_clock: args.allow_clock,
        mocks,
        attachments,
        fetch: args.fetch.clone(),
        cache_dir: loader::cache_dir(global)?,
        secrets: crate::source::fetch_options(&args.fetch).secrets,
        cancelled,
        current,
    };
    let quiet = args.json;
    // The image is opened before the first step (with its own progress
    // line), and only when a script step will run here.
    let needs_image = document
        .steps
        .iter()
        .any(|s| s.action == EXECUTE_SCRIPT && !options.mocks.contains_key(&s.name));
    let preloaded = if needs_image {
        Some(loader::open_python(global, &Progress::new(quiet), 2)?)
    } else {
        None
    };
    let open_image = || {
        preloaded
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the Python image was not opened"))
    };
    if !quiet {
        eprintln!(
            "sandrun: running {} as execution {}",
            document.name, options.execution_id
        );
        if let Some(description) = &document.description {
            eprintln!("  {}", description.lines().next().unwrap_or_default());
        }
    }
    let executor = Executor::new(&document, bound, options, &open_image);
    // A spinner names the running step on a terminal; each step's line is
    // printed when it ends.
    let progress = Progress::new(quiet);
    let record = executor.run(&mut |event| match event {
        StepEvent::Started(step) => {
            progress.set_message(&format!("{} ({})", step.name, step.action));
        }
        StepEvent::Finished(step) if !quiet => progress.println(&step_lines(step)),
        StepEvent::Finished(_) => {}
    });
    progress.finish();
    if args.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &record)?;
        writeln!(out)?;
    } else {
        print_summary(&record)?;
    }
    Ok(ExitCode::from(match record.status {
        ExecutionStatus::Success => exit::SUCCESS,
        ExecutionStatus::Failed => exit::SCRIPT_FAILED,
        ExecutionStatus::TimedOut => exit::TIMED_OUT,
        ExecutionStatus::Cancelled => exit::CANCELLED,
    }))
}

fn status_word(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Success => "Success",
        ExecutionStatus::Failed => "Failed",
        ExecutionStatus::TimedOut => "TimedOut",
        ExecutionStatus::Cancelled => "Cancelled",
    }
}

/// A step's line, with its output and failure indented below it.
fn step_lines(step: &StepRecord) -> String {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let word = status_word(step.step_status);
    let shown = if colour {
        let code = if step.step_status == ExecutionStatus::Success {
            32
        } else {
            31
        };
        format!("\x1b[{code}m{word:<9}\x1b[0m")
    } else {
        format!("{word:<9}")
    };
    let mut line = format!(
        "  {shown} {:<24} {:<20} {:>7} ms",
        step.step_name, step.action, step.duration_ms
    );
    if step.attempts > 1 {
        line.push_str(&format!("  ({} attempts)", step.attempts));
    }
    if step
        .response
        .as_ref()
        .is_some_and(|r| r["Waited"] == serde_json::Value::Bool(false))
    {
        line.push_str("  (not waited: --no-sleep)");
    }
    if step.mocked {
        line.push_str("  (mocked)");
    }
    if let Some(next) = &step.next_step {
        line.push_str(&format!("  -> {next}"));
    }
    for text in [&step.stdout, &step.stderr] {
        for out_line in text.lines() {
            line.push_str(&format!("\n      | {out_line}"));
        }
    }
    if let Some(message) = &step.failure_message {
        line.push_str(&format!("\n      {message}"));
    }
    line
}

/// The execution's status on stderr, and its outputs on stdout.
fn print_summary(record: &ExecutionRecord) -> anyhow::Result<()> {
    eprintln!(
        "sandrun: execution {} ended {}{}",
        record.automation_execution_id,
        status_word(record.status),
        record
            .failure_message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    );
    if !record.outputs.is_empty() {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::Value::Object(record.outputs.clone()))?
        );
    }
    Ok(())
}
