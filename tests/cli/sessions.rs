//! Sessions of the runtime library: one instance across calls, with
//! per-call limits, ending cleanly.

use std::time::Duration;

use sandrun_runtime::{Policy, Session, SessionError, SessionOptions, Status};
use serde_json::json;

use crate::harness::python_image;

fn open(options: SessionOptions) -> Session {
    python_image().open_session(options).expect("session")
}

#[test]
fn names_imports_and_scratch_files_carry_over_between_calls() {
    let mut session = open(SessionOptions::default());
    let first = session
        .run("import json\nx = 41\nopen('/tmp/note.txt', 'w').write('kept')")
        .expect("run");
    assert_eq!(first.status, Status::Success, "{first:?}");
    let second = session.run("x + 1").expect("run");
    assert_eq!(second.payload, Some(json!({"value": 42, "repr": "42"})));
    let third = session
        .run("json.dumps({'note': open('/tmp/note.txt').read()})")
        .expect("run");
    assert_eq!(
        third.payload.expect("payload")["value"],
        r#"{"note": "kept"}"#
    );
    assert!(session.scratch_dir().join("note.txt").is_file());
}

#[test]
fn each_call_has_its_own_output_and_a_non_json_value_comes_back_as_repr() {
    let mut session = open(SessionOptions::default());
    let first = session.run("print('a')").expect("run");
    assert_eq!(first.stdout, "a\n");
    let second = session.run("print('b')\n{1, 2}").expect("run");
    assert_eq!(second.stdout, "b\n", "output of the first call leaked");
    assert_eq!(
        second.payload,
        Some(json!({"value": null, "repr": "{1, 2}"}))
    );
}

#[test]
fn an_exception_is_reported_and_the_session_goes_on() {
    let mut session = open(SessionOptions::default());
    session.run("total = 10").expect("run");
    let failed = session.run("total / 0").expect("run");
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.error_type(), Some("ZeroDivisionError"));
    let after = session.run("total").expect("run");
    assert_eq!(after.payload.expect("payload")["value"], 10);
}

#[test]
fn a_call_past_its_deadline_ends_the_session() {
    let options = SessionOptions {
        policy: Policy {
            timeout_ms: 300,
            ..Policy::default()
        },
        ..SessionOptions::default()
    };
    let mut session = open(options);
    let quick = session.run("sum(range(1000))").expect("run");
    assert_eq!(
        quick.status,
        Status::Success,
        "each call gets the whole timeout"
    );
    let stopped = session.run("while True:\n    pass").expect("run");
    assert_eq!(stopped.status, Status::TimedOut);
    match session.run("1") {
        Err(SessionError::Ended(reason)) => assert!(reason.contains("Timeout"), "{reason}"),
        other => panic!("expected an ended session, got {other:?}"),
    }
    assert!(!session.is_open());
}

#[test]
fn an_idle_session_ends() {
    let options = SessionOptions {
        idle_timeout: Duration::from_millis(100),
        ..SessionOptions::default()
    };
    let mut session = open(options);
    session.run("x = 1").expect("run");
    std::thread::sleep(Duration::from_millis(300));
    match session.run("x") {
        Err(SessionError::Ended(reason)) => assert!(reason.contains("idle"), "{reason}"),
        other => panic!("expected an ended session, got {other:?}"),
    }
}
