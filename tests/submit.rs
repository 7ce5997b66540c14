//! `aifbench submit`: the whole of recipes/slurm-local.yaml as ONE batch
//! job on the real single-node Slurm cluster of scripts/setup-slurm.sh —
//! the driver inside the allocation, the service and the clients as job
//! steps of it — followed by `aifbench status --watch`; and what `--dry-run`
//! prints. The cluster tests FAIL when Slurm is not up.

mod common;
mod slurm_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::component;
use slurm_support::*;

/// The runs share one 8-slot node (and the allocation takes it whole):
/// one at a time keeps timings honest.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn aifbench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aifbench"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// The job id of `aifbench submit`'s output (`submitted: slurm job N`).
fn submitted_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("submitted: slurm job "))
        .unwrap_or_else(|| panic!("no job id in {stdout}"))
        .trim()
        .to_string()
}

/// `squeue --steps` of a job: `(step id, name)`.
fn steps_of(job: &str) -> Vec<(String, String)> {
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

#[test]
fn submit_runs_the_driver_and_every_component_in_one_allocation() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = slurm_env();
    let ws = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(ws.path().to_path_buf());
    let start = Instant::now();
    let out = aifbench()
        .args(["submit", "recipes/slurm-local.yaml", "--workspace"])
        .arg(ws.path())
        .envs(&env)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let job = submitted_id(&stdout);
    let dir = results_dir(ws.path());
    assert!(
        stdout.contains(&format!("results: {}\n", dir.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("aifbench status {} --watch", dir.display())),
        "{stdout}"
    );
    let output_file = dir.join(format!("slurm_logs/driver-{job}.out"));
    assert!(
        stdout.contains(&output_file.display().to_string()),
        "{stdout}"
    );

    // Follow it as a user would, and watch the job's steps meanwhile.
    let watch = aifbench()
        .args(["status", "--watch", "--interval", "300ms"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watch = KillOnDrop(watch);
    let mut steps_seen = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while watch.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run did not end in 300 s");
        for (id, name) in steps_of(&job) {
            steps_seen.insert(name, id);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = start.elapsed();
    let child = std::mem::replace(
        &mut watch.0,
        Command::new("true").spawn().expect("true runs"),
    );
    let watched = child.wait_with_output().unwrap();
    let watched_text = String::from_utf8_lossy(&watched.stdout).into_owned();
    assert!(watched.status.success(), "{}", output_text(&watched));
    assert!(watched_text.contains("phase: Succeeded"), "{watched_text}");
    assert!(
        watched_text.contains("verdict: Succeeded (Completed)"),
        "{watched_text}"
    );
    assert!(
        watched_text.contains(&format!("allocation: slurm job {job} on ")),
        "{watched_text}"
    );

    // The driver ran inside the submitted job.
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["allocation"]["jobId"], job.as_str(), "{run:#}");
    let driver_out = std::fs::read_to_string(&output_file).unwrap();
    assert!(driver_out.contains("Succeeded (Completed)"), "{driver_out}");

    // Each component was a step of that job, under its usual job name.
    let s = status(&dir);
    assert_eq!(s["phase"], "Succeeded", "{s:#}");
    let prefix = job_prefix(&dir);
    for id in ["sim", "chat-1", "chat-2"] {
        let step = assert_step_of(&s, &run, &job, id);
        let name = format!("{prefix}{id}");
        if let Some(seen) = steps_seen.get(&name) {
            assert_eq!(*seen, step, "squeue listed {name} as {seen}");
        }
    }
    assert!(
        steps_seen.contains_key(&format!("{prefix}sim")),
        "the service's step never showed in squeue --steps: {steps_seen:?}"
    );
    // The service's endpoint is its node and port; the clients sent there.
    let sim = component(&s, "sim");
    let endpoint = sim["endpoint"].as_str().unwrap();
    assert!(
        endpoint.starts_with(&format!("http://{}:", sim["node"].as_str().unwrap())),
        "{sim:#}"
    );
    assert_eq!(component(&s, "chat-1")["endpoint"], endpoint, "{s:#}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["total"]["requests"].as_u64().unwrap_or(0) > 0,
        "{summary:#}"
    );
    // One job for the whole run: no batch job of a component was submitted.
    let all = jobs(&prefix);
    assert_eq!(
        all.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        [job.as_str()],
        "{all:?}"
    );
    assert!(wait_no_active(&prefix, Duration::from_secs(30)).is_empty());

    // The same file with `aifbench run` (a batch job per component), for
    // the timings of the report.
    let ws2 = tempfile::tempdir().unwrap();
    let _cleanup2 = Cleanup(ws2.path().to_path_buf());
    let start = Instant::now();
    let plain = run_cmd(ws2.path(), "recipes/slurm-local.yaml", "cli")
        .output()
        .unwrap();
    let plain_took = start.elapsed();
    assert!(plain.status.success(), "{}", output_text(&plain));
    eprintln!(
        "slurm-local: `aifbench submit` to Succeeded {:.1}s; `aifbench run` {:.1}s",
        took.as_secs_f64(),
        plain_took.as_secs_f64()
    );
}

#[test]
fn a_client_stopped_at_the_duration_still_writes_its_results() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = slurm_env();
    let ws = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(ws.path().to_path_buf());
    // Clients that would run a minute, stopped by execution.duration: the
    // driver signals their steps (SIGTERM) and they still write results.
    let recipe = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/slurm-local.yaml"),
    )
    .unwrap()
    .replace("    queueDeadline:", "    duration: 4s\n    queueDeadline:");
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("stopped.yaml");
    std::fs::write(&file, recipe).unwrap();
    let out = aifbench()
        .args(["submit", "--workspace"])
        .arg(ws.path())
        .arg(&file)
        .envs(&env)
        .env("AIFB_CLIENT_DURATION", "60s")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let dir = results_dir(ws.path());
    let watched = aifbench()
        .args(["status", "--watch", "--interval", "300ms"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(watched.status.success(), "{}", output_text(&watched));
    let s = status(&dir);
    assert_eq!(verdict(&s).0, "DurationReached", "{s:#}");
    for id in ["chat-1", "chat-2"] {
        let result = dir.join(format!("clients/{id}.json"));
        assert!(result.is_file(), "{id} wrote no result: {s:#}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["total"]["requests"].as_u64().unwrap_or(0) > 0,
        "{summary:#}"
    );
}

#[test]
fn dry_run_prints_the_login_shell_script_and_the_steps_quoted() {
    let ws = tempfile::tempdir().unwrap();
    // A working folder whose name a shell would misread.
    let cwd = ws.path().join("it's $HOME");
    std::fs::create_dir_all(&cwd).unwrap();
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/slurm-local.yaml");
    let out = aifbench()
        .current_dir(&cwd)
        .args(["submit", "--dry-run", "--workspace"])
        .arg(ws.path().join("results"))
        .arg(&recipe)
        .env("AIFB_SLURM_PARTITION", "debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#!/bin/bash -l", "{text}");
    for want in [
        "#SBATCH --partition=debug",
        "#SBATCH --nodes=1",
        "#SBATCH --exclusive",
        // runDeadline 5m + health check 60s + 2 × 5s grace + 5m margin.
        "#SBATCH --time=00:11:10",
        "set -euo pipefail",
    ] {
        assert!(lines.contains(&want), "{want:?} missing:\n{text}");
    }
    let exe = Path::new(env!("CARGO_BIN_EXE_aifbench"));
    let path_line = format!("export PATH={}:\"$PATH\"", exe.parent().unwrap().display());
    assert!(lines.contains(&path_line.as_str()), "{text}");
    let cd = format!("cd '{}'", cwd.display().to_string().replace('\'', "'\\''"));
    assert!(lines.contains(&cd.as_str()), "{cd} missing:\n{text}");
    let exec = lines
        .iter()
        .find(|l| l.starts_with("exec "))
        .unwrap_or_else(|| panic!("no exec line:\n{text}"));
    assert!(
        exec.starts_with(&format!("exec {} run ", exe.display())),
        "{exec}"
    );
    assert!(exec.contains(" --slurm-steps"), "{exec}");
    assert!(exec.contains(" --results-dir "), "{exec}");
    // Nothing was created or submitted.
    assert!(!ws.path().join("results").exists());
    // The steps the driver would start, as srun lines with the job names.
    for id in ["sim", "chat-1", "chat-2"] {
        assert!(
            text.lines().any(|l| l.starts_with("#   srun ")
                && l.contains("--overlap")
                && l.contains(&format!("-{id} "))
                && l.contains("--job-name=aifb-slurm-local-")),
            "no step line of {id}:\n{text}"
        );
    }
}

#[test]
fn a_run_without_deadline_or_with_an_unsafe_folder_is_refused_by_name() {
    let ws = tempfile::tempdir().unwrap();
    let recipe = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/slurm-local.yaml"),
    )
    .unwrap();
    let no_deadline = ws.path().join("no-deadline.yaml");
    std::fs::write(
        &no_deadline,
        recipe
            .lines()
            .filter(|l| !l.contains("runDeadline"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let out = aifbench()
        .args(["submit", "--dry-run"])
        .arg(&no_deadline)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("spec.execution.runDeadline is not set"),
        "{}",
        output_text(&out)
    );
    // A results folder sbatch cannot take in an #SBATCH line.
    let out = aifbench()
        .args([
            "submit",
            "--dry-run",
            "recipes/slurm-local.yaml",
            "--workspace",
        ])
        .arg(ws.path().join("two words"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used in an #SBATCH line"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn cancel_ends_a_submitted_run_as_one_allocation() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = slurm_env();
    let ws = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(ws.path().to_path_buf());
    let out = aifbench()
        .args(["submit", "recipes/slurm-local.yaml", "--workspace"])
        .arg(ws.path())
        .envs(&env)
        .env("AIFB_CLIENT_DURATION", "120s")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let job = submitted_id(&stdout);
    let dir = results_dir(ws.path());
    assert!(
        stdout.contains(&format!("aifbench cancel {}", dir.display())),
        "submit says how to cancel: {stdout}"
    );
    // Wait until the clients run as steps of the job.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !steps_of(&job).iter().any(|(_, name)| name.contains("chat")) {
        assert!(Instant::now() < deadline, "no client step within 120 s");
        std::thread::sleep(Duration::from_millis(300));
    }
    let cancelled = aifbench()
        .arg("cancel")
        .arg(&dir)
        .envs(&env)
        .output()
        .unwrap();
    let text = output_text(&cancelled);
    assert!(cancelled.status.success(), "{text}");
    assert!(
        text.contains(&format!("cancelled slurm job {job} (the whole allocation")),
        "{text}"
    );
    // The whole allocation leaves the queue: driver, service and clients.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let q = Command::new("squeue")
            .args(["-h", "--jobs", &job, "-o", "%T"])
            .output()
            .unwrap();
        let state = String::from_utf8_lossy(&q.stdout).trim().to_string();
        if state.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "job {job} still {state} 60 s after cancel"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let s = status(&dir);
    assert_eq!(s["phase"], "Cancelled", "{s:#}");
}
