//! The memory limit of one store, and what it saw.

use wasmtime::ResourceLimiter;

/// Caps the guest's linear memory (summed over all its memories), records
/// the peak it reached and whether a growth was refused.
///
/// A refused `memory.grow` returns -1 to the guest instead of trapping, so
/// CPython raises an ordinary `MemoryError`, unwinds and still reports its
/// output; the runtime then classifies the failure as `MemoryLimitExceeded`
/// because `denied` is set.
#[derive(Debug)]
pub(crate) struct MemoryMeter {
    limit: usize,
    in_use: usize,
    pub(crate) peak: usize,
    pub(crate) denied: bool,
}

impl MemoryMeter {
    pub(crate) fn new(limit: usize) -> Self {
        MemoryMeter {
            limit,
            in_use: 0,
            peak: 0,
            denied: false,
        }
    }
}

/// Tables hold function references; this bounds them far above what an
/// interpreter needs, so a hostile guest cannot use them to exhaust memory.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryMeter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let after = self.in_use - current.min(self.in_use) + desired;
        if after > self.limit || maximum.is_some_and(|max| desired > max) {
            self.denied = true;
            return Ok(false);
        }
        self.in_use = after;
        self.peak = self.peak.max(after);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_within_the_limit_is_allowed_and_peak_tracked() {
        let mut meter = MemoryMeter::new(100);
        assert!(meter.memory_growing(0, 60, None).unwrap());
        assert!(meter.memory_growing(60, 90, None).unwrap());
        assert_eq!(meter.peak, 90);
        assert!(!meter.denied);
    }

    #[test]
    fn growth_past_the_limit_is_refused_and_recorded() {
        let mut meter = MemoryMeter::new(100);
        assert!(meter.memory_growing(0, 60, None).unwrap());
        // A second memory counts toward the same limit.
        assert!(!meter.memory_growing(0, 50, None).unwrap());
        assert!(meter.denied);
        assert_eq!(meter.peak, 60);
    }
}
