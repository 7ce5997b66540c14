//! `workload.rag`: settings of the RAG pipeline workload, whose every
//! request is a chain of four hops against four services — embed the
//! question (`/v1/embeddings`), query a Chroma collection with the vector
//! (top-k), fetch the k documents from S3, and ask the LLM with them in the
//! prompt (streamed). The type of the custom resource and
//! [`RagWorkload::problems`], the pure check of the settings (every problem
//! with the field it names).
//!
//! The LLM is the client's own `target` (or `endpoint`); each other hop
//! names its service's base URL with `url`, or with `urlEnv`, the name of an
//! environment variable of the client — set in the client's `env` to a
//! template such as `{{services.chroma.url}}`, which every driver fills in
//! at launch.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LengthDist, LengthDistType, OpenAiApi, S3Workload};
use crate::api::duration::Duration;

/// Settings of the RAG pipeline workload. Before the load each instance
/// seeds the corpus: puts its documents into the bucket, embeds them through
/// the `embed` service and adds them to its collection with their S3 keys as
/// ids.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RagWorkload {
    /// Hop 1: the OpenAI-compatible embeddings service.
    pub embed: RagEmbed,
    /// Hop 2: the Chroma vector database.
    pub vector: RagVector,
    /// Hop 3: the S3 object store holding the documents.
    pub objects: RagObjects,
    /// Hop 4: the LLM (the client's `target`), asked with the documents in
    /// the prompt.
    pub llm: RagLlm,
    /// The documents seeded before the load.
    pub corpus: RagCorpus,
    /// Where the questions come from; absent: synthetic questions, each
    /// made of words of one seeded document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub questions: Option<RagQuestions>,
    /// Documents retrieved per question (k of the vector query, then
    /// fetched and put into the prompt). Default 3.
    #[schemars(range(min = 1, max = 100))]
    pub top_k: u32,
}

impl Default for RagWorkload {
    fn default() -> Self {
        Self {
            embed: RagEmbed::default(),
            vector: RagVector::default(),
            objects: RagObjects::default(),
            llm: RagLlm::default(),
            corpus: RagCorpus::default(),
            questions: None,
            top_k: DEFAULT_TOP_K,
        }
    }
}

/// Hop 1: `POST /v1/embeddings`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RagEmbed {
    /// Base URL of the embeddings service (`http://host:port`, with or
    /// without `/v1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Name of an environment variable of the client holding the base URL
    /// (e.g. set in `env` to `{{services.embed.url}}`); instead of `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// Model name sent with each request. Default: the first model listed
    /// by `GET /v1/models`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Texts per `/v1/embeddings` request while seeding the corpus.
    /// Default 8.
    #[schemars(range(min = 1, max = 10000))]
    pub batch_size: u32,
    /// Time limit of one request. Default 60s.
    pub request_timeout: Duration,
}

