//! What a client does (`workload:`), how hard it pushes (`load:`) and how it
//! reacts to failures (`errors:`).
//!
//! These types are part of the `Benchmark` custom resource, so they stay
//! structural: plain structs and unit-only string enums, with a doc comment on
//! every field (it becomes the `kubectl explain` text).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::api::duration::Duration;

/// The workload a client runs against its target service.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadSpec {
    /// Kind of workload: `openai` (alias `vllm-inference`) sends OpenAI-compatible
    /// completion or chat requests; `s3` (alias `s3-upload`) and `chroma` are
    /// reserved for object-store and vector-database workloads. Default `openai`.
    #[serde(rename = "type")]
    pub kind: WorkloadType,
    /// Settings for `type: openai`; defaults apply when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai: Option<OpenAiWorkload>,
}

/// Kind of workload a client runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum WorkloadType {
    /// OpenAI-compatible inference API (`/v1/completions`, `/v1/chat/completions`).
    #[default]
    #[serde(rename = "openai", alias = "vllm-inference")]
    OpenAi,
    /// S3 object uploads and downloads.
    #[serde(rename = "s3", alias = "s3-upload")]
    S3,
    /// Chroma vector-database queries.
    #[serde(rename = "chroma")]
    Chroma,
}

impl WorkloadType {
    /// The canonical name, as written in the spec (`openai`, `s3`, `chroma`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::S3 => "s3",
            Self::Chroma => "chroma",
        }
    }
}

impl fmt::Display for WorkloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl JsonSchema for WorkloadType {
    fn schema_name() -> Cow<'static, str> {
        "WorkloadType".into()
    }

    fn inline_schema() -> bool {
        true
    }

    /// Lists the aliases too, so the API server accepts every name serde does.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "enum": ["openai", "vllm-inference", "s3", "s3-upload", "chroma"],
            "description": "Kind of workload: openai (alias vllm-inference), s3 (alias s3-upload) or chroma."
        })
    }
}

/// Settings of the OpenAI-compatible inference workload.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct OpenAiWorkload {
    /// Which endpoint to call: `chat` (`/v1/chat/completions`, default) or
    /// `completions` (`/v1/completions`).
    pub api: OpenAiApi,
    /// Model name sent with each request. Default: the first model listed by
    /// `GET /v1/models`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Stream the response as server-sent events (needed for time to first
    /// token and inter-token latency). Default true.
    pub stream: bool,
    /// Maximum number of tokens to generate per request. Default 64.
    #[schemars(range(min = 1))]
    pub max_tokens: u32,
    /// Ask the server to keep generating past end-of-sequence so every request
    /// produces `maxTokens` tokens (vLLM extension `ignore_eos`). Default false.
    pub ignore_eos: bool,
    /// Sampling temperature; the server's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Prompt text (the user message for `chat`). Default: a fixed short
    /// English prompt.
    pub prompt: String,
    /// Name of an environment variable holding the API key, sent as
    /// `Authorization: Bearer`. The key is never logged or written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Path of a file holding the API key (surrounding whitespace is ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<String>,
    /// Time limit of one request, from send to last byte. Default 60s.
    pub request_timeout: Duration,
}

/// The default prompt: short, English, and open-ended enough to generate
/// `maxTokens` tokens.
pub const DEFAULT_PROMPT: &str =
    "Write a short story about a lighthouse keeper who discovers a message in a bottle.";

