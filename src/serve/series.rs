//! The time series of one run, built from what its results folder holds
//! (pure: the caller reads the files).
//!
//! | metric | from | value at each point |
//! |---|---|---|
//! | `requests_per_second`, `errors_per_second`, `output_tokens_per_second` | the clients' merged per-second timeline | the count of the second that starts at the point's time |
//! | `in_flight` | the same | requests in flight at the end of that second |
//! | `latency:<name>:<p50\|p90\|p99\|mean>` | the clients' merged histograms | milliseconds over each stage's window (the whole measurement without stages): a step, two points per window |
//! | `server:<family>` | each monitor's parsed scrapes: gauges (GPU series are DCGM gauges) | the scraped value |
//! | `server:<family>:rate` | counters (`_total` left out of the name) | increase per second between scrapes (none across a reset) |
//! | `server:<family>:mean` | histograms and summaries | `Δ_sum / Δ_count` between scrapes: the mean of what was observed in that interval |
//!
//! One metric can hold several series (one per monitor target and label
//! set); each series carries the label Grafana shows in its legend.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::monitor::{MetricFamily, MetricType, ParsedRecord};
use crate::workload::timeline::Timeline;

/// Completed requests per second (clients).
pub const REQUESTS: &str = "requests_per_second";
/// Failed requests per second (clients).
pub const ERRORS: &str = "errors_per_second";
/// Output tokens per second (clients).
pub const OUTPUT_TOKENS: &str = "output_tokens_per_second";
/// Requests in flight (clients).
pub const IN_FLIGHT: &str = "in_flight";
/// Prefix of the monitors' series.
pub const SERVER_PREFIX: &str = "server:";
/// Prefix of the latency series.
pub const LATENCY_PREFIX: &str = "latency:";

/// One point: a value at a time (Unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Unix milliseconds.
    pub ms: i64,
    /// The value.
    pub value: f64,
}

/// One series of a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The metric it belongs to (what a query's `target` names).
    pub metric: String,
    /// What Grafana shows for it (the response's `target`).
    pub label: String,
    /// Points in time order.
    pub points: Vec<Point>,
}

/// A stretch of the measurement: a stage, or the whole of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Unix milliseconds.
    pub start_ms: i64,
    /// Unix milliseconds.
    pub end_ms: i64,
    /// `stage 2 (concurrency 8)`, or `measurement`.
    pub label: String,
}

/// The four series of the clients' timeline (none when it is empty).
pub fn timeline_series(t: &Timeline) -> Vec<Series> {
    if t.is_empty() {
        return Vec::new();
    }
    let columns: [(&str, &str, &[u64]); 4] = [
        (REQUESTS, "requests/s", &t.completed),
        (ERRORS, "errors/s", &t.errors),
        (OUTPUT_TOKENS, "output tokens/s", &t.output_tokens),
        (IN_FLIGHT, "in flight", &t.in_flight),
    ];
    columns
        .into_iter()
        .map(|(metric, label, column)| Series {
            metric: metric.to_string(),
            label: label.to_string(),
            points: column
                .iter()
                .enumerate()
                .map(|(k, v)| Point {
                    ms: t.start_unix_ms + k as i64 * 1000,
                    value: *v as f64,
                })
                .collect(),
        })
        .collect()
}

/// The statistics a latency series is kept for, and how each is read from a
/// histogram of microseconds (in milliseconds).
const LATENCY_STATS: [(&str, Option<f64>); 4] = [
    ("p50", Some(0.50)),
    ("p90", Some(0.90)),
    ("p99", Some(0.99)),
    ("mean", None),
];

/// The latency series: for each histogram name and statistic, its value
/// over each window that recorded it (histograms in microseconds, values
/// in milliseconds).
pub fn latency_series(windows: &[(Window, BTreeMap<String, Histogram<u64>>)]) -> Vec<Series> {
    let mut names: Vec<&String> = windows.iter().flat_map(|(_, h)| h.keys()).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        for (stat, quantile) in LATENCY_STATS {
            let mut points = Vec::new();
            for (w, histograms) in windows {
                let Some(h) = histograms.get(name).filter(|h| !h.is_empty()) else {
                    continue;
                };
                let micros = match quantile {
                    Some(q) => h.value_at_quantile(q) as f64,
                    None => h.mean(),
                };
                let value = micros / 1000.0;
                points.push(Point {
                    ms: w.start_ms,
                    value,
                });
                points.push(Point {
                    ms: w.end_ms.max(w.start_ms),
                    value,
                });
            }
            if !points.is_empty() {
                out.push(Series {
                    metric: format!("{LATENCY_PREFIX}{name}:{stat}"),
                    label: format!("{name} {stat} (ms)"),
                    points,
                });
            }
        }
    }
    out
}

