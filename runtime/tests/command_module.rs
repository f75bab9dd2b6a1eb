//! The runtime also hosts plain WASI preview-1 command modules (`_start`),
//! the shape of the interpreters that come after Python.

use sandrun_runtime::{GuestImage, Invocation, Policy, Runtime, Status};

/// A command module that prints its first argument's length and exits with 3,
/// or spins forever when it has no argument.
const MODULE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from p1\n")
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    ;; argc counts the prefix and the script; more than two means an argument
    (if (i32.le_u (i32.load (i32.const 0)) (i32.const 2))
      (then (loop $spin (br $spin))))
    ;; iovec at 100: pointer 16, length 14
    (i32.store (i32.const 100) (i32.const 16))
    (i32.store (i32.const 104) (i32.const 14))
    (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 200)))
    (call $proc_exit (i32.const 3))))
"#;

fn image(dir: &std::path::Path) -> GuestImage {
    std::fs::write(
        dir.join("module.wasm"),
        wat::parse_str(MODULE).expect("valid WAT"),
    )
    .expect("write the module");
    std::fs::write(
        dir.join("image.json"),
        r#"{"format": 1, "name": "p1-test", "language_version": "0", "kind": "command",
            "module": "module.wasm", "argv_prefix": ["p1"], "digest": "sha256:test"}"#,
    )
    .expect("write the manifest");
    Runtime::builder()
        .build()
        .expect("runtime")
        .load_image(dir)
        .expect("image")
}

#[test]
fn command_module_output_and_exit_code_are_reported() {
    let image_dir = tempfile::tempdir().unwrap();
    let scripts = tempfile::tempdir().unwrap();
    std::fs::write(scripts.path().join("main.p1"), "").unwrap();
    let image = image(image_dir.path());
    let call = Invocation::command(scripts.path(), ["main.p1", "arg"]);
    let result = image.run(&call, &Policy::default()).unwrap();
    assert_eq!(result.stdout, "hello from p1\n");
    assert_eq!(result.exit_code, Some(3));
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.image, "sha256:test");
}

#[test]
fn command_module_past_its_deadline_is_timed_out() {
    let image_dir = tempfile::tempdir().unwrap();
    let scripts = tempfile::tempdir().unwrap();
    std::fs::write(scripts.path().join("main.p1"), "").unwrap();
    let image = image(image_dir.path());
    let call = Invocation::command(scripts.path(), ["main.p1"]);
    let policy = Policy {
        timeout_ms: 200,
        ..Policy::default()
    };
    let result = image.run(&call, &policy).unwrap();
    assert_eq!(result.status, Status::TimedOut);
    assert_eq!(result.error_type(), Some("Timeout"));
}

#[test]
fn command_module_refuses_handler_calls() {
    let image_dir = tempfile::tempdir().unwrap();
    let scripts = tempfile::tempdir().unwrap();
    let image = image(image_dir.path());
    let call = Invocation::handler(scripts.path(), "main.handler");
    let error = image.run(&call, &Policy::default()).unwrap_err();
    assert!(error.to_string().contains("runs commands only"), "{error}");
}

#[test]
fn cancel_handle_stops_a_spinning_guest() {
    let image_dir = tempfile::tempdir().unwrap();
    let scripts = tempfile::tempdir().unwrap();
    std::fs::write(scripts.path().join("main.p1"), "").unwrap();
    let image = image(image_dir.path());
    let cancel = sandrun_runtime::CancelHandle::new();
    let canceller = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            cancel.cancel();
        })
    };
    let call = Invocation::command(scripts.path(), ["main.p1"]);
    let result = image
        .run_cancellable(&call, &Policy::default(), &cancel)
        .unwrap();
    canceller.join().unwrap();
    assert_eq!(result.status, Status::Cancelled);
    assert_eq!(result.error_type(), Some("Cancelled"));
}

#[test]
fn a_full_instance_pool_is_an_error_and_a_freed_slot_is_reused() {
    let image_dir = tempfile::tempdir().unwrap();
    let scripts = tempfile::tempdir().unwrap();
    std::fs::write(scripts.path().join("main.p1"), "").unwrap();
    image(image_dir.path());
    let image = Runtime::builder()
        .max_instances(1)
        .build()
        .expect("runtime")
        .load_image(image_dir.path())
        .expect("image");
    let spinning = Invocation::command(scripts.path(), ["main.p1"]);
    let cancel = sandrun_runtime::CancelHandle::new();
    std::thread::scope(|scope| {
        let first = scope.spawn(|| image.run_cancellable(&spinning, &Policy::default(), &cancel));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let second = image.run(
            &Invocation::command(scripts.path(), ["main.p1", "arg"]),
            &Policy::default(),
        );
        cancel.cancel();
        let refused = second.expect("a result");
        assert_eq!(refused.status, Status::Failed);
        let error = refused.error.expect("an error");
        assert_eq!(error.kind, sandrun_runtime::error_type::CAPACITY_EXCEEDED);
        assert!(error.message.contains("max_instances"), "{}", error.message);
        assert_eq!(first.join().unwrap().unwrap().status, Status::Cancelled);
    });
    let again = image
        .run(
            &Invocation::command(scripts.path(), ["main.p1", "arg"]),
            &Policy::default(),
        )
        .expect("the slot is free again");
    assert_eq!(again.exit_code, Some(3));
}

#[test]
fn memory_beyond_what_a_32_bit_guest_addresses_is_refused() {
    let policy = Policy {
        memory_bytes: sandrun_runtime::MAX_MEMORY_BYTES + 1,
        ..Policy::default()
    };
    assert!(policy.validate().unwrap_err().to_string().contains("4 GiB"));
}
