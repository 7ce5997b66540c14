//! `aifbench submit` through slurmrestd (transport `rest`, JWT over
//! loopback TCP) on the REAL cluster of scripts/setup-slurm.sh: the same
//! one-allocation batch job submitted by slurmrestd's job submit endpoint
//! — recipes/slurm-local.yaml ends Succeeded with the driver inside the
//! allocation and every component a step of it, followed by `aifbench
//! status --watch` through slurmrestd — and `aifbench cancel` through
//! slurmrestd's DELETE. The JWT appears nowhere in the results folder or
//! in what was printed. FAILS when Slurm is not up.

mod common;
mod slurm_support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slurm_support::*;

/// One run at a time on the one node.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn aifbench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aifbench"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// The cluster's settings with the rest transport (URL, JWT file, user).
fn rest_env() -> BTreeMap<String, String> {
    let mut env = slurm_env();
    env.insert("AIFB_SLURM_TRANSPORT".into(), "rest".into());
    env.remove("AIFB_SLURM_REST_SOCKET");
    env
}

/// The JWT the tests use (never to be seen in output or files).
fn jwt(env: &BTreeMap<String, String>) -> String {
    let path = env.get("AIFB_SLURM_JWT_FILE").expect("AIFB_SLURM_JWT_FILE");
    let t = std::fs::read_to_string(path).expect("the JWT file");
    assert!(t.trim().len() > 20, "the JWT file holds no token");
    t.trim().to_string()
}

/// `aifbench submit` of recipes/slurm-local.yaml through slurmrestd into
/// `ws`: (job id, results folder, what it printed).
fn submit(
    ws: &std::path::Path,
    env: &BTreeMap<String, String>,
    duration: &str,
) -> (String, std::path::PathBuf, String) {
    let out = aifbench()
        .args(["submit", "recipes/slurm-local.yaml", "--workspace"])
        .arg(ws)
        .envs(env)
        .env("AIFB_CLIENT_DURATION", duration)
        .output()
        .expect("aifbench runs");
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let job = submitted_job_id(&stdout);
    assert!(
        stdout.contains("--watch --slurm-transport rest"),
        "{stdout}"
    );
    (job, results_dir(ws), output_text(&out))
}

#[test]
fn submit_through_slurmrestd_runs_the_driver_in_one_allocation() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = rest_env();
    let token = jwt(&env);
    let ws = tempfile::tempdir().expect("tempdir");
    let _cleanup = Cleanup(ws.path().to_path_buf());
    let start = Instant::now();
    let (job, dir, mut printed) = submit(ws.path(), &env, "5s");
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("submit.json")).expect("submit.json"),
    )
    .expect("submit.json parses");
    assert_eq!(record["transport"], "rest", "{record:#}");

    // Follow it through slurmrestd, watching the job's steps meanwhile.
    let watch = aifbench()
        .args(["status", "--watch", "--interval", "300ms"])
        .arg(&dir)
        .envs(&env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("aifbench status runs");
    let mut watch = KillOnDrop(watch);
    let mut steps_seen = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    while watch.0.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "the run did not end in 240 s");
        for (id, name) in job_steps(&job) {
            steps_seen.insert(name, id);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = start.elapsed();
    let child = std::mem::replace(&mut watch.0, Command::new("true").spawn().expect("true"));
    let watched = child.wait_with_output().expect("status output");
    let watched_text = String::from_utf8_lossy(&watched.stdout).into_owned();
    printed.push_str(&output_text(&watched));
    assert!(watched.status.success(), "{}", output_text(&watched));
    assert!(
        watched_text.contains("verdict: Succeeded (Completed)"),
        "{watched_text}"
    );

    // The driver ran inside the job slurmrestd submitted; each component
    // was a step of it; the run left exactly that job.
    let s = status(&dir);
    assert_eq!(s["phase"], "Succeeded", "{s:#}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).expect("run.json"))
            .expect("run.json parses");
    assert_eq!(run["allocation"]["jobId"], job.as_str(), "{run:#}");
    let prefix = job_prefix(&dir);
    for id in ["sim", "chat-1", "chat-2"] {
        assert_step_of(&s, &run, &job, id);
    }
    assert!(
        steps_seen.contains_key(&format!("{prefix}sim")),
        "the service's step never showed in squeue --steps: {steps_seen:?}"
    );
    let all = jobs(&prefix);
    assert_eq!(
        all.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        [job.as_str()],
        "{all:?}"
    );
    let driver_out = std::fs::read_to_string(dir.join(format!("slurm_logs/driver-{job}.out")))
        .expect("driver output");
    assert!(driver_out.contains("Succeeded (Completed)"), "{driver_out}");

    // The token: nowhere.
    assert!(
        files_containing(&dir, &token).is_empty(),
        "the JWT is in {:?}",
        files_containing(&dir, &token)
    );
    assert!(!printed.contains(&token), "the JWT was printed");
    assert!(wait_no_active(&prefix, Duration::from_secs(30)).is_empty());
    eprintln!(
        "slurm-local through slurmrestd: `aifbench submit` to Succeeded in {:.1}s",
        took.as_secs_f64()
    );
}

#[test]
fn a_run_submitted_through_slurmrestd_is_cancelled_through_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = rest_env();
    let ws = tempfile::tempdir().expect("tempdir");
    let _cleanup = Cleanup(ws.path().to_path_buf());
    let (job, dir, _) = submit(ws.path(), &env, "5m");
    let prefix = job_prefix(&dir);
    // Wait until the driver runs the clients.
    wait_status(ws.path(), Duration::from_secs(120), |s| {
        s["phase"] == "Running"
    });

    // Without the rest flags, status and cancel refuse, naming them.
    let mut plain = env.clone();
    plain.insert("AIFB_SLURM_TRANSPORT".into(), "cli".into());
    for cmd in ["status", "cancel"] {
        let out = aifbench()
            .arg(cmd)
            .arg(&dir)
            .envs(&plain)
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{cmd}: {}", output_text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("submitted through slurmrestd"),
            "{cmd}: {}",
            output_text(&out)
        );
    }
    assert_eq!(active_jobs(&prefix).len(), 1, "{:?}", jobs(&prefix));

    let out = aifbench()
        .arg("cancel")
        .arg(&dir)
        .envs(&env)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("cancelled slurm job {job}")),
        "{text}"
    );
    assert!(
        wait_no_active(&prefix, Duration::from_secs(60)).is_empty(),
        "{:?}",
        jobs(&prefix)
    );
    let ended = jobs(&prefix);
    assert!(
        ended.iter().any(|j| j.id == job && j.state == "CANCELLED"),
        "{ended:?}"
    );
    assert_eq!(status(&dir)["phase"], "Cancelled");
}
