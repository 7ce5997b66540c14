//! The data of the report's plots, computed from the merged results (pure):
//! latency percentile curves from the histograms, the per-second timeline,
//! and a sweep's stages. Each [`Plot`] is serialised into the page and drawn
//! by `render.js`.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::workload::load::Timeline;
use crate::workload::result::Summary;
use crate::workload::stats::{E2EL, E2EL_INTENDED, ITL, TPOT, TTFT};

/// What the x axis holds; `render.js` formats it accordingly.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum XAxis {
    /// The "nines" of a quantile, `log10(1 / (1 - q))` (0 is the minimum,
    /// 1 the 90th percentile, 2 the 99th), labelled as percentiles.
    Percentile,
    /// Seconds since the measurement start.
    Seconds,
    /// A sweep stage's load (concurrency or rate), or its number.
    Load,
}

/// One plot: a shared x and one y column per series (`None`: no point).
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Plot {
    /// Element id, unique in the page (`plot-...`).
    pub id: String,
    /// Title above the plot.
    pub title: String,
    /// What x is.
    pub x_axis: XAxis,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Series names, one per column of `y`.
    pub series: Vec<String>,
    /// The x values, ascending.
    pub x: Vec<f64>,
    /// One column per series, as long as `x`.
    pub y: Vec<Vec<Option<f64>>>,
}

impl Plot {
    /// Whether it has anything to draw.
    pub fn has_points(&self) -> bool {
        !self.x.is_empty() && self.y.iter().any(|c| c.iter().any(Option::is_some))
    }
}

/// Series one plot shows at most (the first ones, by name).
pub const MAX_SERIES: usize = 8;

/// Points per decade of the percentile axis.
const STEPS_PER_DECADE: u32 = 20;
/// Deepest percentile drawn: 99.9999 %.
const MAX_DECADES: u32 = 6;

/// A plot id from free text: lowercase letters, digits and dashes.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Percentile curves of `series` (name, histogram of microseconds) on one
/// shared log axis: x = log10(1/(1-q)) in steps of 1/20, as deep as the
/// largest histogram has samples for (at most 99.9999 %); y in milliseconds,
/// `None` past what a smaller histogram resolves.
pub fn percentile_plot(id: &str, title: &str, series: &[(String, &Histogram<u64>)]) -> Plot {
    let series: Vec<&(String, &Histogram<u64>)> = series
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .take(MAX_SERIES)
        .collect();
    let largest = series.iter().map(|(_, h)| h.len()).max().unwrap_or(0);
    let decades = if largest > 1 {
        ((largest as f64).log10().ceil() as u32).clamp(1, MAX_DECADES)
    } else {
        0
    };
    let x: Vec<f64> = (0..=decades * STEPS_PER_DECADE)
        .map(|k| f64::from(k) / f64::from(STEPS_PER_DECADE))
        .collect();
    let y = series
        .iter()
        .map(|(_, h)| {
            x.iter()
                .map(|&nines| {
                    let inv = 10f64.powf(nines);
                    (inv <= h.len() as f64 || nines == 0.0)
                        .then(|| h.value_at_quantile(1.0 - 1.0 / inv) as f64 / 1000.0)
                })
                .collect()
        })
        .collect();
    Plot {
        id: id.to_string(),
        title: title.to_string(),
        x_axis: XAxis::Percentile,
        x_label: "percentile".to_string(),
        y_label: "ms".to_string(),
        series: series.iter().map(|(n, _)| n.clone()).collect(),
        x,
        y,
    }
}

