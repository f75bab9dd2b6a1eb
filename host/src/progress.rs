//! A spinner for long steps (image builds, compilation) on a terminal;
//! silent in JSON mode, in CI and when stderr is not a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress line that may be hidden.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A spinner if a person is watching, otherwise nothing.
    pub fn new(json_mode: bool) -> Progress {
        let watched =
            !json_mode && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = watched.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress { bar }
    }

    /// Shows what is happening now.
    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
    }

    /// Switches to a byte counter for a download of `total` bytes (if known).
    pub fn start_bytes(&self, name: &str, total: Option<u64>) {
        if let Some(bar) = &self.bar {
            let template = if total.is_some() {
                "{spinner} {msg} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})"
            } else {
                "{spinner} {msg} {bytes} ({bytes_per_sec})"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_position(0);
            bar.set_length(total.unwrap_or(0));
            bar.set_message(format!("downloading {name}"));
        }
    }

    /// Counts downloaded bytes.
    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// Back to a spinner after a download.
    pub fn finish_bytes(&self) {
        if let Some(bar) = &self.bar {
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
        }
    }

    /// Prints a line on stderr without tearing the spinner.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
