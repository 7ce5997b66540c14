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

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use rand_distr::{Distribution as _, Gamma};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use super::WorkloadError;
use super::record::{Outcome, RequestRecord, Timings};
use super::stats::{Goodput, Recorder};
use crate::api::workload::{Arrival, ErrorPolicy, LoadSpec};

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

/// The load model in effect, validated and with defaults resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadPlan {
    /// Index of the stage this plan runs (0 without stages).
    pub stage: usize,
    /// Workers (closed loop) or in-flight cap (open loop).
    pub concurrency: u32,
    /// Open loop: requests per second.
    pub rate: Option<f64>,
    /// Open loop: arrival process.
    pub arrival: Arrival,
    /// Open loop, gamma arrivals: shape of the gap distribution.
    pub burstiness: f64,
    /// Ramp-up time.
    pub ramp_up: Duration,
    /// Warm-up window.
    pub warmup: Duration,
    /// Measurement duration after the warm-up.
    pub duration: Option<Duration>,
    /// Measured requests to issue at most.
    pub max_requests: Option<u64>,
    /// Seed of the arrival process.
    pub seed: u64,
    /// Pause after a failed request.
    pub backoff: Duration,
    /// Consecutive failures that abort the run; 0 never aborts.
    pub max_consecutive_errors: u32,
    /// Grace for in-flight requests after a cancel or abort.
    pub cancel_grace: Duration,
    /// Per-request objectives counted as goodput.
    pub goodput: Option<Goodput>,
    /// How the open-loop scheduler waits for each intended send time.
    pub send_timer: SendTimer,
}

/// How the open-loop scheduler waits for the next intended send time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SendTimer {
    /// tokio's wheel for all but the last 2 ms, then a dedicated thread
    /// ([`crate::timer`]): sends go out tens of microseconds after their
    /// intended time instead of up to 1 ms (tokio's grid).
    #[default]
    Precise,
    /// tokio's wheel alone. Needed under tokio's paused test clock, which
    /// the precise thread cannot follow.
    Tokio,
}

/// A pending wait of the scheduler.
type TimerFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

impl SendTimer {
    fn sleep_until(self, at: Instant) -> TimerFuture {
        match self {
            Self::Precise => Box::pin(crate::timer::sleep_until(at)),
            Self::Tokio => Box::pin(sleep_until(at)),
        }
    }
}

impl LoadPlan {
    /// Validates `load` and `errors` and resolves their defaults (stages
    /// ignored); a missing seed is drawn at random.
    pub fn new(load: &LoadSpec, errors: &ErrorPolicy) -> Result<Self, WorkloadError> {
        let invalid = |m: &str| Err(WorkloadError::InvalidConfig(m.to_string()));
        let concurrency = load.effective_concurrency();
        if concurrency == 0 {
            return invalid("load.concurrency must be at least 1");
        }
        if let Some(rate) = load.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return invalid("load.rate must be a positive number of requests per second");
        }
        if load.max_requests == Some(0) {
            return invalid("load.maxRequests must be at least 1");
        }
        if load.duration.is_some_and(|d| d.get().is_zero()) {
            return invalid("load.duration must be longer than 0s");
        }
        let burstiness = load.burstiness.unwrap_or(1.0);
        if !(burstiness.is_finite() && burstiness > 0.0) {
            return invalid("load.burstiness must be a positive number (1 = Poisson)");
        }
        Ok(Self {
            stage: 0,
            concurrency,
            rate: load.rate,
            arrival: load.arrival,
            burstiness,
            ramp_up: load.ramp_up.map(|d| d.get()).unwrap_or_default(),
            warmup: load.warmup.map(|d| d.get()).unwrap_or_default(),
            duration: load.duration.map(|d| d.get()),
            max_requests: load.max_requests,
            seed: load.seed.unwrap_or_else(rand::random),
            backoff: errors.backoff.get(),
            max_consecutive_errors: errors.max_consecutive,
            cancel_grace: DEFAULT_CANCEL_GRACE,
            goodput: None,
            send_timer: SendTimer::default(),
        })
    }

    /// One plan per stage of `load` (a single plan without stages). Each
    /// stage inherits what it does not override; stage `k` uses seed
    /// `seed + k` so stages do not repeat one another's arrivals.
    pub fn stages(load: &LoadSpec, errors: &ErrorPolicy) -> Result<Vec<Self>, WorkloadError> {
        if load.stages.is_empty() {
            return Ok(vec![Self::new(load, errors)?]);
        }
        let seed = load.seed.unwrap_or_else(rand::random);
        load.stages
            .iter()
            .enumerate()
            .map(|(k, stage)| {
                let spec = LoadSpec {
                    concurrency: stage.concurrency.or(load.concurrency),
                    rate: stage.rate.or(load.rate),
                    duration: stage.duration.or(load.duration),
                    max_requests: stage.max_requests.or(load.max_requests),
                    seed: Some(seed.wrapping_add(k as u64)),
                    stages: Vec::new(),
                    ..load.clone()
                };
                if spec.duration.is_none() && spec.max_requests.is_none() {
                    return Err(WorkloadError::InvalidConfig(format!(
                        "load.stages[{k}] needs a duration or maxRequests (else it never ends)"
                    )));
                }
                let mut plan = Self::new(&spec, errors)?;
                plan.stage = k;
                Ok(plan)
            })
            .collect()
    }
}

