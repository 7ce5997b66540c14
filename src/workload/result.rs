//! The summary merged over instances (`summary.json`): counters add up,
//! histograms merge, throughputs divide by the longest window, a sweep's
//! saturation is analysed, and the vLLM-compatible keys are written. The
//! per-instance result lives in [`super::client_result`] (re-exported).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::WorkloadError;
pub use super::client_result::{
    ClientResult, OperationStats, RecallStats, SetupStats, TurnStats, merge_timelines,
};
use super::client_result::{add_all, is_zero};
use super::saturation::{self, Saturation, SweepPoint};
use super::stats::{DEFAULT_PERCENTILES, E2EL, ITL, LatencyStats, TPOT, TTFT, percentile_key};
use super::tokenize::PromptTokens;

/// Results of all instances, merged.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Number of instances merged.
    pub instances: u32,
    /// Successful requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Failed requests by class.
    pub error_classes: BTreeMap<String, u64>,
    /// Longest measurement window of the instances, in seconds.
    pub duration_s: f64,
    /// Successful requests per second.
    pub request_throughput: f64,
    /// Output tokens per second.
    pub output_token_throughput: f64,
    /// Input plus output tokens per second.
    pub total_token_throughput: f64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Embeddings: inputs embedded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inputs: u64,
    /// Embeddings: inputs embedded per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_throughput: Option<f64>,
    /// Embeddings: input tokens per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_token_throughput: Option<f64>,
    /// Latency statistics by name (`ttft`, `itl`, `e2el`, `tpot`,
    /// `queue_time`), present when recorded.
    pub latency: BTreeMap<String, LatencyStats>,
    /// `id: reason` of each instance the error policy aborted.
    pub aborted: Vec<String>,
    /// Successful requests meeting every goodput objective, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good_requests: Option<u64>,
    /// Good requests per second, when goodput objectives were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_goodput: Option<f64>,
    /// Sum of the instances' concurrency, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Sum of the instances' open-loop rates, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Sum of the instances' achieved send rates (requests per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_rate: Option<f64>,
    /// With stages: one summary per stage, merged over instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<Summary>,
    /// The same figures under the keys `vllm bench serve --save-result`
    /// writes (`completed`, `request_throughput`, `mean_ttft_ms`,
    /// `p99_itl_ms`, ...), for tools that read those files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vllm: BTreeMap<String, serde_json::Value>,
    /// Storage workloads: payload bytes read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes_read: u64,
    /// Storage workloads: payload bytes written.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes_written: u64,
    /// Storage workloads: payload bytes read and written per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_throughput: Option<f64>,
    /// Storage workloads: data-loss events (checksum mismatches, lost objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss: Option<u64>,
    /// Storage workloads: requests by operation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operations: BTreeMap<String, OperationStats>,
    /// Vector-database workloads: recall@k, query-weighted over instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<RecallStats>,
    /// Multi-turn conversations: requests and tokens by turn.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub turns: BTreeMap<u32, TurnStats>,
    /// With two or more stages: the throughput–latency curve, the
    /// saturation point and the best goodput ([`super::saturation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation: Option<Saturation>,
    /// With `dataset.tokenizer: server`: counted prompt tokens compared with
    /// the server's usage, summed over instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<PromptTokens>,
    /// The instances' own overhead (`calibration`), merged and flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<super::calibration::CalibrationSummary>,
}

impl Summary {
    /// The latency metric a sweep's rule reads: e2el, else ttft, else the
    /// first one measured.
    pub fn sweep_metric(&self) -> Option<&str> {
        ["e2el", "ttft"]
            .into_iter()
            .find(|m| self.latency.contains_key(*m))
            .or_else(|| self.latency.keys().next().map(String::as_str))
    }

    /// This summary as stage `stage` of a sweep, its latency read from
    /// `metric`.
    /// Embeddings (inputs counted): the load is scaled by the batch (inputs
    /// per request) and the throughput is inputs per second, so a sweep of
    /// batch sizes is judged by what it delivers.
    pub fn sweep_point(&self, stage: usize, metric: Option<&str>) -> SweepPoint {
        let base = self
            .concurrency
            .map(f64::from)
            .or(self.rate)
            .unwrap_or_default();
        let (load, throughput) = match self.input_throughput {
            Some(inputs_per_s) if self.requests > 0 => (
                base * (self.inputs as f64 / self.requests as f64).round(),
                inputs_per_s,
            ),
            _ => (base, self.request_throughput),
        };
        SweepPoint {
            stage,
            load,
            throughput,
            latency_p50_ms: metric.and_then(|m| self.latency.get(m)).map(|l| l.p50_ms),
            goodput: self.request_goodput,
        }
    }

