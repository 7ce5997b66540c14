//! The RAG workload's executor: each request is a chain of four hops, each
//! through the client of its own workload —
//!
//! 1. `embed`: the question to a vector (`/v1/embeddings`,
//!    [`EmbeddingsClient::embed`]);
//! 2. `search`: the top-k nearest documents' ids (Chroma,
//!    [`ChromaApi::query`]); the ids are the documents' S3 keys;
//! 3. `fetch`: the k documents, GET concurrently (the S3 workload's SDK
//!    client); the hop ends when the last one is read;
//! 4. `generate`: the documents and the question as the prompt, streamed
//!    (the OpenAI workload's executor and stream reader).
//!
//! Each hop's latency runs from its own send to its last byte and goes
//! into its own histogram (`<hop>.e2el`, and `generate.ttft`; the labelled
//! histograms of [`super::openai_labels`]), measured requests only; a hop
//! counts as done when it succeeded, whatever the later hops did. The
//! chain's outcome is the generate hop's answer, so the load layer's `ttft`,
//! `itl` and `e2el` count from the chain's send (and `e2el_intended` from its
//! intended send in an open loop). A failed hop ends the chain; it is
//! counted under its hop (`operations.<hop>.errors`) and its class
//! (`<hop>.<class>`, e.g. `search.http_500`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_sdk_s3::Client;
use bytes::Bytes;
use serde_json::json;
use tokio::time::Instant;

use super::chroma::ChromaApi;
use super::embeddings::EmbeddingsClient;
use super::load::{Executor, RequestContext};
use super::openai::{OpenAiExecutor, entry_body};
use super::openai_labels::LabelledLatencies;
use super::prompt::{Entry, Prompt, estimate_tokens};
use super::rag_corpus::prompt;
use super::record::{ErrorClass, Failure, Outcome, Success, TokenSource};
use super::result::OperationStats;
use super::s3::classify;
use crate::api::workload::OpenAiWorkload;

/// Hop 1: the question embedded.
pub const EMBED: &str = "embed";
/// Hop 2: the vector query.
pub const SEARCH: &str = "search";
/// Hop 3: the documents fetched from S3.
pub const FETCH: &str = "fetch";
/// Hop 4: the answer generated.
pub const GENERATE: &str = "generate";
/// The hops in chain order.
pub const HOPS: [&str; 4] = [EMBED, SEARCH, FETCH, GENERATE];

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where the chain's hops go, ready to send.
pub struct Hops {
    /// Hop 1's client and model.
    pub embed: EmbeddingsClient,
    /// The embeddings model.
    pub embed_model: String,
    /// Hop 2's client.
    pub chroma: ChromaApi,
    /// The collection's id.
    pub collection: String,
    /// Hop 3's client.
    pub s3: Client,
    /// The bucket.
    pub bucket: String,
    /// Time limit of one GET.
    pub fetch_timeout: Duration,
    /// Hop 4's executor (streaming).
    pub llm: OpenAiExecutor,
    /// The request settings of hop 4.
    pub llm_cfg: OpenAiWorkload,
    /// The LLM's model.
    pub llm_model: String,
    /// Documents retrieved per question.
    pub top_k: u32,
}

/// Per-hop counts and latencies of the measured requests.
#[derive(Debug, Default)]
pub struct HopStats {
    ops: Mutex<BTreeMap<String, OperationStats>>,
    classes: Mutex<BTreeMap<String, u64>>,
    /// `<hop>.e2el` and `generate.ttft`.
    pub latencies: LabelledLatencies,
}

impl HopStats {
    fn ok(&self, hop: &str, sent: Instant, end: Instant, bytes: u64) {
        self.ok_with(hop, sent, &plain_success(end), bytes);
    }

    fn ok_with(&self, hop: &str, sent: Instant, success: &Success, bytes: u64) {
        let mut ops = lock(&self.ops);
        let o = ops.entry(hop.to_string()).or_default();
        o.requests += 1;
        o.bytes += bytes;
        drop(ops);
        self.latencies.record(hop, sent, success);
    }

