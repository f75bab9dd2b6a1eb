//! The guest's clocks when the host's wall clock is not granted.

use std::time::{Duration, Instant};

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Wall time that starts at the Unix epoch when the invocation starts and
/// advances in real time: `time.time()` measures durations correctly but
/// tells the guest nothing about the host's date.
pub(crate) struct VirtualWallClock {
    start: Instant,
}

impl VirtualWallClock {
    pub(crate) fn new() -> Self {
        VirtualWallClock {
            start: Instant::now(),
        }
    }
}

impl HostWallClock for VirtualWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A monotonic clock that starts at zero for each invocation, so the host's
/// uptime does not leak either.
pub(crate) struct InvocationMonotonicClock {
    start: Instant,
}

impl InvocationMonotonicClock {
    pub(crate) fn new() -> Self {
        InvocationMonotonicClock {
            start: Instant::now(),
        }
    }
}

impl HostMonotonicClock for InvocationMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}
