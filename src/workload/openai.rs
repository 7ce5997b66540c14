//! The OpenAI-compatible inference workload: `POST /v1/completions` or
//! `/v1/chat/completions`, streamed (server-sent events) or not.
//!
//! Per streamed request (read by `openai_stream`): the first event whose `choices` is non-empty is the
//! first token (TTFT); the gaps between successive such events are the
//! inter-token latencies; the request ends at the last event before
//! `data: [DONE]`. Output tokens come from `usage.completion_tokens` when the
//! server sends usage (requested with `stream_options.include_usage`), else
//! from the number of events carrying non-empty text.
//!
//! With a `sharedPrefix` dataset the executor also tells the first request
//! of each group from the later ones and keeps their latencies apart
//! ([`super::openai_labels`]); with `conversation` it sends the turns of
//! multi-turn conversations instead of prepared bodies
//! ([`super::openai_conversation`]).
//!
//! The endpoint pieces (API key loading, the HTTP client, model discovery,
//! error classification) are [`super::openai_http`], shared with the
//! embeddings workload, the tokenizer probe and the RAG chain.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use tokio::time::Instant;

use super::WorkloadError;
use super::dataset::{self, Entry};
use super::dataset_shared_prefix::{self as shared_prefix, Groups};
use super::load::{Executor, RequestContext};
pub use super::openai_body::{entry_body, request_body};
use super::openai_conversation::{self as conversation, Conversations, TurnSender};
pub use super::openai_http::{api_root, classify_transport, first_model, load_key};
pub(crate) use super::openai_http::{
    checked_root, describe, discover_model, http_client, post_json,
};
use super::openai_labels::LabelledLatencies;
pub use super::openai_stream::{StreamAccumulator, append_delta, parse_response, whole_answer};
use super::record::{ErrorClass, Failure, Outcome};
use super::sse::SseParser;
use super::tokenize::{ESTIMATE_SOURCE, PromptCheck, PromptTokens, ServerTokenizer};
use crate::api::workload::{DatasetType, OpenAiApi, OpenAiWorkload, TokenizerSource};

/// Loads the API key named by `apiKeyEnv` or `apiKeyFile`, if any. Error
/// messages name the variable or file, never the key.
pub fn load_api_key(cfg: &OpenAiWorkload) -> Result<Option<String>, WorkloadError> {
    load_key(cfg.api_key_env.as_deref(), cfg.api_key_file.as_deref())
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
        let root = checked_root(base_url)?;
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
        let http = http_client(load_api_key(cfg)?, cfg.request_timeout.get(), connections)?;
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
        discover_model(&self.http, &self.root, self.cfg.request_timeout.get()).await
    }

    /// The executor sending requests for `model`, one body per dataset entry
    /// (built from `seed`), cycled by request index. With a dataset, each
    /// prompt's token count is checked against the answers' usage: estimated
    /// (`tokenizer: words`), or counted by the server, synthetic prompts
    /// fitted to their lengths first (`tokenizer: server`; [`super::tokenize`]).
    pub async fn executor(&self, model: &str, seed: u64) -> Result<OpenAiExecutor, WorkloadError> {
        if let Some(spec) = &self.cfg.conversation {
            let conv = Conversations::for_workload(&self.cfg, spec, model, seed)?;
            let mut ex = self.executor_for(model, &[])?;
            ex.conversations = Some(Arc::new(conv));
            return Ok(ex);
        }
        if let Some(d) = self
            .cfg
            .dataset
            .as_ref()
            .filter(|d| d.kind == DatasetType::SharedPrefix)
        {
            let grouped = shared_prefix::build(d, self.cfg.api, self.cfg.max_tokens, seed)?;
            let mut ex = self.executor_for(model, &grouped.entries)?;
            ex.groups = Some(Arc::new(Groups::new(grouped.groups)));
            return Ok(ex);
        }
        let mut entries = dataset::build(
            self.cfg.dataset.as_ref(),
            &self.cfg.prompt,
            self.cfg.max_tokens,
            seed,
        )?;
        let Some(d) = self.cfg.dataset.as_ref() else {
            return self.executor_for(model, &entries);
        };
        let synthetic = d.kind == DatasetType::Synthetic;
        if d.tokenizer == TokenizerSource::Words {
            let counts = super::tokenize::estimate_entries(&entries, synthetic);
            let mut ex = self.executor_for(model, &entries)?;
            ex.prompt_check = Some(Arc::new(PromptCheck::new(ESTIMATE_SOURCE, counts)));
            return Ok(ex);
        }
        let timeout = self.cfg.request_timeout.get();
        let tokenizer = ServerTokenizer::probe(&self.http, &self.root, model, timeout).await?;
        let (counts, missed) =
            super::tokenize::count_entries(&tokenizer, &mut entries, synthetic, seed).await?;
        if missed > 0 {
            tracing::warn!(
                missed,
                prompts = entries.len(),
                "some synthetic prompts could not be fitted to their exact token length"
            );
        }
        let mut ex = self.executor_for(model, &entries)?;
        ex.prompt_check = Some(Arc::new(PromptCheck::new(tokenizer.source(), counts)));
        Ok(ex)
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
            conversations: None,
            labelled: Arc::new(LabelledLatencies::default()),
            prompt_check: None,
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
    conversations: Option<Arc<Conversations>>,
    labelled: Arc<LabelledLatencies>,
    prompt_check: Option<Arc<PromptCheck>>,
}

