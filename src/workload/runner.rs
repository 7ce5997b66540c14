//! The [`Workload`] trait: how one workload type runs one instance of
//! `aifbench loadgen`, and the [`Instance`] the entry point hands it. Each
//! workload implements it in its own file; [`super::registry`] lists them.

use std::path::Path;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::WorkloadError;
use super::loadgen::config::LoadgenConfig;
use super::loadgen::progress::ProgressEvent;
use super::result::ClientResult;
use crate::api::workload::WorkloadType;

/// One instance to run, as the loadgen entry point hands it over.
pub struct Instance<'a> {
    /// The configuration (`id` and `baseUrl` already checked non-empty).
    pub config: &'a LoadgenConfig,
    /// The per-request file (`--requests`), for workloads that write one.
    pub requests_log: Option<&'a Path>,
    /// Interval of progress lines; zero: none.
    pub progress_interval: Duration,
    /// Cancelled on SIGTERM or SIGINT: stop gracefully, still return a result.
    pub cancel: &'a CancellationToken,
    /// Takes the progress lines (the entry point reports `done` itself).
    pub progress: &'a mut (dyn FnMut(&ProgressEvent) + Send),
}

/// How one workload type runs an instance.
pub trait Workload: Sync {
    /// The type it runs (`workload.type` of a client).
    fn kind(&self) -> WorkloadType;

    /// Whether `run` skips the stages past saturation when
    /// `load.stopAtSaturation` is set; must equal
    /// [`WorkloadType::stops_at_saturation`], which validation reads.
    fn stops_at_saturation(&self) -> bool {
        false
    }

    /// Prepares the server side, drives the load and returns the result;
    /// the entry point writes it to `--output` and reports `done`.
    fn run<'a>(
        &'a self,
        instance: Instance<'a>,
    ) -> BoxFuture<'a, Result<ClientResult, WorkloadError>>;
}
