//! Runs one `s3` instance for `aifbench loadgen`: waits for the endpoint,
//! pre-populates objects, drives the load model with the S3 executor
//! ([`super::s3`]), and fills in the per-operation stats and data loss.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::WorkloadError;
use super::load::LoadPlan;
use super::loadgen::progress::{ProgressTicks, drive_instance, empty_outcome};
use super::result::ClientResult;
use super::runner::{Instance, Workload};
use super::s3::{S3Executor, S3Handle, load_credentials};
use crate::api::workload::WorkloadType;

/// The `s3` workload.
pub struct S3Run;

impl Workload for S3Run {
    fn kind(&self) -> WorkloadType {
        WorkloadType::S3
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
            interval: i.progress_interval,
        };
        drive_instance(&plan, handle, &ticks, cancel, i.progress).await
    };
    let mut r = ClientResult::from_outcome(&id, kind.as_str(), started_at, &outcome)?;
    let report = ex.report()?;
    r.histograms.extend(report.histograms);
    r.operations = report.operations;
    r.bytes_read = report.bytes_read;
    r.bytes_written = report.bytes_written;
    r.data_loss = Some(report.data_loss);
    r.setup = setup;
    Ok(r)
}