    fn failed(&self, hop: &str, f: &Failure) {
        lock(&self.ops).entry(hop.to_string()).or_default().errors += 1;
        *lock(&self.classes)
            .entry(format!("{hop}.{}", f.class))
            .or_default() += 1;
    }

    /// Measured requests by hop (`embed`, `search`, `fetch`, `generate`).
    pub fn operations(&self) -> BTreeMap<String, OperationStats> {
        lock(&self.ops).clone()
    }

    /// Failed measured requests by `<hop>.<class>`.
    pub fn error_classes(&self) -> BTreeMap<String, u64> {
        lock(&self.classes).clone()
    }
}

fn plain_success(end: Instant) -> Success {
    Success {
        token_times: Vec::new(),
        first_content: None,
        end,
        input_tokens: 0,
        output_tokens: 0,
        token_source: TokenSource::Unknown,
    }
}

/// The chain; shared by the request tasks of an instance.
#[derive(Clone)]
pub struct RagChain {
    hops: Arc<Hops>,
    questions: Arc<Vec<String>>,
    stats: Arc<HopStats>,
}

impl RagChain {
    /// A chain over `hops` asking `questions` (cycled by request index).
    pub fn new(hops: Hops, questions: Vec<String>) -> Self {
        Self {
            hops: Arc::new(hops),
            questions: Arc::new(questions),
            stats: Arc::new(HopStats::default()),
        }
    }

    /// What the measured requests did, by hop.
    pub fn stats(&self) -> &HopStats {
        &self.stats
    }

    async fn get(&self, key: &str) -> Result<Bytes, Failure> {
        let h = &self.hops;
        let resp =
            h.s3.get_object()
                .bucket(&h.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| classify(&e))?;
        let data = resp
            .body
            .collect()
            .await
            .map_err(|e| Failure::new(ErrorClass::Stream, format!("reading {key}: {e}")))?;
        Ok(data.into_bytes())
    }

    async fn fetch(&self, keys: &[String]) -> Result<Vec<String>, Failure> {
        let t = self.hops.fetch_timeout;
        let all = futures::future::try_join_all(keys.iter().map(|k| self.get(k)));
        let bodies = tokio::time::timeout(t, all).await.map_err(|_| {
            Failure::new(
                ErrorClass::Timeout,
                format!("documents not fetched within {t:?}"),
            )
        })??;
        Ok(bodies
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect())
    }

    async fn chain(&self, index: u64, measured: bool) -> Result<Success, (&'static str, Failure)> {
        let h = &self.hops;
        let n = self.questions.len().max(1) as u64;
        let question = self
            .questions
            .get((index % n) as usize)
            .map_or("", String::as_str);
        let note = |hop: &'static str| move |f: Failure| (hop, f);
        let stats = measured.then_some(&*self.stats);

        let sent = Instant::now();
        let (vectors, _) = h
            .embed
            .embed(&h.embed_model, &[question])
            .await
            .map_err(note(EMBED))?;
        let vector = vectors
            .into_iter()
            .next()
            .ok_or_else(|| (EMBED, Failure::new(ErrorClass::InvalidPayload, "no vector")))?;
        let embedded = Instant::now();
        if let Some(s) = stats {
            s.ok(EMBED, sent, embedded, 0);
        }

        let body = json!({
            "query_embeddings": [vector],
            "n_results": h.top_k,
            "include": ["distances"],
        });
        let keys = h
            .chroma
            .query(&h.collection, &body)
            .await
            .map_err(note(SEARCH))?;
        if keys.is_empty() {
            return Err((
                SEARCH,
                Failure::new(ErrorClass::InvalidPayload, "no documents found"),
            ));
        }
        let searched = Instant::now();
        if let Some(s) = stats {
            s.ok(SEARCH, embedded, searched, 0);
        }

        let docs = self.fetch(&keys).await.map_err(note(FETCH))?;
        let fetched = Instant::now();
        if let Some(s) = stats {
            s.ok(
                FETCH,
                searched,
                fetched,
                docs.iter().map(|d| d.len() as u64).sum(),
            );
        }

        let text = prompt(question, &docs);
        let entry = Entry {
            prompt: Prompt::Text(text.clone()),
            max_tokens: None,
        };
        let body =
            serde_json::to_vec(&entry_body(&h.llm_cfg, &h.llm_model, &entry)).map_err(|e| {
                (
                    GENERATE,
                    Failure::new(ErrorClass::Other("request"), e.to_string()),
                )
            })?;
        let mut answer = h
            .llm
            .send_with_timeout(Bytes::from(body), None)
            .await
            .map_err(note(GENERATE))?;
        if answer.input_tokens == 0 {
            // No usage from the server (llama-cpp-python when streaming):
            // the estimate of the prompt actually sent.
            answer.input_tokens = u64::from(estimate_tokens(&text));
        }
        if let Some(s) = stats {
            s.ok_with(GENERATE, fetched, &answer, 0);
        }
        Ok(answer)
    }
}

