//! The step of the loop with a scripted doer and a store in memory.

use std::collections::BTreeSet;
use std::convert::Infallible;

use super::*;
use crate::api::load::load_str;
use crate::api::status::{ComponentState, Phase};

const ONE_SERVICE: &str = r#"
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
      target: sim
      workload: {type: openai}
      load: {concurrency: 1}
"#;

fn benchmark() -> Benchmark {
    load_str(ONE_SERVICE, "t.yaml", &|_| None)
        .expect("test benchmark loads")
        .benchmark
}

/// A doer whose launches of `refuse` fail, and that remembers every action.
#[derive(Default)]
struct Scripted {
    refuse: BTreeSet<String>,
    acted: Vec<Action>,
    /// Calls of `act` (rounds).
    rounds: usize,
    report_summary: Option<ResultsSummary>,
}

impl Doer for Scripted {
    type Error = Infallible;

    async fn observe(&mut self) -> Result<Observations, Infallible> {
        Ok(Observations::default())
    }

    async fn act(
        &mut self,
        actions: &[Action],
        _status: &BenchmarkStatus,
    ) -> Result<Feedback, Infallible> {
        self.rounds += 1;
        let mut fb = Feedback::default();
        for a in actions {
            self.acted.push(a.clone());
            match a {
                Action::Launch(id) if self.refuse.contains(id) => {
                    fb.launch_failed
                        .insert(id.clone(), format!("{id}: no such partition"));
                }
                Action::RunPostAction(p) => {
                    fb.post_actions.insert(*p, ActionOutcome::Succeeded);
                    if *p == PostAction::Report {
                        fb.summary = self.report_summary.clone();
                        fb.warnings.push(Warning {
                            reason: "ApproximateSummary".into(),
                            message: "merged from summaries".into(),
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(fb)
    }
}

#[derive(Default)]
struct Memory {
    status: BenchmarkStatus,
    records: usize,
}

impl StatusStore for Memory {
    type Error = Infallible;

    async fn load(&mut self) -> Result<BenchmarkStatus, Infallible> {
        Ok(self.status.clone())
    }

    async fn record(&mut self, status: &BenchmarkStatus) -> Result<(), Infallible> {
        self.status = status.clone();
        self.records += 1;
        Ok(())
    }
}

fn now() -> Timestamp {
    Timestamp::from_second(1_700_000_000).expect("valid time")
}

/// Runs up to `max` steps with a doer refusing to launch `sim`, stopping
/// at a terminal phase; returns the doer, the store and the steps taken.
async fn refused_sim(max: usize) -> (Scripted, Memory, usize) {
    let b = benchmark();
    let mut doer = Scripted {
        refuse: BTreeSet::from(["sim".to_string()]),
        ..Default::default()
    };
    let mut store = Memory::default();
    let mut carry = Feedback::default();
    let mut steps = 0;
    while steps < max && !store.status.phase.is_terminal() {
        let s = step(&b, &mut doer, &mut store, carry, now())
            .await
            .expect("infallible");
        carry = s.carry;
        steps += 1;
    }
    (doer, store, steps)
}

#[tokio::test]
async fn a_refused_launch_ends_the_run_within_one_step() {
    let (doer, store, steps) = refused_sim(5).await;
    // The refusal, the stop of everything else, the report and the end
    // all happen in the step that launched.
    assert_eq!(steps, 1, "{:?}", doer.acted);
    let sim = store
        .status
        .components
        .iter()
        .find(|c| c.id == "sim")
        .expect("sim in status");
    assert_eq!(sim.state, ComponentState::Failed, "{sim:?}");
    assert_eq!(sim.reason.as_deref(), Some("LaunchFailed"), "{sim:?}");
    assert!(
        sim.message
            .as_deref()
            .is_some_and(|m| m.contains("no such partition")),
        "{sim:?}"
    );
    assert_eq!(store.status.phase, Phase::Failed, "{:?}", store.status);
    // The refusal reached the engine in the step that launched, which went
    // on to the post-actions (each of them an action carried out).
    assert!(doer.rounds >= 2, "rounds: {}", doer.rounds);
    assert!(
        doer.acted
            .iter()
            .any(|a| matches!(a, Action::RunPostAction(PostAction::Report))),
        "{:?}",
        doer.acted
    );
    assert!(store.records >= 1);
}

#[tokio::test]
async fn every_decided_action_is_carried_out_once() {
    let (doer, _, _) = refused_sim(5).await;
    let launches = doer
        .acted
        .iter()
        .filter(|a| **a == Action::Launch("sim".into()))
        .count();
    assert_eq!(launches, 1, "{:?}", doer.acted);
    let reports = doer
        .acted
        .iter()
        .filter(|a| **a == Action::RunPostAction(PostAction::Report))
        .count();
    assert_eq!(reports, 1, "{:?}", doer.acted);
}

#[test]
fn feedback_folds_into_observations_and_keeps_warnings() {
    let mut fb = Feedback::default();
    fb.launch_failed.insert("a".into(), "refused".into());
    fb.post_actions
        .insert(PostAction::Report, ActionOutcome::Succeeded);
    fb.warnings.push(Warning {
        reason: "R".into(),
        message: "m".into(),
    });
    assert!(!fb.is_empty());
    let mut obs = Observations::default();
    fb.fold_into(&mut obs);
    assert_eq!(
        obs.components.get("a").map(|o| o.run.clone()),
        Some(RunState::LaunchFailed("refused".into()))
    );
    assert_eq!(
        obs.post_actions.get(&PostAction::Report),
        Some(&ActionOutcome::Succeeded)
    );
    assert!(fb.is_empty(), "folded outcomes are gone: {fb:?}");
    assert_eq!(fb.warnings.len(), 1);
}

#[test]
fn merge_keeps_the_later_outcome() {
    let mut a = Feedback::default();
    a.post_actions
        .insert(PostAction::Report, ActionOutcome::Failed("x".into()));
    let mut b = Feedback::default();
    b.post_actions
        .insert(PostAction::Report, ActionOutcome::Succeeded);
    a.merge(b);
    assert_eq!(
        a.post_actions.get(&PostAction::Report),
        Some(&ActionOutcome::Succeeded)
    );
}
