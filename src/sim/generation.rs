//! The life of one simulated request: wait for a concurrency slot, then
//! hand out tokens at their scheduled deadlines while keeping the metrics.
//!
//! A [`Generation`] owns the gauge guards of its request, so dropping it —
//! because the client went away mid-stream — releases the slot, brings the
//! gauges back down, and counts the request as aborted.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::timer::sleep_until;

use super::SimConfig;
use super::metrics::{Finished, Gauge, GaugeGuard, Metrics};
use super::schedule::Schedule;

/// A concurrency slot in use. Fields drop in order: the running gauge goes
/// down before the permit lets the next request in.
#[derive(Debug)]
struct Slot {
    _running: GaugeGuard,
    _permit: Option<OwnedSemaphorePermit>,
}

/// One request from arrival to its last token.
#[derive(Debug)]
pub(crate) struct Generation {
    metrics: Arc<Metrics>,
    semaphore: Option<Arc<Semaphore>>,
    config: SimConfig,
    seed: u64,
    /// Built at admission, when the load is known.
    schedule: Option<Schedule>,
    tokens: u32,
    choices: u64,
    prompt_tokens: u64,
    arrival: Instant,
    waiting: Option<GaugeGuard>,
    slot: Option<Slot>,
    /// Admission time and queue time, once admitted.
    admitted: Option<(Instant, Duration)>,
    first_token_at: Option<Instant>,
    last_token_at: Option<Instant>,
    emitted: u32,
    finished: bool,
}

impl Generation {
    /// Registers a request that just arrived (it counts as waiting until admitted).
    /// It generates `tokens` tokens for each of `choices` prompts; `seed` fixes its jitter.
    pub(crate) fn new(
        config: &SimConfig,
        metrics: Arc<Metrics>,
        semaphore: Option<Arc<Semaphore>>,
        prompt_tokens: u64,
        choices: u64,
        tokens: u32,
        seed: u64,
    ) -> Self {
        let waiting = Some(GaugeGuard::new(metrics.clone(), Gauge::Waiting));
        Self {
            config: config.clone(),
            seed,
            schedule: None,
            metrics,
            semaphore,
            tokens,
            choices: choices.max(1),
            prompt_tokens,
            arrival: Instant::now(),
            waiting,
            slot: None,
            admitted: None,
            first_token_at: None,
            last_token_at: None,
            emitted: 0,
            finished: false,
        }
    }

    /// Waits for a concurrency slot (if limited) and starts the clock.
    async fn admit(&mut self) -> Instant {
        if let Some((start, _)) = self.admitted {
            return start;
        }
        let permit = match &self.semaphore {
            None => None,
            Some(s) => match s.clone().acquire_owned().await {
                Ok(p) => Some(p),
                Err(e) => {
                    // The semaphore is never closed; run unthrottled if it ever is.
                    tracing::warn!(error = %e, "concurrency limiter closed; admitting without a slot");
                    None
                }
            },
        };
        let start = Instant::now();
        self.slot = Some(Slot {
            _running: GaugeGuard::new(self.metrics.clone(), Gauge::Running),
            _permit: permit,
        });
        self.waiting = None;
        self.admitted = Some((start, start - self.arrival));
        let running = usize::try_from(self.metrics.get(Gauge::Running)).unwrap_or(1);
        let (ttft, itl) = self.config.latencies(self.prompt_tokens, running);
        self.schedule = Some(Schedule::new(
            ttft,
            itl,
            self.config.jitter,
            self.tokens,
            self.seed,
        ));
        start
    }

    /// Waits until the next token is due and returns its index (0-based), or
    /// `None` once all tokens are out (the request is then recorded as finished).
    pub(crate) async fn next_token(&mut self) -> Option<u32> {
        if self.emitted >= self.tokens {
            self.finish();
            return None;
        }
        let start = self.admit().await;
        let Some(offset) = self.schedule.as_mut().and_then(Schedule::next_offset) else {
            self.finish();
            return None;
        };
        sleep_until(start + offset).await;
        let now = Instant::now();
        match self.last_token_at {
            None => {
                self.first_token_at = Some(now);
                self.metrics
                    .first_token(now - self.arrival, self.prompt_tokens, self.choices);
            }
            Some(prev) => self.metrics.next_token(now - prev, self.choices),
        }
        self.last_token_at = Some(now);
        let index = self.emitted;
        self.emitted += 1;
        Some(index)
    }

