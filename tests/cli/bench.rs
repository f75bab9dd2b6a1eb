//! `sandrun bench` reports every row it promises (its figures are measured
//! by running it, not by this test).

use crate::harness::{repo, sandrun};

#[test]
fn bench_reports_sandbox_session_native_and_process_rows() {
    let example = repo().join("examples/hello");
    let output = sandrun()
        .arg("bench")
        .arg(&example)
        .args(["--handler", "main.handler", "--payload", r#"{"name": "b"}"#])
        .args([
            "--iterations",
            "3",
            "--native-iterations",
            "1",
            "--process-iterations",
            "1",
            "--mcp-iterations",
            "2",
            "--json",
        ])
        .output()
        .expect("run sandrun bench");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(report["sandbox"]["runs"], 3);
    assert_eq!(report["session_call"]["runs"], 3);
    assert_eq!(report["native_python"]["runs"], 1);
    assert_eq!(report["sandrun_process"]["runs"], 1);
    assert_eq!(report["mcp_fresh"]["runs"], 2);
    assert_eq!(report["mcp_session"]["runs"], 2);
    for ratio in ["speedup_vs_native", "process_vs_native"] {
        assert!(
            report[ratio].as_f64().is_some_and(|r| r > 0.0),
            "{ratio}: {report}"
        );
    }
}