/// Maps an offset `s` on the full-rate time line to wall time when the rate
/// ramps up linearly from 0 over `ramp` seconds: the expected number of
/// arrivals by wall time `t` is `rate * t^2 / (2 ramp)` during the ramp and
/// `rate * (t - ramp/2)` after it.
pub fn ramp_warp(s: f64, ramp: f64) -> f64 {
    if ramp <= 0.0 {
        s
    } else if s < ramp / 2.0 {
        (2.0 * ramp * s).sqrt()
    } else {
        s + ramp / 2.0
    }
}

/// Intended send times of an open loop, as offsets from its start: the first
/// request at 0, then gaps of `1/rate` (constant), exponentially distributed
/// with mean `1/rate` (Poisson), or gamma-distributed with mean `1/rate` and
/// shape `burstiness` (gamma); stretched by the ramp-up. Deterministic for a
/// given seed.
#[derive(Clone, Debug)]
pub struct ArrivalSchedule {
    rate: f64,
    arrival: Arrival,
    gamma: Option<Gamma<f64>>,
    ramp_s: f64,
    rng: SmallRng,
    index: u64,
    offset_s: f64,
}

impl ArrivalSchedule {
    /// A schedule of `rate` requests per second (must be positive).
    pub fn new(rate: f64, arrival: Arrival, seed: u64) -> Self {
        Self::with_shape(rate, arrival, 1.0, Duration::ZERO, seed)
    }

    /// A schedule with a gamma shape (`burstiness`) and a ramp-up.
    pub fn with_shape(
        rate: f64,
        arrival: Arrival,
        burstiness: f64,
        ramp_up: Duration,
        seed: u64,
    ) -> Self {
        let gamma = match arrival {
            Arrival::Gamma => Gamma::new(burstiness, 1.0 / (rate * burstiness)).ok(),
            _ => None,
        };
        Self {
            rate,
            arrival,
            gamma,
            ramp_s: ramp_up.as_secs_f64(),
            rng: SmallRng::seed_from_u64(seed),
            index: 0,
            offset_s: 0.0,
        }
    }
}

impl Iterator for ArrivalSchedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let offset = match self.arrival {
            // Computed from the index, so rounding errors do not accumulate.
            Arrival::Constant => self.index as f64 / self.rate,
            Arrival::Poisson | Arrival::Gamma => {
                if self.index > 0 {
                    self.offset_s += match &self.gamma {
                        Some(g) => g.sample(&mut self.rng),
                        None => {
                            let u: f64 = self.rng.random(); // [0, 1)
                            -(1.0 - u).ln() / self.rate
                        }
                    };
                }
                self.offset_s
            }
        };
        self.index += 1;
        Duration::try_from_secs_f64(ramp_warp(offset, self.ramp_s)).ok()
    }
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// State shared by the driver and its request tasks.
struct Shared<E> {
    executor: E,
    plan: LoadPlan,
    start: Instant,
    measure_start: Instant,
    deadline: Option<Instant>,
    stop: CancellationToken,
    recorder: Mutex<Recorder>,
    live: Arc<LiveCounters>,
    sink: Option<Arc<dyn RecordSink>>,
    next_index: AtomicU64,
    measured_issued: AtomicU64,
    consecutive_errors: AtomicU32,
    dropped: AtomicU64,
    aborted: Mutex<Option<String>>,
    last_completion: Mutex<Option<Instant>>,
    /// First and last send of a measured request, and how many there were.
    sends: Mutex<(Option<Instant>, Option<Instant>, u64)>,
}

