//! What a client does (`workload:`), how hard it pushes (`load:`) and how it
//! reacts to failures (`errors:`).
//!
//! These types are part of the `Benchmark` custom resource, so they stay
//! structural: plain structs and unit-only string enums, with a doc comment on
//! every field (it becomes the `kubectl explain` text). The trace-replay
//! settings of the OpenAI workload are in `trace`, the shared-prefix
//! dataset's in `shared_prefix`, the multi-turn conversations' in
//! `conversation`, the embeddings workload's in `embeddings`, the RAG
//! pipeline's in `rag` (all re-exported here).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::api::bytesize::ByteSize;
use crate::api::duration::Duration;

mod conversation;
mod embeddings;
mod rag;
mod shared_prefix;
mod trace;
pub use conversation::ConversationSpec;
pub use embeddings::{EmbeddingsWorkload, EncodingFormat};
pub use rag::{
    RagCorpus, RagEmbed, RagLlm, RagObjects, RagQuestions, RagVector, RagWorkload, endpoint,
};
pub use shared_prefix::SharedPrefixSpec;
pub use trace::{TraceFormat, TraceSpec};

/// The workload a client runs against its target service.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadSpec {
    /// Kind of workload: `openai` (alias `vllm-inference`) sends OpenAI-compatible
    /// completion or chat requests; `s3` (alias `s3-upload`) runs object-store
    /// operations; `chroma` adds embeddings to and queries a Chroma vector
    /// database; `embeddings` sends batches of inputs to `/v1/embeddings`;
    /// `rag` runs a retrieval-augmented generation chain (embed, vector
    /// search, S3 fetch, LLM). Default `openai`.
    #[serde(rename = "type")]
    pub kind: WorkloadType,
    /// Settings for `type: openai`; defaults apply when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai: Option<OpenAiWorkload>,
    /// Settings for `type: s3`; defaults apply when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Workload>,
    /// Settings for `type: chroma`; defaults apply when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chroma: Option<ChromaWorkload>,
    /// Settings for `type: embeddings`; defaults apply when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<EmbeddingsWorkload>,
    /// Settings for `type: rag`; its hops' endpoints (`embed`, `vector`,
    /// `objects`) must be given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rag: Option<RagWorkload>,
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
    /// OpenAI-compatible embeddings (`/v1/embeddings`).
    #[serde(rename = "embeddings")]
    Embeddings,
    /// A RAG pipeline: embed, vector search, S3 fetch, LLM, per request.
    #[serde(rename = "rag")]
    Rag,
}

impl WorkloadType {
    /// The canonical name, as written in the spec (`openai`, `s3`, `chroma`,
    /// `embeddings`, `rag`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::S3 => "s3",
            Self::Chroma => "chroma",
            Self::Embeddings => "embeddings",
            Self::Rag => "rag",
        }
    }

    /// Whether this workload honours `load.stopAtSaturation` (skips the
    /// stages past the first saturated one). Validation refuses the field
    /// elsewhere; `workload::registry` checks every runner agrees.
    pub const fn stops_at_saturation(self) -> bool {
        matches!(self, Self::OpenAi)
    }

    /// Whether a client of this workload can calibrate (`calibration`): it
    /// measures TTFT and ITL, which the in-process simulator's known timing
    /// gives the truth of.
    pub const fn calibrates(self) -> bool {
        matches!(self, Self::OpenAi)
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
            "enum": ["openai", "vllm-inference", "s3", "s3-upload", "chroma", "embeddings", "rag"],
            "description": "Kind of workload: openai (alias vllm-inference), s3 (alias s3-upload), chroma, embeddings or rag."
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
    /// Where prompts come from; absent: `prompt` with `maxTokens` for every
    /// request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Dataset>,
    /// Replay a timestamped request trace instead of `dataset` and the load's
    /// `rate`: an open loop sending each request at its arrival time divided
    /// by `speed`, with a prompt of the trace's input length and `max_tokens`
    /// of its output length. `load.concurrency` caps the requests in flight
    /// (default 1024); `load.warmup`, `duration` and `maxRequests` still apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceSpec>,
    /// Multi-turn conversations instead of single prompts (`api: chat`,
    /// closed loop): each worker carries its conversation's history across
    /// turns, with think time between turns; `dataset` may be absent
    /// (synthetic conversations, `dataset.numPrompts` of them) or `sharegpt`
    /// (every human turn).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationSpec>,
    /// Per-request service-level objectives: a request counts towards
    /// goodput when it meets all of those given (as `vllm bench serve
    /// --goodput`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodput: Option<GoodputSlo>,
}

