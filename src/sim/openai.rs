//! The OpenAI wire format as the simulator speaks it: parsing request
//! bodies into a [`Job`] and building response bodies and stream chunks.
//! Pure functions over bytes and JSON; no I/O.
//!
//! Token counting is an approximation: a prompt costs one token per
//! whitespace-separated word (for chat, summed over the text of all
//! messages, with no chat-template overhead); a prompt given as token ids
//! costs one token per id. Every generated token is the text [`TOKEN_TEXT`],
//! one word, so clients can count generated tokens by counting words.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

/// The text of every generated token.
pub(crate) const TOKEN_TEXT: &str = " tok";

/// The last event of every stream.
pub(crate) const DONE_EVENT: &str = "data: [DONE]\n\n";

/// Which endpoint a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `POST /v1/completions`.
    Completion,
    /// `POST /v1/chat/completions`.
    Chat,
}

/// A request the server cannot serve, with the HTTP status it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// 400: malformed or invalid body.
    BadRequest(String),
    /// 404: unknown model or route.
    NotFound(String),
}

impl ApiError {
    /// The HTTP status code.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::NotFound(_) => 404,
        }
    }

    /// The OpenAI-style error body, with vLLM's error type names.
    pub(crate) fn body(&self) -> Value {
        let (message, kind) = match self {
            Self::BadRequest(m) => (m, "BadRequestError"),
            Self::NotFound(m) => (m, "NotFoundError"),
        };
        json!({"error": {"message": message, "type": kind, "param": null, "code": self.status()}})
    }
}

/// What one request asks the simulator to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    /// The endpoint.
    pub kind: Kind,
    /// Prompt tokens of each choice (one per prompt; chat has one).
    pub prompt_tokens: Vec<u64>,
    /// Tokens to generate per choice (at least 1).
    pub max_tokens: u32,
    /// Whether to answer with Server-Sent Events.
    pub stream: bool,
    /// Whether a stream ends with a usage chunk.
    pub include_usage: bool,
}

impl Job {
    /// Prompt tokens over all choices.
    pub(crate) fn total_prompt_tokens(&self) -> u64 {
        self.prompt_tokens.iter().sum()
    }

    /// Number of choices generated in parallel.
    pub(crate) fn choices(&self) -> u64 {
        self.prompt_tokens.len() as u64
    }

    /// Token usage once generation is complete.
    pub(crate) fn usage(&self) -> Value {
        let prompt = self.total_prompt_tokens();
        let completion = u64::from(self.max_tokens) * self.choices();
        json!({
            "prompt_tokens": prompt,
            "total_tokens": prompt + completion,
            "completion_tokens": completion,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Prompt {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u64>),
    TokenBatches(Vec<Vec<u64>>),
}

#[derive(Debug, Deserialize)]
struct CompletionRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    prompt: Option<Prompt>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    messages: Option<Vec<Message>>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

/// Number of whitespace-separated words: the simulator's token count.
pub(crate) fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Words in a chat message's content: a string, or an array of parts whose
/// `text` fields are counted; anything else counts as nothing.
fn content_words(content: &Value) -> u64 {
    match content {
        Value::String(s) => count_words(s),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(count_words)
            .sum(),
        _ => 0,
    }
}

fn check_model(requested: Option<&str>, served: &str) -> Result<(), ApiError> {
    match requested {
        Some(m) if m != served => Err(ApiError::NotFound(format!(
            "The model `{m}` does not exist."
        ))),
        _ => Ok(()),
    }
}

fn output_tokens(requested: Option<u32>, default: u32) -> Result<u32, ApiError> {
    match requested {
        Some(0) => Err(ApiError::BadRequest(
            "max_tokens must be at least 1, got 0.".to_owned(),
        )),
        Some(n) => Ok(n),
        None => Ok(default.max(1)),
    }
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))
}

/// Parses a `/v1/completions` body for a server of `model` whose default
/// output length is `default_tokens`.
pub(crate) fn parse_completion(
    body: &[u8],
    model: &str,
    default_tokens: u32,
) -> Result<Job, ApiError> {
    let req: CompletionRequest = parse_json(body)?;
    check_model(req.model.as_deref(), model)?;
    let prompt_tokens = match req.prompt {
        None => {
            return Err(ApiError::BadRequest(
                "Field `prompt` is required.".to_owned(),
            ));
        }
        Some(Prompt::Text(s)) => vec![count_words(&s)],
        Some(Prompt::Texts(v)) => v.iter().map(|s| count_words(s)).collect(),
        Some(Prompt::Tokens(ids)) => vec![ids.len() as u64],
        Some(Prompt::TokenBatches(v)) => v.iter().map(|ids| ids.len() as u64).collect(),
    };
    if prompt_tokens.is_empty() {
        return Err(ApiError::BadRequest(
            "Field `prompt` must not be empty.".to_owned(),
        ));
    }
    Ok(Job {
        kind: Kind::Completion,
        prompt_tokens,
        max_tokens: output_tokens(req.max_tokens, default_tokens)?,
        stream: req.stream.unwrap_or(false),
        include_usage: req
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
    })
}

/// Parses a `/v1/chat/completions` body (`max_completion_tokens` wins over `max_tokens`).
pub(crate) fn parse_chat(body: &[u8], model: &str, default_tokens: u32) -> Result<Job, ApiError> {
    let req: ChatRequest = parse_json(body)?;
    check_model(req.model.as_deref(), model)?;
    let messages = match req.messages {
        None => {
            return Err(ApiError::BadRequest(
                "Field `messages` is required.".to_owned(),
            ));
        }
        Some(m) if m.is_empty() => {
            return Err(ApiError::BadRequest(
                "Field `messages` must not be empty.".to_owned(),
            ));
        }
        Some(m) => m,
    };
    let words = messages
        .iter()
        .filter_map(|m| m.content.as_ref())
        .map(content_words)
        .sum();
    Ok(Job {
        kind: Kind::Chat,
        prompt_tokens: vec![words],
        max_tokens: output_tokens(req.max_completion_tokens.or(req.max_tokens), default_tokens)?,
        stream: req.stream.unwrap_or(false),
        include_usage: req
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
    })
}

/// Identity of one response, shared by all its chunks.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    /// `cmpl-…` or `chatcmpl-…`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// Served model name.
    pub model: String,
}

