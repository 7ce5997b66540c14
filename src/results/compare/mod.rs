//! `aifbench compare`: two or more results folders side by side — each
//! headline metric of each run against the first (the baseline), its change
//! and whether the change is beyond run-to-run noise.
//!
//! - [`load`] reads a results folder (client results with their histograms,
//!   per-request records when present, `summary.json` as a fallback);
//! - [`noise`] holds the statistics (confidence intervals, verdict);
//! - [`build`] turns loaded runs into the [`Comparison`] rows (pure);
//! - [`gate`] parses and evaluates `--fail-if` expressions (pure);
//! - [`render`] writes the terminal table and the HTML page (pure).

pub mod gate;
pub mod load;
pub mod noise;
pub mod render;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

pub use load::{LoadError, load_folder, load_run, run_label};
pub use noise::{Estimate, Interval, Verdict};

use crate::workload::result::Summary;
use noise::Sample;

/// Latency histograms left out of the comparison: diagnostics of the load
/// generator and near-duplicates of a headline metric.
const NOT_HEADLINE: [&str; 4] = ["queue_time", "client_lag", "ttfc", "e2el_intended"];

/// Headline latency metrics first, in this order; others follow sorted.
const LATENCY_ORDER: [&str; 6] = ["ttft", "itl", "tpot", "e2el", "ttfb", "ttlb"];

/// One results folder, loaded.
#[derive(Debug, Clone)]
pub struct RunData {
    /// How tables name it (the folder's name).
    pub label: String,
    /// Where it was read from.
    pub source: String,
    /// All instances merged.
    pub summary: Summary,
    /// The merged histograms (µs) by metric; empty when only summary.json
    /// was found.
    pub histograms: BTreeMap<String, Histogram<u64>>,
    /// Per-request values (ms), sorted, by metric (`ttft`, `itl`, `tpot`,
    /// `e2el`), from `clients/*.requests.jsonl`; empty without records.
    pub records: BTreeMap<String, Vec<f64>>,
}

/// A run as the comparison names it.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunInfo {
    /// Its label.
    pub label: String,
    /// Where it was read from.
    pub source: String,
    /// Successful requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Measurement window, seconds.
    pub duration_s: f64,
    /// What the percentile intervals came from: `records`, `histograms` or
    /// `summary` (no interval for percentiles).
    pub intervals_from: String,
    /// A sweep's saturation in words (`saturated at concurrency 16: ...`),
    /// when the run had stages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<String>,
}

/// One run's value of a row, against the baseline.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cell {
    /// Index of the run in [`Comparison::runs`].
    pub run: usize,
    /// Its value and interval; None when the run lacks the metric.
    pub estimate: Option<Estimate>,
    /// Change from the baseline, percent of it.
    pub change_pct: Option<f64>,
    /// Change from the baseline, in the metric's unit.
    pub change_abs: Option<f64>,
    /// Whether the change is beyond noise.
    pub verdict: Verdict,
    /// When it differs: whether the change is for the worse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worse: Option<bool>,
}

/// One metric across the runs.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// `ttft.p99`, `e2el.mean`, `request_throughput`, `error_rate`, ...
    pub name: String,
    /// `ms`, `req/s`, `tok/s`, `B/s`, `%`.
    pub unit: String,
    /// Throughput-like (higher is better) or latency-like.
    pub higher_is_better: bool,
    /// The baseline run's value.
    pub baseline: Option<Estimate>,
    /// Every other run, in order.
    pub others: Vec<Cell>,
}

/// The whole comparison (what `--json` prints).
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// The runs; the first is the baseline.
    pub runs: Vec<RunInfo>,
    /// Confidence of the intervals.
    pub confidence: f64,
    /// Smallest change (percent of the baseline) called beyond noise.
    pub noise_threshold_pct: f64,
    /// The metrics.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// Rows where some run differs from the baseline beyond noise.
    pub fn differing(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| r.others.iter().any(|c| c.verdict == Verdict::Differs))
    }
}

/// The latency metrics of the runs, headline ones first.
fn latency_metrics(runs: &[RunData]) -> Vec<String> {
    let mut names: Vec<String> = runs
        .iter()
        .flat_map(|r| r.summary.latency.keys().chain(r.histograms.keys()))
        .filter(|n| !NOT_HEADLINE.contains(&n.as_str()))
        .cloned()
        .collect();
    names.sort_by_key(|n| {
        let at = LATENCY_ORDER.iter().position(|o| o == n);
        (at.unwrap_or(LATENCY_ORDER.len()), n.clone())
    });
    names.dedup();
    names
}

/// The sample behind a latency metric of a run: its records when they hold
/// as many values as its histogram, else the histogram.
fn sample<'a>(run: &'a RunData, metric: &str) -> Option<Sample<'a>> {
    let h = run.histograms.get(metric);
    match (run.records.get(metric), h) {
        (Some(v), Some(h)) if v.len() as u64 == h.len() => Some(Sample::Sorted(v)),
        (Some(v), None) if !v.is_empty() => Some(Sample::Sorted(v)),
        (_, Some(h)) => Some(Sample::Histogram(h, 1e-3)),
        _ => None,
    }
}

