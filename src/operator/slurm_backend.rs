//! `executor: slurm` under the operator as a [`Backend`], for one
//! reconcile: a thin adapter over the operator's Slurm session and the
//! pure builders of [`super::slurm_jobs`] (the job shape of the operator:
//! workspace as log folder, configuration carried in the script, ready
//! probe and report in the job's comment).
//!
//! `launch` submits a component's job or adopts the job of the same name
//! (listed this reconcile); `stop` sends SIGTERM to a running client (it
//! still posts its summary) and cancels anything else; `observe` reads the
//! job's state and comment. Ending the run's leftover jobs stays with the
//! controller (it knows when a run is over).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use kube::ResourceExt;

use super::slurm::{SlurmCredentials, SlurmSession, redact};
use super::slurm_jobs;
use crate::api::spec::Benchmark;
use crate::api::status::ComponentKind;
use crate::backend::slurm::render::JobRequest;
use crate::backend::slurm::state::{JobInfo, SlurmState};
use crate::backend::slurm::{JobApi, SlurmError, job_name, job_seen};
use crate::backend::{Backend, BackendError, LaunchRequest, Seen};
use crate::engine::{self, Placement, PlannedComponent};

/// An open Slurm session, shared by the reconcile and its backend.
pub type SharedSession = Arc<Box<dyn SlurmSession>>;

/// The operator's session of one reconcile as the Slurm backend's job
/// API: its messages are redacted once more with the credentials; closing
/// is left to the reconcile that opened it.
pub struct SessionJobs {
    session: SharedSession,
    creds: Option<SlurmCredentials>,
}

impl SessionJobs {
    /// The job API of `session`, opened with `creds`.
    pub fn new(session: SharedSession, creds: Option<SlurmCredentials>) -> Self {
        Self { session, creds }
    }

    fn failed(&self, e: &str) -> SlurmError {
        SlurmError::Session(redact(e, self.creds.as_ref()))
    }
}

