//! Mergeable statistics: HDR histograms of latencies (microseconds, 3
//! significant figures, auto-resizing) and counters, fed by request records.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use super::WorkloadError;
use super::record::{RequestRecord, TokenSource};
use super::timeline::Timeline;

/// Time to first token.
pub const TTFT: &str = "ttft";
/// Inter-token latency (one value per gap between output events).
pub const ITL: &str = "itl";
/// End-to-end request latency.
pub const E2EL: &str = "e2el";
/// Time per output token after the first.
pub const TPOT: &str = "tpot";
/// Open loop: time from intended to actual send.
pub const QUEUE_TIME: &str = "queue_time";
/// Time to the first output event with non-empty text.
pub const TTFC: &str = "ttfc";
/// Open loop: end-to-end latency from the intended send time.
pub const E2EL_INTENDED: &str = "e2el_intended";
/// The load generator's own lag before sending (timer lateness in open
/// loop, turnaround in closed loop).
pub const CLIENT_LAG: &str = "client_lag";

/// Percentiles reported by default, as `vllm bench serve` does plus p90/p95.
pub const DEFAULT_PERCENTILES: [f64; 4] = [50.0, 90.0, 95.0, 99.0];

/// Per-request objectives; a successful request meeting all of them is
/// "good" (counted in goodput).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Goodput {
    /// Time to first token at most.
    pub ttft: Option<Duration>,
    /// Time per output token at most.
    pub tpot: Option<Duration>,
    /// End-to-end latency at most.
    pub e2el: Option<Duration>,
}

impl Goodput {
    /// Whether `t` meets every objective. A request without a first token
    /// (non-streamed) or a TPOT cannot meet an objective on them.
    pub fn is_met(&self, t: &super::record::Timings) -> bool {
        let within = |limit: Option<Duration>, value: Option<Duration>| {
            limit.is_none_or(|l| value.is_some_and(|v| v <= l))
        };
        within(self.ttft, t.ttft) && within(self.tpot, t.tpot()) && within(self.e2el, Some(t.e2el))
    }
}

/// The key of a percentile: `p50`, `p99`, `p99.9` (as vLLM names them).
pub fn percentile_key(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("p{}", p as u64)
    } else {
        format!("p{p}")
    }
}

/// Significant figures of every histogram.
pub const SIGNIFICANT_FIGURES: u8 = 3;

/// A new empty, auto-resizing histogram of microseconds.
pub fn new_histogram() -> Result<Histogram<u64>, WorkloadError> {
    Histogram::new(SIGNIFICANT_FIGURES).map_err(|e| WorkloadError::Histogram {
        name: String::new(),
        reason: format!("cannot create: {e:?}"),
    })
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Encodes a histogram as base64 of its V2-deflate serialization.
pub fn encode_histogram(name: &str, h: &Histogram<u64>) -> Result<String, WorkloadError> {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| WorkloadError::Histogram {
            name: name.to_string(),
            reason: format!("{e:?}"),
        })?;
    Ok(BASE64.encode(buf))
}

/// Decodes what [`encode_histogram`] wrote.
pub fn decode_histogram(name: &str, text: &str) -> Result<Histogram<u64>, WorkloadError> {
    let err = |reason: String| WorkloadError::Histogram {
        name: name.to_string(),
        reason,
    };
    let bytes = BASE64
        .decode(text.trim())
        .map_err(|e| err(format!("invalid base64: {e}")))?;
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| err(format!("invalid V2 histogram: {e:?}")))?;
    h.auto(true);
    Ok(h)
}

/// Adds `other` into `into`.
pub fn add_histogram(
    name: &str,
    into: &mut Histogram<u64>,
    other: &Histogram<u64>,
) -> Result<(), WorkloadError> {
    into.add(other).map_err(|e| WorkloadError::Histogram {
        name: name.to_string(),
        reason: format!("cannot add: {e:?}"),
    })
}

/// Statistics of one latency distribution, in milliseconds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LatencyStats {
    /// Number of values.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Standard deviation.
    pub std_ms: f64,
    /// Smallest value.
    pub min_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest value.
    pub max_ms: f64,
    /// The configured percentiles by key (`p50`, `p99.9`, ...), in ms.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub percentiles: BTreeMap<String, f64>,
}

impl LatencyStats {
    /// Statistics of a histogram of microseconds, with extra `percentiles`
    /// (in percent, e.g. 99.9) beyond p50, p90, p95 and p99.
    pub fn with_percentiles(h: &Histogram<u64>, percentiles: &[f64]) -> Self {
        let mut s = Self::from_histogram(h);
        if !h.is_empty() {
            s.percentiles = percentiles
                .iter()
                .filter(|p| (0.0..=100.0).contains(*p))
                .map(|p| {
                    let v = h.value_at_quantile(p / 100.0) as f64 / 1000.0;
                    (percentile_key(*p), v)
                })
                .collect();
        }
        s
    }

