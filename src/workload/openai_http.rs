//! The endpoint pieces every OpenAI-compatible workload shares (the
//! inference workload `openai`, `embeddings`, the tokenizer probe
//! `tokenize` and the RAG chain): API keys from the environment or a file,
//! the HTTP client (proxies from the environment ignored: a benchmark
//! measures the service itself), the API root, model discovery, a JSON
//! POST whose non-2xx answer is a classified failure, and transport error
//! classification.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;

use super::WorkloadError;
use super::openai_payload::excerpt;
use super::record::{ErrorClass, Failure};

/// Loads an API key from the environment variable `env` or the file `file`
/// (at most one given), trimmed; shared with the embeddings workload.
pub fn load_key(env: Option<&str>, file: Option<&str>) -> Result<Option<String>, WorkloadError> {
    let key = match (env, file) {
        (Some(_), Some(_)) => {
            return Err(WorkloadError::ApiKey(
                "set only one of apiKeyEnv and apiKeyFile".to_string(),
            ));
        }
        (Some(var), None) => std::env::var(var)
            .map_err(|_| WorkloadError::ApiKey(format!("environment variable {var} is not set")))?,
        (None, Some(path)) => std::fs::read_to_string(Path::new(path))
            .map_err(|e| WorkloadError::ApiKey(format!("cannot read {path}: {e}")))?,
        (None, None) => return Ok(None),
    };
    let key = key.trim().to_string();
    if key.is_empty() {
        return Err(WorkloadError::ApiKey("the API key is empty".to_string()));
    }
    Ok(Some(key))
}

/// `base_url` without a trailing `/` or `/v1`, so both
/// `http://host:8000` and `http://host:8000/v1/` work.
pub fn api_root(base_url: &str) -> &str {
    let trimmed = base_url.trim_end_matches('/');
    trimmed.strip_suffix("/v1").unwrap_or(trimmed)
}

/// Classifies a transport error; `in_body` when it happened while reading
/// the response body.
pub fn classify_transport(err: &reqwest::Error, in_body: bool) -> ErrorClass {
    if err.is_timeout() {
        ErrorClass::Timeout
    } else if err.is_connect() {
        ErrorClass::Connect
    } else if in_body || err.is_body() || err.is_decode() {
        ErrorClass::Stream
    } else if err.is_request() {
        // Failed while sending: connection reset, refused upgrade, ...
        ErrorClass::Connect
    } else {
        ErrorClass::Other("request")
    }
}

/// Describes a transport error with its causes, for failure messages.
pub(crate) fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Extracts the first model id from a `GET /v1/models` response.
pub fn first_model(body: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Model {
        id: String,
    }
    #[derive(Deserialize)]
    struct Models {
        data: Vec<Model>,
    }
    let models: Models =
        serde_json::from_slice(body).map_err(|e| format!("unexpected response: {e}"))?;
    models
        .data
        .into_iter()
        .next()
        .map(|m| m.id)
        .ok_or_else(|| "the server lists no models".to_string())
}

/// [`api_root`] of `base_url`, which must be an `http://` or `https://` URL.
pub(crate) fn checked_root(base_url: &str) -> Result<&str, WorkloadError> {
    let root = api_root(base_url);
    if !(root.starts_with("http://") || root.starts_with("https://")) {
        return Err(WorkloadError::InvalidConfig(format!(
            "baseUrl {base_url:?} must start with http:// or https://"
        )));
    }
    Ok(root)
}

/// The HTTP client of an OpenAI-compatible endpoint: the API key (if any)
/// as a sensitive `Authorization: Bearer` header, up to `connections` idle
/// connections, no proxy, redirect or retry.
pub(crate) fn http_client(
    api_key: Option<String>,
    timeout: Duration,
    connections: u32,
) -> Result<reqwest::Client, WorkloadError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = api_key {
        let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            WorkloadError::ApiKey("the API key contains invalid characters".to_string())
        })?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    // No proxy, redirect or retry: a benchmark measures the service
    // itself, and every refused or redirected request counts as a
    // failure instead of being hidden behind a second attempt.
    crate::tls::client_builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .default_headers(headers)
        .user_agent(concat!("aifbench/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(connections as usize)
        .build()
        .map_err(WorkloadError::HttpClient)
}

/// POSTs a JSON `body` to `url`: the response when its status is a
/// success, else the failure — the transport error classified, or
/// `http_<code>` with an excerpt of the body. Shared by the OpenAI-compatible
/// executors (inference and embeddings).
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &reqwest::Url,
    body: Bytes,
) -> Result<reqwest::Response, Failure> {
    let resp = http
        .post(url.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::new(classify_transport(&e, false), describe(&e)))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.bytes().await.unwrap_or_default();
    Err(Failure::new(
        ErrorClass::Http(status.as_u16()),
        format!(
            "HTTP {status}: {}",
            excerpt(&String::from_utf8_lossy(&body))
        ),
    ))
}

/// The first model `GET {root}/v1/models` lists, within `timeout`.
pub(crate) async fn discover_model(
    http: &reqwest::Client,
    root: &str,
    timeout: Duration,
) -> Result<String, WorkloadError> {
    let url = format!("{root}/v1/models");
    let err = |reason: String| WorkloadError::ModelDiscovery {
        url: url.clone(),
        reason,
    };
    let fetch = async {
        let resp = http.get(&url).send().await.map_err(|e| describe(&e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| describe(&e))?;
        if !status.is_success() {
            return Err(format!(
                "HTTP {status}: {}",
                excerpt(&String::from_utf8_lossy(&body))
            ));
        }
        first_model(&body)
    };
    let model = tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| err("timed out".to_string()))?
        .map_err(err)?;
    tracing::info!(model = %model, "model discovered");
    Ok(model)
}
