//! A tiny OpenAI-compatible server for tests, on `127.0.0.1:0`, streaming
//! tokens with known delays.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use serde_json::{Value, json};

/// How the server answers.
#[derive(Clone, Debug)]
pub struct Behavior {
    /// Delay before the first token.
    pub first_token: Duration,
    /// Delay between tokens.
    pub gap: Duration,
    /// Tokens (content events) per response.
    pub tokens: usize,
    /// Send a usage chunk reporting this many completion tokens.
    pub usage_completion_tokens: Option<u64>,
    /// Answer every completion request with this status when not 200.
    pub status: u16,
    /// End streams without `[DONE]`.
    pub truncate: bool,
    /// Require `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
}

impl Default for Behavior {
    fn default() -> Self {
        Self {
            first_token: Duration::from_millis(30),
            gap: Duration::from_millis(5),
            tokens: 8,
            usage_completion_tokens: None,
            status: 200,
            truncate: false,
            api_key: None,
        }
    }
}

/// Prompt tokens the server reports in usage.
pub const PROMPT_TOKENS: u64 = 7;

struct ServerState {
    behavior: Behavior,
    hits: AtomicU64,
    last_body: Mutex<Value>,
}

/// A running test server; stops when dropped.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Starts a server behaving as `behavior`.
    pub async fn start(behavior: Behavior) -> Self {
        let state = Arc::new(ServerState {
            behavior,
            hits: AtomicU64::new(0),
            last_body: Mutex::new(Value::Null),
        });
        let app = Router::new()
            .route("/v1/models", get(models))
            .route("/v1/completions", post(complete))
            .route("/v1/chat/completions", post(complete))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, state, task }
    }

    /// Completion requests received.
    pub fn hits(&self) -> u64 {
        self.state.hits.load(Ordering::Relaxed)
    }

    /// Body of the last completion request.
    pub fn last_body(&self) -> Value {
        self.state.last_body.lock().unwrap().clone()
    }
}

fn authorized(state: &ServerState, headers: &HeaderMap) -> bool {
    match &state.behavior.api_key {
        None => true,
        Some(key) => {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {key}"))
        }
    }
}

async fn models(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(json!({"object": "list", "data": [{"id": "test-model", "object": "model"}]}))
        .into_response()
}

fn usage(b: &Behavior) -> Value {
    json!({
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": b.usage_completion_tokens,
        "total_tokens": PROMPT_TOKENS + b.usage_completion_tokens.unwrap_or(0),
    })
}

async fn complete(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.hits.fetch_add(1, Ordering::Relaxed);
    if !authorized(&state, &headers) {
        return (StatusCode::UNAUTHORIZED, "bad key").into_response();
    }
    let b = state.behavior.clone();
    if b.status != 200 {
        let status = StatusCode::from_u16(b.status).unwrap();
        // A redirect points back here: a client that follows it would loop.
        let location = [(header::LOCATION, "/v1/completions")];
        if status.is_redirection() {
            return (status, location, "").into_response();
        }
        return (status, "{\"error\":\"boom\"}").into_response();
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    *state.last_body.lock().unwrap() = req.clone();
    let chat = req.get("messages").is_some();
    if req["stream"] != json!(true) {
        tokio::time::sleep(b.first_token + b.gap * (b.tokens.saturating_sub(1) as u32)).await;
        let choice = if chat {
            json!({"index": 0, "message": {"role": "assistant", "content": "x".repeat(b.tokens)}})
        } else {
            json!({"index": 0, "text": "x".repeat(b.tokens)})
        };
        let mut resp = json!({"choices": [choice]});
        if b.usage_completion_tokens.is_some() {
            resp["usage"] = usage(&b);
        }
        return axum::Json(resp).into_response();
    }
    let mut frames: Vec<(Duration, String)> = Vec::new();
    for i in 0..b.tokens {
        let choice = if chat {
            json!({"index": 0, "delta": {"content": "tok"}})
        } else {
            json!({"index": 0, "text": "tok"})
        };
        // CRLF line endings on odd events, LF on even ones.
        let eol = if i % 2 == 1 { "\r\n" } else { "\n" };
        let event = format!(
            "data: {}{eol}{eol}",
            json!({"choices": [choice], "usage": null})
        );
        let delay = if i == 0 { b.first_token } else { b.gap };
        // Split one event across two body frames.
        let (head, tail) = event.split_at(event.len() / 2);
        frames.push((delay, head.to_string()));
        frames.push((Duration::ZERO, tail.to_string()));
    }
    if b.usage_completion_tokens.is_some() {
        let event = json!({"choices": [], "usage": usage(&b)});
        frames.push((Duration::ZERO, format!("data: {event}\n\n")));
    }
    if !b.truncate {
        frames.push((Duration::ZERO, "data: [DONE]\n\n".to_string()));
    }
    let frames = futures::stream::iter(frames).then(|(delay, frame)| async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok::<_, Infallible>(Bytes::from(frame))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(frames))
        .unwrap()
}
