//! The escape battery: everything a script might try to reach outside its
//! sandbox is denied, and each denial is checked on its own.

use std::io::Read;
use std::net::TcpListener;

use serde_json::Value;

use crate::harness::{run_json, run_script, script_dir};

/// Runs `body` (a Python expression list per probe) and returns the
/// handler's payload: probe name → "denied: <error>" or "allowed: <value>".
fn probes(body: &str, extra: &[&str]) -> Value {
    let script = format!(
        r#"
import os, socket, sys
def probe(fn):
    try:
        return "allowed: " + repr(fn())[:200]
    except BaseException as e:
        return "denied: " + type(e).__name__ + ": " + str(e)[:200]
def handler(event, context):
    return {{
{body}
    }}
"#
    );
    let mut args = vec!["--handler", "handler"];
    args.extend_from_slice(extra);
    let run = run_script(&script, &args);
    assert_eq!(run.result["status"], "success", "{}", run.result);
    run.result["payload"].clone()
}

fn assert_denied(results: &Value, name: &str) {
    let outcome = results[name].as_str().unwrap_or_default();
    assert!(
        outcome.starts_with("denied"),
        "{name} was not denied: {outcome}"
    );
}

#[test]
fn host_files_by_absolute_path_are_denied() {
    let results = probes(
        r#"        "passwd": probe(lambda: open("/etc/passwd").read()),
        "root": probe(lambda: os.listdir("/")),
        "home": probe(lambda: os.listdir("/root")),"#,
        &[],
    );
    for name in ["passwd", "root", "home"] {
        assert_denied(&results, name);
    }
}

#[test]
fn dot_dot_out_of_a_mount_is_denied() {
    let results = probes(
        r#"        "script_up": probe(lambda: os.listdir("/script/..")),
        "script_passwd": probe(lambda: open("/script/../../etc/passwd").read()),
        "tmp_up": probe(lambda: open("/tmp/../etc/passwd").read()),
        "relative": probe(lambda: open("../../../../etc/passwd").read()),"#,
        &[],
    );
    for name in ["script_up", "script_passwd", "tmp_up", "relative"] {
        assert_denied(&results, name);
    }
}

#[test]
fn symlinks_made_in_scratch_do_not_lead_outside() {
    let results = probes(
        r#"        "made": probe(lambda: (os.symlink("/etc", "/tmp/etc"), os.symlink("../../../../etc/passwd", "/tmp/pw"))),
        "follow_dir": probe(lambda: os.listdir("/tmp/etc")),
        "follow_file": probe(lambda: open("/tmp/pw").read()),"#,
        &[],
    );
    assert_denied(&results, "follow_dir");
    assert_denied(&results, "follow_file");
}

#[test]
fn proc_and_dev_are_not_there() {
    let results = probes(
        r#"        "environ": probe(lambda: open("/proc/self/environ").read()),
        "cmdline": probe(lambda: open("/proc/1/cmdline").read()),
        "dev": probe(lambda: os.listdir("/dev")),"#,
        &[],
    );
    for name in ["environ", "cmdline", "dev"] {
        assert_denied(&results, name);
    }
}

#[test]
fn host_environment_variables_do_not_reach_the_guest() {
    let script = "import os\ndef handler(e, c):\n    return dict(os.environ)\n";
    let dir = script_dir(&[("main.py", script)]);
    let output = crate::harness::sandrun()
        .env("SANDRUN_TEST_SECRET", "hunter2")
        .args(["run"])
        .arg(dir.path())
        .args([
            "--handler",
            "main.handler",
            "--env",
            "GRANTED=yes",
            "--json",
        ])
        .output()
        .expect("run sandrun");
    let result: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(
        result["payload"],
        serde_json::json!({"GRANTED": "yes", "TMPDIR": "/tmp"}),
        "only granted variables and TMPDIR"
    );
}

#[test]
fn sockets_cannot_connect_even_to_a_listening_host_port() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let results = probes(
        &format!(
            r#"        "tcp": probe(lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2)),
        "dns": probe(lambda: socket.getaddrinfo("localhost", 80)),
        "udp": probe(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", {port}))),"#
        ),
        &[],
    );
    for name in ["tcp", "dns", "udp"] {
        assert_denied(&results, name);
    }
    // Nothing reached the host's listener.
    let accepted = listener.accept();
    assert!(accepted.is_err(), "the guest connected to the host");
}

#[test]
fn the_script_folder_is_read_only() {
    let dir = script_dir(&[(
        "main.py",
        "def handler(e, c):\n    try:\n        open('/script/new.txt', 'w').write('x')\n        return 'written'\n    except OSError as err:\n        return type(err).__name__\n",
    )]);
    let run = run_json(
        &[dir.path().to_str().unwrap(), "--handler", "main.handler"],
        None,
    );
    assert_eq!(run.result["status"], "success", "{}", run.result);
    assert_ne!(run.result["payload"], "written");
    assert!(
        !dir.path().join("new.txt").exists(),
        "the host folder was written"
    );
}

#[test]
fn scratch_is_writable_and_deleted_afterwards() {
    let run = run_script(
        "import os, tempfile\ndef handler(e, c):\n    path = os.path.join(tempfile.gettempdir(), 'note.txt')\n    open(path, 'w').write('hi')\n    return [path, open(path).read(), os.environ['TMPDIR']]\n",
        &["--handler", "handler"],
    );
    assert_eq!(
        run.result["payload"],
        serde_json::json!(["/tmp/note.txt", "hi", "/tmp"])
    );
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .expect("list temp")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("note.txt").exists())
        .count();
    assert_eq!(
        leftovers, 0,
        "a scratch folder with note.txt was left behind"
    );
}

#[test]
fn granted_mounts_are_visible_with_their_access() {
    let data = script_dir(&[("in.txt", "from the host")]);
    let out = tempfile::tempdir().expect("out dir");
    let ro = format!("{}:/data", data.path().display());
    let rw = format!("{}:/out:rw", out.path().display());
    let results = probes(
        r#"        "read": probe(lambda: open("/data/in.txt").read()),
        "write_ro": probe(lambda: open("/data/new.txt", "w").write("x")),
        "write_rw": probe(lambda: open("/out/result.txt", "w").write("written")),"#,
        &["--mount", &ro, "--mount", &rw],
    );
    assert_eq!(results["read"], "allowed: 'from the host'");
    assert!(
        results["write_ro"].as_str().unwrap().starts_with("denied"),
        "{results}"
    );
    let mut written = String::new();
    std::fs::File::open(out.path().join("result.txt"))
        .expect("result.txt written through the rw mount")
        .read_to_string(&mut written)
        .expect("read");
    assert_eq!(written, "written");
    assert!(!data.path().join("new.txt").exists());
}

#[test]
fn the_clock_is_virtual_unless_granted() {
    let script = "import time\ndef handler(e, c):\n    return time.time()\n";
    let hidden = run_script(script, &["--handler", "handler"]);
    let seconds = hidden.result["payload"].as_f64().unwrap();
    assert!(seconds < 3600.0, "the host's clock leaked: {seconds}");
    let granted = run_script(script, &["--handler", "handler", "--allow-clock"]);
    let seconds = granted.result["payload"].as_f64().unwrap();
    assert!(
        seconds > 1.7e9,
        "the granted clock is not the host's: {seconds}"
    );
}
