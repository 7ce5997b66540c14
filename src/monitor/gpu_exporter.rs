//! `aifbench gpu-exporter`: a tiny DCGM-compatible exporter over
//! `nvidia-smi`, for sites without dcgm-exporter. It runs next to the
//! service (started by the service's own command, so it lands in the same
//! Slurm allocation or pod), keeps `nvidia-smi --query-gpu=... -lms N`
//! running, and serves the latest readings on `GET /metrics` under
//! dcgm-exporter's names ([`super::nvidia_smi`]). A monitor scrapes it like
//! any exporter (a second port of the service, `monitors[].port`), so its
//! data comes back through the monitor's usual path and the report's GPU
//! summary reads it as it reads DCGM.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;

use super::error::MonitorError;
use super::nvidia_smi::{QUERY, Readings, parse_line};
use crate::api::duration::parse_duration;

/// Command-line flags of `aifbench gpu-exporter`.
#[derive(clap::Args, Debug, Clone)]
pub struct GpuExporterArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub host: String,
    /// Port to serve /metrics on (dcgm-exporter's is 9400).
    #[arg(long, default_value_t = 9400)]
    pub port: u16,
    /// Time between nvidia-smi readings (its -lms).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// The nvidia-smi to run.
    #[arg(long, default_value = "nvidia-smi")]
    pub nvidia_smi: PathBuf,
}

type Shared = Arc<Mutex<Readings>>;

/// Runs the exporter until SIGTERM/SIGINT (nvidia-smi is killed with it).
pub async fn run(args: GpuExporterArgs) -> Result<(), MonitorError> {
    let ms = args.interval.as_millis().max(1);
    let readings: Shared = Arc::new(Mutex::new(Readings::default()));
    // nvidia-smi missing or ending (no GPU visible, a driver error) is
    // logged, never fatal: the exporter keeps serving what it read (maybe
    // nothing), so a run never fails because its telemetry did.
    match Command::new(&args.nvidia_smi)
        .arg(format!("--query-gpu={QUERY}"))
        .arg("--format=csv,noheader,nounits")
        .arg("-lms")
        .arg(ms.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(mut child) => {
            if let Some(stdout) = child.stdout.take() {
                let readings = readings.clone();
                tokio::spawn(async move {
                    read_lines(stdout, readings).await;
                    match child.wait().await {
                        Ok(status) => {
                            tracing::warn!(%status, "nvidia-smi ended; serving its last readings");
                        }
                        Err(error) => {
                            tracing::warn!(%error, "nvidia-smi ended; serving its last readings");
                        }
                    }
                });
            }
        }
        Err(error) => tracing::warn!(
            %error,
            nvidia_smi = %args.nvidia_smi.display(),
            "cannot run nvidia-smi; serving no GPU series"
        ),
    }
    let hostname = crate::results::hostname().unwrap_or_else(|| "localhost".to_string());
    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| {
            MonitorError::Config(format!("cannot listen on {}:{}: {e}", args.host, args.port))
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| MonitorError::Config(e.to_string()))?;
    tracing::info!(%address, interval_ms = ms as u64, "gpu-exporter listening");
    let app = Router::new()
        .route(
            "/metrics",
            get(|State((r, host)): State<(Shared, String)>| async move {
                let text = r
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .render(&host);
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    text,
                )
                    .into_response()
            }),
        )
        .route("/health", get(|| async { "ok" }))
        .with_state((readings.clone(), hostname));
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| MonitorError::Config(format!("cannot handle SIGTERM: {e}")))?;
    let stop = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "gpu-exporter stops"),
            _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "gpu-exporter stops"),
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| MonitorError::Config(format!("serving failed: {e}")))
}

/// Reads nvidia-smi's lines into `readings` until its output ends; a line
/// that does not parse is logged and skipped.
async fn read_lines(stdout: tokio::process::ChildStdout, readings: Shared) {
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) if line.trim().is_empty() => {}
            Ok(Some(line)) => match parse_line(&line) {
                Ok(r) => {
                    let now = jiff::Timestamp::now().as_millisecond();
                    readings
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record(r, now);
                }
                Err(error) => tracing::warn!(%error, "unreadable nvidia-smi line"),
            },
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot read nvidia-smi's output");
                return;
            }
        }
    }
}