/// A latency statistic (`mean`, `p50`, ...) of a run.
fn latency_estimate(run: &RunData, metric: &str, stat: &str) -> Option<Estimate> {
    let q = match stat {
        "mean" => None,
        p => Some(p.trim_start_matches('p').parse::<f64>().ok()? / 100.0),
    };
    if let Some(s) = sample(run, metric) {
        // The gaps of one request move together: count requests, not gaps.
        let n_eff = if metric == "itl" {
            run.summary.requests.min(s.len())
        } else {
            s.len()
        };
        return match q {
            None => s.mean_eff(n_eff),
            Some(q) => s.quantile_eff(q, n_eff),
        };
    }
    // summary.json only: the mean keeps its interval, percentiles have none.
    let l = run.summary.latency.get(metric)?;
    Some(match q {
        None => noise::mean_estimate(l.mean_ms, l.std_ms, l.count),
        Some(_) => Estimate {
            value: match stat {
                "p50" => l.p50_ms,
                "p90" => l.p90_ms,
                "p95" => l.p95_ms,
                "p99" => l.p99_ms,
                other => *l.percentiles.get(other)?,
            },
            ci: None,
            n: l.count,
        },
    })
}

/// Where a run's percentile intervals come from.
fn intervals_from(run: &RunData) -> &'static str {
    let metrics = latency_metrics(std::slice::from_ref(run));
    if metrics.is_empty() || run.histograms.is_empty() {
        "summary"
    } else if metrics
        .iter()
        .any(|m| matches!(sample(run, m), Some(Sample::Sorted(_))))
    {
        "records"
    } else {
        "histograms"
    }
}

fn row(
    name: String,
    unit: &str,
    higher_is_better: bool,
    values: Vec<Option<Estimate>>,
    threshold_pct: f64,
) -> Row {
    let mut it = values.into_iter();
    let baseline = it.next().flatten();
    let others = it
        .enumerate()
        .map(|(k, estimate)| {
            let (change_pct, change_abs, verdict) = match (&baseline, &estimate) {
                (Some(b), Some(e)) => (
                    noise::change_pct(b.value, e.value),
                    Some(e.value - b.value),
                    noise::verdict(b, e, threshold_pct),
                ),
                _ => (None, None, Verdict::Unknown),
            };
            let worse = (verdict == Verdict::Differs)
                .then(|| change_abs.map(|d| (d > 0.0) != higher_is_better))
                .flatten();
            Cell {
                run: k + 1,
                estimate,
                change_pct,
                change_abs,
                verdict,
                worse,
            }
        })
        .collect();
    Row {
        name,
        unit: unit.to_string(),
        higher_is_better,
        baseline,
        others,
    }
}

/// What a throughput row counts in a summary.
type CountOf = fn(&Summary) -> u64;

/// Compares `runs[1..]` with `runs[0]`: latency metrics at mean, p50, p90
/// and p99, then request and token (or byte) throughput and the error rate.
/// A change below `threshold_pct` of the baseline is never beyond noise.
pub fn build(runs: &[RunData], threshold_pct: f64) -> Comparison {
    let mut rows = Vec::new();
    for metric in latency_metrics(runs) {
        for stat in ["mean", "p50", "p90", "p99"] {
            let values = runs
                .iter()
                .map(|r| latency_estimate(r, &metric, stat))
                .collect();
            rows.push(row(
                format!("{metric}.{stat}"),
                "ms",
                false,
                values,
                threshold_pct,
            ));
        }
    }
    let per_request = |r: &RunData, total: u64| {
        let s = &r.summary;
        let scale = if s.requests == 0 {
            0.0
        } else {
            total as f64 / s.requests as f64
        };
        noise::rate(s.requests, s.duration_s, scale)
    };
    let mut rates: Vec<(&str, &str, CountOf)> =
        vec![("request_throughput", "req/s", |s| s.requests)];
    if runs.iter().any(|r| r.summary.output_tokens > 0) {
        rates.push(("output_token_throughput", "tok/s", |s| s.output_tokens));
    }
    if runs
        .iter()
        .any(|r| r.summary.bytes_read + r.summary.bytes_written > 0)
    {
        rates.push(("bytes_throughput", "B/s", |s| {
            s.bytes_read + s.bytes_written
        }));
    }
    for (name, unit, total) in rates {
        let values = runs
            .iter()
            .map(|r| per_request(r, total(&r.summary)))
            .collect();
        rows.push(row(name.to_string(), unit, true, values, threshold_pct));
    }
    let errors = runs
        .iter()
        .map(|r| noise::proportion_pct(r.summary.errors, r.summary.requests + r.summary.errors))
        .collect();
    rows.push(row(
        "error_rate".to_string(),
        "%",
        false,
        errors,
        threshold_pct,
    ));
    Comparison {
        runs: runs
            .iter()
            .map(|r| RunInfo {
                label: r.label.clone(),
                source: r.source.clone(),
                requests: r.summary.requests,
                errors: r.summary.errors,
                duration_s: r.summary.duration_s,
                intervals_from: intervals_from(r).to_string(),
                sweep: r.summary.saturation.as_ref().map(|a| a.reason.clone()),
            })
            .collect(),
        confidence: 0.95,
        noise_threshold_pct: threshold_pct,
        rows,
    }
}

#[cfg(test)]
mod tests;
