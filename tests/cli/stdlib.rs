//! Every standard-library module that can work under WASI imports in the
//! sandbox, although the image pre-imports only a few of them.

use crate::harness::run_script;

/// Modules whose C parts CPython's WASI build leaves out: a sandbox has no
/// processes, users, terminals, shared memory, dynamic loading, OpenSSL or
/// compression libraries, and some are for other systems. This list is the
/// README's; anything else that fails to import is a bug.
const UNAVAILABLE_UNDER_WASI: &[&str] = &[
    // processes, subinterpreters, shared memory, debugging other processes
    "_multiprocessing",
    "_posixshmem",
    "_posixsubprocess",
    "_interpchannels",
    "_interpqueues",
    "_interpreters",
    "_remote_debugging",
    "mmap",
    "resource",
    // users, terminals, logging daemons
    "grp",
    "pwd",
    "termios",
    "tty",
    "pty",
    "readline",
    "curses",
    "_curses",
    "_curses_panel",
    "syslog",
    "fcntl",
    // native libraries not built for WASI (hashlib still has its built-in hashes)
    "ssl",
    "_ssl",
    "_hashlib",
    "ctypes",
    "_ctypes",
    "bz2",
    "_bz2",
    "lzma",
    "_lzma",
    "_zstd",
    "_uuid",
    "_dbm",
    "_gdbm",
    "tkinter",
    "_tkinter",
    "turtle",
    // other operating systems
    "msvcrt",
    "nt",
    "winreg",
    "winsound",
    "_winapi",
    "_wmi",
    "_overlapped",
    "_scproxy",
];

const IMPORT_ALL: &str = r#"
import importlib, sys
def handler(event, context):
    failed = {}
    for name in sorted(sys.stdlib_module_names):
        if name in ("antigravity", "this", "idlelib", "turtledemo"):
            continue  # they open a browser or print on import
        try:
            importlib.import_module(name)
        except BaseException as e:
            failed[name] = f"{type(e).__name__}: {e}"
    return {"failed": failed, "count": len(sys.stdlib_module_names)}
"#;

#[test]
fn every_stdlib_module_that_works_under_wasi_imports() {
    let run = run_script(
        IMPORT_ALL,
        &[
            "--handler",
            "handler",
            "--memory",
            "1024",
            "--timeout",
            "300",
        ],
    );
    assert_eq!(run.result["status"], "success", "{}", run.result);
    let failed = run.result["payload"]["failed"]
        .as_object()
        .expect("failed map");
    let unexpected: Vec<String> = failed
        .iter()
        .filter(|(name, _)| !UNAVAILABLE_UNDER_WASI.contains(&name.as_str()))
        .map(|(name, why)| format!("{name}: {why}"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "modules that should import:\n{}",
        unexpected.join("\n")
    );
    assert!(run.result["payload"]["count"].as_u64().unwrap() > 250);
}
