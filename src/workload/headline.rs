//! The headline numbers of a merged summary (`status.results.summary`, the
//! `--summary-file` of `aifbench loadgen`, the termination message): next to
//! the result types so that both the load generator and the report use them.

use super::result::Summary;
use super::stats::LatencyStats;
use crate::api::status::{Percentiles, ResultsSummary, SweepHeadline};

/// The status's headline numbers from a merged summary.
pub fn headline(s: &Summary) -> ResultsSummary {
    let stat = |name: &str, f: fn(&LatencyStats) -> f64| s.latency.get(name).map(f);
    ResultsSummary {
        requests: s.requests,
        errors: s.errors,
        duration_seconds: round3(s.duration_s),
        request_throughput: round3(s.request_throughput),
        output_token_throughput: (s.output_tokens > 0).then(|| round3(s.output_token_throughput)),
        bytes_per_second: s.bytes_throughput.map(round3),
        ttft_p50_ms: stat("ttft", |l| round3(l.p50_ms)),
        ttft_p99_ms: stat("ttft", |l| round3(l.p99_ms)),
        itl_p50_ms: stat("itl", |l| round3(l.p50_ms)),
        latency_p50_ms: stat("e2el", |l| round3(l.p50_ms)),
        latency_p99_ms: stat("e2el", |l| round3(l.p99_ms)),
        latency_ms: s
            .latency
            .iter()
            .map(|(k, l)| {
                (
                    k.clone(),
                    Percentiles {
                        mean: round3(l.mean_ms),
                        p50: round3(l.p50_ms),
                        p90: round3(l.p90_ms),
                        p95: round3(l.p95_ms),
                        p99: round3(l.p99_ms),
                    },
                )
            })
            .collect(),
        approximate: false,
        sweep: s.saturation.as_ref().map(|a| SweepHeadline {
            load_kind: a.load_kind.clone(),
            saturation_load: a.point.as_ref().map(|p| p.load),
            saturation_throughput: a.point.as_ref().map(|p| round3(p.throughput)),
            best_goodput_load: a.best_goodput.as_ref().map(|p| p.load),
            reason: a.reason.clone(),
            stopped_early: a.stopped_early,
        }),
        // From the monitors, filled in by the report (results::gpu).
        gpu: None,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
