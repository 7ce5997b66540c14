//! Runs one `chroma` instance for `aifbench loadgen`: loads the collection,
//! drives the load model with the Chroma executor ([`super::chroma`]), and
//! fills in the query stats and the measured recall.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::WorkloadError;
use super::chroma::{ChromaExecutor, ChromaHandle};
use super::load::LoadPlan;
use super::loadgen::progress::{ProgressTicks, drive_instance, empty_outcome};
use super::result::ClientResult;
use super::runner::{Instance, Workload};
use crate::api::workload::WorkloadType;

/// The `chroma` workload.
pub struct ChromaRun;

impl Workload for ChromaRun {
    fn kind(&self) -> WorkloadType {
        WorkloadType::Chroma
    }

    fn run<'a>(
        &'a self,
        instance: Instance<'a>,
    ) -> BoxFuture<'a, Result<ClientResult, WorkloadError>> {
        Box::pin(run(instance))
    }
}

async fn run(i: Instance<'_>) -> Result<ClientResult, WorkloadError> {
    let config = i.config;
    let cancel = i.cancel;
    let plan = LoadPlan::new(&config.load, &config.errors)?;
    let started_at = jiff::Timestamp::now();
    let t0 = Instant::now();
    let kind = config.workload.kind;
    let id = config.id.clone();

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
            interval: i.progress_interval,
        };
        drive_instance(&plan, handle, &ticks, cancel, i.progress).await
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
    Ok(r)
}
