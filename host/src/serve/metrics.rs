//! Prometheus metrics, in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (bucket, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if secs <= *bucket {
                *count += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bucket, count) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bucket}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    invocations: BTreeMap<(String, String), u64>,
    rejected: BTreeMap<(String, String), u64>,
    run_seconds: BTreeMap<String, Histogram>,
    queue_seconds: BTreeMap<String, Histogram>,
    cache_hits: u64,
    cache_misses: u64,
}

/// Every metric the server exports.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One finished invocation.
    pub fn invocation(&self, tenant: &str, status: &str, queue_secs: f64, run_secs: f64) {
        let mut inner = self.lock();
        *inner
            .invocations
            .entry((tenant.to_string(), status.to_string()))
            .or_default() += 1;
        inner
            .run_seconds
            .entry(tenant.to_string())
            .or_default()
            .observe(run_secs);
        inner
            .queue_seconds
            .entry(tenant.to_string())
            .or_default()
            .observe(queue_secs);
    }

    /// A request refused before it ran (`reason`: unauthorized, bad_request,
    /// queue_full, forbidden).
    pub fn rejected(&self, tenant: &str, reason: &str) {
        *self
            .lock()
            .rejected
            .entry((tenant.to_string(), reason.to_string()))
            .or_default() += 1;
    }

    /// A prepared-source cache lookup.
    pub fn source_cache(&self, hit: bool) {
        let mut inner = self.lock();
        if hit {
            inner.cache_hits += 1;
        } else {
            inner.cache_misses += 1;
        }
    }

    /// The exposition text, with the scheduler's gauges.
    pub fn render(&self, queue_depths: &[(String, usize)], running: usize) -> String {
        let inner = self.lock();
        let mut out = String::new();
        out.push_str("# HELP sandrun_invocations_total Invocations that ran, by tenant and status.\n# TYPE sandrun_invocations_total counter\n");
        for ((tenant, status), n) in &inner.invocations {
            let _ = writeln!(
                out,
                "sandrun_invocations_total{{tenant=\"{tenant}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP sandrun_rejected_total Requests refused before running, by tenant and reason.\n# TYPE sandrun_rejected_total counter\n");
        for ((tenant, reason), n) in &inner.rejected {
            let _ = writeln!(
                out,
                "sandrun_rejected_total{{tenant=\"{tenant}\",reason=\"{reason}\"}} {n}"
            );
        }
        out.push_str("# HELP sandrun_run_seconds Time in the sandbox, from guest start to result.\n# TYPE sandrun_run_seconds histogram\n");
        for (tenant, histogram) in &inner.run_seconds {
            histogram.write(
                &mut out,
                "sandrun_run_seconds",
                &format!("tenant=\"{tenant}\""),
            );
        }
        out.push_str("# HELP sandrun_queue_seconds Time waiting for a sandbox slot.\n# TYPE sandrun_queue_seconds histogram\n");
        for (tenant, histogram) in &inner.queue_seconds {
            histogram.write(
                &mut out,
                "sandrun_queue_seconds",
                &format!("tenant=\"{tenant}\""),
            );
        }
        out.push_str("# HELP sandrun_queue_depth Invocations waiting, by tenant.\n# TYPE sandrun_queue_depth gauge\n");
        for (tenant, depth) in queue_depths {
            let _ = writeln!(out, "sandrun_queue_depth{{tenant=\"{tenant}\"}} {depth}");
        }
        let _ = writeln!(
            out,
            "# HELP sandrun_running_sandboxes Sandboxes running now.\n# TYPE sandrun_running_sandboxes gauge\nsandrun_running_sandboxes {running}"
        );
        let _ = writeln!(
            out,
            "# HELP sandrun_source_cache_hits_total Inline and zip sources reused from the prepared-source cache.\n# TYPE sandrun_source_cache_hits_total counter\nsandrun_source_cache_hits_total {}",
            inner.cache_hits
        );
        let _ = writeln!(
            out,
            "# HELP sandrun_source_cache_misses_total Inline and zip sources prepared anew.\n# TYPE sandrun_source_cache_misses_total counter\nsandrun_source_cache_misses_total {}",
            inner.cache_misses
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render() {
        let metrics = Metrics::default();
        metrics.invocation("a", "success", 0.0005, 0.004);
        metrics.invocation("a", "timed_out", 0.0, 2.0);
        metrics.rejected("b", "queue_full");
        let text = metrics.render(&[("a".into(), 3)], 1);
        assert!(text.contains("sandrun_invocations_total{tenant=\"a\",status=\"success\"} 1"));
        assert!(text.contains("sandrun_run_seconds_bucket{tenant=\"a\",le=\"0.005\"} 1"));
        assert!(text.contains("sandrun_run_seconds_bucket{tenant=\"a\",le=\"+Inf\"} 2"));
        assert!(text.contains("sandrun_rejected_total{tenant=\"b\",reason=\"queue_full\"} 1"));
        assert!(text.contains("sandrun_queue_depth{tenant=\"a\"} 3"));
        assert!(text.contains("sandrun_running_sandboxes 1"));
    }
}
