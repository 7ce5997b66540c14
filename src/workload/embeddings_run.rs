//! Runs one `embeddings` instance for `aifbench loadgen`: resolves the
//! model, prepares the inputs, drives each load stage (closed or open loop)
//! with the embeddings executor ([`super::embeddings`]) at the stage's batch
//! size (`stageBatchSizes`, else `batchSize`), and combines the stages into
//! one result with the inputs embedded (batch size times successful
//! requests: a success carries exactly one vector per input) and where the
//! input token counts come from (`usage`, `estimated` or `mixed`).

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::WorkloadError;
use super::embeddings::{EmbeddingsClient, build_inputs};
use super::load::{LiveCounters, LoadOutcome, LoadPlan, RecordSink};
use super::loadgen::progress::{ProgressTicks, drive_with_progress, empty_outcome};
use super::loadgen::request_log::RequestLog;
use super::result::ClientResult;
use super::runner::{Instance, Workload};
use crate::api::workload::WorkloadType;

/// The `embeddings` workload (`POST /v1/embeddings`).
pub struct EmbeddingsRun;

impl Workload for EmbeddingsRun {
    fn kind(&self) -> WorkloadType {
        WorkloadType::Embeddings
    }

    fn run<'a>(
        &'a self,
        instance: Instance<'a>,
    ) -> BoxFuture<'a, Result<ClientResult, WorkloadError>> {
        Box::pin(run(instance))
    }
}

/// The token source label of an embeddings result: the recorder's
/// `counted` means estimated from the prepared inputs here.
fn token_source(recorded: &str) -> String {
    match recorded {
        "counted" => "estimated",
        other => other,
    }
    .to_string()
}

async fn run(i: Instance<'_>) -> Result<ClientResult, WorkloadError> {
    let Instance {
        config,
        requests_log,
        progress_interval,
        cancel,
        progress,
    } = i;
    let w = config.workload.embeddings.clone().unwrap_or_default();
    if let Some((field, problem)) = w.problems(config.load.stages.len()).into_iter().next() {
        return Err(WorkloadError::InvalidConfig(format!(
            "embeddings.{field}: {problem}"
        )));
    }
    let plans = LoadPlan::stages(&config.load, &config.errors)?;
    let max_concurrency = plans.iter().map(|p| p.concurrency).max().unwrap_or(1);
    let client = EmbeddingsClient::new(&config.base_url, &w, max_concurrency)?;
    let sink: Option<Arc<dyn RecordSink>> = match requests_log {
        Some(path) => Some(Arc::new(RequestLog::create(path)?)),
        None => None,
    };
    let started_at = jiff::Timestamp::now();
    let t0 = Instant::now();
    let model = tokio::select! {
        model = client.resolve_model() => Some(model?),
        _ = cancel.cancelled() => None,
    };
    let mut results = Vec::new();
    let live = Arc::new(LiveCounters::default());
    let ticks = ProgressTicks {
        id: &config.id,
        t0,
        interval: progress_interval,
    };
    let result_of = |plan: &LoadPlan,
                     outcome: &LoadOutcome,
                     batch: u32|
     -> Result<ClientResult, WorkloadError> {
        let mut r = ClientResult::from_outcome(
            &config.id,
            WorkloadType::Embeddings.as_str(),
            started_at,
            outcome,
        )?;
        r.concurrency = Some(plan.concurrency);
        r.rate = plan.rate;
        r.inputs = r.requests * u64::from(batch);
        r.token_count_source = token_source(&r.token_count_source);
        Ok(r)
    };
    match model {
        None => results.push(result_of(&plans[0], &empty_outcome(plans[0].seed), 0)?),
        Some(model) => {
            let inputs = build_inputs(&w, plans[0].seed)?;
            tracing::info!(id = %config.id, model = %model, inputs = inputs.texts.len(), stages = plans.len(), "embeddings load plan");
            for (k, plan) in plans.iter().enumerate() {
                if cancel.is_cancelled() && !results.is_empty() {
                    break;
                }
                let batch = w.batch_size_of_stage(k);
                let executor = client.executor(&model, &inputs, batch)?;
                let outcome = drive_with_progress(
                    plan,
                    executor,
                    live.clone(),
                    sink.clone(),
                    cancel,
                    &ticks,
                    progress,
                )
                .await;
                results.push(result_of(plan, &outcome, batch)?);
                if outcome.aborted.is_some() {
                    break;
                }
            }
        }
    }
    if let Some(sink) = &sink {
        sink.flush();
    }
    if plans.len() > 1 {
        ClientResult::combine_stages(results)
    } else {
        results
            .into_iter()
            .next()
            .ok_or_else(|| WorkloadError::InvalidConfig("no stage ran".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::post;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::api::workload::{EmbeddingsWorkload, LengthDist, LengthDistType};
    use crate::workload::loadgen::testing::{config, run_collect};

    #[test]
    fn counted_tokens_are_reported_as_estimated() {
        assert_eq!(token_source("counted"), "estimated");
        assert_eq!(token_source("usage"), "usage");
        assert_eq!(token_source("mixed"), "mixed");
    }

    /// Serves `router` on a free loopback port; its base URL.
    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    fn embeddings_config(
        url: &str,
        batch: u32,
        requests: u64,
    ) -> crate::workload::loadgen::LoadgenConfig {
        let mut c = config(url, requests, 2);
        c.workload.kind = WorkloadType::Embeddings;
        c.workload.embeddings = Some(EmbeddingsWorkload {
            model: Some("m".into()),
            batch_size: batch,
            num_inputs: 10,
            input_tokens: Some(LengthDist {
                kind: LengthDistType::Fixed,
                value: Some(5),
                ..LengthDist::default()
            }),
            ..EmbeddingsWorkload::default()
        });
        c
    }

    #[tokio::test]
    async fn wrong_vector_counts_are_invalid_payload_never_successes() {
        // One vector whatever the batch, and no usage.
        let url = serve(Router::new().route(
            "/v1/embeddings",
            post(|| async { r#"{"data":[{"embedding":[0.1,0.2]}]}"# }),
        ))
        .await;
        let mut c = embeddings_config(&url, 3, 6);
        c.errors.max_consecutive = 100;
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!(r.requests, 0);
        assert_eq!(r.errors, 6);
        assert_eq!(r.error_classes.get("invalid_payload"), Some(&6));
        assert_eq!(r.inputs, 0);
    }

    #[tokio::test]
    async fn batches_against_a_server_without_usage_estimate_tokens() {
        let url = serve(Router::new().route(
            "/v1/embeddings",
            post(|| async { r#"{"data":[{"embedding":[0.1,0.2]},{"embedding":[0.3,0.4]}]}"# }),
        ))
        .await;
        let (r, _) = run_collect(
            embeddings_config(&url, 2, 8),
            None,
            CancellationToken::new(),
        )
        .await;
        let r = r.unwrap();
        assert_eq!((r.requests, r.errors), (8, 0));
        assert_eq!(r.inputs, 16);
        // 5 words per input, estimated.
        assert_eq!(r.input_tokens, 80);
        assert_eq!(r.token_count_source, "estimated");
        assert_eq!(r.workload, "embeddings");
        assert!(r.histograms.contains_key("e2el"));
    }
}
