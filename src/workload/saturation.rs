//! Where a sweep saturates: the throughput–latency curve of a run's stages,
//! its saturation point, and the stage with the best goodput. Pure.
//!
//! The rule (documented in docs/metrics.md, "Sweeps"): going from one stage
//! to the next with more load (concurrency, else rate), a stage **stops
//! paying** when its request throughput rose by less than
//! [`MIN_THROUGHPUT_GAIN`] (10 %) while its median latency (e2el, else
//! ttft, else the first latency measured) rose by at least
//! [`MIN_LATENCY_RISE`] (10 %): the extra load only queues. The saturation
//! point is the stage before the first stage that stops paying — the
//! highest load the server still turned into throughput. A sweep none of
//! whose stages stops paying did not reach saturation (it says so).
//!
//! The best goodput is the stage with the most good requests per second
//! (requests meeting every `goodput` objective), as `vllm bench serve`
//! defines goodput: the highest load worth running under the objectives.
//!
//! With `load.stopAtSaturation` a client instance applies the same rule to
//! its own stages as they end ([`stops_paying`]) and skips the rest.

use serde::{Deserialize, Serialize};

/// Below this relative throughput gain, more load no longer pays.
pub const MIN_THROUGHPUT_GAIN: f64 = 0.10;

/// At or above this relative rise of the median latency, the extra load
/// queues.
pub const MIN_LATENCY_RISE: f64 = 0.10;

/// One stage on the throughput–latency curve.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SweepPoint {
    /// Index of the stage (0-based).
    pub stage: usize,
    /// The stage's load: its total concurrency, else its total rate (for
    /// embeddings times the batch: inputs per request).
    pub load: f64,
    /// Successful requests per second (embeddings: inputs per second).
    pub throughput: f64,
    /// Median latency (ms) of the metric the rule reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    /// Good requests per second, when goodput objectives were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<f64>,
}

/// A sweep's analysis, in the summary (`total.saturation`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Saturation {
    /// What `load` is: `concurrency` or `rate` (`... x batch` for
    /// embeddings).
    pub load_kind: String,
    /// The latency metric the rule read (`e2el`, `ttft`, ...), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_metric: Option<String>,
    /// One point per stage, in the order they ran.
    pub curve: Vec<SweepPoint>,
    /// The saturation point; None when no stage stopped paying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<SweepPoint>,
    /// Why, in words (which stage stopped paying and by how much).
    pub reason: String,
    /// The stage with the highest goodput, when objectives were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_goodput: Option<SweepPoint>,
    /// True when a client skipped its remaining stages past saturation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped_early: bool,
}

/// Whether `cur`, with more load than `prev`, stops paying (see the module
/// documentation). Without latencies the throughput alone decides.
pub fn stops_paying(prev: &SweepPoint, cur: &SweepPoint) -> bool {
    if cur.load <= prev.load {
        return false;
    }
    let flat = cur.throughput < prev.throughput * (1.0 + MIN_THROUGHPUT_GAIN);
    let queues = match (prev.latency_p50_ms, cur.latency_p50_ms) {
        (Some(a), Some(b)) => b >= a * (1.0 + MIN_LATENCY_RISE),
        _ => true,
    };
    flat && queues
}

