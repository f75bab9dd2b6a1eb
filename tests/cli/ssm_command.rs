//! `sandrun command run --document-name AWS-RunRemoteScript`: the example
//! folder served by the loopback S3-compatible server and the local GitHub
//! API server, run with send-command's parameters, its result fields, its
//! output locations and its rate control.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crate::harness::{isolated_cache, json_of, repo, sandrun};
use crate::servers;

/// Bucket `scripts` with the example folder under `remote-script/`.
fn store() -> servers::S3Server {
    let server = servers::s3_server();
    let example = repo().join("examples/remote-script");
    for file in ["main.py", "lib/__init__.py", "lib/greet.py"] {
        let data = std::fs::read(example.join(file)).expect("example file");
        server.put("scripts", &format!("remote-script/{file}"), &data);
    }
    server.put(
        "scripts",
        "noisy/main.py",
        b"import sys\nsys.stdout.write('o' * 30000)\nsys.stderr.write('e' * 10000)\n",
    );
    server.put(
        "scripts",
        "spin/main.py",
        b"print('spinning', flush=True)\nwhile True:\n    pass\n",
    );
    server.put(
        "scripts",
        "work/main.py",
        b"import sys\nn = int(sys.argv[1])\nprint(sum(range(n)))\nsys.exit(1 if n < 0 else 0)\n",
    );
    server.create_bucket("results");
    server
}

fn envs(server: &servers::S3Server) -> Vec<(&str, &str)> {
    let mut envs = server.credentials();
    envs.push(("AWS_ENDPOINT_URL", server.endpoint.as_str()));
    envs
}

fn s3_parameters(folder: &str, command_line: &str) -> Value {
    let info = json!({"path": format!("https://s3.amazonaws.com/scripts/{folder}/")}).to_string();
    json!({"sourceType": ["S3"], "sourceInfo": [info], "commandLine": [command_line]})
}

/// `sandrun command run --document-name AWS-RunRemoteScript <args> --json`.
fn command(
    cache: &Path,
    parameters: &Value,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Value, Output) {
    let mut run = sandrun();
    run.env("SANDRUN_CACHE_DIR", cache)
        .args([
            "command",
            "run",
            "--document-name",
            "AWS-RunRemoteScript",
            "--parameters",
        ])
        .arg(parameters.to_string())
        .args(args)
        .arg("--json");
    for (key, value) in envs {
        run.env(key, value);
    }
    let output = run.output().expect("run sandrun command");
    let result = json_of(&output);
    (result, output)
}

#[test]
fn a_folder_from_s3_runs_its_command_line_and_its_output_is_saved_and_uploaded() {
    let server = store();
    let cache = isolated_cache();
    let out = tempfile::tempdir().expect("output dir");
    let (result, output) = command(
        cache.path(),
        &s3_parameters(
            "remote-script",
            "mainFile.py Ada Grace".replace("mainFile", "main").as_str(),
        ),
        &[
            "--output-dir",
            &out.path().display().to_string(),
            "--output-s3-bucket-name",
            "results",
            "--output-s3-key-prefix",
            "runs/",
        ],
        &envs(&server),
    );
    assert_eq!(output.status.code(), Some(0), "{result}");
    assert_eq!(result["Status"], "Success");
    assert_eq!(result["Summary"], json!({"Success": 1}));
    let invocation = &result["Invocations"][0];
    assert_eq!(invocation["ResponseCode"], 0);
    assert_eq!(
        invocation["StandardOutputContent"],
        "hello, Ada\nhello, Grace\n"
    );
    assert_eq!(invocation["Source"]["kind"], "s3");
    let id = result["CommandId"].as_str().expect("command id");
    let local = out
        .path()
        .join(id)
        .join("local/awsrunShellScript/runShellScript/stdout");
    assert_eq!(
        std::fs::read_to_string(&local).expect("stdout file"),
        "hello, Ada\nhello, Grace\n"
    );
    let key = format!("runs/{id}/local/awsrunShellScript/runShellScript/stdout");
    assert_eq!(
        invocation["StandardOutputUrl"],
        format!("s3://results/{key}")
    );
    let uploaded = std::fs::read_to_string(server.root.join("results").join(&key))
        .expect("the uploaded object");
    assert_eq!(uploaded, "hello, Ada\nhello, Grace\n");
}

