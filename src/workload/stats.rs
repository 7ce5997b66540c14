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
}

impl LatencyStats {
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
        Self {
            requests: 0,
            errors: 0,
            error_classes: BTreeMap::new(),
            input_tokens: 0,
            output_tokens: 0,
            usage_counted: 0,
            event_counted: 0,
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
                self.value(E2EL, t.e2el);
                if let Some(ttft) = t.ttft {
                    self.value(TTFT, ttft);
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
            outcome: Ok(Timings {
                ttft: Some(Duration::from_millis(ttft_ms)),
                itl: vec![Duration::from_millis(5); tokens.saturating_sub(1) as usize],
                e2el: Duration::from_millis(e2el_ms),
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
}
