//! `aifbench run` and the signals of a terminal going away: a hang-up
//! (SIGHUP, what an SSH disconnect sends) does not stop the run, and a
//! console that can no longer be written to does not crash it. The run
//! ends as it would have, with its results and nothing left running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The quickstart, shortened: the simulator, two client instances for 3 s,
/// a monitor, and the driver's log as a file (where the hang-up is noted).
const RECIPE: &str = r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata:
  name: hangup
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
        duration: 3s
  monitors:
    - id: sim-metrics
      targets: [sim]
      interval: 1s
  loggers:
    - {id: aifbench, format: json, level: info}
  execution:
    runDeadline: 1m
    postActions: [collectMetrics, stopServices, report]
"#;

/// The results folder once its status.yaml says `phase`; panics if the
/// driver exits first or it takes a minute.
fn wait_for_phase(workspace: &Path, phase: &str, child: &mut Child) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("aifbench exited ({status}) before {phase}");
        }
        if let Ok(entries) = std::fs::read_dir(workspace) {
            for e in entries.flatten() {
                let p = e.path().join("status.yaml");
                if let Ok(text) = std::fs::read_to_string(&p)
                    && text.contains(&format!("phase: {phase}"))
                {
                    return e.path();
                }
            }
        }
        assert!(Instant::now() < deadline, "never reached {phase}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The exit status within `limit`; kills the driver (and fails) otherwise.
fn wait_with_limit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("aifbench did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Live (non-zombie) processes of process group `pgid`.
fn live_group_members(pgid: i32) -> Vec<i32> {
    aifbench::backend::procfs::group_members(pgid)
}

#[test]
fn a_hangup_and_a_dead_console_do_not_stop_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = tmp.path().join("hangup.yaml");
    std::fs::write(&recipe, RECIPE).unwrap();
    let ws = tmp.path().join("results");
    // The live display writes to stderr all the time: the most writes to
    // fail once the console is gone.
    let mut child = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .arg("run")
        .arg(&recipe)
        .args(["--progress", "live", "--workspace"])
        .arg(&ws)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dir = wait_for_phase(&ws, "Running", &mut child);

    // The terminal goes away: the hang-up, then every write fails (the read
    // ends of both pipes are closed: EPIPE, as a hung-up tty gives EIO).
    kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP).unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());

    let exit = wait_with_limit(&mut child, Duration::from_secs(60));
    let status: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap();
    assert_eq!(exit.code(), Some(0), "{exit}; status: {status:#}");
    assert_eq!(status["phase"], "Succeeded", "{status:#}");

    // The hang-up reached the driver, which noted it and went on.
    let log = std::fs::read_to_string(dir.join("logs/aifbench.jsonl")).unwrap();
    assert!(log.contains("SIGHUP"), "no hang-up in the log:\n{log}");

    // Full results: both client instances measured and the report was made.
    for id in ["chat-1", "chat-2"] {
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("clients/{id}.json"))).unwrap())
                .unwrap();
        assert!(r.is_object(), "{id}: {r}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["total"]["instances"], 2, "{summary:#}");
    assert!(
        summary["total"]["requests"].as_u64().unwrap() > 0,
        "{summary:#}"
    );
    assert_eq!(summary["total"]["errors"], 0, "{summary:#}");
    assert!(dir.join("metrics/sim-metrics.parsed.jsonl").is_file());

    // Nothing orphaned: every process group the run started is gone.
    let mut checked = 0;
    for c in status["components"].as_array().unwrap() {
        if let Some(pid) = c["pid"].as_i64() {
            let live = live_group_members(pid as i32);
            assert!(live.is_empty(), "{} left {live:?} running", c["id"]);
            checked += 1;
        }
    }
    assert!(checked > 0, "no pids recorded in {status:#}");
}