impl Executor for RagChain {
    async fn execute(&self, ctx: RequestContext) -> Outcome {
        match self.chain(ctx.index, !ctx.warmup).await {
            Ok(answer) => Ok(answer),
            Err((hop, f)) => {
                if !ctx.warmup {
                    self.stats.failed(hop, &f);
                }
                Err(Failure::new(f.class, format!("{hop}: {}", f.message)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::workload::{EmbeddingsWorkload, S3Workload};
    use crate::workload::openai::OpenAiClient;
    use crate::workload::s3::{S3Credentials, sdk_client};

    /// A loopback port with nothing listening.
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn chain_to_nowhere() -> RagChain {
        let url = format!("http://127.0.0.1:{}", closed_port());
        let llm_cfg = OpenAiWorkload {
            model: Some("m".into()),
            ..OpenAiWorkload::default()
        };
        let llm = OpenAiClient::new(&url, &llm_cfg, 1).unwrap();
        let hops = Hops {
            embed: EmbeddingsClient::new(&url, &EmbeddingsWorkload::default(), 1).unwrap(),
            embed_model: "m".into(),
            chroma: ChromaApi::new(&url, "t", "d", Duration::from_secs(5)).unwrap(),
            collection: "c".into(),
            s3: sdk_client(&url, &S3Workload::default(), &S3Credentials::new("a", "b")),
            bucket: "b".into(),
            fetch_timeout: Duration::from_secs(5),
            llm: llm.executor_for("m", &[]).unwrap(),
            llm_cfg,
            llm_model: "m".into(),
            top_k: 2,
        };
        RagChain::new(hops, vec!["why?".into()])
    }

    #[tokio::test]
    async fn a_failed_hop_ends_the_chain_and_counts_under_its_hop_and_class() {
        let chain = chain_to_nowhere();
        let f = chain.execute(RequestContext::now(0)).await.unwrap_err();
        assert_eq!(f.class, ErrorClass::Connect, "{f:?}");
        assert!(f.message.starts_with("embed: "), "{}", f.message);
        let mut warm = RequestContext::now(1);
        warm.warmup = true;
        assert!(chain.execute(warm).await.is_err());
        // The measured failure only, under its hop; no later hop ran.
        let stats = chain.stats();
        assert_eq!(
            stats.error_classes(),
            BTreeMap::from([("embed.connect".to_string(), 1)])
        );
        let ops = stats.operations();
        assert_eq!(ops.len(), 1, "{ops:?}");
        assert_eq!((ops[EMBED].requests, ops[EMBED].errors), (0, 1));
        assert!(stats.latencies.encoded().unwrap().is_empty());
    }

    #[test]
    fn hop_latencies_go_to_their_own_histograms() {
        let s = HopStats::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        s.ok(EMBED, t0, t0 + ms(20), 0);
        s.ok(FETCH, t0 + ms(20), t0 + ms(25), 300);
        let answer = Success {
            token_times: vec![t0 + ms(40), t0 + ms(50)],
            ..plain_success(t0 + ms(60))
        };
        s.ok_with(GENERATE, t0 + ms(25), &answer, 0);
        let names: Vec<String> = s.latencies.encoded().unwrap().into_keys().collect();
        assert_eq!(
            names,
            ["embed.e2el", "fetch.e2el", "generate.e2el", "generate.ttft"]
        );
        assert_eq!(s.operations()[FETCH].bytes, 300);
        assert!(s.error_classes().is_empty());
    }
}
