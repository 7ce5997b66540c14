//! The per-second timeline of a run: for each whole second since the start
//! of the measurement, the measured requests that completed and failed in
//! it, their output tokens, and the requests in flight at its end (warm-up
//! requests included, as in [`super::load::LiveCounters`]).
//!
//! [`TimelineRecorder`] collects it while a plan runs (pure: the caller
//! passes the instants); [`Timeline`] is what a client result keeps, and
//! [`Timeline::merge`] sums timelines second by second, aligned on their
//! wall-clock starts (instances of one run, or the stages of one instance).
//! At most [`MAX_TIMELINE_SECONDS`] seconds are kept; later events are
//! dropped and the timeline says `truncated`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Seconds a timeline keeps at most (4 hours): a result file stays well under
/// a megabyte; a longer run keeps its first four hours.
pub const MAX_TIMELINE_SECONDS: usize = 4 * 3600;

/// Per-second counts since the measurement start, as columns of equal length.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// Wall-clock time of second 0 (the end of the warm-up), milliseconds
    /// since the Unix epoch.
    pub start_unix_ms: i64,
    /// Measured requests that completed successfully in each second.
    pub completed: Vec<u64>,
    /// Measured requests that failed in each second.
    pub errors: Vec<u64>,
    /// Output tokens of the requests completed in each second (0 where the
    /// workload has no tokens).
    pub output_tokens: Vec<u64>,
    /// Requests in flight at the end of each second (for the last, partial
    /// second: at the end of the run).
    pub in_flight: Vec<u64>,
    /// Whether events past [`MAX_TIMELINE_SECONDS`] were dropped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl Timeline {
    /// Whether it holds no second (an old result, or a run that ended in its
    /// warm-up).
    pub fn is_empty(&self) -> bool {
        self.completed.is_empty()
    }

    /// Number of seconds.
    pub fn len(&self) -> usize {
        self.completed.len()
    }

    /// Sums `parts` second by second, each shifted by its start's distance
    /// from the earliest start, rounded to the nearest second. Empty parts
    /// are skipped; the result is empty when all are.
    pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Timeline>) -> Timeline {
        let parts: Vec<&Timeline> = parts.into_iter().filter(|t| !t.is_empty()).collect();
        let Some(origin) = parts.iter().map(|t| t.start_unix_ms).min() else {
            return Timeline::default();
        };
        let offset = |t: &Timeline| {
            let ms = t.start_unix_ms.saturating_sub(origin).max(0);
            usize::try_from((ms + 500) / 1000).unwrap_or(usize::MAX)
        };
        let wanted = parts
            .iter()
            .map(|t| offset(t).saturating_add(t.len()))
            .max()
            .unwrap_or(0);
        let len = wanted.min(MAX_TIMELINE_SECONDS);
        let mut out = Timeline {
            start_unix_ms: origin,
            completed: vec![0; len],
            errors: vec![0; len],
            output_tokens: vec![0; len],
            in_flight: vec![0; len],
            truncated: wanted > len || parts.iter().any(|t| t.truncated),
        };
        for t in parts {
            let at = offset(t);
            let columns = [
                (&mut out.completed, &t.completed),
                (&mut out.errors, &t.errors),
                (&mut out.output_tokens, &t.output_tokens),
                (&mut out.in_flight, &t.in_flight),
            ];
            for (into, from) in columns {
                for (slot, v) in into.iter_mut().skip(at).zip(from) {
                    *slot += v;
                }
            }
        }
        out
    }
}

/// Collects a [`Timeline`] while a plan runs.
#[derive(Debug)]
pub struct TimelineRecorder {
    measure_start: Instant,
    start_unix_ms: i64,
    completed: Vec<u64>,
    errors: Vec<u64>,
    output_tokens: Vec<u64>,
    /// Requests started minus requests ended in each second.
    net: Vec<i64>,
    /// Requests started minus ended before the measurement start.
    net_before: i64,
    truncated: bool,
}

