//! Latencies of the OpenAI workload kept apart by a label of the request:
//! first or later request of a shared-prefix group (`prefix_first`,
//! `prefix_later`), or the turn of a conversation (`turn1`, `turn2`, ...).
//!
//! Each label gets its own HDR histograms of microseconds, named
//! `<label>.<metric>` as the storage workloads name theirs per operation
//! (`<op>.ttfb`), so they travel in the result's `histograms` and merge over
//! instances exactly like the others. Latencies count from the request's
//! send, as the unlabelled `ttft` and `e2el` do; warm-up requests are never
//! recorded.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::WorkloadError;
use super::record::Success;
use super::stats::{E2EL, TTFT, encode_histogram, new_histogram};

/// Shared-prefix label: the first request of its group (no cached prefix).
pub const PREFIX_FIRST: &str = "prefix_first";
/// Shared-prefix label: a later request of its group.
pub const PREFIX_LATER: &str = "prefix_later";

/// The label of conversation turn `turn` (1-based): `turn1`, `turn2`, ...
pub fn turn_label(turn: u32) -> String {
    format!("turn{turn}")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Histograms by `<label>.<metric>`, filled from any request task.
#[derive(Debug, Default)]
pub struct LabelledLatencies {
    histograms: Mutex<BTreeMap<String, Histogram<u64>>>,
}

impl LabelledLatencies {
    /// Records the TTFT (streamed requests) and end-to-end latency of a
    /// successful request sent at `sent` under `label`.
    pub fn record(&self, label: &str, sent: Instant, success: &Success) {
        let mut values = vec![(E2EL, success.end.saturating_duration_since(sent))];
        if let Some(first) = success.token_times.first() {
            values.push((TTFT, first.saturating_duration_since(sent)));
        }
        let mut map = self
            .histograms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (metric, d) in values {
            let name = format!("{label}.{metric}");
            if !map.contains_key(&name) {
                match new_histogram() {
                    Ok(h) => {
                        map.insert(name.clone(), h);
                    }
                    Err(e) => {
                        tracing::error!(histogram = %name, error = %e, "value not recorded");
                        continue;
                    }
                }
            }
            if let Some(h) = map.get_mut(&name) {
                let v = micros(d);
                if h.record(v).is_err() {
                    h.saturating_record(v);
                }
            }
        }
    }

    /// The non-empty histograms, encoded as the result file keeps them.
    pub fn encoded(&self) -> Result<BTreeMap<String, String>, WorkloadError> {
        let map = self
            .histograms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(name, h)| Ok((name.clone(), encode_histogram(name, h)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::record::TokenSource;
    use crate::workload::stats::decode_histogram;

    #[test]
    fn labels_keep_their_own_mergeable_histograms() {
        let l = LabelledLatencies::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let success = |ttft: u64, end: u64| Success {
            token_times: vec![t0 + ms(ttft)],
            first_content: None,
            end: t0 + ms(end),
            input_tokens: 3,
            output_tokens: 1,
            token_source: TokenSource::Usage,
        };
        l.record(PREFIX_FIRST, t0, &success(80, 100));
        l.record(PREFIX_LATER, t0, &success(20, 40));
        l.record(PREFIX_LATER, t0, &success(30, 50));
        let enc = l.encoded().unwrap();
        let keys: Vec<&str> = enc.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "prefix_first.e2el",
                "prefix_first.ttft",
                "prefix_later.e2el",
                "prefix_later.ttft"
            ]
        );
        let later = decode_histogram("x", &enc["prefix_later.ttft"]).unwrap();
        assert_eq!(later.len(), 2);
        assert!((later.max() as i64 - 30_000).abs() < 50, "{}", later.max());
        assert_eq!(turn_label(3), "turn3");
    }
}
