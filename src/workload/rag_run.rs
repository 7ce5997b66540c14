//! Runs one `rag` instance for `aifbench loadgen`: builds each hop's client
//! (the embeddings, Chroma, S3 and OpenAI workloads' own), seeds the corpus
//! (documents put into the bucket, embedded, added to the instance's
//! collection with their S3 keys as ids, then both counted back), drives the
//! load model with the chain ([`super::rag_chain`]) and adds the per-hop
//! counts, latencies and error classes to the result.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use futures::future::BoxFuture;
use serde_json::json;
use tokio::time::Instant;

use super::WorkloadError;
use super::chroma::{ChromaApi, collection_name};
use super::embeddings::EmbeddingsClient;
use super::load::LoadPlan;
use super::load::{LiveCounters, RecordSink};
use super::loadgen::progress::{ProgressTicks, drive_with_progress, empty_outcome};
use super::loadgen::request_log::RequestLog;
use super::openai::OpenAiClient;
use super::rag_chain::{Hops, RagChain};
use super::rag_corpus::{document_key, documents, file_questions, synthetic_questions};
use super::result::{ClientResult, SetupStats};
use super::runner::{Instance, Workload};
use super::s3::{classify, load_credentials, sdk_client, wait_bucket};
use crate::api::workload::{
    EmbeddingsWorkload, OpenAiWorkload, RagWorkload, WorkloadType, endpoint,
};

/// Synthetic questions prepared (requests cycle through them).
const SYNTHETIC_QUESTIONS: usize = 1000;
/// Documents put into the bucket at once while seeding.
const PUT_PARALLEL: usize = 8;

/// The `rag` workload.
pub struct RagRun;

impl Workload for RagRun {
    fn kind(&self) -> WorkloadType {
        WorkloadType::Rag
    }

    fn run<'a>(
        &'a self,
        instance: Instance<'a>,
    ) -> BoxFuture<'a, Result<ClientResult, WorkloadError>> {
        Box::pin(run(instance))
    }
}

fn setup_err(what: &str) -> impl Fn(WorkloadError) -> WorkloadError + '_ {
    move |e| WorkloadError::Setup(format!("rag: {what}: {e}"))
}

/// The base URL of hop `hop`: `url`, else the variable `urlEnv` names.
fn hop_url(hop: &str, url: Option<&str>, url_env: Option<&str>) -> Result<String, WorkloadError> {
    endpoint(url, url_env, &|k| std::env::var(k).ok()).ok_or_else(|| {
        WorkloadError::InvalidConfig(match url_env {
            Some(v) => format!(
                "rag.{hop}.urlEnv: the environment variable {v} is not set (set it in the client's env, e.g. to {{{{services.ID.url}}}})"
            ),
            None => format!("rag.{hop}: give url or urlEnv"),
        })
    })
}

async fn put_document(
    s3: &Client,
    bucket: &str,
    key: &str,
    text: &str,
) -> Result<(), WorkloadError> {
    let mut attempt = 1;
    loop {
        let r = s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("text/plain; charset=utf-8")
            .body(ByteStream::from(text.as_bytes().to_vec()))
            .send()
            .await;
        match r {
            Ok(_) => return Ok(()),
            // Not measured: a retry here hides nothing.
            Err(_) if attempt < 3 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                let f = classify(&e);
                return Err(WorkloadError::Setup(format!(
                    "rag: putting s3://{bucket}/{key}: {}: {}",
                    f.class, f.message
                )));
            }
        }
    }
}

/// How many of `keys` a listing of the bucket under `prefix` shows.
async fn listed(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    keys: &[String],
) -> Result<u64, WorkloadError> {
    let want: HashSet<&str> = keys.iter().map(String::as_str).collect();
    let mut found = 0u64;
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| {
                let f = classify(&e);
                WorkloadError::Setup(format!(
                    "rag: listing s3://{bucket}/{prefix}: {}: {}",
                    f.class, f.message
                ))
            })?;
        found += page
            .contents()
            .iter()
            .filter(|o| o.key().is_some_and(|k| want.contains(k)))
            .count() as u64;
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(found),
        }
    }
}

