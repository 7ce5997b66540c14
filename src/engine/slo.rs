//! The service-level objectives (`spec.slo`) checked against the results
//! summary once the report exists.

use crate::api::spec::{SloMetric, SloSpec, SloStat};
use crate::api::status::ResultsSummary;

/// Checks the objectives against the summary; returns the missed ones.
pub fn evaluate_slo(slo: &[SloSpec], s: &ResultsSummary) -> Vec<String> {
    let mut missed = Vec::new();
    for o in slo {
        if let Some(max_rate) = o.max_error_rate {
            let total = s.requests + s.errors;
            let rate = if total == 0 {
                1.0
            } else {
                s.errors as f64 / total as f64
            };
            if rate > max_rate {
                missed.push(format!("error rate {rate:.4} > {max_rate}"));
            }
        }
        if let (Some(metric), Some(max)) = (o.metric, o.max) {
            let value = slo_value(s, metric, o.stat);
            let max_ms = max.get().as_secs_f64() * 1000.0;
            match value {
                Some(v) if v <= max_ms => {}
                Some(v) => {
                    missed.push(format!("{} {:?} {v:.2}ms > {max}", metric.as_str(), o.stat))
                }
                None => missed.push(format!("{} {:?} was not measured", metric.as_str(), o.stat)),
            }
        }
    }
    missed
}

fn slo_value(s: &ResultsSummary, metric: SloMetric, stat: SloStat) -> Option<f64> {
    let p = s.latency_ms.get(metric.as_str())?;
    Some(match stat {
        SloStat::Mean => p.mean,
        SloStat::P50 => p.p50,
        SloStat::P90 => p.p90,
        SloStat::P95 => p.p95,
        SloStat::P99 => p.p99,
    })
}
