//! Runs `examples/hello/main.py`'s handler once in a fresh sandbox.
//!
//! ```sh
//! cargo run -p sandrun-runtime --example handler -- <IMAGE_DIR> [SCRIPT_DIR]
//! ```
//! `sandrun image path` prints IMAGE_DIR (building the image if needed).

use sandrun_runtime::{Invocation, Policy, Runtime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let image_dir = args
        .next()
        .ok_or("usage: handler <IMAGE_DIR> [SCRIPT_DIR]")?;
    let script_dir = args.next().unwrap_or_else(|| "examples/hello".into());

    let runtime = Runtime::builder()
        .cache_dir(std::env::temp_dir().join("sandrun-example-cache"))
        .build()?;
    let python = runtime.load_image(&image_dir)?;
    let call = Invocation::handler(script_dir, "main.handler")
        .event(serde_json::json!({"name": "example"}));
    let policy = Policy {
        timeout_ms: 5_000,
        ..Policy::default()
    };
    let result = python.run(&call, &policy)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
