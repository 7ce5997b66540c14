//! The server's own metrics over time, from the monitors' parsed scrapes
//! (`metrics/<monitor>.parsed.jsonl`, read by `results::monitor_files`):
//! choosing a bounded set of panels (pure).
//!
//! For a vLLM target (or the simulator, which uses vLLM's names) the first
//! panels are running/waiting requests, KV-cache usage and token throughput;
//! then, for any target, each gauge and each counter's rate that changes
//! during the run, in the order the server exposes them. At most
//! [`MAX_PANELS`] panels per monitor, [`MAX_SERIES`] series per panel and
//! [`MAX_POINTS`] scrapes per target (evenly thinned past that).

use std::collections::BTreeMap;

use super::plots::{MAX_SERIES, Plot, XAxis, slug};
use crate::monitor::{MetricFamily, MetricType, ParsedRecord};
use crate::results::monitor_files::MonitorFile;

/// Panels one monitor contributes at most.
pub const MAX_PANELS: usize = 12;
/// Scrapes per target drawn at most.
pub const MAX_POINTS: usize = 2000;

/// The known vLLM panels: title, y label, families (with or without their
/// `_total`), and whether to plot the rate.
const VLLM_PANELS: [(&str, &str, &[&str], bool); 3] = [
    (
        "requests running / waiting",
        "requests",
        &["vllm:num_requests_running", "vllm:num_requests_waiting"],
        false,
    ),
    (
        "KV-cache usage",
        "fraction",
        &["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"],
        false,
    ),
    (
        "token throughput",
        "tokens/s",
        &["vllm:prompt_tokens", "vllm:generation_tokens"],
        true,
    ),
];

/// One family's values at each kept scrape, by label set.
struct FamilySeries {
    name: String,
    counter: bool,
    /// Label set (`k=v,...`) -> value per scrape.
    values: BTreeMap<String, Vec<Option<f64>>>,
}

impl FamilySeries {
    /// Rates per second for a counter (`None` at the first scrape and after
    /// a reset), values as they are otherwise; series names without the
    /// labels every series shares.
    fn columns(&self, t: &[f64], prefix: &str) -> Vec<(String, Vec<Option<f64>>)> {
        let keys: Vec<&String> = self.values.keys().collect();
        let shared: Vec<&str> = match keys.first() {
            Some(first) if keys.len() > 1 => first
                .split(',')
                .filter(|kv| keys.iter().all(|k| k.split(',').any(|o| o == *kv)))
                .collect(),
            Some(first) => first.split(',').collect(),
            None => Vec::new(),
        };
        self.values
            .iter()
            .take(MAX_SERIES)
            .map(|(labels, v)| {
                let own: Vec<&str> = labels
                    .split(',')
                    .filter(|kv| !kv.is_empty() && !shared.contains(kv))
                    .collect();
                let name = if own.is_empty() {
                    prefix.to_string()
                } else {
                    format!("{prefix} {}", own.join(","))
                };
                let column = if self.counter { rates(t, v) } else { v.clone() };
                (name, column)
            })
            .collect()
    }
}

fn rates(t: &[f64], v: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut out = vec![None; v.len()];
    let mut previous: Option<(f64, f64)> = None;
    for (k, value) in v.iter().enumerate() {
        let Some(value) = *value else { continue };
        if let Some((pt, pv)) = previous
            && t[k] > pt
            && value >= pv
        {
            out[k] = Some((value - pv) / (t[k] - pt));
        }
        previous = Some((t[k], value));
    }
    out
}

/// Whether a column holds information: some point, and not all the same.
fn varies(column: &[Option<f64>]) -> bool {
    let mut points = column.iter().flatten();
    match points.next() {
        Some(first) => points.any(|v| v != first),
        None => false,
    }
}