/// The latency distributions worth a plot, from the merged histograms by
/// name: OpenAI's TTFT, ITL, TPOT and E2EL (E2EL with its open-loop
/// `e2el_intended` beside it), then every other metric a workload records
/// per operation (`<op>.<metric>`, e.g. S3's `get.ttfb`), one plot per
/// metric with one series per operation (`all` for the unlabelled one).
/// Multi-turn and labelled names (`turn2.ttft`) join their metric's plot.
pub fn latency_plots(histograms: &BTreeMap<String, Histogram<u64>>) -> Vec<Plot> {
    let internal = ["ttfc", "queue_time", "client_lag", E2EL_INTENDED];
    let mut groups: BTreeMap<&str, Vec<(String, &Histogram<u64>)>> = BTreeMap::new();
    for (name, h) in histograms {
        let (label, metric) = match name.rsplit_once('.') {
            _ if name == E2EL_INTENDED => ("all, from intended send", E2EL),
            Some((label, metric)) => (label, metric),
            None => ("all", name.as_str()),
        };
        if internal.contains(&metric) {
            continue;
        }
        groups
            .entry(metric)
            .or_default()
            .push((label.to_string(), h));
    }
    for series in groups.values_mut() {
        // The unlabelled total first, then the labels in name order.
        series.sort_by_key(|(label, _)| (!label.starts_with("all"), label.clone()));
    }
    let order = [TTFT, ITL, TPOT, E2EL];
    let mut metrics: Vec<&str> = order
        .iter()
        .copied()
        .filter(|m| groups.contains_key(m))
        .collect();
    metrics.extend(groups.keys().copied().filter(|m| !order.contains(m)));
    metrics
        .into_iter()
        .filter_map(|m| {
            let series = groups.get(m)?;
            let plot = percentile_plot(
                &format!("plot-latency-{}", slug(m)),
                &format!("{} latency by percentile", m.to_uppercase()),
                series,
            );
            plot.has_points().then_some(plot)
        })
        .collect()
}

fn per_second(t: &Timeline, column: &[u64]) -> Vec<Option<f64>> {
    column
        .iter()
        .take(t.len())
        .map(|v| Some(*v as f64))
        .collect()
}

/// Throughput, errors, output tokens and requests in flight per second,
/// from the instances' merged timeline (none when it is empty).
pub fn timeline_plots(t: &Timeline) -> Vec<Plot> {
    if t.is_empty() {
        return Vec::new();
    }
    let x: Vec<f64> = (0..t.len()).map(|k| k as f64).collect();
    let plot = |id: &str, title: &str, y_label: &str, series: Vec<(&str, &[u64])>| Plot {
        id: id.to_string(),
        title: title.to_string(),
        x_axis: XAxis::Seconds,
        x_label: "seconds since the measurement start".to_string(),
        y_label: y_label.to_string(),
        series: series.iter().map(|(n, _)| (*n).to_string()).collect(),
        x: x.clone(),
        y: series.iter().map(|(_, c)| per_second(t, c)).collect(),
    };
    let mut plots = vec![
        plot(
            "plot-timeline-throughput",
            "Requests per second",
            "requests/s",
            vec![("completed", &t.completed), ("errors", &t.errors)],
        ),
        plot(
            "plot-timeline-in-flight",
            "Requests in flight (end of each second)",
            "requests",
            vec![("in flight", &t.in_flight)],
        ),
    ];
    if t.output_tokens.iter().any(|n| *n > 0) {
        plots.push(plot(
            "plot-timeline-tokens",
            "Output tokens per second",
            "tokens/s",
            vec![("output tokens", &t.output_tokens)],
        ));
    }
    plots
}

/// A sweep's stages side by side: throughput (and goodput) per stage, and
/// the p50 and p99 of the main latencies per stage; x is the stages' load
/// when every stage has one and it rises, else the stage number.
pub fn stage_plots(total: &Summary) -> Vec<Plot> {
    let stages = &total.stages;
    if stages.is_empty() {
        return Vec::new();
    }
    let loads: Option<Vec<f64>> = stages
        .iter()
        .map(|s| s.rate.or(s.concurrency.map(f64::from)))
        .collect();
    let (x, x_label) = match loads {
        Some(l) if l.windows(2).all(|w| w[0] < w[1]) => {
            let label = if stages.iter().all(|s| s.rate.is_some()) {
                "rate (requests/s)"
            } else {
                "concurrency"
            };
            (l, label)
        }
        _ => ((1..=stages.len()).map(|k| k as f64).collect(), "stage"),
    };
    let plot = |id: &str, title: &str, y_label: &str, series: Vec<(String, Vec<Option<f64>>)>| {
        let (names, y) = series.into_iter().unzip();
        Plot {
            id: id.to_string(),
            title: title.to_string(),
            x_axis: XAxis::Load,
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            series: names,
            x: x.clone(),
            y,
        }
    };
    let mut throughput = vec![(
        "requests/s".to_string(),
        stages.iter().map(|s| Some(s.request_throughput)).collect(),
    )];
    if stages.iter().any(|s| s.request_goodput.is_some()) {
        throughput.push((
            "goodput/s".to_string(),
            stages.iter().map(|s| s.request_goodput).collect(),
        ));
    }
    let mut latency = Vec::new();
    for m in [TTFT, E2EL] {
        if stages.iter().any(|s| s.latency.contains_key(m)) {
            for (stat, f) in [("p50", 0), ("p99", 1)] {
                latency.push((
                    format!("{m} {stat}"),
                    stages
                        .iter()
                        .map(|s| {
                            s.latency
                                .get(m)
                                .map(|l| if f == 0 { l.p50_ms } else { l.p99_ms })
                        })
                        .collect(),
                ));
            }
        }
    }
    let mut plots = vec![plot(
        "plot-stages-throughput",
        "Throughput per stage",
        "requests/s",
        throughput,
    )];
    if !latency.is_empty() {
        plots.push(plot(
            "plot-stages-latency",
            "Latency per stage",
            "ms",
            latency,
        ));
    }
    plots
}