    /// The analysis of this summary's stages ([`super::saturation`]); None
    /// without two stages.
    fn sweep(&self, stopped_early: bool) -> Option<Saturation> {
        let first = self.stages.first()?;
        let mut load_kind = if first.concurrency.is_none() && first.rate.is_some() {
            "rate".to_string()
        } else {
            "concurrency".to_string()
        };
        if first.input_throughput.is_some() {
            load_kind.push_str(" x batch");
        }
        let metric = first.sweep_metric().map(str::to_string);
        let curve = self
            .stages
            .iter()
            .enumerate()
            .map(|(k, st)| st.sweep_point(k, metric.as_deref()))
            .collect();
        saturation::analyse(&load_kind, metric, curve, stopped_early)
    }
}

/// Merges the results of instances: counters add up, histograms are decoded
/// and added, throughputs divide by the longest measurement window. Reports
/// the default percentiles.
pub fn merge(results: &[ClientResult]) -> Result<Summary, WorkloadError> {
    merge_with(results, &[])
}

/// [`merge`], also reporting `percentiles` (in percent, e.g. 99.9) of every
/// latency metric.
pub fn merge_with(results: &[ClientResult], percentiles: &[f64]) -> Result<Summary, WorkloadError> {
    let mut s = Summary {
        instances: u32::try_from(results.len()).unwrap_or(u32::MAX),
        requests: 0,
        errors: 0,
        error_classes: BTreeMap::new(),
        duration_s: 0.0,
        request_throughput: 0.0,
        output_token_throughput: 0.0,
        total_token_throughput: 0.0,
        input_tokens: 0,
        output_tokens: 0,
        inputs: 0,
        input_throughput: None,
        input_token_throughput: None,
        latency: BTreeMap::new(),
        aborted: Vec::new(),
        good_requests: None,
        request_goodput: None,
        concurrency: None,
        rate: None,
        send_rate: None,
        stages: Vec::new(),
        vllm: BTreeMap::new(),
        bytes_read: 0,
        bytes_written: 0,
        bytes_throughput: None,
        data_loss: None,
        operations: BTreeMap::new(),
        recall: None,
        turns: BTreeMap::new(),
        saturation: None,
        prompt_tokens: None,
        calibration: None,
    };
    let mut histograms: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for r in results {
        s.requests += r.requests;
        s.errors += r.errors;
        for (class, n) in &r.error_classes {
            *s.error_classes.entry(class.clone()).or_default() += n;
        }
        s.input_tokens += r.input_tokens;
        s.output_tokens += r.output_tokens;
        s.inputs += r.inputs;
        if r.duration_s.is_finite() {
            s.duration_s = s.duration_s.max(r.duration_s);
        }
        if let Some(reason) = &r.aborted {
            s.aborted.push(format!("{}: {reason}", r.id));
        }
        if let Some(g) = r.good_requests {
            s.good_requests = Some(s.good_requests.unwrap_or(0) + g);
        }
        s.bytes_read += r.bytes_read;
        s.bytes_written += r.bytes_written;
        if let Some(n) = r.data_loss {
            *s.data_loss.get_or_insert(0) += n;
        }
        for (op, stats) in &r.operations {
            s.operations.entry(op.clone()).or_default().add(stats);
        }
        for (turn, stats) in &r.turns {
            s.turns.entry(*turn).or_default().add(stats);
        }
        if let Some(p) = &r.prompt_tokens {
            s.prompt_tokens.get_or_insert_with(Default::default).add(p);
        }
        if let Some(rc) = &r.recall {
            s.recall = Some(match s.recall.take() {
                None => rc.clone(),
                Some(acc) => merge_recall(&acc, rc),
            });
        }
        if let Some(c) = r.concurrency {
            s.concurrency = Some(s.concurrency.unwrap_or(0) + c);
        }
        if let Some(rate) = r.rate {
            s.rate = Some(s.rate.unwrap_or(0.0) + rate);
        }
        if let Some(rate) = r.send_rate {
            s.send_rate = Some(s.send_rate.unwrap_or(0.0) + rate);
        }
        add_all(&mut histograms, &r.histograms)?;
    }
    if s.duration_s > 0.0 {
        s.request_throughput = s.requests as f64 / s.duration_s;
        s.output_token_throughput = s.output_tokens as f64 / s.duration_s;
        s.total_token_throughput = (s.input_tokens + s.output_tokens) as f64 / s.duration_s;
        s.request_goodput = s.good_requests.map(|g| g as f64 / s.duration_s);
        if s.inputs > 0 {
            s.input_throughput = Some(s.inputs as f64 / s.duration_s);
            s.input_token_throughput = Some(s.input_tokens as f64 / s.duration_s);
        }
        if s.bytes_read + s.bytes_written > 0 {
            s.bytes_throughput = Some((s.bytes_read + s.bytes_written) as f64 / s.duration_s);
        }
    }
    s.latency = histograms
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(name, h)| {
            let stats = if percentiles.is_empty() {
                LatencyStats::from_histogram(h)
            } else {
                LatencyStats::with_percentiles(h, percentiles)
            };
            (name.clone(), stats)
        })
        .collect();
    let stage_count = results.iter().map(|r| r.stages.len()).max().unwrap_or(0);
    for k in 0..stage_count {
        let parts: Vec<ClientResult> = results
            .iter()
            .filter_map(|r| r.stages.get(k).cloned())
            .collect();
        s.stages.push(merge_with(&parts, percentiles)?);
    }
    let stopped = results.iter().any(|r| r.stopped_at_saturation);
    s.saturation = s.sweep(stopped);
    let cals: Vec<(&str, &super::calibration::Calibration)> = results
        .iter()
        .filter_map(|r| r.calibration.as_ref().map(|c| (r.id.as_str(), c)))
        .collect();
    s.calibration = super::calibration::summarize(&cals, s.latency.get("ttft"));
    let timeline = super::timeline::Timeline::merge(results.iter().map(|r| &r.timeline));
    s.vllm = vllm_keys(&s, &histograms, percentiles, &timeline);
    Ok(s)
}

