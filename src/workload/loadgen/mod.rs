//! The `aifbench loadgen` entry point: runs one load-generator instance,
//! reports progress as JSON lines and writes its result file.
//!
//! - [`config`]: what an instance is told to do ([`LoadgenConfig`]);
//! - [`args`]: the command line ([`LoadgenArgs`]) over a configuration file;
//! - [`progress`]: the JSON lines on stdout and driving a plan with them;
//! - [`request_log`]: the per-request file (`--requests`);
//! - [`atomic_write`]: result files written whole or not at all;
//! - [`upload`]: the result put into S3 (`--upload-url`);
//! - here: [`run`] (one instance, any workload; first its calibration,
//!   `super::calibration`, when configured) and [`run_cli`].

pub mod args;
pub mod atomic_write;
pub mod config;
pub mod progress;
pub mod request_log;
#[cfg(test)]
pub(crate) mod testing;
pub mod upload;

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use self::args::{LOADGEN_AFTER_HELP, LoadgenArgs};
pub use self::atomic_write::write_atomic;
pub use self::config::{LoadgenConfig, load_config};
pub use self::progress::ProgressEvent;
use self::progress::print_line;
pub use self::request_log::RequestLog;
pub use self::upload::{UploadTarget, upload_result};
use super::WorkloadError;
use super::calibration::flag;
use super::calibration_run::calibrate;
use super::registry::find;
use super::result::{ClientResult, merge};
use super::runner::Instance;

/// Exit status of `aifbench loadgen` when the run completed (or was stopped
/// by a signal and wrote its result).
pub const EXIT_COMPLETED: i32 = 0;
/// Exit status when the run could not start or report.
pub const EXIT_ERROR: i32 = 1;
/// Exit status when the error policy aborted the run (result still written).
pub const EXIT_ABORTED: i32 = 3;

/// How a run ended, for the exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadgenExit {
    /// Ran to a stop condition or was cancelled; exit status 0.
    Completed,
    /// The error policy aborted it, for this reason; exit status 3.
    Aborted(String),
    /// The run completed and its result was written locally, but the
    /// upload (`--upload-url`) failed, for this reason; exit status 1.
    UploadFailed(String),
}

impl LoadgenExit {
    /// The process exit status: [`EXIT_COMPLETED`], [`EXIT_ABORTED`] or
    /// [`EXIT_ERROR`].
    pub fn code(&self) -> i32 {
        match self {
            Self::Completed => EXIT_COMPLETED,
            Self::Aborted(_) => EXIT_ABORTED,
            Self::UploadFailed(_) => EXIT_ERROR,
        }
    }
}

