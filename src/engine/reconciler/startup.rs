//! Launching and WaitingReady: services start, then pass their health
//! checks within their timeouts; monitors and clients are launched once
//! every service is ready.

use super::{Reconciler, elapsed};
use crate::api::status::{ComponentKind, ComponentState, Phase, condition, reason};

impl Reconciler<'_> {
    pub(super) fn launching(&mut self) {
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

    pub(super) fn waiting_ready(&mut self) {
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
}
