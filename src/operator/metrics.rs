//! The operator's own metrics, in the Prometheus text format — a small
//! hand-rolled registry (counters, one histogram, gauges), rendered on
//! `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::api::status::{BenchmarkStatus, Phase};
use crate::exposition::escape_label;

const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Inner {
    reconciles: BTreeMap<&'static str, u64>,
    errors: BTreeMap<String, u64>,
    buckets: Vec<u64>,
    duration_sum: f64,
    duration_count: u64,
    phases: BTreeMap<(String, String), Phase>,
    results: BTreeMap<(String, String), (f64, Option<f64>)>,
    leader: bool,
}

/// The registry.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// A new, empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one reconcile and its duration; `result` is `ok` or `error`.
    pub fn reconciled(&self, result: &'static str, took: Duration) {
        let mut i = self.lock();
        *i.reconciles.entry(result).or_default() += 1;
        if i.buckets.is_empty() {
            i.buckets = vec![0; BUCKETS.len()];
        }
        let secs = took.as_secs_f64();
        for (n, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                i.buckets[n] += 1;
            }
        }
        i.duration_sum += secs;
        i.duration_count += 1;
    }

    /// Counts an error by reason (`conflict`, `api`, `invalid`, ...).
    pub fn error(&self, reason: &str) {
        *self.lock().errors.entry(reason.to_string()).or_default() += 1;
    }

    /// Records a Benchmark's phase and latest results.
    pub fn observe_status(&self, namespace: &str, name: &str, status: &BenchmarkStatus) {
        let key = (namespace.to_string(), name.to_string());
        let mut i = self.lock();
        i.phases.insert(key.clone(), status.phase);
        if let Some(s) = &status.summary {
            i.results
                .insert(key, (s.request_throughput, s.latency_p99_ms));
        }
    }

    /// Forgets a deleted Benchmark.
    pub fn forget(&self, namespace: &str, name: &str) {
        let key = (namespace.to_string(), name.to_string());
        let mut i = self.lock();
        i.phases.remove(&key);
        i.results.remove(&key);
    }

    /// Whether this replica holds the leader lease.
    pub fn set_leader(&self, leader: bool) {
        self.lock().leader = leader;
    }

    /// The reconcile count of a result (tests).
    pub fn reconcile_count(&self, result: &str) -> u64 {
        self.lock().reconciles.get(result).copied().unwrap_or(0)
    }

    /// The error count of a reason (tests).
    pub fn error_count(&self, reason: &str) -> u64 {
        self.lock().errors.get(reason).copied().unwrap_or(0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let i = self.lock();
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP aifbench_operator_reconciles_total Reconciles by result."
        );
        let _ = writeln!(o, "# TYPE aifbench_operator_reconciles_total counter");
        for r in ["ok", "error"] {
            let _ = writeln!(
                o,
                "aifbench_operator_reconciles_total{{result=\"{r}\"}} {}",
                i.reconciles.get(r).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            o,
            "# HELP aifbench_operator_reconcile_errors_total Reconcile errors by reason."
        );
        let _ = writeln!(o, "# TYPE aifbench_operator_reconcile_errors_total counter");
        for (r, n) in &i.errors {
            let _ = writeln!(
                o,
                "aifbench_operator_reconcile_errors_total{{reason=\"{}\"}} {n}",
                escape_label(r)
            );
        }
        let _ = writeln!(
            o,
            "# HELP aifbench_operator_reconcile_duration_seconds Time spent in one reconcile."
        );
        let _ = writeln!(
            o,
            "# TYPE aifbench_operator_reconcile_duration_seconds histogram"
        );
        for (n, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                o,
                "aifbench_operator_reconcile_duration_seconds_bucket{{le=\"{b}\"}} {}",
                i.buckets.get(n).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            o,
            "aifbench_operator_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            i.duration_count
        );
        let _ = writeln!(
            o,
            "aifbench_operator_reconcile_duration_seconds_sum {}",
            i.duration_sum
        );
        let _ = writeln!(
            o,
            "aifbench_operator_reconcile_duration_seconds_count {}",
            i.duration_count
        );
        let _ = writeln!(o, "# HELP aifbench_benchmarks Benchmarks by phase.");
        let _ = writeln!(o, "# TYPE aifbench_benchmarks gauge");
        let mut by_phase: BTreeMap<&str, u64> = BTreeMap::new();
        for p in i.phases.values() {
            *by_phase.entry(p.as_str()).or_default() += 1;
        }
        for p in [
            Phase::Pending,
            Phase::Launching,
            Phase::WaitingReady,
            Phase::Running,
            Phase::Collecting,
            Phase::Succeeded,
            Phase::Failed,
            Phase::Cancelled,
        ] {
            let _ = writeln!(
                o,
                "aifbench_benchmarks{{phase=\"{p}\"}} {}",
                by_phase.get(p.as_str()).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            o,
            "# HELP aifbench_benchmark_request_throughput Successful requests per second of the latest run."
        );
        let _ = writeln!(o, "# TYPE aifbench_benchmark_request_throughput gauge");
        for ((ns, name), (t, _)) in &i.results {
            let _ = writeln!(
                o,
                "aifbench_benchmark_request_throughput{{namespace=\"{}\",benchmark=\"{}\"}} {t}",
                escape_label(ns),
                escape_label(name)
            );
        }
        let _ = writeln!(
            o,
            "# HELP aifbench_benchmark_latency_p99_milliseconds End-to-end latency p99 of the latest run."
        );
        let _ = writeln!(
            o,
            "# TYPE aifbench_benchmark_latency_p99_milliseconds gauge"
        );
        for ((ns, name), (_, p99)) in &i.results {
            if let Some(p) = p99 {
                let _ = writeln!(
                    o,
                    "aifbench_benchmark_latency_p99_milliseconds{{namespace=\"{}\",benchmark=\"{}\"}} {p}",
                    escape_label(ns),
                    escape_label(name)
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP aifbench_operator_leader 1 while this replica holds the leader lease."
        );
        let _ = writeln!(o, "# TYPE aifbench_operator_leader gauge");
        let _ = writeln!(o, "aifbench_operator_leader {}", u8::from(i.leader));
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::status::ResultsSummary;
    use crate::monitor::parse::parse;

    #[test]
    fn renders_parseable_text() {
        let m = Metrics::new();
        m.reconciled("ok", Duration::from_millis(20));
        m.reconciled("error", Duration::from_secs(20));
        m.error("conflict");
        let st = BenchmarkStatus {
            phase: Phase::Succeeded,
            summary: Some(ResultsSummary {
                request_throughput: 12.5,
                latency_p99_ms: Some(80.0),
                ..Default::default()
            }),
            ..Default::default()
        };
        m.observe_status("ns", "bm", &st);
        let text = m.render();
        assert!(
            text.contains("aifbench_operator_reconciles_total{result=\"ok\"} 1"),
            "{text}"
        );
        assert!(text.contains("aifbench_operator_reconcile_errors_total{reason=\"conflict\"} 1"));
        assert!(text.contains("aifbench_benchmarks{phase=\"Succeeded\"} 1"));
        assert!(text.contains(
            "aifbench_benchmark_request_throughput{namespace=\"ns\",benchmark=\"bm\"} 12.5"
        ));
        assert!(
            text.contains("aifbench_operator_reconcile_duration_seconds_bucket{le=\"0.025\"} 1")
        );
        assert!(
            text.contains("aifbench_operator_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2")
        );
        let parsed = parse(&text);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    }
}
