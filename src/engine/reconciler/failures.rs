//! How a failure is recorded (the first one wins, and the benchmark moves to
//! Collecting), and the failure checks shared by several phases: a failed
//! service, the queue deadline, the run deadline. A failed component's
//! message (with the last lines it wrote, when its backend knows them) is
//! carried into the `Succeeded` condition, bounded.

use super::{Reconciler, elapsed};
use crate::api::status::{
    ComponentKind, ComponentState, ComponentStatus, Phase, condition, reason,
};

/// Longest a condition's message gets.
pub(super) const MAX_CONDITION_MESSAGE: usize = 2048;

/// `text` of at most `max` characters: when longer, its first quarter, ` … `
/// and its end (what a failure's last lines say is at the end).
pub(super) fn bounded(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    const GAP: &str = " … ";
    let room = max.saturating_sub(GAP.chars().count());
    let head = room / 4;
    let tail = room - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(n - tail).collect();
    format!("{start}{GAP}{end}")
}

impl Reconciler<'_> {
    /// Records a failure (the first one wins; its message bounded to
    /// [`MAX_CONDITION_MESSAGE`]) and moves to Collecting.
    pub(super) fn fail(&mut self, r: &str, message: String) {
        if self.verdict().is_none() {
            let message = bounded(&message, MAX_CONDITION_MESSAGE);
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
    pub(super) fn verdict(&self) -> Option<String> {
        self.status
            .condition(condition::SUCCEEDED)
            .filter(|c| c.status == "False")
            .map(|c| c.reason.clone())
    }

    /// `runDeadline` counts from `runStartTime` (the workload started: every
    /// service healthy, every client instance out of the queue), so time
    /// spent queued or waiting for health checks never counts; those waits
    /// have their own bounds (`queueDeadline`, `healthcheck.timeout`).
    pub(super) fn check_run_deadline(&mut self) {
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

    /// Keeps the `Queued` condition up to date for every component waiting
    /// in a backend's queue (services and client instances) and fails the
    /// benchmark once one has waited longer than `queueDeadline`; true if so.
    pub(super) fn queue_check(&mut self) -> bool {
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

    /// Fails the benchmark if a service failed or exited; true if so.
    pub(super) fn service_failure(&mut self) -> bool {
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
}

#[cfg(test)]
mod tests {
    use super::bounded;

    #[test]
    fn long_messages_keep_their_start_and_end() {
        assert_eq!(bounded("short", 10), "short");
        let b = bounded(&format!("head{}tail", "é".repeat(100)), 20);
        assert_eq!(b.chars().count(), 20, "{b}");
        assert!(
            b.starts_with("head") && b.ends_with("tail") && b.contains(" … "),
            "{b}"
        );
    }
}
