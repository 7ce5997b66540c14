//! `aifbench cancel DIR`: ends a run from its results folder when its
//! driver is gone — the process groups recorded in run.json (see
//! `local::reap`), the run's Slurm jobs (by name, through the Slurm
//! backend of the same transport flags as `aifbench run`) — marks
//! status.yaml Cancelled and prints what it ended. A run of `aifbench
//! submit` (its folder holds submit.json) is one allocation: cancelling its
//! job (`scancel`, or slurmrestd's DELETE for a run submitted through it)
//! ends the driver inside it, the services and the clients together.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::api::spec::Benchmark;
use crate::api::status::{BenchmarkStatus, Phase, condition, reason};
use crate::backend::Backends;
use crate::local::reap::{self, ReapError};
use crate::results::ResultsDir;

use crate::backend::slurm::{Transport, TransportConfig};

use super::console;
use super::slurm_args::SlurmArgs;
use super::submit::SUBMIT_JSON;

/// Flags of `aifbench cancel`.
#[derive(clap::Args, Debug)]
pub struct CancelArgs {
    /// The run's results folder (printed as `results: DIR` by `aifbench
    /// run`).
    pub dir: PathBuf,
    /// Cancel even though the run's driver still runs.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub slurm: SlurmArgs,
}

/// The condition message of a run cancelled this way.
const MESSAGE: &str = "cancelled from its results folder (`aifbench cancel`)";

/// Exit code: 0 done, 1 something could not be ended, 2 refused.
pub async fn cancel(args: CancelArgs) -> anyhow::Result<ExitCode> {
    let root = std::path::absolute(&args.dir)?;
    if root.join(SUBMIT_JSON).is_file() {
        return cancel_submitted(&root, &args).await;
    }
    let Some(b) = read_benchmark(&root) else {
        console::err(&format!(
            "error: {} is not a results folder (no readable benchmark.yaml)\n",
            root.display()
        ));
        return Ok(ExitCode::from(2));
    };
    let dir = ResultsDir::open(&root);
    let mut out = String::new();
    let mut failed = false;
    match reap::reap(&dir, args.force).await {
        Ok(ended) => {
            for e in &ended {
                let how = if e.killed {
                    "SIGKILL after the grace period"
                } else {
                    "SIGTERM"
                };
                out.push_str(&format!(
                    "ended {} (process group {}: {} process(es), {how})\n",
                    e.id,
                    e.pgid,
                    e.pids.len()
                ));
            }
        }
        Err(e @ ReapError::DriverAlive(_)) => {
            console::err(&format!(
                "error: {e}; `aifbench cancel --force` cancels anyway\n"
            ));
            return Ok(ExitCode::from(2));
        }
        Err(e) => {
            out.push_str(&format!("cannot read what the run launched: {e}\n"));
            failed = true;
        }
    }
    let run = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let executors = crate::engine::plan_components(&b.spec)
        .into_iter()
        .filter_map(|p| p.executor);
    // A registry built for this run: its Slurm backend (when the run has
    // Slurm components) finds the run's jobs by name; a fresh process
    // backend has nothing to end.
    let backends = Backends::for_local_run(
        executors,
        &args.slurm.config()?,
        &run,
        root.join("slurm_logs"),
    )?;
    for backend in backends.all() {
        match backend.cleanup().await {
            Ok(ids) => {
                for id in ids {
                    out.push_str(&format!("cancelled {} job {id}\n", backend.name()));
                }
            }
            Err(e) => {
                out.push_str(&format!("cannot cancel the {} jobs: {e}\n", backend.name()));
                failed = true;
            }
        }
    }
    out.push_str(&mark_folder(&dir)?);
    if out.lines().count() == 1 {
        out.insert_str(0, "nothing of this run was running\n");
    }
    console::out(&out);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Cancels the one job of a run of `aifbench submit` (`scancel` here or
/// over ssh, or slurmrestd's `DELETE` for a run submitted through it: the
/// driver inside gets SIGTERM and Slurm's KillWait to write what it has;
/// a heterogeneous job is cancelled whole through its leader), then marks
/// the folder.
async fn cancel_submitted(root: &Path, args: &CancelArgs) -> anyhow::Result<ExitCode> {
    let path = root.join(SUBMIT_JSON);
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let Some(job) = record["jobId"].as_str().filter(|j| !j.is_empty()) else {
        console::err(&format!(
            "error: {} names no jobId; cancel the job with scancel\n",
            path.display()
        ));
        return Ok(ExitCode::from(2));
    };
    let config = args.slurm.config()?;
    if record["transport"] == "rest" && !matches!(config.transport, TransportConfig::Rest(_)) {
        console::err(&format!(
            "error: {} was submitted through slurmrestd: cancel it through it too (--slurm-transport rest with --slurm-rest-url and the JWT, or the AIFB_SLURM_* variables, as for submit)\n",
            root.display()
        ));
        return Ok(ExitCode::from(2));
    }
    // scancel here or over ssh, or slurmrestd's DELETE of the job.
    let transport = Transport::new(&config.transport)?;
    let cancelled = transport.cancel(&[job.to_string()]).await;
    transport.close().await;
    let mut out = String::new();
    let failed = match cancelled {
        Ok(()) => {
            out.push_str(&format!(
                "cancelled slurm job {job} (the whole allocation: the driver, the services and the clients)\n"
            ));
            false
        }
        Err(e) => {
            out.push_str(&format!("cannot cancel slurm job {job}: {e}\n"));
            true
        }
    };
    out.push_str(&mark_folder(&ResultsDir::open(root))?);
    console::out(&out);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Marks the folder's status.yaml Cancelled unless the run had ended; the
/// line saying which.
fn mark_folder(dir: &ResultsDir) -> anyhow::Result<String> {
    let status_path = dir.status_yaml();
    let mut status: BenchmarkStatus = std::fs::read_to_string(&status_path)
        .ok()
        .and_then(|t| serde_norway::from_str(&t).ok())
        .unwrap_or_default();
    if mark_cancelled(&mut status, jiff::Timestamp::now()) {
        dir.write_yaml(&status_path, &status)?;
        Ok("status: Cancelled\n".to_string())
    } else {
        Ok(format!(
            "status: {} (the run had ended; left as it was)\n",
            status.phase.as_str()
        ))
    }
}

fn read_benchmark(root: &Path) -> Option<Benchmark> {
    let text = std::fs::read_to_string(root.join("benchmark.yaml")).ok()?;
    serde_norway::from_str(&text).ok()
}

/// Marks a run that had not ended as Cancelled from its folder; false
/// (unchanged) when it had already ended.
fn mark_cancelled(status: &mut BenchmarkStatus, now: jiff::Timestamp) -> bool {
    if status.phase.is_terminal() {
        return false;
    }
    status.phase = Phase::Cancelled;
    status.set_condition(condition::SUCCEEDED, false, reason::CANCELLED, MESSAGE, now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_only_a_run_that_had_not_ended() {
        let now = jiff::Timestamp::now();
        let mut s = BenchmarkStatus {
            phase: Phase::Running,
            ..Default::default()
        };
        assert!(mark_cancelled(&mut s, now));
        assert_eq!(s.phase, Phase::Cancelled);
        let c = s.condition(condition::SUCCEEDED).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
            ("False", reason::CANCELLED, MESSAGE)
        );
        let mut done = BenchmarkStatus {
            phase: Phase::Succeeded,
            ..Default::default()
        };
        assert!(!mark_cancelled(&mut done, now));
        assert_eq!(done.phase, Phase::Succeeded);
    }
}
