//! Test helpers shared by the loadgen tests and the workload runners' tests:
//! parsing `aifbench loadgen` flags, a small configuration, and a run that
//! collects its progress events.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use clap::{Args as _, FromArgMatches as _};
use tokio_util::sync::CancellationToken;

use super::{LoadgenArgs, LoadgenConfig, ProgressEvent, run};
use crate::api::workload::LoadSpec;
use crate::workload::WorkloadError;
use crate::workload::result::ClientResult;

/// Parses `aifbench loadgen` flags (without the binary name).
pub(crate) fn parse(args: &[&str]) -> Result<LoadgenArgs, clap::Error> {
    let cmd = LoadgenArgs::augment_args(clap::Command::new("loadgen").no_binary_name(true));
    let m = cmd.try_get_matches_from(args)?;
    LoadgenArgs::from_arg_matches(&m)
}

/// Instance `t` against `base_url`: `max_requests` requests, `concurrency` workers.
pub(crate) fn config(base_url: &str, max_requests: u64, concurrency: u32) -> LoadgenConfig {
    LoadgenConfig {
        id: "t".into(),
        base_url: base_url.into(),
        load: LoadSpec {
            concurrency: Some(concurrency),
            max_requests: Some(max_requests),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Runs `config` with progress every 50 ms; returns the result and the events.
pub(crate) async fn run_collect(
    config: LoadgenConfig,
    output: Option<&Path>,
    cancel: CancellationToken,
) -> (Result<ClientResult, WorkloadError>, Vec<ProgressEvent>) {
    let events = Mutex::new(Vec::new());
    let r = run(
        config,
        output,
        None,
        Duration::from_millis(50),
        cancel,
        |e| events.lock().unwrap().push(e.clone()),
    )
    .await;
    (r, events.into_inner().unwrap())
}
