//! GPU telemetry summarised over a measurement window (pure).
//!
//! Reads DCGM-exporter-named series from a monitor's parsed scrapes — a
//! dcgm-exporter, the simulator's `--gpus`, or the `nvidia-smi` sampler
//! ([`super::nvidia_smi`]), which all write the same names — and summarises
//! each GPU (one per monitor target and `UUID`, else `gpu` label) over a
//! window: mean and max utilisation, max memory used, mean and max power,
//! and the energy in joules. Energy comes from the
//! `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION` counter (mJ), read at the window's
//! ends by linear interpolation between the scrapes around them, when every
//! scrape of that GPU has it and it never goes down; otherwise from the
//! trapezoid integral of `DCGM_FI_DEV_POWER_USAGE` over the window. Energy
//! per output token and per request divide the energy of all GPUs by the
//! clients' counts of the same window.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::parse::MetricFamily;
use super::scrape::ParsedRecord;

/// GPU utilisation (%).
pub const UTIL: &str = "DCGM_FI_DEV_GPU_UTIL";
/// Framebuffer memory used (MiB).
pub const FB_USED: &str = "DCGM_FI_DEV_FB_USED";
/// Framebuffer memory free (MiB).
pub const FB_FREE: &str = "DCGM_FI_DEV_FB_FREE";
/// Power draw (W).
pub const POWER: &str = "DCGM_FI_DEV_POWER_USAGE";
/// Energy since boot (mJ), a counter.
pub const ENERGY: &str = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION";

/// One scrape of one GPU.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GpuPoint {
    /// When it was scraped, ms since the Unix epoch.
    pub t_ms: i64,
    /// Utilisation (%).
    pub util: Option<f64>,
    /// Memory used (MiB).
    pub fb_used: Option<f64>,
    /// Power (W).
    pub power: Option<f64>,
    /// Energy counter (mJ).
    pub energy_mj: Option<f64>,
}

/// One GPU's scrapes, in time order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GpuSeries {
    /// The monitor target it was scraped from.
    pub target: String,
    /// The `gpu` label (index on its host).
    pub gpu: String,
    /// The `UUID` label, if any.
    pub uuid: Option<String>,
    /// The `modelName` label, if any.
    pub model_name: Option<String>,
    /// Its scrapes.
    pub points: Vec<GpuPoint>,
}

/// A measurement window, ms since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Start.
    pub start_ms: i64,
    /// End (after the start).
    pub end_ms: i64,
}

impl Window {
    fn seconds(self) -> f64 {
        (self.end_ms - self.start_ms) as f64 / 1000.0
    }
}

/// What the clients did in a window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Work {
    /// Output tokens.
    pub output_tokens: u64,
    /// Successful requests.
    pub requests: u64,
}

/// How the energy was obtained.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum EnergySource {
    /// The energy counter's difference (every GPU).
    EnergyCounter,
    /// The trapezoid integral of power (every GPU).
    PowerIntegral,
    /// Counter for some GPUs, power integral for others.
    Mixed,
}

/// One GPU over a window.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GpuStats {
    /// Monitor target.
    pub target: String,
    /// `gpu` label.
    pub gpu: String,
    /// `UUID` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// `modelName` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// Scrapes inside the window.
    pub samples: usize,
    /// Mean utilisation of the scrapes in the window (%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_utilization_percent: Option<f64>,
    /// Highest utilisation (%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_utilization_percent: Option<f64>,
    /// Highest memory used (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_used_mib: Option<f64>,
    /// Mean power over the window: energy / duration (W).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_power_watts: Option<f64>,
    /// Highest power scraped (W).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_power_watts: Option<f64>,
    /// Energy over the window (J).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_joules: Option<f64>,
    /// Where the energy came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_source: Option<EnergySource>,
}

/// All GPUs over one window (the run's measured window, or a stage's).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GpuWindowSummary {
    /// Window start, ms since the Unix epoch.
    pub start_unix_ms: i64,
    /// Window length (s).
    pub duration_seconds: f64,
    /// GPUs seen.
    pub gpus: usize,
    /// Mean utilisation over GPUs and scrapes (%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_utilization_percent: Option<f64>,
    /// Highest utilisation of any GPU (%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_utilization_percent: Option<f64>,
    /// Highest memory used by any GPU (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_used_mib: Option<f64>,
    /// Mean power of all GPUs together (W): energy / duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_power_watts: Option<f64>,
    /// Highest power of any one GPU (W).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_power_watts: Option<f64>,
    /// Energy of all GPUs over the window (J).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_joules: Option<f64>,
    /// Where the energy came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_source: Option<EnergySource>,
    /// Output tokens the clients counted in the window.
    pub output_tokens: u64,
    /// Successful requests in the window.
    pub requests: u64,
    /// Energy per output token (J).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_per_output_token_joules: Option<f64>,
    /// Energy per successful request (J).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_per_request_joules: Option<f64>,
    /// Each GPU.
    pub per_gpu: Vec<GpuStats>,
}