impl JobApi for SessionJobs {
    fn name(&self) -> &'static str {
        "session"
    }
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobInfo>, SlurmError>> {
        Box::pin(async move { self.session.jobs().await.map_err(|e| self.failed(&e)) })
    }
    fn submit<'a>(&'a self, req: &'a JobRequest) -> BoxFuture<'a, Result<String, SlurmError>> {
        Box::pin(async move { self.session.submit(req).await.map_err(|e| self.failed(&e)) })
    }
    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>> {
        Box::pin(async move { self.session.cancel(ids).await.map_err(|e| self.failed(&e)) })
    }
    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>> {
        Box::pin(async move {
            self.session
                .terminate(ids)
                .await
                .map_err(|e| self.failed(&e))
        })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// What one reconcile knows of a Benchmark's run, for its Slurm jobs.
pub struct SlurmRun {
    /// The Benchmark.
    pub benchmark: Benchmark,
    /// The run's generation.
    pub generation: i64,
    /// The run's results folder.
    pub folder: String,
    /// Service endpoints known from the status.
    pub endpoints: BTreeMap<String, String>,
    /// The open session (None: Slurm is not reachable).
    pub session: Option<SharedSession>,
    /// Why Slurm is not reachable (for launch failures).
    pub problem: String,
    /// The credentials (to redact them from messages).
    pub creds: Option<SlurmCredentials>,
    /// The run's jobs, as listed this reconcile.
    pub jobs: Vec<JobInfo>,
}

/// Slurm jobs of one reconcile, through the operator's session.
pub struct OperatorSlurm {
    run: SlurmRun,
    planned: BTreeMap<String, PlannedComponent>,
    ns: String,
    name: String,
}

impl OperatorSlurm {
    /// The backend of `run`.
    pub fn new(run: SlurmRun) -> Self {
        let planned = engine::plan_components(&run.benchmark.spec)
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let ns = run.benchmark.namespace().unwrap_or_default();
        let name = run.benchmark.name_any();
        Self {
            run,
            planned,
            ns,
            name,
        }
    }

    fn job_name(&self, id: &str) -> String {
        job_name(
            &slurm_jobs::run_id(&self.run.benchmark, self.run.generation),
            id,
        )
    }

    /// Submits a component's job, or adopts the job of the same name a
    /// previous reconcile (or operator) submitted.
    async fn submit(&self, p: &PlannedComponent) -> Result<(), String> {
        let r = &self.run;
        let Some(session) = r.session.as_deref() else {
            return Err(format!("Slurm is not reachable: {}", r.problem));
        };
        let req = match p.kind {
            ComponentKind::Service => slurm_jobs::service_job(
                &r.benchmark,
                r.generation,
                &r.benchmark.spec.services[p.index],
                &r.folder,
                &r.endpoints,
            )?,
            _ => slurm_jobs::client_job(
                &r.benchmark,
                r.generation,
                &r.benchmark.spec.clients[p.index],
                &p.id,
                &r.folder,
                &r.endpoints,
            )?,
        };
        if let Some(j) = slurm_jobs::find_job(&r.jobs, &req.name) {
            tracing::info!(namespace = %self.ns, benchmark = %self.name, component = %p.id, job_id = %j.job_id, state = j.state.as_str(), "adopting the Slurm job already submitted");
            return Ok(());
        }
        let id = session.submit(&req).await?;
        tracing::info!(namespace = %self.ns, benchmark = %self.name, component = %p.id, job_id = %id, job = %req.name, "Slurm job submitted");
        Ok(())
    }

    /// A running client is asked to stop (it still posts its summary); a
    /// service, or a client not running yet, is cancelled.
    async fn stop_job(&self, p: &PlannedComponent) {
        let name = self.job_name(&p.id);
        let active: Vec<&JobInfo> = self
            .run
            .jobs
            .iter()
            .filter(|j| j.name == name && j.state.is_active())
            .collect();
        let ids: Vec<String> = active.iter().map(|j| j.job_id.clone()).collect();
        let running_client = p.kind == ComponentKind::Client
            && active
                .iter()
                .all(|j| matches!(j.state, SlurmState::Running | SlurmState::Suspended));
        let (Some(session), false) = (self.run.session.as_deref(), ids.is_empty()) else {
            return;
        };
        let (result, what) = if running_client {
            (session.terminate(&ids).await, "Slurm job sent SIGTERM")
        } else {
            (session.cancel(&ids).await, "Slurm job cancelled")
        };
        match result {
            Ok(()) => {
                tracing::info!(namespace = %self.ns, benchmark = %self.name, component = %p.id, jobs = ?ids, "{what}")
            }
            Err(e) => {
                let e = redact(&e, self.run.creds.as_ref());
                tracing::warn!(namespace = %self.ns, benchmark = %self.name, component = %p.id, error = %e, "cannot cancel the Slurm job");
            }
        }
    }
}

impl Backend for OperatorSlurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    /// Health checks run inside the job; the endpoint is reported back.
    fn reaches_endpoints(&self) -> bool {
        false
    }

    fn launch(&self, req: LaunchRequest) -> BoxFuture<'_, Result<Placement, BackendError>> {
        Box::pin(async move {
            let Some(p) = self.planned.get(&req.id) else {
                return Err(BackendError::Unknown(req.id));
            };
            self.submit(p)
                .await
                .map(|()| Placement::default())
                .map_err(BackendError::Refused)
        })
    }

    fn observe<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Seen> {
        Box::pin(async move {
            let name = self.job_name(id);
            slurm_jobs::find_job(&self.run.jobs, &name)
                .map(|j| job_seen(j, true))
                .unwrap_or_default()
        })
    }

    fn stop<'a>(&'a self, id: &'a str, _grace: Duration) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(p) = self.planned.get(id) {
                self.stop_job(p).await;
            }
        })
    }

    /// The controller cancels a finished run's leftover jobs.
    fn cleanup(&self) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}
