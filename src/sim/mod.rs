//! `aifbench sim`: a simulated OpenAI-compatible inference server for dry
//! runs and tests — benchmarks can be exercised end to end with no GPU and
//! no model.
//!
//! The simulator does no inference. It answers like vLLM would, with
//! latencies drawn from a simple model ([`SimConfig`]):
//!
//! - a request first waits for a slot if `max_concurrency` requests are
//!   already running (counted as waiting, reported as queue time);
//! - its first token is due `ttft` after admission, every further token
//!   `itl` after the previous one, each scaled by a uniform factor in
//!   `[1 - jitter, 1 + jitter]`. Tokens are sent at absolute deadlines, so
//!   timer overhead does not accumulate;
//! - it always generates exactly `max_tokens` tokens (as with `ignore_eos`),
//!   or `output_tokens` when the request sets none, and finishes with
//!   reason `length`. Each token is the word `" tok"`.
//!
//! Token counts are approximations: a text prompt costs one token per
//! whitespace-separated word (chat: summed over all message texts, without
//! template overhead); a prompt of token ids costs one token per id.
//!
//! Endpoints: `GET /health`, `GET /v1/models`, `POST /v1/completions`,
//! `POST /v1/chat/completions` (both with `"stream": true` as Server-Sent
//! Events, one token per chunk, honouring `stream_options.include_usage`),
//! `POST /v1/embeddings` (one vector of `embedding_dim` per input, after
//! `embedding_latency` plus `embedding_per_token` per input token, with
//! `usage.prompt_tokens`; [`embeddings`]), and `GET /metrics` in the Prometheus text format with vLLM's metric
//! names. A completion request with several prompts is simulated as one
//! request generating one choice per prompt in parallel.
//!
//! With `--gpus N` (N > 0) `/metrics` also carries DCGM-exporter-named GPU
//! series whose power follows the running requests ([`gpu`]): simulated, not
//! measured, for testing the GPU telemetry pipeline without a GPU.

mod embeddings;
mod generation;
pub mod gpu;
mod metrics;
mod openai;
mod schedule;
mod server;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::duration::parse_duration;

/// Latency and behaviour model of the simulated server.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Served model name; requests naming another model get 404. Default `sim-model`.
    pub model: String,
    /// Time from admission to the first token. Default 50 ms.
    pub ttft: Duration,
    /// Time between consecutive tokens. Default 10 ms.
    pub itl: Duration,
    /// Tokens generated when a request sets no `max_tokens` (at least 1). Default 32.
    pub output_tokens: u32,
    /// Relative jitter in `[0, 1]`: `ttft` and each `itl` are scaled by a
    /// uniform factor in `[1 - jitter, 1 + jitter]`. Default 0.
    pub jitter: f64,
    /// Requests generating at once; more wait for a slot. 0 means unlimited.
    pub max_concurrency: usize,
    /// Seed of the jitter; the same seed and arrival order give the same latencies.
    pub seed: u64,
    /// Prefill time per prompt token, added to the time to first token.
    /// Default 0.
    pub prefill_per_token: Duration,
    /// Slow-down under load, at least 1 (as llm-d-inference-sim's
    /// `time-factor-under-load`): time to first token and inter-token
    /// latency are multiplied by a factor growing linearly from 1 with one
    /// request running to this value with `max_concurrency` running. Needs a
    /// concurrency limit; default 1 (no slow-down).
    pub load_factor: f64,
    /// Embeddings: fixed time of a request. Default 5 ms.
    pub embedding_latency: Duration,
    /// Embeddings: time per input token, added to the fixed time. Default
    /// 20 µs.
    pub embedding_per_token: Duration,
    /// Embeddings: dimension of the vectors (at least 1). Default 384.
    pub embedding_dim: usize,
    /// Simulated GPUs and their power model; none by default.
    pub gpu: gpu::GpuConfig,
}

impl SimConfig {
    /// The slow-down factor with `running` requests generating (this one
    /// included).
    pub fn factor(&self, running: usize) -> f64 {
        if self.max_concurrency <= 1 || self.load_factor <= 1.0 {
            return 1.0;
        }
        let busy = running.clamp(1, self.max_concurrency) - 1;
        1.0 + (self.load_factor - 1.0) * busy as f64 / (self.max_concurrency - 1) as f64
    }