impl Meta {
    /// An id for request number `seq` of `kind`.
    pub(crate) fn new(kind: Kind, seq: u64, created: u64, model: &str) -> Self {
        let prefix = match kind {
            Kind::Completion => "cmpl",
            Kind::Chat => "chatcmpl",
        };
        Self {
            id: format!("{prefix}-sim{seq:016x}"),
            created,
            model: model.to_owned(),
        }
    }
}

/// The complete (non-streaming) response body.
pub(crate) fn full_response(meta: &Meta, job: &Job) -> Value {
    let text = TOKEN_TEXT.repeat(job.max_tokens as usize);
    let choices: Vec<Value> = match job.kind {
        Kind::Completion => (0..job.prompt_tokens.len())
            .map(|i| {
                json!({
                    "index": i,
                    "text": text,
                    "logprobs": null,
                    "finish_reason": "length",
                    "stop_reason": null,
                })
            })
            .collect(),
        Kind::Chat => vec![json!({
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": null,
            "finish_reason": "length",
            "stop_reason": null,
        })],
    };
    json!({
        "id": meta.id,
        "object": object_name(job.kind, false),
        "created": meta.created,
        "model": meta.model,
        "choices": choices,
        "usage": job.usage(),
    })
}

fn object_name(kind: Kind, chunk: bool) -> &'static str {
    match (kind, chunk) {
        (Kind::Completion, _) => "text_completion",
        (Kind::Chat, false) => "chat.completion",
        (Kind::Chat, true) => "chat.completion.chunk",
    }
}

/// The stream chunk carrying token `token` (0-based) of choice `choice`.
/// The first chat chunk also carries the role; the last carries the finish reason.
pub(crate) fn token_chunk(meta: &Meta, job: &Job, choice: usize, token: u32) -> Value {
    let finish = if token + 1 >= job.max_tokens {
        json!("length")
    } else {
        Value::Null
    };
    let choice = match job.kind {
        Kind::Completion => json!({
            "index": choice,
            "text": TOKEN_TEXT,
            "logprobs": null,
            "finish_reason": finish,
            "stop_reason": null,
        }),
        Kind::Chat => {
            let delta = if token == 0 {
                json!({"role": "assistant", "content": TOKEN_TEXT})
            } else {
                json!({"content": TOKEN_TEXT})
            };
            json!({
                "index": choice,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish,
                "stop_reason": null,
            })
        }
    };
    json!({
        "id": meta.id,
        "object": object_name(job.kind, true),
        "created": meta.created,
        "model": meta.model,
        "choices": [choice],
    })
}

/// The final usage chunk (`choices` empty), sent when `include_usage` is set.
pub(crate) fn usage_chunk(meta: &Meta, job: &Job) -> Value {
    json!({
        "id": meta.id,
        "object": object_name(job.kind, true),
        "created": meta.created,
        "model": meta.model,
        "choices": [],
        "usage": job.usage(),
    })
}

