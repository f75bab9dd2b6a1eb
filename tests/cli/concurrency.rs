//! Many invocations on several threads at once stay isolated: no state,
//! file or output crosses between them.

use std::collections::BTreeSet;

use sandrun_runtime::{Invocation, Policy};
use serde_json::json;

use crate::harness::{python_image, script_dir};

const SCRIPT: &str = r#"
import os, sys
seen = []
def handler(event, context):
    me = event["id"]
    before = sorted(os.listdir("/tmp"))
    open(f"/tmp/{me}.txt", "w").write(me)
    seen.append(me)
    print(f"out {me}")
    print(f"err {me}", file=sys.stderr)
    sys.modules["json"].marker = me
    return {"id": me, "tmp_before": before, "seen": seen, "invocation": context["invocation_id"]}
"#;

#[test]
fn parallel_invocations_share_no_state_files_or_output() {
    let image = python_image();
    let dir = script_dir(&[("main.py", SCRIPT)]);
    let threads = 8;
    let per_thread = 6;
    let ids: Vec<BTreeSet<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let image = image.clone();
                let dir = dir.path().to_path_buf();
                scope.spawn(move || {
                    let mut invocation_ids = BTreeSet::new();
                    for i in 0..per_thread {
                        let me = format!("t{t}-{i}");
                        let call =
                            Invocation::handler(&dir, "main.handler").event(json!({"id": me}));
                        let result = image.run(&call, &Policy::default()).expect("run");
                        assert!(result.is_success(), "{result:?}");
                        let payload = result.payload.expect("payload");
                        assert_eq!(payload["id"], me);
                        assert_eq!(
                            payload["tmp_before"],
                            json!([]),
                            "scratch of another invocation seen"
                        );
                        assert_eq!(payload["seen"], json!([me]), "module state crossed");
                        assert_eq!(result.stdout, format!("out {me}\n"));
                        assert_eq!(result.stderr, format!("err {me}\n"));
                        invocation_ids
                            .insert(payload["invocation"].as_str().expect("id").to_string());
                    }
                    invocation_ids
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let all: BTreeSet<&String> = ids.iter().flatten().collect();
    assert_eq!(
        all.len(),
        threads * per_thread,
        "invocation ids must be unique"
    );
}