impl Default for RagEmbed {
    fn default() -> Self {
        Self {
            url: None,
            url_env: None,
            model: None,
            batch_size: 8,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Hop 2: a Chroma collection (HTTP API v2).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RagVector {
    /// Base URL of the Chroma server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Name of an environment variable of the client holding the base URL;
    /// instead of `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// Collection name prefix (the instance id is appended); the collection
    /// is recreated before the load. Default `aifbench-rag`.
    pub collection: String,
    /// Tenant. Default `default_tenant`.
    pub tenant: String,
    /// Database. Default `default_database`.
    pub database: String,
    /// Time limit of one request. Default 30s.
    pub request_timeout: Duration,
}

impl Default for RagVector {
    fn default() -> Self {
        Self {
            url: None,
            url_env: None,
            collection: "aifbench-rag".to_string(),
            tenant: "default_tenant".to_string(),
            database: "default_database".to_string(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Hop 3: the bucket holding the documents.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RagObjects {
    /// S3 endpoint URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Name of an environment variable of the client holding the endpoint
    /// URL; instead of `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// Bucket; it must exist. Default `aifbench`.
    pub bucket: String,
    /// Documents are stored as `<keyPrefix>/<instance id>/doc-<n>.txt`.
    /// Default `aifbench-rag`.
    pub key_prefix: String,
    /// Region sent in request signatures (Garage: `garage`). Default
    /// `us-east-1`.
    pub region: String,
    /// Path-style addressing. Default true.
    pub path_style: bool,
    /// Environment variable holding the access key id. Default
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id_env: String,
    /// Environment variable holding the secret access key (never logged or
    /// written). Default `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key_env: String,
    /// File of `NAME=value` lines holding `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`; takes precedence over the variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
    /// Time limit of one GET. Default 30s.
    pub request_timeout: Duration,
}

impl Default for RagObjects {
    fn default() -> Self {
        let s3 = S3Workload::default();
        Self {
            url: None,
            url_env: None,
            bucket: s3.bucket,
            key_prefix: "aifbench-rag".to_string(),
            region: s3.region,
            path_style: s3.path_style,
            access_key_id_env: s3.access_key_id_env,
            secret_access_key_env: s3.secret_access_key_env,
            credentials_file: None,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RagObjects {
    /// These settings as the S3 workload's, whose client and credentials
    /// the fetch hop uses.
    pub fn as_s3(&self) -> S3Workload {
        S3Workload {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            path_style: self.path_style,
            access_key_id_env: self.access_key_id_env.clone(),
            secret_access_key_env: self.secret_access_key_env.clone(),
            credentials_file: self.credentials_file.clone(),
            key_prefix: self.key_prefix.clone(),
            request_timeout: self.request_timeout,
            ..S3Workload::default()
        }
    }
}

/// Hop 4: the LLM, always streamed.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RagLlm {
    /// `chat` (default) or `completions`.
    pub api: OpenAiApi,
    /// Model name. Default: the first model listed by `GET /v1/models`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tokens to generate per answer. Default 64.
    #[schemars(range(min = 1))]
    pub max_tokens: u32,
    /// Sampling temperature; the server's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Name of an environment variable holding the API key (never logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Time limit of one answer, from send to last token. Default 120s.
    pub request_timeout: Duration,
}

impl Default for RagLlm {
    fn default() -> Self {
        Self {
            api: OpenAiApi::Chat,
            model: None,
            max_tokens: 64,
            temperature: None,
            api_key_env: None,
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// The corpus: synthetic documents (seeded, of set length) or a JSONL file.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RagCorpus {
    /// Number of documents (synthetic), or the most read from `path`.
    /// Default 100.
    #[schemars(range(min = 1, max = 1000000))]
    pub documents: u32,
    /// Length of a synthetic document in words (about one token each).
    /// Default fixed 64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<LengthDist>,
    /// Seed of the synthetic documents and questions. Default 42.
    pub seed: u64,
    /// A JSONL file of documents, one `{"text": "..."}` per line, instead
    /// of synthetic ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Default for RagCorpus {
    fn default() -> Self {
        Self {
            documents: 100,
            length: None,
            seed: 42,
            path: None,
        }
    }
}

/// Default length of a synthetic document, in words.
pub const DEFAULT_DOCUMENT_WORDS: u32 = 64;

impl RagCorpus {
    /// The document length in effect: `length`, else fixed 64.
    pub fn length_dist(&self) -> LengthDist {
        self.length.clone().unwrap_or(LengthDist {
            kind: LengthDistType::Fixed,
            value: Some(DEFAULT_DOCUMENT_WORDS),
            ..LengthDist::default()
        })
    }
}

/// Questions from a file.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct RagQuestions {
    /// A JSONL file, one `{"question": "..."}` per line; requests cycle
    /// through them.
    pub path: String,
}

/// One hop's endpoint: `url`, else the value of `urlEnv` looked up with
/// `env`; `None` when neither gives one.
pub fn endpoint(
    url: Option<&str>,
    url_env: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    url.map(str::to_string)
        .or_else(|| url_env.and_then(env))
        .filter(|u| !u.is_empty())
}

impl RagWorkload {
    /// What is wrong with these settings, as `(field path under rag,
    /// message)`. (`corpus.length` is checked by the validator as every
    /// length distribution is, and `load.stages`, which this workload does
    /// not run, by the validator too.)
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut err = |f: &str, m: &str| out.push((f.to_string(), m.to_string()));
        for (hop, url, env) in [
            ("embed", &self.embed.url, &self.embed.url_env),
            ("vector", &self.vector.url, &self.vector.url_env),
            ("objects", &self.objects.url, &self.objects.url_env),
        ] {
            match (url, env) {
                (Some(_), Some(_)) => {
                    err(&format!("{hop}.urlEnv"), "set only one of url and urlEnv")
                }
                (None, None) => err(
                    &format!("{hop}.url"),
                    "give the service's base URL: url, or urlEnv naming a client env variable set to {{services.ID.url}}",
                ),
                (Some(u), None) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                    err(&format!("{hop}.url"), "must start with http:// or https://");
                }
                (None, Some(v)) if v.is_empty() => {
                    err(&format!("{hop}.urlEnv"), "must not be empty")
                }
                _ => {}
            }
        }
        for (field, timeout) in [
            ("embed.requestTimeout", self.embed.request_timeout),
            ("vector.requestTimeout", self.vector.request_timeout),
            ("objects.requestTimeout", self.objects.request_timeout),
            ("llm.requestTimeout", self.llm.request_timeout),
        ] {
            if timeout.get().is_zero() {
                err(field, "must be longer than 0s");
            }
        }
        if self.embed.batch_size == 0 {
            err("embed.batchSize", "must be at least 1");
        }
        if self.vector.collection.is_empty() {
            err("vector.collection", "must not be empty");
        }
        if self.objects.bucket.is_empty() {
            err("objects.bucket", "must not be empty");
        }
        if self.objects.key_prefix.is_empty()
            || !self
                .objects
                .key_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
        {
            err(
                "objects.keyPrefix",
                "must be non-empty and use only letters, digits, '/', '.', '_' or '-'",
            );
        }
        if self.llm.max_tokens == 0 {
            err("llm.maxTokens", "must be at least 1");
        }
        if self.corpus.documents == 0 {
            err("corpus.documents", "must be at least 1");
        }
        if self.top_k == 0 {
            err("topK", "must be at least 1");
        } else if self.corpus.path.is_none() && self.top_k > self.corpus.documents {
            err(
                "topK",
                &format!(
                    "{} is more than the {} documents of the corpus",
                    self.top_k, self.corpus.documents
                ),
            );
        }
        if self.questions.as_ref().is_some_and(|q| q.path.is_empty()) {
            err("questions.path", "must not be empty");
        }
        out
    }
}

/// Default documents retrieved per question.
pub const DEFAULT_TOP_K: u32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> RagWorkload {
        let mut w: RagWorkload = serde_json::from_str("{}").unwrap();
        w.embed.url = Some("http://e:1".into());
        w.vector.url_env = Some("CHROMA".into());
        w.objects.url = Some("http://s3:3900".into());
        w
    }

    #[test]
    fn defaults_and_problems_name_their_fields() {
        let w = valid();
        assert_eq!(w.top_k, DEFAULT_TOP_K);
        assert_eq!(w.corpus.documents, 100);
        assert_eq!(w.corpus.length_dist().value, Some(DEFAULT_DOCUMENT_WORDS));
        assert_eq!(w.llm.max_tokens, 64);
        assert!(w.problems().is_empty(), "{:?}", w.problems());
        assert_eq!(w.objects.as_s3().bucket, "aifbench");

        let mut bad = valid();
        bad.embed.url = None;
        bad.vector.url = Some("chroma:8000".into());
        bad.objects.url_env = Some("S3".into());
        bad.top_k = 7;
        bad.corpus.documents = 5;
        bad.llm.max_tokens = 0;
        bad.objects.key_prefix = "a b".into();
        let fields: Vec<String> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "embed.url",
                "vector.urlEnv",
                "objects.urlEnv",
                "objects.keyPrefix",
                "llm.maxTokens",
                "topK"
            ]
        );
    }

    #[test]
    fn endpoints_come_from_url_or_the_named_variable() {
        let env = |k: &str| (k == "E").then(|| "http://x:1".to_string());
        assert_eq!(
            endpoint(Some("http://u"), None, &env).as_deref(),
            Some("http://u")
        );
        assert_eq!(
            endpoint(None, Some("E"), &env).as_deref(),
            Some("http://x:1")
        );
        assert_eq!(endpoint(None, Some("F"), &env), None);
        assert_eq!(endpoint(None, None, &env), None);
    }
}