/// One metric's percentile curves with one series per stage (the stage's
/// histograms merged over instances), for a sweep.
pub fn stage_distribution_plot(metric: &str, stages: &[(String, Histogram<u64>)]) -> Option<Plot> {
    let series: Vec<(String, &Histogram<u64>)> =
        stages.iter().map(|(label, h)| (label.clone(), h)).collect();
    let plot = percentile_plot(
        &format!("plot-stages-{}-distribution", slug(metric)),
        &format!("{} by percentile, per stage", metric.to_uppercase()),
        &series,
    );
    plot.has_points().then_some(plot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::stats::new_histogram;

    fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = new_histogram().unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn percentile_curves_share_an_axis_as_deep_as_the_samples() {
        let big = histogram((1..=1000).map(|v| v * 1000));
        let small = histogram([5_000, 6_000, 7_000]);
        let p = percentile_plot(
            "plot-x",
            "X",
            &[("big".to_string(), &big), ("small".to_string(), &small)],
        );
        // 1000 samples: three decades (to 99.9 %), 20 points each, plus x=1.
        assert_eq!(p.x.len(), 61);
        assert_eq!(p.x[0], 0.0);
        assert!((p.x[60] - 3.0).abs() < 1e-9);
        // x = 0.3 is (about) the median.
        let median = p.x.iter().position(|x| (x - 0.3).abs() < 1e-9).unwrap();
        let at = p.y[0][median].unwrap();
        assert!((at - 500.0).abs() < 3.0, "{at}");
        // The small histogram resolves up to x = log10(3) only.
        assert!(p.y[1][0].is_some());
        assert!(p.y[1].last().unwrap().is_none());
        // Monotone.
        let ys: Vec<f64> = p.y[0].iter().map(|v| v.unwrap()).collect();
        assert!(ys.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(p.series, vec!["big", "small"]);
    }

    #[test]
    fn latency_plots_group_operations_and_keep_the_openai_order() {
        let h = histogram([1_000, 2_000]);
        let names = [
            "e2el",
            "e2el_intended",
            "ttft",
            "client_lag",
            "queue_time",
            "ttfc",
            "get.ttfb",
            "put.ttfb",
            "ttfb",
            "turn2.ttft",
        ];
        let map: BTreeMap<String, Histogram<u64>> =
            names.iter().map(|n| (n.to_string(), h.clone())).collect();
        let plots = latency_plots(&map);
        let ids: Vec<&str> = plots.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "plot-latency-ttft",
                "plot-latency-e2el",
                "plot-latency-ttfb"
            ]
        );
        assert_eq!(plots[0].series, ["all", "turn2"]);
        assert_eq!(plots[1].series, ["all", "all, from intended send"]);
        assert_eq!(plots[2].series, ["all", "get", "put"]);
    }

    #[test]
    fn timeline_and_stage_plots() {
        let t = Timeline {
            start_unix_ms: 0,
            completed: vec![3, 4],
            errors: vec![0, 1],
            output_tokens: vec![0, 0],
            in_flight: vec![2, 0],
            truncated: false,
        };
        let plots = timeline_plots(&t);
        assert_eq!(plots.len(), 2, "no token plot without tokens");
        assert_eq!(plots[0].y[1], vec![Some(0.0), Some(1.0)]);
        assert!(timeline_plots(&Timeline::default()).is_empty());
        assert_eq!(
            slug("vllm:num_requests_running"),
            "vllm-num-requests-running"
        );
    }
}
