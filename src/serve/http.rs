//! The HTTP layer of `aifbench serve`: the axum router over the protocol's
//! handlers. Bodies are decoded here (an empty body is `{}`), the handler
//! runs on a blocking thread (it reads files), and its value or error is
//! encoded as JSON: 400 for a run that is not under the root or a body that
//! does not parse, 500 for a folder that cannot be read.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::ServeError;
use super::index::Index;
use super::protocol;

/// The router of every endpoint of the JSON datasource protocol.
pub fn router(index: Arc<Index>) -> Router {
    Router::new()
        .route("/", get(health))
        .route("/metrics", post(metrics))
        .route("/metric-payload-options", post(payload_options))
        .route("/query", post(query))
        .route("/variable", post(variable))
        .route("/annotations", post(annotations))
        .route("/tag-keys", post(tag_keys))
        .route("/tag-values", post(tag_values))
        .route("/search", post(search))
        .with_state(index)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Decodes `body` (empty: `{}`), runs `handle` on a blocking thread and
/// encodes what it returns.
async fn answer<T, F>(index: Arc<Index>, endpoint: &'static str, body: Bytes, handle: F) -> Response
where
    T: DeserializeOwned + Send + 'static,
    F: FnOnce(&Index, &T) -> Result<Value, ServeError> + Send + 'static,
{
    let parsed: Result<T, _> = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_str("{}")
    } else {
        serde_json::from_slice(&body)
    };
    let request = match parsed {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(endpoint, error = %e, "request body refused");
            return error(
                StatusCode::BAD_REQUEST,
                format!("{endpoint}: invalid body: {e}"),
            );
        }
    };
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || handle(&index, &request)).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(Ok(value)) => {
            tracing::debug!(endpoint, ms, "answered");
            Json(value).into_response()
        }
        Ok(Err(e)) => {
            let status = if e.is_client_error() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            tracing::info!(endpoint, ms, status = status.as_u16(), error = %e, "request failed");
            error(status, e.to_string())
        }
        Err(e) => {
            tracing::error!(endpoint, error = %e, "handler failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{endpoint}: {e}"),
            )
        }
    }
}

async fn health(State(index): State<Arc<Index>>) -> Response {
    let runs = tokio::task::spawn_blocking(move || index.runs().map(|r| r.len())).await;
    match runs {
        Ok(Ok(n)) => Json(json!({"status": "ok", "runs": n})).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn metrics(State(index): State<Arc<Index>>, body: Bytes) -> Response {
    answer(index, "/metrics", body, protocol::metrics).await
}

async fn payload_options(State(index): State<Arc<Index>>, body: Bytes) -> Response {
    answer(
        index,
        "/metric-payload-options",
        body,
        protocol::payload_options,
    )
    .await
}

async fn query(State(index): State<Arc<Index>>, body: Bytes) -> Response {
    answer(index, "/query", body, protocol::query).await
}

async fn variable(State(index): State<Arc<Index>>, body: Bytes) -> Response {
    answer(index, "/variable", body, protocol::variable).await
}

async fn annotations(State(index): State<Arc<Index>>, body: Bytes) -> Response {
    answer(index, "/annotations", body, protocol::annotations).await
}

async fn tag_keys(State(index): State<Arc<Index>>, body: Bytes) -> Response {
    answer(index, "/tag-keys", body, |_, _: &Value| {
        Ok(protocol::tag_keys())
    })
    .await
}

async fn tag_values(State(index): State<Arc<Index>>, body: Bytes) -> Response {
    answer(index, "/tag-values", body, protocol::tag_values).await
}

async fn search(State(index): State<Arc<Index>>, body: Bytes) -> Response {
    answer(index, "/search", body, |i, _: &Value| protocol::search(i)).await
}
