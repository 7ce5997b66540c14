//! The Slurm backend: components as batch jobs.
//!
//! - [`render`]: sbatch scripts (and the Apptainer wrapper) from the spec,
//!   pure.
//! - [`state`]: Slurm job states and the JSON of `squeue --json` and
//!   slurmrestd (v0.0.38, v0.0.40..v0.0.43), pure.
//! - [`accounting`]: the final state of a job the controller has forgotten
//!   (after `MinJobAge`), from `sacct` or slurmrestd's slurmdb endpoint,
//!   pure; asked once per job, when it is no longer listed (`forgotten.rs`).
//! - One job API ([`JobApi`]: list, submit, cancel, terminate), which the
//!   backend holds as a trait object: three transports implement it
//!   ([`Transport`]: the local CLI ([`cli`]), the same commands on a login
//!   node over SSH ([`ssh`]), and slurmrestd ([`rest`])), and so does the
//!   operator's session of a reconcile.
//! - Clusters that do not share the results folder
//!   ([`SlurmConfig::remote_dir`]): jobs work in a run folder on the
//!   cluster ([`remote`], pure), and what they leave there comes back
//!   through the transport when they end ([`fetch`]).
//!
//! - Inside the allocation of `aifbench submit`, components run as job
//!   steps of it instead ([`steps`]: `srun --overlap` wrapped around a
//!   process, placed on the nodes of the [`allocation`]); components in different partitions make it a
//!   heterogeneous job, one het group per partition ([`het`], pure).
//!
//! One backend for both drivers: `aifbench run` builds it over its own
//! transport ([`SlurmBackend::new`]), the operator over its session of one
//! reconcile ([`SlurmBackend::over`], with its own [`JobShape`] and the
//! reconcile's listing). Job names are deterministic ([`job_name`]:
//! `aifb-<run>-<component>`), and the backend needs no memory of its own:
//! what it did not submit itself it finds by name in the job listing, so a
//! restarted driver (or a backend rebuilt every reconcile) adopts, observes
//! and stops the jobs of its run instead of submitting them again, and
//! [`SlurmBackend::cancel_all`] finds every job of a run.

pub mod accounting;
pub mod allocation;
pub mod cli;
pub mod fetch;
mod forgotten;
pub mod het;
pub mod job_api;
pub mod remote;
pub mod render;
pub mod rest;
pub mod ssh;
pub mod state;
pub mod steps;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::Mutex as AsyncMutex;

pub use self::job_api::{JobApi, Transport, find_job, job_seen};
use self::remote::{FetchPlan, RunFolder};
use self::render::{JobRequest, ReadyProbe, RenderError, render_script};
use self::rest::RestConfig;
use self::ssh::SshConfig;
use self::state::{JobInfo, SlurmState, run_state};
use super::stderr_tail::{Redactor, file_tail, with_tail};
use super::{Backend, BackendError, LaunchRequest, Seen};
use crate::engine::{Placement, RunState};

/// Why a Slurm operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// The script could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Slurm refused the job.
    #[error("slurm refused the job: {0}")]
    Submit(String),
    /// A command (sbatch, squeue, scancel, ssh) failed.
    #[error("{command}: {message}")]
    Command {
        /// The command.
        command: String,
        /// What went wrong (its stderr).
        message: String,
    },
    /// A job API other than the backend's own transports (the operator's
    /// session) failed; the message is already free of secrets.
    #[error("{0}")]
    Session(String),
    /// slurmrestd failed or refused.
    #[error("slurmrestd: {0}")]
    Rest(String),
    /// slurmrestd refused the credentials (401/403; Slurm 22.05 answers an
    /// invalid or expired JWT with 500 on ping).
    #[error("slurmrestd refused the credentials: {0}")]
    Unauthorized(String),
    /// An answer could not be read.
    #[error("cannot read Slurm's answer: {0}")]
    Parse(String),
    /// The transport is not configured correctly.
    #[error("slurm transport: {0}")]
    Config(String),
}

/// Which transport, and its settings.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum TransportConfig {
    /// `sbatch`/`squeue`/`scancel` on this machine.
    #[default]
    Cli,
    /// The same commands on a login node over SSH.
    Ssh(SshConfig),
    /// slurmrestd.
    Rest(RestConfig),
}

