//! Every transition of the engine, the failure paths included, without I/O.

use jiff::SignedDuration;

use super::*;
use crate::api::load::load_str;
use crate::api::status::{ComponentState, Percentiles, Phase, ResultsSummary, condition, reason};

const BASE: &str = r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {name: t}
spec:
  services:
    - id: sim
      command: [aifbench, sim, --port, "{{port}}"]
      ports: [{name: http, port: 0}]
      healthcheck: {path: /health, timeout: 30s}
  clients:
    - id: load
      instances: 2
      target: sim
      workload: {type: openai}
      load: {concurrency: 1}
  monitors:
    - id: prom
      targets: [sim]
"#;

/// Drives the engine like a driver would, with a fake clock.
struct Harness {
    b: Benchmark,
    status: BenchmarkStatus,
    obs: Observations,
    now: Timestamp,
    /// Actions returned by `step` that the driver has not carried out yet.
    unhandled: Vec<Action>,
}

impl Harness {
    fn new(yaml: &str) -> Self {
        let b = load_str(yaml, "t.yaml", &|_| None).unwrap().benchmark;
        Self {
            b,
            status: BenchmarkStatus::default(),
            obs: Observations::default(),
            now: Timestamp::from_second(1_700_000_000).unwrap(),
            unhandled: Vec::new(),
        }
    }

    fn step(&mut self) -> Vec<Action> {
        let d = reconcile(&self.b, &self.status, &self.obs, self.now);
        self.status = d.status;
        self.unhandled.extend(d.actions.iter().cloned());
        d.actions
    }

    fn advance(&mut self, secs: i64) {
        self.now += SignedDuration::from_secs(secs);
    }

    fn set(&mut self, id: &str, run: RunState, healthy: bool) {
        let o = self.obs.components.entry(id.to_string()).or_default();
        o.run = run;
        o.healthy = healthy;
    }

    fn exit(&mut self, id: &str, code: i32) {
        self.set(
            id,
            RunState::Exited {
                code: Some(code),
                reason: None,
            },
            false,
        );
    }

    fn state(&self, id: &str) -> ComponentState {
        self.status.component(id).unwrap().state
    }

    fn verdict(&self) -> (String, String) {
        let c = self.status.condition(condition::SUCCEEDED).unwrap();
        (c.status.clone(), c.reason.clone())
    }

    /// Brings the benchmark to Running with both clients running.
    fn advance_to_running(&mut self) {
        assert_eq!(self.step(), vec![Action::Launch("sim".into())]);
        self.set("sim", RunState::Running, true);
        let actions = self.step();
        assert_eq!(
            actions,
            vec![
                Action::Launch("prom".into()),
                Action::Launch("load-1".into()),
                Action::Launch("load-2".into()),
            ]
        );
        for id in ["prom", "load-1", "load-2"] {
            self.set(id, RunState::Running, false);
        }
        assert!(self.step().is_empty());
        self.unhandled.clear();
        assert_eq!(self.status.phase, Phase::Running);
    }

    /// Lets the driver finish every stop and the report; returns the
    /// actions seen along the way.
    fn finish_collecting(&mut self, report: ActionOutcome) -> Vec<Action> {
        let mut seen = Vec::new();
        // Launches from before collecting were carried out by the test itself.
        self.unhandled.retain(|a| !matches!(a, Action::Launch(_)));
        for _ in 0..10 {
            self.step();
            let actions = std::mem::take(&mut self.unhandled);
            if actions.is_empty() && self.status.phase.is_terminal() {
                break;
            }
            for a in &actions {
                match a {
                    Action::Stop(id) => {
                        let code = if id.starts_with("load") { 0 } else { 143 };
                        self.exit(id, code);
                    }
                    Action::RunPostAction(p) => {
                        self.obs.post_actions.insert(*p, report.clone());
                        self.obs.summary = Some(summary(10.0, 120.0));
                    }
                    Action::Launch(id) => panic!("unexpected launch of {id} while collecting"),
                }
            }
            seen.extend(actions);
        }
        seen
    }
}

fn summary(ttft_p99: f64, e2el_p99: f64) -> ResultsSummary {
    let mut s = ResultsSummary {
        requests: 100,
        errors: 1,
        duration_seconds: 10.0,
        request_throughput: 10.0,
        ..Default::default()
    };
    s.latency_ms.insert(
        "ttft".into(),
        Percentiles {
            p99: ttft_p99,
            ..Default::default()
        },
    );
    s.latency_ms.insert(
        "e2el".into(),
        Percentiles {
            p99: e2el_p99,
            ..Default::default()
        },
    );
    s
}

