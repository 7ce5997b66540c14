//! Shared helpers of the Slurm tests: the environment written by
//! scripts/setup-slurm.sh, job listings, and cleanup that cancels every job
//! of a test's runs even when the test fails.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Where scripts/setup-slurm.sh writes its settings.
pub const ENV_FILE: &str = "/var/tmp/aifbench-slurm/env";

/// The settings of the local cluster; fails the test (never skips) when
/// Slurm is not up.
pub fn slurm_env() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(ENV_FILE).unwrap_or_else(|e| {
        panic!("Slurm is not set up ({ENV_FILE}: {e}): run scripts/setup-slurm.sh (as root) before these tests")
    });
    let sinfo = Command::new("sinfo").args(["-h", "-o", "%T"]).output();
    match sinfo {
        Ok(o) if o.status.success() && !String::from_utf8_lossy(&o.stdout).trim().is_empty() => {}
        Ok(o) => panic!(
            "Slurm is not running (sinfo: {}): run scripts/setup-slurm.sh",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("Slurm is not installed (sinfo: {e}): run scripts/setup-slurm.sh"),
    }
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// `aifbench run RECIPE` with the cluster's settings and `transport`.
pub fn run_cmd(workspace: &Path, recipe: &str, transport: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aifbench"));
    c.args(["run", recipe, "--progress", "plain", "--workspace"])
        .arg(workspace)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(slurm_env())
        .env("AIFB_SLURM_TRANSPORT", transport);
    c
}

/// The only results folder in `workspace`.
pub fn results_dir(workspace: &Path) -> PathBuf {
    let mut dirs = run_dirs(workspace);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().expect("one")
}

/// Every results folder in `workspace`.
pub fn run_dirs(workspace: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(workspace)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// `aifb-<run>-`: the prefix of every job of the run in `dir`.
pub fn job_prefix(dir: &Path) -> String {
    let run = dir
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_lowercase();
    format!("aifb-{run}-")
}

/// A job seen in squeue.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: String,
    pub name: String,
    pub state: String,
}

/// Every job (all states) whose name starts with `prefix`.
pub fn jobs(prefix: &str) -> Vec<Job> {
    let out = Command::new("squeue")
        .args(["-h", "--states=all", "-o", "%i|%j|%T"])
        .output()
        .expect("squeue runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('|');
            Some(Job {
                id: f.next()?.trim().to_string(),
                name: f.next()?.trim().to_string(),
                state: f.next()?.trim().to_string(),
            })
        })
        .filter(|j| j.name.starts_with(prefix))
        .collect()
}

/// Jobs still pending or running.
pub fn active_jobs(prefix: &str) -> Vec<Job> {
    jobs(prefix)
        .into_iter()
        .filter(|j| {
            matches!(
                j.state.as_str(),
                "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING" | "SUSPENDED"
            )
        })
        .collect()
}

/// Waits (up to `timeout`) until no job of `prefix` is active.
pub fn wait_no_active(prefix: &str, timeout: Duration) -> Vec<Job> {
    let start = Instant::now();
    loop {
        let a = active_jobs(prefix);
        if a.is_empty() || start.elapsed() > timeout {
            return a;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Cancels every job of every run in a workspace when dropped (also when a
/// test panics).
pub struct Cleanup(pub PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for dir in run_dirs(&self.0) {
            cancel_active(&job_prefix(&dir));
        }
    }
}

/// Cancels every queued or running job whose name starts with `prefix`.
pub fn cancel_active(prefix: &str) {
    let ids: Vec<String> = active_jobs(prefix).into_iter().map(|j| j.id).collect();
    if !ids.is_empty() {
        eprintln!("cleanup: scancel {ids:?}");
        let _ = Command::new("scancel").args(&ids).status();
    }
}

/// status.yaml of a results folder, as JSON.
pub fn status(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("status.yaml")).expect("status.yaml");
    serde_norway::from_str(&text).expect("status parses")
}

/// The `Succeeded` condition's reason and message.
pub fn verdict(status: &serde_json::Value) -> (String, String) {
    let c = crate::common::condition(status, "Succeeded");
    (
        c["reason"].as_str().unwrap_or_default().to_string(),
        c["message"].as_str().unwrap_or_default().to_string(),
    )
}

pub fn output_text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Polls status.yaml of the single run in `workspace` until `pred` holds.
pub fn wait_status(
    workspace: &Path,
    timeout: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> (PathBuf, serde_json::Value) {
    let start = Instant::now();
    loop {
        if let Some(dir) = run_dirs(workspace).pop()
            && dir.join("status.yaml").is_file()
            && let Ok(text) = std::fs::read_to_string(dir.join("status.yaml"))
            && let Ok(s) = serde_norway::from_str::<serde_json::Value>(&text)
            && pred(&s)
        {
            return (dir, s);
        }
        assert!(
            start.elapsed() < timeout,
            "status condition not reached within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Kills (SIGKILL) a driver process when dropped, so a failing test leaves
/// no driver behind (its jobs are cancelled by [`Cleanup`]).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Asserts that component `id` of status `s` ran as a step of allocation
/// `job` (its jobId `<job>.<n>`, its backend `slurm-step` in `run`, the
/// run.json); returns the step id.
pub fn assert_step_of(
    s: &serde_json::Value,
    run: &serde_json::Value,
    job: &str,
    id: &str,
) -> String {
    let c = s["components"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no component {id} in {s:#}"));
    let step = c["jobId"].as_str().unwrap_or_default();
    let (parent, n) = step
        .split_once('.')
        .unwrap_or_else(|| panic!("{id}: {step:?} is not a step ({c:#})"));
    assert_eq!(parent, job, "{c:#}");
    assert!(n.parse::<u32>().is_ok(), "{c:#}");
    assert_eq!(run["components"][id]["backend"], "slurm-step", "{run:#}");
    step.to_string()
}

/// The job id of `aifbench submit`'s output (`submitted: slurm job N`).
pub fn submitted_job_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("submitted: slurm job "))
        .unwrap_or_else(|| panic!("no job id in {stdout}"))
        .trim()
        .to_string()
}

/// `squeue --steps` of a job: `(step id, name)`.
pub fn job_steps(job: &str) -> Vec<(String, String)> {
    let out = Command::new("squeue")
        .args(["-h", "--steps", "--jobs", job, "-o", "%i|%j"])
        .output()
        .expect("squeue runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(i, n)| (i.trim().to_string(), n.trim().to_string()))
        .collect()
}

/// Polls status.yaml of `dir` until its phase is terminal (Succeeded,
/// Failed, Cancelled), calling `each` on every look; fails the test with
/// the driver's log of job `job` after `timeout`.
pub fn wait_terminal(
    dir: &Path,
    job: &str,
    timeout: Duration,
    mut each: impl FnMut(),
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        each();
        if let Ok(text) = std::fs::read_to_string(dir.join("status.yaml"))
            && let Ok(s) = serde_norway::from_str::<serde_json::Value>(&text)
            && matches!(
                s["phase"].as_str(),
                Some("Succeeded" | "Failed" | "Cancelled")
            )
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not end in {timeout:?}; driver log:\n{}",
            std::fs::read_to_string(dir.join(format!("slurm_logs/driver-{job}.err")))
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every file under `dir` (recursively) whose content contains `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && String::from_utf8_lossy(&bytes).contains(needle)
            {
                found.push(p);
            }
        }
    }
    found
}