impl TransportConfig {
    /// `cli`, `ssh` or `rest`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Ssh(_) => "ssh",
            Self::Rest(_) => "rest",
        }
    }
}

/// Settings of the Slurm backend.
#[derive(Clone, Debug, PartialEq)]
pub struct SlurmConfig {
    /// How to talk to Slurm.
    pub transport: TransportConfig,
    /// How old a cached job list may be before `observe` asks again.
    pub poll_interval: Duration,
    /// The driver cannot reach compute nodes: health checks run inside the
    /// service's job (a ready file in the results folder) and monitors run
    /// as `aifbench scrape` jobs.
    pub in_allocation: bool,
    /// A folder on the cluster for clusters that do not share the results
    /// folder: each job works in `<remote_dir>/<run>/` (its configuration
    /// carried in its script), and what it leaves there comes back into the
    /// results folder through the transport when it ends (ssh: read over
    /// the session; cli: copied; rest: only a client's summary, from its
    /// comment). None: jobs work in the results folder itself (shared
    /// filesystem).
    pub remote_dir: Option<PathBuf>,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        Self {
            transport: TransportConfig::Cli,
            poll_interval: Duration::from_secs(1),
            in_allocation: false,
            remote_dir: None,
        }
    }
}

/// The run id of a Benchmark under the operator: the first 8 characters of
/// its uid and the generation of the run (`3f2a9c1b-g2`). Under `aifbench
/// run` the run id is the results folder name.
pub fn operator_run_id(uid: &str, generation: i64) -> String {
    let short: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    format!("{short}-g{generation}")
}

/// The prefix of every job name of a run: `aifb-<run>-`.
pub fn run_prefix(run: &str) -> String {
    format!("{}-", job_name(run, "").trim_end_matches('-'))
}

/// The job name of a component — one scheme for both drivers:
/// `aifb-<run>-<component>`, lowercased and limited to `[a-z0-9-.]`, where
/// `<run>` is the results folder name (`<benchmark>-<UTC timestamp>`) under
/// `aifbench run` and [`operator_run_id`] under the operator.
pub fn job_name(run: &str, component: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| c.to_ascii_lowercase())
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!("aifb-{}-{}", clean(run), clean(component))
}

#[derive(Clone, Debug)]
struct Tracked {
    job_id: String,
    submitted: Instant,
    /// A client: stopped with SIGTERM while running, so it still reports
    /// its results (a cancelled job cannot update its comment).
    client: bool,
    /// What to bring back from the run folder once the job ends.
    fetch: Option<FetchPlan>,
    /// Attempts to bring it back so far (done: [`MAX_FETCHES`]).
    fetches: u8,
    /// The secrets of its environment, kept out of its `.err` tail.
    secrets: Redactor,
}

/// How often the files of an ended job are asked for before giving up.
const MAX_FETCHES: u8 = 3;

/// Components as Slurm jobs.
pub struct SlurmBackend {
    /// How Slurm is asked: the backend's own transport, or a session.
    api: Arc<dyn JobApi>,
    /// The backend's own transport, when it has one: it also moves the
    /// files of a run folder on the cluster (none over a session).
    transport: Option<Arc<Transport>>,
    config: SlurmConfig,
    /// `aifb-<run>-`: every job of this run starts with it.
    prefix: String,
    run: String,
    /// Where sbatch writes the jobs' `.out`/`.err` (and the services'
    /// port and ready files): must exist on the cluster unless jobs work
    /// in a run folder there ([`SlurmConfig::remote_dir`]).
    log_dir: PathBuf,
    /// The run folder on the cluster, when it does not share `log_dir`'s
    /// results folder.
    folder: Option<RunFolder>,
    jobs: Mutex<HashMap<String, Tracked>>,
    /// Final states read from accounting, by component, for jobs the
    /// controller has forgotten.
    accounted: Mutex<HashMap<String, JobInfo>>,
    cache: AsyncMutex<Option<Listing>>,
    /// Components stopped with SIGTERM while running (client instances)
    /// also when this backend did not submit their jobs itself.
    sigterm_on_stop: HashSet<String>,
    /// The driver's job shape (None: [`SlurmBackend::job_request`]).
    shape: Option<Arc<dyn JobShape>>,
}