#[test]
fn happy_path_runs_every_phase_in_order() {
    let mut h = Harness::new(BASE);
    assert_eq!(h.step(), vec![Action::Launch("sim".into())]);
    assert_eq!(h.status.phase, Phase::Launching);
    assert_eq!(h.status.backend.as_deref(), Some("process"));
    assert_eq!(h.status.components.len(), 4);
    // Launched but not healthy yet.
    h.set("sim", RunState::Running, false);
    assert!(h.step().is_empty());
    assert_eq!(h.status.phase, Phase::WaitingReady);
    assert_eq!(h.state("sim"), ComponentState::Starting);
    // Nothing is launched twice while we wait.
    h.advance(1);
    assert!(h.step().is_empty());
    // Healthy: monitors and clients start.
    h.set("sim", RunState::Running, true);
    let actions = h.step();
    assert_eq!(actions.len(), 3);
    assert_eq!(h.status.phase, Phase::Running);
    assert_eq!(
        h.status
            .condition(condition::SERVICES_READY)
            .unwrap()
            .status,
        "True"
    );
    for id in ["prom", "load-1", "load-2"] {
        h.set(id, RunState::Running, false);
    }
    h.step();
    assert_eq!(h.state("load-1"), ComponentState::Running);
    // One client done, the other still running: still Running.
    h.exit("load-1", 0);
    assert!(h.step().is_empty());
    assert_eq!(h.status.phase, Phase::Running);
    h.exit("load-2", 0);
    // Collecting: monitors stop first (collectMetrics), then services.
    let actions = h.step();
    assert_eq!(actions, vec![Action::Stop("prom".into())]);
    assert_eq!(h.status.phase, Phase::Collecting);
    h.exit("prom", 0);
    assert_eq!(h.step(), vec![Action::Stop("sim".into())]);
    h.exit("sim", 143);
    assert_eq!(h.step(), vec![Action::RunPostAction(PostAction::Report)]);
    h.obs
        .post_actions
        .insert(PostAction::Report, ActionOutcome::Succeeded);
    h.obs.summary = Some(summary(10.0, 100.0));
    assert!(h.step().is_empty());
    assert_eq!(h.status.phase, Phase::Succeeded);
    assert_eq!(h.verdict(), ("True".into(), reason::COMPLETED.into()));
    assert_eq!(h.state("sim"), ComponentState::Stopped);
    assert_eq!(h.state("load-2"), ComponentState::Succeeded);
    assert_eq!(h.status.summary.as_ref().unwrap().requests, 100);
    assert!(h.status.completion_time.is_some());
    // Terminal phases are final.
    h.obs.cancel_requested = true;
    assert!(h.step().is_empty());
    assert_eq!(h.status.phase, Phase::Succeeded);
}

#[test]
fn invalid_spec_fails_at_once_naming_the_field() {
    let mut h = Harness::new(&BASE.replace("target: sim", "target: nope"));
    assert!(h.step().is_empty());
    assert_eq!(h.status.phase, Phase::Failed);
    let v = h.status.condition(condition::VALIDATED).unwrap();
    assert_eq!(
        (v.status.as_str(), v.reason.as_str()),
        ("False", reason::INVALID_SPEC)
    );
    assert!(
        v.message.contains("spec.clients[0].target"),
        "{}",
        v.message
    );
}

#[test]
fn healthcheck_timeout_fails_and_stops_the_service() {
    let mut h = Harness::new(BASE);
    h.step();
    h.set("sim", RunState::Running, false);
    h.step();
    h.advance(30);
    assert!(h.step().is_empty(), "30s is not yet past the 30s timeout");
    h.advance(1);
    let actions = h.step();
    assert_eq!(h.status.phase, Phase::Collecting);
    assert_eq!(
        h.verdict(),
        ("False".into(), reason::HEALTHCHECK_TIMEOUT.into())
    );
    // Clients were never launched: they are marked stopped, not started.
    assert!(!actions.iter().any(|a| matches!(a, Action::Launch(_))));
    assert_eq!(h.state("load-1"), ComponentState::Pending);
    let rest = h.finish_collecting(ActionOutcome::Succeeded);
    let all: Vec<_> = actions.into_iter().chain(rest).collect();
    assert!(all.contains(&Action::Stop("sim".into())), "{all:?}");
    assert_eq!(h.status.phase, Phase::Failed);
    assert_eq!(
        h.status
            .condition(condition::SERVICES_READY)
            .unwrap()
            .reason,
        reason::HEALTHCHECK_TIMEOUT
    );
    assert!(h.status.components.iter().all(|c| !c.state.is_active()));
}

