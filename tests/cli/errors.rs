//! Bad input gets a clear error naming the problem and exit status 2; no
//! panics.

use std::process::Output;

use crate::harness::{run_raw, script_dir};

fn assert_bad_input(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn handler_dir() -> tempfile::TempDir {
    script_dir(&[("main.py", "def handler(e, c):\n    return e\n")])
}

#[test]
fn malformed_payload_is_bad_input() {
    let dir = handler_dir();
    let output = run_raw(
        &[
            dir.path().to_str().unwrap(),
            "--handler",
            "main.handler",
            "--payload",
            "{\"a\": ",
        ],
        None,
        false,
    );
    assert_bad_input(&output, "malformed payload");
}

#[test]
fn missing_payload_file_is_bad_input() {
    let dir = handler_dir();
    let output = run_raw(
        &[
            dir.path().to_str().unwrap(),
            "--handler",
            "main.handler",
            "--payload",
            "@/nonexistent/event.json",
        ],
        None,
        false,
    );
    assert_bad_input(
        &output,
        "cannot read the payload file /nonexistent/event.json",
    );
}

#[test]
fn unknown_runtime_lists_the_supported_ones() {
    let dir = handler_dir();
    let output = run_raw(
        &[
            dir.path().to_str().unwrap(),
            "--handler",
            "main.handler",
            "--runtime",
            "PowerShell 7.4",
        ],
        None,
        false,
    );
    assert_bad_input(&output, "supported runtimes: python");
}

#[test]
fn unsupported_script_extension_is_bad_input() {
    let dir = script_dir(&[("deploy.ps1", "Write-Host hi\n")]);
    let output = run_raw(
        &[dir.path().join("deploy.ps1").to_str().unwrap()],
        None,
        false,
    );
    assert_bad_input(&output, ".ps1");
}

#[test]
fn missing_source_is_bad_input() {
    let output = run_raw(&["/nonexistent/script.py"], None, false);
    assert_bad_input(&output, "cannot open the source /nonexistent/script.py");
}

#[test]
fn missing_command_script_is_bad_input() {
    let dir = handler_dir();
    let output = run_raw(
        &[
            dir.path().to_str().unwrap(),
            "--command-line",
            "absent.py x",
        ],
        None,
        false,
    );
    assert_bad_input(&output, "no script \"absent.py\"");
}

#[test]
fn command_line_leaving_the_folder_is_bad_input() {
    let dir = handler_dir();
    let output = run_raw(
        &[dir.path().to_str().unwrap(), "--command-line", "../main.py"],
        None,
        false,
    );
    assert_bad_input(&output, "no script \"../main.py\"");
}

#[test]
fn folder_without_entry_is_bad_input() {
    let dir = handler_dir();
    let output = run_raw(&[dir.path().to_str().unwrap()], None, false);
    assert_bad_input(&output, "--handler module.function");
}

#[test]
fn corrupt_zip_is_bad_input() {
    let dir = script_dir(&[("broken.zip", "PK\u{3}\u{4} this is not really a zip")]);
    let output = run_raw(
        &[
            dir.path().join("broken.zip").to_str().unwrap(),
            "--handler",
            "main.handler",
        ],
        None,
        false,
    );
    assert_bad_input(&output, "is not a valid zip archive");
}

#[test]
fn zip_entry_escaping_its_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    zip.start_file("../escaped.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, b"print('x')").unwrap();
    zip.finish().unwrap();
    let output = run_raw(
        &[path.to_str().unwrap(), "--handler", "escaped.main"],
        None,
        false,
    );
    assert_bad_input(&output, "refusing entry \"../escaped.py\"");
    assert!(!dir.path().parent().unwrap().join("escaped.py").exists());
}

#[test]
fn zip_symlink_entry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("link.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    zip.add_symlink(
        "passwd",
        "/etc/passwd",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.finish().unwrap();
    let output = run_raw(
        &[path.to_str().unwrap(), "--handler", "main.handler"],
        None,
        false,
    );
    assert_bad_input(&output, "symbolic links are not unpacked");
}

#[test]
fn bad_mounts_are_bad_input() {
    let dir = handler_dir();
    let src = dir.path().to_str().unwrap();
    let output = run_raw(
        &[
            src,
            "--handler",
            "main.handler",
            "--mount",
            "/nonexistent-folder:/data",
        ],
        None,
        false,
    );
    assert_bad_input(&output, "not an existing folder");
    let output = run_raw(
        &[
            src,
            "--handler",
            "main.handler",
            "--mount",
            &format!("{src}:/tmp"),
        ],
        None,
        false,
    );
    assert_bad_input(&output, "/tmp is reserved");
    let output = run_raw(
        &[src, "--handler", "main.handler", "--mount", "nocolon"],
        None,
        false,
    );
    assert_bad_input(&output, "expected HOST:GUEST");
}

#[test]
fn out_of_range_limits_are_bad_input() {
    let dir = handler_dir();
    let src = dir.path().to_str().unwrap();
    let output = run_raw(
        &[src, "--handler", "main.handler", "--timeout", "200000"],
        None,
        false,
    );
    assert_bad_input(&output, "--timeout");
    let output = run_raw(
        &[src, "--handler", "main.handler", "--memory", "0"],
        None,
        false,
    );
    assert_bad_input(&output, "--memory");
}

#[test]
fn bad_input_in_json_mode_still_prints_one_json_object() {
    let dir = handler_dir();
    let output = run_raw(
        &[
            dir.path().to_str().unwrap(),
            "--handler",
            "main.handler",
            "--payload",
            "{",
        ],
        None,
        true,
    );
    assert_eq!(output.status.code(), Some(2));
    let result: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(result["status"], "error");
    assert_eq!(result["error"]["type"], "BadInput");
    assert!(
        result["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed payload")
    );
}
