//! The protocol-independent load model.
//!
//! - Closed loop: `concurrency` workers each send a request, await it, and
//!   send the next. A ramp-up spreads the workers' starts over its length.
//! - Open loop (`rate` set): a schedule fixes each request's *intended* send
//!   time (constant spacing, Poisson arrivals or gamma-distributed gaps from a
//!   seeded generator; a ramp-up raises the rate linearly from 0). At most
//!   `concurrency` requests are in flight. The time from intended to actual
//!   send is recorded as queue time, and the end-to-end latency is recorded a
//!   second time counted from the intended send, so a slow server cannot hide
//!   its backlog (no coordinated omission).
//! - Requests whose intended start falls in the warm-up window run but are not
//!   recorded.
//! - The run ends when the measurement duration has passed or `maxRequests`
//!   measured requests were issued (in-flight requests then finish), or when
//!   the error policy aborts it or the caller cancels it (in-flight requests
//!   get a short grace, then are dropped uncounted).
//! - Stages (a sweep) are separate plans run one after another by the caller.
//!
//! What a request does is up to an [`Executor`]; the OpenAI workload is one.
//!
//! This file holds the contract between the load model and a workload
//! ([`Executor`], [`RequestContext`], [`RecordSink`]) and what a run reports
//! ([`LiveCounters`], [`LoadOutcome`]); `plan` validates the load settings
//! into a [`LoadPlan`] (one per stage), `schedule` computes the open loop's
//! intended send times ([`ArrivalSchedule`]), `drive` runs a plan
//! ([`drive()`]), and [`super::timeline`] keeps its per-second counts ([`Timeline`],
//! in the outcome's recorder).

mod drive;
mod plan;
mod schedule;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::time::Instant;

pub use super::timeline::{MAX_TIMELINE_SECONDS, Timeline, TimelineRecorder};
pub use drive::drive;
pub use plan::{LoadPlan, SendTimer};
pub use schedule::{ArrivalSchedule, ramp_warp};

use super::record::{Outcome, RequestRecord};
use super::stats::Recorder;

/// How long in-flight requests may still finish after a cancel or abort.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(5);

/// What the load layer tells an executor about the request to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestContext {
    /// Sequence number of the request within the instance (and stage), from 0.
    pub index: u64,
    /// Whether the request falls in the warm-up window (not recorded).
    pub warmup: bool,
    /// When the request was meant to be sent (open loop: its scheduled time;
    /// closed loop: when the worker picked it up). Latencies count from here.
    pub intended: Instant,
}

impl RequestContext {
    /// A measured request `index` intended now (tests, one-off calls).
    pub fn now(index: u64) -> Self {
        Self {
            index,
            warmup: false,
            intended: Instant::now(),
        }
    }
}

/// Sends one request and reports its outcome. Implemented by each workload
/// (OpenAI inference, S3, Chroma).
pub trait Executor: Send + Sync + 'static {
    /// Sends the request described by `ctx`. Must not panic; must enforce its
    /// own request timeout.
    fn execute(&self, ctx: RequestContext) -> impl Future<Output = Outcome> + Send;
}

/// Receives every request record as it completes (warm-up included), with
/// the send time as an offset from the start of the run; used for the
/// optional per-request JSON Lines file.
pub trait RecordSink: Send + Sync {
    /// Takes one record.
    fn record(&self, stage: usize, sent_offset: Duration, record: &RequestRecord);

    /// Writes out anything buffered; called once the run is over.
    fn flush(&self) {}
}

/// Live counters for progress reports. `requests`, `errors` and
/// `output_tokens` count measured requests only; `in_flight` counts all.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Successful measured requests.
    pub requests: AtomicU64,
    /// Failed measured requests.
    pub errors: AtomicU64,
    /// Requests in flight now.
    pub in_flight: AtomicU64,
    /// Output tokens of successful measured requests.
    pub output_tokens: AtomicU64,
}

/// What a finished run measured.
#[derive(Debug)]
pub struct LoadOutcome {
    /// Statistics of the measured requests.
    pub recorder: Recorder,
    /// Measurement window: from the end of the warm-up to the last measured
    /// completion (or to the end of the run when nothing completed).
    pub measurement: Duration,
    /// Why the error policy aborted the run, if it did.
    pub aborted: Option<String>,
    /// Whether the caller cancelled the run.
    pub cancelled: bool,
    /// In-flight requests dropped uncounted after the grace.
    pub dropped: u64,
    /// Requests sent, warm-up included.
    pub issued: u64,
    /// Seed of the arrival process.
    pub seed: u64,
    /// Achieved send rate of measured requests, requests per second: (sends
    /// − 1) / (last send − first send); absent with fewer than two sends.
    pub send_rate: Option<f64>,
}
