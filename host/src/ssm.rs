//! SSM documents run locally: Automation runbooks (`aws:executeScript`,
//! `aws:sleep`, `aws:branch`, mocked AWS calls) and the
//! `AWS-RunRemoteScript` command document, with the inputs and outputs AWS
//! gives them.

pub mod automation;
pub mod branch;
pub mod clock;
pub mod document;
pub mod interpolate;
pub mod mock;
pub mod parameters;
pub mod rate;
pub mod remote_script;
pub mod selector;
pub mod types;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A unique id in the shape AWS uses (a UUID: 8-4-4-4-12 hex digits),
/// from the time, the process and a counter.
pub fn new_execution_id() -> String {
    use sha2::{Digest, Sha256};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(nanos.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let hex = hex::encode(&hasher.finalize()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Sets `flag` and calls `on_interrupt` when the process gets Ctrl-C
/// (SIGINT), so a run can cancel its scripts and report them cancelled
/// instead of dying with nothing reported.
pub fn cancel_on_interrupt(flag: Arc<AtomicBool>, on_interrupt: impl Fn() + Send + 'static) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
            flag.store(true, Ordering::SeqCst);
            on_interrupt();
        }
    });
}