/// Request data: synthetic prompts of chosen lengths, or prompts from a file.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Dataset {
    /// `synthetic` (default), `jsonl` (one `{"prompt": ...}` or
    /// `{"messages": [...]}` object per line, optional `max_tokens`), or
    /// `sharegpt` (a JSON array of `{"conversations": [{"from", "value"}]}`;
    /// the first human turn is the prompt, the reply's length the output
    /// length), or `sharedPrefix` (groups of synthetic prompts sharing a
    /// prefix, see `sharedPrefix`).
    #[serde(rename = "type")]
    pub kind: DatasetType,
    /// File of a `jsonl` or `sharegpt` dataset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Synthetic prompts: length in tokens (approximately: one common English
    /// word per token; exactly with `tokenizer: server`). Default fixed 128.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<LengthDist>,
    /// Output length in tokens, sent as `max_tokens` (overrides the file's
    /// and `maxTokens`). Default: `maxTokens`, or the file's lengths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<LengthDist>,
    /// Number of distinct requests prepared (synthetic) or read at most
    /// (files); requests cycle through them in a seeded random order.
    /// Default 1000.
    #[schemars(range(min = 1))]
    pub num_prompts: u32,
    /// Settings of `type: sharedPrefix`; defaults apply when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_prefix: Option<SharedPrefixSpec>,
    /// How prompt lengths are counted: `words` (default; one common word per
    /// token, no request before the load) or `server` (the served model's
    /// own tokenizer through the server's tokenize endpoint: synthetic
    /// prompts are fitted to exactly `inputTokens`, file prompts counted,
    /// and every answer's `usage.prompt_tokens` is checked against the
    /// count; see docs/metrics.md, "Prompt token counts").
    #[serde(skip_serializing_if = "TokenizerSource::is_words")]
    pub tokenizer: TokenizerSource,
}

/// Where prompt token counts come from (`dataset.tokenizer`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerSource {
    /// One common English word per token (an estimate, no server request).
    #[default]
    Words,
    /// The server's tokenize endpoint (vLLM and llama.cpp `POST /tokenize`,
    /// llama-cpp-python `POST /extras/tokenize`).
    Server,
}

impl TokenizerSource {
    /// True for the default (`words`), which the spec need not spell out.
    pub fn is_words(&self) -> bool {
        *self == Self::Words
    }
}

/// Default number of prepared prompts.
pub const DEFAULT_NUM_PROMPTS: u32 = 1000;

impl Default for Dataset {
    fn default() -> Self {
        Self {
            kind: DatasetType::default(),
            path: None,
            input_tokens: None,
            output_tokens: None,
            num_prompts: DEFAULT_NUM_PROMPTS,
            shared_prefix: None,
            tokenizer: TokenizerSource::Words,
        }
    }
}

/// Kind of request dataset.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DatasetType {
    /// Random words of chosen lengths.
    #[default]
    Synthetic,
    /// One JSON object per line.
    Jsonl,
    /// ShareGPT conversations.
    Sharegpt,
    /// Groups of synthetic prompts sharing a prefix (prefix caching).
    #[serde(rename = "sharedPrefix")]
    SharedPrefix,
}

