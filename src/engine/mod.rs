//! The pure heart of aifbench: one function decides what happens next.
//!
//! `reconcile(benchmark, status, observations, now) -> (new status, actions)`
//!
//! It performs no I/O and reads no clock: drivers (`aifbench run`, the
//! operator) observe the world, call it, carry out the actions, and call it
//! again. Because every decision lives here — phase transitions, health-check
//! timeouts, a service dying mid-run, a client failing beyond its error
//! policy, the run duration, post-actions, cancellation — every decision is
//! unit-tested without processes, networks or sleeping.
//!
//! Phases: Pending → Launching → WaitingReady → Running → Collecting →
//! Succeeded | Failed | Cancelled. A failure or a cancellation never skips
//! Collecting: clients are stopped, metrics collected, services stopped and
//! the partial results reported before the terminal phase is written.

mod plan;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

pub use plan::{PlannedComponent, plan_components, post_action_order};

use crate::api::spec::{Benchmark, PostAction, SloMetric, SloSpec, SloStat};
use crate::api::status::{
    BenchmarkStatus, ClientProgress, ComponentKind, ComponentState, ComponentStatus, Phase,
    PostActionStatus, ResultsSummary, condition, reason,
};
use crate::api::validate::validate;

/// Exit code with which `aifbench loadgen` reports that its error policy
/// aborted it (too many consecutive errors).
pub const EXIT_ERROR_POLICY: i32 = 3;

/// What a backend says about one component.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum RunState {
    /// Nothing known yet (not launched, or launch still in flight).
    #[default]
    Unknown,
    /// The backend refused to launch it.
    LaunchFailed(String),
    /// Accepted but waiting (e.g. Slurm PENDING) for the given reason.
    Queued(String),
    /// Running.
    Running,
    /// Finished, with its exit code if known and a reason (e.g. a signal,
    /// Slurm's TIMEOUT).
    Exited {
        /// Exit code, when the backend knows it.
        code: Option<i32>,
        /// Why, when more than an exit code is known.
        reason: Option<String>,
    },
}

/// Where a component runs, once known.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Placement {
    /// Process id.
    pub pid: Option<u32>,
    /// Slurm job id.
    pub job_id: Option<String>,
    /// Pod name.
    pub pod_name: Option<String>,
    /// Node.
    pub node: Option<String>,
    /// Base URL for other components.
    pub endpoint: Option<String>,
}

/// What the driver saw of one component.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Observed {
    /// Backend state.
    pub run: RunState,
    /// The health check passes (services).
    pub healthy: bool,
    /// Where it runs.
    pub placement: Placement,
    /// Live counters (clients).
    pub progress: Option<ClientProgress>,
}

/// How a post-action carried out by the driver ended.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionOutcome {
    /// Done.
    Succeeded,
    /// Failed, with the reason.
    Failed(String),
}

/// Everything the driver observed since the last call.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Observations {
    /// Per component id.
    pub components: BTreeMap<String, Observed>,
    /// The user asked to cancel (Ctrl-C, deletion).
    pub cancel_requested: bool,
    /// Outcomes of driver-run post-actions (collectMetrics' final scrape is
    /// expressed as stopping monitors; report is run by the driver).
    pub post_actions: BTreeMap<PostAction, ActionOutcome>,
    /// Headline numbers, once the report exists.
    pub summary: Option<ResultsSummary>,
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Launch a service or client instance (backends) or start a monitor
    /// (driver).
    Launch(String),
    /// Stop a component gracefully (SIGTERM / scancel / pod delete), forcing
    /// after the grace period. Monitors do a final scrape when stopped.
    Stop(String),
    /// Run a post-action and report its outcome.
    RunPostAction(PostAction),
}

/// The engine's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The status to write.
    pub status: BenchmarkStatus,
    /// What to do now, in order.
    pub actions: Vec<Action>,
}

