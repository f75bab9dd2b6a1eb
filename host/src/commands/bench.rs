//! `sandrun bench`: per-invocation latency of fresh sandboxes, measured in
//! one process, beside a native `python3` subprocess running the same
//! handler and beside whole `sandrun run` processes, all in the same run so
//! that the ratios compare like with like.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sandrun_runtime::{Call, Policy, RunResult, SessionOptions};
use serde::Serialize;

use crate::cli::{BenchArgs, GlobalArgs};
use crate::exit::bad_input;
use crate::loader;
use crate::plan::{self, Mode};
use crate::progress::Progress;
use crate::source::ScriptSource;

/// Latency figures of one way of running the handler.
#[derive(Debug, Serialize)]
struct Figures {
    runs: usize,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    min_ms: f64,
}

impl Figures {
    fn from(mut samples: Vec<Duration>) -> Option<Figures> {
        if samples.is_empty() {
            return None;
        }
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
        Some(Figures {
            runs: samples.len(),
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            mean_ms: samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64,
            min_ms: ms(samples[0]),
        })
    }
}

#[derive(Debug, Serialize)]
struct Report {
    image: String,
    handler: String,
    /// Each invocation in a fresh sandbox, inside this process.
    sandbox: Figures,
    /// `x + 1` in a kept session instance (no fresh sandbox).
    session_call: Figures,
    /// `python3 driver.py` per invocation: a fresh native interpreter.
    native_python: Option<Figures>,
    /// A whole `sandrun run --json` process per invocation, caches warm.
    sandrun_process: Option<Figures>,
    /// An MCP `tools/call` of run_python `x + 1` in a fresh sandbox, over
    /// stdio to a `sandrun mcp` child.
    mcp_fresh: Option<Figures>,
    /// The same call in an MCP session.
    mcp_session: Option<Figures>,
    /// native_python p50 / sandbox p50: how many times faster the sandbox is.
    speedup_vs_native: Option<f64>,
    /// sandrun_process p50 / native_python p50: below 1 means faster than python3.
    process_vs_native: Option<f64>,
}