#[test]
fn service_exit_during_run_fails_and_stops_clients() {
    let mut h = Harness::new(BASE);
    h.advance_to_running();
    h.exit("sim", 1);
    let actions = h.step();
    assert_eq!(h.verdict(), ("False".into(), reason::SERVICE_EXITED.into()));
    assert!(actions.contains(&Action::Stop("load-1".into())));
    assert!(actions.contains(&Action::Stop("load-2".into())));
    h.finish_collecting(ActionOutcome::Succeeded);
    assert_eq!(h.status.phase, Phase::Failed);
    assert!(h.status.message.as_deref().unwrap().contains("service sim"));
}

#[test]
fn client_aborted_by_error_policy_fails_the_benchmark() {
    let mut h = Harness::new(BASE);
    h.advance_to_running();
    h.exit("load-2", EXIT_ERROR_POLICY);
    let actions = h.step();
    assert_eq!(
        h.verdict(),
        ("False".into(), reason::ERROR_THRESHOLD.into())
    );
    assert_eq!(actions, vec![Action::Stop("load-1".into())]);
    h.finish_collecting(ActionOutcome::Succeeded);
    assert_eq!(h.status.phase, Phase::Failed);
    assert_eq!(h.state("load-1"), ComponentState::Succeeded);
}

#[test]
fn client_crash_is_client_failed() {
    let mut h = Harness::new(BASE);
    h.advance_to_running();
    h.exit("load-1", 101);
    h.step();
    assert_eq!(h.verdict(), ("False".into(), reason::CLIENT_FAILED.into()));
}

#[test]
fn execution_duration_stops_clients_and_succeeds() {
    let yaml = format!("{BASE}  execution: {{duration: 10s}}\n");
    let mut h = Harness::new(&yaml);
    h.advance_to_running();
    h.advance(9);
    assert!(h.step().is_empty());
    h.advance(1);
    let actions = h.step();
    assert_eq!(
        actions,
        vec![Action::Stop("load-1".into()), Action::Stop("load-2".into())]
    );
    assert_eq!(h.status.phase, Phase::Running);
    // Stops are not repeated while clients exit.
    assert!(h.step().is_empty());
    h.exit("load-1", 0);
    h.exit("load-2", 0);
    h.finish_collecting(ActionOutcome::Succeeded);
    assert_eq!(h.status.phase, Phase::Succeeded);
    assert_eq!(
        h.verdict(),
        ("True".into(), reason::DURATION_REACHED.into())
    );
}

#[test]
fn execution_duration_counts_from_the_run_start_not_from_running() {
    let yaml = format!("{BASE}  execution: {{duration: 10s, queueDeadline: 1h}}\n");
    let mut h = Harness::new(&yaml);
    h.step();
    h.set("sim", RunState::Running, true);
    h.step();
    assert_eq!(h.status.phase, Phase::Running);
    h.unhandled.clear();
    // The clients wait in the queue for longer than the duration.
    h.set("prom", RunState::Running, false);
    for id in ["load-1", "load-2"] {
        h.set(id, RunState::Queued("Resources".into()), false);
    }
    h.step();
    h.advance(15);
    assert!(h.step().is_empty(), "queue time is not run time");
    assert_eq!(h.status.run_start_time, None);
    for id in ["load-1", "load-2"] {
        h.set(id, RunState::Running, false);
    }
    h.step();
    assert_eq!(h.status.run_start_time, Some(h.now));
    h.advance(9);
    assert!(h.step().is_empty(), "9s of run is not yet 10s");
    h.advance(1);
    assert_eq!(
        h.step(),
        vec![Action::Stop("load-1".into()), Action::Stop("load-2".into())]
    );
}

