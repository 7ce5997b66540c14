//! The driver loop, written once for both drivers: observe → decide
//! (`engine::reconcile`) → act → record.
//!
//! A driver is two things this module asks for:
//!
//! - a [`Doer`]: observes the components (through the backends, health
//!   checks and monitor tasks) and carries out the engine's actions,
//!   reporting their immediate outcomes as [`Feedback`];
//! - a [`StatusStore`]: where the status lives between steps — the results
//!   folder's `status.yaml` for `aifbench run` (`local`), the Benchmark's
//!   status subresource for the operator (`operator::controller`).
//!
//! [`step`] is one round of the loop. Outcomes known at once (a launch the
//! backend refused, a post-action that finished) are fed back to the engine
//! within the same step, a few rounds at most, so one step gets as far as
//! it can; the actions of every decision are carried out, and feedback the
//! last round could not fold in is returned for the next step. `aifbench
//! run` calls [`step`] every tick until a terminal phase; the operator
//! calls it once per reconcile.

use std::collections::BTreeMap;
use std::future::Future;

use jiff::Timestamp;

use crate::api::spec::{Benchmark, PostAction};
use crate::api::status::{BenchmarkStatus, ResultsSummary};
use crate::engine::{self, Action, ActionOutcome, Observations, RunState};

/// How many times one step asks the engine again with the outcomes of the
/// actions it just carried out. Each round needs new outcomes, so the
/// engine settles well before (launch refused → stop the rest → report →
/// upload is four).
pub const FEEDBACK_ROUNDS: usize = 8;

/// A warning raised while acting (an approximate summary, say): logged by
/// `aifbench run`, published as a Kubernetes Event by the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// A CamelCase reason (`ApproximateSummary`).
    pub reason: String,
    /// What happened, for people.
    pub message: String,
}

/// Outcomes of carrying out actions, known at once, for the engine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Feedback {
    /// Launches the backend refused, with its message.
    pub launch_failed: BTreeMap<String, String>,
    /// Post-actions that ended.
    pub post_actions: BTreeMap<PostAction, ActionOutcome>,
    /// The headline numbers, once a report computed them.
    pub summary: Option<ResultsSummary>,
    /// Warnings for people (not for the engine).
    pub warnings: Vec<Warning>,
}

impl Feedback {
    /// Nothing for the engine (warnings aside).
    pub fn is_empty(&self) -> bool {
        self.launch_failed.is_empty() && self.post_actions.is_empty() && self.summary.is_none()
    }

    /// Adds `other` (later outcomes win).
    pub fn merge(&mut self, other: Feedback) {
        self.launch_failed.extend(other.launch_failed);
        self.post_actions.extend(other.post_actions);
        if other.summary.is_some() {
            self.summary = other.summary;
        }
        self.warnings.extend(other.warnings);
    }

    /// Folds the outcomes into `obs`; the warnings stay here.
    fn fold_into(&mut self, obs: &mut Observations) {
        for (id, msg) in std::mem::take(&mut self.launch_failed) {
            obs.components.entry(id).or_default().run = RunState::LaunchFailed(msg);
        }
        obs.post_actions
            .extend(std::mem::take(&mut self.post_actions));
        if let Some(s) = self.summary.take() {
            obs.summary = Some(s);
        }
    }
}

/// What a driver does: observe its components, carry out actions.
pub trait Doer {
    /// A failure that ends the step (the operator retries the reconcile;
    /// `aifbench run` has none).
    type Error;

    /// What every component is doing now.
    fn observe(&mut self) -> impl Future<Output = Result<Observations, Self::Error>> + Send;

    /// Carries out `actions` in order, decided along with `status`.
    /// Refusals and outcomes are feedback, not errors.
    fn act(
        &mut self,
        actions: &[Action],
        status: &BenchmarkStatus,
    ) -> impl Future<Output = Result<Feedback, Self::Error>> + Send;
}

/// Where the status lives between steps.
pub trait StatusStore {
    /// A failure to read or write the status.
    type Error;

    /// The status the last step recorded (the default status at first).
    fn load(&mut self) -> impl Future<Output = Result<BenchmarkStatus, Self::Error>> + Send;

    /// Records the status of this step.
    fn record(
        &mut self,
        status: &BenchmarkStatus,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// What one step did.
#[derive(Debug)]
pub struct Stepped {
    /// The status recorded.
    pub status: BenchmarkStatus,
    /// Outcomes of the last round's actions, for the next step.
    pub carry: Feedback,
    /// Warnings raised while acting.
    pub warnings: Vec<Warning>,
}

/// A failure of one step: the doer's or the store's.
#[derive(Debug, thiserror::Error)]
pub enum StepError<D, S> {
    /// Observing or acting failed.
    #[error("{0}")]
    Doer(D),
    /// Loading or recording the status failed.
    #[error("{0}")]
    Store(S),
}

/// One step of the loop: load the status, observe (with `carry`, the
/// outcomes the previous step could not fold in), let the engine decide,
/// carry out its actions feeding their outcomes back, record the status.
pub async fn step<D, S>(
    benchmark: &Benchmark,
    doer: &mut D,
    store: &mut S,
    carry: Feedback,
    now: Timestamp,
) -> Result<Stepped, StepError<D::Error, S::Error>>
where
    D: Doer,
    S: StatusStore,
{
    let status = store.load().await.map_err(StepError::Store)?;
    let mut obs = doer.observe().await.map_err(StepError::Doer)?;
    let mut pending = carry;
    let mut warnings = std::mem::take(&mut pending.warnings);
    pending.fold_into(&mut obs);
    let mut decision = engine::reconcile(benchmark, &status, &obs, now);
    for round in 1..=FEEDBACK_ROUNDS {
        let mut fb = doer
            .act(&decision.actions, &decision.status)
            .await
            .map_err(StepError::Doer)?;
        warnings.append(&mut fb.warnings);
        if fb.is_empty() || round == FEEDBACK_ROUNDS {
            pending = fb;
            break;
        }
        fb.fold_into(&mut obs);
        decision = engine::reconcile(benchmark, &decision.status, &obs, now);
    }
    store
        .record(&decision.status)
        .await
        .map_err(StepError::Store)?;
    Ok(Stepped {
        status: decision.status,
        carry: pending,
        warnings,
    })
}

#[cfg(test)]
mod tests;
