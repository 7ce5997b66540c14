//! The decide-and-act step of a reconcile: the operator's doer of the one
//! driver loop ([`crate::driver::step`]). Its observations are those the
//! observe step gathered (with a report interrupted by a restart or a
//! failed status write redone first); its actions are carried out by the
//! [`Run`], which sets the run's results folder from the first decision
//! and the Slurm services' endpoints from each.

use jiff::Timestamp;

use super::act::Run;
use super::error::Error;
use super::events::Note;
use crate::api::spec::PostAction;
use crate::api::status::BenchmarkStatus;
use crate::driver::{Doer, Feedback};
use crate::engine::{Action, ActionOutcome, Observations};
use crate::operator::slurm_jobs;

/// One reconcile's doer.
pub(super) struct Round<'a> {
    /// Carries out the actions.
    pub(super) run: Run<'a>,
    /// What the observe step saw (taken by the first `observe`).
    obs: Option<Observations>,
    /// The status of the run as the reconcile started.
    status: BenchmarkStatus,
    /// Warnings of the observe step (an approximate summary on a redone
    /// report).
    pub(super) notes: Vec<Note>,
    folder_set: bool,
    now: Timestamp,
}

impl<'a> Round<'a> {
    /// A round over `run`, with the observations of this reconcile.
    pub(super) fn new(
        mut run: Run<'a>,
        obs: Observations,
        status: &BenchmarkStatus,
        now: Timestamp,
    ) -> Self {
        // Named after the run's start, for a redone report; renamed after
        // the first decision (a new run starts there).
        run.set_folder(status, now);
        Self {
            run,
            obs: Some(obs),
            status: status.clone(),
            notes: Vec::new(),
            folder_set: false,
            now,
        }
    }

    /// A report interrupted by a restart or a failed status write is
    /// redone.
    async fn redo_interrupted_report(&mut self, obs: &mut Observations) {
        if !self
            .status
            .post_actions
            .iter()
            .any(|p| p.action == PostAction::Report && p.state == "Running")
        {
            return;
        }
        let g = self.run.gather().await;
        if let Some(w) = g.warning {
            self.notes.push(Note::warning("ApproximateSummary", w));
        }
        obs.post_actions
            .insert(PostAction::Report, ActionOutcome::Succeeded);
        obs.summary = g.summary;
    }
}

impl Doer for Round<'_> {
    type Error = Error;

    async fn observe(&mut self) -> Result<Observations, Error> {
        let mut obs = self.obs.take().unwrap_or_default();
        self.redo_interrupted_report(&mut obs).await;
        Ok(obs)
    }

    async fn act(
        &mut self,
        actions: &[Action],
        status: &BenchmarkStatus,
    ) -> Result<Feedback, Error> {
        if !self.folder_set {
            self.run.set_folder(status, self.now);
            self.folder_set = true;
        }
        self.run.endpoints = slurm_jobs::endpoints(status);
        let mut fb = Feedback::default();
        self.run.execute(actions, &mut fb).await?;
        Ok(fb)
    }
}