#[test]
fn services_only_benchmark_runs_for_the_duration() {
    let yaml = r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {name: t}
spec:
  services:
    - {id: sim, command: [sleep, "100"]}
  execution: {duration: 5s}
"#;
    let mut h = Harness::new(yaml);
    h.step();
    h.set("sim", RunState::Running, false);
    h.step();
    assert_eq!(
        h.status.phase,
        Phase::Running,
        "no healthcheck: ready once running"
    );
    h.advance(5);
    h.finish_collecting(ActionOutcome::Succeeded);
    assert_eq!(h.status.phase, Phase::Succeeded);
}

#[test]
fn cancel_while_running_collects_and_ends_cancelled() {
    let mut h = Harness::new(BASE);
    h.advance_to_running();
    h.obs.cancel_requested = true;
    let actions = h.step();
    assert_eq!(h.status.phase, Phase::Collecting);
    assert!(actions.contains(&Action::Stop("load-1".into())));
    let rest = h.finish_collecting(ActionOutcome::Succeeded);
    assert!(
        rest.contains(&Action::RunPostAction(PostAction::Report)),
        "partial results are reported"
    );
    assert_eq!(h.status.phase, Phase::Cancelled);
    assert_eq!(h.state("sim"), ComponentState::Stopped);
}

#[test]
fn cancel_while_waiting_for_health() {
    let mut h = Harness::new(BASE);
    h.step();
    h.set("sim", RunState::Running, false);
    h.step();
    h.obs.cancel_requested = true;
    h.finish_collecting(ActionOutcome::Succeeded);
    assert_eq!(h.status.phase, Phase::Cancelled);
    assert_eq!(h.state("load-1"), ComponentState::Stopped);
}

#[test]
fn launch_failure_fails_with_the_backend_message() {
    let mut h = Harness::new(BASE);
    h.step();
    h.set(
        "sim",
        RunState::LaunchFailed("no such program: aifbenchx".into()),
        false,
    );
    h.step();
    assert_eq!(h.verdict(), ("False".into(), reason::LAUNCH_FAILED.into()));
    assert!(
        h.status
            .condition(condition::SUCCEEDED)
            .unwrap()
            .message
            .contains("no such program")
    );
    h.finish_collecting(ActionOutcome::Succeeded);
    assert_eq!(h.status.phase, Phase::Failed);
}

#[test]
fn queue_deadline_and_queued_condition() {
    let yaml = format!("{BASE}  execution: {{queueDeadline: 60s}}\n");
    let mut h = Harness::new(&yaml);
    h.step();
    h.set("sim", RunState::Queued("Resources".into()), false);
    h.step();
    let q = h.status.condition(condition::QUEUED).unwrap();
    assert_eq!(
        (q.status.as_str(), q.message.as_str()),
        ("True", "sim: Resources")
    );
    h.advance(61);
    let actions = h.step();
    assert_eq!(h.verdict(), ("False".into(), reason::QUEUE_DEADLINE.into()));
    assert!(actions.contains(&Action::Stop("sim".into())), "{actions:?}");
}

#[test]
fn a_queued_client_beyond_the_queue_deadline_fails_the_benchmark() {
    let yaml = format!("{BASE}  execution: {{queueDeadline: 30s, runDeadline: 1h}}\n");
    let mut h = Harness::new(&yaml);
    h.step();
    h.set("sim", RunState::Running, true);
    h.step();
    assert_eq!(h.status.phase, Phase::Running);
    h.set("prom", RunState::Running, false);
    h.set("load-1", RunState::Running, false);
    h.set("load-2", RunState::Queued("Priority".into()), false);
    h.advance(1);
    h.step();
    let q = h.status.condition(condition::QUEUED).unwrap();
    assert_eq!(
        (q.status.as_str(), q.message.as_str()),
        ("True", "load-2: Priority")
    );
    assert_eq!(h.status.run_start_time, None, "a client is still queued");
    h.advance(30);
    h.step();
    assert_eq!(
        h.status.phase,
        Phase::Running,
        "30s queued is not beyond 30s"
    );
    h.advance(1);
    let actions = h.step();
    assert_eq!(h.verdict(), ("False".into(), reason::QUEUE_DEADLINE.into()));
    let msg = &h.status.condition(condition::SUCCEEDED).unwrap().message;
    assert!(msg.contains("load-2: Priority"), "{msg}");
    assert!(!msg.contains("load-1"), "{msg}");
    assert!(
        actions.contains(&Action::Stop("load-2".into())),
        "{actions:?}"
    );
    h.finish_collecting(ActionOutcome::Succeeded);
    assert_eq!(h.status.phase, Phase::Failed);
}

