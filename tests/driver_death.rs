//! A killed driver leaves nothing behind: SIGKILL of `aifbench run` ends
//! every local component within seconds (each runs under `aifbench
//! supervise`); without the supervisor (`AIFB_NO_SUPERVISE=1`, to have
//! something left) `aifbench cancel DIR` ends what the driver recorded in
//! run.json and marks the run Cancelled, and `aifbench run --resume DIR`
//! ends the old processes before it starts again. Also: the supervisor
//! passes exit codes and signals through unchanged.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use aifbench::backend::process::ProcessBackend;
use aifbench::backend::{Backend, LaunchRequest};
use aifbench::engine::RunState;

const BIN: &str = env!("CARGO_BIN_EXE_aifbench");

/// The quickstart, shortened: the simulator, two client instances running
/// for DURATION, a monitor, a 2 s stop grace period.
const RECIPE: &str = r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata:
  name: death
spec:
  services:
    - id: sim
      executor: process
      command: [aifbench, sim, --port, "{{port}}", --model, sim-model,
                --ttft, 20ms, --itl, 5ms, --output-tokens, "8"]
      ports:
        - {name: http, port: 0}
      healthcheck:
        path: /health
        interval: 100ms
        timeout: 30s
  clients:
    - id: chat
      instances: 2
      target: sim
      workload:
        type: openai
        openai:
          api: chat
          stream: true
          maxTokens: 8
      load:
        concurrency: 2
        duration: DURATION
  monitors:
    - id: sim-metrics
      targets: [sim]
      interval: 1s
  execution:
    runDeadline: 2m
    stopGracePeriod: 2s
    postActions: [collectMetrics, stopServices, report]
"#;

const COMPONENTS: [&str; 3] = ["sim", "chat-1", "chat-2"];

fn recipe(tmp: &Path, duration: &str) -> PathBuf {
    let path = tmp.join("death.yaml");
    std::fs::write(&path, RECIPE.replace("DURATION", duration)).unwrap();
    path
}

fn start_run(recipe: &Path, ws: &Path, supervised: bool) -> Child {
    let mut c = Command::new(BIN);
    c.arg("run")
        .arg(recipe)
        .args(["--progress", "plain", "--workspace"])
        .arg(ws)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if supervised {
        c.env_remove("AIFB_NO_SUPERVISE");
    } else {
        c.env("AIFB_NO_SUPERVISE", "1");
    }
    c.spawn().unwrap()
}

