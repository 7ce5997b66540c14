//! A job the backend tracks that the controller no longer lists (past
//! `MinJobAge`): its final state from accounting through the job API
//! ([`super::JobApi::accounted`]), asked until a final state is found, then
//! kept per component.

use super::state::JobInfo;
use super::{SlurmBackend, Tracked};

impl SlurmBackend {
    /// The final state accounting gave for a component's job, when
    /// [`SlurmBackend::run_state`] asked for it.
    pub(super) fn accounted_of(&self, id: &str, job_id: &str) -> Option<JobInfo> {
        self.accounted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .filter(|j| j.job_id == job_id)
            .cloned()
    }

    /// A tracked job the controller no longer lists: what accounting says
    /// of it (a final state is kept and not asked again). None when there
    /// is no record or no accounting.
    pub(super) async fn forgotten(&self, id: &str, t: &Tracked) -> Option<JobInfo> {
        if let Some(j) = self.accounted_of(id, &t.job_id) {
            return Some(j);
        }
        match self.api.accounted(&t.job_id).await {
            Ok(Some(j)) => {
                if !j.state.is_active() {
                    tracing::info!(component = %id, job_id = %t.job_id, state = j.state.as_str(), "final state from accounting: the controller no longer lists the job");
                    self.accounted
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(id.to_string(), j.clone());
                }
                Some(j)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(component = %id, job_id = %t.job_id, error = %e, "cannot read the job from accounting");
                None
            }
        }
    }
}