/// A distribution of lengths in tokens: `{type: fixed, value: 128}`,
/// `{type: uniform, min: 64, max: 256}`, or `{type: normal, mean: 128,
/// std: 32}` (clamped to at least 1).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct LengthDist {
    /// `fixed` (default), `uniform` or `normal`.
    #[serde(rename = "type")]
    pub kind: LengthDistType,
    /// `fixed`: the length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<u32>,
    /// `uniform`: smallest length (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// `uniform`: largest length (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// `normal`: mean length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// `normal`: standard deviation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
}

/// Shape of a length distribution.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LengthDistType {
    /// Always `value`.
    #[default]
    Fixed,
    /// Uniform in `[min, max]`.
    Uniform,
    /// Normal with `mean` and `std`, rounded, at least 1.
    Normal,
}

/// Per-request thresholds for goodput; a request is good when it meets every
/// threshold given.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct GoodputSlo {
    /// Time to first token at most this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft: Option<Duration>,
    /// Time per output token at most this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpot: Option<Duration>,
    /// End-to-end latency at most this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2el: Option<Duration>,
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
            dataset: None,
            trace: None,
            conversation: None,
            goodput: None,
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

/// Settings of the S3 object-store workload.
///
/// Each instance writes under `<keyPrefix>/<instance id>/`, so instances never
/// touch each other's objects. Object contents are derived from the key and
/// `seed`; every GET is checked against the checksum recorded when the object
/// was written, and a mismatch (or a missing object that was acknowledged as
/// written) counts as data loss, never as a success.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct S3Workload {
    /// Bucket to use; it must exist. Default `aifbench`.
    pub bucket: String,
    /// Region sent in request signatures (Garage: `garage`). Default `us-east-1`.
    pub region: String,
    /// Path-style addressing (`http://host/bucket/key`) instead of virtual
    /// hosts (`http://bucket.host/key`). Default true.
    pub path_style: bool,
    /// Environment variable holding the access key id. Default
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id_env: String,
    /// Environment variable holding the secret access key (never logged or
    /// written). Default `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key_env: String,
    /// File of `NAME=value` lines holding `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` (as written by `scripts/setup-garage.sh`); takes
    /// precedence over the environment variables. On Kubernetes, mount a
    /// Secret as this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
    /// Operation mix preset. `warpMixed` is warp's `mixed` benchmark: get 45,
    /// stat 30, put 15, delete 10. Ignored when `operations` is not empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<S3Preset>,
    /// Weighted operations; each request draws one in proportion to its
    /// weight. Default (with no preset): put only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<S3OperationWeight>,
    /// Size of the objects written.
    pub object_size: SizeDistribution,
    /// First part of every key: letters, digits, `/`, `.`, `_`, `-`.
    /// Default `aifbench`.
    pub key_prefix: String,
    /// Number of sub-prefixes the keys of one instance are spread over
    /// (`<keyPrefix>/<instance>/<nnnn>/obj-<n>`). Default 1.
    #[schemars(range(min = 1))]
    pub prefixes: u32,
    /// Objects each instance writes before the run so reads have something to
    /// read. Default: 64 when the mix reads, stats or deletes, else 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prepopulate: Option<u32>,
    /// Part size of `multipartPut` (at least 5MiB for most servers). Default 5MiB.
    pub part_size: ByteSize,
    /// `list` requests ask for at most this many keys. Default 100.
    #[schemars(range(min = 1))]
    pub list_max_keys: u32,
    /// Seed of object contents, sizes and the operation draw; the load seed
    /// (or a random one) when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Time limit of one operation, from send to last byte. Default 60s.
    pub request_timeout: Duration,
}

