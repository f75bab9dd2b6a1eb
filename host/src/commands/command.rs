//! `sandrun command run`: a Command document on one or many local targets.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::cli::{CommandRunArgs, GlobalArgs};
use crate::exit::{self, bad_input};
use crate::loader;
use crate::progress::Progress;
use crate::remote::s3::S3Options;
use crate::ssm::rate::Amount;
use crate::ssm::remote_script::{
    self, DOCUMENT_NAME, InvocationRecord, OutputSinks, RunSettings, Target,
};
use crate::ssm::{self};

pub fn run(global: &GlobalArgs, args: &CommandRunArgs) -> anyhow::Result<ExitCode> {
    if args.document_name != DOCUMENT_NAME {
        return Err(bad_input!(
            "--document-name {}: sandrun runs {DOCUMENT_NAME} locally; run Automation runbooks with `sandrun automation run`",
            args.document_name
        ));
    }
    let given = match crate::payload::parse(&args.parameters)? {
        Value::Object(map) => map,
        other => {
            return Err(bad_input!(
                "--parameters must be a JSON object such as {{\"commandLine\": [\"main.py\"]}}, not {other}"
            ));
        }
    };
    let targets = match &args.targets {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad_input!("cannot read the targets file {}: {e}", path.display()))?;
            remote_script::targets(&text, &given).map_err(|e| bad_input!("{e}"))?
        }
        None => vec![Target {
            id: "local".into(),
            parameters: remote_script::parameters(&given).map_err(|e| bad_input!("{e}"))?,
        }],
    };
    let concurrency =
        Amount::parse("--max-concurrency", &args.max_concurrency).map_err(|e| bad_input!("{e}"))?;
    let max_errors =
        Amount::parse("--max-errors", &args.max_errors).map_err(|e| bad_input!("{e}"))?;

    let quiet = args.json;
    let (_runtime, image) = loader::open_python(
        global,
        &Progress::new(quiet),
        u32::try_from(concurrency.concurrency(targets.len())).unwrap_or(u32::MAX),
    )?;
    let cancelled = Arc::new(AtomicBool::new(false));
    let running = Arc::new(Mutex::new(Vec::<sandrun_runtime::CancelHandle>::new()));
    {
        let running = running.clone();
        ssm::cancel_on_interrupt(cancelled.clone(), move || {
            for handle in running.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                handle.cancel();
            }
        });
    }
    let settings = RunSettings {
        command_id: crate::id::new_uuid(),
        image: &image,
        fetch: args.fetch.clone(),
        cache_dir: loader::cache_dir(global)?,
        sinks: OutputSinks {
            dir: args.output_dir.clone(),
            s3_bucket: args.output_s3_bucket_name.clone(),
            s3_prefix: args.output_s3_key_prefix.clone(),
            s3: S3Options {
                endpoint: args.fetch.s3_endpoint.clone(),
            },
        },
        max_output: args.max_output,
        cancelled,
        running,
    };
    let single = targets.len() == 1;
    let print_done = |record: &InvocationRecord| {
        if !quiet {
            print_invocation(record, single);
        }
    };
    let records = remote_script::run_all(&settings, &targets, concurrency, max_errors, &print_done);

    let mut summary = BTreeMap::<String, usize>::new();
    for record in &records {
        *summary.entry(record.status.clone()).or_default() += 1;
    }
    let status = if single {
        records[0].status.clone()
    } else if records.iter().all(|r| r.status == "Success") {
        "Success".into()
    } else if settings.cancelled.load(std::sync::atomic::Ordering::SeqCst) {
        "Cancelled".into()
    } else {
        "Failed".into()
    };
    let code = if single {
        records[0].exit_code
    } else if status == "Success" {
        exit::SUCCESS
    } else if status == "Cancelled" {
        exit::CANCELLED
    } else {
        exit::SCRIPT_FAILED
    };
    if args.json {
        let object = json!({
            "CommandId": settings.command_id,
            "DocumentName": DOCUMENT_NAME,
            "Status": status,
            "TargetCount": records.len(),
            "CompletedCount": records.iter().filter(|r| r.execution_end_date_time.is_some()).count(),
            "ErrorCount": records.iter().filter(|r| r.status != "Success").count(),
            "MaxConcurrency": args.max_concurrency,
            "MaxErrors": args.max_errors,
            "Summary": summary,
            "Invocations": records,
        });
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &object)?;
        writeln!(out)?;
    } else {
        let counts: Vec<String> = summary.iter().map(|(s, n)| format!("{n} {s}")).collect();
        eprintln!(
            "sandrun: command {} ended {status} ({})",
            settings.command_id,
            counts.join(", ")
        );
    }
    Ok(ExitCode::from(code))
}

/// A target's line on stderr; for a single target its output as well, on
/// stdout and stderr as the script wrote it.
fn print_invocation(record: &InvocationRecord, single: bool) {
    if single {
        print!("{}", record.standard_output_content);
        let _ = std::io::stdout().flush();
        eprint!("{}", record.standard_error_content);
    }
    let mut line = format!(
        "  {:<9} {:<12} response code {:>3}  {}",
        record.status, record.target, record.response_code, record.execution_elapsed_time
    );
    if record.status != "Success" && record.status_details != record.status {
        line.push_str(&format!("  {}", record.status_details));
    }
    if let Some(url) = &record.standard_output_url {
        line.push_str(&format!("  output: {url}"));
    }
    eprintln!("{line}");
}
