//! The commands a benchmark's components run: `aifbench sim` (the simulated
//! inference server), `aifbench loadgen` (one client instance) and
//! `aifbench scrape` (a monitor), `aifbench gpu-exporter` (nvidia-smi as
//! DCGM series) — each with its console log level and, for
//! loadgen, its exit codes (0 completed, 3 aborted by the error policy,
//! 1 anything else).

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::workload::loadgen::{LoadgenArgs, LoadgenExit, run_cli};

use super::signals::spawn_signal_handler;

pub async fn sim(args: crate::sim::SimArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init("info", false, &[], None);
    crate::sim::run(args).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn gpu_exporter(
    args: crate::monitor::gpu_exporter::GpuExporterArgs,
) -> anyhow::Result<ExitCode> {
    crate::logging::init("info", false, &[], None);
    crate::monitor::gpu_exporter::run(args).await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGINT/SIGTERM stop the load; the result is still written.
pub async fn loadgen(args: LoadgenArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init("warn", false, &[], None);
    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone(), CancellationToken::new());
    match run_cli(args, cancel).await? {
        LoadgenExit::Completed => Ok(ExitCode::SUCCESS),
        LoadgenExit::Aborted(reason) => {
            eprintln!("aborted by the error policy: {reason}");
            Ok(ExitCode::from(crate::engine::EXIT_ERROR_POLICY as u8))
        }
        LoadgenExit::UploadFailed(reason) => {
            eprintln!("the result was written but not uploaded: {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub async fn scrape(args: crate::monitor::ScrapeArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init("warn", false, &[], None);
    crate::monitor::run_cli(args).await?;
    Ok(ExitCode::SUCCESS)
}
