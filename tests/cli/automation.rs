//! `sandrun automation run` on the runbooks in `examples/runbooks/` and on
//! small runbooks written by the tests for each documented error path.

use std::path::PathBuf;
use std::process::{Output, Stdio};

use serde_json::{Value, json};

use crate::harness::{json_of, repo, sandrun};

fn example(name: &str) -> String {
    repo()
        .join("examples/runbooks")
        .join(name)
        .display()
        .to_string()
}

/// `sandrun automation run <args> --json`: the record and the output.
fn automation(args: &[&str], envs: &[(&str, &str)]) -> (Value, Output) {
    let mut command = sandrun();
    command.args(["automation", "run"]).args(args).arg("--json");
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().expect("run sandrun automation");
    let record = json_of(&output);
    (record, output)
}

fn steps(record: &Value) -> Vec<(String, String)> {
    record["StepExecutions"]
        .as_array()
        .expect("StepExecutions")
        .iter()
        .map(|s| {
            (
                s["StepName"].as_str().unwrap_or_default().to_string(),
                s["StepStatus"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// A runbook written to a temporary folder.
fn runbook(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("runbook.yaml");
    std::fs::write(&path, text).expect("write runbook");
    (dir, path)
}

fn bad_input(args: &[&str], expected: &str) {
    let (record, output) = automation(args, &[]);
    assert_eq!(output.status.code(), Some(2), "{record}");
    assert_eq!(record["status"], "error", "{record}");
    let message = record["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(expected),
        "expected {expected:?} in {message:?}"
    );
}

#[test]
fn tag_instance_builds_the_request_from_interpolated_inputs() {
    let (record, output) = automation(
        &[
            &example("tag-instance.yaml"),
            "-p",
            "InstanceId=i-0123456789abcdef0",
            "-p",
            "ExtraTags={\"Team\": \"infra\", \"Cost\": 7}",
            "--region",
            "eu-west-3",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{record}");
    assert_eq!(record["Status"], "Success");
    assert_eq!(record["DocumentName"], "tag-instance");
    assert_eq!(record["Outputs"]["tagInstance.TagCount"], 3);
    assert_eq!(
        record["Outputs"]["tagInstance.Request"],
        json!({"Resources": ["i-0123456789abcdef0"], "Tags": [
            {"Key": "Env", "Value": "dev"}, {"Key": "Cost", "Value": "7"}, {"Key": "Team", "Value": "infra"}]})
    );
    let step = &record["StepExecutions"][0];
    let id = record["AutomationExecutionId"].as_str().expect("an id");
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(
        step["Inputs"]["InputPayload"]["requestedBy"],
        format!("automation {id} in eu-west-3")
    );
    assert_eq!(step["Inputs"]["InputPayload"]["extra"]["Cost"], 7);
    assert_eq!(
        step["Stdout"],
        "tagging i-0123456789abcdef0: Env=dev, Cost=7, Team=infra\n"
    );
    assert_eq!(step["Response"]["Payload"]["tagCount"], 3);
}

#[test]
fn pipeline_passes_outputs_between_steps_and_shows_each_step_on_a_terminal_line() {
    let (record, _) = automation(&[&example("pipeline.yaml"), "-p", "Numbers=4, 5, 6"], &[]);
    assert_eq!(record["Status"], "Success", "{record}");
    assert_eq!(
        record["Outputs"],
        json!({"total.Sum": 15, "report.Line": "Totals: 3 numbers add up to 15"})
    );
    assert_eq!(
        record["StepExecutions"][1]["Inputs"]["InputPayload"]["values"],
        json!(["4", "5", "6"])
    );
    assert_eq!(
        record["StepExecutions"][2]["Outputs"]["Payload"]["mean"],
        5.0
    );

    let output = sandrun()
        .args([
            "automation",
            "run",
            &example("pipeline.yaml"),
            "--parameters",
            "{\"Numbers\": [\"1\", \"2\"], \"Title\": \"Sum\"}",
        ])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for name in ["parse", "total", "report"] {
        assert!(
            stderr.lines().any(|l| l.contains("Success")
                && l.contains(name)
                && l.contains("aws:executeScript")
                && l.ends_with(" ms")),
            "{stderr}"
        );
    }
    assert!(stderr.contains("| Sum: 2 numbers add up to 3"), "{stderr}");
    assert!(stderr.contains("ended Success"), "{stderr}");
    let outputs: Value = serde_json::from_str(&stdout).expect("outputs as JSON on stdout");
    assert_eq!(outputs["total.Sum"], 3);
}

#[test]
fn branch_takes_the_path_its_choices_pick() {
    let cases = [
        (vec!["-p", "Items=a,b"], "oneByOne"),
        (vec!["-p", "Items=a,b,c,d,e"], "bulk"),
        (vec!["-p", "Items=a", "-p", "Mode=bulk"], "bulk"),
        (vec!["-p", "Items="], "nothingToDo"),
    ];
    for (params, path) in cases {
        let mut args = vec![example("branch.yaml")];
        args.extend(params.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (record, _) = automation(&args, &[]);
        assert_eq!(record["Status"], "Success", "{record}");
        assert_eq!(
            steps(&record),
            pairs(&[
                ("measure", "Success"),
                ("route", "Success"),
                (path, "Success")
            ]),
            "{params:?}"
        );
        assert_eq!(record["StepExecutions"][1]["NextStep"], path);
    }
}

#[test]
fn a_failing_step_is_retried_then_recovered_through_on_failure() {
    let (record, output) = automation(&[&example("recovery.yaml"), "-p", "Fail=true"], &[]);
    assert_eq!(output.status.code(), Some(0), "{record}");
    assert_eq!(record["Status"], "Success");
    assert_eq!(
        steps(&record),
        pairs(&[
            ("migrate", "Failed"),
            ("rollback", "Success"),
            ("done", "Success")
        ])
    );
    let migrate = &record["StepExecutions"][0];
    assert_eq!(migrate["Attempts"], 2);
    assert_eq!(
        migrate["FailureMessage"],
        "RuntimeError: the schema change was refused"
    );
    assert!(
        migrate["Traceback"]
            .as_str()
            .unwrap_or_default()
            .contains("line 3, in migrate")
    );
    assert_eq!(
        record["StepExecutions"][1]["Stdout"],
        "restoring version 1\n"
    );

    let (record, _) = automation(&[&example("recovery.yaml")], &[]);
    assert_eq!(
        steps(&record),
        pairs(&[("migrate", "Success"), ("done", "Success")])
    );
    assert_eq!(record["StepExecutions"][0]["Attempts"], 1);
}

#[test]
fn a_step_past_its_timeout_ends_the_execution_timed_out() {
    let (record, output) = automation(&[&example("timeout.yaml")], &[]);
    assert_eq!(output.status.code(), Some(124), "{record}");
    assert_eq!(record["Status"], "TimedOut");
    assert_eq!(steps(&record), pairs(&[("spin", "TimedOut")]));
    let spin = &record["StepExecutions"][0];
    assert_eq!(
        spin["Stdout"], "starting to spin\n",
        "output before the timeout is kept"
    );
    assert!(
        spin["FailureMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("timeout of 1 s")
    );
    assert!(
        record["FailureMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("spin timed out")
    );
}

#[test]
fn a_zip_attachment_with_a_package_runs_and_its_checksum_is_checked() {
    let rows =
        "{\"Rows\": [{\"name\": \"apples\", \"count\": 3}, {\"name\": \"kiwis\", \"count\": 12}]}";
    let (record, _) = automation(&[&example("attachment.json"), "--parameters", rows], &[]);
    assert_eq!(record["Status"], "Success", "{record}");
    assert_eq!(
        record["Outputs"],
        json!({"format.Lines": 2, "format.Widest": 6})
    );
    assert_eq!(
        record["StepExecutions"][0]["Stdout"],
        "apples      3\nkiwis      12\n"
    );

    // The same document beside a different zip: the checksum stops it.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("attachments")).expect("mkdir");
    std::fs::copy(
        example("attachment.json"),
        dir.path().join("attachment.json"),
    )
    .expect("copy");
    std::fs::write(
        dir.path().join("attachments/report.zip"),
        zip_of(&[("main.py", "def handler(e, c): return 1\n")]),
    )
    .expect("zip");
    let (record, output) = automation(
        &[
            &dir.path().join("attachment.json").display().to_string(),
            "--parameters",
            rows,
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{record}");
    let message = record["StepExecutions"][0]["FailureMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("sha256") && message.contains("update the checksum"),
        "{message}"
    );
}

#[test]
fn the_committed_attachment_zip_holds_its_source_folder() {
    let source = repo().join("examples/runbooks/attachments/report-src");
    let file =
        std::fs::File::open(repo().join("examples/runbooks/attachments/report.zip")).expect("zip");
    let mut archive = zip::ZipArchive::new(file).expect("a zip");
    let mut names = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).expect("entry");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).expect("read entry");
        let on_disk = std::fs::read_to_string(source.join(entry.name())).expect("the source file");
        assert_eq!(
            text,
            on_disk,
            "{} differs from report-src; rebuild the zip",
            entry.name()
        );
        names.push(entry.name().to_string());
    }
    names.sort();
    assert_eq!(names, ["main.py", "report/__init__.py", "report/format.py"]);
}

fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut buffer);
    for (name, text) in files {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start file");
        std::io::Write::write_all(&mut writer, text.as_bytes()).expect("write");
    }
    writer.finish().expect("finish");
    buffer.into_inner()
}

#[test]
fn aws_api_steps_run_from_a_mock_and_are_refused_without_one() {
    bad_input(
        &[&example("mocked-api.yaml")],
        "aws:executeAwsApi is not supported locally",
    );
    let (record, output) = automation(
        &[
            &example("mocked-api.yaml"),
            "--mock",
            &example("mocked-api.mock.yaml"),
            "--no-sleep",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{record}");
    assert_eq!(
        record["Outputs"],
        json!({"plan.Restart": ["i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb"], "plan.Count": 2})
    );
    let describe = &record["StepExecutions"][0];
    assert_eq!(describe["Mocked"], true);
    assert_eq!(
        describe["Outputs"]["InstanceIds"],
        json!(["i-0bbbbbbbbbbbbbbbb", "i-0aaaaaaaaaaaaaaaa"])
    );
    assert_eq!(describe["Inputs"]["Filters"][0]["Values"], json!(["dev"]));
    assert_eq!(record["StepExecutions"][2]["Response"]["Waited"], false);
    assert_eq!(
        record["StepExecutions"][3]["Inputs"]["InstanceIds"],
        json!(["i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb"])
    );

    let dir = tempfile::tempdir().expect("dir");
    let mock = dir.path().join("mock.yaml");
    std::fs::write(
        &mock,
        "describeInstances:\n  Status: Failed\n  FailureMessage: RequestLimitExceeded\nstartInstances:\n  Response: {}\n",
    )
    .expect("mock");
    let (record, output) = automation(
        &[
            &example("mocked-api.yaml"),
            "--mock",
            &mock.display().to_string(),
            "--no-sleep",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{record}");
    assert_eq!(steps(&record), pairs(&[("describeInstances", "Failed")]));
    assert!(
        record["FailureMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("RequestLimitExceeded")
    );

    std::fs::write(&mock, "describeInstance:\n  Response: {}\n").expect("mock");
    bad_input(
        &[
            &example("mocked-api.yaml"),
            "--mock",
            &mock.display().to_string(),
        ],
        "describeInstance",
    );
}

#[test]
fn bad_parameters_are_refused_before_any_step_runs() {
    let tag = example("tag-instance.yaml");
    bad_input(
        &[&tag],
        "parameter InstanceId ((Required) The ID of the EC2 instance to tag.) is required",
    );
    bad_input(&[&tag, "-p", "InstanceId=web-1"], "allowedPattern");
    bad_input(
        &[
            &tag,
            "-p",
            "InstanceId=i-0123456789abcdef0",
            "-p",
            "Environment=test",
        ],
        "allowedValues (dev, staging, prod)",
    );
    bad_input(
        &[
            &tag,
            "-p",
            "InstanceId=i-0123456789abcdef0",
            "-p",
            "ExtraTags=[1]",
        ],
        "expected a StringMap",
    );
    bad_input(
        &[
            &tag,
            "-p",
            "InstanceId=i-0123456789abcdef0",
            "-p",
            "Colour=red",
        ],
        "no parameter Colour",
    );
    bad_input(&[&example("pipeline.yaml"), "-p", "Numbers="], "minItems");
    bad_input(
        &[&example("recovery.yaml"), "-p", "Fail=maybe"],
        "expected a Boolean",
    );
}

#[test]
fn document_mistakes_name_what_is_wrong() {
    let script = |body: &str| {
        format!(
            "schemaVersion: '0.3'\nparameters:\n  Name: {{type: String, default: x}}\nmainSteps:\n{body}"
        )
    };
    let cases = [
        (
            script(
                "  - name: s\n    action: aws:executeScript\n    inputs: {Runtime: python3.11, Handler: h, Script: 'def h(e, c): pass', InputPayload: {v: '{{ Nmae }}'}}\n",
            ),
            "{{ Nmae }} is not a declared parameter (parameters: Name)",
        ),
        (
            script(
                "  - name: s\n    action: aws:executeScript\n    inputs: {Runtime: python3.11, Handler: h, Script: 'def h(e, c): pass', InputPayload: {v: '{{ first.Count }}'}}\n",
            ),
            "names step \"first\", which does not exist",
        ),
        (
            script(
                "  - name: s\n    action: aws:executeScript\n    inputs: {Runtime: python3.11, Handler: h, Script: 'def h(e, c): pass', InputPayload: {v: '{{ global:TODAY }}'}}\n",
            ),
            "global:TODAY",
        ),
        (
            script(
                "  - name: s\n    action: aws:executeScript\n    inputs: {Runtime: python3.11, Handler: h, Script: 'x'}\n    outputs: [{Name: n, Selector: 'Payload.n', Type: Integer}]\n",
            ),
            "selector \"Payload.n\" is not valid JSONPath",
        ),
        (
            script(
                "  - name: s\n    action: aws:runCommand\n    inputs: {DocumentName: AWS-RunShellScript}\n",
            ),
            "aws:runCommand is not supported locally",
        ),
        (
            script(
                "  - name: s\n    action: aws:executeScript\n    timeoutSeconds: 900\n    inputs: {Runtime: python3.11, Handler: h, Script: 'x'}\n",
            ),
            "timeoutSeconds 900",
        ),
        (
            script(
                "  - name: s\n    action: aws:executeScript\n    inputs: {Runtime: PowerShell 7.0, Handler: h, Script: 'x'}\n",
            ),
            "PowerShell is not available",
        ),
        (
            script(
                "  - name: s\n    action: aws:sleep\n    onFailure: step:nowhere\n    inputs: {Duration: PT1S}\n",
            ),
            "onFailure names step \"nowhere\"",
        ),
        (
            "schemaVersion: '2.2'\nmainSteps: []\n".to_string(),
            "sandrun command run",
        ),
        ("mainSteps: [\n".to_string(), "not valid YAML"),
    ];
    for (text, expected) in cases {
        let (_dir, path) = runbook(&text);
        bad_input(&[&path.display().to_string()], expected);
    }
}

#[test]
fn outputs_that_match_nothing_or_have_the_wrong_type_fail_their_step() {
    let doc = |selector: &str, kind: &str| {
        format!(
            "schemaVersion: '0.3'\nmainSteps:\n- name: s\n  action: aws:executeScript\n  inputs:\n    Runtime: python3.11\n    Handler: h\n    Script: |-\n      def h(events, context):\n          return {{'count': 'three', 'n': 3}}\n  outputs:\n  - {{Name: Out, Selector: '{selector}', Type: {kind}}}\n"
        )
    };
    let cases = [
        (
            doc("$.Payload.count", "Integer"),
            "output Out (selector $.Payload.count, Type Integer): expected an Integer, got \"three\"",
        ),
        (
            doc("$.Payload.missing", "String"),
            "the selector $.Payload.missing matched nothing",
        ),
        (doc("$.Payload.n", "StringList"), "expected a StringList"),
    ];
    for (text, expected) in cases {
        let (_dir, path) = runbook(&text);
        let (record, output) = automation(&[&path.display().to_string()], &[]);
        assert_eq!(output.status.code(), Some(1), "{record}");
        assert_eq!(record["Status"], "Failed");
        let message = record["StepExecutions"][0]["FailureMessage"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains(expected),
            "expected {expected:?} in {message:?}"
        );
    }
}

#[test]
fn continue_and_is_critical_decide_the_final_status() {
    let doc = |critical: &str| {
        format!(
            "schemaVersion: '0.3'\nmainSteps:\n- name: fails\n  action: aws:executeScript\n  onFailure: Continue\n{critical}  inputs: {{Runtime: python3.11, Handler: h, Script: 'def h(e, c): return 1 / 0'}}\n- name: after\n  action: aws:sleep\n  inputs: {{Duration: PT0S}}\n"
        )
    };
    let (_dir, path) = runbook(&doc(""));
    let (record, output) = automation(&[&path.display().to_string()], &[]);
    assert_eq!(output.status.code(), Some(0), "{record}");
    assert_eq!(
        steps(&record),
        pairs(&[("fails", "Failed"), ("after", "Success")])
    );
    assert_eq!(record["StepExecutions"][0]["IsCritical"], false);

    let (_dir, path) = runbook(&doc("  isCritical: true\n"));
    let (record, output) = automation(&[&path.display().to_string()], &[]);
    assert_eq!(output.status.code(), Some(1), "{record}");
    assert_eq!(record["Status"], "Failed");
    assert_eq!(
        steps(&record),
        pairs(&[("fails", "Failed"), ("after", "Success")])
    );
    assert!(
        record["FailureMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("ZeroDivisionError")
    );
}

#[test]
fn sleep_waits_until_its_timeout_and_undefined_step_outputs_fail_at_run_time() {
    let (_dir, path) = runbook(
        "schemaVersion: '0.3'\nmainSteps:\n\
         - {name: first, action: aws:branch, inputs: {Choices: [{NextStep: third, Variable: 'x', StringEquals: 'x'}]}}\n\
         - {name: second, action: aws:executeScript, inputs: {Runtime: python3.11, Handler: h, Script: 'def h(e, c): return 1'}}\n\
         - {name: third, action: aws:executeScript, inputs: {Runtime: python3.11, Handler: h, Script: 'def h(e, c): return e', InputPayload: {v: '{{ second.Payload }}'}}}\n",
    );
    let (record, _) = automation(&[&path.display().to_string()], &[]);
    assert_eq!(
        steps(&record),
        pairs(&[("first", "Success"), ("third", "Failed")])
    );
    let message = record["StepExecutions"][1]["FailureMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("step second has not run successfully"),
        "{message}"
    );

    let (_dir, path) = runbook(
        "schemaVersion: '0.3'\nmainSteps:\n- {name: wait, action: aws:sleep, timeoutSeconds: 1, inputs: {Duration: PT1H}}\n",
    );
    let (record, output) = automation(&[&path.display().to_string()], &[]);
    assert_eq!(output.status.code(), Some(124), "{record}");
    let step = &record["StepExecutions"][0];
    assert_eq!(step["StepStatus"], "TimedOut");
    assert!(
        step["DurationMs"].as_u64().unwrap_or_default() >= 1000,
        "{step}"
    );
}

#[test]
fn timestamps_in_the_past_do_not_wait_and_jump_cycles_are_stopped() {
    let (_dir, path) = runbook(
        "schemaVersion: '0.3'\nmainSteps:\n- {name: until, action: aws:sleep, inputs: {Timestamp: '2020-01-01T00:00:00Z'}}\n",
    );
    let (record, _) = automation(&[&path.display().to_string()], &[]);
    assert_eq!(record["Status"], "Success", "{record}");
    assert_eq!(
        record["StepExecutions"][0]["Response"]["Duration"],
        "PT0.000S"
    );

    let (_dir, path) = runbook(
        "schemaVersion: '0.3'\nmainSteps:\n\
         - {name: ping, action: aws:sleep, nextStep: pong, inputs: {Duration: PT0S}}\n\
         - {name: pong, action: aws:sleep, nextStep: ping, inputs: {Duration: PT0S}}\n",
    );
    let (record, output) = automation(&[&path.display().to_string()], &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        record["FailureMessage"]
    );
    assert_eq!(
        record["StepExecutions"].as_array().map(Vec::len),
        Some(1000)
    );
    assert!(
        record["FailureMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("cycle")
    );
}

#[test]
fn secrets_reach_the_script_but_never_the_record() {
    let (_dir, path) = runbook(
        "schemaVersion: '0.3'\nparameters:\n  Token: {type: String, default: '{{ssm-secure:api-token}}'}\nmainSteps:\n\
         - name: use\n  action: aws:executeScript\n  inputs:\n    Runtime: python3.11\n    Handler: h\n\
         \x20   InputPayload: {token: '{{ Token }}', header: 'Bearer {{ssm-secure:api-token}}'}\n\
         \x20   Script: |-\n      def h(events, context):\n          return {'length': len(events['token']), 'bearer': events['header'].startswith('Bearer s3')}\n",
    );
    let (record, output) = automation(
        &[&path.display().to_string()],
        &[("SANDRUN_SECRET_API_TOKEN", "s3cr3t-value")],
    );
    assert_eq!(record["Status"], "Success", "{record}");
    assert_eq!(
        record["StepExecutions"][0]["Response"]["Payload"],
        json!({"length": 12, "bearer": true})
    );
    assert_eq!(
        record["StepExecutions"][0]["Inputs"]["InputPayload"],
        json!({"token": "****", "header": "Bearer ****"})
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains("s3cr3t-value"), "the secret leaked: {all}");

    let (record, output) = automation(&[&path.display().to_string()], &[]);
    assert_eq!(output.status.code(), Some(1), "{record}");
    let message = record["StepExecutions"][0]["FailureMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("SANDRUN_SECRET_API_TOKEN"), "{message}");
}

#[test]
fn ctrl_c_cancels_a_running_script_and_still_reports_the_execution() {
    let (_dir, path) = runbook(
        "schemaVersion: '0.3'\nmainSteps:\n\
         - name: spin\n  action: aws:executeScript\n  inputs:\n    Runtime: python3.11\n    Handler: h\n\
         \x20   Script: |-\n      def h(events, context):\n          print('spinning', flush=True)\n          while True:\n              pass\n\
         - {name: never, action: aws:sleep, inputs: {Duration: PT0S}}\n",
    );
    let child = sandrun()
        .args(["automation", "run", &path.display().to_string(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_secs(2));
    interrupt(child.id());
    let output = child.wait_with_output().expect("wait");
    let record: Value =
        serde_json::from_slice(&output.stdout).expect("one JSON record after Ctrl-C");
    assert_eq!(output.status.code(), Some(130), "{record}");
    assert_eq!(record["Status"], "Cancelled");
    assert_eq!(steps(&record), pairs(&[("spin", "Cancelled")]));
    assert_eq!(record["StepExecutions"][0]["Stdout"], "spinning\n");
}

fn interrupt(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

#[test]
fn input_payload_text_never_reads_host_files_and_is_end_stops_after_a_failure() {
    let (_dir, path) = runbook(
        "schemaVersion: '0.3'\nmainSteps:\n\
         - name: peek\n  action: aws:executeScript\n  onFailure: Continue\n  isEnd: true\n\
         \x20 inputs: {Runtime: python3.11, Handler: h, Script: 'def h(e, c): return e', InputPayload: '@/etc/passwd'}\n\
         - {name: after, action: aws:sleep, inputs: {Duration: PT0S}}\n",
    );
    let (record, _) = automation(&[&path.display().to_string()], &[]);
    assert_eq!(steps(&record), pairs(&[("peek", "Failed")]), "{record}");
    let message = record["StepExecutions"][0]["FailureMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("neither JSON nor YAML"), "{message}");
    assert!(
        !record.to_string().contains("root:"),
        "a host file was read"
    );
}