impl TimelineRecorder {
    /// A recorder whose second 0 starts at `measure_start`, which is
    /// `start_unix_ms` on the wall clock.
    pub fn new(measure_start: Instant, start_unix_ms: i64) -> Self {
        Self {
            measure_start,
            start_unix_ms,
            completed: Vec::new(),
            errors: Vec::new(),
            output_tokens: Vec::new(),
            net: Vec::new(),
            net_before: 0,
            truncated: false,
        }
    }

    /// The second `at` falls in: `None` before the measurement start,
    /// `Some(None)` past the cap.
    fn second(&mut self, at: Instant) -> Option<Option<usize>> {
        if at < self.measure_start {
            return None;
        }
        let k =
            usize::try_from(at.duration_since(self.measure_start).as_secs()).unwrap_or(usize::MAX);
        if k >= MAX_TIMELINE_SECONDS {
            self.truncated = true;
            return Some(None);
        }
        if self.completed.len() <= k {
            let len = k + 1;
            self.completed.resize(len, 0);
            self.errors.resize(len, 0);
            self.output_tokens.resize(len, 0);
            self.net.resize(len, 0);
        }
        Some(Some(k))
    }

    fn add_net(&mut self, at: Instant, delta: i64) {
        match self.second(at) {
            None => self.net_before += delta,
            Some(Some(k)) => self.net[k] += delta,
            Some(None) => {}
        }
    }

    /// A request (warm-up or measured) was sent at `at`.
    pub fn started(&mut self, at: Instant) {
        self.add_net(at, 1);
    }

    /// A request sent earlier ended (completed, failed or dropped) at `at`.
    pub fn ended(&mut self, at: Instant) {
        self.add_net(at, -1);
    }

    /// A measured request completed at `at`: successfully with
    /// `output_tokens`, or failed (`None`).
    pub fn measured(&mut self, at: Instant, output_tokens: Option<u64>) {
        if let Some(Some(k)) = self.second(at) {
            match output_tokens {
                Some(n) => {
                    self.completed[k] += 1;
                    self.output_tokens[k] += n;
                }
                None => self.errors[k] += 1,
            }
        }
    }

