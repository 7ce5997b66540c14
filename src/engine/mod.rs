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
//!
//! This file holds the entry point and its answer ([`Decision`], [`Action`]);
//! `observations` the inputs, `plan` the components a spec expands to,
//! `reconciler` the state machine (one file per phase under `reconciler/`),
//! and `slo` the service-level objectives checked on the summary.

mod observations;
mod plan;
mod reconciler;
mod slo;
#[cfg(test)]
mod tests;

use jiff::Timestamp;

pub use observations::{
    ActionOutcome, EXIT_ERROR_POLICY, Observations, Observed, Placement, RunState,
};
pub use plan::{PlannedComponent, plan_components, post_action_order};
pub use slo::evaluate_slo;

use crate::api::spec::{Benchmark, PostAction};
use crate::api::status::BenchmarkStatus;

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
    reconciler::decide(benchmark, status, obs, now)
}
