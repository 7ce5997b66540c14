//! Pending: the spec is validated, and the status gets its component and
//! post-action lists before the services are launched.

use super::Reconciler;
use crate::api::status::{
    ComponentKind, ComponentStatus, Phase, PostActionStatus, condition, reason,
};
use crate::api::validate::validate;
use crate::engine::{plan_components, post_action_order};

impl Reconciler<'_> {
    pub(super) fn start(&mut self) {
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
}