/// What seeding left behind.
struct Seeded {
    collection_id: String,
    setup: SetupStats,
}

/// Puts `docs` into the bucket, embeds them and adds them to the
/// instance's collection (ids and metadata `key`: their S3 keys), then
/// checks the collection holds exactly them and the bucket lists them.
async fn seed(
    w: &RagWorkload,
    instance: &str,
    docs: &[String],
    embed: &EmbeddingsClient,
    embed_model: &str,
    chroma: &ChromaApi,
    s3: &Client,
) -> Result<Seeded, WorkloadError> {
    let started = Instant::now();
    let bucket = &w.objects.bucket;
    wait_bucket(s3, bucket, Duration::from_secs(15)).await?;
    let keys: Vec<String> = (0..docs.len())
        .map(|n| document_key(&w.objects.key_prefix, instance, n))
        .collect();
    for (ks, ds) in keys.chunks(PUT_PARALLEL).zip(docs.chunks(PUT_PARALLEL)) {
        let puts = ks
            .iter()
            .zip(ds)
            .map(|(k, d)| put_document(s3, bucket, k, d));
        futures::future::try_join_all(puts).await?;
    }
    let name = collection_name(&w.vector.collection, instance);
    let id = chroma.recreate(&name).await.map_err(setup_err("chroma"))?;
    let batch = w.embed.batch_size.max(1) as usize;
    for (b, texts) in docs.chunks(batch).enumerate() {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (vectors, _) = embed.embed(embed_model, &texts).await.map_err(|f| {
            WorkloadError::Setup(format!(
                "rag: embedding the documents: {}: {}",
                f.class, f.message
            ))
        })?;
        let ids = &keys[b * batch..b * batch + texts.len()];
        let metadatas: Vec<_> = ids.iter().map(|k| json!({"key": k})).collect();
        chroma
            .add(
                &id,
                &json!({"ids": ids, "embeddings": vectors, "metadatas": metadatas}),
            )
            .await
            .map_err(setup_err("chroma"))?;
    }
    let n = docs.len() as u64;
    let items = chroma.count(&id).await.map_err(setup_err("chroma"))?;
    let prefix = format!("{}/{instance}/", w.objects.key_prefix.trim_end_matches('/'));
    let objects = listed(s3, bucket, &prefix, &keys).await?;
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        collection = %name,
        collection_items = items,
        bucket = %bucket,
        objects,
        documents = n,
        seconds = secs,
        "corpus seeded"
    );
    if items != n || objects != n {
        return Err(WorkloadError::Setup(format!(
            "rag: seeded {n} documents but the collection {name} holds {items} and s3://{bucket}/{prefix} lists {objects} of them"
        )));
    }
    Ok(Seeded {
        collection_id: id,
        setup: SetupStats {
            items: n,
            bytes: docs.iter().map(|d| d.len() as u64).sum(),
            duration_s: secs,
            items_per_second: if secs > 0.0 { n as f64 / secs } else { 0.0 },
        },
    })
}