/// The summary under `vllm bench serve --save-result` keys. Its metrics have
/// the same definitions here (see docs/metrics.md); vLLM's `median` is the
/// p50 of the histogram (3 significant digits).
fn vllm_keys(
    s: &Summary,
    histograms: &BTreeMap<String, Histogram<u64>>,
    percentiles: &[f64],
    timeline: &super::timeline::Timeline,
) -> BTreeMap<String, serde_json::Value> {
    use serde_json::json;
    let mut m = BTreeMap::new();
    m.insert("num_prompts".to_string(), json!(s.requests + s.errors));
    m.insert("completed".to_string(), json!(s.requests));
    m.insert("failed".to_string(), json!(s.errors));
    m.insert("duration".to_string(), json!(s.duration_s));
    m.insert("total_input_tokens".to_string(), json!(s.input_tokens));
    m.insert("total_output_tokens".to_string(), json!(s.output_tokens));
    m.insert(
        "request_throughput".to_string(),
        json!(s.request_throughput),
    );
    m.insert(
        "output_throughput".to_string(),
        json!(s.output_token_throughput),
    );
    m.insert(
        "total_token_throughput".to_string(),
        json!(s.total_token_throughput),
    );
    // vLLM writes null when unset, and "inf" for no rate limit.
    m.insert("request_goodput".to_string(), json!(s.request_goodput));
    m.insert("max_concurrency".to_string(), json!(s.concurrency));
    m.insert(
        "request_rate".to_string(),
        s.rate.map_or_else(|| json!("inf"), |r| json!(r)),
    );
    // Peaks over whole seconds of the merged timeline (vLLM: over its
    // one-second buckets of token arrival).
    let peak = |v: &[u64]| v.iter().copied().max().unwrap_or(0);
    m.insert(
        "max_output_tokens_per_s".to_string(),
        json!(peak(&timeline.output_tokens) as f64),
    );
    m.insert(
        "max_concurrent_requests".to_string(),
        json!(peak(&timeline.in_flight)),
    );
    let mut ps: Vec<f64> = DEFAULT_PERCENTILES.to_vec();
    ps.extend(
        percentiles
            .iter()
            .copied()
            .filter(|p| (0.0..=100.0).contains(p)),
    );
    for name in [TTFT, TPOT, ITL, E2EL] {
        let Some(h) = histograms.get(name).filter(|h| !h.is_empty()) else {
            continue;
        };
        let ms = |us: f64| us / 1000.0;
        m.insert(format!("mean_{name}_ms"), json!(ms(h.mean())));
        m.insert(format!("std_{name}_ms"), json!(ms(h.stdev())));
        m.insert(
            format!("median_{name}_ms"),
            json!(ms(h.value_at_quantile(0.5) as f64)),
        );
        for p in &ps {
            m.insert(
                format!("{}_{name}_ms", percentile_key(*p)),
                json!(ms(h.value_at_quantile(p / 100.0) as f64)),
            );
        }
    }
    m
}