/// The run's jobs as last listed.
struct Listing {
    at: Instant,
    jobs: Vec<JobInfo>,
    /// Handed in by the driver ([`SlurmBackend::with_listing`]): it stands
    /// for [`SlurmConfig::poll_interval`], submissions of this backend
    /// included (they are tracked by it).
    given: bool,
}

impl SlurmBackend {
    /// A backend for the run `run` (the results folder name under `aifbench
    /// run`), writing job output into `log_dir` (a folder of the results
    /// folder: with [`SlurmConfig::remote_dir`], its parent is the results
    /// folder the jobs' files come back to).
    pub fn new(config: SlurmConfig, run: &str, log_dir: PathBuf) -> Result<Self, SlurmError> {
        let transport = Arc::new(Transport::new(&config.transport)?);
        let folder = config.remote_dir.as_deref().map(|remote| {
            RunFolder::new(
                log_dir.parent().unwrap_or(&log_dir),
                remote,
                run,
                matches!(*transport, Transport::Rest(_)),
            )
        });
        let mut backend = Self::over(transport.clone(), config, run, log_dir);
        backend.transport = Some(transport);
        backend.folder = folder;
        Ok(backend)
    }

    /// A backend for the run `run` over a job API it does not own (the
    /// operator's session): jobs work where their requests say; no run
    /// folder on the cluster ([`SlurmConfig::remote_dir`] and
    /// [`SlurmConfig::transport`] are not used).
    pub fn over(api: Arc<dyn JobApi>, config: SlurmConfig, run: &str, log_dir: PathBuf) -> Self {
        Self {
            api,
            transport: None,
            folder: None,
            prefix: run_prefix(run),
            config,
            run: run.to_string(),
            log_dir,
            jobs: Mutex::new(HashMap::new()),
            accounted: Mutex::new(HashMap::new()),
            cache: AsyncMutex::new(None),
            sigterm_on_stop: HashSet::new(),
            shape: None,
        }
    }

    /// Builds the jobs with the driver's own `shape`.
    pub fn with_shape(mut self, shape: Arc<dyn JobShape>) -> Self {
        self.shape = Some(shape);
        self
    }

    /// Starts from the run's jobs as the driver just listed them (the
    /// operator's reconcile), instead of listing them again.
    pub fn with_listing(mut self, jobs: Vec<JobInfo>) -> Self {
        let jobs = jobs
            .into_iter()
            .filter(|j| j.name.starts_with(&self.prefix))
            .collect();
        self.cache = AsyncMutex::new(Some(Listing {
            at: Instant::now(),
            jobs,
            given: true,
        }));
        self
    }

    /// Components to stop with SIGTERM while they run (client instances:
    /// they still write and report their results), for jobs found by name
    /// rather than submitted by this backend.
    pub fn with_sigterm_on_stop(mut self, ids: impl IntoIterator<Item = String>) -> Self {
        self.sigterm_on_stop.extend(ids);
        self
    }

    /// The job name of a component of this run.
    pub fn job_name(&self, component: &str) -> String {
        job_name(&self.run, component)
    }