impl Default for S3Workload {
    fn default() -> Self {
        Self {
            bucket: "aifbench".to_string(),
            region: "us-east-1".to_string(),
            path_style: true,
            access_key_id_env: "AWS_ACCESS_KEY_ID".to_string(),
            secret_access_key_env: "AWS_SECRET_ACCESS_KEY".to_string(),
            credentials_file: None,
            preset: None,
            operations: Vec::new(),
            object_size: SizeDistribution::default(),
            key_prefix: "aifbench".to_string(),
            prefixes: 1,
            prepopulate: None,
            part_size: ByteSize::mib(5),
            list_max_keys: 100,
            seed: None,
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl S3Workload {
    /// The weighted operations in effect: `operations`, else the preset, else
    /// put only.
    pub fn effective_operations(&self) -> Vec<S3OperationWeight> {
        if !self.operations.is_empty() {
            return self.operations.clone();
        }
        let w = |op, weight| S3OperationWeight { op, weight };
        match self.preset {
            Some(S3Preset::WarpMixed) => vec![
                w(S3Operation::Get, 45),
                w(S3Operation::Stat, 30),
                w(S3Operation::Put, 15),
                w(S3Operation::Delete, 10),
            ],
            None => vec![w(S3Operation::Put, 1)],
        }
    }
}

/// A named operation mix.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum S3Preset {
    /// warp `mixed`: get 45%, stat 30%, put 15%, delete 10%.
    WarpMixed,
}

/// One S3 operation and its weight in the mix.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct S3OperationWeight {
    /// The operation.
    pub op: S3Operation,
    /// Relative weight (0 disables it).
    pub weight: u32,
}

/// An S3 operation.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "camelCase")]
pub enum S3Operation {
    /// `PutObject` of a new object.
    Put,
    /// `GetObject` of an existing object, verified against its checksum.
    Get,
    /// `HeadObject` of an existing object, size verified.
    Stat,
    /// `ListObjectsV2` under the instance's prefix.
    List,
    /// `DeleteObject` of an existing object.
    Delete,
    /// Multipart upload (create, parts of `partSize`, complete) of a new object.
    MultipartPut,
}

impl S3Operation {
    /// The name used in results (`put`, `get`, `stat`, `list`, `delete`,
    /// `multipartPut`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Get => "get",
            Self::Stat => "stat",
            Self::List => "list",
            Self::Delete => "delete",
            Self::MultipartPut => "multipartPut",
        }
    }
}

/// How object sizes are drawn.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SizeDistribution {
    /// `fixed` (every object `size`), `uniform` (between `min` and `max`) or
    /// `logUniform` (log of the size uniform between `min` and `max`, so small
    /// and large objects are equally represented per decade). Default `fixed`.
    pub distribution: SizeDistributionKind,
    /// Size of every object (`fixed`). Default 64KiB.
    pub size: ByteSize,
    /// Smallest object (`uniform`, `logUniform`). Default 1KiB.
    pub min: ByteSize,
    /// Largest object (`uniform`, `logUniform`). Default 1MiB.
    pub max: ByteSize,
}

impl Default for SizeDistribution {
    fn default() -> Self {
        Self {
            distribution: SizeDistributionKind::Fixed,
            size: ByteSize::kib(64),
            min: ByteSize::kib(1),
            max: ByteSize::mib(1),
        }
    }
}

/// Kind of size distribution.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum SizeDistributionKind {
    /// Every object has `size` bytes.
    #[default]
    Fixed,
    /// Uniform between `min` and `max`.
    Uniform,
    /// Log-uniform between `min` and `max`.
    LogUniform,
}

/// Settings of the Chroma vector-database workload (HTTP API v2).
///
/// Before the run each instance (re)creates its collection
/// `<collection>-<instance id>` and adds `count` random vectors of
/// `dimension` in batches; the run then sends top-k queries. Recall@k is
/// measured on a sample of the queries against exact (brute-force) search
/// over the same vectors, so speed is never reported without quality.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ChromaWorkload {
    /// Collection name prefix (the instance id is appended). Default `aifbench`.
    pub collection: String,
    /// Tenant. Default `default_tenant`.
    pub tenant: String,
    /// Database. Default `default_database`.
    pub database: String,
    /// Vector dimension. Default 128.
    #[schemars(range(min = 1))]
    pub dimension: u32,
    /// Vectors added before the run. Default 10000.
    #[schemars(range(min = 1))]
    pub count: u32,
    /// Vectors per `add` request. Default 500.
    #[schemars(range(min = 1))]
    pub batch_size: u32,
    /// Seed of the vectors and queries. Default 42.
    pub seed: u64,
    /// Results per query (k). Default 10.
    #[schemars(range(min = 1))]
    pub top_k: u32,
    /// Every vector carries metadata `group` = its index modulo `groups`.
    /// Default 10.
    #[schemars(range(min = 1))]
    pub groups: u32,
    /// Filter each query on one random `group` (`where: {group: g}`); recall
    /// is then measured against exact search within that group. Default false.
    pub filter: bool,
    /// Queries whose recall is measured (the first ones after the warm-up).
    /// Default 100.
    pub recall_sample: u32,
    /// Time limit of one request. Default 30s.
    pub request_timeout: Duration,
}

