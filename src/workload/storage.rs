//! Runs one storage-workload instance (`s3`, `chroma`) for `aifbench
//! loadgen`: prepares the server side (pre-populated objects, a loaded
//! collection), drives the shared load model with the workload's executor,
//! and writes the result with the storage fields filled in.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::WorkloadError;
use super::chroma::{ChromaExecutor, ChromaHandle};
use super::load::{Executor, LiveCounters, LoadOutcome, LoadPlan};
use super::loadgen::atomic_write::write_atomic;
use super::loadgen::config::LoadgenConfig;
use super::loadgen::progress::{ProgressEvent, ProgressTicks, drive_with_progress, empty_outcome};
use super::result::ClientResult;
use super::s3::{S3Executor, S3Handle, load_credentials};
use crate::api::workload::WorkloadType;

/// Drives `executor` for instance `id` with fresh live counters.
async fn drive_instance<E: Executor>(
    plan: &LoadPlan,
    executor: E,
    ticks: &ProgressTicks<'_>,
    cancel: &CancellationToken,
    progress: &mut impl FnMut(&ProgressEvent),
) -> LoadOutcome {
    let live = Arc::new(LiveCounters::default());
    drive_with_progress(plan, executor, live, None, cancel, ticks, progress).await
}

/// Runs one `s3` or `chroma` instance; see [`super::loadgen::run`].
pub async fn run(
    config: LoadgenConfig,
    output: Option<&Path>,
    progress_interval: Duration,
    cancel: CancellationToken,
    mut progress: impl FnMut(&ProgressEvent),
) -> Result<ClientResult, WorkloadError> {
    if config.id.is_empty() {
        return Err(WorkloadError::InvalidConfig("id must not be empty".into()));
    }
    if config.base_url.is_empty() {
        return Err(WorkloadError::InvalidConfig(
            "baseUrl is required (--url or baseUrl in the configuration file)".into(),
        ));
    }
    let plan = LoadPlan::new(&config.load, &config.errors)?;
    let started_at = jiff::Timestamp::now();
    let t0 = Instant::now();
    let kind = config.workload.kind;
    tracing::info!(id = %config.id, base_url = %config.base_url, workload = %kind, "loadgen starting");
    let id = config.id.clone();

    let result = match kind {
        WorkloadType::S3 => {
            let w = config.workload.s3.clone().unwrap_or_default();
            let creds = load_credentials(&w, &|k| std::env::var(k).ok())?;
            let seed = w.seed.unwrap_or(plan.seed);
            let ex = Arc::new(S3Executor::new(&config.base_url, &id, &w, creds, seed)?);
            tokio::select! {
                r = ex.wait_ready(Duration::from_secs(15)) => r?,
                _ = cancel.cancelled() => {}
            }
            let n = ex.prepopulate_count();
            let setup = if n == 0 {
                None
            } else {
                tracing::info!(objects = n, bucket = %w.bucket, "pre-populating");
                tokio::select! {
                    s = ex.prepopulate(n, plan.concurrency) => Some(s?),
                    _ = cancel.cancelled() => None,
                }
            };
            let outcome = if cancel.is_cancelled() {
                empty_outcome(plan.seed)
            } else {
                let handle = S3Handle(ex.clone());
                let ticks = ProgressTicks {
                    id: &id,
                    t0,
                    interval: progress_interval,
                };
                drive_instance(&plan, handle, &ticks, &cancel, &mut progress).await
            };
            let mut r = ClientResult::from_outcome(&id, kind.as_str(), started_at, &outcome)?;
            let report = ex.report()?;
            r.histograms.extend(report.histograms);
            r.operations = report.operations;
            r.bytes_read = report.bytes_read;
            r.bytes_written = report.bytes_written;
            r.data_loss = Some(report.data_loss);
            r.setup = setup;
            r
        }
        WorkloadType::Chroma => {
            let w = config.workload.chroma.clone().unwrap_or_default();
            let ex = Arc::new(ChromaExecutor::new(&config.base_url, &id, &w)?);
            let setup = tokio::select! {
                s = ex.load() => Some(s?),
                _ = cancel.cancelled() => None,
            };
            let outcome = if cancel.is_cancelled() {
                empty_outcome(plan.seed)
            } else {
                let handle = ChromaHandle(ex.clone());
                let ticks = ProgressTicks {
                    id: &id,
                    t0,
                    interval: progress_interval,
                };
                drive_instance(&plan, handle, &ticks, &cancel, &mut progress).await
            };
            let mut r = ClientResult::from_outcome(&id, kind.as_str(), started_at, &outcome)?;
            r.operations.insert("query".to_string(), ex.operations());
            let recall = ex.recall();
            tracing::info!(
                k = recall.k,
                queries = recall.queries,
                mean = recall.mean,
                "recall measured"
            );
            r.recall = Some(recall);
            r.setup = setup;
            r
        }
        WorkloadType::OpenAi => {
            return Err(WorkloadError::InvalidConfig(
                "the openai workload is not a storage workload".into(),
            ));
        }
    };
    if let Some(path) = output {
        let json = serde_json::to_vec_pretty(&result)?;
        write_atomic(path, &json)?;
        tracing::info!(path = %path.display(), "result written");
    }
    progress(&ProgressEvent::Done {
        id: result.id.clone(),
        requests: result.requests,
        errors: result.errors,
        aborted: result.aborted.clone(),
    });
    Ok(result)
}
