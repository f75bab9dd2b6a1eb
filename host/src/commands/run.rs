//! `sandrun run`: one invocation in a fresh sandbox.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use sandrun_runtime::{ClockAccess, LiveOutput, Mount, Policy, RunResult, Status, error_type};

use crate::cli::{GlobalArgs, LimitArgs, RunArgs};
use crate::exit::{self, bad_input};
use crate::loader;
use crate::plan::{self, Mode};
use crate::progress::Progress;
use crate::source::ScriptSource;

/// The longest timeout the seeds allow (`executionTimeout`, 48 hours).
const MAX_TIMEOUT_SECS: f64 = 172_800.0;

pub fn run(global: &GlobalArgs, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let progress = Progress::new(args.json);
    let source = ScriptSource::resolve(&args.source, &loader::cache_dir(global)?, &progress)?;
    let (mut invocation, mode) =
        plan::invocation(&source, &args.entry, args.command_line.as_deref())?;
    for pair in &args.env {
        let (key, value) = pair
            .split_once('=')
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| bad_input!("--env {pair:?}: expected KEY=VALUE"))?;
        invocation = invocation.env(key, value);
    }
    let mut policy = policy(&args.limits, mode)?;
    policy.mounts = args
        .mounts
        .iter()
        .map(|spec| parse_mount(spec))
        .collect::<anyhow::Result<_>>()?;
    if args.allow_clock {
        policy.clock = ClockAccess::Host;
    }
    policy.validate()?;

    let (_runtime, image) = loader::open_python(global, &progress, 1)?;
    if !args.json {
        // The script's own output reaches the terminal as it is written.
        let stdout: LiveOutput = Arc::new(Mutex::new(std::io::stdout()));
        let stderr: LiveOutput = Arc::new(Mutex::new(std::io::stderr()));
        invocation = invocation.stdout_to(stdout).stderr_to(stderr);
    }
    let result = image.run(&invocation, &policy)?;

    if args.json {
        let mut json = serde_json::to_value(&result)?;
        if let Some(object) = json.as_object_mut() {
            object.insert("source".into(), serde_json::to_value(&source.info)?);
        }
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &json)?;
        writeln!(out)?;
    } else {
        print_human(&result, &policy)?;
    }
    Ok(exit::for_status(result.status))
}

/// The policy from the limit flags; unset flags keep the library defaults,
/// except the timeout, whose default depends on the mode.
pub fn policy(limits: &LimitArgs, mode: Mode) -> anyhow::Result<Policy> {
    let mut policy = Policy::default();
    let timeout = limits.timeout.unwrap_or(mode.default_timeout_secs());
    if !(timeout > 0.0 && timeout <= MAX_TIMEOUT_SECS) {
        return Err(bad_input!(
            "--timeout {timeout}: give seconds between 0.001 and {MAX_TIMEOUT_SECS}"
        ));
    }
    policy.timeout_ms = ((timeout * 1000.0).round() as u64).max(1);
    policy.fuel = limits.fuel;
    if let Some(mib) = limits.memory {
        if !(1..=4096).contains(&mib) {
            return Err(bad_input!("--memory {mib}: give MiB between 1 and 4096"));
        }
        policy.memory_bytes = mib * 1024 * 1024;
    }
    if let Some(bytes) = limits.max_output {
        policy.stdout_bytes = bytes;
        policy.stderr_bytes = bytes;
    }
    if let Some(bytes) = limits.max_payload {
        policy.payload_bytes = bytes;
    }
    Ok(policy)
}

/// `HOST:GUEST[:ro|rw]`; a relative host path is taken from the current folder.
fn parse_mount(spec: &str) -> anyhow::Result<Mount> {
    let usage =
        || bad_input!("--mount {spec:?}: expected HOST:GUEST[:ro|rw], e.g. ./data:/data:ro");
    let (rest, access) = match spec.rsplit_once(':') {
        Some((rest, "ro")) => (rest, false),
        Some((rest, "rw")) => (rest, true),
        _ => (spec, false),
    };
    let (host, guest) = rest.rsplit_once(':').ok_or_else(usage)?;
    if host.is_empty() || guest.is_empty() {
        return Err(usage());
    }
    let host: PathBuf =
        std::path::absolute(Path::new(host)).map_err(|e| bad_input!("--mount {spec:?}: {e}"))?;
    Ok(if access {
        Mount::read_write(host, guest)
    } else {
        Mount::read_only(host, guest)
    })
}

/// Without `--json`: the payload on stdout, problems on stderr (the
/// script's own output has already been passed through).
fn print_human(result: &RunResult, policy: &Policy) -> anyhow::Result<()> {
    if let Some(payload) = &result.payload {
        println!("{}", serde_json::to_string_pretty(payload)?);
    }
    let mut err = std::io::stderr().lock();
    if let Some(error) = &result.error {
        // A command's traceback was already printed by the script's stderr.
        let traceback_shown =
            result.exit_code.is_some() && result.stderr.contains(&error.traceback);
        if !error.traceback.is_empty() && !traceback_shown {
            write!(err, "{}", error.traceback)?;
            if !error.traceback.ends_with('\n') {
                writeln!(err)?;
            }
        }
        // The sandbox's own verdicts get a line of their own, with the flag
        // that moves the limit.
        let hint = match error.kind.as_str() {
            error_type::TIMEOUT => Some("--timeout"),
            error_type::FUEL_EXHAUSTED => Some("--fuel"),
            error_type::MEMORY_LIMIT_EXCEEDED => Some("--memory"),
            error_type::PAYLOAD_TOO_LARGE => Some("--max-payload"),
            _ => None,
        };
        if let Some(flag) = hint {
            writeln!(
                err,
                "sandrun: {}: {} (raise it with {flag})",
                error.kind, error.message
            )?;
        } else if error.traceback.is_empty() {
            writeln!(err, "sandrun: {}: {}", error.kind, error.message)?;
        }
    } else if result.status == Status::Failed
        && let Some(code) = result.exit_code
    {
        writeln!(err, "sandrun: the script exited with status {code}")?;
    }
    let truncated = &result.truncated;
    if truncated.stdout || truncated.stderr {
        writeln!(
            err,
            "sandrun: output was cut at {} bytes per stream (raise it with --max-output)",
            policy.stdout_bytes
        )?;
    }
    if truncated.payload {
        writeln!(
            err,
            "sandrun: the returned list was cut to its first {} items",
            policy.list_items
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandrun_runtime::Access;

    #[test]
    fn mount_specs_parse_with_read_only_default() {
        let mount = parse_mount("/data:/in").unwrap();
        assert_eq!(
            (mount.host, mount.guest.as_str(), mount.access),
            (PathBuf::from("/data"), "/in", Access::ReadOnly)
        );
        assert_eq!(
            parse_mount("/data:/out:rw").unwrap().access,
            Access::ReadWrite
        );
        assert_eq!(
            parse_mount("/data:/in:ro").unwrap().access,
            Access::ReadOnly
        );
        assert!(parse_mount("/data").is_err());
    }
}
