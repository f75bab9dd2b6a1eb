//! Every limit in a pair: a script inside it succeeds, a script past it is
//! stopped with a clear status.

use crate::harness::{error_type, run_script};

#[test]
fn timeout_obeyed_lets_the_script_finish() {
    let run = run_script(
        "import time\ntime.sleep(0.05)\nprint('done')\n",
        &["--timeout", "10"],
    );
    assert_eq!(run.result["status"], "success", "{}", run.result);
    assert_eq!(run.result["stdout"], "done\n");
    assert_eq!(run.code, 0);
}

#[test]
fn timeout_violated_reports_timed_out_with_partial_output() {
    let run = run_script(
        "print('started', flush=True)\nwhile True:\n    pass\n",
        &["--timeout", "0.3"],
    );
    assert_eq!(run.result["status"], "timed_out", "{}", run.result);
    assert_eq!(error_type(&run.result), "Timeout");
    assert_eq!(
        run.result["stdout"], "started\n",
        "output before the deadline is kept"
    );
    assert_eq!(run.code, 124);
    let ms = run.result["stats"]["duration_ms"].as_f64().unwrap();
    assert!((300.0..5_000.0).contains(&ms), "stopped after {ms} ms");
}

#[test]
fn without_json_a_limit_names_the_flag_that_raises_it() {
    let output = crate::harness::run_raw(
        &["-", "--memory", "32"],
        Some("x = bytearray(64 * 1024 * 1024)\n"),
        false,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MemoryError"),
        "the traceback is shown: {stderr}"
    );
    assert!(
        stderr.contains(
            "sandrun: MemoryLimitExceeded: the script needed more than its memory limit of 32 MiB"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("(raise it with --memory)"), "{stderr}");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn timeout_stops_a_sleeping_handler() {
    let run = run_script(
        "import time\ndef handler(e, c):\n    time.sleep(60)\n",
        &["--handler", "handler", "--timeout", "0.3"],
    );
    assert_eq!(run.result["status"], "timed_out", "{}", run.result);
    assert_eq!(run.code, 124);
}

#[test]
fn fuel_obeyed_reports_fuel_consumed() {
    let run = run_script("total = sum(range(1000))\n", &["--fuel", "2000000000"]);
    assert_eq!(run.result["status"], "success", "{}", run.result);
    let used = run.result["stats"]["fuel_consumed"].as_u64().unwrap();
    assert!(used > 0 && used < 2_000_000_000, "fuel used: {used}");
}

#[test]
fn fuel_violated_reports_fuel_exhausted() {
    let run = run_script("i = 0\nwhile True:\n    i += 1\n", &["--fuel", "50000000"]);
    assert_eq!(run.result["status"], "failed", "{}", run.result);
    assert_eq!(error_type(&run.result), "FuelExhausted");
    assert_eq!(run.result["stats"]["fuel_consumed"], 50_000_000);
    assert_eq!(run.code, 1);
}

#[test]
fn fuel_is_null_when_not_metered() {
    let run = run_script("pass\n", &[]);
    assert!(
        run.result["stats"]["fuel_consumed"].is_null(),
        "{}",
        run.result
    );
}

#[test]
fn memory_obeyed_allows_allocations_below_the_limit() {
    let run = run_script(
        "data = bytearray(20 * 1024 * 1024)\nprint(len(data))\n",
        &["--memory", "128"],
    );
    assert_eq!(run.result["status"], "success", "{}", run.result);
    let peak = run.result["stats"]["memory_peak_bytes"].as_u64().unwrap();
    assert!(
        peak >= 20 * 1024 * 1024,
        "peak {peak} must include the 20 MiB buffer"
    );
    assert!(peak <= 128 * 1024 * 1024, "peak {peak} is above the limit");
}

#[test]
fn memory_violated_reports_memory_limit_exceeded() {
    let run = run_script(
        "print('before', flush=True)\nchunks = []\nwhile True:\n    chunks.append(bytearray(1024 * 1024))\n",
        &["--memory", "64"],
    );
    assert_eq!(run.result["status"], "failed", "{}", run.result);
    assert_eq!(error_type(&run.result), "MemoryLimitExceeded");
    assert_eq!(run.result["stdout"], "before\n");
    let peak = run.result["stats"]["memory_peak_bytes"].as_u64().unwrap();
    assert!(peak <= 64 * 1024 * 1024, "peak {peak} passed the limit");
    assert_eq!(run.code, 1);
}

#[test]
fn output_obeyed_keeps_everything() {
    let run = run_script("print('x' * 999)\n", &["--max-output", "1000"]);
    assert_eq!(run.result["stdout"].as_str().unwrap().len(), 1000);
    assert_eq!(run.result["truncated"]["stdout"], false);
}

#[test]
fn output_violated_is_cut_and_flagged_while_the_script_goes_on() {
    let run = run_script(
        "import sys\nfor i in range(10000):\n    print('line', i)\n    print('err', i, file=sys.stderr)\nprint('still running')\n",
        &["--max-output", "100"],
    );
    assert_eq!(run.result["status"], "success", "the script is not stopped");
    assert_eq!(run.result["stdout"].as_str().unwrap().len(), 100);
    assert!(
        run.result["stdout"]
            .as_str()
            .unwrap()
            .starts_with("line 0\n")
    );
    assert_eq!(run.result["truncated"]["stdout"], true);
    assert_eq!(run.result["truncated"]["stderr"], true);
}

#[test]
fn payload_obeyed_returns_it_whole() {
    let run = run_script(
        "def handler(e, c):\n    return 'x' * 1000\n",
        &["--handler", "handler", "--max-payload", "1002"],
    );
    assert_eq!(run.result["status"], "success", "{}", run.result);
    assert_eq!(run.result["payload"].as_str().unwrap().len(), 1000);
}

#[test]
fn payload_violated_reports_payload_too_large() {
    let run = run_script(
        "def handler(e, c):\n    print('computed')\n    return {'blob': 'x' * 200000}\n",
        &["--handler", "handler"],
    );
    assert_eq!(run.result["status"], "failed", "{}", run.result);
    assert_eq!(error_type(&run.result), "PayloadTooLarge");
    assert!(run.result["payload"].is_null());
    assert_eq!(run.result["stdout"], "computed\n", "output is kept");
    assert!(
        run.result["error"]["message"]
            .as_str()
            .unwrap()
            .contains("102400")
    );
    assert_eq!(run.code, 1);
}

#[test]
fn list_of_100_items_is_returned_whole() {
    let run = run_script(
        "def handler(e, c):\n    return list(range(100))\n",
        &["--handler", "handler"],
    );
    assert_eq!(run.result["payload"].as_array().unwrap().len(), 100);
    assert_eq!(run.result["truncated"]["payload"], false);
}

#[test]
fn list_over_100_items_is_cut_and_flagged() {
    let run = run_script(
        "def handler(e, c):\n    return list(range(250))\n",
        &["--handler", "handler"],
    );
    assert_eq!(run.result["status"], "success", "{}", run.result);
    let items = run.result["payload"].as_array().unwrap();
    assert_eq!(items.len(), 100);
    assert_eq!(items[99], 99);
    assert_eq!(run.result["truncated"]["payload"], true);
}