/// Counts a request in flight; on drop without `done`, counts it dropped.
struct InFlight<'a> {
    live: &'a LiveCounters,
    dropped: &'a AtomicU64,
    done: bool,
}

impl<'a> InFlight<'a> {
    fn new(live: &'a LiveCounters, dropped: &'a AtomicU64) -> Self {
        live.in_flight.fetch_add(1, Ordering::Relaxed);
        Self {
            live,
            dropped,
            done: false,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.live.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.done {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// When and how a request is sent, as the driver decided it.
#[derive(Clone, Copy, Debug)]
struct Dispatch {
    /// Intended send time (open loop: the schedule; closed loop: now).
    intended: Instant,
    /// Whether it falls in the warm-up.
    warmup: bool,
    /// Whether the run is an open loop.
    open_loop: bool,
    /// The client's own lag before this send.
    lag: Option<Duration>,
}

impl<E: Executor> Shared<E> {
    /// Claims a measured request; false once `maxRequests` were issued.
    fn claim_measured(&self) -> bool {
        let n = self.measured_issued.fetch_add(1, Ordering::Relaxed);
        self.plan.max_requests.is_none_or(|max| n < max)
    }

    /// Whether a request intended at `t` is past the measurement deadline.
    fn past_deadline(&self, t: Instant) -> bool {
        self.deadline.is_some_and(|d| t >= d)
    }

    /// Sends one request and records it. Returns true when it failed.
    async fn run_one(&self, d: Dispatch) -> bool {
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let mut guard = InFlight::new(&self.live, &self.dropped);
        let sent = Instant::now();
        if !d.warmup {
            let mut sends = lock(&self.sends);
            sends.0.get_or_insert(sent);
            sends.1 = Some(sent);
            sends.2 += 1;
        }
        let ctx = RequestContext {
            index,
            warmup: d.warmup,
            intended: d.intended,
        };
        let outcome = self.executor.execute(ctx).await;
        guard.done = true;
        drop(guard);
        let failed = outcome.is_err();
        let record = RequestRecord {
            index,
            warmup: d.warmup,
            queue_time: d
                .open_loop
                .then(|| sent.saturating_duration_since(d.intended)),
            client_lag: d.lag,
            outcome: match &outcome {
                Ok(success) => Ok(Timings::from_success(
                    success,
                    sent,
                    d.open_loop.then_some(d.intended),
                )),
                Err(failure) => Err(failure.class.clone()),
            },
        };
        if let Some(sink) = &self.sink {
            sink.record(
                self.plan.stage,
                sent.saturating_duration_since(self.start),
                &record,
            );
        }
        if !d.warmup {
            match &record.outcome {
                Ok(t) => {
                    self.live.requests.fetch_add(1, Ordering::Relaxed);
                    self.live
                        .output_tokens
                        .fetch_add(t.output_tokens, Ordering::Relaxed);
                }
                Err(_) => {
                    self.live.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lock(&self.recorder).record(&record);
            let mut last = lock(&self.last_completion);
            let now = Instant::now();
            if last.is_none_or(|l| l < now) {
                *last = Some(now);
            }
        }
        match outcome {
            Ok(_) => self.consecutive_errors.store(0, Ordering::Relaxed),
            Err(failure) => {
                tracing::debug!(index, class = %failure.class, message = %failure.message, "request failed");
                let n = self.consecutive_errors.fetch_add(1, Ordering::Relaxed) + 1;
                let max = self.plan.max_consecutive_errors;
                if max > 0 && n >= max {
                    let mut aborted = lock(&self.aborted);
                    if aborted.is_none() {
                        let reason = format!(
                            "{n} consecutive errors, last {}: {}",
                            failure.class, failure.message
                        );
                        tracing::warn!(reason = %reason, "aborting the run");
                        *aborted = Some(reason);
                    }
                    self.stop.cancel();
                }
            }
        }
        failed
    }

    /// Sleeps the error back-off; false when the run stops meanwhile.
    async fn backoff(&self) -> bool {
        if self.plan.backoff.is_zero() {
            return !self.stop.is_cancelled();
        }
        tokio::select! {
            _ = sleep(self.plan.backoff) => true,
            _ = self.stop.cancelled() => false,
        }
    }
}

/// One closed-loop worker, starting at `begin` (the ramp-up spreads them).
async fn worker<E: Executor>(shared: Arc<Shared<E>>, begin: Instant) {
    tokio::select! {
        _ = sleep_until(begin) => {}
        _ = shared.stop.cancelled() => return,
    }
    let mut previous_end: Option<Instant> = None;
    loop {
        if shared.stop.is_cancelled() {
            break;
        }
        let now = Instant::now();
        if shared.past_deadline(now) {
            break;
        }
        let warmup = now < shared.measure_start;
        if !warmup && !shared.claim_measured() {
            break;
        }
        let dispatch = Dispatch {
            intended: now,
            warmup,
            open_loop: false,
            lag: previous_end.map(|end| now.saturating_duration_since(end)),
        };
        let failed = shared.run_one(dispatch).await;
        previous_end = Some(Instant::now());
        if failed && !shared.backoff().await {
            break;
        }
        // The back-off is the policy's wait, not the client's lag.
        if failed {
            previous_end = Some(Instant::now());
        }
    }
}

/// Runs the load described by `plan` with `executor` until a stop condition,
/// updating `live` as requests complete and handing every record to `sink`.
/// Cancelling `cancel` stops the run gracefully; the outcome still holds
/// everything measured.
pub async fn drive<E: Executor>(
    plan: &LoadPlan,
    executor: E,
    live: Arc<LiveCounters>,
    cancel: &CancellationToken,
    sink: Option<Arc<dyn RecordSink>>,
) -> LoadOutcome {
    let start = Instant::now();
    let measure_start = start + plan.warmup;
    let shared = Arc::new(Shared {
        executor,
        plan: plan.clone(),
        start,
        measure_start,
        deadline: plan.duration.map(|d| measure_start + d),
        stop: cancel.child_token(),
        recorder: Mutex::new(Recorder::with_goodput(plan.goodput.clone())),
        live,
        sink,
        next_index: AtomicU64::new(0),
        measured_issued: AtomicU64::new(0),
        consecutive_errors: AtomicU32::new(0),
        dropped: AtomicU64::new(0),
        aborted: Mutex::new(None),
        last_completion: Mutex::new(None),
        sends: Mutex::new((None, None, 0)),
    });
    tracing::info!(
        stage = plan.stage,
        concurrency = plan.concurrency,
        rate = plan.rate,
        arrival = ?plan.arrival,
        ramp_up_s = plan.ramp_up.as_secs_f64(),
        warmup_s = plan.warmup.as_secs_f64(),
        duration_s = plan.duration.map(|d| d.as_secs_f64()),
        max_requests = plan.max_requests,
        seed = plan.seed,
        "load started"
    );

    let mut tasks = JoinSet::new();
    let mut schedule = plan.rate.map(|rate| {
        ArrivalSchedule::with_shape(rate, plan.arrival, plan.burstiness, plan.ramp_up, plan.seed)
    });
    let permits = Arc::new(Semaphore::new(plan.concurrency as usize));
    let mut next_intended = None;
    match &mut schedule {
        None => {
            for i in 0..plan.concurrency {
                let begin = start
                    + plan
                        .ramp_up
                        .mul_f64(f64::from(i) / f64::from(plan.concurrency));
                tasks.spawn(worker(shared.clone(), begin));
            }
        }
        Some(s) => next_intended = s.next().map(|offset| start + offset),
    }

    let mut stopping = false;
    let mut hard_stopped = false;
    let mut grace_end = Instant::now();
    // When the timer of the next intended send fired (its lateness is the
    // client's lag; any wait after it is for a free slot).
    let mut fired: Option<Instant> = None;
    // When the previous request was dispatched: a schedule already behind
    // (waiting for slots) is backlog, not client lag.
    let mut last_dispatch = start;
    let mut send_timer: Option<(Instant, TimerFuture)> = None;
    loop {
        if next_intended.is_some_and(|t| shared.past_deadline(t)) {
            next_intended = None;
        }
        // Nothing left to send and nothing in flight: the run is over. (The
        // cancellation branch below stays armed, so `select!`'s `else` alone
        // would never fire.)
        if next_intended.is_none() && tasks.is_empty() {
            break;
        }
        let slot_time = next_intended.unwrap_or(grace_end);
        // One timer per intended send, kept across loop turns (a fresh one
        // per turn would queue a new deadline on the precise thread each
        // time another branch wakes the loop).
        if next_intended.is_some() && send_timer.as_ref().is_none_or(|(at, _)| *at != slot_time) {
            send_timer = Some((slot_time, plan.send_timer.sleep_until(slot_time)));
        }
        tokio::select! {
            biased;
            _ = shared.stop.cancelled(), if !stopping => {
                stopping = true;
                next_intended = None;
                grace_end = Instant::now() + plan.cancel_grace;
            }
            _ = sleep_until(grace_end), if stopping && !hard_stopped => {
                hard_stopped = true;
                tasks.abort_all();
            }
            () = async { if let Some((_, t)) = send_timer.as_mut() { t.as_mut().await } }, if next_intended.is_some() && fired.is_none() && !stopping => {
                fired = Some(Instant::now());
                send_timer = None;
            }
            permit = permits.clone().acquire_owned(), if next_intended.is_some() && fired.is_some() && !stopping => {
                let lag = fired
                    .take()
                    .map(|f| f.saturating_duration_since(slot_time.max(last_dispatch)));
                last_dispatch = Instant::now();
                let Ok(permit) = permit else {
                    next_intended = None;
                    continue;
                };
                let warmup = slot_time < measure_start;
                if !warmup && !shared.claim_measured() {
                    next_intended = None;
                    continue;
                }
                let task_shared = shared.clone();
                let dispatch = Dispatch {
                    intended: slot_time,
                    warmup,
                    open_loop: true,
                    lag,
                };
                tasks.spawn(async move {
                    if task_shared.run_one(dispatch).await {
                        task_shared.backoff().await;
                    }
                    drop(permit);
                });
                next_intended = schedule
                    .as_mut()
                    .and_then(|s| s.next())
                    .map(|offset| start + offset);
            }
            joined = tasks.join_next(), if !tasks.is_empty() => {
                if let Some(Err(e)) = joined
                    && e.is_panic()
                {
                    tracing::error!(error = %e, "a request task panicked");
                }
            }
        }
    }

    let end = Instant::now();
    let last = *lock(&shared.last_completion);
    let measurement = last.unwrap_or(end).saturating_duration_since(measure_start);
    let recorder = lock(&shared.recorder).clone();
    let aborted = lock(&shared.aborted).clone();
    let send_rate = match *lock(&shared.sends) {
        (Some(first), Some(last), n) if n >= 2 && last > first => {
            Some((n - 1) as f64 / (last - first).as_secs_f64())
        }
        _ => None,
    };
    let outcome = LoadOutcome {
        recorder,
        measurement,
        aborted,
        cancelled: cancel.is_cancelled(),
        dropped: shared.dropped.load(Ordering::Relaxed),
        issued: shared.next_index.load(Ordering::Relaxed),
        seed: plan.seed,
        send_rate,
    };
    tracing::info!(
        stage = plan.stage,
        requests = outcome.recorder.requests,
        errors = outcome.recorder.errors,
        dropped = outcome.dropped,
        measurement_s = measurement.as_secs_f64(),
        aborted = outcome.aborted.as_deref(),
        cancelled = outcome.cancelled,
        "load finished"
    );
    outcome
}

#[cfg(test)]
mod tests {
    use super::super::record::{ErrorClass, Failure, Success, TokenSource};
    use super::super::stats::{CLIENT_LAG, E2EL, E2EL_INTENDED, QUEUE_TIME, TTFT};
    use super::*;
    use crate::api::duration::Duration as SpecDuration;

    /// Sleeps `latency`, then succeeds (or fails when `fail` is set).
    struct Fake {
        latency: Duration,
        fail: bool,
        calls: AtomicU64,
    }

    impl Fake {
        fn new(latency_ms: u64, fail: bool) -> Self {
            Self {
                latency: Duration::from_millis(latency_ms),
                fail,
                calls: AtomicU64::new(0),
            }
        }
    }

    impl Executor for Arc<Fake> {
        async fn execute(&self, _ctx: RequestContext) -> Outcome {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let first = Instant::now();
            sleep(self.latency).await;
            if self.fail {
                return Err(Failure::new(ErrorClass::Http(503), "unavailable"));
            }
            Ok(Success {
                token_times: vec![first],
                first_content: Some(first),
                end: Instant::now(),
                input_tokens: 1,
                output_tokens: 1,
                token_source: TokenSource::Usage,
            })
        }
    }

    /// A plan for tokio's paused clock (see [`SendTimer::Tokio`]).
    fn plan(load: LoadSpec, errors: ErrorPolicy) -> LoadPlan {
        LoadPlan {
            send_timer: SendTimer::Tokio,
            ..LoadPlan::new(&load, &errors).unwrap()
        }
    }

    fn secs(s: f64) -> Option<SpecDuration> {
        Some(SpecDuration(Duration::from_secs_f64(s)))
    }

    #[test]
    fn constant_schedule_is_evenly_spaced() {
        let offsets: Vec<_> = ArrivalSchedule::new(4.0, Arrival::Constant, 0)
            .take(5)
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(offsets, [ms(0), ms(250), ms(500), ms(750), ms(1000)]);
    }

    #[test]
    fn poisson_schedule_is_seeded_and_has_the_right_mean() {
        let a: Vec<_> = ArrivalSchedule::new(100.0, Arrival::Poisson, 7)
            .take(20_000)
            .collect();
        let b: Vec<_> = ArrivalSchedule::new(100.0, Arrival::Poisson, 7)
            .take(20_000)
            .collect();
        let c: Vec<_> = ArrivalSchedule::new(100.0, Arrival::Poisson, 8)
            .take(20_000)
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a[0], Duration::ZERO);
        assert!(a.windows(2).all(|w| w[1] >= w[0]));
        let mean_gap = a[a.len() - 1].as_secs_f64() / (a.len() - 1) as f64;
        assert!((mean_gap - 0.01).abs() < 0.0005, "mean gap {mean_gap}");
        // Exponential gaps: the coefficient of variation is about 1.
        let gaps: Vec<f64> = a.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
        let var = gaps.iter().map(|g| (g - mean_gap).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean_gap;
        assert!((cv - 1.0).abs() < 0.05, "cv {cv}");
    }

    #[test]
    fn plan_validation() {
        let bad_rate = LoadSpec {
            rate: Some(0.0),
            ..Default::default()
        };
        assert!(LoadPlan::new(&bad_rate, &ErrorPolicy::default()).is_err());
        let bad_conc = LoadSpec {
            concurrency: Some(0),
            ..Default::default()
        };
        assert!(LoadPlan::new(&bad_conc, &ErrorPolicy::default()).is_err());
        let p = plan(
            LoadSpec {
                seed: Some(3),
                ..Default::default()
            },
            ErrorPolicy::default(),
        );
        assert_eq!(p.concurrency, 1);
        assert_eq!(p.seed, 3);
        assert_eq!(p.max_consecutive_errors, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_stops_at_max_requests() {
        let fake = Arc::new(Fake::new(2, false));
        let p = plan(
            LoadSpec {
                concurrency: Some(4),
                max_requests: Some(25),
                ..Default::default()
            },
            ErrorPolicy::default(),
        );
        let live = Arc::new(LiveCounters::default());
        let out = drive(
            &p,
            fake.clone(),
            live.clone(),
            &CancellationToken::new(),
            None,
        )
        .await;
        assert_eq!(out.recorder.requests, 25);
        assert_eq!(out.recorder.errors, 0);
        assert_eq!(fake.calls.load(Ordering::Relaxed), 25);
        assert_eq!(live.requests.load(Ordering::Relaxed), 25);
        assert_eq!(live.in_flight.load(Ordering::Relaxed), 0);
        assert!(out.recorder.histogram(QUEUE_TIME).is_none());
        assert_eq!(out.recorder.histogram(E2EL).map(|h| h.len()), Some(25));
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_excludes_warmup() {
        let fake = Arc::new(Fake::new(10, false));
        let p = plan(
            LoadSpec {
                concurrency: Some(2),
                warmup: secs(0.1),
                duration: secs(0.2),
                ..Default::default()
            },
            ErrorPolicy::default(),
        );
        let out = drive(
            &p,
            fake.clone(),
            Arc::new(LiveCounters::default()),
            &CancellationToken::new(),
            None,
        )
        .await;
        let total = fake.calls.load(Ordering::Relaxed);
        let measured = out.recorder.requests;
        // 2 workers x ~10 ms per request: ~20 warm-up and ~40 measured requests.
        assert!(total >= measured + 10, "total {total} measured {measured}");
        assert!((25..=42).contains(&measured), "measured {measured}");
        let m = out.measurement.as_secs_f64();
        assert!((0.19..0.26).contains(&m), "measurement {m}");
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_latency_counts_from_intended_time() {
        // One slot, 50 ms requests, 100 requests/s: a backlog builds up, and
        // the latencies must grow with it instead of staying at 50 ms.
        let fake = Arc::new(Fake::new(50, false));
        let p = plan(
            LoadSpec {
                concurrency: Some(1),
                rate: Some(100.0),
                arrival: Arrival::Constant,
                max_requests: Some(6),
                ..Default::default()
            },
            ErrorPolicy::default(),
        );
        let out = drive(
            &p,
            fake,
            Arc::new(LiveCounters::default()),
            &CancellationToken::new(),
            None,
        )
        .await;
        assert_eq!(out.recorder.requests, 6);
        // Paused time: intended at 0, 10, .., 50 ms; sent at 0, 50, .., 250 ms.
        let ms = |m: u64| m * 1000;
        let e2el = out.recorder.histogram(E2EL).unwrap();
        let intended = out.recorder.histogram(E2EL_INTENDED).unwrap();
        let queue = out.recorder.histogram(QUEUE_TIME).unwrap();
        // From the actual send (vLLM's definition) each request takes 50 ms ..
        assert!(
            e2el.min() >= ms(49) && e2el.max() < ms(51),
            "{:?}",
            (e2el.min(), e2el.max())
        );
        // .. but counted from the schedule the backlog shows: the 6th request
        // was intended at 50 ms and done at 300 ms.
        assert!(
            intended.max() >= ms(249) && intended.max() < ms(252),
            "{}",
            intended.max()
        );
        assert!(
            queue.max() >= ms(199) && queue.max() < ms(202),
            "{}",
            queue.max()
        );
        // Sends were held back by the single slot: 6 sends in 250 ms.
        assert!(
            (out.send_rate.unwrap() - 20.0).abs() < 0.1,
            "{:?}",
            out.send_rate
        );
        // The timer fired on time: the wait was for the slot, not client lag.
        let lag = out.recorder.histogram(CLIENT_LAG).unwrap();
        assert!(lag.max() < ms(2), "lag {}", lag.max());
        let ttft = out.recorder.histogram(TTFT).unwrap();
        assert!(ttft.max() < ms(1));
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_excludes_warmup_by_intended_time() {
        let fake = Arc::new(Fake::new(1, false));
        let p = plan(
            LoadSpec {
                rate: Some(200.0),
                arrival: Arrival::Constant,
                warmup: secs(0.1),
                duration: secs(0.1),
                ..Default::default()
            },
            ErrorPolicy::default(),
        );
        let out = drive(
            &p,
            fake.clone(),
            Arc::new(LiveCounters::default()),
            &CancellationToken::new(),
            None,
        )
        .await;
        // Intended times 0, 5, ..., 195 ms: 20 in warm-up, 20 measured.
        assert_eq!(fake.calls.load(Ordering::Relaxed), 40);
        assert_eq!(out.recorder.requests, 20);
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_errors_abort() {
        let fake = Arc::new(Fake::new(1, true));
        let p = plan(
            LoadSpec {
                concurrency: Some(2),
                ..Default::default()
            },
            ErrorPolicy {
                max_consecutive: 5,
                backoff: SpecDuration::from_millis(1),
            },
        );
        let out = drive(
            &p,
            fake,
            Arc::new(LiveCounters::default()),
            &CancellationToken::new(),
            None,
        )
        .await;
        let reason = out.aborted.expect("aborted");
        assert!(reason.contains("5 consecutive errors"), "{reason}");
        assert!(reason.contains("http_503"), "{reason}");
        assert_eq!(out.recorder.requests, 0);
        assert!((5..=6).contains(&out.recorder.errors));
        assert_eq!(
            out.recorder.error_classes.get("http_503"),
            Some(&out.recorder.errors)
        );
        assert!(!out.cancelled);
    }

    async fn cancelled_run(latency_ms: u64, cancel_ms: u64, grace_ms: u64) -> LoadOutcome {
        let fake = Arc::new(Fake::new(latency_ms, false));
        let mut p = plan(
            LoadSpec {
                concurrency: Some(3),
                ..Default::default()
            },
            ErrorPolicy::default(),
        );
        p.cancel_grace = Duration::from_millis(grace_ms);
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            sleep(Duration::from_millis(cancel_ms)).await;
            c.cancel();
        });
        drive(&p, fake, Arc::new(LiveCounters::default()), &cancel, None).await
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_lets_in_flight_finish_within_grace() {
        let started = Instant::now();
        let out = cancelled_run(100, 30, 2000).await;
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(out.cancelled);
        assert_eq!(out.recorder.requests, 3);
        assert_eq!(out.dropped, 0);
        assert_eq!(out.issued, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_drops_in_flight_after_grace() {
        let started = Instant::now();
        let out = cancelled_run(10_000, 30, 20).await;
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(out.cancelled);
        assert!(out.aborted.is_none());
        assert_eq!(out.recorder.requests, 0);
        assert_eq!(out.recorder.errors, 0);
        assert_eq!(out.dropped, 3);
    }

    fn cv(offsets: &[Duration]) -> (f64, f64) {
        let gaps: Vec<f64> = offsets
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn gamma_schedule_keeps_the_rate_and_shapes_burstiness() {
        let sched = |k: f64| -> Vec<Duration> {
            ArrivalSchedule::with_shape(100.0, Arrival::Gamma, k, Duration::ZERO, 11)
                .take(20_000)
                .collect()
        };
        // Shape k: mean gap 1/rate, coefficient of variation 1/sqrt(k).
        for (k, want_cv) in [(0.25, 2.0), (1.0, 1.0), (4.0, 0.5)] {
            let (mean, c) = cv(&sched(k));
            assert!((mean - 0.01).abs() < 0.0006, "k {k}: mean {mean}");
            assert!((c - want_cv).abs() < 0.08 * want_cv, "k {k}: cv {c}");
        }
    }

    #[test]
    fn ramp_up_raises_the_rate_linearly() {
        assert_eq!(ramp_warp(3.0, 0.0), 3.0);
        // Over a 10 s ramp to 10/s, the first 25 arrivals take 10 s (half
        // the full-rate count), the rest follow at full rate.
        let offsets: Vec<f64> =
            ArrivalSchedule::with_shape(10.0, Arrival::Constant, 1.0, Duration::from_secs(10), 0)
                .take(200)
                .map(|d| d.as_secs_f64())
                .collect();
        let before = |t: f64| offsets.iter().filter(|o| **o < t).count();
        assert_eq!(before(10.0 + 1e-9), 51); // 0..=50 full-rate offsets 0..5 s
        assert!((before(5.0) as f64 - 12.5).abs() <= 1.0, "{}", before(5.0));
        assert!((offsets[150] - offsets[149] - 0.1).abs() < 1e-9);
    }

    #[test]
    fn stages_inherit_and_override() {
        let load = LoadSpec {
            concurrency: Some(4),
            duration: secs(5.0),
            seed: Some(9),
            stages: vec![
                crate::api::workload::StageSpec {
                    concurrency: Some(1),
                    ..Default::default()
                },
                crate::api::workload::StageSpec {
                    rate: Some(20.0),
                    duration: secs(2.0),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let plans = LoadPlan::stages(&load, &ErrorPolicy::default()).unwrap();
        assert_eq!(plans.len(), 2);
        assert_eq!(
            (plans[0].stage, plans[0].concurrency, plans[0].rate),
            (0, 1, None)
        );
        assert_eq!(plans[0].duration, Some(Duration::from_secs(5)));
        assert_eq!(
            (plans[1].stage, plans[1].concurrency, plans[1].rate),
            (1, 4, Some(20.0))
        );
        assert_eq!(plans[1].duration, Some(Duration::from_secs(2)));
        assert_ne!(plans[0].seed, plans[1].seed);
        let endless = LoadSpec {
            stages: vec![crate::api::workload::StageSpec::default()],
            ..Default::default()
        };
        let err = LoadPlan::stages(&endless, &ErrorPolicy::default()).unwrap_err();
        assert!(err.to_string().contains("stages[0]"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_ramp_up_spreads_worker_starts() {
        struct Recording(Mutex<Vec<Duration>>);
        impl RecordSink for Recording {
            fn record(&self, _stage: usize, sent: Duration, _r: &RequestRecord) {
                lock(&self.0).push(sent);
            }
        }
        let fake = Arc::new(Fake::new(5000, false));
        let p = plan(
            LoadSpec {
                concurrency: Some(4),
                ramp_up: secs(2.0),
                max_requests: Some(4),
                ..Default::default()
            },
            ErrorPolicy::default(),
        );
        let sink = Arc::new(Recording(Mutex::new(Vec::new())));
        let out = drive(
            &p,
            fake,
            Arc::new(LiveCounters::default()),
            &CancellationToken::new(),
            Some(sink.clone()),
        )
        .await;
        assert_eq!(out.recorder.requests, 4);
        let mut sent = lock(&sink.0).clone();
        sent.sort();
        let ms: Vec<u128> = sent.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![0, 500, 1000, 1500]);
    }
}
