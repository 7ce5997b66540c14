//! Faults on the real Slurm cluster of scripts/setup-slurm.sh, each ending
//! in a defined phase and reason with no job left behind: the service job
//! cancelled mid-run, a time limit exceeded (TIMEOUT), an unknown
//! partition, Ctrl-C, and the driver killed and restarted mid-run. These
//! tests FAIL when Slurm is not up.

mod common;
mod slurm_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::component;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use slurm_support::*;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits until `n` jobs of the run are RUNNING.
fn wait_running_jobs(prefix: &str, n: usize) {
    let start = Instant::now();
    loop {
        let running = jobs(prefix)
            .into_iter()
            .filter(|j| j.state == "RUNNING")
            .count();
        if running == n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{n} jobs never ran: {:?}",
            jobs(prefix)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// recipes/slurm-local.yaml with clients that never give up on errors (so
/// the service's end, not the clients' error policy, decides the verdict),
/// written into `dir`.
fn patient_recipe(dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/recipes/slurm-local.yaml"
    ))
    .unwrap();
    assert!(text.contains("maxConsecutive: 10"));
    let path = dir.join("slurm-local-patient.yaml");
    std::fs::write(
        &path,
        text.replace("maxConsecutive: 10", "maxConsecutive: 0"),
    )
    .unwrap();
    path.display().to_string()
}

fn phase_is(s: &serde_json::Value, p: &str) -> bool {
    s["phase"] == p
}

#[test]
fn unknown_partition_is_a_clear_submission_error() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ws = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(ws.path().to_path_buf());
    let out = run_cmd(ws.path(), "recipes/slurm-local.yaml", "cli")
        .env("AIFB_SLURM_PARTITION", "no-such-partition")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let dir = results_dir(ws.path());
    let s = status(&dir);
    assert_eq!(s["phase"], "Failed", "{s:#}");
    let (reason, message) = verdict(&s);
    assert_eq!(reason, "LaunchFailed", "{s:#}");
    assert!(message.contains("Invalid partition"), "{message}");
    assert!(jobs(&job_prefix(&dir)).is_empty(), "nothing was submitted");
}

#[test]
fn service_job_cancelled_mid_run_fails_the_benchmark() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ws = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(ws.path().to_path_buf());
    // Clients that never give up: the service's end decides the verdict.
    let recipe_dir = tempfile::tempdir().unwrap();
    let recipe = patient_recipe(recipe_dir.path());
    let mut driver = KillOnDrop(
        run_cmd(ws.path(), &recipe, "cli")
            .env("AIFB_CLIENT_DURATION", "60s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (dir, s) = wait_status(ws.path(), Duration::from_secs(60), |s| {
        phase_is(s, "Running")
    });
    let sim_job = component(&s, "sim")["jobId"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        std::process::Command::new("scancel")
            .arg(&sim_job)
            .status()
            .unwrap()
            .success()
    );
    let code = driver.0.wait().unwrap();
    assert_eq!(code.code(), Some(1));
    let s = status(&dir);
    assert_eq!(s["phase"], "Failed", "{s:#}");
    let (reason, _) = verdict(&s);
    assert_eq!(reason, "ServiceExited", "{s:#}");
    let sim = component(&s, "sim");
    assert!(
        sim["message"].as_str().unwrap().contains("CANCELLED"),
        "{sim:#}"
    );
    let left = wait_no_active(&job_prefix(&dir), Duration::from_secs(15));
    assert!(left.is_empty(), "jobs left behind: {left:?}");
}

#[test]
fn time_limit_exceeded_is_timeout() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ws = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(ws.path().to_path_buf());
    let start = Instant::now();
    // Slurm's smallest time limit is one minute, checked about every 30s.
    let recipe_dir = tempfile::tempdir().unwrap();
    let recipe = patient_recipe(recipe_dir.path());
    let out = run_cmd(ws.path(), &recipe, "cli")
        .env("AIFB_SIM_TIME_LIMIT", "1m")
        .env("AIFB_CLIENT_DURATION", "150s")
        .output()
        .unwrap();
    eprintln!(
        "TIMEOUT reached after {:.0}s",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let dir = results_dir(ws.path());
    let s = status(&dir);
    assert_eq!(s["phase"], "Failed", "{s:#}");
    assert_eq!(verdict(&s).0, "ServiceExited", "{s:#}");
    let sim = component(&s, "sim");
    assert!(
        sim["message"].as_str().unwrap().contains("slurm TIMEOUT"),
        "{sim:#}"
    );
    // The clients were stopped and still wrote partial results.
    assert!(dir.join("clients/chat-1.json").is_file());
    let left = wait_no_active(&job_prefix(&dir), Duration::from_secs(15));
    assert!(left.is_empty(), "jobs left behind: {left:?}");
}

#[test]
fn ctrl_c_cancels_every_job() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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
        phase_is(s, "Running")
    });
    wait_running_jobs(&job_prefix(&dir), 3);
    kill(Pid::from_raw(driver.0.id() as i32), Signal::SIGINT).unwrap();
    let code = driver.0.wait().unwrap();
    assert_eq!(code.code(), Some(130));
    let s = status(&dir);
    assert_eq!(s["phase"], "Cancelled", "{s:#}");
    let left = wait_no_active(&job_prefix(&dir), Duration::from_secs(15));
    assert!(left.is_empty(), "jobs left behind: {left:?}");
}

#[test]
fn killed_driver_resumes_with_the_same_jobs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ws = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(ws.path().to_path_buf());
    let mut driver = KillOnDrop(
        run_cmd(ws.path(), "recipes/slurm-local.yaml", "cli")
            .env("AIFB_CLIENT_DURATION", "15s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (dir, _) = wait_status(ws.path(), Duration::from_secs(60), |s| {
        phase_is(s, "Running")
    });
    wait_running_jobs(&job_prefix(&dir), 3);
    let prefix = job_prefix(&dir);
    let before = active_jobs(&prefix);
    assert_eq!(before.len(), 3, "{before:?}");
    // The driver dies without any chance to clean up.
    driver.0.kill().unwrap();
    driver.0.wait().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(active_jobs(&prefix).len(), 3, "the jobs outlive the driver");
    let start = Instant::now();
    let out = run_cmd(ws.path(), "recipes/slurm-local.yaml", "cli")
        .env("AIFB_CLIENT_DURATION", "15s")
        .arg("--resume")
        .arg(&dir)
        .output()
        .unwrap();
    eprintln!(
        "resumed run finished after {:.1}s",
        start.elapsed().as_secs_f64()
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let s = status(&dir);
    assert_eq!(s["phase"], "Succeeded", "{s:#}");
    // Same job ids, nothing submitted twice.
    let mut ids_before: Vec<String> = before.iter().map(|j| j.id.clone()).collect();
    let mut ids_after: Vec<String> = jobs(&prefix).into_iter().map(|j| j.id).collect();
    ids_before.sort();
    ids_after.sort();
    assert_eq!(ids_before, ids_after, "no duplicate jobs");
    for id in ["sim", "chat-1", "chat-2"] {
        let c = component(&s, id);
        let job = c["jobId"].as_str().unwrap();
        assert!(
            ids_before.iter().any(|i| i == job),
            "{id}: {job} not one of {ids_before:?}"
        );
    }
    assert!(dir.join("summary.json").is_file());
    let left = wait_no_active(&prefix, Duration::from_secs(15));
    assert!(left.is_empty(), "jobs left behind: {left:?}");
}
