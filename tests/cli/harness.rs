//! Runs the real `sandrun` binary, sharing one built image between tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The Python image folder, built (or found in the cache) once per test run.
pub fn image_dir() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let output = Command::new(env!("CARGO_BIN_EXE_sandrun"))
            .args(["image", "build", "--quiet"])
            .stderr(Stdio::inherit())
            .output()
            .expect("run sandrun image build");
        assert!(output.status.success(), "sandrun image build failed");
        PathBuf::from(String::from_utf8(output.stdout).expect("utf-8 path").trim())
    })
}

/// `sandrun` with the shared image.
pub fn sandrun() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandrun"));
    command.env("SANDRUN_IMAGE_DIR", image_dir());
    command.env_remove("CI");
    command
}

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What one `sandrun ... --json` printed, parsed.
pub struct JsonRun {
    pub result: Value,
    pub code: i32,
    pub stderr: String,
}

/// Runs `sandrun run <args> --json` with `stdin` and parses its one JSON object.
pub fn run_json(args: &[&str], stdin: Option<&str>) -> JsonRun {
    let output = run_raw(args, stdin, true);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    JsonRun {
        result,
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The one JSON object a `--json` run printed on stdout; panics with both
/// streams when there is none.
pub fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Runs `sandrun run <args>` (plus `--json` when asked) and returns its output.
pub fn run_raw(args: &[&str], stdin: Option<&str>, json: bool) -> Output {
    use std::io::Write;
    let mut command = sandrun();
    command.arg("run").args(args);
    if json {
        command.arg("--json");
    }
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn sandrun");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait for sandrun")
}

/// Runs a script given as text (on stdin) with extra arguments.
pub fn run_script(script: &str, args: &[&str]) -> JsonRun {
    let mut all = vec!["-"];
    all.extend_from_slice(args);
    run_json(&all, Some(script))
}

/// A folder with the given files, for a test's script.
pub fn script_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write script");
    }
    dir
}

/// `result["error"]["type"]`, or "" when there is no error.
pub fn error_type(result: &Value) -> &str {
    result["error"]["type"].as_str().unwrap_or("")
}

/// The cache folder the test run shares (`SANDRUN_CACHE_DIR` or the user's).
pub fn shared_cache_dir() -> PathBuf {
    std::env::var_os("SANDRUN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|dir| dir.join("sandrun")))
        .expect("a cache folder")
}

/// The Python image loaded in-process, reusing the compiled artifact that
/// `sandrun image build` cached.
pub fn python_image() -> sandrun_runtime::GuestImage {
    let runtime = sandrun_runtime::Runtime::builder()
        .cache_dir(shared_cache_dir())
        .build()
        .expect("runtime");
    runtime.load_image(image_dir()).expect("image")
}

/// A fresh, empty sandrun cache folder that still shares the compiled
/// image of the test run (compiling CPython takes seconds), so tests of the
/// source cache start from nothing without recompiling.
pub fn isolated_cache() -> tempfile::TempDir {
    let cache = tempfile::tempdir().expect("temp cache");
    let shared = shared_cache_dir().join("compiled");
    image_dir(); // builds and compiles the image into the shared cache first
    std::os::unix::fs::symlink(&shared, cache.path().join("compiled")).expect("link compiled");
    cache
}