    /// The transport in use (`cli`, `ssh`, `rest`, or `session`).
    pub fn transport_name(&self) -> &'static str {
        self.api.name()
    }

    /// True when health checks and scrapes run inside the allocation.
    pub fn in_allocation(&self) -> bool {
        self.config.in_allocation
    }

    /// The backend's own transport (None over a session).
    pub fn transport(&self) -> Option<&Transport> {
        self.transport.as_deref()
    }

    async fn job_list(&self, max_age: Duration) -> Result<Vec<JobInfo>, SlurmError> {
        let mut cache = self.cache.lock().await;
        if let Some(l) = cache.as_ref()
            && (l.at.elapsed() < max_age || (l.given && l.at.elapsed() < self.config.poll_interval))
        {
            return Ok(l.jobs.clone());
        }
        let jobs: Vec<JobInfo> = self
            .api
            .jobs()
            .await?
            .into_iter()
            .filter(|j| j.name.starts_with(&self.prefix))
            .collect();
        *cache = Some(Listing {
            at: Instant::now(),
            jobs: jobs.clone(),
            given: false,
        });
        Ok(jobs)
    }

    fn invalidate(&self) {
        if let Ok(mut c) = self.cache.try_lock()
            && c.as_ref().is_some_and(|l| !l.given)
        {
            *c = None;
        }
    }

    /// Submits a component's job, or adopts the job of the same name that a
    /// previous driver of this run submitted (the newest one), so nothing
    /// runs twice.
    pub async fn submit(&self, req: &JobRequest) -> Result<Placement, SlurmError> {
        let jobs = self.job_list(Duration::ZERO).await?;
        let existing = find_job(&jobs, &req.name).cloned();
        let job_id = match existing {
            Some(j) => {
                tracing::info!(component = %req.component, job_id = %j.job_id, state = j.state.as_str(), "adopting the job a previous driver submitted");
                j.job_id
            }
            None => {
                let id = self.api.submit(req).await?;
                tracing::info!(component = %req.component, job_id = %id, job = %req.name, transport = self.transport_name(), "submitted");
                self.invalidate();
                id
            }
        };
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                req.component.clone(),
                Tracked {
                    job_id: job_id.clone(),
                    submitted: Instant::now(),
                    client: req.summary_file.is_some(),
                    fetch: None,
                    fetches: 0,
                    secrets: Redactor::for_component(&req.env),
                },
            );
        Ok(Placement {
            job_id: Some(job_id),
            ..Default::default()
        })
    }

    fn tracked(&self, id: &str) -> Option<Tracked> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// What Slurm says of a component's job: the newest job of its name
    /// (so a restarted driver sees the jobs it adopted), or what accounting
    /// kept of a job the controller forgot.
    pub async fn info(&self, id: &str) -> Option<JobInfo> {
        match self.job_list(self.config.poll_interval).await {
            Ok(jobs) => find_job(&jobs, &self.job_name(id)).cloned().or_else(|| {
                self.tracked(id)
                    .and_then(|t| self.accounted_of(id, &t.job_id))
            }),
            Err(e) => {
                tracing::warn!(component = %id, error = %e, "cannot list Slurm jobs");
                None
            }
        }
    }

    /// The component's state, from the newest job of its name: one this
    /// backend submitted or adopted, or one found by name (a backend
    /// rebuilt every reconcile sees what a long-lived one would). A job it
    /// tracks that the controller no longer lists ends as accounting
    /// recorded it (`sacct`, slurmdb), or with "no longer known" when there
    /// is no record.
    pub async fn run_state(&self, id: &str) -> RunState {
        let tracked = self.tracked(id);
        match self.job_list(self.config.poll_interval).await {
            Ok(jobs) => match (find_job(&jobs, &self.job_name(id)), tracked) {
                (Some(j), _) => run_state(j),
                (None, None) => RunState::Unknown,
                (None, Some(t)) => match self.forgotten(id, &t).await {
                    Some(j) if !j.state.is_active() => run_state(&j),
                    // Just submitted: not listed yet.
                    _ if t.submitted.elapsed() < Duration::from_secs(15) => {
                        RunState::Queued(format!("slurm job {} submitted", t.job_id))
                    }
                    Some(j) => run_state(&j),
                    None => RunState::Exited {
                        code: None,
                        reason: Some(format!(
                            "slurm job {} is no longer known to the controller",
                            t.job_id
                        )),
                    },
                },
            },
            // A transient failure (ssh reconnecting, slurmctld busy): keep
            // the last known state by saying nothing new.
            Err(e) => {
                tracing::warn!(component = %id, error = %e, "cannot list Slurm jobs");
                if tracked.is_some() {
                    RunState::Running
                } else {
                    RunState::Unknown
                }
            }
        }
    }

    /// Cancels one component's job.
    pub async fn cancel(&self, id: &str) {
        let Some(t) = self.tracked(id) else { return };
        if let Err(e) = self.api.cancel(std::slice::from_ref(&t.job_id)).await {
            tracing::warn!(component = %id, job_id = %t.job_id, error = %e, "scancel failed");
        }
        self.invalidate();
    }

    /// Cancels every job of this run still pending or running (found by
    /// name, so also jobs of a previous driver). Returns the ids cancelled.
    pub async fn cancel_all(&self) -> Result<Vec<String>, SlurmError> {
        // Listed afresh, also over a listing handed in.
        self.cache.lock().await.take();
        let active: Vec<String> = self
            .job_list(Duration::ZERO)
            .await?
            .into_iter()
            .filter(|j| j.state.is_active())
            .map(|j| j.job_id)
            .collect();
        if !active.is_empty() {
            tracing::info!(jobs = ?active, "cancelling the jobs left of this run");
            self.api.cancel(&active).await?;
        }
        self.invalidate();
        Ok(active)
    }

    /// Every job of this run the controller still knows.
    pub async fn run_jobs(&self) -> Result<Vec<JobInfo>, SlurmError> {
        self.job_list(Duration::ZERO).await
    }

    /// Releases connections.
    pub async fn close(&self) {
        self.api.close().await;
    }
}

