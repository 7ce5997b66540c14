//! Failures that say why: a service that exits at start has its own last
//! stderr lines in its component's message, in the `Succeeded` condition's
//! message and on the terminal — and a secret of its environment nowhere.

mod common;

use common::{component, condition, results_dir};
use std::process::Command;

const SECRET: &str = "sk-test-not-a-real-key-0123456789";

const RECIPE: &str = r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {name: fails-at-start}
spec:
  services:
    - id: llm
      command: [sh, -c, "echo starting; printenv MODEL_API_KEY >&2; echo 'boom: no module named x' >&2; exit 1"]
      env:
        MODEL_API_KEY: SECRET_VALUE
      ports: [{name: http, port: 0}]
      healthcheck: {path: /health, interval: 100ms, timeout: 30s}
  clients:
    - id: load
      target: llm
      workload: {type: openai}
  execution:
    stopGracePeriod: 2s
"#;

#[test]
fn a_service_that_exits_at_start_says_why_everywhere_without_its_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = tmp.path().join("fails.yaml");
    std::fs::write(&recipe, RECIPE.replace("SECRET_VALUE", SECRET)).unwrap();
    let ws = tmp.path().join("ws");
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["run", "--progress", "plain", "--workspace"])
        .arg(&ws)
        .arg(&recipe)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let terminal = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{terminal}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "the failure was not seen at once: {:?}",
        started.elapsed()
    );

    let dir = results_dir(&ws);
    let status_text = std::fs::read_to_string(dir.join("status.yaml")).unwrap();
    let s: serde_json::Value = serde_norway::from_str(&status_text).unwrap();
    assert_eq!(s["phase"], "Failed", "{s:#}");

    let succeeded = condition(&s, "Succeeded");
    assert_eq!(succeeded["reason"], "ServiceExited", "{s:#}");
    let msg = succeeded["message"].as_str().unwrap();
    assert!(msg.starts_with("service llm: exited with code 1"), "{msg}");
    assert!(msg.contains("boom: no module named x"), "{msg}");
    // Only stderr is carried, and only its last lines.
    assert!(!msg.contains("starting"), "{msg}");

    let llm = component(&s, "llm");
    assert_eq!(llm["reason"], "ServiceExited");
    let cmsg = llm["message"].as_str().unwrap();
    assert!(cmsg.contains("boom: no module named x"), "{cmsg}");
    assert!(cmsg.contains("***"), "the secret line is redacted: {cmsg}");

    // The terminal summary names the failing service and its error line.
    let verdict = terminal
        .lines()
        .position(|l| l.starts_with("Failed (ServiceExited: service llm: exited with code 1"))
        .unwrap_or_else(|| panic!("no verdict line in:\n{terminal}"));
    assert!(
        terminal
            .lines()
            .skip(verdict)
            .take(4)
            .any(|l| l.contains("boom: no module named x")),
        "{terminal}"
    );

    // The secret is in the component's log (its own output), nowhere else.
    assert!(!status_text.contains(SECRET), "{status_text}");
    assert!(!terminal.contains(SECRET), "{terminal}");
    let log = std::fs::read_to_string(dir.join("logs/llm.jsonl")).unwrap();
    assert!(log.contains("boom: no module named x"), "{log}");
}

mod slurm_support;

const SLURM_RECIPE: &str = r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {name: fails-in-slurm}
spec:
  services:
    - id: llm
      executor: slurm
      command: [sh, -c, "echo starting; printenv MODEL_API_KEY >&2; echo 'boom: no module named x' >&2; exit 1"]
      env:
        MODEL_API_KEY: SECRET_VALUE
      ports: [{name: http, port: 0}]
      healthcheck: {path: /health, interval: 200ms, timeout: 60s}
      slurm: {partition: debug, ntasks: 1, cpusPerTask: 1, time: 5m}
  clients:
    - id: load
      target: llm
      workload: {type: openai}
  execution:
    stopGracePeriod: 2s
"#;

/// The same through the real local Slurm (scripts/setup-slurm.sh; FAILS
/// when it is not up): the tail of the job's `.err` is in the messages.
#[test]
fn a_slurm_service_that_exits_at_start_says_why_from_its_err_file() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = tmp.path().join("fails-slurm.yaml");
    std::fs::write(&recipe, SLURM_RECIPE.replace("SECRET_VALUE", SECRET)).unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let _cleanup = slurm_support::Cleanup(ws.clone());
    let out = slurm_support::run_cmd(&ws, recipe.to_str().unwrap(), "cli")
        .output()
        .unwrap();
    let terminal = slurm_support::output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{terminal}");
    let dir = slurm_support::results_dir(&ws);
    let status_text = std::fs::read_to_string(dir.join("status.yaml")).unwrap();
    let s = slurm_support::status(&dir);
    assert_eq!(s["phase"], "Failed", "{s:#}");
    let succeeded = condition(&s, "Succeeded");
    assert_eq!(succeeded["reason"], "ServiceExited", "{s:#}");
    let msg = succeeded["message"].as_str().unwrap();
    assert!(msg.contains("slurm FAILED"), "{msg}");
    assert!(msg.contains("boom: no module named x"), "{msg}");
    let cmsg = component(&s, "llm")["message"].as_str().unwrap();
    assert!(cmsg.contains("boom: no module named x"), "{cmsg}");
    assert!(terminal.contains("boom: no module named x"), "{terminal}");
    assert!(!status_text.contains(SECRET), "{status_text}");
    assert!(!terminal.contains(SECRET), "{terminal}");
}

/// A job Slurm refuses (sbatch, slurmrestd) fails the run with Slurm's own
/// words in the `Succeeded` condition and on the terminal.
#[test]
fn a_job_slurm_refuses_says_what_slurm_said() {
    for transport in ["cli", "rest"] {
        let tmp = tempfile::tempdir().unwrap();
        let recipe = tmp.path().join("refused.yaml");
        let text = SLURM_RECIPE
            .replace("SECRET_VALUE", SECRET)
            .replace("partition: debug", "partition: no-such-partition")
            // Job names are the run's: never those of the test beside it.
            .replace("fails-in-slurm", &format!("refused-by-slurm-{transport}"));
        std::fs::write(&recipe, text).unwrap();
        let ws = tmp.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        let _cleanup = slurm_support::Cleanup(ws.clone());
        let out = slurm_support::run_cmd(&ws, recipe.to_str().unwrap(), transport)
            .output()
            .unwrap();
        let terminal = slurm_support::output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{transport}: {terminal}");
        let s = slurm_support::status(&slurm_support::results_dir(&ws));
        let succeeded = condition(&s, "Succeeded");
        assert_eq!(succeeded["reason"], "LaunchFailed", "{transport}: {s:#}");
        let msg = succeeded["message"].as_str().unwrap();
        assert!(
            msg.starts_with("service llm: ") && msg.to_lowercase().contains("invalid partition"),
            "{transport}: {msg}"
        );
        assert!(
            terminal.to_lowercase().contains("invalid partition"),
            "{transport}: {terminal}"
        );
    }
}
