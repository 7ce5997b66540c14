//! The decide step of a reconcile: the engine decides, the [`Run`] carries
//! out its actions, and launch failures and post-action outcomes are fed
//! back to the engine at once (a few rounds), so one reconcile gets as far
//! as it can.

use jiff::Timestamp;

use super::act::{Feedback, Run};
use super::error::Error;
use super::events::Note;
use crate::api::spec::{Benchmark, PostAction};
use crate::api::status::BenchmarkStatus;
use crate::engine::{self, ActionOutcome, Decision, Observations, RunState};
use crate::operator::slurm_jobs;

/// How many times one reconcile carries out the engine's actions and asks
/// it again with their outcomes.
const FEEDBACK_ROUNDS: usize = 4;

/// Asks the engine about `status` and carries out its decisions, feeding
/// the outcomes back; the last decision is returned (its status is the new
/// one), warnings go to `notes`.
pub(super) async fn decide(
    bm: &Benchmark,
    status: &BenchmarkStatus,
    obs: &mut Observations,
    run: &mut Run<'_>,
    notes: &mut Vec<Note>,
    now: Timestamp,
) -> Result<Decision, Error> {
    redo_interrupted_report(status, obs, run, notes).await;
    let mut decision = engine::reconcile(bm, status, obs, now);
    run.set_folder(&decision.status, now);
    for _ in 0..FEEDBACK_ROUNDS {
        run.endpoints = slurm_jobs::endpoints(&decision.status);
        let mut fb = Feedback::default();
        run.execute(&decision.actions, &mut fb).await?;
        let done = fb.is_empty();
        feed_back(fb, obs, notes);
        if done {
            break;
        }
        decision = engine::reconcile(bm, &decision.status, obs, now);
    }
    Ok(decision)
}

/// A report interrupted by a restart or a failed status write is redone.
async fn redo_interrupted_report(
    status: &BenchmarkStatus,
    obs: &mut Observations,
    run: &Run<'_>,
    notes: &mut Vec<Note>,
) {
    if !status
        .post_actions
        .iter()
        .any(|p| p.action == PostAction::Report && p.state == "Running")
    {
        return;
    }
    let g = run.gather().await;
    if let Some(w) = g.warning {
        notes.push(Note::warning("ApproximateSummary", w));
    }
    obs.post_actions
        .insert(PostAction::Report, ActionOutcome::Succeeded);
    obs.summary = g.summary;
}

/// The outcomes of the actions become observations; their warnings, notes.
fn feed_back(fb: Feedback, obs: &mut Observations, notes: &mut Vec<Note>) {
    for (id, msg) in fb.launch_failed {
        obs.components.entry(id).or_default().run = RunState::LaunchFailed(msg);
    }
    obs.post_actions.extend(fb.post_actions);
    if fb.summary.is_some() {
        obs.summary = fb.summary;
    }
    notes.extend(fb.warnings);
}