/// How a driver turns a component into its batch job, when not the way
/// `aifbench run` does ([`SlurmBackend::job_request`]): the operator's job
/// shape (workspace on the cluster, configuration in the script).
pub trait JobShape: Send + Sync {
    /// The job of the component `req.id`.
    fn job(&self, req: &LaunchRequest) -> Result<JobRequest, BackendError>;
}

impl SlurmBackend {
    /// The batch job of a component (pure): the one job shape of both
    /// drivers, reporting its port, readiness and summary through its
    /// comment; in the run folder on the cluster when there is one.
    pub fn job_request(&self, req: &LaunchRequest) -> JobRequest {
        let job = self.results_job(req);
        match &self.folder {
            Some(f) => f.job(job),
            None => job,
        }
    }

    /// The batch job of a component working in the results folder.
    fn results_job(&self, req: &LaunchRequest) -> JobRequest {
        let port_file = req
            .port
            .map(|p| (self.log_dir.join(format!("{}.port", req.id)), p));
        let ready_probe = req
            .ready_check
            .as_ref()
            .filter(|_| self.config.in_allocation && port_file.is_some())
            .map(|h| ReadyProbe {
                path: h.path.clone(),
                ready_file: self.log_dir.join(format!("{}.ready", req.id)),
                interval_s: h.interval.as_secs().max(1),
            });
        JobRequest {
            name: self.job_name(&req.id),
            component: req.id.clone(),
            slurm: req.slurm.clone().unwrap_or_default(),
            apptainer: req.apptainer.clone(),
            argv: req.argv.clone(),
            env: req.env.clone(),
            working_dir: req.working_dir.clone(),
            log_dir: self.log_dir.clone(),
            port_file,
            ready_probe,
            make_dirs: Vec::new(),
            files: req.files.clone(),
            report_comment: true,
            summary_file: req.summary_file.clone(),
            stop_grace_s: req.stop_grace.as_secs().max(1),
        }
    }

    /// What Slurm and the job's own report say of a component
    /// ([`job_seen`] of its newest job); a failed job's state has the tail
    /// of its `.err` after the reason.
    pub async fn seen(&self, id: &str) -> Seen {
        let run = self.run_state(id).await;
        let info = match &run {
            RunState::Running | RunState::Exited { .. } => self.info(id).await,
            _ => None,
        };
        let mut seen = info
            .as_ref()
            .map(|j| Seen {
                run: run.clone(),
                ..job_seen(j, !self.reaches_endpoints())
            })
            .unwrap_or(Seen {
                run,
                ..Seen::default()
            });
        if matches!(seen.run, RunState::Exited { .. }) {
            self.bring_back(id, seen.summary.as_ref()).await;
            seen.run = self.with_err_tail(id, info.as_ref(), seen.run);
        }
        seen
    }

    /// A failed job's exit (non-zero, or Slurm's FAILED) with the last
    /// lines of its `.err` file after the reason, when the driver can read
    /// it: in the results folder (shared filesystem), or brought back there
    /// from the run folder (`cli`, `ssh`; not `rest`, which reads no
    /// files).
    fn with_err_tail(&self, id: &str, info: Option<&JobInfo>, run: RunState) -> RunState {
        let RunState::Exited { code, reason } = run else {
            return run;
        };
        let failed =
            code.is_some_and(|c| c != 0) || info.is_some_and(|j| j.state == SlurmState::Failed);
        let tail = self.tracked(id).filter(|_| failed).and_then(|t| {
            let err = self.log_dir.join(format!("{id}-{}.err", t.job_id));
            file_tail(&err, &t.secrets)
        });
        RunState::Exited {
            code,
            reason: with_tail(reason, tail),
        }
    }

