//! Collecting: clients are stopped first, then the post-actions run one at
//! a time in order; once nothing is left running, the objectives are checked
//! and the terminal phase is written.

use super::Reconciler;
use crate::api::spec::PostAction;
use crate::api::status::{ComponentKind, ComponentState, Phase, condition, reason};
use crate::engine::{Action, ActionOutcome, evaluate_slo};

impl Reconciler<'_> {
    pub(super) fn collecting(&mut self) {
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
}
