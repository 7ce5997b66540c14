//! Runs a [`LoadPlan`]: closed-loop workers or the open-loop scheduler, the
//! stop conditions (duration, `maxRequests`, error policy, cancellation with
//! its grace), and the recording of every request (statistics and the
//! per-second timeline).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use super::plan::TimerFuture;
use super::{
    Executor, LiveCounters, LoadOutcome, LoadPlan, RecordSink, RequestContext, TimelineRecorder,
};
use crate::workload::record::{RequestRecord, Timings};
use crate::workload::stats::Recorder;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
    timeline: Mutex<TimelineRecorder>,
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

/// Counts a request in flight (live and in the timeline); on drop without
/// `done`, counts it dropped.
struct InFlight<'a> {
    live: &'a LiveCounters,
    dropped: &'a AtomicU64,
    timeline: &'a Mutex<TimelineRecorder>,
    done: bool,
}

impl<'a> InFlight<'a> {
    fn new(
        live: &'a LiveCounters,
        dropped: &'a AtomicU64,
        timeline: &'a Mutex<TimelineRecorder>,
    ) -> Self {
        live.in_flight.fetch_add(1, Ordering::Relaxed);
        lock(timeline).started(Instant::now());
        Self {
            live,
            dropped,
            timeline,
            done: false,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.live.in_flight.fetch_sub(1, Ordering::Relaxed);
        lock(self.timeline).ended(Instant::now());
        if !self.done {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// When and how a request is sent, as the driver decided it.
#[derive(Clone, Copy, Debug)]
struct Dispatch {
    /// Sequence number, taken when dispatched so an open loop's requests are
    /// numbered in schedule order (a trace's request `i` is its line `i`).
    index: u64,
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
    /// The next sequence number.
    fn take_index(&self) -> u64 {
        self.next_index.fetch_add(1, Ordering::Relaxed)
    }

    async fn run_one(&self, d: Dispatch) -> bool {
        let index = d.index;
        let mut guard = InFlight::new(&self.live, &self.dropped, &self.timeline);
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
            let now = Instant::now();
            lock(&self.timeline)
                .measured(now, record.outcome.as_ref().ok().map(|t| t.output_tokens));
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
            index: shared.take_index(),
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
    let measure_start_unix_ms = jiff::Timestamp::now()
        .as_millisecond()
        .saturating_add(i64::try_from(plan.warmup.as_millis()).unwrap_or(i64::MAX));
    let shared = Arc::new(Shared {
        executor,
        plan: plan.clone(),
        start,
        measure_start,
        deadline: plan.duration.map(|d| measure_start + d),
        stop: cancel.child_token(),
        recorder: Mutex::new(Recorder::with_goodput(plan.goodput.clone())),
        timeline: Mutex::new(TimelineRecorder::new(measure_start, measure_start_unix_ms)),
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
        trace_requests = plan.trace.as_ref().map(|t| t.len()),
        seed = plan.seed,
        "load started"
    );

    let mut tasks = JoinSet::new();
    let mut schedule = plan.schedule();
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
                    index: shared.take_index(),
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
    let mut recorder = lock(&shared.recorder).clone();
    let timeline = std::mem::replace(
        &mut *lock(&shared.timeline),
        TimelineRecorder::new(measure_start, measure_start_unix_ms),
    );
    recorder.timeline = timeline.finish(end);
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