    /// Time to first token and inter-token latency for a request with
    /// `prompt_tokens` admitted with `running` requests generating.
    pub fn latencies(&self, prompt_tokens: u64, running: usize) -> (Duration, Duration) {
        let f = self.factor(running);
        let prefill = self
            .prefill_per_token
            .saturating_mul(u32::try_from(prompt_tokens).unwrap_or(u32::MAX));
        (
            self.ttft.saturating_add(prefill).mul_f64(f),
            self.itl.mul_f64(f),
        )
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            model: "sim-model".to_owned(),
            ttft: Duration::from_millis(50),
            itl: Duration::from_millis(10),
            output_tokens: 32,
            jitter: 0.0,
            max_concurrency: 0,
            seed: 0,
            prefill_per_token: Duration::ZERO,
            load_factor: 1.0,
            embedding_latency: Duration::from_millis(5),
            embedding_per_token: Duration::from_micros(20),
            embedding_dim: 384,
            gpu: gpu::GpuConfig::default(),
        }
    }
}

impl SimConfig {
    /// Checks that the model can be simulated.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.model.is_empty() {
            return Err(SimError::InvalidConfig(
                "model name must not be empty".to_owned(),
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(SimError::InvalidConfig(format!(
                "jitter must be between 0 and 1, got {}",
                self.jitter
            )));
        }
        if self.embedding_dim == 0 || self.embedding_dim > 65536 {
            return Err(SimError::InvalidConfig(format!(
                "embedding dimension must be between 1 and 65536, got {}",
                self.embedding_dim
            )));
        }
        self.gpu.validate().map_err(SimError::InvalidConfig)?;
        if self.max_concurrency > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(SimError::InvalidConfig(format!(
                "max_concurrency must be at most {}, got {}",
                tokio::sync::Semaphore::MAX_PERMITS,
                self.max_concurrency
            )));
        }
        Ok(())
    }
}

/// Why the simulator could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is out of range.
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
    /// The listening socket could not be opened.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The shutdown signal handler could not be installed.
    #[error("cannot install the shutdown signal handler: {0}")]
    Signal(#[source] std::io::Error),
    /// Serving failed.
    #[error("simulated server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Command-line flags of `aifbench sim`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (0 picks a free one; the address is logged).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,

    /// Model name to serve; requests for any other model get 404.
    #[arg(long, default_value = "sim-model")]
    pub model: String,

    /// Time to first token, counted from when the request gets a slot
    /// (e.g. 50ms, 1.5s).
    #[arg(long, value_parser = parse_duration, default_value = "50ms")]
    pub ttft: Duration,

    /// Inter-token latency: time between consecutive generated tokens (e.g. 10ms).
    #[arg(long, value_parser = parse_duration, default_value = "10ms")]
    pub itl: Duration,

    /// Tokens to generate when a request sets no max_tokens; a request's
    /// max_tokens is always generated in full, as with ignore_eos.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub output_tokens: u32,

    /// Relative jitter between 0 and 1: TTFT and each inter-token gap are
    /// scaled by a uniform random factor in [1 - jitter, 1 + jitter].
    #[arg(long, default_value_t = 0.0, value_parser = parse_jitter)]
    pub jitter: f64,

    /// Requests generating at once; further requests wait in a queue
    /// (reported as vllm:num_requests_waiting). 0 means unlimited.
    #[arg(long, default_value_t = 0)]
    pub max_concurrency: usize,

    /// Seed of the jitter, for reproducible runs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Prefill time per prompt token, added to the TTFT (e.g. 50us): longer
    /// prompts answer later.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub prefill_per_token: Duration,

    /// Slow-down at full load (>= 1): TTFT and ITL grow linearly from x1 with
    /// one request running to this factor with --max-concurrency running, so
    /// a sweep shows a knee. Needs --max-concurrency.
    #[arg(long, default_value_t = 1.0, value_parser = parse_load_factor)]
    pub time_factor_under_load: f64,

    /// /v1/embeddings: fixed time of a request (e.g. 5ms).
    #[arg(long, value_parser = parse_duration, default_value = "5ms")]
    pub embedding_latency: Duration,

    /// /v1/embeddings: time per input token, added to the fixed time (e.g. 20us).
    #[arg(long, value_parser = parse_duration, default_value = "20us")]
    pub embedding_per_token: Duration,

    /// /v1/embeddings: dimension of the vectors.
    #[arg(long, default_value_t = 384, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub embedding_dim: u32,

    /// Simulated GPUs: with N > 0, /metrics carries DCGM-exporter-named GPU
    /// series (utilisation, memory, power, energy) driven by the running
    /// requests. Simulated, not measured.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub gpus: u32,

    /// Simulated GPUs: product name (the modelName label).
    #[arg(long, default_value = "NVIDIA H100 80GB HBM3 (simulated)")]
    pub gpu_model: String,

    /// Simulated GPUs: power of one GPU with no request running (W).
    #[arg(long, default_value_t = 70.0, value_parser = parse_watts)]
    pub gpu_idle_watts: f64,

    /// Simulated GPUs: power added per running request, per GPU (W).
    #[arg(long, default_value_t = 30.0, value_parser = parse_watts)]
    pub gpu_watts_per_active_request: f64,

    /// Simulated GPUs: power cap of one GPU (W).
    #[arg(long, default_value_t = 700.0, value_parser = parse_watts)]
    pub gpu_max_watts: f64,

    /// Simulated GPUs: memory of one GPU (MiB); 90% shows as used.
    #[arg(long, default_value_t = 81_559)]
    pub gpu_memory_mib: u64,
}