fn family_key(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

fn plottable(f: &MetricFamily) -> Option<bool> {
    match f.metric_type {
        MetricType::Counter => Some(true),
        MetricType::Gauge | MetricType::Untyped | MetricType::Unknown => Some(false),
        _ => None,
    }
}

/// The panels of one monitor. x is seconds since `origin_unix_ms` (the
/// measurement start, so the server's metrics line up with the clients'
/// timeline), or since the first scrape when not given.
pub fn monitor_plots(m: &MonitorFile, origin_unix_ms: Option<i64>) -> Vec<Plot> {
    let mut targets: Vec<&str> = Vec::new();
    for r in &m.records {
        if !targets.contains(&r.target.as_str()) {
            targets.push(&r.target);
        }
    }
    let mut plots = Vec::new();
    for target in targets {
        let scrapes: Vec<(f64, &ParsedRecord)> = m
            .records
            .iter()
            .filter(|r| r.target == target)
            .filter_map(|r| {
                let ts: jiff::Timestamp = r.ts.parse().ok()?;
                Some((ts.as_millisecond() as f64, r))
            })
            .collect();
        let Some(first_ms) = scrapes.first().map(|(t, _)| *t) else {
            continue;
        };
        let stride = scrapes.len().div_ceil(MAX_POINTS).max(1);
        let kept: Vec<&(f64, &ParsedRecord)> = scrapes.iter().step_by(stride).collect();
        let origin = origin_unix_ms.map_or(first_ms, |o| o as f64);
        let t: Vec<f64> = kept.iter().map(|(ms, _)| (ms - origin) / 1000.0).collect();
        let families = collect_families(&kept);
        let panel = |title: String, y_label: &str, series: Vec<(String, Vec<Option<f64>>)>| {
            let (names, y): (Vec<String>, Vec<Vec<Option<f64>>>) = series.into_iter().unzip();
            Plot {
                id: format!("plot-monitor-{}-{}", slug(&m.id), slug(&title)),
                title: format!("{target}: {title}"),
                x_axis: XAxis::Seconds,
                x_label: "seconds since the measurement start".to_string(),
                y_label: y_label.to_string(),
                series: names,
                x: t.clone(),
                y,
            }
        };
        let mut used: Vec<&str> = Vec::new();
        for (title, y_label, names, _) in VLLM_PANELS {
            let mut series = Vec::new();
            for name in names {
                if let Some(f) = families.iter().find(|f| family_key(&f.name) == *name) {
                    used.push(&f.name);
                    let short = name.trim_start_matches("vllm:");
                    series.extend(f.columns(&t, short));
                }
            }
            if series.iter().any(|(_, c)| c.iter().any(Option::is_some)) {
                plots.push(panel(format!("vLLM {title}"), y_label, series));
            }
        }
        for f in &families {
            if used.contains(&f.name.as_str()) {
                continue;
            }
            let series: Vec<_> = f
                .columns(&t, family_key(&f.name))
                .into_iter()
                .filter(|(_, c)| varies(c))
                .collect();
            if series.is_empty() {
                continue;
            }
            let (title, y_label) = if f.counter {
                (format!("{} rate", family_key(&f.name)), "per second")
            } else {
                (f.name.clone(), "value")
            };
            plots.push(panel(title, y_label, series));
        }
    }
    plots.truncate(MAX_PANELS);
    plots
}

/// The gauges and counters of the kept scrapes, in the order first seen.
fn collect_families(kept: &[&(f64, &ParsedRecord)]) -> Vec<FamilySeries> {
    let mut families: Vec<FamilySeries> = Vec::new();
    for (k, (_, record)) in kept.iter().enumerate() {
        for f in &record.families {
            let Some(counter) = plottable(f) else {
                continue;
            };
            let index = match families.iter().position(|s| s.name == f.name) {
                Some(i) => i,
                None => {
                    families.push(FamilySeries {
                        name: f.name.clone(),
                        counter,
                        values: BTreeMap::new(),
                    });
                    families.len() - 1
                }
            };
            let series = &mut families[index];
            for s in &f.samples {
                let own = s.name == f.name || family_key(&s.name) == family_key(&f.name);
                if !own || !s.value.is_finite() {
                    continue;
                }
                let labels = s
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",");
                let column = series
                    .values
                    .entry(labels)
                    .or_insert_with(|| vec![None; kept.len()]);
                column[k] = Some(column[k].unwrap_or(0.0) + s.value);
            }
        }
    }
    families
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::Sample;

    fn family(name: &str, t: MetricType, samples: &[(&str, &str, f64)]) -> MetricFamily {
        MetricFamily {
            name: name.to_string(),
            metric_type: t,
            help: None,
            samples: samples
                .iter()
                .map(|(n, label, v)| Sample {
                    name: n.to_string(),
                    labels: BTreeMap::from([
                        ("model_name".to_string(), "m".to_string()),
                        ("kind".to_string(), label.to_string()),
                    ]),
                    value: *v,
                    timestamp_ms: None,
                })
                .collect(),
        }
    }

    fn scrape(second: u32, k: f64) -> ParsedRecord {
        ParsedRecord {
            ts: format!("2026-01-01T00:00:{second:02}Z"),
            target: "sim".to_string(),
            families: vec![
                family(
                    "vllm:num_requests_running",
                    MetricType::Gauge,
                    &[("vllm:num_requests_running", "a", k)],
                ),
                family(
                    "vllm:generation_tokens_total",
                    MetricType::Counter,
                    &[("vllm:generation_tokens_total", "a", 100.0 * k)],
                ),
                family(
                    "process_open_fds",
                    MetricType::Gauge,
                    &[("process_open_fds", "a", 7.0)],
                ),
                family(
                    "queue_depth",
                    MetricType::Gauge,
                    &[("queue_depth", "x", k), ("queue_depth", "y", 2.0 * k)],
                ),
                family(
                    "latency_seconds",
                    MetricType::Histogram,
                    &[("latency_seconds_count", "a", k)],
                ),
            ],
            parse_errors: Vec::new(),
        }
    }

    #[test]
    fn vllm_panels_first_then_changing_gauges_and_counter_rates() {
        let m = MonitorFile {
            id: "sim-metrics".to_string(),
            records: (0..5).map(|s| scrape(s * 2, f64::from(s))).collect(),
            unreadable: 0,
        };
        let origin = "2026-01-01T00:00:01Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        let plots = monitor_plots(&m, Some(origin));
        let titles: Vec<&str> = plots.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "sim: vLLM requests running / waiting",
                "sim: vLLM token throughput",
                "sim: queue_depth"
            ],
        );
        assert_eq!(plots[0].x, vec![-1.0, 1.0, 3.0, 5.0, 7.0]);
        // 100 tokens per 2 s.
        assert_eq!(
            plots[1].y[0],
            vec![None, Some(50.0), Some(50.0), Some(50.0), Some(50.0)]
        );
        assert_eq!(plots[1].series, ["generation_tokens"]);
        // Labels every series shares are left out of the names.
        assert_eq!(
            plots[2].series,
            ["queue_depth kind=x", "queue_depth kind=y"]
        );
        assert_eq!(
            plots[0].id,
            "plot-monitor-sim-metrics-vllm-requests-running-waiting"
        );
    }

    #[test]
    fn panels_and_points_are_bounded_and_resets_leave_gaps() {
        let many: Vec<ParsedRecord> = (0..10)
            .map(|s| ParsedRecord {
                ts: format!("2026-01-01T00:00:{s:02}Z"),
                target: "t".to_string(),
                families: (0..30)
                    .map(|f| {
                        let name = format!("g{f:02}");
                        family(&name, MetricType::Gauge, &[(&name, "a", f64::from(s))])
                    })
                    .collect(),
                parse_errors: Vec::new(),
            })
            .collect();
        let m = MonitorFile {
            id: "m".to_string(),
            records: many,
            unreadable: 0,
        };
        assert_eq!(monitor_plots(&m, None).len(), MAX_PANELS);
        assert_eq!(
            rates(
                &[0.0, 1.0, 2.0, 3.0],
                &[Some(5.0), Some(7.0), Some(1.0), Some(4.0)]
            ),
            vec![None, Some(2.0), None, Some(3.0)]
        );
        let long: Vec<ParsedRecord> = (0..(MAX_POINTS * 2 + 1))
            .map(|s| {
                let mut r = scrape(0, s as f64);
                r.ts = jiff::Timestamp::from_second(1_700_000_000 + s as i64)
                    .unwrap()
                    .to_string();
                r
            })
            .collect();
        let m = MonitorFile {
            id: "m".to_string(),
            records: long,
            unreadable: 0,
        };
        let plots = monitor_plots(&m, None);
        assert!(plots[0].x.len() <= MAX_POINTS, "{}", plots[0].x.len());
    }
}
