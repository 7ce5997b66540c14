//! `executor: slurm` under the operator: the one Slurm backend
//! ([`SlurmBackend`], the backend of `aifbench run`) over the operator's
//! session of one reconcile ([`operator_backend`]). What is the operator's
//! own is small: the session as a job API ([`SessionJobs`], messages
//! redacted), the job shape of the operator ([`OperatorJobs`] over the
//! pure builders of [`super::slurm_jobs`]: workspace as log folder,
//! configuration carried in the script, ready probe and report in the job's
//! comment), and the run's jobs as this reconcile listed them.
//!
//! So `launch` submits a component's job or adopts the job of the same
//! name; `stop` sends SIGTERM to a running client (it still posts its
//! summary) and cancels anything else; `observe` reads the job's state and
//! comment ([`crate::backend::slurm::job_seen`]) — all SlurmBackend's.
//! Ending the run's leftover jobs stays with the controller (it knows when
//! a run is over).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::slurm::{SlurmCredentials, SlurmSession, redact};
use super::slurm_jobs;
use crate::api::spec::Benchmark;
use crate::api::status::ComponentKind;
use crate::backend::slurm::render::JobRequest;
use crate::backend::slurm::state::JobInfo;
use crate::backend::slurm::{JobApi, JobShape, SlurmBackend, SlurmConfig, SlurmError};
use crate::backend::{BackendError, LaunchRequest};
use crate::engine::{self, PlannedComponent};

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

/// How long the reconcile's job listing stands for the backend built from
/// it (the whole reconcile, as a rule): adoption reads it, not a new one.
const RECONCILE_LISTING: Duration = Duration::from_secs(60);

/// The Slurm backend of one reconcile: [`SlurmBackend`] over the
/// operator's session (or, when Slurm is not reachable, over a job API
/// that says why), with the operator's job shape ([`OperatorJobs`]), the
/// run's jobs as listed this reconcile, and the client instances stopped
/// with SIGTERM.
pub fn operator_backend(run: SlurmRun) -> SlurmBackend {
    let api: Arc<dyn JobApi> = match &run.session {
        Some(session) => Arc::new(SessionJobs::new(session.clone(), run.creds.clone())),
        None => Arc::new(Unreachable(run.problem.clone())),
    };
    let run_id = slurm_jobs::run_id(&run.benchmark, run.generation);
    let config = SlurmConfig {
        poll_interval: RECONCILE_LISTING,
        in_allocation: true,
        ..SlurmConfig::default()
    };
    let shape = OperatorJobs::new(run.benchmark, run.generation, run.folder, run.endpoints);
    let clients: Vec<String> = shape
        .planned
        .values()
        .filter(|p| p.kind == ComponentKind::Client)
        .map(|p| p.id.clone())
        .collect();
    // Logs go where each job's request says (the workspace on the cluster).
    SlurmBackend::over(api, config, &run_id, PathBuf::new())
        .with_listing(run.jobs)
        .with_sigterm_on_stop(clients)
        .with_shape(Arc::new(shape))
}

/// The operator's job shape: the pure builders of [`super::slurm_jobs`]
/// (workspace as log folder, configuration carried in the script, ready
/// probe and report in the job's comment).
pub struct OperatorJobs {
    benchmark: Benchmark,
    generation: i64,
    folder: String,
    endpoints: BTreeMap<String, String>,
    planned: BTreeMap<String, PlannedComponent>,
}

impl OperatorJobs {
    /// The jobs of run `generation` of `benchmark`, in its results folder
    /// `folder`, with the service endpoints known from the status.
    pub fn new(
        benchmark: Benchmark,
        generation: i64,
        folder: String,
        endpoints: BTreeMap<String, String>,
    ) -> Self {
        let planned = engine::plan_components(&benchmark.spec)
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        Self {
            benchmark,
            generation,
            folder,
            endpoints,
            planned,
        }
    }
}

impl JobShape for OperatorJobs {
    fn job(&self, req: &LaunchRequest) -> Result<JobRequest, BackendError> {
        let Some(p) = self.planned.get(&req.id) else {
            return Err(BackendError::Unknown(req.id.clone()));
        };
        let b = &self.benchmark;
        match p.kind {
            ComponentKind::Service => slurm_jobs::service_job(
                b,
                self.generation,
                &b.spec.services[p.index],
                &self.folder,
                &self.endpoints,
            ),
            _ => slurm_jobs::client_job(
                b,
                self.generation,
                &b.spec.clients[p.index],
                &p.id,
                &self.folder,
                &self.endpoints,
            ),
        }
        .map_err(BackendError::Refused)
    }
}

/// The job API of a reconcile that could not open Slurm: every call fails
/// with why.
struct Unreachable(String);

impl Unreachable {
    fn failed(&self) -> SlurmError {
        SlurmError::Session(format!("Slurm is not reachable: {}", self.0))
    }
}

impl JobApi for Unreachable {
    fn name(&self) -> &'static str {
        "unreachable"
    }
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobInfo>, SlurmError>> {
        Box::pin(async { Err(self.failed()) })
    }
    fn submit<'a>(&'a self, _req: &'a JobRequest) -> BoxFuture<'a, Result<String, SlurmError>> {
        Box::pin(async { Err(self.failed()) })
    }
    fn cancel<'a>(&'a self, _ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>> {
        Box::pin(async { Err(self.failed()) })
    }
    fn terminate<'a>(&'a self, _ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>> {
        Box::pin(async { Err(self.failed()) })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
