//! What one invocation may use: its limits and the host resources it is
//! granted. Everything not granted here is denied.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;

/// Guest paths the runtime mounts itself; a [`Mount`] may not use them.
pub const RESERVED_GUEST_PATHS: &[&str] = &["/script", "/tmp", "/python"];

/// Limits and grants for one invocation.
///
/// The defaults, as [`Policy::default`] sets them:
///
/// * `timeout_ms`: 600 000 (600 s, the `aws:executeScript` maximum); the
///   guest is interrupted within about 10 ms of the deadline.
/// * `fuel`: none. With a value, the guest may execute about that many
///   WebAssembly instructions (CPython burns roughly 18 G per second) and is
///   stopped deterministically when they are spent.
/// * `memory_bytes`: 256 MiB of linear memory, summed over the guest's
///   memories. Growing past it fails inside the guest (Python raises
///   `MemoryError`) and the result reports `MemoryLimitExceeded`.
/// * `stdout_bytes`, `stderr_bytes`: 1 MiB each. Output past the cap is
///   dropped while it streams and the result flags it as truncated.
/// * `payload_bytes`: 102 400 (100 KB). A larger handler result fails with
///   `PayloadTooLarge`.
/// * `list_items`: 100. A handler that returns a longer list gets its first
///   100 items back and the result flags the payload as truncated.
/// * `mounts`: none. The script's own folder is always mounted read-only at
///   `/script` and a fresh, empty scratch folder read-write at `/tmp`.
/// * `clock`: [`ClockAccess::Virtual`]: the guest's wall clock starts at the
///   Unix epoch when the invocation starts, so no host time reaches it.
/// * environment variables: only those of the invocation (plus `TMPDIR=/tmp`).
/// * network: none. Sockets and name lookups are always denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Wall-clock limit for the invocation, in milliseconds.
    pub timeout_ms: u64,
    /// Instruction budget; `None` runs without fuel metering (faster).
    pub fuel: Option<u64>,
    /// Linear-memory limit in bytes.
    pub memory_bytes: u64,
    /// Bytes of standard output kept.
    pub stdout_bytes: usize,
    /// Bytes of standard error kept.
    pub stderr_bytes: usize,
    /// Largest handler payload, in bytes of JSON.
    pub payload_bytes: usize,
    /// Largest list a handler may return before it is cut.
    pub list_items: usize,
    /// Host folders granted to the guest, besides its script and scratch.
    pub mounts: Vec<Mount>,
    /// Which clock the guest sees.
    pub clock: ClockAccess,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeout_ms: 600_000,
            fuel: None,
            memory_bytes: 256 * 1024 * 1024,
            stdout_bytes: 1024 * 1024,
            stderr_bytes: 1024 * 1024,
            payload_bytes: 100 * 1024,
            list_items: 100,
            mounts: Vec::new(),
            clock: ClockAccess::Virtual,
        }
    }
}

impl Policy {
    /// The timeout as a [`Duration`].
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Checks values that cannot work (a zero timeout, a reserved mount
    /// path) before any sandbox is built.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        if self.timeout_ms == 0 {
            return Err(RuntimeError::InvalidPolicy(
                "timeout_ms must be at least 1".into(),
            ));
        }
        if self.memory_bytes < 1024 * 1024 {
            return Err(RuntimeError::InvalidPolicy(format!(
                "memory_bytes is {}; at least 1 MiB is needed",
                self.memory_bytes
            )));
        }
        if self.memory_bytes > crate::runtime::MAX_MEMORY_BYTES {
            return Err(RuntimeError::InvalidPolicy(format!(
                "memory_bytes is {}; a 32-bit guest addresses at most 4 GiB",
                self.memory_bytes
            )));
        }
        for mount in &self.mounts {
            mount.validate()?;
        }
        Ok(())
    }
}

/// A host folder made visible inside the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// The folder on the host.
    pub host: PathBuf,
    /// Where the guest sees it: an absolute path such as `/data`.
    pub guest: String,
    /// Whether the guest may write.
    #[serde(default)]
    pub access: Access,
}

impl Mount {
    /// A read-only mount.
    pub fn read_only(host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        Mount {
            host: host.into(),
            guest: guest.into(),
            access: Access::ReadOnly,
        }
    }

    /// A read-write mount.
    pub fn read_write(host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        Mount {
            host: host.into(),
            guest: guest.into(),
            access: Access::ReadWrite,
        }
    }

    fn validate(&self) -> Result<(), RuntimeError> {
        let fail = |reason: &str| RuntimeError::Mount {
            host: self.host.clone(),
            guest: self.guest.clone(),
            reason: reason.to_string(),
        };
        if !self.guest.starts_with('/') || self.guest == "/" {
            return Err(fail(
                "the guest path must be absolute and not `/`, e.g. `/data`",
            ));
        }
        if self
            .guest
            .split('/')
            .any(|part| part == ".." || part == ".")
        {
            return Err(fail("the guest path may not contain `.` or `..`"));
        }
        let reserved = RESERVED_GUEST_PATHS.iter().find(|reserved| {
            self.guest == **reserved || self.guest.starts_with(&format!("{reserved}/"))
        });
        if let Some(reserved) = reserved {
            return Err(fail(&format!(
                "{reserved} is reserved by sandrun; choose another guest path"
            )));
        }
        if !self.host.is_dir() {
            return Err(fail("the host path is not an existing folder"));
        }
        Ok(())
    }
}

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// The guest may read and list, not write.
    #[default]
    ReadOnly,
    /// The guest may also create, write and delete.
    ReadWrite,
}

/// The clock a guest sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockAccess {
    /// Wall time starts at the Unix epoch when the invocation starts and
    /// advances in real time: durations are right, no host time leaks.
    #[default]
    Virtual,
    /// The host's real wall clock.
    Host,
}