impl Default for ChromaWorkload {
    fn default() -> Self {
        Self {
            collection: "aifbench".to_string(),
            tenant: "default_tenant".to_string(),
            database: "default_database".to_string(),
            dimension: 128,
            count: 10_000,
            batch_size: 500,
            seed: 42,
            top_k: 10,
            groups: 10,
            filter: false,
            recall_sample: 100,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// How hard a client pushes: closed loop (fixed concurrency) or open loop
/// (fixed request rate). Shared by all workloads.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadSpec {
    /// Closed loop: number of concurrent workers per instance, each sending its
    /// next request when the previous one finished. Open loop (`rate` set): the
    /// cap on requests in flight. Default 1 in closed loop, 1024 in open loop.
    /// At most 100000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = crate::api::limits::MAX_CONCURRENCY))]
    pub concurrency: Option<u32>,
    /// Open loop: requests per second per instance, sent on schedule whether or
    /// not earlier requests finished; latencies count from the scheduled time.
    /// Above 0, at most 1000000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = crate::api::limits::MAX_RATE))]
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
    /// Stop after this many measured requests (after the warm-up); at most
    /// 1000000000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = crate::api::limits::MAX_REQUESTS))]
    pub max_requests: Option<u64>,
    /// Seed of the random arrival times and of synthetic request data;
    /// random when absent (the seed used is written into the result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Open loop with `arrival: gamma`: the shape of the gamma distribution
    /// of gaps (as `vllm bench serve --burstiness`). 1 is a Poisson process,
    /// below 1 is burstier, above 1 more regular. Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burstiness: Option<f64>,
    /// Ramp-up time: closed loop starts its workers evenly spread over this
    /// time; open loop raises the rate linearly from 0 to `rate`. Requests
    /// sent during the ramp-up are measured unless the warm-up covers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_up: Option<Duration>,
    /// Stages run one after another, each overriding `concurrency`, `rate`,
    /// `duration` and `maxRequests` (a sweep). Each stage has its own warm-up
    /// and its own result; the summary keeps one entry per stage. At most 100
    /// stages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = crate::api::limits::MAX_STAGES))]
    pub stages: Vec<StageSpec>,
    /// With stages of rising load: skip the remaining stages once one no
    /// longer pays — its throughput rose by less than 10% while its median
    /// latency rose by 10% or more (see docs/metrics.md, "Sweeps"). The
    /// summary says where the sweep saturated either way.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stop_at_saturation: bool,
}

/// One stage of a sweep: what changes from the client's `load`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct StageSpec {
    /// Closed loop workers (or open-loop in-flight cap) in this stage; at
    /// most 100000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = crate::api::limits::MAX_CONCURRENCY))]
    pub concurrency: Option<u32>,
    /// Open-loop request rate in this stage (requests per second); above 0,
    /// at most 1000000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = crate::api::limits::MAX_RATE))]
    pub rate: Option<f64>,
    /// Measurement time of this stage (after its warm-up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// Measured requests of this stage at most (1 to 1000000000).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = crate::api::limits::MAX_REQUESTS))]
    pub max_requests: Option<u64>,
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
    /// Gamma-distributed gaps with mean 1/rate and shape `burstiness`.
    Gamma,
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
            ("rag", WorkloadType::Rag),
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
