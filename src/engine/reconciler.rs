//! The state machine behind [`reconcile`](super::reconcile): one call walks
//! the current phase forward as far as the observations allow.
//!
//! This file holds the walk (`run`) and the bookkeeping every phase shares
//! (phase changes, component lookups, launch and stop, the status message);
//! each phase lives in its own file below: `pending` (validation and the
//! component list), `observe` (observations → component states), `startup`
//! (Launching, WaitingReady), `running`, `collecting` (post-actions and the
//! verdict), and `failures` (how a failure is recorded, and the checks shared
//! by several phases: queue deadline, run deadline, a failed service).

mod collecting;
mod failures;
mod observe;
mod pending;
mod running;
mod startup;

use jiff::{SignedDuration, Timestamp};

use super::{Action, Decision, Observations};
use crate::api::spec::Benchmark;
use crate::api::status::{
    BenchmarkStatus, ComponentKind, ComponentState, ComponentStatus, Phase, condition, reason,
};

/// Runs the state machine once. Pure: same inputs, same outputs.
pub(super) fn decide(
    benchmark: &Benchmark,
    status: &BenchmarkStatus,
    obs: &Observations,
    now: Timestamp,
) -> Decision {
    let mut r = Reconciler {
        b: benchmark,
        status: status.clone(),
        obs,
        now,
        actions: Vec::new(),
    };
    r.run();
    Decision {
        status: r.status,
        actions: r.actions,
    }
}

struct Reconciler<'a> {
    b: &'a Benchmark,
    status: BenchmarkStatus,
    obs: &'a Observations,
    now: Timestamp,
    actions: Vec<Action>,
}

impl Reconciler<'_> {
    fn run(&mut self) {
        if self.status.phase.is_terminal() {
            return;
        }
        if self.status.phase == Phase::Pending {
            self.start();
            if self.status.phase.is_terminal() {
                return;
            }
        }
        self.apply_observations();
        if self.obs.cancel_requested && self.status.phase != Phase::Collecting {
            self.fail(reason::CANCELLED, "cancelled by the user".to_string());
        }
        self.check_run_deadline();
        // Each step may move to the next phase; let the next one look at the
        // same observations at once, so no tick is wasted.
        for _ in 0..6 {
            let before = self.status.phase;
            match before {
                Phase::Launching => self.launching(),
                Phase::WaitingReady => self.waiting_ready(),
                Phase::Running => self.running(),
                Phase::Collecting => self.collecting(),
                _ => {}
            }
            if self.status.phase == before {
                break;
            }
        }
        self.update_message();
    }

    // ---- Helpers ----------------------------------------------------------

    fn set_phase(&mut self, phase: Phase) {
        self.status.phase = phase;
        self.status.phase_start_time = Some(self.now);
    }

    fn finish(&mut self, phase: Phase) {
        self.set_phase(phase);
        self.status.completion_time = Some(self.now);
    }

    fn components(&self, kind: ComponentKind) -> Vec<ComponentStatus> {
        self.status
            .components
            .iter()
            .filter(|c| c.kind == kind)
            .cloned()
            .collect()
    }

    fn ids_of(&self, kind: ComponentKind) -> Vec<String> {
        self.status
            .components
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.id.clone())
            .collect()
    }

    fn active_ids(&self, kind: ComponentKind) -> Vec<String> {
        self.status
            .components
            .iter()
            .filter(|c| {
                c.kind == kind && c.state.is_active() && c.state != ComponentState::Stopping
            })
            .map(|c| c.id.clone())
            .collect()
    }

    fn launch(&mut self, id: &str) {
        if let Some(c) = self.status.components.iter_mut().find(|c| c.id == id)
            && c.state == ComponentState::Pending
        {
            c.state = ComponentState::Launching;
            c.reason = None;
            self.actions.push(Action::Launch(id.to_string()));
        }
    }

    fn stop(&mut self, id: &str) {
        if let Some(c) = self.status.components.iter_mut().find(|c| c.id == id) {
            if c.state.is_active() && c.state != ComponentState::Stopping {
                c.state = ComponentState::Stopping;
                self.actions.push(Action::Stop(id.to_string()));
            } else if c.state == ComponentState::Pending {
                c.state = ComponentState::Stopped;
                c.reason = Some(reason::STOPPED.to_string());
                c.message = Some("never launched".to_string());
            }
        }
    }

    fn set_component_reason(&mut self, id: &str, r: &str) {
        if let Some(c) = self.status.components.iter_mut().find(|c| c.id == id) {
            c.reason = Some(r.to_string());
        }
    }

    fn update_message(&mut self) {
        let s = &self.status;
        let msg = match s.phase {
            Phase::Launching => "launching services".to_string(),
            Phase::WaitingReady => s
                .condition(condition::SERVICES_READY)
                .map(|c| c.message.clone())
                .unwrap_or_default(),
            Phase::Running => {
                let n = s
                    .components
                    .iter()
                    .filter(|c| {
                        c.kind == ComponentKind::Client && c.state == ComponentState::Running
                    })
                    .count();
                format!("{n} client instance(s) running")
            }
            Phase::Collecting => match self.verdict() {
                Some(r) => format!("collecting results after {r}"),
                None => "collecting results".to_string(),
            },
            Phase::Succeeded | Phase::Failed | Phase::Cancelled => s
                .condition(condition::SUCCEEDED)
                .map(|c| {
                    if c.message.is_empty() {
                        c.reason.clone()
                    } else {
                        format!("{}: {}", c.reason, c.message)
                    }
                })
                .unwrap_or_default(),
            Phase::Pending => String::new(),
        };
        self.status.message = (!msg.is_empty()).then_some(msg);
    }
}

fn has_healthcheck(b: &Benchmark, id: &str) -> bool {
    b.spec
        .services
        .iter()
        .any(|s| s.id == id && s.healthcheck.is_some())
}

fn elapsed(since: Timestamp, now: Timestamp) -> std::time::Duration {
    let d: SignedDuration = now.duration_since(since);
    std::time::Duration::try_from(d).unwrap_or_default()
}