/// Parses a power in watts (a finite number >= 0).
fn parse_watts(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("must be a number of watts >= 0, got {s:?}")),
    }
}

/// Parses a load factor of at least 1.
fn parse_load_factor(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 1.0 => Ok(v),
        _ => Err(format!("must be a number >= 1, got {s:?}")),
    }
}

/// Parses a jitter fraction in `[0, 1]`.
fn parse_jitter(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("not a number: {e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be between 0 and 1, got {v}"))
    }
}

impl SimArgs {
    /// The latency model these flags describe.
    pub fn config(&self) -> SimConfig {
        SimConfig {
            model: self.model.clone(),
            ttft: self.ttft,
            itl: self.itl,
            output_tokens: self.output_tokens,
            jitter: self.jitter,
            max_concurrency: self.max_concurrency,
            seed: self.seed,
            prefill_per_token: self.prefill_per_token,
            load_factor: self.time_factor_under_load,
            embedding_latency: self.embedding_latency,
            embedding_per_token: self.embedding_per_token,
            embedding_dim: self.embedding_dim as usize,
            gpu: gpu::GpuConfig {
                count: self.gpus,
                model_name: self.gpu_model.clone(),
                idle_watts: self.gpu_idle_watts,
                watts_per_active_request: self.gpu_watts_per_active_request,
                max_watts: self.gpu_max_watts,
                memory_mib: self.gpu_memory_mib,
            },
        }
    }
}

/// Serves the simulator on `listener` until `shutdown` completes, then
/// finishes the requests in flight and returns.
pub async fn serve(
    listener: TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    config.validate()?;
    let app = server::router(Arc::new(server::Shared::new(config)));
    // Tokens are small writes: without TCP_NODELAY, Nagle's algorithm holds
    // one back until the client's delayed ACK (~40 ms) and the simulated
    // timing would be wrong.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(SimError::Serve)
}

/// Runs `aifbench sim`: binds `host:port`, logs the address and serves
/// until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn run(args: SimArgs) -> Result<(), SimError> {
    let config = args.config();
    config.validate()?;
    let requested = format!("{}:{}", args.host, args.port);
    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|source| SimError::Bind {
            address: requested.clone(),
            source,
        })?;
    let address = listener.local_addr().map_err(|source| SimError::Bind {
        address: requested,
        source,
    })?;
    let shutdown = shutdown_signal()?;
    tracing::info!(
        %address,
        model = %config.model,
        ttft_ms = config.ttft.as_secs_f64() * 1e3,
        itl_ms = config.itl.as_secs_f64() * 1e3,
        output_tokens = config.output_tokens,
        jitter = config.jitter,
        max_concurrency = config.max_concurrency,
        gpus = config.gpu.count,
        "simulated inference server listening"
    );
    serve(listener, config, shutdown).await?;
    tracing::info!(%address, "simulated inference server stopped");
    Ok(())
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, SimError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(SimError::Signal)?;
    Ok(async move {
        let ctrl_c = async {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::warn!(%error, "cannot listen for Ctrl-C; only SIGTERM stops the simulator");
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = ctrl_c => tracing::info!(signal = "SIGINT", "shutting down"),
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
        }
    })
}
