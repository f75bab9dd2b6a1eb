//! Handler mode, as `aws:executeScript` calls it.

use serde_json::json;

use crate::harness::{error_type, repo, run_json, run_script, script_dir};

#[test]
fn example_handler_returns_its_payload_and_output() {
    let example = repo().join("examples/hello");
    let run = run_json(
        &[
            example.to_str().unwrap(),
            "--handler",
            "main.handler",
            "--payload",
            r#"{"name": "Ada"}"#,
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.result["status"], "success");
    assert_eq!(run.result["payload"]["greeting"], "Hello, Ada!");
    assert_eq!(run.result["payload"]["cwd"], "/script");
    assert_eq!(run.result["stdout"], "hello from the sandbox, Ada\n");
    assert!(run.result["error"].is_null());
    assert!(run.result["image"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn without_json_the_payload_is_pretty_printed_after_the_scripts_output() {
    let example = repo().join("examples/hello");
    let output = crate::harness::run_raw(
        &[
            example.to_str().unwrap(),
            "--handler",
            "main.handler",
            "--payload",
            r#"{"name": "Bo"}"#,
        ],
        None,
        false,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("hello from the sandbox, Bo\n{\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  \"greeting\": \"Hello, Bo!\""),
        "{stdout}"
    );
    assert!(output.status.success());
}

#[test]
fn handler_keeps_the_order_of_returned_keys() {
    let run = run_script(
        "def h(e, c):\n    return {'z': 1, 'a': 2, 'm': 3}\n",
        &["--handler", "h"],
    );
    let text = serde_json::to_string(&run.result["payload"]).unwrap();
    assert_eq!(text, r#"{"z":1,"a":2,"m":3}"#);
}

#[test]
fn context_carries_the_invocation_id_handler_and_remaining_time() {
    let run = run_script(
        "def h(events, context):\n    return {'id': context['invocation_id'], 'exec': context['automation:EXECUTION_ID'],\n            'handler': context['handler'], 'ms': context['remaining_time_ms'],\n            'live': context.get_remaining_time_in_millis()}\n",
        &["--handler", "h", "--timeout", "30"],
    );
    let payload = &run.result["payload"];
    assert_eq!(payload["id"], run.result["invocation_id"]);
    assert_eq!(payload["exec"], run.result["invocation_id"]);
    assert_eq!(payload["handler"], "h");
    assert_eq!(payload["ms"], 30_000);
    let live = payload["live"].as_u64().unwrap();
    assert!(live > 20_000 && live <= 30_000, "remaining {live}");
}

#[test]
fn file_handler_may_be_named_with_its_module() {
    let dir = script_dir(&[("tool.py", "def run(e, c):\n    return e['n'] * 2\n")]);
    let file = dir.path().join("tool.py");
    for handler in ["run", "tool.run"] {
        let run = run_json(
            &[
                file.to_str().unwrap(),
                "--handler",
                handler,
                "--payload",
                r#"{"n": 21}"#,
            ],
            None,
        );
        assert_eq!(
            run.result["payload"], 42,
            "handler {handler}: {}",
            run.result
        );
    }
}

#[test]
fn folder_handler_imports_siblings_and_packages() {
    let dir = script_dir(&[
        (
            "app/main.py",
            "from lib.maths import double\nimport helper\ndef handler(e, c):\n    return {'double': double(e['n']), 'greeting': helper.greet()}\n",
        ),
        ("app/helper.py", "def greet():\n    return 'hi'\n"),
        ("app/lib/__init__.py", ""),
        ("app/lib/maths.py", "def double(n):\n    return 2 * n\n"),
    ]);
    let app = dir.path().join("app");
    let run = run_json(
        &[
            app.to_str().unwrap(),
            "--handler",
            "main.handler",
            "--payload",
            r#"{"n": 5}"#,
        ],
        None,
    );
    assert_eq!(
        run.result["payload"],
        json!({"double": 10, "greeting": "hi"}),
        "{}",
        run.result
    );
}

#[test]
fn zip_attachment_runs_a_module_handler() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attachment.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("script.py", options).unwrap();
    std::io::Write::write_all(
        &mut zip,
        b"from util import tag\ndef main(e, c):\n    return tag(e)\n",
    )
    .unwrap();
    zip.start_file("util/__init__.py", options).unwrap();
    std::io::Write::write_all(&mut zip, b"def tag(e):\n    return {'tagged': e}\n").unwrap();
    zip.finish().unwrap();
    let run = run_json(
        &[
            path.to_str().unwrap(),
            "--handler",
            "script.main",
            "--payload",
            "[1, 2]",
        ],
        None,
    );
    assert_eq!(
        run.result["payload"],
        json!({"tagged": [1, 2]}),
        "{}",
        run.result
    );
}

#[test]
fn yaml_payload_file_becomes_the_event() {
    let dir = script_dir(&[("event.yaml", "instanceId: i-123\ntags:\n  - a\n  - b\n")]);
    let payload = format!("@{}", dir.path().join("event.yaml").display());
    let run = run_script(
        "def h(e, c):\n    return e\n",
        &["--handler", "h", "--payload", &payload],
    );
    assert_eq!(
        run.result["payload"],
        json!({"instanceId": "i-123", "tags": ["a", "b"]})
    );
}

#[test]
fn exception_reports_type_message_and_traceback_with_output() {
    let run = run_script(
        "def h(e, c):\n    print('about to fail')\n    return 1 / 0\n",
        &["--handler", "h"],
    );
    assert_eq!(run.result["status"], "failed");
    assert_eq!(error_type(&run.result), "ZeroDivisionError");
    assert_eq!(run.result["error"]["message"], "division by zero");
    let traceback = run.result["error"]["traceback"].as_str().unwrap();
    assert!(
        traceback.contains("script.py\", line 3, in h"),
        "{traceback}"
    );
    assert!(
        !traceback.contains("sandrun_guest"),
        "the shim's frames are hidden: {traceback}"
    );
    assert_eq!(run.result["stdout"], "about to fail\n");
    assert_eq!(run.code, 1);
}

#[test]
fn syntax_error_is_reported_as_such() {
    let run = run_script("def h(e, c)\n    return 1\n", &["--handler", "h"]);
    assert_eq!(error_type(&run.result), "SyntaxError");
    assert_eq!(run.code, 1);
}

#[test]
fn non_serialisable_result_fails_naming_its_type() {
    let run = run_script(
        "def h(e, c):\n    return {'when': {1, 2}}\n",
        &["--handler", "h"],
    );
    assert_eq!(error_type(&run.result), "PayloadNotSerializable");
    assert!(
        run.result["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'set'"),
        "{}",
        run.result
    );
    assert_eq!(run.code, 1);
}

#[test]
fn missing_handler_function_is_handler_not_found() {
    let run = run_script(
        "def other(e, c):\n    return 1\n",
        &["--handler", "missing"],
    );
    assert_eq!(error_type(&run.result), "HandlerNotFound");
    assert!(
        run.result["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'missing'")
    );
    assert_eq!(run.code, 1);
}

#[test]
fn missing_handler_module_in_a_folder_is_handler_not_found() {
    let dir = script_dir(&[("main.py", "def handler(e, c):\n    return 1\n")]);
    for handler in ["nomodule.handler", "handler"] {
        let run = run_json(&[dir.path().to_str().unwrap(), "--handler", handler], None);
        assert_eq!(
            error_type(&run.result),
            "HandlerNotFound",
            "{handler}: {}",
            run.result
        );
    }
}

#[test]
fn a_module_that_fails_to_import_reports_its_own_error() {
    let dir = script_dir(&[(
        "main.py",
        "import not_installed_anywhere\ndef handler(e, c):\n    return 1\n",
    )]);
    let run = run_json(
        &[dir.path().to_str().unwrap(), "--handler", "main.handler"],
        None,
    );
    assert_eq!(
        error_type(&run.result),
        "ModuleNotFoundError",
        "{}",
        run.result
    );
}

#[test]
fn each_invocation_starts_from_a_clean_interpreter() {
    let dir = script_dir(&[(
        "main.py",
        "import json\ncount = 0\ndef handler(e, c):\n    global count\n    count += 1\n    json.dumps = None\n    return count\n",
    )]);
    for _ in 0..2 {
        let run = run_json(
            &[dir.path().to_str().unwrap(), "--handler", "main.handler"],
            None,
        );
        assert_eq!(run.result["payload"], 1, "state leaked: {}", run.result);
    }
}