#[test]
fn a_long_queue_does_not_count_towards_the_run_deadline() {
    let yaml = format!("{BASE}  execution: {{queueDeadline: 30s, runDeadline: 5s}}\n");
    let mut h = Harness::new(&yaml);
    h.step();
    h.set("sim", RunState::Queued("Resources".into()), false);
    h.step();
    let queued_at = h.now;
    assert_eq!(
        h.status.component("sim").unwrap().queued_time,
        Some(queued_at)
    );
    h.advance(25);
    h.step();
    assert_eq!(h.status.phase, Phase::Launching);
    assert_eq!(h.status.condition(condition::SUCCEEDED), None);
    // The service runs; its health check takes a while (not run time either).
    h.set("sim", RunState::Running, false);
    h.advance(1);
    h.step();
    assert_eq!(h.status.phase, Phase::WaitingReady);
    h.advance(10);
    h.set("sim", RunState::Running, true);
    h.step();
    assert_eq!(h.status.phase, Phase::Running);
    // The clients wait in the queue too, each within the queue deadline.
    h.set("prom", RunState::Running, false);
    for id in ["load-1", "load-2"] {
        h.set(id, RunState::Queued("Resources".into()), false);
    }
    h.step();
    h.advance(20);
    h.step();
    assert_eq!(h.status.phase, Phase::Running);
    assert_eq!(h.status.condition(condition::SUCCEEDED), None);
    assert_eq!(h.status.run_start_time, None);
    for id in ["load-1", "load-2"] {
        h.set(id, RunState::Running, false);
    }
    h.step();
    assert_eq!(h.status.run_start_time, Some(h.now));
    let q = h.status.condition(condition::QUEUED).unwrap();
    assert_eq!(q.status, "False");
    h.advance(5);
    h.step();
    assert_eq!(h.status.phase, Phase::Running, "5s of run is not beyond 5s");
    h.advance(1);
    h.step();
    assert_eq!(h.verdict(), ("False".into(), reason::RUN_DEADLINE.into()));
}

#[test]
fn run_deadline_fails_a_long_run() {
    let yaml = format!("{BASE}  execution: {{runDeadline: 1m}}\n");
    let mut h = Harness::new(&yaml);
    h.advance_to_running();
    assert_eq!(h.status.run_start_time, Some(h.now));
    h.advance(61);
    h.step();
    assert_eq!(h.verdict(), ("False".into(), reason::RUN_DEADLINE.into()));
    h.finish_collecting(ActionOutcome::Succeeded);
    assert_eq!(h.status.phase, Phase::Failed);
}

#[test]
fn failed_report_fails_the_benchmark() {
    let mut h = Harness::new(BASE);
    h.advance_to_running();
    h.exit("load-1", 0);
    h.exit("load-2", 0);
    h.finish_collecting(ActionOutcome::Failed("disk full".into()));
    assert_eq!(h.status.phase, Phase::Failed);
    assert_eq!(
        h.verdict(),
        ("False".into(), reason::POST_ACTION_FAILED.into())
    );
    let pa = h
        .status
        .post_actions
        .iter()
        .find(|p| p.action == PostAction::Report)
        .unwrap();
    assert_eq!(pa.message.as_deref(), Some("disk full"));
}

#[test]
fn slo_verdicts() {
    let slo = "  slo:\n    - {metric: ttft, stat: p99, max: 50ms}\n    - {maxErrorRate: 0.05}\n";
    let mut h = Harness::new(&format!("{BASE}{slo}"));
    h.advance_to_running();
    h.exit("load-1", 0);
    h.exit("load-2", 0);
    h.finish_collecting(ActionOutcome::Succeeded); // ttft p99 = 10ms, 1% errors
    assert_eq!(h.status.phase, Phase::Succeeded);
    assert_eq!(
        h.status.condition(condition::SLO_MET).unwrap().status,
        "True"
    );

    let strict = slo.replace("50ms", "5ms");
    let mut h = Harness::new(&format!("{BASE}{strict}"));
    h.advance_to_running();
    h.exit("load-1", 0);
    h.exit("load-2", 0);
    h.finish_collecting(ActionOutcome::Succeeded);
    assert_eq!(h.status.phase, Phase::Failed);
    assert_eq!(
        h.verdict(),
        ("False".into(), reason::OBJECTIVES_MISSED.into())
    );
    assert!(
        h.status
            .condition(condition::SLO_MET)
            .unwrap()
            .message
            .contains("ttft")
    );
}

