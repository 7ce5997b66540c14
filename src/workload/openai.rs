//! The OpenAI-compatible inference workload: `POST /v1/completions` or
//! `/v1/chat/completions`, streamed (server-sent events) or not.
//!
//! Per streamed request: the first event whose `choices` is non-empty is the
//! first token (TTFT); the gaps between successive such events are the
//! inter-token latencies; the request ends at the last event before
//! `data: [DONE]`. Output tokens come from `usage.completion_tokens` when the
//! server sends usage (requested with `stream_options.include_usage`), else
//! from the number of events carrying non-empty text.
//!
//! With a `sharedPrefix` dataset the executor also tells the first request
//! of each group from the later ones and keeps their latencies apart
//! ([`super::openai_labels`]).
//!
//! Proxies from the environment are ignored: a benchmark measures the service
//! itself.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::WorkloadError;
use super::dataset::{self, Entry, Prompt};
use super::dataset_shared_prefix::{self as shared_prefix, GroupTracker};
use super::load::{Executor, RequestContext};
use super::openai_labels::{LabelledLatencies, PREFIX_FIRST, PREFIX_LATER};
use super::openai_payload::{Payload, excerpt};
use super::record::{ErrorClass, Failure, Outcome, Success, TokenSource};
use super::sse::SseParser;
use crate::api::workload::{DatasetType, OpenAiApi, OpenAiWorkload};

