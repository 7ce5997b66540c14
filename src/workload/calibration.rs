//! The client states its own error: what an instance's calibration measured
//! ([`Calibration`], in its result file), the run's merge of them
//! ([`CalibrationSummary`], [`summarize`]) and the rule that flags a run
//! ([`flag`]): the calibration's TTFT overhead p99 above [`FLAG_FRACTION`]
//! (5 %) of the TTFT p50 the run measured — the client's own error is then
//! a visible part of what it reports. Pure; the calibration run itself is
//! [`super::calibration_run`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::stats::LatencyStats;

/// The simulator's time to first token during calibration.
pub const KNOWN_TTFT: Duration = Duration::from_millis(20);
/// The simulator's inter-token latency during calibration.
pub const KNOWN_ITL: Duration = Duration::from_millis(5);
/// Warm-up of the calibration run (connections, allocations).
pub const WARMUP: Duration = Duration::from_millis(500);
/// Overhead p99 above this fraction of the measured TTFT p50 flags the run.
pub const FLAG_FRACTION: f64 = 0.05;

/// What an instance's calibration measured (in its result file).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Calibration {
    /// Measured time (after the warm-up), seconds.
    pub duration_s: f64,
    /// Concurrency it ran at (open loop: the in-flight cap).
    pub concurrency: u32,
    /// Requests measured.
    pub requests: u64,
    /// The simulator's TTFT, ms.
    pub known_ttft_ms: f64,
    /// The simulator's ITL, ms.
    pub known_itl_ms: f64,
    /// Measured TTFT minus the known one: mean, ms.
    pub ttft_overhead_mean_ms: f64,
    /// Measured TTFT p99 minus the known one, ms.
    pub ttft_overhead_p99_ms: f64,
    /// Measured ITL minus the known one: mean, ms (absent: not streamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_overhead_mean_ms: Option<f64>,
    /// Measured ITL p99 minus the known one, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_overhead_p99_ms: Option<f64>,
    /// CPU the whole process used per second of wall time (1.0: one core
    /// busy), simulator included.
    pub cpu_cores_used: f64,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// `1 - cpuCoresUsed / cpus`: the share of its CPUs left unused.
    pub cpu_headroom: f64,
    /// Set when the overhead is large next to what the run measured
    /// ([`flag`]); says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagged: Option<String>,
}

/// The merged calibration of all instances (in the summary).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CalibrationSummary {
    /// Instances that calibrated.
    pub instances: u32,
    /// Mean of the instances' mean TTFT overhead, ms.
    pub ttft_overhead_mean_ms: f64,
    /// Largest TTFT overhead p99 of any instance, ms.
    pub ttft_overhead_p99_ms: f64,
    /// Largest ITL overhead p99 of any instance, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_overhead_p99_ms: Option<f64>,
    /// Smallest CPU headroom of any instance.
    pub cpu_headroom_min: f64,
    /// Instances flagged, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flagged: Vec<String>,
    /// The run's warning, when the overhead is large next to the merged TTFT
    /// p50 or any instance was flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Why a run is flagged: the calibration's TTFT overhead p99 above
/// [`FLAG_FRACTION`] of the measured TTFT p50. No TTFT measured: never.
pub fn flag(ttft_overhead_p99_ms: f64, measured_ttft: Option<&LatencyStats>) -> Option<String> {
    let p50 = measured_ttft.filter(|t| t.count > 0)?.p50_ms;
    (ttft_overhead_p99_ms > FLAG_FRACTION * p50).then(|| {
        format!(
            "client overhead: TTFT overhead p99 {ttft_overhead_p99_ms:.2} ms is above {:.0}% of the measured TTFT p50 {p50:.2} ms; the client's own error is part of what it reports",
            FLAG_FRACTION * 100.0
        )
    })
}

/// The calibrations of the instances (`(instance id, calibration)`, those
/// that calibrated) merged, flagged against the merged TTFT
/// (`measured_ttft`); None when no instance calibrated.
pub fn summarize(
    cals: &[(&str, &Calibration)],
    measured_ttft: Option<&LatencyStats>,
) -> Option<CalibrationSummary> {
    if cals.is_empty() {
        return None;
    }
    let n = cals.len() as f64;
    let max = |f: fn(&Calibration) -> f64| cals.iter().map(|(_, c)| f(c)).fold(f64::MIN, f64::max);
    let ttft_p99 = max(|c| c.ttft_overhead_p99_ms);
    let flagged: Vec<String> = cals
        .iter()
        .filter(|(_, c)| c.flagged.is_some())
        .map(|(id, _)| (*id).to_string())
        .collect();
    let warning = flag(ttft_p99, measured_ttft).or_else(|| {
        (!flagged.is_empty()).then(|| {
            format!(
                "client overhead is large next to the latencies measured by {}",
                flagged.join(", ")
            )
        })
    });
    Some(CalibrationSummary {
        instances: u32::try_from(cals.len()).unwrap_or(u32::MAX),
        ttft_overhead_mean_ms: cals
            .iter()
            .map(|(_, c)| c.ttft_overhead_mean_ms)
            .sum::<f64>()
            / n,
        ttft_overhead_p99_ms: ttft_p99,
        itl_overhead_p99_ms: cals
            .iter()
            .filter_map(|(_, c)| c.itl_overhead_p99_ms)
            .reduce(f64::max),
        cpu_headroom_min: cals
            .iter()
            .map(|(_, c)| c.cpu_headroom)
            .fold(f64::MAX, f64::min),
        flagged,
        warning,
    })
}

#[cfg(test)]
#[path = "calibration_tests.rs"]
mod tests;
