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
    /// `queue_time`): base64 of the HdrHistogram V2-deflate encoding.
    pub histograms: BTreeMap<String, String>,
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
    }
    s.latency = histograms
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(name, h)| (name.clone(), LatencyStats::from_histogram(h)))
        .collect();
    Ok(s)
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
}