pub fn run(global: &GlobalArgs, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let handler = args
        .entry
        .handler
        .clone()
        .ok_or_else(|| bad_input!("sandrun bench measures a handler: pass --handler NAME"))?;
    if args.iterations == 0 {
        return Err(bad_input!("--iterations must be at least 1"));
    }
    let progress = Progress::new(args.json);
    let source = ScriptSource::resolve(&args.source, &loader::cache_dir(global)?, &progress)?;
    let (invocation, mode) = plan::invocation(&source, &args.entry, None)?;
    debug_assert_eq!(mode, Mode::Handler);
    let event = match invocation.call() {
        Call::Handler { event, .. } => event.clone(),
        Call::Command { .. } => bail!("a handler was expected"),
    };
    let (_runtime, image) = loader::open_python(global, &progress, 4)?;
    let policy = Policy {
        timeout_ms: 60_000,
        ..Policy::default()
    };

    // Warm up, and make sure the handler works before timing it.
    for _ in 0..3 {
        let result = image.run(&invocation, &policy)?;
        if !result.is_success() {
            let error = result.error.map(|e| format!("{}: {}", e.kind, e.message));
            return Err(bad_input!(
                "the handler does not succeed, so there is nothing to measure: {}",
                error.unwrap_or_else(|| format!("{:?}", result.status))
            ));
        }
    }
    let sandbox = time_calls(args.iterations, "an invocation", || {
        Ok(image.run(&invocation, &policy)?)
    })?;

    // A kept instance for comparison: a session call of `x + 1`.
    let mut session = image.open_session(SessionOptions::default())?;
    session.run("x = 1")?;
    let session_call = time_calls(args.iterations, "a session call", || {
        Ok(session.run("x + 1")?)
    })?;

    let native_python = if args.native_iterations > 0 {
        let driver = NativeDriver::new(&source.dir, source.entry.as_deref(), &handler, &event)?;
        Figures::from(time_processes(args.native_iterations, || driver.command())?)
    } else {
        None
    };
    let sandrun_process = if args.process_iterations > 0 {
        let exe = std::env::current_exe().context("cannot find the sandrun binary")?;
        let payload = serde_json::to_string(&event)?;
        Figures::from(time_processes(args.process_iterations, || {
            let mut command = Command::new(&exe);
            // The resolved folder (or file) runs, so a remote source is not
            // fetched again for every process.
            let script = source
                .entry
                .as_ref()
                .map_or(source.dir.clone(), |file| source.dir.join(file));
            command.arg("run").arg(script).args([
                "--handler",
                &handler,
                "--payload",
                &payload,
                "--json",
            ]);
            if let Some(dir) = &global.cache_dir {
                command.arg("--cache-dir").arg(dir);
            }
            if let Some(dir) = &global.image_dir {
                command.arg("--image-dir").arg(dir);
            }
            command
        })?)
    } else {
        None
    };

    let (mcp_fresh, mcp_session) = if args.mcp_iterations > 0 {
        let (fresh, session) = mcp_round_trips(global, args.mcp_iterations)?;
        (Figures::from(fresh), Figures::from(session))
    } else {
        (None, None)
    };

    let speedup_vs_native = native_python.as_ref().map(|n| n.p50_ms / sandbox.p50_ms);
    let process_vs_native = match (&sandrun_process, &native_python) {
        (Some(p), Some(n)) => Some(p.p50_ms / n.p50_ms),
        _ => None,
    };
    let report = Report {
        image: image.digest().to_string(),
        handler,
        sandbox,
        session_call,
        native_python,
        sandrun_process,
        mcp_fresh,
        mcp_session,
        speedup_vs_native,
        process_vs_native,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &Report) {
    println!("handler {} on image {}", report.handler, report.image);
    let row = |name: &str, f: &Figures| {
        println!(
            "  {name:<42} {:>5} runs   p50 {:>8.3} ms   p99 {:>8.3} ms   mean {:>8.3} ms",
            f.runs, f.p50_ms, f.p99_ms, f.mean_ms
        );
    };
    row("fresh sandbox (in process)", &report.sandbox);
    row(
        "session call of `x + 1` (kept instance)",
        &report.session_call,
    );
    if let Some(f) = &report.native_python {
        row("native python3 subprocess", f);
    }
    if let Some(f) = &report.sandrun_process {
        row("`sandrun run` (whole process)", f);
    }
    if let Some(f) = &report.mcp_fresh {
        row("MCP tools/call run_python, fresh sandbox", f);
    }
    if let Some(f) = &report.mcp_session {
        row("MCP tools/call run_python, in a session", f);
    }
    if let Some(ratio) = report.speedup_vs_native {
        println!("  fresh sandbox is {ratio:.1}x faster than a native python3 subprocess (p50)");
    }
    if let Some(ratio) = report.process_vs_native {
        println!("  a whole `sandrun run` takes {ratio:.2}x the time of `python3 script.py` (p50)");
    }
}

/// A `sandrun mcp` child spoken to as the protocol's newline-delimited
/// JSON-RPC over its stdio.
struct McpChild {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
    next_id: u64,
}

impl McpChild {
    fn start(global: &GlobalArgs) -> anyhow::Result<McpChild> {
        let exe = std::env::current_exe().context("cannot find the sandrun binary")?;
        let mut command = Command::new(exe);
        command.arg("mcp");
        if let Some(dir) = &global.cache_dir {
            command.arg("--cache-dir").arg(dir);
        }
        if let Some(dir) = &global.image_dir {
            command.arg("--image-dir").arg(dir);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start sandrun mcp")?;
        let input = child.stdin.take().context("no stdin")?;
        let output = std::io::BufReader::new(child.stdout.take().context("no stdout")?);
        let mut mcp = McpChild {
            child,
            input,
            output,
            next_id: 0,
        };
        mcp.request(
            "initialize",
            serde_json::json!({"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "sandrun-bench", "version": "1"}}),
        )?;
        mcp.send(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
        Ok(mcp)
    }

    fn send(&mut self, message: serde_json::Value) -> anyhow::Result<()> {
        use std::io::Write;
        writeln!(self.input, "{message}")?;
        self.input.flush()?;
        Ok(())
    }

    fn request(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        use std::io::BufRead;
        self.next_id += 1;
        let id = self.next_id;
        self.send(
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        )?;
        let mut line = String::new();
        loop {
            line.clear();
            if self.output.read_line(&mut line)? == 0 {
                bail!("sandrun mcp closed its output");
            }
            let reply: serde_json::Value = serde_json::from_str(&line)?;
            if reply["id"] == id {
                if reply["result"]["isError"] == true || reply.get("error").is_some() {
                    bail!("{method} failed during the benchmark: {reply}");
                }
                return Ok(reply);
            }
        }
    }

    /// Times `runs` calls of run_python with `arguments`.
    fn time(
        &mut self,
        runs: usize,
        arguments: &serde_json::Value,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            self.request(
                "tools/call",
                serde_json::json!({"name": "run_python", "arguments": arguments}),
            )?;
            samples.push(started.elapsed());
        }
        Ok(samples)
    }
}

/// Round trips of `tools/call run_python` to a `sandrun mcp` child: in
/// fresh sandboxes, then in one session.
fn mcp_round_trips(
    global: &GlobalArgs,
    runs: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut mcp = McpChild::start(global)?;
    let fresh = mcp.time(runs, &serde_json::json!({"code": "x = 1\nx + 1"}))?;
    let opened = mcp.request(
        "tools/call",
        serde_json::json!({"name": "open_session", "arguments": {}}),
    )?;
    let session = opened["result"]["structuredContent"]["session_id"].clone();
    mcp.time(
        1,
        &serde_json::json!({"code": "x = 1", "session_id": session}),
    )?;
    let in_session = mcp.time(
        runs,
        &serde_json::json!({"code": "x + 1", "session_id": session}),
    )?;
    drop(mcp.input);
    let _ = mcp.child.wait();
    Ok((fresh, in_session))
}

/// Times `runs` in-process calls; a failing call stops the benchmark.
fn time_calls(
    runs: usize,
    what: &str,
    mut call: impl FnMut() -> anyhow::Result<RunResult>,
) -> anyhow::Result<Figures> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let result = call()?;
        samples.push(started.elapsed());
        if !result.is_success() {
            bail!("{what} failed during the benchmark: {:?}", result.error);
        }
    }
    Figures::from(samples).context("no samples")
}

/// Times `runs` processes from `make`, each to completion; a failing run
/// stops the benchmark.
fn time_processes(runs: usize, make: impl Fn() -> Command) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut command = make();
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let output = command
            .output()
            .with_context(|| format!("cannot start {:?}", command.get_program()))?;
        samples.push(started.elapsed());
        if !output.status.success() {
            bail!(
                "{:?} failed during the benchmark ({}): {}",
                command.get_program(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(samples)
}

/// A `python3` script that imports the same handler and calls it once with
/// the same event, as a native baseline.
struct NativeDriver {
    dir: tempfile::TempDir,
    python: std::path::PathBuf,
}

impl NativeDriver {
    fn new(
        script_dir: &Path,
        entry: Option<&str>,
        handler: &str,
        event: &serde_json::Value,
    ) -> anyhow::Result<NativeDriver> {
        let function = handler.rsplit_once('.').map_or(handler, |(_, f)| f);
        let module = match entry {
            Some(file) => file.trim_end_matches(".py"),
            None => handler
                .rsplit_once('.')
                .map(|(module, _)| module)
                .ok_or_else(|| bad_input!("handler {handler:?} has no module"))?,
        };
        let dir = tempfile::tempdir().context("cannot create the native driver's folder")?;
        // JSON string literals are valid Python string literals.
        let literal = |text: &str| serde_json::to_string(text).unwrap_or_default();
        let context = serde_json::json!({
            "invocation_id": "bench", "automation:EXECUTION_ID": "bench",
            "handler": handler, "remaining_time_ms": 60_000,
        });
        let driver = format!(
            "import json, sys\nsys.path.insert(0, {dir})\nimport importlib\n\
             handler = getattr(importlib.import_module({module}), {function})\n\
             print(json.dumps(handler(json.loads({event}), json.loads({context}))))\n",
            dir = literal(&script_dir.display().to_string()),
            module = literal(module),
            function = literal(function),
            event = literal(&serde_json::to_string(event)?),
            context = literal(&context.to_string()),
        );
        std::fs::write(dir.path().join("driver.py"), driver)?;
        Ok(NativeDriver {
            dir,
            python: real_python()?,
        })
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.python);
        command.arg(self.dir.path().join("driver.py"));
        command
    }
}

/// The interpreter `python3` runs, resolved once: version managers put a
/// shell-script shim first on PATH, whose start-up would be measured too.
fn real_python() -> anyhow::Result<std::path::PathBuf> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .context("the native baseline needs python3 on PATH (or pass --native-iterations 0)")?;
    let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || path.is_empty() {
        bail!("python3 could not tell where its interpreter is");
    }
    Ok(path.into())
}