impl Default for OpenAiWorkload {
    fn default() -> Self {
        Self {
            api: OpenAiApi::default(),
            model: None,
            stream: true,
            max_tokens: 64,
            ignore_eos: false,
            temperature: None,
            prompt: DEFAULT_PROMPT.to_string(),
            api_key_env: None,
            api_key_file: None,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Endpoint of the OpenAI-compatible API.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OpenAiApi {
    /// `POST /v1/completions` with a `prompt`.
    Completions,
    /// `POST /v1/chat/completions` with one user message.
    #[default]
    Chat,
}

/// How hard a client pushes: closed loop (fixed concurrency) or open loop
/// (fixed request rate). Shared by all workloads.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadSpec {
    /// Closed loop: number of concurrent workers per instance, each sending its
    /// next request when the previous one finished. Open loop (`rate` set): the
    /// cap on requests in flight. Default 1 in closed loop, 1024 in open loop.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub concurrency: Option<u32>,
    /// Open loop: requests per second per instance, sent on schedule whether or
    /// not earlier requests finished; latencies count from the scheduled time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Open loop only: spacing of requests, `constant` (every 1/rate seconds)
    /// or `poisson` (exponential gaps, default).
    pub arrival: Arrival,
    /// Warm-up time: requests scheduled in this window run but are not recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Duration>,
    /// Measurement time after the warm-up. Absent: until `maxRequests` or until
    /// stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// Stop after this many measured requests (after the warm-up).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_requests: Option<u64>,
    /// Seed of the random arrival times; random when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// Default cap on requests in flight in open loop when `concurrency` is not set.
pub const OPEN_LOOP_DEFAULT_CONCURRENCY: u32 = 1024;

impl LoadSpec {
    /// The concurrency in effect: `concurrency` if set, else 1 in closed loop
    /// and [`OPEN_LOOP_DEFAULT_CONCURRENCY`] in open loop.
    pub fn effective_concurrency(&self) -> u32 {
        match (self.concurrency, self.rate) {
            (Some(c), _) => c,
            (None, Some(_)) => OPEN_LOOP_DEFAULT_CONCURRENCY,
            (None, None) => 1,
        }
    }
}

/// Spacing of open-loop requests.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// One request every 1/rate seconds.
    Constant,
    /// Poisson process: exponentially distributed gaps with mean 1/rate.
    #[default]
    Poisson,
}

/// How a client reacts to failed requests.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorPolicy {
    /// Pause after a failed request, per worker (open loop: the failed request
    /// keeps its in-flight slot for this long). Default 0s.
    pub backoff: Duration,
    /// Abort the instance after this many consecutive failed requests; 0 never
    /// aborts. Default 10.
    pub max_consecutive: u32,
}

impl Default for ErrorPolicy {
    fn default() -> Self {
        Self {
            backoff: Duration::default(),
            max_consecutive: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_fields() {
        let w: WorkloadSpec = serde_norway::from_str("type: vllm-inference\n").unwrap();
        assert_eq!(w.kind, WorkloadType::OpenAi);
        assert_eq!(w.openai, None);
        let o: OpenAiWorkload = serde_norway::from_str("api: completions\n").unwrap();
        assert_eq!(o.api, OpenAiApi::Completions);
        assert!(o.stream);
        assert_eq!(o.max_tokens, 64);
        assert_eq!(o.request_timeout.get(), std::time::Duration::from_secs(60));
        let e: ErrorPolicy = serde_norway::from_str("{}").unwrap();
        assert_eq!(e.max_consecutive, 10);
        let l: LoadSpec = serde_norway::from_str("rate: 5\nduration: 30s\n").unwrap();
        assert_eq!(l.arrival, Arrival::Poisson);
        assert_eq!(l.effective_concurrency(), OPEN_LOOP_DEFAULT_CONCURRENCY);
        assert_eq!(LoadSpec::default().effective_concurrency(), 1);
    }

    #[test]
    fn aliases_parse_and_canonical_names_serialize() {
        for (text, kind) in [
            ("openai", WorkloadType::OpenAi),
            ("vllm-inference", WorkloadType::OpenAi),
            ("s3", WorkloadType::S3),
            ("s3-upload", WorkloadType::S3),
            ("chroma", WorkloadType::Chroma),
        ] {
            let parsed: WorkloadType = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(parsed, kind);
            assert_eq!(
                serde_json::to_value(parsed).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert!(serde_json::from_value::<WorkloadType>(serde_json::json!("redis")).is_err());
    }

    #[test]
    fn schema_lists_aliases_and_constraints() {
        let schema = serde_json::to_value(schemars::schema_for!(WorkloadSpec)).unwrap();
        let text = schema.to_string();
        assert!(text.contains("vllm-inference"), "{text}");
        assert!(text.contains("s3-upload"), "{text}");
        let o = serde_json::to_value(schemars::schema_for!(OpenAiWorkload)).unwrap();
        assert_eq!(o["properties"]["maxTokens"]["minimum"], 1);
        assert!(o["properties"]["maxTokens"]["description"].is_string());
    }
}
