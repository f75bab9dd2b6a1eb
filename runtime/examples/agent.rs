//! An agent loop: a runtime created once, a host tool registered, model-
//! written code run in a session, and each result read back — including an
//! error the "model" then corrects.
//!
//! ```sh
//! cargo run -p sandrun-runtime --example agent -- <IMAGE_DIR>
//! ```
//! `sandrun image path` prints IMAGE_DIR (building the image if needed).

use std::sync::Arc;

use sandrun_runtime::{Policy, Runtime, SessionOptions, ToolError, ToolSet};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let image_dir = std::env::args().nth(1).ok_or("usage: agent <IMAGE_DIR>")?;

    // Once per process: engines, then the image (compiled once, then cached).
    let runtime = Runtime::builder()
        .cache_dir(std::env::temp_dir().join("sandrun-example-cache"))
        .build()?;
    let python = runtime.load_image(&image_dir)?;

    // A host tool the model's code may call: JSON arguments in, JSON out.
    let tools = ToolSet::new()
        .tool(
            "population",
            "The population of a city, from the host's data",
            json!({"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}),
            |args| match args["city"].as_str() {
                Some("Paris") => Ok(json!(2_102_650)),
                Some("Lyon") => Ok(json!(522_250)),
                Some(other) => Err(ToolError::new(format!("no data for {other}"))),
                None => Err(ToolError::new("give a city")),
            },
        )
        .max_calls(20);

    // One session per conversation: names and files carry over between calls.
    let mut session = python.open_session(SessionOptions {
        policy: Policy {
            timeout_ms: 10_000,
            ..Policy::default()
        },
        tools: Some(Arc::new(tools)),
        ..SessionOptions::default()
    })?;

    // What a model might write, turn by turn; the second turn has a bug the
    // third fixes after reading the error.
    let turns = [
        "from sandrun import tools\ncities = ['Paris', 'Lyon']",
        "sizes = {c: tools.population(city=c) for c in cties}",
        "sizes = {c: tools.population(city=c) for c in cities}\nsum(sizes.values())",
    ];
    for code in turns {
        let result = session.run(code)?;
        match &result.error {
            None => println!(
                "ok: {}",
                result
                    .payload
                    .as_ref()
                    .map_or(json!(null), |p| p["value"].clone())
            ),
            Some(error) => println!("error for the model: {}: {}", error.kind, error.message),
        }
    }
    Ok(())
}
