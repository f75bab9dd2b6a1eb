//! Data-driven cases: each folder of `tests/cases/` holds `case.json` (the
//! source, the arguments, what to expect) and the scripts it runs.

use std::path::Path;

use serde_json::Value;

use crate::harness::{repo, run_json};

fn check_case(dir: &Path) -> Result<(), String> {
    let case: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("case.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("case.json: {e}"))?;
    let source = dir.join(case["source"].as_str().ok_or("case.json needs a source")?);
    let mut args = vec![source.to_str().ok_or("path")?.to_string()];
    for arg in case["args"].as_array().ok_or("case.json needs args")? {
        args.push(arg.as_str().ok_or("args are strings")?.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_json(&args, None);
    let expect = &case["expect"];
    let mut problems = Vec::new();
    if let Some(code) = expect.get("code")
        && i64::from(run.code) != code.as_i64().unwrap_or(-1)
    {
        problems.push(format!("exit status {} != {code}", run.code));
    }
    for field in ["status", "payload", "exit_code", "stdout", "stderr"] {
        if let Some(want) = expect.get(field)
            && &run.result[field] != want
        {
            problems.push(format!("{field}: got {} want {want}", run.result[field]));
        }
    }
    if let Some(want) = expect.get("error_type")
        && &run.result["error"]["type"] != want
    {
        problems.push(format!(
            "error type: got {} want {want}",
            run.result["error"]["type"]
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n  result: {}",
            problems.join("\n  "),
            run.result
        ))
    }
}

#[test]
fn every_case_in_tests_cases_passes() {
    let root = repo().join("tests/cases");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("tests/cases")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("case.json").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 6, "the cases folder lost its cases");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|dir| {
            check_case(dir).err().map(|e| {
                format!(
                    "{}: {e}",
                    dir.file_name().unwrap_or_default().to_string_lossy()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}
