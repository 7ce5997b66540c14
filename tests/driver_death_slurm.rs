//! `aifbench cancel DIR` on the real Slurm cluster of
//! scripts/setup-slurm.sh: the driver of recipes/slurm-local.yaml is
//! SIGKILLed mid-run, its jobs outlive it, and cancel ends them (found by
//! the run's job-name prefix) and marks the run Cancelled. FAILS when
//! Slurm is not up.

mod common;
mod slurm_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use slurm_support::*;

#[test]
fn cancel_ends_the_jobs_of_a_sigkilled_driver() {
    let ws = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(ws.path().to_path_buf());
    let mut driver = KillOnDrop(
        run_cmd(ws.path(), "recipes/slurm-local.yaml", "cli")
            .env("AIFB_CLIENT_DURATION", "60s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (dir, _) = wait_status(ws.path(), Duration::from_secs(60), |s| {
        s["phase"] == "Running"
    });
    let prefix = job_prefix(&dir);
    driver.0.kill().unwrap();
    driver.0.wait().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let before = active_jobs(&prefix);
    assert!(!before.is_empty(), "the jobs outlive the driver");

    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .arg("cancel")
        .arg(&dir)
        .envs(slurm_env())
        .env("AIFB_SLURM_TRANSPORT", "cli")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for j in &before {
        assert!(
            stdout.contains(&format!("cancelled slurm job {}", j.id)),
            "{stdout}"
        );
    }
    let left = wait_no_active(&prefix, Duration::from_secs(30));
    assert!(left.is_empty(), "jobs left behind: {left:?}");
    let s = status(&dir);
    assert_eq!(s["phase"], "Cancelled", "{s:#}");
}