/// Runs one instance of any workload: checks `config`, looks its workload
/// type up in the [registry](crate::workload::registry), runs it (progress
/// every `progress_interval`, 0: never), writes the result to `output`
/// (atomically), reports [`ProgressEvent::Done`] and returns the result.
/// Cancelling `cancel` stops the run gracefully; the result is still written.
pub async fn run(
    config: LoadgenConfig,
    output: Option<&Path>,
    requests_log: Option<&Path>,
    progress_interval: Duration,
    cancel: CancellationToken,
    mut progress: impl FnMut(&ProgressEvent) + Send,
) -> Result<ClientResult, WorkloadError> {
    let kind = config.workload.kind;
    let workload = find(kind).ok_or_else(|| WorkloadError::NotImplemented {
        kind: kind.to_string(),
    })?;
    if config.id.is_empty() {
        return Err(WorkloadError::InvalidConfig("id must not be empty".into()));
    }
    if config.base_url.is_empty() {
        return Err(WorkloadError::InvalidConfig(
            "baseUrl is required (--url or baseUrl in the configuration file)".into(),
        ));
    }
    tracing::info!(id = %config.id, base_url = %config.base_url, workload = %kind, "loadgen starting");
    let calibration = match &config.calibration {
        Some(c) if c.enabled => match calibrate(&config, c.duration.0, &cancel).await {
            Ok(cal) => Some(cal),
            Err(e) => {
                tracing::warn!(id = %config.id, error = %e, "client calibration failed; measuring without it");
                None
            }
        },
        _ => None,
    };
    let mut result = workload
        .run(Instance {
            config: &config,
            requests_log,
            progress_interval,
            cancel: &cancel,
            progress: &mut progress,
        })
        .await?;
    if let Some(mut cal) = calibration {
        let measured = merge(std::slice::from_ref(&result))?;
        cal.flagged = flag(cal.ttft_overhead_p99_ms, measured.latency.get("ttft"));
        if let Some(why) = &cal.flagged {
            tracing::warn!(id = %result.id, "{why}");
        }
        result.calibration = Some(cal);
    }
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

/// `aifbench loadgen`: builds the configuration from `args`, runs it printing
/// progress JSON lines on stdout, writes `--output`, and prints a summary
/// line when there is no `--output`.
pub async fn run_cli(
    args: LoadgenArgs,
    cancel: CancellationToken,
) -> Result<LoadgenExit, WorkloadError> {
    let config = args.to_config()?;
    let upload = config.upload.clone();
    let result = run(
        config,
        args.output.as_deref(),
        args.requests.as_deref(),
        args.progress_interval,
        cancel,
        print_line,
    )
    .await?;
    if args.output.is_none() {
        print_line(&merge(std::slice::from_ref(&result))?);
    }
    if let Some(path) = &args.summary_file {
        let headline = crate::workload::headline::headline(&merge(std::slice::from_ref(&result))?);
        let bytes = serde_json::to_vec(&headline).map_err(|e| WorkloadError::ConfigFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, bytes).map_err(|source| WorkloadError::Write {
            path: path.clone(),
            source,
        })?;
    }
    // Last, so the local result and the termination message exist even when
    // the upload fails or is slow.
    let mut upload_failed = None;
    if let Some(target) = &upload {
        let env = |k: &str| std::env::var(k).ok();
        match upload_result(target, &result, &env).await {
            Ok(url) => tracing::info!(id = %result.id, url = %url, "result uploaded"),
            Err(e) => {
                tracing::error!(id = %result.id, url = %target.url, error = %e, "cannot upload the result");
                upload_failed = Some(e.to_string());
            }
        }
    }
    Ok(match (result.aborted, upload_failed) {
        (Some(reason), _) => LoadgenExit::Aborted(reason),
        (None, Some(reason)) => LoadgenExit::UploadFailed(reason),
        (None, None) => LoadgenExit::Completed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::workload::{OpenAiWorkload, WorkloadType};
    use crate::workload::loadgen::testing::{config, parse, run_collect};
    use crate::workload::testserver::{Behavior, TestServer};

    #[tokio::test]
    async fn consecutive_errors_abort_with_exit_3() {
        let server = TestServer::start(Behavior {
            status: 503,
            ..Behavior::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.json");
        let cfg_path = dir.path().join("c.json");
        let mut c = config(&server.url, 100, 2);
        c.errors.max_consecutive = 4;
        c.workload.openai = Some(OpenAiWorkload {
            model: Some("m".into()),
            ..Default::default()
        });
        std::fs::write(&cfg_path, serde_json::to_vec(&c).unwrap()).unwrap();
        let args = parse(&[
            "--config",
            &cfg_path.to_string_lossy(),
            "--output",
            &out.to_string_lossy(),
            "--progress-interval",
            "0",
        ])
        .unwrap();
        let exit = run_cli(args, CancellationToken::new()).await.unwrap();
        let LoadgenExit::Aborted(reason) = &exit else {
            panic!("expected an abort, got {exit:?}");
        };
        assert!(reason.contains("http_503"), "{reason}");
        assert_eq!(exit.code(), 3);
        let r: ClientResult = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert!(r.aborted.is_some());
        assert!(r.errors >= 4);
        assert!(server.hits() < 10);
    }

    #[tokio::test]
    async fn storage_workloads_are_dispatched() {
        let mut c = config("http://127.0.0.1:9", 1, 1);
        c.workload.kind = WorkloadType::S3;
        c.workload.s3 = Some(crate::api::workload::S3Workload {
            credentials_file: Some("/nonexistent/credentials.env".into()),
            ..Default::default()
        });
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let e = r.unwrap_err().to_string();
        assert!(e.contains("/nonexistent/credentials.env"), "{e}");
    }
}
