//! Tests of the process backend: output, exit codes, failure tails,
//! stopping whole groups, supervision.

use super::*;
use crate::api::status::ComponentKind;
use std::collections::BTreeMap;

fn req(dir: &Path, id: &str, argv: &[&str]) -> LaunchRequest {
    LaunchRequest {
        id: id.to_string(),
        kind: ComponentKind::Service,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: BTreeMap::from([("GREETING".to_string(), "hello".to_string())]),
        working_dir: dir.to_path_buf(),
        log_path: dir.join("logs").join(format!("{id}.jsonl")),
        ..Default::default()
    }
}

async fn wait_exit(b: &ProcessBackend, id: &str) -> RunState {
    for _ in 0..200 {
        let (run, _) = b.observe(id);
        if matches!(run, RunState::Exited { .. }) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{id} did not exit");
}

/// Alive and not a zombie (an orphaned grandchild may stay a zombie
/// when the container's init does not reap).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test]
async fn captures_output_env_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let b = ProcessBackend::new();
    b.launch(req(
        dir.path(),
        "s",
        &["sh", "-c", "echo $GREETING; echo oops >&2; exit 7"],
    ))
    .await
    .unwrap();
    assert_eq!(
        wait_exit(&b, "s").await,
        RunState::Exited {
            code: Some(7),
            reason: None
        }
    );
    let log = std::fs::read_to_string(dir.path().join("logs/s.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["stream"] == "stdout" && l["line"] == "hello"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["stream"] == "stderr" && l["line"] == "oops"),
        "{log}"
    );
}

#[tokio::test]
async fn a_failure_says_its_last_stderr_lines_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let b = ProcessBackend::new();
    let mut r = req(
        dir.path(),
        "s",
        &[
            "sh",
            "-c",
            "echo fine; echo \"using $HF_TOKEN\" >&2; echo 'boom: no module named x' >&2; exit 1",
        ],
    );
    r.env
        .insert("HF_TOKEN".to_string(), "hf_sekrit_value_42".to_string());
    b.launch(r).await.unwrap();
    wait_exit(&b, "s").await;
    let seen = Backend::observe(&b, "s").await;
    assert_eq!(
        seen.run,
        RunState::Exited {
            code: Some(1),
            reason: Some("using ***\nboom: no module named x".to_string())
        }
    );
    // A child stopped on purpose has nothing to explain.
    b.launch(req(
        dir.path(),
        "t",
        &["sh", "-c", "echo started >&2; sleep 30"],
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.stop("t", Duration::from_secs(5));
    wait_exit(&b, "t").await;
    let seen = Backend::observe(&b, "t").await;
    assert!(
        matches!(&seen.run, RunState::Exited { reason: Some(r), .. } if !r.contains("started")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn stop_terminates_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let b = ProcessBackend::new();
    // The shell starts a grandchild; both must go.
    b.launch(req(
        dir.path(),
        "s",
        &["sh", "-c", "sleep 30 & echo $!; wait"],
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(dir.path().join("logs/s.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    let grandchild: u32 = line["line"].as_str().unwrap().parse().unwrap();
    assert!(alive(grandchild));
    b.stop("s", Duration::from_secs(5));
    let run = wait_exit(&b, "s").await;
    assert!(
        matches!(
            run,
            RunState::Exited {
                code: Some(143),
                ..
            }
        ),
        "{run:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!alive(grandchild), "grandchild {grandchild} survived");
}

#[tokio::test]
async fn sigkill_after_grace_when_sigterm_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let b = ProcessBackend::new();
    b.launch(req(
        dir.path(),
        "s",
        &[
            "sh",
            "-c",
            "trap '' TERM; echo ready; while true; do sleep 0.1; done",
        ],
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = std::time::Instant::now();
    b.stop_all(Duration::from_millis(300)).await;
    let run = wait_exit(&b, "s").await;
    assert!(start.elapsed() >= Duration::from_millis(300));
    match run {
        RunState::Exited {
            reason: Some(r), ..
        } => assert!(r.contains("SIGKILL"), "{r}"),
        other => panic!("{other:?}"),
    }
    assert!(b.running_pids().is_empty());
}

#[tokio::test]
async fn missing_program_is_a_spawn_error() {
    let dir = tempfile::tempdir().unwrap();
    let b = ProcessBackend::new();
    let e = b
        .launch(req(dir.path(), "s", &["/nonexistent/prog"]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/prog"), "{e}");
}

#[tokio::test]
async fn a_supervised_missing_program_is_still_a_spawn_error() {
    let dir = tempfile::tempdir().unwrap();
    let b = ProcessBackend::new().with_supervisor(Some(PathBuf::from("/nonexistent/aifbench")));
    for prog in ["/nonexistent/prog", "no-such-program-anywhere"] {
        let e = b.launch(req(dir.path(), "s", &[prog])).await.unwrap_err();
        assert!(e.to_string().contains(prog), "{e}");
    }
    let mut r = req(dir.path(), "s", &["sh"]);
    r.env
        .insert("PATH".to_string(), "/usr/bin:/bin".to_string());
    assert!(find_program("sh", &r).is_ok());
}

#[tokio::test]
async fn progress_hook_reads_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let b = ProcessBackend::new();
    let mut r = req(
        dir.path(),
        "c",
        &["sh", "-c", "echo 'progress 5'; sleep 0.2"],
    );
    r.progress_hook = Some(Arc::new(|line: &str| {
        line.strip_prefix("progress ")
            .and_then(|n| n.parse().ok())
            .map(|requests| ClientProgress {
                requests,
                ..Default::default()
            })
    }));
    b.launch(r).await.unwrap();
    wait_exit(&b, "c").await;
    let (_, progress) = b.observe("c");
    assert_eq!(progress.unwrap().requests, 5);
}
