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