/// What a family's samples become.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
    /// Histogram or summary: `_sum` and `_count`.
    Distribution,
}

fn kind(f: &MetricFamily) -> Option<Kind> {
    match f.metric_type {
        MetricType::Gauge | MetricType::Untyped | MetricType::Unknown => Some(Kind::Gauge),
        MetricType::Counter => Some(Kind::Counter),
        MetricType::Histogram | MetricType::Summary => Some(Kind::Distribution),
        _ => None,
    }
}

fn family_key(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

fn label_text(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

/// One monitor series while it is being collected: raw values per scrape.
#[derive(Default)]
struct Raw {
    metric: String,
    label: String,
    kind: Option<Kind>,
    /// (ms, value) for gauges and counters.
    values: Vec<Point>,
    /// (ms, sum, count) for distributions.
    sums: BTreeMap<i64, (Option<f64>, Option<f64>)>,
}

/// The series of one monitor's scrapes (`records` in file order).
pub fn monitor_series(records: &[ParsedRecord]) -> Vec<Series> {
    // Key: (metric, target, labels) in the order first seen.
    let mut order: Vec<(String, String, String)> = Vec::new();
    let mut raws: BTreeMap<(String, String, String), Raw> = BTreeMap::new();
    for r in records {
        let Ok(ts) = r.ts.parse::<jiff::Timestamp>() else {
            continue;
        };
        let ms = ts.as_millisecond();
        for f in &r.families {
            let Some(kind) = kind(f) else { continue };
            let base = family_key(&f.name);
            let metric = match kind {
                Kind::Gauge => format!("{SERVER_PREFIX}{}", f.name),
                Kind::Counter => format!("{SERVER_PREFIX}{base}:rate"),
                Kind::Distribution => format!("{SERVER_PREFIX}{}:mean", f.name),
            };
            for s in &f.samples {
                if !s.value.is_finite() {
                    continue;
                }
                let part = match kind {
                    Kind::Gauge if s.name == f.name => None,
                    Kind::Counter if family_key(&s.name) == base => None,
                    Kind::Distribution if s.name == format!("{}_sum", f.name) => Some(true),
                    Kind::Distribution if s.name == format!("{}_count", f.name) => Some(false),
                    _ => continue,
                };
                let labels = label_text(&s.labels);
                let key = (metric.clone(), r.target.clone(), labels.clone());
                let raw = raws.entry(key.clone()).or_insert_with(|| {
                    order.push(key.clone());
                    let suffix = match kind {
                        Kind::Gauge => "",
                        Kind::Counter => " rate/s",
                        Kind::Distribution => " mean",
                    };
                    Raw {
                        metric: metric.clone(),
                        label: format!("{} {base}{labels}{suffix}", r.target),
                        kind: Some(kind),
                        ..Raw::default()
                    }
                });
                match part {
                    None => raw.values.push(Point { ms, value: s.value }),
                    Some(is_sum) => {
                        let slot = raw.sums.entry(ms).or_default();
                        if is_sum {
                            slot.0 = Some(s.value);
                        } else {
                            slot.1 = Some(s.value);
                        }
                    }
                }
            }
        }
    }
    order
        .into_iter()
        .filter_map(|key| raws.remove(&key))
        .filter_map(|raw| {
            let points = match raw.kind? {
                Kind::Gauge => raw.values,
                Kind::Counter => rates(&raw.values),
                Kind::Distribution => means(&raw.sums),
            };
            (!points.is_empty()).then_some(Series {
                metric: raw.metric,
                label: raw.label,
                points,
            })
        })
        .collect()
}

/// Increase per second between consecutive points; none across a reset or
/// at a repeated time.
pub fn rates(values: &[Point]) -> Vec<Point> {
    values
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (w[0], w[1]);
            (b.ms > a.ms && b.value >= a.value).then(|| Point {
                ms: b.ms,
                value: (b.value - a.value) * 1000.0 / (b.ms - a.ms) as f64,
            })
        })
        .collect()
}