/// The `gpu` section of `summary.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GpuSummary {
    /// Over the clients' measured window.
    pub total: GpuWindowSummary,
    /// Over each stage's window, when the run had stages whose windows are
    /// known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<GpuWindowSummary>,
}

/// The GPUs in `records` (any monitor, any target), each with its scrapes
/// in time order; empty when no DCGM series was scraped.
pub fn gpu_series<'a>(records: impl IntoIterator<Item = &'a ParsedRecord>) -> Vec<GpuSeries> {
    let mut by_key: BTreeMap<(String, String), GpuSeries> = BTreeMap::new();
    for r in records {
        let Some(t_ms) = parse_ts(&r.ts) else {
            continue;
        };
        let mut here: BTreeMap<(String, String), GpuPoint> = BTreeMap::new();
        for f in &r.families {
            let field: fn(&mut GpuPoint, f64) = match f.name.as_str() {
                UTIL => |p, v| p.util = Some(v),
                FB_USED => |p, v| p.fb_used = Some(v),
                POWER => |p, v| p.power = Some(v),
                ENERGY => |p, v| p.energy_mj = Some(v),
                _ => continue,
            };
            for s in family_samples(f) {
                if !s.value.is_finite() {
                    continue;
                }
                let gpu = s.label("gpu").unwrap_or("0").to_string();
                let id = s.label("UUID").map_or_else(|| gpu.clone(), str::to_string);
                let key = (r.target.clone(), id);
                let series = by_key.entry(key.clone()).or_insert_with(|| GpuSeries {
                    target: r.target.clone(),
                    gpu,
                    uuid: s.label("UUID").map(str::to_string),
                    model_name: s.label("modelName").map(str::to_string),
                    points: Vec::new(),
                });
                if series.model_name.is_none() {
                    series.model_name = s.label("modelName").map(str::to_string);
                }
                let p = here.entry(key).or_insert(GpuPoint {
                    t_ms,
                    ..GpuPoint::default()
                });
                field(p, s.value);
            }
        }
        for (key, p) in here {
            if let Some(series) = by_key.get_mut(&key) {
                series.points.push(p);
            }
        }
    }
    let mut out: Vec<GpuSeries> = by_key.into_values().collect();
    for s in &mut out {
        s.points.sort_by_key(|p| p.t_ms);
    }
    out
}

/// The samples of a family under its own name (a counter may be written
/// with or without `_total`).
fn family_samples(f: &MetricFamily) -> impl Iterator<Item = &super::parse::Sample> {
    f.samples
        .iter()
        .filter(|s| s.name == f.name || s.name.strip_suffix("_total") == Some(&f.name))
}