/// Decides the next status and actions. Pure: same inputs, same outputs.
pub fn reconcile(
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

    // ---- Pending ----------------------------------------------------------

    fn start(&mut self) {
        self.status.observed_generation = self.b.metadata.generation;
        self.status.start_time.get_or_insert(self.now);
        let errors = validate(self.b);
        if !errors.is_empty() {
            let msg = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            self.status.set_condition(
                condition::VALIDATED,
                false,
                reason::INVALID_SPEC,
                msg.clone(),
                self.now,
            );
            self.status.set_condition(
                condition::SUCCEEDED,
                false,
                reason::INVALID_SPEC,
                msg,
                self.now,
            );
            self.finish(Phase::Failed);
            return;
        }
        self.status
            .set_condition(condition::VALIDATED, true, reason::VALID, "", self.now);
        let planned = plan_components(&self.b.spec);
        let mut backends: Vec<&str> = planned
            .iter()
            .filter_map(|p| p.executor)
            .map(|e| e.as_str())
            .collect();
        backends.sort_unstable();
        backends.dedup();
        self.status.backend = Some(backends.join(","));
        self.status.components = planned
            .iter()
            .map(|p| ComponentStatus::new(&p.id, p.kind, p.runner()))
            .collect();
        self.status.post_actions = post_action_order(&self.b.spec.execution.post_actions)
            .into_iter()
            .map(|action| PostActionStatus {
                action,
                state: "Pending".to_string(),
                message: None,
            })
            .collect();
        self.set_phase(Phase::Launching);
        for id in self.ids_of(ComponentKind::Service) {
            self.launch(&id);
        }
    }

    // ---- Observations -----------------------------------------------------

    fn apply_observations(&mut self) {
        let now = self.now;
        for c in &mut self.status.components {
            let Some(o) = self.obs.components.get(&c.id) else {
                continue;
            };
            let p = &o.placement;
            if p.pid.is_some() {
                c.pid = p.pid;
            }
            if p.job_id.is_some() {
                c.job_id.clone_from(&p.job_id);
            }
            if p.pod_name.is_some() {
                c.pod_name.clone_from(&p.pod_name);
            }
            if p.node.is_some() {
                c.node.clone_from(&p.node);
            }
            if p.endpoint.is_some() {
                c.endpoint.clone_from(&p.endpoint);
            }
            if o.progress.is_some() {
                c.progress.clone_from(&o.progress);
            }
            if c.state.is_finished() || c.state == ComponentState::Pending {
                continue;
            }
            match &o.run {
                RunState::Unknown => {}
                RunState::LaunchFailed(msg) => {
                    c.state = ComponentState::Failed;
                    c.reason = Some(reason::LAUNCH_FAILED.to_string());
                    c.message = Some(msg.clone());
                    c.end_time = Some(now);
                }
                RunState::Queued(why) => {
                    if c.state == ComponentState::Launching {
                        c.queued_time.get_or_insert(now);
                        c.reason = Some(reason::QUEUED.to_string());
                        c.message = Some(why.clone());
                    }
                }
                RunState::Running => {
                    c.start_time.get_or_insert(now);
                    match (c.kind, c.state) {
                        (_, ComponentState::Stopping) => {}
                        (ComponentKind::Service, _)
                            if o.healthy || !has_healthcheck(self.b, &c.id) =>
                        {
                            c.state = ComponentState::Ready;
                            c.reason = Some(reason::HEALTHY.to_string());
                            c.message = None;
                        }
                        (ComponentKind::Service, _) => {
                            c.state = ComponentState::Starting;
                            c.reason = Some(reason::WAITING.to_string());
                            c.message = None;
                        }
                        _ => {
                            c.state = ComponentState::Running;
                            c.reason = Some(reason::RUNNING.to_string());
                            c.message = None;
                        }
                    }
                }
                RunState::Exited { code, reason: why } => {
                    c.exit_code = *code;
                    c.end_time = Some(now);
                    let stopping = c.state == ComponentState::Stopping;
                    let (state, r) = match (c.kind, code) {
                        (ComponentKind::Client, Some(0)) => {
                            (ComponentState::Succeeded, reason::COMPLETED)
                        }
                        (ComponentKind::Client, Some(EXIT_ERROR_POLICY)) => {
                            (ComponentState::Failed, reason::ERROR_THRESHOLD)
                        }
                        (_, _) if stopping => (ComponentState::Stopped, reason::STOPPED),
                        (ComponentKind::Client, _) => {
                            (ComponentState::Failed, reason::CLIENT_FAILED)
                        }
                        (ComponentKind::Monitor, _) => (ComponentState::Stopped, reason::STOPPED),
                        (ComponentKind::Service, _) => {
                            (ComponentState::Failed, reason::SERVICE_EXITED)
                        }
                    };
                    c.state = state;
                    c.reason = Some(r.to_string());
                    let mut msg = match code {
                        Some(code) => format!("exited with code {code}"),
                        None => "exited".to_string(),
                    };
                    if let Some(w) = why {
                        msg.push_str(&format!(" ({w})"));
                    }
                    c.message = Some(msg);
                }
            }
        }
    }

    // ---- Launching & WaitingReady -------------------------------------------

    fn launching(&mut self) {
        if self.service_failure() {
            return;
        }
        if self.queue_check() {
            return;
        }
        let services = self.components(ComponentKind::Service);
        if services
            .iter()
            .all(|c| matches!(c.state, ComponentState::Starting | ComponentState::Ready))
        {
            self.set_phase(Phase::WaitingReady);
        }
    }

    /// Keeps the `Queued` condition up to date for every component waiting
    /// in a backend's queue (services and client instances) and fails the
    /// benchmark once one has waited longer than `queueDeadline`; true if so.
    fn queue_check(&mut self) -> bool {
        let queued: Vec<ComponentStatus> = self
            .status
            .components
            .iter()
            .filter(|c| {
                c.state == ComponentState::Launching && c.reason.as_deref() == Some(reason::QUEUED)
            })
            .cloned()
            .collect();
        let describe = |cs: &[&ComponentStatus]| {
            cs.iter()
                .map(|c| format!("{}: {}", c.id, c.message.clone().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if let Some(deadline) = self.b.spec.execution.queue_deadline {
            let late: Vec<&ComponentStatus> = queued
                .iter()
                .filter(|c| elapsed(c.queued_time.unwrap_or(self.now), self.now) > deadline.get())
                .collect();
            if !late.is_empty() {
                self.fail(
                    reason::QUEUE_DEADLINE,
                    format!("still queued after {deadline} ({})", describe(&late)),
                );
                return true;
            }
        }
        if queued.is_empty() {
            if self.status.condition(condition::QUEUED).is_some() {
                self.status
                    .set_condition(condition::QUEUED, false, reason::RUNNING, "", self.now);
            }
        } else {
            let all: Vec<&ComponentStatus> = queued.iter().collect();
            self.status.set_condition(
                condition::QUEUED,
                true,
                reason::QUEUED,
                describe(&all),
                self.now,
            );
        }
        false
    }

    fn waiting_ready(&mut self) {
        if self.service_failure() {
            return;
        }
        let mut waiting = Vec::new();
        for c in self.components(ComponentKind::Service) {
            if c.state == ComponentState::Ready {
                continue;
            }
            let timeout = self
                .b
                .spec
                .services
                .iter()
                .find(|s| s.id == c.id)
                .and_then(|s| s.healthcheck.as_ref())
                .map(|h| h.timeout.get());
            let since = c.start_time.unwrap_or(self.now);
            if let Some(t) = timeout
                && elapsed(since, self.now) > t
            {
                let at = c.endpoint.clone().unwrap_or_default();
                let id = c.id.clone();
                self.set_component_reason(&id, reason::HEALTHCHECK_TIMEOUT);
                self.fail(
                    reason::HEALTHCHECK_TIMEOUT,
                    format!(
                        "service {id} did not pass its health check within {} {at}",
                        crate::api::duration::Duration(t)
                    ),
                );
                return;
            }
            waiting.push(c.id.clone());
        }
        if waiting.is_empty() {
            self.status.set_condition(
                condition::SERVICES_READY,
                true,
                reason::HEALTHY,
                "",
                self.now,
            );
            self.set_phase(Phase::Running);
            for id in self.ids_of(ComponentKind::Monitor) {
                self.launch(&id);
            }
            for id in self.ids_of(ComponentKind::Client) {
                self.launch(&id);
            }
        } else {
            self.status.set_condition(
                condition::SERVICES_READY,
                false,
                reason::WAITING,
                format!("waiting for {}", waiting.join(", ")),
                self.now,
            );
        }
    }

    /// Fails the benchmark if a service failed or exited; true if so.
    fn service_failure(&mut self) -> bool {
        let failed = self
            .components(ComponentKind::Service)
            .into_iter()
            .find(|c| c.state == ComponentState::Failed);
        match failed {
            Some(c) => {
                let r = c
                    .reason
                    .clone()
                    .unwrap_or_else(|| reason::SERVICE_EXITED.to_string());
                let msg = format!(
                    "service {}: {}",
                    c.id,
                    c.message.clone().unwrap_or_default()
                );
                self.fail(&r, msg);
                true
            }
            None => false,
        }
    }

    // ---- Running ----------------------------------------------------------

    fn running(&mut self) {
        if self.service_failure() {
            return;
        }
        let clients = self.components(ComponentKind::Client);
        if let Some(c) = clients.iter().find(|c| c.state == ComponentState::Failed) {
            let r = c
                .reason
                .clone()
                .unwrap_or_else(|| reason::CLIENT_FAILED.to_string());
            let msg = format!("client {}: {}", c.id, c.message.clone().unwrap_or_default());
            self.fail(&r, msg);
            return;
        }
        if self.queue_check() {
            return;
        }
        if !clients.iter().any(|c| c.state == ComponentState::Launching) {
            self.status.run_start_time.get_or_insert(self.now);
        }
        let all_done = clients.iter().all(|c| c.state.is_finished());
        let duration = self.b.spec.execution.duration.map(|d| d.get());
        let stopping = clients.iter().any(|c| c.state == ComponentState::Stopping);
        if all_done && (!clients.is_empty() || duration.is_none()) {
            let (r, msg) = match self.status.condition(condition::CLIENTS_FINISHED) {
                Some(c) if c.reason == reason::DURATION_REACHED => {
                    (reason::DURATION_REACHED, c.message.clone())
                }
                _ => (reason::COMPLETED, "every client finished".to_string()),
            };
            self.status
                .set_condition(condition::CLIENTS_FINISHED, true, r, msg, self.now);
            self.set_phase(Phase::Collecting);
            return;
        }
        if let Some(d) = duration
            && !stopping
            && self.phase_elapsed() >= d
        {
            let msg = format!(
                "execution.duration {} reached",
                crate::api::duration::Duration(d)
            );
            self.status.set_condition(
                condition::CLIENTS_FINISHED,
                false,
                reason::DURATION_REACHED,
                msg,
                self.now,
            );
            if clients.is_empty() {
                self.status.set_condition(
                    condition::CLIENTS_FINISHED,
                    true,
                    reason::DURATION_REACHED,
                    "no clients; services ran for execution.duration",
                    self.now,
                );
                self.set_phase(Phase::Collecting);
                return;
            }
            for id in self.active_ids(ComponentKind::Client) {
                self.stop(&id);
            }
        }
    }

    // ---- Collecting -------------------------------------------------------

    fn collecting(&mut self) {
        // Clients first: their results must be complete before anything else.
        let clients_active = self
            .components(ComponentKind::Client)
            .iter()
            .any(|c| c.state.is_active());
        if clients_active {
            for id in self.active_ids(ComponentKind::Client) {
                self.stop(&id);
            }
            return;
        }
        // Post-actions, one at a time, in order.
        let mut idx = 0;
        while idx < self.status.post_actions.len() {
            let action = self.status.post_actions[idx].action;
            let state = self.status.post_actions[idx].state.clone();
            match state.as_str() {
                "Succeeded" | "Failed" => {
                    idx += 1;
                    continue;
                }
                "Pending" => {
                    self.status.post_actions[idx].state = "Running".to_string();
                    self.begin_post_action(action);
                }
                _ => {}
            }
            match self.post_action_outcome(action) {
                Some(ActionOutcome::Succeeded) => {
                    self.status.post_actions[idx].state = "Succeeded".to_string();
                    idx += 1;
                }
                Some(ActionOutcome::Failed(msg)) => {
                    self.status.post_actions[idx].state = "Failed".to_string();
                    self.status.post_actions[idx].message = Some(msg.clone());
                    if self.verdict().is_none() {
                        self.status.set_condition(
                            condition::SUCCEEDED,
                            false,
                            reason::POST_ACTION_FAILED,
                            format!("{}: {msg}", action.as_str()),
                            self.now,
                        );
                    }
                    idx += 1;
                }
                None => return,
            }
        }
        // Belt and braces: nothing may outlive the benchmark.
        let leftovers: Vec<String> = self
            .status
            .components
            .iter()
            .filter(|c| c.state.is_active())
            .map(|c| c.id.clone())
            .collect();
        if !leftovers.is_empty() {
            for id in leftovers {
                self.stop(&id);
            }
            return;
        }
        self.complete();
    }

    fn begin_post_action(&mut self, action: PostAction) {
        match action {
            PostAction::CollectMetrics => {
                for id in self.active_ids(ComponentKind::Monitor) {
                    self.stop(&id);
                }
            }
            PostAction::StopServices => {
                for id in self.active_ids(ComponentKind::Service) {
                    self.stop(&id);
                }
            }
            PostAction::Report | PostAction::UploadResults => {
                self.actions.push(Action::RunPostAction(action));
            }
        }
    }

    fn post_action_outcome(&self, action: PostAction) -> Option<ActionOutcome> {
        let kind = match action {
            PostAction::CollectMetrics => ComponentKind::Monitor,
            PostAction::StopServices => ComponentKind::Service,
            PostAction::Report | PostAction::UploadResults => {
                return self.obs.post_actions.get(&action).cloned();
            }
        };
        let active = self.components(kind).iter().any(|c| c.state.is_active());
        (!active).then_some(ActionOutcome::Succeeded)
    }

    fn complete(&mut self) {
        for c in &mut self.status.components {
            if c.state == ComponentState::Pending {
                c.state = ComponentState::Stopped;
                c.reason = Some(reason::STOPPED.to_string());
                c.message = Some("never launched".to_string());
            }
        }
        self.status.set_condition(
            condition::RESULTS_COLLECTED,
            true,
            reason::COLLECTED,
            "",
            self.now,
        );
        if let Some(summary) = &self.obs.summary {
            self.status.summary = Some(summary.clone());
        }
        if !self.b.spec.slo.is_empty() {
            match &self.status.summary {
                Some(summary) => {
                    let missed = evaluate_slo(&self.b.spec.slo, summary);
                    if missed.is_empty() {
                        self.status.set_condition(
                            condition::SLO_MET,
                            true,
                            reason::OBJECTIVES_MET,
                            "",
                            self.now,
                        );
                    } else {
                        let msg = missed.join("; ");
                        self.status.set_condition(
                            condition::SLO_MET,
                            false,
                            reason::OBJECTIVES_MISSED,
                            msg.clone(),
                            self.now,
                        );
                        if self.verdict().is_none() {
                            self.status.set_condition(
                                condition::SUCCEEDED,
                                false,
                                reason::OBJECTIVES_MISSED,
                                msg,
                                self.now,
                            );
                        }
                    }
                }
                None => self.status.set_condition(
                    condition::SLO_MET,
                    false,
                    reason::OBJECTIVES_MISSED,
                    "no results to check the objectives against",
                    self.now,
                ),
            }
        }
        let phase = match self.verdict() {
            None => {
                let r = self
                    .status
                    .condition(condition::CLIENTS_FINISHED)
                    .map(|c| c.reason.clone())
                    .unwrap_or_else(|| reason::COMPLETED.to_string());
                self.status
                    .set_condition(condition::SUCCEEDED, true, &r, "", self.now);
                Phase::Succeeded
            }
            Some(r) if r == reason::CANCELLED => Phase::Cancelled,
            Some(_) => Phase::Failed,
        };
        self.finish(phase);
    }

    // ---- Helpers ----------------------------------------------------------

    /// Records a failure (the first one wins) and moves to Collecting.
    fn fail(&mut self, r: &str, message: String) {
        if self.verdict().is_none() {
            self.status
                .set_condition(condition::SUCCEEDED, false, r, message, self.now);
        }
        if self.status.phase != Phase::Collecting {
            if self.status.phase == Phase::WaitingReady || self.status.phase == Phase::Launching {
                let waiting = self
                    .components(ComponentKind::Service)
                    .iter()
                    .any(|c| c.state != ComponentState::Ready);
                if waiting {
                    self.status
                        .set_condition(condition::SERVICES_READY, false, r, "", self.now);
                }
            }
            self.set_phase(Phase::Collecting);
        }
    }

    /// The failure reason, once a failure or cancellation is known.
    fn verdict(&self) -> Option<String> {
        self.status
            .condition(condition::SUCCEEDED)
            .filter(|c| c.status == "False")
            .map(|c| c.reason.clone())
    }

    /// `runDeadline` counts from `runStartTime` (the workload started: every
    /// service healthy, every client instance out of the queue), so time
    /// spent queued or waiting for health checks never counts; those waits
    /// have their own bounds (`queueDeadline`, `healthcheck.timeout`).
    fn check_run_deadline(&mut self) {
        let (Some(deadline), Some(start)) = (
            self.b.spec.execution.run_deadline,
            self.status.run_start_time,
        ) else {
            return;
        };
        if self.status.phase != Phase::Collecting && elapsed(start, self.now) > deadline.get() {
            self.fail(
                reason::RUN_DEADLINE,
                format!("the benchmark ran longer than execution.runDeadline {deadline}"),
            );
        }
    }

    fn set_phase(&mut self, phase: Phase) {
        self.status.phase = phase;
        self.status.phase_start_time = Some(self.now);
    }

    fn finish(&mut self, phase: Phase) {
        self.set_phase(phase);
        self.status.completion_time = Some(self.now);
    }

    fn phase_elapsed(&self) -> std::time::Duration {
        elapsed(self.status.phase_start_time.unwrap_or(self.now), self.now)
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

/// Checks the objectives against the summary; returns the missed ones.
pub fn evaluate_slo(slo: &[SloSpec], s: &ResultsSummary) -> Vec<String> {
    let mut missed = Vec::new();
    for o in slo {
        if let Some(max_rate) = o.max_error_rate {
            let total = s.requests + s.errors;
            let rate = if total == 0 {
                1.0
            } else {
                s.errors as f64 / total as f64
            };
            if rate > max_rate {
                missed.push(format!("error rate {rate:.4} > {max_rate}"));
            }
        }
        if let (Some(metric), Some(max)) = (o.metric, o.max) {
            let value = slo_value(s, metric, o.stat);
            let max_ms = max.get().as_secs_f64() * 1000.0;
            match value {
                Some(v) if v <= max_ms => {}
                Some(v) => {
                    missed.push(format!("{} {:?} {v:.2}ms > {max}", metric.as_str(), o.stat))
                }
                None => missed.push(format!("{} {:?} was not measured", metric.as_str(), o.stat)),
            }
        }
    }
    missed
}

fn slo_value(s: &ResultsSummary, metric: SloMetric, stat: SloStat) -> Option<f64> {
    let p = s.latency_ms.get(metric.as_str())?;
    Some(match stat {
        SloStat::Mean => p.mean,
        SloStat::P50 => p.p50,
        SloStat::P90 => p.p90,
        SloStat::P95 => p.p95,
        SloStat::P99 => p.p99,
    })
}
