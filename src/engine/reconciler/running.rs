//! Running: clients run until they all finish, one fails, or
//! `execution.duration` is reached (then they are stopped). The duration
//! counts from `runStartTime` (every service healthy, every client instance
//! out of the queue), like `runDeadline`: time queued is not run time.

use super::{Reconciler, elapsed};
use crate::api::status::{ComponentKind, ComponentState, Phase, condition, reason};

impl Reconciler<'_> {
    pub(super) fn running(&mut self) {
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
            && let Some(start) = self.status.run_start_time
            && elapsed(start, self.now) >= d
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
}