/// Query-weighted mean and overall minimum of two recall measurements.
fn merge_recall(a: &RecallStats, b: &RecallStats) -> RecallStats {
    let queries = a.queries + b.queries;
    let mean = if queries == 0 {
        0.0
    } else {
        (a.mean * a.queries as f64 + b.mean * b.queries as f64) / queries as f64
    };
    let min = match (a.queries, b.queries) {
        (0, _) => b.min,
        (_, 0) => a.min,
        _ => a.min.min(b.min),
    };
    RecallStats {
        k: a.k.max(b.k),
        queries,
        mean,
        min,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::load::Timeline;
    use crate::workload::stats::{encode_histogram, new_histogram};

    fn result(id: &str, values: &[u64], duration_s: f64) -> ClientResult {
        let mut h = new_histogram().unwrap();
        for v in values {
            h.record(*v).unwrap();
        }
        ClientResult {
            id: id.to_string(),
            workload: "openai".to_string(),
            started_at: "2025-01-01T00:00:00Z".to_string(),
            duration_s,
            requests: values.len() as u64,
            errors: 1,
            error_classes: BTreeMap::from([("timeout".to_string(), 1)]),
            input_tokens: 10,
            output_tokens: 100,
            inputs: 0,
            token_count_source: "usage".to_string(),
            aborted: None,
            histograms: BTreeMap::from([(E2EL.to_string(), encode_histogram(E2EL, &h).unwrap())]),
            concurrency: Some(2),
            seed: Some(1),
            ..ClientResult::default()
        }
    }

    #[test]
    fn merging_equals_one_histogram_of_all_values() {
        let a: Vec<u64> = (1..=500).map(|v| v * 97).collect();
        let b: Vec<u64> = (1..=300).map(|v| v * 1013 + 5).collect();
        let mut b_result = result("b", &b, 4.0);
        b_result.aborted = Some("10 consecutive errors".to_string());
        let s = merge(&[result("a", &a, 2.0), b_result]).unwrap();
        let mut all = new_histogram().unwrap();
        for v in a.iter().chain(&b) {
            all.record(*v).unwrap();
        }
        assert_eq!(s.latency[E2EL], LatencyStats::from_histogram(&all));
        assert_eq!(s.latency[E2EL].count, 800);
        assert!(!s.latency.contains_key(TTFT));
        assert_eq!(s.instances, 2);
        assert_eq!(s.requests, 800);
        assert_eq!(s.errors, 2);
        assert_eq!(s.error_classes["timeout"], 2);
        assert_eq!(s.duration_s, 4.0);
        assert_eq!(s.request_throughput, 200.0);
        assert_eq!(s.output_token_throughput, 50.0);
        assert_eq!(s.total_token_throughput, 55.0);
        assert_eq!(s.aborted, vec!["b: 10 consecutive errors".to_string()]);
    }

    #[test]
    fn result_json_round_trips_and_is_camel_case() {
        let r = result("a", &[1, 2, 3], 1.0);
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"errorClasses\""));
        assert!(text.contains("\"tokenCountSource\""));
        assert!(text.contains("\"durationS\""));
        let back: ClientResult = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.histogram(E2EL).unwrap().unwrap().len(), 3);
        assert!(back.histogram(TTFT).unwrap().is_none());
    }

    #[test]
    fn merge_rejects_corrupt_histograms() {
        let mut r = result("a", &[1], 1.0);
        r.histograms.insert(TTFT.to_string(), "garbage".to_string());
        assert!(merge(&[r]).is_err());
        let empty = merge(&[]).unwrap();
        assert_eq!(empty.requests, 0);
        assert_eq!(empty.request_throughput, 0.0);
    }

    #[test]
    fn vllm_keys_and_stages() {
        let a: Vec<u64> = (1..=100).map(|v| v * 1000).collect();
        let s = merge_with(&[result("a", &a, 2.0)], &[99.9]).unwrap();
        assert_eq!(s.vllm["completed"], 100);
        assert_eq!(s.vllm["request_throughput"], 50.0);
        assert_eq!(s.vllm["max_concurrency"], 2);
        // Unset settings as vLLM writes them; failed requests count as prompts.
        assert_eq!(s.vllm["request_rate"], "inf");
        assert_eq!(s.vllm["request_goodput"], serde_json::Value::Null);
        assert_eq!(s.vllm["num_prompts"], 101);
        assert_eq!(s.vllm["max_concurrent_requests"], 0);
        let median = s.vllm["median_e2el_ms"].as_f64().unwrap();
        assert!((median - 50.0).abs() < 0.1, "{median}");
        assert!(s.vllm.contains_key("p99.9_e2el_ms"));
        assert!(s.vllm.contains_key("p99_e2el_ms"));
        assert!(!s.vllm.contains_key("mean_ttft_ms"));
        assert!(s.latency[E2EL].percentiles.contains_key("p99.9"));

        // Two stages: the total sums them, the summary keeps one per stage.
        let total =
            ClientResult::combine_stages(vec![result("a", &a, 2.0), result("a", &a[..50], 1.0)])
                .unwrap();
        assert_eq!(total.requests, 150);
        assert_eq!(total.duration_s, 3.0);
        assert_eq!(total.stages.len(), 2);
        assert_eq!(total.histogram(E2EL).unwrap().unwrap().len(), 150);
        let s = merge(&[total.clone(), total]).unwrap();
        assert_eq!(s.stages.len(), 2);
        assert_eq!(s.stages[0].requests, 200);
        assert_eq!(s.stages[1].requests, 100);
        assert_eq!(s.requests, 300);
    }

    fn with_timeline(mut r: ClientResult, start_unix_ms: i64, completed: &[u64]) -> ClientResult {
        r.timeline = Timeline {
            start_unix_ms,
            completed: completed.to_vec(),
            errors: vec![0; completed.len()],
            output_tokens: completed.iter().map(|c| c * 32).collect(),
            in_flight: vec![2; completed.len()],
            truncated: false,
        };
        r
    }

    #[test]
    fn timelines_join_stages_and_merge_across_instances() {
        // Two stages of one instance, the second starting 3 s after the first
        // (a 1 s gap for its warm-up): one clock, the stages keep none.
        let s1 = with_timeline(result("a", &[1], 2.0), 1_000, &[5, 6]);
        let s2 = with_timeline(result("a", &[1], 1.0), 4_000, &[7]);
        let a = ClientResult::combine_stages(vec![s1, s2]).unwrap();
        assert_eq!(a.timeline.completed, vec![5, 6, 0, 7]);
        assert_eq!(a.timeline.in_flight, vec![2, 2, 0, 2]);
        assert!(a.stages.iter().all(|s| s.timeline.is_empty()));
        // A second instance that started 1.2 s later: summed one second on.
        let b = with_timeline(result("b", &[1], 2.0), 2_200, &[10, 10]);
        let m = merge_timelines(&[a.clone(), b]);
        assert_eq!(m.start_unix_ms, 1_000);
        assert_eq!(m.completed, vec![5, 16, 10, 7]);
        assert_eq!(m.output_tokens, vec![160, 512, 320, 224]);
        // Serialised, and read back; a result without one still loads.
        let text = serde_json::to_string(&a).unwrap();
        assert!(
            text.contains("\"timeline\":{\"startUnixMs\":1000"),
            "{text}"
        );
        let back: ClientResult = serde_json::from_str(&text).unwrap();
        assert_eq!(back, a);
        let plain = serde_json::to_string(&result("c", &[1], 1.0)).unwrap();
        assert!(!plain.contains("timeline"), "{plain}");
        let old: ClientResult = serde_json::from_str(&plain).unwrap();
        assert!(old.timeline.is_empty());
    }

    #[test]
    fn storage_fields_merge_and_stay_out_of_openai_results() {
        let plain = serde_json::to_string(&result("a", &[1], 1.0)).unwrap();
        assert!(
            !plain.contains("dataLoss") && !plain.contains("recall"),
            "{plain}"
        );
        let mut a = result("a", &[1], 2.0);
        a.bytes_read = 100;
        a.bytes_written = 300;
        a.data_loss = Some(0);
        a.operations.insert(
            "get".into(),
            OperationStats {
                requests: 3,
                errors: 1,
                bytes: 100,
            },
        );
        a.recall = Some(RecallStats {
            k: 10,
            queries: 10,
            mean: 1.0,
            min: 1.0,
        });
        let mut b = a.clone();
        b.data_loss = Some(2);
        b.recall = Some(RecallStats {
            k: 10,
            queries: 30,
            mean: 0.8,
            min: 0.5,
        });
        let s = merge(&[a, b]).unwrap();
        assert_eq!(s.data_loss, Some(2));
        assert_eq!(s.bytes_throughput, Some(400.0));
        assert_eq!(
            s.operations["get"],
            OperationStats {
                requests: 6,
                errors: 2,
                bytes: 200
            }
        );
        let r = s.recall.unwrap();
        assert_eq!(r.queries, 40);
        assert!((r.mean - 0.85).abs() < 1e-9);
        assert_eq!(r.min, 0.5);
    }
}
