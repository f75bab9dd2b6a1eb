//! Host tools through the library: the guest calls `sandrun.tools`, the
//! host validates, gates, runs, caps and records each call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sandrun_runtime::{Invocation, Policy, SessionOptions, Status, ToolError, ToolSet};
use serde_json::json;

use crate::harness::{python_image, script_dir};

fn tools(ran: Arc<AtomicUsize>) -> Arc<ToolSet> {
    Arc::new(
        ToolSet::new()
            .tool(
                "lookup",
                "The population of a city",
                json!({"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"], "additionalProperties": false}),
                move |args| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    match args["city"].as_str() {
                        Some("Paris") => Ok(json!({"city": "Paris", "population": 2_100_000})),
                        Some(other) => Err(ToolError::internal(
                            format!("no data for {other}"),
                            "cities table has no row; query took 3 ms",
                        )),
                        None => Err(ToolError::new("city is missing")),
                    }
                },
            )
            .gate(|_, args| {
                if args["city"] == "Atlantis" {
                    Err("that city is off limits".into())
                } else {
                    Ok(())
                }
            })
            .max_calls(5),
    )
}

const SCRIPT: &str = r#"
from sandrun import tools, ToolError

def handler(event, context):
    out = {"paris": tools.lookup(city="Paris")["population"]}
    for bad in ({"city": 7}, {"city": "Atlantis"}, {"city": "Lyon"}, {"town": "x"}):
        try:
            tools.lookup(**bad)
        except ToolError as error:
            out[str(bad)] = str(error)
    try:
        tools.lookup(city="Paris")
    except ToolError as error:
        out["sixth"] = str(error)
    try:
        tools.missing
    except AttributeError as error:
        out["missing"] = str(error)
    return out
"#;

#[test]
fn guest_code_calls_host_tools_that_are_validated_gated_capped_and_recorded() {
    let image = python_image();
    let dir = script_dir(&[("main.py", SCRIPT)]);
    let ran = Arc::new(AtomicUsize::new(0));
    let call = Invocation::handler(dir.path(), "main.handler").tools(tools(ran.clone()));
    let result = image.run(&call, &Policy::default()).expect("run");
    assert_eq!(result.status, Status::Success, "{:?}", result.error);
    let out = result.payload.expect("payload");
    assert_eq!(out["paris"], 2_100_000);
    assert!(
        out["{'city': 7}"]
            .as_str()
            .unwrap_or_default()
            .contains("must be of type string"),
        "{out}"
    );
    assert_eq!(
        out["{'city': 'Atlantis'}"],
        "lookup was refused: that city is off limits"
    );
    assert_eq!(
        out["{'city': 'Lyon'}"], "no data for Lyon",
        "the guest sees the safe message"
    );
    assert!(
        out["{'town': 'x'}"]
            .as_str()
            .unwrap_or_default()
            .contains("arguments.city is required"),
        "{out}"
    );
    // The host function ran only for the calls that passed validation and the gate.
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    let lyon = result
        .tool_calls
        .iter()
        .find(|c| c.arguments == json!({"city": "Lyon"}))
        .expect("recorded");
    assert_eq!(
        lyon.detail.as_deref(),
        Some("cities table has no row; query took 3 ms")
    );
    assert_eq!(result.tool_calls.len(), 6);
    assert!(
        out["sixth"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 5 times"),
        "{out}"
    );
    assert_eq!(
        out["missing"],
        "no host tool 'missing'; the tools are: lookup"
    );
}

#[test]
fn help_shows_the_tools_and_a_run_without_tools_has_none() {
    let image = python_image();
    let mut session = image
        .open_session(SessionOptions {
            tools: Some(tools(Arc::new(AtomicUsize::new(0)))),
            ..SessionOptions::default()
        })
        .expect("session");
    let result = session
        .run("from sandrun import tools\nhelp(tools)")
        .expect("help");
    assert!(
        result.stdout.contains("lookup(city: string)"),
        "{}",
        result.stdout
    );
    assert!(
        result.stdout.contains("The population of a city"),
        "{}",
        result.stdout
    );
    let result = session
        .run("tools.lookup(city='Paris')['population']")
        .expect("call");
    assert_eq!(result.payload.expect("payload")["value"], 2_100_000);
    assert_eq!(
        result.tool_calls.len(),
        1,
        "calls are recorded per session call"
    );

    let dir = script_dir(&[(
        "main.py",
        "from sandrun import tools\ntools.lookup(city='Paris')\n",
    )]);
    let bare = image
        .run(
            &Invocation::command(dir.path(), ["main.py"]),
            &Policy::default(),
        )
        .expect("run");
    assert_eq!(bare.status, Status::Failed);
    assert!(
        bare.stderr.contains("none are registered"),
        "{}",
        bare.stderr
    );
}
