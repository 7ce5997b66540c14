//! What backends saw, applied to the components' states: placement,
//! progress, launch failures, queueing, health, exits and their reasons
//! (a backend's reason may carry the last lines the component wrote on
//! stderr: they go into its message, bounded).

use super::failures::bounded;
use super::{Reconciler, has_healthcheck};
use crate::api::status::{ComponentKind, ComponentState, reason};
use crate::engine::{EXIT_ERROR_POLICY, RunState};

impl Reconciler<'_> {
    pub(super) fn apply_observations(&mut self) {
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
            if !p.images.is_empty() {
                c.images.clone_from(&p.images);
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
                    c.message = Some(exit_message(*code, why.as_deref()));
                }
            }
        }
    }
}

/// Longest a component's message gets (the end is kept: the last lines a
/// failed component wrote say why).
pub(super) const MAX_COMPONENT_MESSAGE: usize = 1024;

/// `exited with code 1`, with a one-line reason in parentheses, or a
/// reason of several lines (a stderr tail) on the lines after it.
fn exit_message(code: Option<i32>, why: Option<&str>) -> String {
    let head = match code {
        Some(code) => format!("exited with code {code}"),
        None => "exited".to_string(),
    };
    let msg = match why.map(str::trim).filter(|w| !w.is_empty()) {
        None => head,
        Some(w) if !w.contains('\n') => format!("{head} ({w})"),
        Some(w) => format!("{head}:\n{w}"),
    };
    bounded(&msg, MAX_COMPONENT_MESSAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_messages_carry_the_reason_and_stay_bounded() {
        assert_eq!(exit_message(Some(0), None), "exited with code 0");
        assert_eq!(exit_message(None, Some(" ")), "exited");
        assert_eq!(
            exit_message(Some(137), Some("killed by SIGKILL")),
            "exited with code 137 (killed by SIGKILL)"
        );
        assert_eq!(
            exit_message(Some(1), Some("Traceback:\nNo module named 'x'")),
            "exited with code 1:\nTraceback:\nNo module named 'x'"
        );
        let long = format!("{}\nthe error", "x".repeat(5000));
        let m = exit_message(Some(1), Some(&long));
        assert!(m.chars().count() <= MAX_COMPONENT_MESSAGE, "{}", m.len());
        assert!(m.starts_with("exited with code 1:"), "{m}");
        assert!(m.ends_with("the error"), "{m}");
    }
}
