//! The per-instance result file and the summary merged over instances.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::WorkloadError;
use super::load::LoadOutcome;
use super::stats::{
    LatencyStats, add_histogram, decode_histogram, encode_histogram, new_histogram,
};

/// What one load-generator instance measured, as written to its result file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClientResult {
    /// Instance id.
    pub id: String,
    /// Workload type (`openai`, ...).
    pub workload: String,
    /// Start of the run, RFC 3339.
    pub started_at: String,
    /// Measurement window in seconds, warm-up excluded.
    pub duration_s: f64,
    /// Requests completed successfully.
    pub requests: u64,
    /// Requests failed.
    pub errors: u64,
    /// Failed requests by class (`connect`, `timeout`, `http_503`, `stream`,
    /// `invalid_payload`).
    pub error_classes: BTreeMap<String, u64>,
    /// Input tokens of successful requests.
    pub input_tokens: u64,
    /// Output tokens of successful requests.
    pub output_tokens: u64,
    /// Where output token counts come from: `usage`, `counted`, `mixed`, or
    /// `none`.
    pub token_count_source: String,
    /// Why the error policy aborted the run, if it did.
    pub aborted: Option<String>,
    /// Histograms of microseconds by name (`ttft`, `itl`, `e2el`, `tpot`,
    /// `queue_time`; storage workloads add `ttfb`, `ttlb` and per-operation
    /// `<op>.ttfb`, `<op>.ttlb`): base64 of the HdrHistogram V2-deflate
    /// encoding.
    pub histograms: BTreeMap<String, String>,
    /// Storage workloads: payload bytes read by measured requests.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes_read: u64,
    /// Storage workloads: payload bytes written by measured requests.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes_written: u64,
    /// Storage workloads: reads whose content did not match what was written,
    /// or objects acknowledged as written and then missing, warm-up included.
    /// Each is also a failed request of class `data_loss`, never a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss: Option<u64>,
    /// Storage workloads: measured requests by operation (`put`, `get`,
    /// `query`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operations: BTreeMap<String, OperationStats>,
    /// Vector-database workloads: recall@k against exact search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<RecallStats>,
    /// Storage workloads: what was loaded before the run (pre-populated
    /// objects, added vectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<SetupStats>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Measured requests of one operation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct OperationStats {
    /// Successful requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Payload bytes moved by the successful requests.
    pub bytes: u64,
}

impl OperationStats {
    fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.bytes += other.bytes;
    }
}

/// Recall@k of sampled queries against exact (brute-force) search.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RecallStats {
    /// Results per query.
    pub k: u32,
    /// Queries whose recall was measured.
    pub queries: u64,
    /// Mean recall@k over them, 0..1.
    pub mean: f64,
    /// Lowest recall@k of a single query.
    pub min: f64,
}

/// What a storage workload loaded before its run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SetupStats {
    /// Objects or vectors loaded.
    pub items: u64,
    /// Payload bytes loaded.
    pub bytes: u64,
    /// Time the loading took, in seconds.
    pub duration_s: f64,
    /// Items per second while loading.
    pub items_per_second: f64,
}

impl ClientResult {
    /// The result of a finished run.
    pub fn from_outcome(
        id: &str,
        workload: &str,
        started_at: jiff::Timestamp,
        outcome: &LoadOutcome,
    ) -> Result<Self, WorkloadError> {
        let r = &outcome.recorder;
        let histograms = r
            .histograms()
            .map(|(name, h)| Ok((name.to_string(), encode_histogram(name, h)?)))
            .collect::<Result<_, WorkloadError>>()?;
        Ok(Self {
            id: id.to_string(),
            workload: workload.to_string(),
            started_at: started_at.to_string(),
            duration_s: outcome.measurement.as_secs_f64(),
            requests: r.requests,
            errors: r.errors,
            error_classes: r.error_classes.clone(),
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            token_count_source: r.token_count_source().to_string(),
            aborted: outcome.aborted.clone(),
            histograms,
            bytes_read: 0,
            bytes_written: 0,
            data_loss: None,
            operations: BTreeMap::new(),
            recall: None,
            setup: None,
        })
    }

    /// Decodes the histogram `name`, if present.
    pub fn histogram(&self, name: &str) -> Result<Option<Histogram<u64>>, WorkloadError> {
        self.histograms
            .get(name)
            .map(|text| decode_histogram(name, text))
            .transpose()
    }
}

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
    /// Latency statistics by name (`ttft`, `itl`, `e2el`, `tpot`,
    /// `queue_time`), present when recorded.
    pub latency: BTreeMap<String, LatencyStats>,
    /// `id: reason` of each instance the error policy aborted.
    pub aborted: Vec<String>,
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
}

/// Merges the results of instances: counters add up, histograms are decoded
/// and added, throughputs divide by the longest measurement window.
pub fn merge(results: &[ClientResult]) -> Result<Summary, WorkloadError> {
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
        latency: BTreeMap::new(),
        aborted: Vec::new(),
        bytes_read: 0,
        bytes_written: 0,
        bytes_throughput: None,
        data_loss: None,
        operations: BTreeMap::new(),
        recall: None,
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
        if r.duration_s.is_finite() {
            s.duration_s = s.duration_s.max(r.duration_s);
        }
        if let Some(reason) = &r.aborted {
            s.aborted.push(format!("{}: {reason}", r.id));
        }
        s.bytes_read += r.bytes_read;
        s.bytes_written += r.bytes_written;
        if let Some(n) = r.data_loss {
            *s.data_loss.get_or_insert(0) += n;
        }
        for (op, stats) in &r.operations {
            s.operations.entry(op.clone()).or_default().add(stats);
        }
        if let Some(rc) = &r.recall {
            s.recall = Some(match s.recall.take() {
                None => rc.clone(),
                Some(acc) => merge_recall(&acc, rc),
            });
        }
        for (name, text) in &r.histograms {
            let h = decode_histogram(name, text)?;
            if !histograms.contains_key(name) {
                histograms.insert(name.clone(), new_histogram()?);
            }
            if let Some(merged) = histograms.get_mut(name) {
                add_histogram(name, merged, &h)?;
            }
        }
    }
    if s.duration_s > 0.0 {
        s.request_throughput = s.requests as f64 / s.duration_s;
        s.output_token_throughput = s.output_tokens as f64 / s.duration_s;
        s.total_token_throughput = (s.input_tokens + s.output_tokens) as f64 / s.duration_s;
        if s.bytes_read + s.bytes_written > 0 {
            s.bytes_throughput = Some((s.bytes_read + s.bytes_written) as f64 / s.duration_s);
        }
    }
    s.latency = histograms
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(name, h)| (name.clone(), LatencyStats::from_histogram(h)))
        .collect();
    Ok(s)
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
    use crate::workload::stats::{E2EL, TTFT};

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
            token_count_source: "usage".to_string(),
            aborted: None,
            histograms: BTreeMap::from([(E2EL.to_string(), encode_histogram(E2EL, &h).unwrap())]),
            bytes_read: 0,
            bytes_written: 0,
            data_loss: None,
            operations: BTreeMap::new(),
            recall: None,
            setup: None,
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