/// The results folder once the run is Running and run.json names the
/// process group of every component; returns it with those groups.
fn wait_running(ws: &Path, child: &mut Child) -> (PathBuf, Vec<(String, i32)>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("aifbench exited ({status}) before Running");
        }
        for e in std::fs::read_dir(ws).into_iter().flatten().flatten() {
            let dir = e.path();
            let running = std::fs::read_to_string(dir.join("status.yaml"))
                .is_ok_and(|t| t.contains("phase: Running"));
            if let Some(groups) = recorded_groups(&dir)
                && running
                && groups.len() == COMPONENTS.len()
            {
                return (dir, groups);
            }
        }
        assert!(Instant::now() < deadline, "never reached Running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (component, process group) of every process recorded in run.json.
fn recorded_groups(dir: &Path) -> Option<Vec<(String, i32)>> {
    let text = std::fs::read_to_string(dir.join("run.json")).ok()?;
    let run: serde_json::Value = serde_json::from_str(&text).ok()?;
    let groups = run["components"]
        .as_object()?
        .iter()
        .filter_map(|(id, c)| Some((id.clone(), c["pgid"].as_i64()? as i32)))
        .collect();
    Some(groups)
}

/// Live (non-zombie) processes of process group `pgid`.
fn live_group_members(pgid: i32) -> Vec<i32> {
    aifbench::backend::procfs::group_members(pgid)
}

fn live_groups(groups: &[(String, i32)]) -> Vec<(String, Vec<i32>)> {
    groups
        .iter()
        .map(|(id, g)| (id.clone(), live_group_members(*g)))
        .filter(|(_, live)| !live.is_empty())
        .collect()
}

/// Waits up to `limit` for every group to be empty; the groups still
/// alive otherwise.
fn wait_groups_gone(groups: &[(String, i32)], limit: Duration) -> Vec<(String, Vec<i32>)> {
    let deadline = Instant::now() + limit;
    loop {
        let live = live_groups(groups);
        if live.is_empty() || Instant::now() > deadline {
            return live;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigkill(child: &mut Child) {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
}

/// Kills what is left of `groups` (so a failed test leaves nothing).
fn kill_groups(groups: &[(String, i32)]) {
    for (_, g) in groups {
        let _ = nix::sys::signal::killpg(Pid::from_raw(*g), Signal::SIGKILL);
    }
}

fn output_text(o: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn status(dir: &Path) -> serde_json::Value {
    serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap()
}

#[test]
fn a_sigkilled_driver_leaves_no_process_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("results");
    let mut driver = start_run(&recipe(tmp.path(), "30s"), &ws, true);
    let (_, groups) = wait_running(&ws, &mut driver);
    assert!(live_groups(&groups).len() == groups.len(), "{groups:?}");
    let killed = Instant::now();
    sigkill(&mut driver);
    // The grace period is 2 s; the clients and the simulator end on SIGTERM.
    let live = wait_groups_gone(&groups, Duration::from_secs(5));
    kill_groups(&groups);
    assert!(
        live.is_empty(),
        "still alive after the driver died: {live:?}"
    );
    eprintln!(
        "every component ended {:.2}s after the SIGKILL",
        killed.elapsed().as_secs_f64()
    );
}

#[test]
fn cancel_ends_what_an_unsupervised_killed_driver_left() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("results");
    let mut driver = start_run(&recipe(tmp.path(), "30s"), &ws, false);
    let (dir, groups) = wait_running(&ws, &mut driver);

    // While the driver runs, cancel refuses and says how to stop it.
    let refused = Command::new(BIN).arg("cancel").arg(&dir).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", output_text(&refused));
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(
        text.contains(&driver.id().to_string()) && text.contains("--force"),
        "{text}"
    );

    sigkill(&mut driver);
    std::thread::sleep(Duration::from_millis(500));
    let left = live_groups(&groups);
    assert!(
        left.iter().any(|(id, _)| id == "sim"),
        "nothing was left to cancel: {left:?}"
    );

    let out = Command::new(BIN)
        .arg("cancel")
        .arg(&dir)
        .env("AIFB_SLURM_TRANSPORT", "cli")
        .output()
        .unwrap();
    let live = wait_groups_gone(&groups, Duration::from_secs(1));
    kill_groups(&groups);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(live.is_empty(), "still alive after cancel: {live:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (id, _) in &left {
        assert!(stdout.contains(&format!("ended {id} ")), "{stdout}");
    }
    assert!(stdout.contains("status: Cancelled"), "{stdout}");
    let s = status(&dir);
    assert_eq!(s["phase"], "Cancelled", "{s:#}");
    let succeeded = s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Succeeded")
        .unwrap();
    assert_eq!(succeeded["reason"], "Cancelled");
    assert!(
        succeeded["message"]
            .as_str()
            .unwrap()
            .contains("aifbench cancel"),
        "{succeeded}"
    );

    // A second cancel finds nothing running and leaves the status alone.
    let again = Command::new(BIN).arg("cancel").arg(&dir).output().unwrap();
    assert!(again.status.success(), "{}", output_text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing of this run was running"),
        "{}",
        output_text(&again)
    );
}

#[test]
fn resume_after_sigkill_ends_the_old_processes_first() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("results");
    let recipe = recipe(tmp.path(), "3s");
    let mut driver = start_run(&recipe, &ws, false);
    let (dir, old) = wait_running(&ws, &mut driver);
    sigkill(&mut driver);
    assert!(!live_groups(&old).is_empty(), "nothing was left: {old:?}");

    let out = Command::new(BIN)
        .arg("run")
        .arg(&recipe)
        .arg("--resume")
        .arg(&dir)
        .args(["--progress", "plain"])
        .env("AIFB_NO_SUPERVISE", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let old_live = live_groups(&old);
    kill_groups(&old);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resume: ended sim"),
        "{}",
        output_text(&out)
    );
    assert!(
        old_live.is_empty(),
        "old processes still alive: {old_live:?}"
    );
    let s = status(&dir);
    assert_eq!(s["phase"], "Succeeded", "{s:#}\n{}", output_text(&out));
    // The new run's processes are gone too.
    let new = recorded_groups(&dir).unwrap();
    assert!(new.iter().all(|g| !old.contains(g)), "{new:?} {old:?}");
    let live = wait_groups_gone(&new, Duration::from_secs(2));
    assert!(live.is_empty(), "{live:?}");
}

// ---- the supervisor keeps what the process backend reports ---------------

fn req(dir: &Path, id: &str, script: &str) -> LaunchRequest {
    LaunchRequest {
        id: id.to_string(),
        argv: vec!["sh".into(), "-c".into(), script.into()],
        working_dir: dir.to_path_buf(),
        log_path: dir.join(format!("{id}.jsonl")),
        stop_grace: Duration::from_millis(300),
        ..Default::default()
    }
}

async fn wait_exit(b: &ProcessBackend, id: &str) -> RunState {
    for _ in 0..400 {
        let (run, _) = b.observe(id);
        if matches!(run, RunState::Exited { .. }) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{id} did not exit");
}

fn supervised() -> Arc<ProcessBackend> {
    Arc::new(ProcessBackend::new().with_supervisor(Some(PathBuf::from(BIN))))
}

#[tokio::test]
async fn supervised_exit_codes_signals_and_output_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let b = supervised();
    b.launch(req(dir.path(), "code", "echo out; echo err >&2; exit 7"))
        .await
        .unwrap();
    b.launch(req(dir.path(), "sig", "kill -SEGV $$"))
        .await
        .unwrap();
    assert_eq!(
        wait_exit(&b, "code").await,
        RunState::Exited {
            code: Some(7),
            reason: None
        }
    );
    let log = std::fs::read_to_string(dir.path().join("code.jsonl")).unwrap();
    assert!(
        log.contains(r#""stream":"stdout","line":"out""#)
            && log.contains(r#""stream":"stderr","line":"err""#),
        "{log}"
    );
    assert_eq!(
        wait_exit(&b, "sig").await,
        RunState::Exited {
            code: Some(128 + 11),
            reason: Some("killed by SIGSEGV".to_string())
        }
    );
}

#[tokio::test]
async fn supervised_stop_reaches_the_group_and_forces_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let b = supervised();
    let placement = b
        .launch(req(dir.path(), "grp", "sleep 30 & wait"))
        .await
        .unwrap();
    b.launch(req(
        dir.path(),
        "stubborn",
        "trap '' TERM; while true; do sleep 0.1; done",
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pgid = placement.pid.unwrap() as i32;
    assert!(live_group_members(pgid).len() >= 3, "supervisor, sh, sleep");
    Backend::stop(b.as_ref(), "grp", Duration::from_secs(5)).await;
    assert_eq!(
        wait_exit(&b, "grp").await,
        RunState::Exited {
            code: Some(143),
            reason: Some("killed by SIGTERM".to_string())
        }
    );
    let start = Instant::now();
    Backend::stop(b.as_ref(), "stubborn", Duration::from_millis(300)).await;
    match wait_exit(&b, "stubborn").await {
        RunState::Exited {
            reason: Some(r), ..
        } => assert!(r.contains("SIGKILL"), "{r}"),
        other => panic!("{other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(300));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(live_group_members(pgid).is_empty());
}