/// The analysis of a sweep's `curve` (one point per stage, in order;
/// `load_kind` says what the load is, `metric` which latency the points
/// carry); None with fewer than two stages.
pub fn analyse(
    load_kind: &str,
    metric: Option<String>,
    curve: Vec<SweepPoint>,
    stopped_early: bool,
) -> Option<Saturation> {
    if curve.len() < 2 {
        return None;
    }
    let knee = curve
        .windows(2)
        .find(|w| stops_paying(&w[0], &w[1]))
        .map(|w| (w[0].clone(), w[1].clone()));
    let what = metric.as_deref().unwrap_or("latency");
    let (point, reason) = match knee {
        Some((before, after)) => {
            let gain = relative(before.throughput, after.throughput);
            let rise = match (before.latency_p50_ms, after.latency_p50_ms) {
                (Some(a), Some(b)) => format!(", median {what} {:+.0}%", relative(a, b) * 100.0),
                _ => String::new(),
            };
            let reason = format!(
                "saturated at {load_kind} {}: stage {} ({load_kind} {}) gained {:+.1}% throughput{rise}",
                before.load,
                after.stage + 1,
                after.load,
                gain * 100.0,
            );
            (Some(before), reason)
        }
        None => (
            None,
            format!(
                "not saturated: throughput still rose by at least {:.0}% (or latency held) at every stage",
                MIN_THROUGHPUT_GAIN * 100.0
            ),
        ),
    };
    let best_goodput = curve
        .iter()
        .filter(|p| p.goodput.is_some())
        .max_by(|a, b| {
            a.goodput
                .partial_cmp(&b.goodput)
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .cloned();
    Some(Saturation {
        load_kind: load_kind.to_string(),
        latency_metric: metric,
        curve,
        point,
        reason,
        best_goodput,
        stopped_early,
    })
}

fn relative(before: f64, after: f64) -> f64 {
    if before > 0.0 {
        after / before - 1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(load: f64, throughput: f64, lat: f64) -> SweepPoint {
        SweepPoint {
            stage: 0,
            load,
            throughput,
            latency_p50_ms: Some(lat),
            goodput: None,
        }
    }

    #[test]
    fn a_stage_stops_paying_when_throughput_is_flat_and_latency_climbs() {
        // The simulator's model: 1, 4, 16 workers scale, 32 only queues.
        assert!(!stops_paying(&p(4.0, 28.0, 140.0), &p(16.0, 53.0, 300.0)));
        assert!(stops_paying(&p(16.0, 53.0, 300.0), &p(32.0, 54.0, 590.0)));
        // Flat throughput at flat latency: noise, not saturation.
        assert!(!stops_paying(&p(16.0, 53.0, 300.0), &p(32.0, 54.0, 305.0)));
        // Less load is never past saturation.
        assert!(!stops_paying(&p(16.0, 53.0, 300.0), &p(8.0, 20.0, 900.0)));
        // Without latencies, flat throughput decides.
        let mut a = p(1.0, 10.0, 0.0);
        let mut b = p(2.0, 10.5, 0.0);
        a.latency_p50_ms = None;
        b.latency_p50_ms = None;
        assert!(stops_paying(&a, &b));
    }

    fn stage(k: usize, concurrency: f64, throughput: f64, e2el: f64, goodput: f64) -> SweepPoint {
        SweepPoint {
            stage: k,
            goodput: Some(goodput),
            ..p(concurrency, throughput, e2el)
        }
    }

    #[test]
    fn the_saturation_point_is_the_stage_before_the_first_that_stops_paying() {
        let mut curve = vec![
            stage(0, 1.0, 7.0, 140.0, 7.0),
            stage(1, 4.0, 28.0, 143.0, 27.0),
            stage(2, 16.0, 53.0, 300.0, 10.0),
            stage(3, 32.0, 53.5, 600.0, 0.0),
        ];
        let e2el = Some("e2el".to_string());
        let a = analyse("concurrency", e2el.clone(), curve.clone(), false).unwrap();
        assert_eq!(a.load_kind, "concurrency");
        assert_eq!(a.latency_metric.as_deref(), Some("e2el"));
        assert_eq!(a.curve.len(), 4);
        let point = a.point.unwrap();
        assert_eq!((point.stage, point.load), (2, 16.0));
        assert!(
            a.reason.contains("stage 4 (concurrency 32)"),
            "{}",
            a.reason
        );
        assert_eq!(a.best_goodput.unwrap().load, 4.0);
        // A sweep that keeps scaling is not saturated.
        curve.truncate(3);
        let a = analyse("concurrency", e2el.clone(), curve.clone(), false).unwrap();
        assert!(a.point.is_none());
        assert!(a.reason.starts_with("not saturated"), "{}", a.reason);
        // One stage is no sweep.
        curve.truncate(1);
        assert!(analyse("concurrency", e2el, curve, false).is_none());
    }
}
