//! The calibration run: before its measured load an instance with
//! `calibration` runs the same workload for a short while against an
//! in-process simulator whose timing is known (first token after
//! [`KNOWN_TTFT`], then one every [`KNOWN_ITL`], no jitter), at the
//! configured concurrency. What it measures beyond those values is the
//! client's own overhead (HTTP, parsing, scheduling, timer wake-ups on this
//! machine); its CPU time against wall time over the same window is its
//! CPU headroom. What it yields and how a run is flagged:
//! [`super::calibration`].
//!
//! Pure but for [`calibrate`] (a simulator on its own thread, and a run)
//! and [`cpu_seconds`] (`/proc/self/stat`).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::WorkloadError;
use super::calibration::{Calibration, KNOWN_ITL, KNOWN_TTFT, WARMUP};
use super::client_result::ClientResult;
use super::loadgen::config::LoadgenConfig;
use super::registry::find;
use super::result::merge;
use super::runner::Instance;

/// Clock ticks per second of `/proc/self/stat` (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// Overheads from a calibration run's result and its CPU use.
pub fn from_result(
    r: &ClientResult,
    concurrency: u32,
    cpu_s: f64,
    wall_s: f64,
    cpus: usize,
) -> Result<Calibration, WorkloadError> {
    let s = merge(std::slice::from_ref(r))?;
    let known_ttft_ms = KNOWN_TTFT.as_secs_f64() * 1e3;
    let known_itl_ms = KNOWN_ITL.as_secs_f64() * 1e3;
    let ttft = s.latency.get("ttft");
    let itl = s.latency.get("itl").filter(|l| l.count > 0);
    let cores = if wall_s > 0.0 { cpu_s / wall_s } else { 0.0 };
    Ok(Calibration {
        duration_s: r.duration_s,
        concurrency,
        requests: r.requests,
        known_ttft_ms,
        known_itl_ms,
        ttft_overhead_mean_ms: ttft.map_or(0.0, |t| t.mean_ms - known_ttft_ms),
        ttft_overhead_p99_ms: ttft.map_or(0.0, |t| t.p99_ms - known_ttft_ms),
        itl_overhead_mean_ms: itl.map(|l| l.mean_ms - known_itl_ms),
        itl_overhead_p99_ms: itl.map(|l| l.p99_ms - known_itl_ms),
        cpu_cores_used: cores,
        cpus,
        cpu_headroom: (1.0 - cores / cpus.max(1) as f64).clamp(0.0, 1.0),
        flagged: None,
    })
}

/// This process's CPU time so far (user + system), seconds.
pub fn cpu_seconds() -> Option<f64> {
    parse_proc_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// utime + stime of a `/proc/<pid>/stat` line, seconds.
fn parse_proc_stat(stat: &str) -> Option<f64> {
    // The command name may hold spaces and parentheses: fields count from
    // the last ')'. After it: state(3) ... utime(14) stime(15).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// The configuration of the calibration run: the same workload (the model
/// the simulator serves), at the configured concurrency (a sweep: its last
/// stage), for `duration` after [`WARMUP`], without a request cap, log or
/// upload.
pub fn calibration_config(
    config: &LoadgenConfig,
    base_url: String,
    duration: Duration,
) -> LoadgenConfig {
    let mut load = config.load.clone();
    if let Some(last) = load.stages.last() {
        load.concurrency = last.concurrency.or(load.concurrency);
        load.rate = last.rate.or(load.rate);
    }
    load.stages.clear();
    load.stop_at_saturation = false;
    load.duration = Some(duration.into());
    load.warmup = Some(WARMUP.into());
    load.max_requests = None;
    load.ramp_up = None;
    LoadgenConfig {
        id: format!("{}-calibration", config.id),
        base_url,
        workload: config.workload.clone(),
        load,
        errors: config.errors.clone(),
        upload: None,
        calibration: None,
    }
}

type SimThread = std::thread::JoinHandle<Result<(), crate::sim::SimError>>;

/// The simulator on its own thread and runtime (so it does not compete with
/// the client's runtime thread, `loadgen --threads 1`): its address, its
/// stop token and the thread.
fn start_simulator(
    sim: crate::sim::SimConfig,
) -> Result<(std::net::SocketAddr, CancellationToken, SimThread), WorkloadError> {
    let fail = |e: std::io::Error| WorkloadError::InvalidConfig(format!("calibration: {e}"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(fail)?;
    listener.set_nonblocking(true).map_err(fail)?;
    let addr = listener.local_addr().map_err(fail)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(fail)?;
    let stop = CancellationToken::new();
    let server_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name("calibration-sim".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .map_err(|e| crate::sim::SimError::InvalidConfig(e.to_string()))?;
                crate::sim::serve(listener, sim, async move {
                    server_stop.cancelled().await;
                })
                .await
            })
        })
        .map_err(fail)?;
    Ok((addr, stop, thread))
}

/// Runs the calibration of `config` (its `calibration` set): an in-process
/// simulator on loopback, the workload against it, the overheads and CPU
/// headroom measured.
pub async fn calibrate(
    config: &LoadgenConfig,
    duration: Duration,
    cancel: &CancellationToken,
) -> Result<Calibration, WorkloadError> {
    let workload = find(config.workload.kind).ok_or_else(|| WorkloadError::NotImplemented {
        kind: config.workload.kind.to_string(),
    })?;
    let model = config
        .workload
        .openai
        .as_ref()
        .and_then(|o| o.model.clone())
        .unwrap_or_else(|| crate::sim::SimConfig::default().model);
    let sim = crate::sim::SimConfig {
        model,
        ttft: KNOWN_TTFT,
        itl: KNOWN_ITL,
        jitter: 0.0,
        max_concurrency: 0,
        ..crate::sim::SimConfig::default()
    };
    let (addr, stop, server) = start_simulator(sim)?;
    let cal_config = calibration_config(config, format!("http://{addr}"), duration);
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let mut quiet = |_: &super::loadgen::progress::ProgressEvent| {};
    let run = workload
        .run(Instance {
            config: &cal_config,
            requests_log: None,
            progress_interval: Duration::ZERO,
            cancel: &cancel.child_token(),
            progress: &mut quiet,
        })
        .await;
    let (cpu1, wall_s) = (cpu_seconds(), wall0.elapsed().as_secs_f64());
    stop.cancel();
    match tokio::task::spawn_blocking(move || server.join()).await {
        Ok(Ok(Ok(()))) => {}
        other => {
            tracing::debug!(outcome = ?other.map(|j| j.map_err(|_| "panicked")), "calibration simulator did not stop cleanly")
        }
    }
    let r = run?;
    let cpu_s = cpu0.zip(cpu1).map_or(0.0, |(a, b)| b - a);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let cal = from_result(
        &r,
        cal_config.load.effective_concurrency(),
        cpu_s,
        wall_s,
        cpus,
    )?;
    tracing::info!(
        id = %config.id,
        requests = cal.requests,
        ttft_overhead_mean_ms = cal.ttft_overhead_mean_ms,
        ttft_overhead_p99_ms = cal.ttft_overhead_p99_ms,
        itl_overhead_p99_ms = ?cal.itl_overhead_p99_ms,
        cpu_headroom = cal.cpu_headroom,
        "client calibration"
    );
    Ok(cal)
}

#[cfg(test)]
#[path = "calibration_run_tests.rs"]
mod tests;