/// `Δsum / Δcount` between consecutive scrapes that observed something.
fn means(sums: &BTreeMap<i64, (Option<f64>, Option<f64>)>) -> Vec<Point> {
    let complete: Vec<(i64, f64, f64)> = sums
        .iter()
        .filter_map(|(ms, (s, c))| Some((*ms, (*s)?, (*c)?)))
        .collect();
    complete
        .windows(2)
        .filter_map(|w| {
            let (ds, dc) = (w[1].1 - w[0].1, w[1].2 - w[0].2);
            (dc > 0.0 && ds >= 0.0).then_some(Point {
                ms: w[1].0,
                value: ds / dc,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::Sample;

    fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
            timestamp_ms: None,
        }
    }

    fn family(name: &str, t: MetricType, samples: Vec<Sample>) -> MetricFamily {
        MetricFamily {
            name: name.to_string(),
            metric_type: t,
            help: None,
            samples,
        }
    }

    fn scrape(second: u32, k: f64) -> ParsedRecord {
        let m = [("model_name", "m")];
        ParsedRecord {
            ts: format!("2026-01-01T00:00:{second:02}Z"),
            target: "sim".to_string(),
            families: vec![
                family(
                    "vllm:num_requests_running",
                    MetricType::Gauge,
                    vec![sample("vllm:num_requests_running", &m, k)],
                ),
                family(
                    "vllm:generation_tokens_total",
                    MetricType::Counter,
                    vec![sample("vllm:generation_tokens_total", &m, 100.0 * k)],
                ),
                family(
                    "vllm:e2e_request_latency_seconds",
                    MetricType::Histogram,
                    vec![
                        sample("vllm:e2e_request_latency_seconds_bucket", &[("le", "1")], k),
                        sample("vllm:e2e_request_latency_seconds_sum", &m, 0.5 * k),
                        sample("vllm:e2e_request_latency_seconds_count", &m, k),
                    ],
                ),
                family("build_info", MetricType::Info, vec![]),
            ],
            parse_errors: Vec::new(),
        }
    }

    #[test]
    fn timeline_counts_are_stamped_at_the_start_of_their_second() {
        let t = Timeline {
            start_unix_ms: 10_000,
            completed: vec![3, 4],
            errors: vec![0, 1],
            output_tokens: vec![30, 40],
            in_flight: vec![2, 0],
            truncated: false,
        };
        let s = timeline_series(&t);
        let names: Vec<&str> = s.iter().map(|s| s.metric.as_str()).collect();
        assert_eq!(names, [REQUESTS, ERRORS, OUTPUT_TOKENS, IN_FLIGHT]);
        assert_eq!(
            s[0].points,
            [
                Point {
                    ms: 10_000,
                    value: 3.0
                },
                Point {
                    ms: 11_000,
                    value: 4.0
                }
            ]
        );
        assert!(timeline_series(&Timeline::default()).is_empty());
    }

    #[test]
    fn gauges_counter_rates_and_histogram_means() {
        let records: Vec<ParsedRecord> = (0..4).map(|s| scrape(s * 2, f64::from(s))).collect();
        let s = monitor_series(&records);
        let metrics: Vec<&str> = s.iter().map(|s| s.metric.as_str()).collect();
        assert_eq!(
            metrics,
            [
                "server:vllm:num_requests_running",
                "server:vllm:generation_tokens:rate",
                "server:vllm:e2e_request_latency_seconds:mean",
            ]
        );
        assert_eq!(s[0].points.len(), 4);
        assert_eq!(
            s[0].label,
            "sim vllm:num_requests_running{model_name=\"m\"}"
        );
        // 100 tokens per 2 s.
        assert!(s[1].points.iter().all(|p| p.value == 50.0), "{:?}", s[1]);
        assert_eq!(s[1].points.len(), 3);
        // 0.5 s per request observed.
        assert!(s[2].points.iter().all(|p| p.value == 0.5), "{:?}", s[2]);
        assert_eq!(
            rates(&[
                Point { ms: 0, value: 5.0 },
                Point {
                    ms: 1000,
                    value: 1.0
                },
                Point {
                    ms: 3000,
                    value: 5.0
                },
            ]),
            [Point {
                ms: 3000,
                value: 2.0
            }]
        );
    }

    #[test]
    fn latency_is_a_step_per_window_in_milliseconds() {
        let mut h = crate::workload::stats::new_histogram().unwrap();
        for us in [10_000u64, 20_000, 30_000, 40_000] {
            h.record(us).unwrap();
        }
        let windows = vec![
            (
                Window {
                    start_ms: 1000,
                    end_ms: 5000,
                    label: "stage 1".into(),
                },
                BTreeMap::from([("ttft".to_string(), h.clone())]),
            ),
            (
                Window {
                    start_ms: 5000,
                    end_ms: 9000,
                    label: "stage 2".into(),
                },
                BTreeMap::new(),
            ),
        ];
        let s = latency_series(&windows);
        let p50 = s.iter().find(|s| s.metric == "latency:ttft:p50").unwrap();
        assert_eq!(p50.points.len(), 2);
        assert!((p50.points[0].value - 20.0).abs() < 0.1, "{p50:?}");
        assert_eq!(p50.points[1].ms, 5000);
        let mean = s.iter().find(|s| s.metric == "latency:ttft:mean").unwrap();
        assert!((mean.points[0].value - 25.0).abs() < 0.1, "{mean:?}");
    }
}
