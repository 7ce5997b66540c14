//! Server-side metrics of the simulator, rendered in the Prometheus text
//! format 0.0.4 under vLLM's metric names, so that tools which scrape a real
//! vLLM server can scrape the simulator unchanged.
//!
//! Gauges live in atomics; counters and histograms sit behind one mutex that
//! is held only for a few additions per token. Bucket boundaries follow
//! vLLM's v1 Prometheus logger (`vllm/v1/metrics/loggers.py`). With
//! simulated GPUs ([`super::gpu`]) their DCGM series follow.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::exposition::{escape_label, format_value, header};

/// `vllm:time_to_first_token_seconds` buckets.
pub(crate) const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];

/// Buckets for the per-token latencies (inter-token latency, time per output token).
pub(crate) const TOKEN_LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];

/// Buckets for whole-request durations (end-to-end latency, queue time).
pub(crate) const REQUEST_LATENCY_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// Token-count buckets: vLLM's 1-2-5 series up to a nominal 128k context.
pub(crate) const TOKEN_COUNT_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0,
    50000.0, 100000.0,
];

/// A Prometheus histogram with fixed upper bounds (`le`, inclusive).
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); `+Inf`-only ones are in `count` alone.
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: vec![0; bounds.len()],
            count: 0,
            sum: 0.0,
        }
    }

    /// Records one observation.
    pub(crate) fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += value;
    }

    /// `(le, cumulative count)` pairs, ending with `+Inf`.
    pub(crate) fn cumulative(&self) -> Vec<(String, u64)> {
        let mut acc = 0;
        let mut out: Vec<(String, u64)> = self
            .bounds
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| {
                acc += c;
                (format_value(*b), acc)
            })
            .collect();
        out.push(("+Inf".to_owned(), self.count));
        out
    }
}

/// Counters and histograms, updated together under one lock.
#[derive(Debug, Clone)]
struct Recorded {
    success_length: u64,
    aborted: u64,
    prompt_tokens: u64,
    generation_tokens: u64,
    ttft: Histogram,
    itl: Histogram,
    tpot: Histogram,
    e2e: Histogram,
    queue: Histogram,
    request_prompt_tokens: Histogram,
    request_generation_tokens: Histogram,
}

impl Recorded {
    fn new() -> Self {
        Self {
            success_length: 0,
            aborted: 0,
            prompt_tokens: 0,
            generation_tokens: 0,
            ttft: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(TOKEN_LATENCY_BUCKETS),
            tpot: Histogram::new(TOKEN_LATENCY_BUCKETS),
            e2e: Histogram::new(REQUEST_LATENCY_BUCKETS),
            queue: Histogram::new(REQUEST_LATENCY_BUCKETS),
            request_prompt_tokens: Histogram::new(TOKEN_COUNT_BUCKETS),
            request_generation_tokens: Histogram::new(TOKEN_COUNT_BUCKETS),
        }
    }
}

/// What is known about a request once its last token has been sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Finished {
    /// Arrival to last token.
    pub e2e: Duration,
    /// Arrival to admission (waiting for a concurrency slot).
    pub queue: Duration,
    /// First to last token, divided by the number of gaps; `None` for one token.
    pub tpot: Option<Duration>,
    /// Prompt tokens of the request.
    pub prompt_tokens: u64,
    /// Tokens generated for the request.
    pub generation_tokens: u64,
}

/// Which gauge a [`GaugeGuard`] holds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gauge {
    /// `vllm:num_requests_running`.
    Running,
    /// `vllm:num_requests_waiting`.
    Waiting,
}

/// All metrics of one simulated server.
#[derive(Debug)]
pub(crate) struct Metrics {
    model: String,
    max_concurrency: usize,
    running: AtomicI64,
    waiting: AtomicI64,
    recorded: Mutex<Recorded>,
    /// Simulated GPUs, driven by the running requests ([`super::gpu`]).
    gpu: Option<super::gpu::GpuSim>,
}

impl Metrics {
    /// Empty metrics for `model`; `max_concurrency` (0 = unlimited) scales the KV-cache gauge.
    pub(crate) fn new(model: &str, max_concurrency: usize) -> Self {
        Self {
            model: model.to_owned(),
            max_concurrency,
            running: AtomicI64::new(0),
            waiting: AtomicI64::new(0),
            recorded: Mutex::new(Recorded::new()),
            gpu: None,
        }
    }

