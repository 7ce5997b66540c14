//! The load settings of a client (`load`, `errors`), validated and with
//! their defaults resolved into a [`LoadPlan`], one per stage of a sweep; and
//! how the open-loop scheduler waits for a send time ([`SendTimer`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::{ArrivalSchedule, DEFAULT_CANCEL_GRACE};
use crate::api::workload::{Arrival, ErrorPolicy, LoadSpec};
use crate::workload::WorkloadError;
use crate::workload::stats::Goodput;

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
    /// Open loop replaying a trace: the intended send offsets, one request
    /// each (instead of `rate`; the run ends after the last).
    pub trace: Option<Arc<[Duration]>>,
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
pub(super) type TimerFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

impl SendTimer {
    pub(super) fn sleep_until(self, at: Instant) -> TimerFuture {
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
            trace: None,
        })
    }

    /// The open loop's send schedule: the trace's offsets, else the `rate`
    /// process; `None` for a closed loop.
    pub fn schedule(&self) -> Option<ArrivalSchedule> {
        match (&self.trace, self.rate) {
            (Some(offsets), _) => Some(ArrivalSchedule::trace(offsets.clone())),
            (None, Some(rate)) => Some(ArrivalSchedule::with_shape(
                rate,
                self.arrival,
                self.burstiness,
                self.ramp_up,
                self.seed,
            )),
            (None, None) => None,
        }
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