fn parse_ts(ts: &str) -> Option<i64> {
    ts.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// Summarises every GPU of `series` over `window`; `None` when no GPU has a
/// scrape in it and none has scrapes on both sides of it.
pub fn summarize(series: &[GpuSeries], window: Window, work: Work) -> Option<GpuWindowSummary> {
    if window.end_ms <= window.start_ms {
        return None;
    }
    let per_gpu: Vec<GpuStats> = series.iter().filter_map(|s| gpu_stats(s, window)).collect();
    if per_gpu.is_empty() {
        return None;
    }
    let values = |f: fn(&GpuStats) -> Option<f64>| per_gpu.iter().filter_map(f);
    let max = |f: fn(&GpuStats) -> Option<f64>| values(f).reduce(f64::max);
    let energies: Vec<f64> = values(|g| g.energy_joules).collect();
    let energy = (energies.len() == per_gpu.len()).then(|| energies.iter().sum::<f64>());
    let sources: Vec<EnergySource> = per_gpu.iter().filter_map(|g| g.energy_source).collect();
    let source = match sources.first() {
        Some(first) if sources.iter().all(|s| s == first) => Some(*first),
        Some(_) => Some(EnergySource::Mixed),
        None => None,
    };
    // Utilisation: every scrape of every GPU counts the same.
    let (util_sum, util_n) = series
        .iter()
        .flat_map(|s| inside(&s.points, window))
        .filter_map(|p| p.util)
        .fold((0.0, 0usize), |(sum, n), v| (sum + v, n + 1));
    let per = |n: u64| energy.and_then(|e| (n > 0).then(|| e / n as f64));
    Some(GpuWindowSummary {
        start_unix_ms: window.start_ms,
        duration_seconds: window.seconds(),
        gpus: per_gpu.len(),
        mean_utilization_percent: (util_n > 0).then(|| util_sum / util_n as f64),
        max_utilization_percent: max(|g| g.max_utilization_percent),
        max_memory_used_mib: max(|g| g.max_memory_used_mib),
        mean_power_watts: energy.map(|e| e / window.seconds()),
        max_power_watts: max(|g| g.max_power_watts),
        energy_joules: energy,
        energy_source: source,
        output_tokens: work.output_tokens,
        requests: work.requests,
        energy_per_output_token_joules: per(work.output_tokens),
        energy_per_request_joules: per(work.requests),
        per_gpu,
    })
}

fn inside(points: &[GpuPoint], w: Window) -> impl Iterator<Item = &GpuPoint> {
    points
        .iter()
        .filter(move |p| p.t_ms >= w.start_ms && p.t_ms <= w.end_ms)
}

fn gpu_stats(s: &GpuSeries, w: Window) -> Option<GpuStats> {
    let within: Vec<&GpuPoint> = inside(&s.points, w).collect();
    let (energy, source) = match counter_energy(&s.points, w) {
        Some(e) => (Some(e), Some(EnergySource::EnergyCounter)),
        None => match power_integral(&s.points, w) {
            Some(e) => (Some(e), Some(EnergySource::PowerIntegral)),
            None => (None, None),
        },
    };
    if within.is_empty() && energy.is_none() {
        return None;
    }
    let max = |f: fn(&GpuPoint) -> Option<f64>| within.iter().filter_map(|p| f(p)).reduce(f64::max);
    let utils: Vec<f64> = within.iter().filter_map(|p| p.util).collect();
    Some(GpuStats {
        target: s.target.clone(),
        gpu: s.gpu.clone(),
        uuid: s.uuid.clone(),
        model_name: s.model_name.clone(),
        samples: within.len(),
        mean_utilization_percent: (!utils.is_empty())
            .then(|| utils.iter().sum::<f64>() / utils.len() as f64),
        max_utilization_percent: max(|p| p.util),
        max_memory_used_mib: max(|p| p.fb_used),
        mean_power_watts: energy.map(|e| e / w.seconds()),
        max_power_watts: max(|p| p.power),
        energy_joules: energy,
        energy_source: source,
    })
}

/// The value of the piecewise-linear series `(t, v)` at `t`, when `t` lies
/// within the points' time range.
fn interpolate(points: &[(i64, f64)], t: i64) -> Option<f64> {
    let after = points.iter().position(|(pt, _)| *pt >= t)?;
    let (t1, v1) = points[after];
    if t1 == t {
        return Some(v1);
    }
    let (t0, v0) = *points.get(after.checked_sub(1)?)?;
    Some(v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64)
}

/// Energy (J) from the counter at the window's ends; `None` unless every
/// scrape carries the counter, it never decreases and its scrapes surround
/// the window.
fn counter_energy(points: &[GpuPoint], w: Window) -> Option<f64> {
    let series: Vec<(i64, f64)> = points
        .iter()
        .map(|p| p.energy_mj.map(|e| (p.t_ms, e)))
        .collect::<Option<_>>()?;
    if series.windows(2).any(|p| p[1].1 < p[0].1) {
        return None;
    }
    let (a, b) = (
        interpolate(&series, w.start_ms)?,
        interpolate(&series, w.end_ms)?,
    );
    Some((b - a) / 1000.0)
}

/// Energy (J) as the trapezoid integral of power over the window (power
/// linear between scrapes); `None` unless the power scrapes surround the
/// window.
fn power_integral(points: &[GpuPoint], w: Window) -> Option<f64> {
    let series: Vec<(i64, f64)> = points
        .iter()
        .filter_map(|p| p.power.map(|v| (p.t_ms, v)))
        .collect();
    let start = interpolate(&series, w.start_ms)?;
    let end = interpolate(&series, w.end_ms)?;
    let mut knots = vec![(w.start_ms, start)];
    knots.extend(
        series
            .iter()
            .copied()
            .filter(|(t, _)| *t > w.start_ms && *t < w.end_ms),
    );
    knots.push((w.end_ms, end));
    Some(
        knots
            .windows(2)
            .map(|k| (k[1].0 - k[0].0) as f64 / 1000.0 * (k[0].1 + k[1].1) / 2.0)
            .sum(),
    )
}

#[cfg(test)]
mod tests;