    /// The same with simulated GPUs whose power follows the running requests.
    pub(crate) fn with_gpu(mut self, gpu: super::gpu::GpuSim) -> Self {
        self.gpu = Some(gpu);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn gauge(&self, which: Gauge) -> &AtomicI64 {
        match which {
            Gauge::Running => &self.running,
            Gauge::Waiting => &self.waiting,
        }
    }

    /// Adds `delta` to a gauge.
    pub(crate) fn add(&self, which: Gauge, delta: i64) {
        self.gauge(which).fetch_add(delta, Ordering::SeqCst);
        if let (Gauge::Running, Some(gpu)) = (which, &self.gpu) {
            gpu.running_changed(delta);
        }
    }

    /// The current value of a gauge.
    pub(crate) fn get(&self, which: Gauge) -> i64 {
        self.gauge(which).load(Ordering::SeqCst)
    }

    /// The first token of a request went out `ttft` after its arrival.
    pub(crate) fn first_token(&self, ttft: Duration, prompt_tokens: u64, tokens: u64) {
        let mut r = self.lock();
        r.ttft.observe(ttft.as_secs_f64());
        r.prompt_tokens += prompt_tokens;
        r.generation_tokens += tokens;
    }

    /// A later token went out `itl` after the previous one.
    pub(crate) fn next_token(&self, itl: Duration, tokens: u64) {
        let mut r = self.lock();
        r.itl.observe(itl.as_secs_f64());
        r.generation_tokens += tokens;
    }

    /// A request completed (finish reason `length`).
    pub(crate) fn finished(&self, f: Finished) {
        let mut r = self.lock();
        r.success_length += 1;
        r.e2e.observe(f.e2e.as_secs_f64());
        r.queue.observe(f.queue.as_secs_f64());
        if let Some(tpot) = f.tpot {
            r.tpot.observe(tpot.as_secs_f64());
        }
        r.request_prompt_tokens.observe(f.prompt_tokens as f64);
        r.request_generation_tokens
            .observe(f.generation_tokens as f64);
    }

    /// A request was dropped before completing (client went away).
    pub(crate) fn aborted(&self) {
        self.lock().aborted += 1;
    }

    /// The metrics in the Prometheus text exposition format 0.0.4.
    pub(crate) fn render(&self) -> String {
        let r = self.lock().clone();
        let running = self.get(Gauge::Running).max(0);
        let waiting = self.get(Gauge::Waiting).max(0);
        let kv = if self.max_concurrency == 0 {
            0.0
        } else {
            (running as f64 / self.max_concurrency as f64).min(1.0)
        };
        let label = format!("model_name=\"{}\"", escape_label(&self.model));
        let mut out = String::with_capacity(8 * 1024);

        let gauges = [
            (
                "vllm:num_requests_running",
                "Number of requests in model execution batches.",
                running as f64,
            ),
            (
                "vllm:num_requests_waiting",
                "Number of requests waiting to be processed.",
                waiting as f64,
            ),
            (
                "vllm:kv_cache_usage_perc",
                "KV-cache usage. 1 means 100 percent usage.",
                kv,
            ),
        ];
        for (name, help, value) in gauges {
            header(&mut out, name, help, "gauge");
            let _ = writeln!(out, "{name}{{{label}}} {}", format_value(value));
        }

        let name = "vllm:request_success_total";
        header(
            &mut out,
            name,
            "Count of successfully processed requests.",
            "counter",
        );
        for (reason, value) in [("length", r.success_length), ("abort", r.aborted)] {
            let _ = writeln!(
                out,
                "{name}{{{label},finished_reason=\"{reason}\"}} {}",
                format_value(value as f64)
            );
        }
        let counters = [
            (
                "vllm:prompt_tokens_total",
                "Number of prefill tokens processed.",
                r.prompt_tokens,
            ),
            (
                "vllm:generation_tokens_total",
                "Number of generation tokens processed.",
                r.generation_tokens,
            ),
        ];
        for (name, help, value) in counters {
            header(&mut out, name, help, "counter");
            let _ = writeln!(out, "{name}{{{label}}} {}", format_value(value as f64));
        }

        let histograms = [
            (
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                &r.ttft,
            ),
            (
                "vllm:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.",
                &r.itl,
            ),
            (
                "vllm:time_per_output_token_seconds",
                "Histogram of time per output token in seconds (per-request mean after the first token).",
                &r.tpot,
            ),
            (
                "vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.",
                &r.e2e,
            ),
            (
                "vllm:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.",
                &r.queue,
            ),
            (
                "vllm:request_prompt_tokens",
                "Number of prefill tokens processed.",
                &r.request_prompt_tokens,
            ),
            (
                "vllm:request_generation_tokens",
                "Number of generation tokens processed.",
                &r.request_generation_tokens,
            ),
        ];
        for (name, help, h) in histograms {
            header(&mut out, name, help, "histogram");
            for (le, count) in h.cumulative() {
                let _ = writeln!(out, "{name}_bucket{{{label},le=\"{le}\"}} {count}.0");
            }
            let _ = writeln!(out, "{name}_count{{{label}}} {}.0", h.count);
            let _ = writeln!(out, "{name}_sum{{{label}}} {}", format_value(h.sum));
        }
        if let Some(gpu) = &self.gpu {
            gpu.render(&mut out);
        }
        out
    }
}

/// Holds a gauge up by one for as long as it lives.
#[derive(Debug)]
pub(crate) struct GaugeGuard {
    metrics: std::sync::Arc<Metrics>,
    which: Gauge,
}

impl GaugeGuard {
    /// Increments `which` now; it is decremented when the guard drops.
    pub(crate) fn new(metrics: std::sync::Arc<Metrics>, which: Gauge) -> Self {
        metrics.add(which, 1);
        Self { metrics, which }
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.metrics.add(self.which, -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The value of the sample whose line starts with `prefix`.
    fn sample(text: &str, prefix: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no sample {prefix} in\n{text}"))
    }

    #[test]
    fn histogram_is_cumulative_and_inclusive() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        h.observe(0.1);
        h.observe(0.5);
        h.observe(7.0);
        assert_eq!(
            h.cumulative(),
            vec![
                ("0.1".to_owned(), 1),
                ("1.0".to_owned(), 2),
                ("+Inf".to_owned(), 3)
            ]
        );
        assert!((h.sum - 7.6).abs() < 1e-12);
    }

    #[test]
    fn formats_like_prometheus_client() {}

    #[test]
    fn render_has_names_types_and_values() {
        let m = Arc::new(Metrics::new("m\"x", 4));
        let _running = GaugeGuard::new(m.clone(), Gauge::Running);
        {
            let _w = GaugeGuard::new(m.clone(), Gauge::Waiting);
            assert_eq!(m.get(Gauge::Waiting), 1);
        }
        assert_eq!(m.get(Gauge::Waiting), 0);
        m.first_token(Duration::from_millis(30), 7, 1);
        m.next_token(Duration::from_millis(20), 1);
        m.finished(Finished {
            e2e: Duration::from_millis(50),
            queue: Duration::ZERO,
            tpot: Some(Duration::from_millis(20)),
            prompt_tokens: 7,
            generation_tokens: 2,
        });
        m.aborted();
        let text = m.render();
        let l = "{model_name=\"m\\\"x\"";
        assert!(text.contains("# TYPE vllm:num_requests_running gauge\n"));
        assert!(text.contains("# TYPE vllm:request_success_total counter\n"));
        assert!(text.contains("# TYPE vllm:e2e_request_latency_seconds histogram\n"));
        assert_eq!(
            sample(&text, &format!("vllm:num_requests_running{l}}}")),
            1.0
        );
        assert_eq!(
            sample(&text, &format!("vllm:num_requests_waiting{l}}}")),
            0.0
        );
        assert_eq!(
            sample(&text, &format!("vllm:kv_cache_usage_perc{l}}}")),
            0.25
        );
        assert_eq!(
            sample(
                &text,
                &format!("vllm:request_success_total{l},finished_reason=\"length\"}}")
            ),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                &format!("vllm:request_success_total{l},finished_reason=\"abort\"}}")
            ),
            1.0
        );
        assert_eq!(
            sample(&text, &format!("vllm:prompt_tokens_total{l}}}")),
            7.0
        );
        assert_eq!(
            sample(&text, &format!("vllm:generation_tokens_total{l}}}")),
            2.0
        );
        assert_eq!(
            sample(
                &text,
                &format!("vllm:time_to_first_token_seconds_bucket{l},le=\"0.02\"}}")
            ),
            0.0
        );
        assert_eq!(
            sample(
                &text,
                &format!("vllm:time_to_first_token_seconds_bucket{l},le=\"0.04\"}}")
            ),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                &format!("vllm:request_prompt_tokens_bucket{l},le=\"10.0\"}}")
            ),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                &format!("vllm:inter_token_latency_seconds_count{l}}}")
            ),
            1.0
        );
        assert!(
            (sample(&text, &format!("vllm:e2e_request_latency_seconds_sum{l}}}")) - 0.05).abs()
                < 1e-9
        );
        // Every sample line belongs to a family announced with # TYPE.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("vllm:"), "{line}");
            assert_eq!(line.split(' ').count(), 2, "{line}");
        }
    }

    #[test]
    fn kv_usage_is_zero_when_unlimited() {
        let m = Arc::new(Metrics::new("m", 0));
        let _g = GaugeGuard::new(m.clone(), Gauge::Running);
        assert_eq!(
            sample(&m.render(), "vllm:kv_cache_usage_perc{model_name=\"m\"}"),
            0.0
        );
    }
}