    /// Records completion and frees the slot; idempotent.
    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let end = self.last_token_at.unwrap_or_else(Instant::now);
        let queue = self.admitted.map_or(Duration::ZERO, |(_, q)| q);
        let tpot = match (self.first_token_at, self.emitted) {
            (Some(first), n) if n > 1 => Some((end - first) / (n - 1)),
            _ => None,
        };
        self.metrics.finished(Finished {
            e2e: end - self.arrival,
            queue,
            tpot,
            prompt_tokens: self.prompt_tokens,
            generation_tokens: u64::from(self.emitted) * self.choices,
        });
        self.slot = None;
        self.waiting = None;
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        if !self.finished {
            tracing::debug!(
                emitted = self.emitted,
                tokens = self.tokens,
                "simulated request dropped before completion"
            );
            self.metrics.aborted();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(ttft_ms: u64, itl_ms: u64) -> SimConfig {
        SimConfig {
            ttft: Duration::from_millis(ttft_ms),
            itl: Duration::from_millis(itl_ms),
            ..SimConfig::default()
        }
    }

    #[tokio::test]
    async fn tokens_arrive_on_schedule_and_are_recorded() {
        let metrics = Arc::new(Metrics::new("m", 0));
        let mut g = Generation::new(&config(20, 5), metrics.clone(), None, 3, 1, 4, 0);
        assert_eq!(metrics.get(Gauge::Waiting), 1);
        let t0 = Instant::now();
        let mut seen = Vec::new();
        while let Some(i) = g.next_token().await {
            assert_eq!(metrics.get(Gauge::Running), 1);
            seen.push((i, t0.elapsed()));
        }
        assert_eq!(
            seen.iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        for (i, at) in &seen {
            let due = Duration::from_millis(20 + 5 * u64::from(*i));
            assert!(*at >= due, "token {i} at {at:?}, due {due:?}");
            assert!(
                *at < due + Duration::from_millis(500),
                "token {i} late: {at:?}"
            );
        }
        assert_eq!(metrics.get(Gauge::Running), 0);
        assert_eq!(metrics.get(Gauge::Waiting), 0);
        let text = metrics.render();
        assert!(text.contains(
            "vllm:request_success_total{model_name=\"m\",finished_reason=\"length\"} 1.0"
        ));
        assert!(text.contains("vllm:generation_tokens_total{model_name=\"m\"} 4.0"));
        assert!(text.contains("vllm:prompt_tokens_total{model_name=\"m\"} 3.0"));
        assert!(text.contains("vllm:inter_token_latency_seconds_count{model_name=\"m\"} 3.0"));
        assert!(text.contains("vllm:time_per_output_token_seconds_count{model_name=\"m\"} 1.0"));
        drop(g);
        assert!(text.contains("finished_reason=\"abort\"} 0.0"));
        assert!(metrics.render().contains("finished_reason=\"abort\"} 0.0"));
    }

    #[tokio::test]
    async fn dropping_mid_way_releases_slot_and_counts_abort() {
        let metrics = Arc::new(Metrics::new("m", 1));
        let sem = Some(Arc::new(Semaphore::new(1)));
        let mut g = Generation::new(&config(1, 1), metrics.clone(), sem.clone(), 1, 1, 10, 0);
        assert_eq!(g.next_token().await, Some(0));
        // A second request queues behind the first.
        let mut h = Generation::new(&config(1, 1), metrics.clone(), sem, 1, 1, 1, 0);
        let waited = tokio::time::timeout(Duration::from_millis(30), h.next_token()).await;
        assert!(waited.is_err(), "second request must wait for the slot");
        assert_eq!(metrics.get(Gauge::Waiting), 1);
        assert_eq!(metrics.get(Gauge::Running), 1);
        drop(g);
        assert_eq!(metrics.get(Gauge::Running), 0);
        assert!(metrics.render().contains("finished_reason=\"abort\"} 1.0"));
        assert_eq!(h.next_token().await, Some(0));
        assert_eq!(metrics.get(Gauge::Running), 1);
        assert_eq!(metrics.get(Gauge::Waiting), 0);
        assert_eq!(h.next_token().await, None);
        assert_eq!(metrics.get(Gauge::Running), 0);
        let text = metrics.render();
        assert!(text.contains("finished_reason=\"length\"} 1.0"));
        // The second request's queue time (>= 30 ms) was recorded.
        let queue_sum: f64 = text
            .lines()
            .find(|l| l.starts_with("vllm:request_queue_time_seconds_sum"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(queue_sum >= 0.03, "queue sum {queue_sum}");
    }
}
