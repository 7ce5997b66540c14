//! The per-instance result file (`clients/<id>.json`): what one
//! load-generator instance measured, its stages combined into one result,
//! and the counters it shares with the merged summary ([`super::result`]).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::WorkloadError;
use super::load::{LoadOutcome, Timeline};
use super::stats::{add_histogram, decode_histogram, encode_histogram, new_histogram};
use super::tokenize::PromptTokens;

/// What one load-generator instance measured, as written to its result file.
/// (`Default`: an empty result, for building one field by field.)
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
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
    /// Embeddings: inputs embedded by successful requests (batch size times
    /// requests).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inputs: u64,
    /// Where output token counts come from: `usage`, `counted`, `mixed`, or
    /// `none` (embeddings: where input token counts come from, `usage`,
    /// `estimated` or `mixed`).
    pub token_count_source: String,
    /// Why the error policy aborted the run, if it did.
    pub aborted: Option<String>,
    /// Histograms of microseconds by name (`ttft`, `ttfc`, `itl`, `e2el`,
    /// `tpot`, `e2el_intended`, `queue_time`, `client_lag`; storage workloads
    /// add `ttfb`, `ttlb` and per-operation `<op>.ttfb`, `<op>.ttlb`): base64
    /// of the HdrHistogram V2-deflate encoding.
    pub histograms: BTreeMap<String, String>,
    /// Successful requests that met every goodput objective, when
    /// objectives were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good_requests: Option<u64>,
    /// Workers (closed loop) or in-flight cap (open loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Open loop: the requested rate, requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Seed of arrivals and synthetic data, to reproduce the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Achieved send rate of measured requests (requests per second), to
    /// compare with `rate` in an open loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_rate: Option<f64>,
    /// With `load.stages`: the result of each stage (this result then sums
    /// them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<ClientResult>,
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
    /// Multi-turn conversations: measured requests by turn (1, 2, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub turns: BTreeMap<u32, TurnStats>,
    /// With `load.stopAtSaturation`: true when this instance skipped its
    /// remaining stages because the last one no longer paid
    /// ([`super::saturation`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped_at_saturation: bool,
    /// With `dataset.tokenizer: server`: the prompts' counted tokens
    /// compared with the server's `usage.prompt_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<PromptTokens>,
    /// Per-second counts since the measurement start (at most
    /// [`MAX_TIMELINE_SECONDS`](super::load::MAX_TIMELINE_SECONDS)). With
    /// stages, the total holds every stage's seconds on one clock and the
    /// stages hold none. Absent from results written before it existed.
    #[serde(default, skip_serializing_if = "Timeline::is_empty")]
    pub timeline: Timeline,
    /// A stage of a combined result: when its measurement started (Unix
    /// ms), its timeline's seconds being in the total's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_from_unix_ms: Option<i64>,
    /// The client's own overhead, measured before the load
    /// (`calibration`), when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<super::calibration::Calibration>,
}

pub(super) fn is_zero(n: &u64) -> bool {
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

/// Measured requests of one conversation turn.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TurnStats {
    /// Successful requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Prompt tokens of the successful requests (the server's usage counts).
    pub input_tokens: u64,
    /// Output tokens of the successful requests.
    pub output_tokens: u64,
}