#[test]
fn on_a_terminal_the_script_output_comes_first_then_one_line_per_target() {
    let server = store();
    let cache = isolated_cache();
    let output = sandrun()
        .env("SANDRUN_CACHE_DIR", cache.path())
        .envs(envs(&server))
        .args([
            "command",
            "run",
            "--document-name",
            "AWS-RunRemoteScript",
            "--parameters",
        ])
        .arg(s3_parameters("remote-script", "main.py Ada fail").to_string())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "hello, Ada\nhello, fail\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("asked to fail\n"), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.contains("Failed")
            && l.contains("local")
            && l.contains("response code   3")),
        "{stderr}"
    );
    assert!(stderr.contains("ended Failed (1 Failed)"), "{stderr}");
}

#[test]
fn a_folder_from_github_runs_in_its_working_directory_which_it_may_write() {
    let root = tempfile::tempdir().expect("root");
    let example = repo().join("examples/remote-script");
    let read = |f: &str| std::fs::read(example.join(f)).expect("example file");
    let (main, init, greet) = (
        read("main.py"),
        read("lib/__init__.py"),
        read("lib/greet.py"),
    );
    let sha = "3333333333333333333333333333333333333333";
    servers::github_repo(
        root.path(),
        "octo",
        "ops",
        &[("main", sha)],
        &[(
            sha,
            &[
                ("scripts/greet/main.py", main.as_slice()),
                ("scripts/greet/lib/__init__.py", init.as_slice()),
                ("scripts/greet/lib/greet.py", greet.as_slice()),
            ],
        )],
    );
    let api = servers::fake_github(root.path(), None, "normal");
    let cache = isolated_cache();
    let work = tempfile::tempdir().expect("work");
    let folder = work.path().join("greeter");
    let info = json!({"owner": "octo", "repository": "ops", "path": "scripts/greet", "getOptions": "branch:main"}).to_string();
    let parameters = json!({
        "sourceType": ["GitHub"], "sourceInfo": [info], "commandLine": ["python3 main.py Lin"],
        "workingDirectory": [folder.display().to_string()], "executionTimeout": ["60"],
    });
    let args = ["--github-api-url", &api.url, "--allow-insecure-http"];
    for _ in 0..2 {
        let (result, output) = command(cache.path(), &parameters, &args, &[]);
        assert_eq!(output.status.code(), Some(0), "{result}");
        assert_eq!(
            result["Invocations"][0]["StandardOutputContent"],
            "hello, Lin\n"
        );
        assert_eq!(result["Invocations"][0]["Source"]["revision"], sha);
    }
    assert!(
        folder.join("lib/greet.py").is_file(),
        "the download lands in the working directory"
    );
    assert_eq!(
        std::fs::read_to_string(folder.join("greeted.txt")).expect("written by the script"),
        "Lin\nLin\n"
    );
}

#[test]
fn output_is_cut_to_run_commands_sizes_but_saved_whole() {
    let server = store();
    let cache = isolated_cache();
    let out = tempfile::tempdir().expect("out");
    let (result, _) = command(
        cache.path(),
        &s3_parameters("noisy", "main.py"),
        &["--output-dir", &out.path().display().to_string()],
        &envs(&server),
    );
    let invocation = &result["Invocations"][0];
    assert_eq!(
        invocation["StandardOutputContent"].as_str().map(str::len),
        Some(24_000)
    );
    assert_eq!(
        invocation["StandardErrorContent"].as_str().map(str::len),
        Some(8_000)
    );
    let saved = std::fs::read_to_string(invocation["StandardOutputUrl"].as_str().expect("url"))
        .expect("stdout");
    assert_eq!(saved.len(), 30_000);
}

#[test]
fn exit_codes_and_timeouts_are_reported_as_run_command_reports_them() {
    let server = store();
    let cache = isolated_cache();
    let (result, output) = command(
        cache.path(),
        &s3_parameters("remote-script", "main.py fail"),
        &[],
        &envs(&server),
    );
    assert_eq!(output.status.code(), Some(1), "{result}");
    let invocation = &result["Invocations"][0];
    assert_eq!(
        (
            invocation["Status"].as_str(),
            invocation["ResponseCode"].as_i64()
        ),
        (Some("Failed"), Some(3))
    );
    assert_eq!(invocation["StandardErrorContent"], "asked to fail\n");

    let mut parameters = s3_parameters("spin", "main.py");
    parameters["executionTimeout"] = json!(["1"]);
    let (result, output) = command(cache.path(), &parameters, &[], &envs(&server));
    assert_eq!(output.status.code(), Some(124), "{result}");
    let invocation = &result["Invocations"][0];
    assert_eq!(invocation["Status"], "TimedOut");
    assert_eq!(invocation["StatusDetails"], "ExecutionTimedOut");
    assert_eq!(invocation["ResponseCode"], -1);
    assert_eq!(invocation["StandardOutputContent"], "spinning\n");
}