    /// Statistics of a histogram of microseconds.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        let ms = |us: f64| us / 1000.0;
        let q = |quantile: f64| ms(h.value_at_quantile(quantile) as f64);
        if h.is_empty() {
            return Self {
                count: 0,
                mean_ms: 0.0,
                std_ms: 0.0,
                min_ms: 0.0,
                p50_ms: 0.0,
                p90_ms: 0.0,
                p95_ms: 0.0,
                p99_ms: 0.0,
                max_ms: 0.0,
                percentiles: BTreeMap::new(),
            };
        }
        Self {
            count: h.len(),
            mean_ms: ms(h.mean()),
            std_ms: ms(h.stdev()),
            min_ms: ms(h.min() as f64),
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            max_ms: ms(h.max() as f64),
            percentiles: BTreeMap::new(),
        }
    }
}

/// Accumulates the measured (non-warm-up) records of one instance.
#[derive(Clone, Debug)]
pub struct Recorder {
    /// Successful requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Failed requests by class label.
    pub error_classes: BTreeMap<String, u64>,
    /// Input tokens of successful requests.
    pub input_tokens: u64,
    /// Output tokens of successful requests.
    pub output_tokens: u64,
    /// Successful requests whose token count came from `usage`.
    pub usage_counted: u64,
    /// Successful requests whose tokens were counted from events.
    pub event_counted: u64,
    /// Successful requests that met every goodput objective (0 without).
    pub good: u64,
    /// The goodput objectives, if any.
    pub goodput: Option<Goodput>,
    /// Per-second counts of the run, filled in by the load driver when the
    /// run ends (empty until then).
    pub timeline: Timeline,
    histograms: BTreeMap<&'static str, Histogram<u64>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::with_goodput(None)
    }

    /// An empty recorder counting requests that meet `goodput`.
    pub fn with_goodput(goodput: Option<Goodput>) -> Self {
        Self {
            good: 0,
            goodput,
            requests: 0,
            errors: 0,
            error_classes: BTreeMap::new(),
            input_tokens: 0,
            output_tokens: 0,
            usage_counted: 0,
            event_counted: 0,
            timeline: Timeline::default(),
            histograms: BTreeMap::new(),
        }
    }

    fn value(&mut self, name: &'static str, d: Duration) {
        if !self.histograms.contains_key(name) {
            match new_histogram() {
                Ok(h) => {
                    self.histograms.insert(name, h);
                }
                Err(e) => {
                    tracing::error!(histogram = name, error = %e, "value not recorded");
                    return;
                }
            }
        }
        if let Some(h) = self.histograms.get_mut(name) {
            // `record` grows the auto-resizing histogram; `saturating_record`
            // would clamp to its current range instead.
            let v = micros(d);
            if h.record(v).is_err() {
                h.saturating_record(v);
            }
        }
    }

    /// Adds one record; warm-up records are ignored. Queue time is recorded
    /// for failed requests too, latencies only for successful ones.
    pub fn record(&mut self, rec: &RequestRecord) {
        if rec.warmup {
            return;
        }
        if let Some(q) = rec.queue_time {
            self.value(QUEUE_TIME, q);
        }
        if let Some(lag) = rec.client_lag {
            self.value(CLIENT_LAG, lag);
        }
        match &rec.outcome {
            Ok(t) => {
                self.requests += 1;
                self.input_tokens += t.input_tokens;
                self.output_tokens += t.output_tokens;
                match t.token_source {
                    TokenSource::Usage => self.usage_counted += 1,
                    TokenSource::Counted => self.event_counted += 1,
                    TokenSource::Unknown => {}
                }
                if self.goodput.as_ref().is_some_and(|g| g.is_met(t)) {
                    self.good += 1;
                }
                self.value(E2EL, t.e2el);
                if let Some(e) = t.e2el_intended {
                    self.value(E2EL_INTENDED, e);
                }
                if let Some(ttft) = t.ttft {
                    self.value(TTFT, ttft);
                }
                if let Some(ttfc) = t.ttfc {
                    self.value(TTFC, ttfc);
                }
                for gap in &t.itl {
                    self.value(ITL, *gap);
                }
                if let Some(tpot) = t.tpot() {
                    self.value(TPOT, tpot);
                }
            }
            Err(class) => {
                self.errors += 1;
                *self.error_classes.entry(class.to_string()).or_default() += 1;
            }
        }
    }

    /// `usage`, `counted`, `mixed`, or `none` when no request had a count.
    pub fn token_count_source(&self) -> &'static str {
        match (self.usage_counted > 0, self.event_counted > 0) {
            (true, false) => "usage",
            (false, true) => "counted",
            (true, true) => "mixed",
            (false, false) => "none",
        }
    }

    /// The non-empty histograms by name.
    pub fn histograms(&self) -> impl Iterator<Item = (&'static str, &Histogram<u64>)> {
        self.histograms
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(k, h)| (*k, h))
    }

    /// The histogram `name`, if anything was recorded in it.
    pub fn histogram(&self, name: &str) -> Option<&Histogram<u64>> {
        self.histograms.get(name).filter(|h| !h.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{ErrorClass, Timings};
    use super::*;

    fn ok(index: u64, ttft_ms: u64, e2el_ms: u64, tokens: u64) -> RequestRecord {
        RequestRecord {
            index,
            warmup: false,
            queue_time: None,
            client_lag: None,
            outcome: Ok(Timings {
                ttft: Some(Duration::from_millis(ttft_ms)),
                ttfc: Some(Duration::from_millis(ttft_ms)),
                itl: vec![Duration::from_millis(5); tokens.saturating_sub(1) as usize],
                e2el: Duration::from_millis(e2el_ms),
                e2el_intended: None,
                input_tokens: 10,
                output_tokens: tokens,
                token_source: TokenSource::Usage,
            }),
        }
    }

    #[test]
    fn records_successes_errors_and_skips_warmup() {
        let mut r = Recorder::new();
        r.record(&ok(0, 30, 65, 8));
        r.record(&RequestRecord {
            warmup: true,
            ..ok(1, 1, 1, 1)
        });
        r.record(&RequestRecord {
            index: 2,
            warmup: false,
            queue_time: Some(Duration::from_millis(2)),
            client_lag: Some(Duration::from_micros(40)),
            outcome: Err(ErrorClass::Http(500)),
        });
        assert_eq!(r.requests, 1);
        assert_eq!(r.errors, 1);
        assert_eq!(r.error_classes.get("http_500"), Some(&1));
        assert_eq!(r.output_tokens, 8);
        assert_eq!(r.input_tokens, 10);
        assert_eq!(r.token_count_source(), "usage");
        assert_eq!(r.histogram(ITL).map(|h| h.len()), Some(7));
        assert_eq!(r.histogram(QUEUE_TIME).map(|h| h.len()), Some(1));
        assert_eq!(r.histogram(CLIENT_LAG).map(|h| h.len()), Some(1));
        assert_eq!(r.histogram(TTFC).map(|h| h.len()), Some(1));
        assert!(r.histogram(E2EL_INTENDED).is_none());
        assert_eq!(r.good, 0);
        // tpot = (65 - 30) / 7 = 5 ms
        let tpot = LatencyStats::from_histogram(r.histogram(TPOT).unwrap());
        assert!((tpot.p50_ms - 5.0).abs() < 0.01, "{tpot:?}");
        let ttft = LatencyStats::from_histogram(r.histogram(TTFT).unwrap());
        assert!((ttft.max_ms - 30.0).abs() < 0.05, "{ttft:?}");
    }

    #[test]
    fn token_source_mixes() {
        let mut r = Recorder::new();
        assert_eq!(r.token_count_source(), "none");
        r.record(&ok(0, 1, 2, 2));
        let mut counted = ok(1, 1, 2, 2);
        if let Ok(t) = &mut counted.outcome {
            t.token_source = TokenSource::Counted;
        }
        r.record(&counted);
        assert_eq!(r.token_count_source(), "mixed");
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut h = new_histogram().unwrap();
        for v in [1u64, 10, 100, 1000, 123_456] {
            h.record(v).unwrap();
        }
        let text = encode_histogram("x", &h).unwrap();
        let back = decode_histogram("x", &text).unwrap();
        assert_eq!(back, h);
        assert!(decode_histogram("x", "not base64!").is_err());
        assert!(decode_histogram("x", "AAAA").is_err());
    }

    #[test]
    fn latency_stats_in_ms() {
        let mut h = new_histogram().unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let s = LatencyStats::from_histogram(&h);
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99_ms - 990.0).abs() < 1.0, "{s:?}");
        assert!((s.min_ms - 1.0).abs() < 0.01);
        assert!((s.max_ms - 1000.0).abs() < 1.0);
        assert!((s.mean_ms - 500.5).abs() < 1.0);
        assert_eq!(
            LatencyStats::from_histogram(&new_histogram().unwrap()).count,
            0
        );
    }

    #[test]
    fn goodput_counts_requests_meeting_every_objective() {
        let ms = Duration::from_millis;
        let mut r = Recorder::with_goodput(Some(Goodput {
            ttft: Some(ms(40)),
            tpot: Some(ms(6)),
            e2el: None,
        }));
        r.record(&ok(0, 30, 65, 8)); // ttft 30, tpot 5: good
        r.record(&ok(1, 50, 85, 8)); // ttft 50: too slow
        r.record(&ok(2, 30, 100, 8)); // tpot 10: too slow
        assert_eq!((r.requests, r.good), (3, 1));
    }

    #[test]
    fn configured_percentiles_are_keyed_like_vllm() {
        let mut h = new_histogram().unwrap();
        for v in 1..=10_000u64 {
            h.record(v * 1000).unwrap();
        }
        let s = LatencyStats::with_percentiles(&h, &[50.0, 99.9]);
        assert!((s.percentiles["p99.9"] - 9990.0).abs() < 10.0, "{s:?}");
        assert!((s.percentiles["p50"] - 5000.0).abs() < 5.0, "{s:?}");
        assert_eq!(percentile_key(99.0), "p99");
        assert_eq!(percentile_key(99.9), "p99.9");
    }
}