/// One Server-Sent Event: `data: <json>\n\n`.
pub(crate) fn sse_event(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_defaults_and_prompt_forms() {
        let job = parse_completion(br#"{"prompt": "a b  c\nd"}"#, "m", 5).unwrap();
        assert_eq!(job.prompt_tokens, vec![4]);
        assert_eq!(job.max_tokens, 5);
        assert!(!job.stream && !job.include_usage);

        let job = parse_completion(br#"{"model":"m","prompt":["a b","c"],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true}}"#, "m", 5).unwrap();
        assert_eq!(job.prompt_tokens, vec![2, 1]);
        assert_eq!(job.max_tokens, 3);
        assert!(job.stream && job.include_usage);
        assert_eq!(
            job.usage(),
            json!({"prompt_tokens":3,"total_tokens":9,"completion_tokens":6})
        );

        let job = parse_completion(br#"{"prompt":[1,2,3]}"#, "m", 5).unwrap();
        assert_eq!(job.prompt_tokens, vec![3]);
        let job = parse_completion(br#"{"prompt":[[1,2],[3]]}"#, "m", 5).unwrap();
        assert_eq!(job.prompt_tokens, vec![2, 1]);
        // A zero default still generates one token.
        assert_eq!(
            parse_completion(br#"{"prompt":"x"}"#, "m", 0)
                .unwrap()
                .max_tokens,
            1
        );
    }

    #[test]
    fn bad_requests() {
        let e = parse_completion(b"{not json", "m", 1).unwrap_err();
        assert!(matches!(e, ApiError::BadRequest(_)));
        let e = parse_completion(br#"{"max_tokens":2}"#, "m", 1).unwrap_err();
        assert_eq!(
            e,
            ApiError::BadRequest("Field `prompt` is required.".to_owned())
        );
        let e = parse_completion(br#"{"prompt":[]}"#, "m", 1).unwrap_err();
        assert!(matches!(e, ApiError::BadRequest(_)));
        let e = parse_completion(br#"{"prompt":"x","max_tokens":0}"#, "m", 1).unwrap_err();
        assert_eq!(e.status(), 400);
        let e = parse_chat(br#"{"model":"m"}"#, "m", 1).unwrap_err();
        assert_eq!(e.status(), 400);
        let e = parse_chat(
            br#"{"model":"other","messages":[{"role":"user","content":"x"}]}"#,
            "m",
            1,
        )
        .unwrap_err();
        assert_eq!(e.status(), 404);
        let body = e.body();
        assert_eq!(body["error"]["code"], 404);
        assert_eq!(body["error"]["type"], "NotFoundError");
        assert!(body["error"]["message"].as_str().unwrap().contains("other"));
    }

    #[test]
    fn chat_counts_words_in_all_messages() {
        let body = br#"{"model":"m","max_tokens":2,"max_completion_tokens":4,"messages":[
            {"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"one two three"},{"type":"image_url","image_url":{"url":"x"}}]},
            {"role":"assistant","content":null}]}"#;
        let job = parse_chat(body, "m", 9).unwrap();
        assert_eq!(job.kind, Kind::Chat);
        assert_eq!(job.prompt_tokens, vec![5]);
        assert_eq!(job.max_tokens, 4);
    }

    #[test]
    fn response_shapes() {
        let job = parse_chat(
            br#"{"messages":[{"role":"user","content":"hi there"}],"max_tokens":3}"#,
            "m",
            1,
        )
        .unwrap();
        let meta = Meta::new(job.kind, 1, 1_700_000_000, "m");
        let full = full_response(&meta, &job);
        assert_eq!(full["object"], "chat.completion");
        assert_eq!(full["choices"][0]["message"]["content"], " tok tok tok");
        assert_eq!(full["choices"][0]["finish_reason"], "length");
        assert_eq!(full["usage"]["total_tokens"], 5);
        assert!(full["id"].as_str().unwrap().starts_with("chatcmpl-"));

        let first = token_chunk(&meta, &job, 0, 0);
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(first["choices"][0]["delta"]["content"], TOKEN_TEXT);
        assert!(first["choices"][0]["finish_reason"].is_null());
        let last = token_chunk(&meta, &job, 0, 2);
        assert!(last["choices"][0]["delta"].get("role").is_none());
        assert_eq!(last["choices"][0]["finish_reason"], "length");
        let usage = usage_chunk(&meta, &job);
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 3);

        let job = parse_completion(br#"{"prompt":"x","max_tokens":2}"#, "m", 1).unwrap();
        let meta = Meta::new(job.kind, 2, 0, "m");
        let chunk = token_chunk(&meta, &job, 0, 0);
        assert_eq!(chunk["object"], "text_completion");
        assert_eq!(chunk["choices"][0]["text"], TOKEN_TEXT);
        let event = sse_event(&chunk);
        assert!(event.starts_with(b"data: {"));
        assert!(event.ends_with(b"}\n\n"));
        assert_eq!(full_response(&meta, &job)["choices"][0]["text"], " tok tok");
    }
}