    /// Stops a component's job: a running client gets SIGTERM (it still
    /// writes and reports its results; the job kills it after its grace
    /// period), anything else is cancelled (scancel: SIGTERM, then SIGKILL
    /// after the cluster's KillWait).
    pub async fn stop_job(&self, id: &str) {
        let Some((ids, running_client)) = self.to_stop(id).await else {
            return;
        };
        let result = if running_client {
            self.api.terminate(&ids).await
        } else {
            self.api.cancel(&ids).await
        };
        match result {
            Ok(()) => {
                tracing::info!(component = %id, jobs = ?ids, sigterm = running_client, "Slurm job stopped")
            }
            Err(e) => {
                tracing::warn!(component = %id, jobs = ?ids, error = %e, "cannot stop the Slurm job")
            }
        }
        self.invalidate();
    }

    /// The jobs that stopping a component ends, and whether it is a running
    /// client (SIGTERM, not cancel): the job this backend submitted or
    /// adopted, else every active job of its name (None: nothing to stop).
    async fn to_stop(&self, id: &str) -> Option<(Vec<String>, bool)> {
        if let Some(t) = self.tracked(id) {
            let running = matches!(self.run_state(id).await, RunState::Running);
            return Some((vec![t.job_id], t.client && running));
        }
        let name = self.job_name(id);
        let jobs = match self.job_list(self.config.poll_interval).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(component = %id, error = %e, "cannot list Slurm jobs");
                return None;
            }
        };
        let active: Vec<&JobInfo> = jobs
            .iter()
            .filter(|j| j.name == name && j.state.is_active())
            .collect();
        if active.is_empty() {
            return None;
        }
        let running_client = self.sigterm_on_stop.contains(id)
            && active
                .iter()
                .all(|j| matches!(j.state, SlurmState::Running | SlurmState::Suspended));
        Some((
            active.iter().map(|j| j.job_id.clone()).collect(),
            running_client,
        ))
    }
}

impl Backend for SlurmBackend {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn reaches_endpoints(&self) -> bool {
        !self.config.in_allocation
    }

    fn launch(&self, req: LaunchRequest) -> BoxFuture<'_, Result<Placement, BackendError>> {
        Box::pin(async move {
            let refused = |e: SlurmError| BackendError::Refused(e.to_string());
            if let Some(shape) = &self.shape {
                return self.submit(&shape.job(&req)?).await.map_err(refused);
            }
            let local = self.results_job(&req);
            let (Some(folder), Some(transport)) = (&self.folder, &self.transport) else {
                std::fs::create_dir_all(&self.log_dir).map_err(|source| BackendError::Io {
                    path: self.log_dir.clone(),
                    source,
                })?;
                return self.submit(&local).await.map_err(refused);
            };
            let job = folder.job(local.clone());
            fetch::prepare(transport, folder, &job)
                .await
                .map_err(refused)?;
            let placement = self.submit(&job).await.map_err(refused)?;
            self.set_fetch_plan(&req.id, folder.plan(&local, &self.log_dir));
            Ok(placement)
        })
    }

    fn observe<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Seen> {
        Box::pin(self.seen(id))
    }

    fn stop<'a>(&'a self, id: &'a str, _grace: Duration) -> BoxFuture<'a, ()> {
        Box::pin(self.stop_job(id))
    }

    fn cleanup(&self) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(async move {
            let r = self
                .cancel_all()
                .await
                .map_err(|e| BackendError::Refused(e.to_string()));
            self.bring_back_the_rest().await;
            self.close().await;
            r
        })
    }

    fn preview(&self, req: &LaunchRequest) -> Option<Result<String, BackendError>> {
        let job = match &self.shape {
            Some(shape) => match shape.job(req) {
                Ok(job) => job,
                Err(e) => return Some(Err(e)),
            },
            None => self.job_request(req),
        };
        Some(render_script(&job).map_err(|e| BackendError::Refused(e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_are_deterministic_and_clean() {
        assert_eq!(
            job_name("slurm-local-20261129T030000Z", "clients-1"),
            "aifb-slurm-local-20261129t030000z-clients-1"
        );
        assert_eq!(job_name("A b", "x_y"), "aifb-a-b-x-y");
        let run = operator_run_id("3f2a9c1b-77aa-4e0e-9d51-000000000000", 2);
        assert_eq!(run, "3f2a9c1b-g2");
        assert_eq!(job_name(&run, "chat-1"), "aifb-3f2a9c1b-g2-chat-1");
        assert_eq!(run_prefix(&run), "aifb-3f2a9c1b-g2-");
    }
}
