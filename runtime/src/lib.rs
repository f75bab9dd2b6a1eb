//! Run Python in a WebAssembly sandbox, with enforced limits, from Rust:
//! handlers and scripts in fresh sandboxes, or model-written code in
//! sessions that keep their state, with host tools the code may call.
//!
//! An agent loop — create the runtime once, register a host tool, run
//! model-written code in a session, read the results:
//!
//! ```no_run
//! use std::sync::Arc;
//! use sandrun_runtime::{Runtime, SessionOptions, ToolError, ToolSet};
//!
//! let runtime = Runtime::builder().cache_dir("/tmp/sandrun-cache").build()?;
//! let python = runtime.load_image("/path/to/images/python")?;
//! let tools = ToolSet::new().tool(
//!     "population",
//!     "The population of a city",
//!     serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}}),
//!     |args| match args["city"].as_str() {
//!         Some("Paris") => Ok(serde_json::json!(2_102_650)),
//!         _ => Err(ToolError::new("no data for that city")),
//!     },
//! );
//! let mut session = python.open_session(SessionOptions {
//!     tools: Some(Arc::new(tools)),
//!     ..SessionOptions::default()
//! })?;
//! for code in ["from sandrun import tools", "tools.population(city='Paris') * 2"] {
//!     let result = session.run(code)?;
//!     // stdout, stderr, the last expression's value, or the error to show the model
//!     println!("{:?} {:?} {:?}", result.status, result.payload, result.error);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same loop, with an error the model corrects, is
//! `runtime/examples/agent.rs`. One handler call in a fresh sandbox:
//!
//! ```no_run
//! use sandrun_runtime::{Invocation, Policy, Runtime};
//!
//! // Once per process: the engines and the epoch ticker.
//! let runtime = Runtime::builder().cache_dir("/tmp/sandrun-cache").build()?;
//! // Once per image: compile, or reuse the cached compiled artifact.
//! let python = runtime.load_image("/path/to/images/python")?;
//! // Per call: a fresh sandbox with its own limits.
//! let call = Invocation::handler("examples/hello", "main.handler")
//!     .event(serde_json::json!({"name": "world"}));
//! let policy = Policy { timeout_ms: 5_000, ..Policy::default() };
//! let result = python.run(&call, &policy)?;
//! println!("{:?}: {}", result.status, serde_json::to_string(&result.payload)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same program is `runtime/examples/handler.rs`.
//!
//! # Lifetimes and costs
//! Measured with `sandrun bench` (release build, 2 cores; see the README):
//! * [`Runtime`]: two wasmtime engines (with and without fuel metering),
//!   each with a pool of pre-reserved sandbox slots
//!   ([`RuntimeBuilder::max_instances`]), and a 10 ms epoch ticker thread;
//!   create one per process.
//! * [`GuestImage`]: an interpreter compiled for those engines. Compiling
//!   CPython takes seconds, so with a cache folder the compiled artifact is
//!   written once and memory-mapped by later processes in milliseconds.
//! * [`GuestImage::run`]: a fresh store, WASI context and instance per
//!   invocation, about 4 ms p50 for a trivial Python handler, so no state,
//!   file or output crosses from one invocation to the next. Slots stay
//!   resident between invocations ([`RuntimeBuilder::keep_resident`]), so
//!   sandboxes running at once on several threads do not stall each other.
//! * [`Session`] ([`GuestImage::open_session`]): one instance kept across
//!   calls, like a notebook kernel, with per-call limits; a call of `x + 1`
//!   costs about 0.08 ms.
//!
//! [`Runtime`] and [`GuestImage`] are cheap to clone, `Send` and `Sync`:
//! share one and call [`GuestImage::run`] from as many threads as the pool
//! has slots.
//!
//! # Security model
//! A guest sees only what its [`Policy`] and [`Invocation`] grant: its
//! script folder read-only at `/script`, an empty scratch folder at `/tmp`
//! (deleted afterwards), the image's read-only standard library, the
//! policy's mounts, the invocation's environment variables and argv. It
//! gets no sockets, no host environment, no stdin, and a virtual clock
//! unless [`ClockAccess::Host`] is granted. Paths are resolved by
//! wasmtime-wasi through cap-std, so no path, `..` or symlink leads out of a
//! mount.

#![deny(missing_docs)]

mod clock;
mod error;
mod image;
mod invocation;
mod limiter;
mod outcome;
mod output;
mod policy;
mod protocol;
mod runtime;
mod sandbox;
mod session;
mod tools;

pub use error::RuntimeError;
pub use image::{GuestImage, ImageKind, ImageManifest};
pub use invocation::{Call, Invocation};
pub use outcome::{ErrorInfo, RunResult, Stats, Status, Truncated, error_type};
pub use output::LiveOutput;
pub use policy::{Access, ClockAccess, Mount, Policy, RESERVED_GUEST_PATHS};
pub use runtime::{
    DEFAULT_KEEP_RESIDENT, DEFAULT_MAX_INSTANCES, MAX_MEMORY_BYTES, Runtime, RuntimeBuilder,
};
pub use sandbox::CancelHandle;
pub use session::{Session, SessionError, SessionOptions};
pub use tools::{ToolCall, ToolError, ToolSet};