#[test]
fn rate_control_limits_concurrency_and_stops_after_max_errors() {
    let server = store();
    let cache = isolated_cache();
    let dir = tempfile::tempdir().expect("dir");
    let targets = dir.path().join("targets.txt");
    let line = |arg: &str| json!({"commandLine": [format!("main.py {arg}")]}).to_string();
    std::fs::write(
        &targets,
        [
            "# one per line",
            &line("10"),
            &line("-1"),
            &line("20"),
            &line("30"),
        ]
        .join("\n"),
    )
    .expect("targets");
    let base = s3_parameters("work", "main.py 1");
    let targets_arg = targets.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["--targets", targets_arg.as_str()];
        args.extend_from_slice(extra);
        command(cache.path(), &base, &args, &envs(&server))
    };
    let statuses = |result: &Value| -> Vec<String> {
        result["Invocations"]
            .as_array()
            .expect("invocations")
            .iter()
            .map(|i| i["Status"].as_str().unwrap_or_default().to_string())
            .collect()
    };

    let (result, output) = run(&["--max-concurrency", "1"]);
    assert_eq!(output.status.code(), Some(1), "{result}");
    assert_eq!(
        statuses(&result),
        ["Success", "Failed", "Cancelled", "Cancelled"]
    );
    assert_eq!(
        result["Summary"],
        json!({"Cancelled": 2, "Failed": 1, "Success": 1})
    );
    assert_eq!(result["Invocations"][0]["StandardOutputContent"], "45\n");

    let (result, _) = run(&["--max-concurrency", "1", "--max-errors", "25%"]);
    assert_eq!(
        statuses(&result),
        ["Success", "Failed", "Success", "Success"]
    );
    assert_eq!(result["Invocations"][3]["StandardOutputContent"], "435\n");
    assert_eq!(result["Status"], "Failed");

    // With two at once, never more than two run at the same time.
    std::fs::write(
        &targets,
        (0..4)
            .map(|_| line("3000000"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .expect("targets");
    let (result, output) = run(&["--max-concurrency", "50%"]);
    assert_eq!(output.status.code(), Some(0), "{result}");
    let spans: Vec<(String, String)> = result["Invocations"]
        .as_array()
        .expect("invocations")
        .iter()
        .map(|i| {
            (
                i["ExecutionStartDateTime"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                i["ExecutionEndDateTime"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    for (start, _) in &spans {
        let running = spans
            .iter()
            .filter(|(s, e)| s <= start && start < e)
            .count();
        assert!(running <= 2, "{running} ran at once: {spans:?}");
    }
}

#[test]
fn bad_parameters_and_missing_sources_are_clear_errors() {
    let server = store();
    let cache = isolated_cache();
    let bad = |parameters: Value, args: &[&str], expected: &str| {
        let (result, output) = command(cache.path(), &parameters, args, &envs(&server));
        assert_eq!(output.status.code(), Some(2), "{result}");
        let text = result.to_string();
        assert!(text.contains(expected), "expected {expected:?} in {text}");
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    };
    bad(
        json!({"sourceType": ["S3"], "commandLine": ["main.py"]}),
        &[],
        "parameter sourceInfo is required",
    );
    let mut parameters = s3_parameters("remote-script", "main.py");
    parameters["executionTimeout"] = json!(["172801"]);
    bad(parameters, &[], "executionTimeout");
    bad(
        s3_parameters("remote-script", "main.py"),
        &["--max-concurrency", "lots"],
        "--max-concurrency",
    );
    bad(
        s3_parameters("absent", "main.py"),
        &[],
        "s3://scripts/absent/",
    );
    bad(s3_parameters("remote-script", "run.sh"), &[], "run.sh");

    let mut run = sandrun();
    let output = run
        .args([
            "command",
            "run",
            "--document-name",
            "AWS-RunShellScript",
            "--parameters",
            "{}",
            "--json",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("sandrun runs AWS-RunRemoteScript locally")
    );
}