#[test]
fn post_actions_run_in_the_listed_order() {
    let yaml = format!("{BASE}  execution: {{postActions: [stopServices, report]}}\n");
    let mut h = Harness::new(&yaml);
    h.advance_to_running();
    h.exit("load-1", 0);
    h.exit("load-2", 0);
    let seen = h.finish_collecting(ActionOutcome::Succeeded);
    let pos = |a: &Action| seen.iter().position(|x| x == a).unwrap();
    let sim = pos(&Action::Stop("sim".into()));
    let report = pos(&Action::RunPostAction(PostAction::Report));
    let prom = pos(&Action::Stop("prom".into()));
    assert!(sim < report && report < prom, "{seen:?}");
    assert_eq!(h.status.phase, Phase::Succeeded);
}

#[test]
fn upload_results_runs_after_the_report_wherever_it_is_listed() {
    let yaml = format!(
        "{BASE}  results: {{s3: {{bucket: b42}}}}\n  execution: {{postActions: [uploadResults, report]}}\n"
    );
    let mut h = Harness::new(&yaml);
    h.advance_to_running();
    h.exit("load-1", 0);
    h.exit("load-2", 0);
    let seen = h.finish_collecting(ActionOutcome::Succeeded);
    let pos = |a: &Action| seen.iter().position(|x| x == a).unwrap();
    let report = pos(&Action::RunPostAction(PostAction::Report));
    let upload = pos(&Action::RunPostAction(PostAction::UploadResults));
    assert!(report < upload, "{seen:?}");
    let order: Vec<PostAction> = h.status.post_actions.iter().map(|p| p.action).collect();
    assert_eq!(order.last(), Some(&PostAction::UploadResults));
    assert_eq!(h.status.phase, Phase::Succeeded);
}

#[test]
fn condition_transition_time_moves_only_on_change() {
    let mut h = Harness::new(BASE);
    h.step();
    h.set("sim", RunState::Running, false);
    h.step();
    let t0 = h
        .status
        .condition(condition::SERVICES_READY)
        .unwrap()
        .last_transition_time;
    h.advance(2);
    h.step();
    let c = h.status.condition(condition::SERVICES_READY).unwrap();
    assert_eq!(c.last_transition_time, t0);
    h.set("sim", RunState::Running, true);
    h.step();
    let c = h.status.condition(condition::SERVICES_READY).unwrap();
    assert_eq!(c.status, "True");
    assert_ne!(c.last_transition_time, t0);
}

#[test]
fn placement_and_progress_reach_the_status() {
    let mut h = Harness::new(BASE);
    h.step();
    let o = h.obs.components.entry("sim".into()).or_default();
    o.run = RunState::Running;
    o.placement = Placement {
        pid: Some(42),
        endpoint: Some("http://127.0.0.1:9999".into()),
        images: vec!["vllm/vllm-openai:v0.6.3@sha256:0123abcd".into()],
        ..Default::default()
    };
    h.step();
    let c = h.status.component("sim").unwrap();
    assert_eq!(
        (c.pid, c.endpoint.as_deref()),
        (Some(42), Some("http://127.0.0.1:9999"))
    );
    assert_eq!(c.images, ["vllm/vllm-openai:v0.6.3@sha256:0123abcd"]);
    assert!(c.start_time.is_some());
}

#[test]
fn post_actions_wait_until_stopping_clients_have_exited() {
    let mut h = Harness::new(BASE);
    h.advance_to_running();
    h.obs.cancel_requested = true;
    let actions = h.step();
    assert_eq!(
        actions,
        vec![Action::Stop("load-1".into()), Action::Stop("load-2".into())]
    );
    // The clients take their time writing results: nothing else happens.
    for _ in 0..3 {
        h.advance(1);
        assert!(h.step().is_empty());
    }
    h.exit("load-1", 0);
    assert!(h.step().is_empty());
    h.exit("load-2", 0);
    assert_eq!(h.step(), vec![Action::Stop("prom".into())]);
}