/// Loads the API key named by `apiKeyEnv` or `apiKeyFile`, if any. Error
/// messages name the variable or file, never the key.
pub fn load_api_key(cfg: &OpenAiWorkload) -> Result<Option<String>, WorkloadError> {
    let key = match (&cfg.api_key_env, &cfg.api_key_file) {
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

/// The JSON body of a request with the configured prompt and `maxTokens`.
pub fn request_body(cfg: &OpenAiWorkload, model: &str) -> Value {
    let entry = Entry {
        prompt: Prompt::Text(cfg.prompt.clone()),
        max_tokens: Some(cfg.max_tokens),
    };
    entry_body(cfg, model, &entry)
}

/// The JSON body of a request for one dataset entry.
pub fn entry_body(cfg: &OpenAiWorkload, model: &str, entry: &Entry) -> Value {
    let mut body = json!({
        "model": model,
        "max_tokens": entry.max_tokens.unwrap_or(cfg.max_tokens),
        "stream": cfg.stream,
    });
    match (&entry.prompt, cfg.api) {
        (Prompt::Text(text), OpenAiApi::Completions) => body["prompt"] = json!(text),
        (Prompt::Text(text), OpenAiApi::Chat) => {
            body["messages"] = json!([{"role": "user", "content": text}]);
        }
        (Prompt::Messages(messages), OpenAiApi::Chat) => body["messages"] = messages.clone(),
        // A completions endpoint gets the messages' text, one per line.
        (Prompt::Messages(messages), OpenAiApi::Completions) => {
            let text: Vec<&str> = messages
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m.get("content").and_then(Value::as_str))
                .collect();
            body["prompt"] = json!(text.join("\n"));
        }
    }
    if cfg.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if let Some(t) = cfg.temperature {
        body["temperature"] = json!(t);
    }
    if cfg.ignore_eos {
        body["ignore_eos"] = json!(true);
    }
    body
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
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Follows the events of one streamed response. Pure: the caller supplies
/// each event's arrival instant.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    token_times: Vec<Instant>,
    first_content: Option<Instant>,
    text_events: u64,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    last_event: Option<Instant>,
    done: bool,
}

impl StreamAccumulator {
    /// A fresh accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `data: [DONE]` was seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Takes the data of one event that arrived at `at`.
    pub fn on_event(&mut self, data: &str, at: Instant) -> Result<(), Failure> {
        if self.done {
            return Ok(());
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let payload = Payload::parse(data)?;
        let choices = payload.choices();
        if choices.count > 0 {
            self.token_times.push(at);
            if choices.any_text {
                self.text_events += 1;
                self.first_content.get_or_insert(at);
            }
        }
        if let Some(usage) = payload.usage {
            self.prompt_tokens = usage.prompt_tokens.or(self.prompt_tokens);
            self.completion_tokens = usage.completion_tokens.or(self.completion_tokens);
        }
        self.last_event = Some(at);
        Ok(())
    }

    /// The outcome once the stream ended at `ended`: a failure when it ended
    /// without `[DONE]`.
    pub fn finish(self, ended: Instant) -> Outcome {
        if !self.done {
            return Err(Failure::new(
                ErrorClass::Stream,
                format!(
                    "stream ended without [DONE] after {} token events",
                    self.token_times.len()
                ),
            ));
        }
        let (output_tokens, token_source) = match self.completion_tokens {
            Some(n) => (n, TokenSource::Usage),
            None => (self.text_events, TokenSource::Counted),
        };
        // As `vllm bench serve`: the request ends at its last event with
        // `choices` (a trailing usage-only event does not count).
        let end = self
            .token_times
            .last()
            .copied()
            .or(self.last_event)
            .unwrap_or(ended);
        Ok(Success {
            end,
            first_content: self.first_content,
            token_times: self.token_times,
            input_tokens: self.prompt_tokens.unwrap_or(0),
            output_tokens,
            token_source,
        })
    }
}

/// Interprets a whole non-streamed response body received at `end`.
pub fn parse_response(body: &[u8], end: Instant) -> Outcome {
    let text = String::from_utf8_lossy(body);
    let payload = Payload::parse(&text)?;
    if payload.choices().count == 0 {
        return Err(Failure::new(
            ErrorClass::InvalidPayload,
            format!("response has no choices: {}", excerpt(&text)),
        ));
    }
    let usage = payload.usage.unwrap_or_default();
    let (output_tokens, token_source) = match usage.completion_tokens {
        Some(n) => (n, TokenSource::Usage),
        None => (0, TokenSource::Unknown),
    };
    Ok(Success {
        token_times: Vec::new(),
        first_content: None,
        end,
        input_tokens: usage.prompt_tokens.unwrap_or(0),
        output_tokens,
        token_source,
    })
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

/// An HTTP client for one OpenAI-compatible endpoint.
#[derive(Clone, Debug)]
pub struct OpenAiClient {
    http: reqwest::Client,
    root: String,
    cfg: OpenAiWorkload,
}

impl OpenAiClient {
    /// A client for `base_url` (with or without `/v1`) keeping up to
    /// `connections` idle connections; loads the API key.
    pub fn new(
        base_url: &str,
        cfg: &OpenAiWorkload,
        connections: u32,
    ) -> Result<Self, WorkloadError> {
        let root = api_root(base_url);
        if !(root.starts_with("http://") || root.starts_with("https://")) {
            return Err(WorkloadError::InvalidConfig(format!(
                "baseUrl {base_url:?} must start with http:// or https://"
            )));
        }
        if cfg.max_tokens == 0 {
            return Err(WorkloadError::InvalidConfig(
                "openai.maxTokens must be at least 1".to_string(),
            ));
        }
        if cfg.request_timeout.get().is_zero() {
            return Err(WorkloadError::InvalidConfig(
                "openai.requestTimeout must be longer than 0s".to_string(),
            ));
        }
        let mut headers = HeaderMap::new();
        if let Some(key) = load_api_key(cfg)? {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                WorkloadError::ApiKey("the API key contains invalid characters".to_string())
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        // No proxy, redirect or retry: a benchmark measures the service
        // itself, and every refused or redirected request counts as a
        // failure instead of being hidden behind a second attempt.
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .default_headers(headers)
            .user_agent(concat!("aifbench/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(cfg.request_timeout.get().min(Duration::from_secs(10)))
            .pool_max_idle_per_host(connections as usize)
            .build()
            .map_err(WorkloadError::HttpClient)?;
        Ok(Self {
            http,
            root: root.to_string(),
            cfg: cfg.clone(),
        })
    }

    /// The configured model, or the first one `GET /v1/models` lists.
    pub async fn resolve_model(&self) -> Result<String, WorkloadError> {
        if let Some(model) = &self.cfg.model {
            return Ok(model.clone());
        }
        let url = format!("{}/v1/models", self.root);
        let err = |reason: String| WorkloadError::ModelDiscovery {
            url: url.clone(),
            reason,
        };
        let fetch = async {
            let resp = self.http.get(&url).send().await.map_err(|e| describe(&e))?;
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
        let model = tokio::time::timeout(self.cfg.request_timeout.get(), fetch)
            .await
            .map_err(|_| err("timed out".to_string()))?
            .map_err(err)?;
        tracing::info!(model = %model, "model discovered");
        Ok(model)
    }

    /// The executor sending requests for `model`, one body per dataset entry
    /// (built from `seed`), cycled by request index.
    pub fn executor(&self, model: &str, seed: u64) -> Result<OpenAiExecutor, WorkloadError> {
        if let Some(d) = self
            .cfg
            .dataset
            .as_ref()
            .filter(|d| d.kind == DatasetType::SharedPrefix)
        {
            let grouped = shared_prefix::build(d, self.cfg.api, self.cfg.max_tokens, seed)?;
            let mut ex = self.executor_for(model, &grouped.entries)?;
            ex.groups = Some(Arc::new(Groups {
                of_entry: grouped.groups,
                tracker: Mutex::new(GroupTracker::default()),
            }));
            return Ok(ex);
        }
        let entries = dataset::build(
            self.cfg.dataset.as_ref(),
            &self.cfg.prompt,
            self.cfg.max_tokens,
            seed,
        )?;
        self.executor_for(model, &entries)
    }

    /// The executor sending request `i` with `entries[i]` (cycled by request
    /// index) for `model`: a dataset's entries, or a trace's in arrival order.
    pub fn executor_for(
        &self,
        model: &str,
        entries: &[Entry],
    ) -> Result<OpenAiExecutor, WorkloadError> {
        let path = match self.cfg.api {
            OpenAiApi::Completions => "/v1/completions",
            OpenAiApi::Chat => "/v1/chat/completions",
        };
        let bodies = entries
            .iter()
            .map(|e| serde_json::to_vec(&entry_body(&self.cfg, model, e)).map(Bytes::from))
            .collect::<Result<Vec<_>, _>>()?;
        let url = format!("{}{path}", self.root);
        // Parsed once here rather than on every request.
        let url = reqwest::Url::parse(&url).map_err(|e| {
            WorkloadError::InvalidConfig(format!("baseUrl gives an invalid URL {url:?}: {e}"))
        })?;
        Ok(OpenAiExecutor {
            http: self.http.clone(),
            url,
            bodies: Arc::new(bodies),
            stream: self.cfg.stream,
            timeout: self.cfg.request_timeout.get(),
            groups: None,
            labelled: Arc::new(LabelledLatencies::default()),
        })
    }
}

/// The shared-prefix group of each prepared body, and which groups were sent.
#[derive(Debug)]
struct Groups {
    of_entry: Vec<u32>,
    tracker: Mutex<GroupTracker>,
}

impl Groups {
    /// The label of request `index`, marking its group as sent.
    fn label(&self, index: u64) -> Option<&'static str> {
        let n = self.of_entry.len() as u64;
        let group = *self.of_entry.get(usize::try_from(index % n.max(1)).ok()?)?;
        let mut tracker = self
            .tracker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(if tracker.first_send(group) {
            PREFIX_FIRST
        } else {
            PREFIX_LATER
        })
    }
}

/// Sends one prepared request per call; see the module documentation.
#[derive(Clone, Debug)]
pub struct OpenAiExecutor {
    http: reqwest::Client,
    url: reqwest::Url,
    bodies: Arc<Vec<Bytes>>,
    stream: bool,
    timeout: Duration,
    groups: Option<Arc<Groups>>,
    labelled: Arc<LabelledLatencies>,
}

impl OpenAiExecutor {
    /// The latencies kept apart by label (shared-prefix first or later
    /// request), encoded as result histograms; empty without labels.
    pub fn labelled_histograms(
        &self,
    ) -> Result<std::collections::BTreeMap<String, String>, WorkloadError> {
        self.labelled.encoded()
    }

    async fn send(&self, index: u64) -> Outcome {
        let body = match self.bodies.len() {
            0 => Bytes::new(),
            n => self.bodies[(index % n as u64) as usize].clone(),
        };
        let resp = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::new(classify_transport(&e, false), describe(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(Failure::new(
                ErrorClass::Http(status.as_u16()),
                format!(
                    "HTTP {status}: {}",
                    excerpt(&String::from_utf8_lossy(&body))
                ),
            ));
        }
        if !self.stream {
            let body = resp
                .bytes()
                .await
                .map_err(|e| Failure::new(classify_transport(&e, true), describe(&e)))?;
            return parse_response(&body, Instant::now());
        }
        let mut chunks = resp.bytes_stream();
        let mut parser = SseParser::new();
        let mut acc = StreamAccumulator::new();
        while let Some(chunk) = chunks.next().await {
            let chunk =
                chunk.map_err(|e| Failure::new(classify_transport(&e, true), describe(&e)))?;
            let at = Instant::now();
            parser.feed_with(&chunk, |_, data| acc.on_event(data, at))?;
        }
        let ended = Instant::now();
        if let Some(event) = parser.finish() {
            acc.on_event(&event.data, ended)?;
        }
        acc.finish(ended)
    }
}

impl Executor for OpenAiExecutor {
    async fn execute(&self, ctx: RequestContext) -> Outcome {
        let label = self.groups.as_ref().and_then(|g| g.label(ctx.index));
        let sent = Instant::now();
        let outcome = match tokio::time::timeout(self.timeout, self.send(ctx.index)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::new(
                ErrorClass::Timeout,
                format!("no complete response within {:?}", self.timeout),
            )),
        };
        if let (Some(label), Ok(success), false) = (label, &outcome, ctx.warmup) {
            self.labelled.record(label, sent, success);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn body_for_chat_and_completions() {
        let cfg = OpenAiWorkload {
            temperature: Some(0.5),
            ignore_eos: true,
            ..Default::default()
        };
        let b = request_body(&cfg, "m");
        assert_eq!(b["model"], "m");
        assert_eq!(b["messages"][0]["role"], "user");
        assert_eq!(b["messages"][0]["content"], cfg.prompt);
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["ignore_eos"], true);
        assert_eq!(b["temperature"], 0.5);
        assert_eq!(b["max_tokens"], 64);
        assert!(b.get("prompt").is_none());
        let cfg = OpenAiWorkload {
            api: OpenAiApi::Completions,
            stream: false,
            ..Default::default()
        };
        let b = request_body(&cfg, "m");
        assert_eq!(b["prompt"], cfg.prompt);
        assert_eq!(b["stream"], false);
        assert!(b.get("stream_options").is_none());
        assert!(b.get("ignore_eos").is_none());
        assert!(b.get("temperature").is_none());
    }

    #[test]
    fn api_root_accepts_v1_suffix() {
        assert_eq!(api_root("http://h:8000"), "http://h:8000");
        assert_eq!(api_root("http://h:8000/"), "http://h:8000");
        assert_eq!(api_root("http://h:8000/v1"), "http://h:8000");
        assert_eq!(api_root("http://h:8000/v1/"), "http://h:8000");
    }

    #[test]
    fn stream_with_usage_chunk() {
        let t0 = Instant::now();
        let mut acc = StreamAccumulator::new();
        let events = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}],"usage":null}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}"#,
            "[DONE]",
        ];
        for (i, e) in events.iter().enumerate() {
            acc.on_event(e, t0 + ms(10 * (i as u64 + 1))).unwrap();
        }
        assert!(acc.is_done());
        let s = acc.finish(t0 + ms(100)).unwrap();
        // Events with non-empty choices are token events; the request ends at
        // the last of them, not at the usage-only chunk (as vLLM's bench).
        assert_eq!(s.token_times, vec![t0 + ms(10), t0 + ms(20), t0 + ms(30)]);
        assert_eq!(s.end, t0 + ms(30));
        // The first event's content is empty: first content comes later.
        assert_eq!(s.first_content, Some(t0 + ms(20)));
        assert_eq!(s.output_tokens, 3);
        assert_eq!(s.input_tokens, 9);
        assert_eq!(s.token_source, TokenSource::Usage);
    }

    #[test]
    fn stream_without_usage_counts_text_events() {
        let t0 = Instant::now();
        let mut acc = StreamAccumulator::new();
        for (i, text) in ["a", "b", "c", ""].iter().enumerate() {
            let e = json!({"choices":[{"index":0,"text":text}]}).to_string();
            acc.on_event(&e, t0 + ms(i as u64)).unwrap();
        }
        acc.on_event("[DONE]", t0 + ms(9)).unwrap();
        let s = acc.finish(t0 + ms(10)).unwrap();
        assert_eq!(s.output_tokens, 3);
        assert_eq!(s.token_source, TokenSource::Counted);
        assert_eq!(s.input_tokens, 0);
        assert_eq!(s.token_times.len(), 4);
    }

    #[test]
    fn truncated_stream_is_a_stream_error() {
        let t0 = Instant::now();
        let mut acc = StreamAccumulator::new();
        acc.on_event(r#"{"choices":[{"text":"a"}]}"#, t0).unwrap();
        let f = acc.finish(t0).unwrap_err();
        assert_eq!(f.class, ErrorClass::Stream);
    }

    #[test]
    fn bad_payloads_are_classified() {
        let t0 = Instant::now();
        let f = StreamAccumulator::new()
            .on_event("{not json", t0)
            .unwrap_err();
        assert_eq!(f.class, ErrorClass::InvalidPayload);
        let f = StreamAccumulator::new()
            .on_event(r#"{"error":{"message":"boom","code":500}}"#, t0)
            .unwrap_err();
        assert_eq!(f.class, ErrorClass::Stream);
        assert!(f.message.contains("boom"));
        let f = StreamAccumulator::new()
            .on_event(r#"{"object":"error","message":"overloaded"}"#, t0)
            .unwrap_err();
        assert_eq!(f.class, ErrorClass::Stream);
        let f = parse_response(b"<html>", t0).unwrap_err();
        assert_eq!(f.class, ErrorClass::InvalidPayload);
        let f = parse_response(br#"{"choices":[]}"#, t0).unwrap_err();
        assert_eq!(f.class, ErrorClass::InvalidPayload);
    }

    #[test]
    fn non_streamed_response_uses_usage() {
        let t0 = Instant::now();
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#;
        let s = parse_response(body, t0).unwrap();
        assert_eq!((s.input_tokens, s.output_tokens), (5, 2));
        assert_eq!(s.token_source, TokenSource::Usage);
        assert!(s.token_times.is_empty());
        let s = parse_response(br#"{"choices":[{"text":"hi"}]}"#, t0).unwrap();
        assert_eq!(s.token_source, TokenSource::Unknown);
    }

    #[test]
    fn first_model_from_listing() {
        let body = br#"{"object":"list","data":[{"id":"llama","object":"model"},{"id":"b"}]}"#;
        assert_eq!(first_model(body).unwrap(), "llama");
        assert!(first_model(br#"{"data":[]}"#).is_err());
        assert!(first_model(b"nope").is_err());
    }

    #[test]
    fn api_key_from_env_or_file_never_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-secret\n").unwrap();
        let cfg = OpenAiWorkload {
            api_key_file: Some(path.to_string_lossy().into_owned()),
            ..Default::default()
        };
        assert_eq!(load_api_key(&cfg).unwrap().as_deref(), Some("sk-secret"));
        let cfg = OpenAiWorkload {
            api_key_env: Some("AIFBENCH_TEST_SURELY_UNSET_VAR".to_string()),
            ..Default::default()
        };
        let e = load_api_key(&cfg).unwrap_err().to_string();
        assert!(e.contains("AIFBENCH_TEST_SURELY_UNSET_VAR"), "{e}");
        assert_eq!(load_api_key(&OpenAiWorkload::default()).unwrap(), None);
        let client = OpenAiClient::new(
            "http://127.0.0.1:9",
            &OpenAiWorkload {
                api_key_file: Some(path.to_string_lossy().into_owned()),
                ..Default::default()
            },
            1,
        )
        .unwrap();
        assert!(!format!("{client:?}").contains("sk-secret"));
    }

    #[tokio::test]
    async fn refused_connection_is_classified_connect() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let cfg = OpenAiWorkload {
            model: Some("m".to_string()),
            ..Default::default()
        };
        let client = OpenAiClient::new(&format!("http://127.0.0.1:{port}"), &cfg, 1).unwrap();
        let ex = client.executor("m", 0).unwrap();
        let f = ex.execute(RequestContext::now(0)).await.unwrap_err();
        assert_eq!(f.class, ErrorClass::Connect, "{f:?}");
    }
}
