//! The progress protocol of `aifbench loadgen`: the JSON lines on stdout
//! ([`ProgressEvent`]), and driving a load plan while emitting them every
//! interval ([`drive_with_progress`]).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::workload::load::{Executor, LiveCounters, LoadOutcome, LoadPlan, RecordSink, drive};
use crate::workload::stats::Recorder;

/// One JSON line of `aifbench loadgen` on stdout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum ProgressEvent {
    /// Periodic progress; counters cover measured requests only.
    #[serde(rename_all = "camelCase")]
    Progress {
        /// Instance id.
        id: String,
        /// Seconds since the start, warm-up included.
        elapsed_s: f64,
        /// Successful measured requests so far.
        requests: u64,
        /// Failed measured requests so far.
        errors: u64,
        /// Requests in flight now (warm-up included).
        in_flight: u64,
        /// Output tokens so far.
        output_tokens: u64,
    },
    /// The run ended; the result file (if any) is written.
    #[serde(rename_all = "camelCase")]
    Done {
        /// Instance id.
        id: String,
        /// Successful measured requests.
        requests: u64,
        /// Failed measured requests.
        errors: u64,
        /// Why the error policy aborted the run, if it did.
        aborted: Option<String>,
    },
}

/// Who reports progress, from when, and how often (0: never).
pub(crate) struct ProgressTicks<'a> {
    /// Instance id written into the lines.
    pub id: &'a str,
    /// Start of the instance (`elapsedS` counts from here).
    pub t0: Instant,
    /// Interval of the lines.
    pub interval: Duration,
}

/// Drives `executor` through `plan`, calling `progress` with the live
/// counters every `ticks.interval`.
pub(crate) async fn drive_with_progress<E: Executor>(
    plan: &LoadPlan,
    executor: E,
    live: Arc<LiveCounters>,
    sink: Option<Arc<dyn RecordSink>>,
    cancel: &CancellationToken,
    ticks: &ProgressTicks<'_>,
    progress: &mut (dyn FnMut(&ProgressEvent) + Send),
) -> LoadOutcome {
    let driver = drive(plan, executor, live.clone(), cancel, sink);
    tokio::pin!(driver);
    if ticks.interval.is_zero() {
        return driver.await;
    }
    let mut ticker = tokio::time::interval_at(Instant::now() + ticks.interval, ticks.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            outcome = &mut driver => break outcome,
            _ = ticker.tick() => progress(&ProgressEvent::Progress {
                id: ticks.id.to_string(),
                elapsed_s: ticks.t0.elapsed().as_secs_f64(),
                requests: live.requests.load(Ordering::Relaxed),
                errors: live.errors.load(Ordering::Relaxed),
                in_flight: live.in_flight.load(Ordering::Relaxed),
                output_tokens: live.output_tokens.load(Ordering::Relaxed),
            }),
        }
    }
}

/// Drives `executor` through `plan` with fresh live counters and no
/// per-request file (the storage workloads).
pub(crate) async fn drive_instance<E: Executor>(
    plan: &LoadPlan,
    executor: E,
    ticks: &ProgressTicks<'_>,
    cancel: &CancellationToken,
    progress: &mut (dyn FnMut(&ProgressEvent) + Send),
) -> LoadOutcome {
    let live = Arc::new(LiveCounters::default());
    drive_with_progress(plan, executor, live, None, cancel, ticks, progress).await
}

/// The outcome of a run cancelled before it sent anything.
pub(crate) fn empty_outcome(seed: u64) -> LoadOutcome {
    LoadOutcome {
        recorder: Recorder::new(),
        measurement: Duration::ZERO,
        aborted: None,
        cancelled: true,
        dropped: 0,
        issued: 0,
        seed,
        send_rate: None,
    }
}

/// Prints `value` as one JSON line on stdout (progress lines, the summary).
pub(crate) fn print_line<T: Serialize>(value: &T) {
    if let Ok(line) = serde_json::to_string(value) {
        let mut out = std::io::stdout().lock();
        // A closed stdout must not stop the run.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_events_serialize_as_tagged_camel_case() {
        let e = ProgressEvent::Progress {
            id: "a".into(),
            elapsed_s: 1.5,
            requests: 2,
            errors: 0,
            in_flight: 1,
            output_tokens: 10,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "progress");
        assert_eq!(v["elapsedS"], 1.5);
        assert_eq!(v["inFlight"], 1);
        assert_eq!(serde_json::from_value::<ProgressEvent>(v).unwrap(), e);
        let d = serde_json::to_value(ProgressEvent::Done {
            id: "a".into(),
            requests: 1,
            errors: 0,
            aborted: None,
        })
        .unwrap();
        assert_eq!(d["event"], "done");
    }
}