    /// The timeline up to `end` (the end of the run): every second from the
    /// measurement start to `end`, the last one partial.
    pub fn finish(mut self, end: Instant) -> Timeline {
        if end > self.measure_start {
            // Every second up to the end exists, the cap at most.
            let last = end - Duration::from_nanos(1);
            let seconds = last.duration_since(self.measure_start).as_secs();
            let wanted = usize::try_from(seconds)
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            if wanted > MAX_TIMELINE_SECONDS {
                self.truncated = true;
            }
            let len = wanted.min(MAX_TIMELINE_SECONDS).max(self.completed.len());
            self.completed.resize(len, 0);
            self.errors.resize(len, 0);
            self.output_tokens.resize(len, 0);
            self.net.resize(len, 0);
        }
        let mut level = self.net_before;
        let in_flight = self
            .net
            .iter()
            .map(|d| {
                level += d;
                u64::try_from(level).unwrap_or(0)
            })
            .collect();
        Timeline {
            start_unix_ms: self.start_unix_ms,
            completed: self.completed,
            errors: self.errors,
            output_tokens: self.output_tokens,
            in_flight,
            truncated: self.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(start_unix_ms: i64, completed: &[u64], in_flight: &[u64]) -> Timeline {
        Timeline {
            start_unix_ms,
            completed: completed.to_vec(),
            errors: vec![1; completed.len()],
            output_tokens: completed.iter().map(|c| c * 10).collect(),
            in_flight: in_flight.to_vec(),
            truncated: false,
        }
    }

    #[test]
    fn merge_sums_per_second_aligned_on_wall_clock_starts() {
        let a = timeline(10_000, &[1, 2, 3], &[4, 4, 0]);
        // Starts 1.4 s later: rounds to one second.
        let b = timeline(11_400, &[10, 20, 30], &[2, 2, 0]);
        // Starts 2.6 s later: rounds to three seconds.
        let c = timeline(12_600, &[100], &[7]);
        let m = Timeline::merge([&a, &b, &c, &Timeline::default()]);
        assert_eq!(m.start_unix_ms, 10_000);
        assert_eq!(m.completed, vec![1, 12, 23, 130]);
        assert_eq!(m.errors, vec![1, 2, 2, 2]);
        assert_eq!(m.output_tokens, vec![10, 120, 230, 1300]);
        assert_eq!(m.in_flight, vec![4, 6, 2, 7]);
        assert!(!m.truncated);
        // Order does not matter.
        assert_eq!(Timeline::merge([&c, &b, &a]), m);
        assert!(Timeline::merge([]).is_empty());
        assert!(Timeline::merge([&Timeline::default()]).is_empty());
    }

    #[test]
    fn merge_is_capped_and_says_so() {
        let a = timeline(0, &[1, 1], &[0, 0]);
        let late_ms = i64::try_from(MAX_TIMELINE_SECONDS - 1).unwrap() * 1000;
        let b = timeline(late_ms, &[5, 5, 5], &[0, 0, 0]);
        let m = Timeline::merge([&a, &b]);
        assert_eq!(m.len(), MAX_TIMELINE_SECONDS);
        assert_eq!(m.completed[MAX_TIMELINE_SECONDS - 1], 5);
        assert!(m.truncated);
        let mut t = timeline(0, &[1], &[0]);
        t.truncated = true;
        assert!(Timeline::merge([&t]).truncated);
    }

    #[test]
    fn recorder_buckets_completions_and_tracks_in_flight() {
        let t0 = Instant::now();
        let s = |ms: u64| t0 + Duration::from_millis(ms);
        let mut r = TimelineRecorder::new(s(1000), 5_000);
        // A warm-up request sent before the measurement, ending in second 0.
        r.started(s(500));
        r.ended(s(1200));
        // Measured: one sent in second 0, completing in second 1 with 7
        // tokens; one failing in second 2; one still running at the end.
        r.started(s(1100));
        r.ended(s(2100));
        r.measured(s(2100), Some(7));
        r.started(s(2500));
        r.ended(s(3050));
        r.measured(s(3050), None);
        r.started(s(3500));
        let t = r.finish(s(3600));
        assert_eq!(t.start_unix_ms, 5_000);
        assert_eq!(t.completed, vec![0, 1, 0]);
        assert_eq!(t.errors, vec![0, 0, 1]);
        assert_eq!(t.output_tokens, vec![0, 7, 0]);
        assert_eq!(t.in_flight, vec![1, 1, 1]);
        assert!(!t.truncated);
    }

    #[test]
    fn recorder_ending_in_the_warmup_is_empty_and_caps_long_runs() {
        let t0 = Instant::now();
        let r = TimelineRecorder::new(t0 + Duration::from_secs(5), 0);
        assert!(r.finish(t0 + Duration::from_secs(1)).is_empty());

        let mut r = TimelineRecorder::new(t0, 0);
        let late = t0 + Duration::from_secs(MAX_TIMELINE_SECONDS as u64 + 10);
        r.measured(late, Some(1));
        let t = r.finish(late);
        assert_eq!(t.len(), MAX_TIMELINE_SECONDS);
        assert!(t.truncated);
        assert_eq!(t.completed.iter().sum::<u64>(), 0);
    }

    #[test]
    fn old_results_without_a_timeline_still_load() {
        let t: Timeline = serde_json::from_str(r#"{"startUnixMs": 1, "completed": [1], "errors": [0], "outputTokens": [2], "inFlight": [3]}"#).unwrap();
        assert_eq!(t.in_flight, vec![3]);
        assert!(!t.truncated);
        let text = serde_json::to_string(&t).unwrap();
        assert!(!text.contains("truncated"), "{text}");
    }
}