async fn run(i: Instance<'_>) -> Result<ClientResult, WorkloadError> {
    let config = i.config;
    let cancel = i.cancel;
    let w = config.workload.rag.clone().unwrap_or_default();
    if let Some((field, problem)) = w.problems().into_iter().next() {
        return Err(WorkloadError::InvalidConfig(format!(
            "rag.{field}: {problem}"
        )));
    }
    if !config.load.stages.is_empty() {
        return Err(WorkloadError::InvalidConfig(
            "the rag workload runs one load, not load.stages".to_string(),
        ));
    }
    let plan = LoadPlan::new(&config.load, &config.errors)?;
    let started_at = jiff::Timestamp::now();
    let t0 = Instant::now();
    let id = config.id.clone();

    let embed_url = hop_url("embed", w.embed.url.as_deref(), w.embed.url_env.as_deref())?;
    let chroma_url = hop_url(
        "vector",
        w.vector.url.as_deref(),
        w.vector.url_env.as_deref(),
    )?;
    let s3_url = hop_url(
        "objects",
        w.objects.url.as_deref(),
        w.objects.url_env.as_deref(),
    )?;
    let embed_cfg = EmbeddingsWorkload {
        model: w.embed.model.clone(),
        request_timeout: w.embed.request_timeout,
        ..EmbeddingsWorkload::default()
    };
    let embed = EmbeddingsClient::new(&embed_url, &embed_cfg, plan.concurrency)?;
    let chroma = ChromaApi::new(
        &chroma_url,
        &w.vector.tenant,
        &w.vector.database,
        w.vector.request_timeout.get(),
    )?;
    let s3w = w.objects.as_s3();
    let s3 = sdk_client(
        &s3_url,
        &s3w,
        &load_credentials(&s3w, &|k| std::env::var(k).ok())?,
    );
    let llm_cfg = OpenAiWorkload {
        api: w.llm.api,
        model: w.llm.model.clone(),
        stream: true,
        max_tokens: w.llm.max_tokens,
        temperature: w.llm.temperature,
        api_key_env: w.llm.api_key_env.clone(),
        request_timeout: w.llm.request_timeout,
        ..OpenAiWorkload::default()
    };
    let llm = OpenAiClient::new(&config.base_url, &llm_cfg, plan.concurrency)?;

    let prepare = async {
        let embed_model = embed.resolve_model().await?;
        let llm_model = llm.resolve_model().await?;
        let docs = documents(&w.corpus)?;
        let questions = match &w.questions {
            Some(q) => file_questions(&q.path)?,
            None => synthetic_questions(&docs, SYNTHETIC_QUESTIONS, w.corpus.seed),
        };
        tracing::info!(id = %id, documents = docs.len(), questions = questions.len(), top_k = w.top_k, "seeding the rag corpus");
        let seeded = seed(&w, &id, &docs, &embed, &embed_model, &chroma, &s3).await?;
        let hops = Hops {
            embed: embed.clone(),
            embed_model,
            chroma: chroma.clone(),
            collection: seeded.collection_id,
            s3: s3.clone(),
            bucket: w.objects.bucket.clone(),
            fetch_timeout: w.objects.request_timeout.get(),
            llm: llm.executor_for(&llm_model, &[])?,
            llm_cfg: llm_cfg.clone(),
            llm_model,
            top_k: w.top_k,
        };
        Ok::<_, WorkloadError>((RagChain::new(hops, questions), seeded.setup))
    };
    let prepared = tokio::select! {
        p = prepare => Some(p?),
        _ = cancel.cancelled() => None,
    };
    let Some((chain, setup)) = prepared else {
        return ClientResult::from_outcome(&id, "rag", started_at, &empty_outcome(plan.seed));
    };
    let ticks = ProgressTicks {
        id: &id,
        t0,
        interval: i.progress_interval,
    };
    let sink: Option<Arc<dyn RecordSink>> = match i.requests_log {
        Some(path) => Some(Arc::new(RequestLog::create(path)?)),
        None => None,
    };
    let live = Arc::new(LiveCounters::default());
    let outcome = drive_with_progress(
        &plan,
        chain.clone(),
        live,
        sink.clone(),
        cancel,
        &ticks,
        i.progress,
    )
    .await;
    if let Some(sink) = &sink {
        sink.flush();
    }
    let mut r = ClientResult::from_outcome(&id, WorkloadType::Rag.as_str(), started_at, &outcome)?;
    let stats = chain.stats();
    r.concurrency = Some(plan.concurrency);
    r.rate = plan.rate;
    r.operations = stats.operations();
    r.histograms.extend(stats.latencies.encoded()?);
    let classes = stats.error_classes();
    let by_hop: u64 = classes.values().sum();
    if by_hop == r.errors {
        r.error_classes = classes;
    } else {
        tracing::warn!(
            errors = r.errors,
            by_hop,
            "errors by hop do not add up; classes kept without hops"
        );
    }
    r.setup = Some(setup);
    Ok(r)
}