impl TurnStats {
    /// Adds `other` into this.
    pub fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

impl OperationStats {
    pub(super) fn add(&mut self, other: &Self) {
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
            inputs: 0,
            token_count_source: r.token_count_source().to_string(),
            aborted: outcome.aborted.clone(),
            histograms,
            good_requests: r.goodput.as_ref().map(|_| r.good),
            concurrency: None,
            rate: None,
            seed: Some(outcome.seed),
            send_rate: outcome.send_rate,
            stages: Vec::new(),
            bytes_read: 0,
            bytes_written: 0,
            data_loss: None,
            operations: BTreeMap::new(),
            recall: None,
            setup: None,
            turns: BTreeMap::new(),
            stopped_at_saturation: false,
            prompt_tokens: None,
            timeline: r.timeline.clone(),
            measured_from_unix_ms: None,
            calibration: None,
        })
    }

    /// Sums the results of consecutive stages into one, keeping them as
    /// `stages`: counters and histograms add, durations add up.
    pub fn combine_stages(mut parts: Vec<ClientResult>) -> Result<Self, WorkloadError> {
        let mut iter = parts.iter();
        let Some(first) = iter.next() else {
            return Err(WorkloadError::InvalidConfig("no stage ran".to_string()));
        };
        if parts.len() == 1 {
            return Ok(first.clone());
        }
        let mut total = ClientResult {
            stages: Vec::new(),
            concurrency: None,
            rate: None,
            send_rate: None,
            ..first.clone()
        };
        let mut histograms: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
        for (k, part) in parts.iter().enumerate() {
            if k > 0 {
                total.duration_s += part.duration_s;
                total.requests += part.requests;
                total.errors += part.errors;
                for (class, n) in &part.error_classes {
                    *total.error_classes.entry(class.clone()).or_default() += n;
                }
                total.input_tokens += part.input_tokens;
                total.output_tokens += part.output_tokens;
                total.inputs += part.inputs;
                total.good_requests = match (total.good_requests, part.good_requests) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
                if total.token_count_source != part.token_count_source {
                    total.token_count_source = "mixed".to_string();
                }
                if total.aborted.is_none() {
                    total.aborted.clone_from(&part.aborted);
                }
                for (turn, stats) in &part.turns {
                    total.turns.entry(*turn).or_default().add(stats);
                }
            }
            add_all(&mut histograms, &part.histograms)?;
        }
        total.histograms = histograms
            .iter()
            .map(|(name, h)| Ok((name.clone(), encode_histogram(name, h)?)))
            .collect::<Result<_, WorkloadError>>()?;
        total.timeline = Timeline::merge(parts.iter().map(|p| &p.timeline));
        for part in &mut parts {
            // A stage keeps where its measurement started (GPU energy per
            // stage needs its window), not its seconds.
            if !part.timeline.is_empty() {
                part.measured_from_unix_ms = Some(part.timeline.start_unix_ms);
            }
            part.timeline = Timeline::default();
        }
        total.stages = parts;
        Ok(total)
    }

    /// Decodes the histogram `name`, if present.
    pub fn histogram(&self, name: &str) -> Result<Option<Histogram<u64>>, WorkloadError> {
        self.histograms
            .get(name)
            .map(|text| decode_histogram(name, text))
            .transpose()
    }
}

/// The instances' timelines summed per second, aligned on their wall-clock
/// starts (see [`Timeline::merge`]).
pub fn merge_timelines(results: &[ClientResult]) -> Timeline {
    Timeline::merge(results.iter().map(|r| &r.timeline))
}

/// Decodes each encoded histogram of `encoded` and adds it into `into`.
pub(super) fn add_all(
    into: &mut BTreeMap<String, Histogram<u64>>,
    encoded: &BTreeMap<String, String>,
) -> Result<(), WorkloadError> {
    for (name, text) in encoded {
        let h = decode_histogram(name, text)?;
        if !into.contains_key(name) {
            into.insert(name.clone(), new_histogram()?);
        }
        if let Some(merged) = into.get_mut(name) {
            add_histogram(name, merged, &h)?;
        }
    }
    Ok(())
}

/// Every instance's histograms added up, by metric (`stage`: that stage's
/// histograms only; an instance without that stage adds nothing). The one
/// exact merge behind the HTML report, `aifbench compare` and `aifbench
/// serve`.
pub fn merged_histograms(
    results: &[ClientResult],
    stage: Option<usize>,
) -> Result<BTreeMap<String, Histogram<u64>>, WorkloadError> {
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for r in results {
        let r = match stage {
            Some(k) => match r.stages.get(k) {
                Some(s) => s,
                None => continue,
            },
            None => r,
        };
        for name in r.histograms.keys() {
            let Some(h) = r.histogram(name)? else {
                continue;
            };
            let into = match merged.entry(name.clone()) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(new_histogram()?),
            };
            add_histogram(name, into, &h)?;
        }
    }
    Ok(merged)
}
