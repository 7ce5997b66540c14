//! The driver loop (observe → engine → act → record) against an in-memory
//! backend: every phase sequence without processes, networks or Slurm, each
//! in a fraction of a second.

mod memory_backend;

use std::sync::Arc;
use std::time::Duration;

use aifbench::api::load::load_str;
use aifbench::api::spec::ExecutorKind;
use aifbench::api::status::{BenchmarkStatus, Phase, condition, reason};
use aifbench::backend::Backends;
use aifbench::local::{self, ProgressMode, RunOptions, Signals};
use aifbench::results::ResultsDir;

use memory_backend::{MemoryBackend, Plan};

const SPEC: &str = r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {name: loop}
spec:
  services:
    - id: svc
      command: [serve]
      ports: [{name: http, port: 8000}]
      healthcheck: {path: /health, interval: 10ms, timeout: 300ms}
  clients:
    - id: load
      instances: 2
      target: svc
      workload: {type: openai}
  execution:
    stopGracePeriod: 10ms
    queueDeadline: 300ms
    runDeadline: 20s
"#;

fn opts() -> RunOptions {
    RunOptions {
        progress: ProgressMode::Quiet,
        tick: Duration::from_millis(5),
        exe: std::path::PathBuf::from("/nonexistent/aifbench"),
        slurm: Default::default(),
    }
}

/// Runs SPEC on `backend` (registered for `executor: process`, the one
/// registry line of a new backend) into a fresh results folder.
async fn run_on(
    backend: Arc<MemoryBackend>,
    ws: &std::path::Path,
    signals: Signals,
) -> BenchmarkStatus {
    let b = load_str(SPEC, "loop.yaml", &|_| None).unwrap().benchmark;
    let dir = ResultsDir::create(ws, "loop", jiff::Timestamp::now()).unwrap();
    let backends = Backends::new("test").with(ExecutorKind::Process, backend);
    local::run_with(backends, b, dir, opts(), signals)
        .await
        .unwrap()
        .status
}

async fn run_plans(plans: Vec<(&'static str, Plan)>) -> (BenchmarkStatus, Arc<MemoryBackend>) {
    let backend = Arc::new(MemoryBackend::new(plans));
    let ws = tempfile::tempdir().unwrap();
    let status = run_on(backend.clone(), ws.path(), Signals::default()).await;
    (status, backend)
}

fn verdict(s: &BenchmarkStatus) -> (Phase, String) {
    let c = s
        .condition(condition::SUCCEEDED)
        .expect("Succeeded condition");
    (s.phase, c.reason.clone())
}

fn serve(ready_ms: u64) -> Plan {
    Plan::Serve {
        ready_after: Some(Duration::from_millis(ready_ms)),
        crash_after: None,
    }
}

fn finish(ms: u64, code: i32) -> Plan {
    Plan::Finish {
        after: Duration::from_millis(ms),
        code,
    }
}

#[tokio::test]
async fn success_launches_each_component_once() {
    let (s, backend) = run_plans(vec![
        ("svc", serve(30)),
        ("load-1", finish(50, 0)),
        ("load-2", finish(80, 0)),
    ])
    .await;
    assert_eq!(
        verdict(&s),
        (Phase::Succeeded, reason::COMPLETED.to_string())
    );
    let launches = backend.launches.lock().unwrap().clone();
    assert_eq!(
        launches.into_iter().collect::<Vec<_>>(),
        vec![
            ("load-1".to_string(), 1),
            ("load-2".to_string(), 1),
            ("svc".to_string(), 1)
        ]
    );
}

#[tokio::test]
async fn a_service_crash_fails_the_run() {
    let (s, _) = run_plans(vec![
        (
            "svc",
            Plan::Serve {
                ready_after: Some(Duration::ZERO),
                crash_after: Some(Duration::from_millis(100)),
            },
        ),
        ("load-1", finish(5_000, 0)),
        ("load-2", finish(5_000, 0)),
    ])
    .await;
    assert_eq!(
        verdict(&s),
        (Phase::Failed, reason::SERVICE_EXITED.to_string())
    );
}

#[tokio::test]
async fn a_failing_client_fails_the_run() {
    let (s, _) = run_plans(vec![
        ("svc", serve(0)),
        ("load-1", finish(30, 1)),
        ("load-2", finish(5_000, 0)),
    ])
    .await;
    assert_eq!(
        verdict(&s),
        (Phase::Failed, reason::CLIENT_FAILED.to_string())
    );
}

#[tokio::test]
async fn a_service_never_healthy_times_out() {
    let (s, backend) = run_plans(vec![(
        "svc",
        Plan::Serve {
            ready_after: None,
            crash_after: None,
        },
    )])
    .await;
    assert_eq!(
        verdict(&s),
        (Phase::Failed, reason::HEALTHCHECK_TIMEOUT.to_string())
    );
    // No client was started for a service that never got ready.
    assert!(!backend.launches.lock().unwrap().contains_key("load-1"));
}

#[tokio::test]
async fn a_service_stuck_in_the_queue_hits_the_queue_deadline() {
    let (s, _) = run_plans(vec![("svc", Plan::Queue)]).await;
    assert_eq!(
        verdict(&s),
        (Phase::Failed, reason::QUEUE_DEADLINE.to_string())
    );
}

#[tokio::test]
async fn cancel_collects_and_ends_cancelled() {
    let backend = Arc::new(MemoryBackend::new(vec![
        ("svc", serve(0)),
        ("load-1", finish(10_000, 0)),
        ("load-2", finish(10_000, 0)),
    ]));
    let ws = tempfile::tempdir().unwrap();
    let signals = Signals::default();
    let cancel = signals.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        cancel.cancel();
    });
    let s = run_on(backend, ws.path(), signals).await;
    assert_eq!(
        verdict(&s),
        (Phase::Cancelled, reason::CANCELLED.to_string())
    );
}

#[tokio::test]
async fn a_restarted_driver_adopts_instead_of_launching_again() {
    let backend = Arc::new(MemoryBackend::new(vec![
        ("svc", serve(0)),
        ("load-1", finish(400, 0)),
        ("load-2", finish(400, 0)),
    ]));
    let ws = tempfile::tempdir().unwrap();
    // The first driver dies mid-run, once everything is launched (its task
    // is aborted: no cleanup, as after SIGKILL).
    let first = {
        let backend = backend.clone();
        let ws = ws.path().to_path_buf();
        tokio::spawn(async move { run_on(backend, &ws, Signals::default()).await })
    };
    for _ in 0..400 {
        if backend.launches.lock().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.abort();
    assert!(first.await.is_err(), "the first driver was still running");
    assert_eq!(backend.launches.lock().unwrap().len(), 3);
    // The second one finds every component already running.
    let s = run_on(backend.clone(), ws.path(), Signals::default()).await;
    assert_eq!(
        verdict(&s),
        (Phase::Succeeded, reason::COMPLETED.to_string())
    );
    assert!(backend.launches.lock().unwrap().values().all(|n| *n == 1));
}
