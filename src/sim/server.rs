//! HTTP layer of the simulator: the axum router and its handlers. Parsing
//! and response shapes live in [`super::openai`], timing in
//! [`super::generation`]; this module only wires them to requests.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::Semaphore;

use super::SimConfig;
use super::generation::Generation;
use super::gpu::GpuSim;
use super::metrics::Metrics;
use super::openai::{self, ApiError, DONE_EVENT, Job, Meta};

/// Largest accepted request body (long prompts are fine; this is a simulator).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// State shared by all handlers of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    config: SimConfig,
    metrics: Arc<Metrics>,
    semaphore: Option<Arc<Semaphore>>,
    requests: AtomicU64,
    started: u64,
}

impl Shared {
    /// State for a server simulating `config` (already validated).
    pub(crate) fn new(config: SimConfig) -> Self {
        let semaphore = match config.max_concurrency {
            0 => None,
            n => Some(Arc::new(Semaphore::new(n))),
        };
        Self {
            metrics: Arc::new(server_metrics(&config)),
            semaphore,
            requests: AtomicU64::new(0),
            started: unix_now(),
            config,
        }
    }
}

/// The server's metrics, with its simulated GPUs when it has any.
fn server_metrics(config: &SimConfig) -> Metrics {
    let m = Metrics::new(&config.model, config.max_concurrency);
    if config.gpu.count == 0 {
        return m;
    }
    let host = crate::results::hostname().unwrap_or_else(|| "localhost".to_owned());
    m.with_gpu(GpuSim::new(config.gpu.clone(), host))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The router with all endpoints of the simulator.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route("/version", get(version))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(e.body())).into_response()
}

async fn health() -> StatusCode {
    StatusCode::OK
}

async fn not_found() -> Response {
    error_response(&ApiError::NotFound("Not Found".to_owned()))
}

/// `/version` as vLLM answers it (`{"version": ...}`), naming the simulator.
async fn version() -> Json<serde_json::Value> {
    Json(json!({"version": concat!("aifbench-sim ", env!("CARGO_PKG_VERSION"))}))
}

async fn models(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let model = &s.config.model;
    Json(json!({
        "object": "list",
        "data": [{
            "id": model,
            "object": "model",
            "created": s.started,
            "owned_by": "aifbench-sim",
            "root": model,
            "parent": null,
        }],
    }))
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn completions(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let parsed = openai::parse_completion(&body, &s.config.model, s.config.output_tokens);
    generate(s, parsed).await
}

async fn chat_completions(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let parsed = openai::parse_chat(&body, &s.config.model, s.config.output_tokens);
    generate(s, parsed).await
}

/// Answers an embeddings request after its simulated latency (fixed plus
/// per input token), holding a concurrency slot like a generation does.
async fn embeddings(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let job = match super::embeddings::parse(&body, &s.config.model) {
        Ok(job) => job,
        Err(e) => {
            tracing::debug!(status = e.status(), error = ?e, "rejected simulated embeddings request");
            return error_response(&e);
        }
    };
    s.requests.fetch_add(1, Ordering::Relaxed);
    let _permit = match &s.semaphore {
        Some(sem) => sem.clone().acquire_owned().await.ok(),
        None => None,
    };
    let latency = job.latency(s.config.embedding_latency, s.config.embedding_per_token);
    crate::timer::sleep_until(tokio::time::Instant::now() + latency).await;
    tracing::debug!(
        inputs = job.tokens.len(),
        prompt_tokens = job.prompt_tokens(),
        latency_ms = latency.as_secs_f64() * 1e3,
        "simulated embeddings request"
    );
    Json(super::embeddings::response(
        &job,
        &s.config.model,
        s.config.embedding_dim,
    ))
    .into_response()
}

/// Runs a parsed request: the whole answer at once, or a stream of tokens.
async fn generate(s: Arc<Shared>, parsed: Result<Job, ApiError>) -> Response {
    let job = match parsed {
        Ok(job) => job,
        Err(e) => {
            tracing::debug!(status = e.status(), error = ?e, "rejected simulated request");
            return error_response(&e);
        }
    };
    let seq = s.requests.fetch_add(1, Ordering::Relaxed);
    let meta = Meta::new(job.kind, seq, unix_now(), &s.config.model);
    let seed = s
        .config
        .seed
        .wrapping_add(seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    tracing::debug!(
        id = %meta.id,
        endpoint = ?job.kind,
        prompt_tokens = job.total_prompt_tokens(),
        max_tokens = job.max_tokens,
        stream = job.stream,
        "simulated request"
    );
    let mut generation = Generation::new(
        &s.config,
        s.metrics.clone(),
        s.semaphore.clone(),
        job.total_prompt_tokens(),
        job.choices(),
        job.max_tokens,
        seed,
    );
    if job.stream {
        return stream_response(generation, meta, job);
    }
    while generation.next_token().await.is_some() {}
    Json(openai::full_response(&meta, &job)).into_response()
}

/// Where a token stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Tokens,
    Usage,
    Done,
    End,
}

struct StreamState {
    generation: Generation,
    meta: Meta,
    job: Job,
    step: Step,
}

/// The next SSE payload of a stream, or `None` after `[DONE]`.
async fn next_event(st: &mut StreamState) -> Option<Bytes> {
    loop {
        match st.step {
            Step::Tokens => match st.generation.next_token().await {
                Some(token) => {
                    let mut out = Vec::new();
                    for choice in 0..st.job.prompt_tokens.len() {
                        let chunk = openai::token_chunk(&st.meta, &st.job, choice, token);
                        out.extend_from_slice(&openai::sse_event(&chunk));
                    }
                    return Some(Bytes::from(out));
                }
                None => st.step = Step::Usage,
            },
            Step::Usage => {
                st.step = Step::Done;
                if st.job.include_usage {
                    return Some(openai::sse_event(&openai::usage_chunk(&st.meta, &st.job)));
                }
            }
            Step::Done => {
                st.step = Step::End;
                return Some(Bytes::from_static(DONE_EVENT.as_bytes()));
            }
            Step::End => return None,
        }
    }
}

/// A `text/event-stream` response; the body owns the generation, so a client
/// that disconnects drops it and releases its slot.
fn stream_response(generation: Generation, meta: Meta, job: Job) -> Response {
    let state = StreamState {
        generation,
        meta,
        job,
        step: Step::Tokens,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        let event = next_event(&mut st).await?;
        Some((Ok::<Bytes, Infallible>(event), st))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