impl OpenAiExecutor {
    /// Conversations: measured requests by turn; empty without.
    pub fn turn_stats(&self) -> std::collections::BTreeMap<u32, super::result::TurnStats> {
        self.conversations
            .as_ref()
            .map(|c| c.turn_stats())
            .unwrap_or_default()
    }

    /// With `dataset.tokenizer: server`: the counted prompt tokens compared
    /// with the answers' usage so far.
    pub fn prompt_tokens(&self) -> Option<PromptTokens> {
        self.prompt_check.as_ref().map(|c| c.result())
    }

    /// The latencies kept apart by label (shared-prefix first or later
    /// request, conversation turn), encoded as result histograms; empty
    /// without labels.
    pub fn labelled_histograms(
        &self,
    ) -> Result<std::collections::BTreeMap<String, String>, WorkloadError> {
        self.labelled.encoded()
    }

    /// Sends `body` within the request timeout; with `answer`, the
    /// answer's text is appended to it.
    pub(super) async fn send_with_timeout(
        &self,
        body: Bytes,
        answer: Option<&mut String>,
    ) -> Outcome {
        match tokio::time::timeout(self.timeout, self.send(body, answer)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::new(
                ErrorClass::Timeout,
                format!("no complete response within {:?}", self.timeout),
            )),
        }
    }

    async fn send(&self, body: Bytes, mut answer: Option<&mut String>) -> Outcome {
        let resp = post_json(&self.http, &self.url, body).await?;
        if !self.stream {
            let body = resp
                .bytes()
                .await
                .map_err(|e| Failure::new(classify_transport(&e, true), describe(&e)))?;
            let end = Instant::now();
            if let Some(a) = answer {
                a.push_str(&whole_answer(&body));
            }
            return parse_response(&body, end);
        }
        let mut chunks = resp.bytes_stream();
        let mut parser = SseParser::new();
        let mut acc = StreamAccumulator::new();
        while let Some(chunk) = chunks.next().await {
            let chunk =
                chunk.map_err(|e| Failure::new(classify_transport(&e, true), describe(&e)))?;
            let at = Instant::now();
            parser.feed_with(&chunk, |_, data| {
                if let Some(a) = answer.as_deref_mut() {
                    append_delta(data, a);
                }
                acc.on_event(data, at)
            })?;
        }
        let ended = Instant::now();
        if let Some(event) = parser.finish() {
            if let Some(a) = answer {
                append_delta(&event.data, a);
            }
            acc.on_event(&event.data, ended)?;
        }
        acc.finish(ended)
    }
}

impl Executor for OpenAiExecutor {
    async fn execute(&self, ctx: RequestContext) -> Outcome {
        if let Some(conv) = &self.conversations {
            return conversation::execute(self, conv, &self.labelled, ctx).await;
        }
        let label = self.groups.as_ref().and_then(|g| g.label(ctx.index));
        let body = match self.bodies.len() {
            0 => Bytes::new(),
            n => self.bodies[(ctx.index % n as u64) as usize].clone(),
        };
        let sent = Instant::now();
        let outcome = self.send_with_timeout(body, None).await;
        if let (Ok(success), false) = (&outcome, ctx.warmup) {
            if let Some(label) = label {
                self.labelled.record(label, sent, success);
            }
            if let Some(check) = &self.prompt_check {
                check.record(ctx.index, success.input_tokens);
            }
        }
        outcome
    }
}

impl TurnSender for OpenAiExecutor {
    async fn send_turn(&self, body: Bytes, answer: &mut String) -> Outcome {
        self.send_with_timeout(body, Some(answer)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ex = client.executor("m", 0).await.unwrap();
        let f = ex.execute(RequestContext::now(0)).await.unwrap_err();
        assert_eq!(f.class, ErrorClass::Connect, "{f:?}");
    }
}
