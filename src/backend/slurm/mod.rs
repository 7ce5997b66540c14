//! The Slurm backend: components as batch jobs.
//!
//! - [`render`]: sbatch scripts (and the Apptainer wrapper) from the spec,
//!   pure.
//! - [`state`]: Slurm job states and the JSON of `squeue --json` and
//!   slurmrestd (v0.0.38, v0.0.40..v0.0.43), pure.
//! - Three transports behind one interface ([`Transport`]): the local CLI
//!   ([`cli`]), the same commands on a login node over SSH ([`ssh`]), and
//!   slurmrestd ([`rest`]).
//!
//! Job names are deterministic (`aifb-<benchmark>-<run>-<component>`, the
//! run being the results folder), so a restarted driver adopts its jobs
//! instead of submitting them again, and [`SlurmBackend::cancel_all`] finds
//! every job of a run.

pub mod cli;
pub mod render;
pub mod rest;
pub mod ssh;
pub mod state;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Mutex as AsyncMutex;

use self::cli::{CliTransport, Runner};
use self::render::{JobRequest, RenderError, render_script};
use self::rest::{RestConfig, RestTransport};
use self::ssh::SshConfig;
use self::state::{JobInfo, run_state};
use super::{Backend, BackendError, LaunchRequest};
use crate::api::status::ClientProgress;
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
}

impl Default for SlurmConfig {
    fn default() -> Self {
        Self {
            transport: TransportConfig::Cli,
            poll_interval: Duration::from_secs(1),
            in_allocation: false,
        }
    }
}

/// One interface over the three transports.
#[derive(Debug)]
pub enum Transport {
    /// CLI, locally or over SSH.
    Cli(CliTransport),
    /// slurmrestd.
    Rest(RestTransport),
}

impl Transport {
    /// Builds the transport for `config`.
    pub fn new(config: &TransportConfig) -> Result<Self, SlurmError> {
        Ok(match config {
            TransportConfig::Cli => Self::Cli(CliTransport {
                runner: Runner::Local,
            }),
            TransportConfig::Ssh(c) => Self::Cli(CliTransport {
                runner: Runner::Ssh(c.clone()),
            }),
            TransportConfig::Rest(c) => Self::Rest(RestTransport::new(c.clone())?),
        })
    }

    /// Submits; returns the job id.
    pub async fn submit(&self, req: &JobRequest) -> Result<String, SlurmError> {
        let script = render_script(req)?;
        match self {
            Self::Cli(c) => c.submit(&script).await,
            Self::Rest(r) => r.submit(req, &script).await,
        }
    }

    /// Jobs the controller knows (the user's, for the CLI).
    pub async fn jobs(&self) -> Result<Vec<JobInfo>, SlurmError> {
        match self {
            Self::Cli(c) => c.jobs().await,
            Self::Rest(r) => r.jobs().await,
        }
    }

    /// Cancels jobs.
    pub async fn cancel(&self, ids: &[String]) -> Result<(), SlurmError> {
        match self {
            Self::Cli(c) => c.cancel(ids).await,
            Self::Rest(r) => r.cancel(ids).await,
        }
    }

    /// Sends SIGTERM to every process of the jobs without cancelling them.
    pub async fn terminate(&self, ids: &[String]) -> Result<(), SlurmError> {
        match self {
            Self::Cli(c) => c.terminate(ids).await,
            Self::Rest(r) => r.terminate(ids).await,
        }
    }

    /// Releases connections (the SSH master).
    pub async fn close(&self) {
        if let Self::Cli(c) = self {
            c.close().await;
        }
    }
}

/// The job name of a component: `aifb-<run>-<component>`, where `<run>` is
/// the results folder name (`<benchmark>-<UTC timestamp>`), lowercased and
/// limited to `[a-z0-9-.]`.
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
}

/// Components as Slurm jobs.
pub struct SlurmBackend {
    transport: Transport,
    config: SlurmConfig,
    /// `aifb-<run>-`: every job of this run starts with it.
    prefix: String,
    run: String,
    jobs: Mutex<HashMap<String, Tracked>>,
    cache: AsyncMutex<Option<(Instant, Vec<JobInfo>)>>,
}

impl SlurmBackend {
    /// A backend for the run named `run` (the results folder name).
    pub fn new(config: SlurmConfig, run: &str) -> Result<Self, SlurmError> {
        let transport = Transport::new(&config.transport)?;
        let prefix = format!("{}-", job_name(run, "").trim_end_matches('-'));
        Ok(Self {
            transport,
            config,
            prefix,
            run: run.to_string(),
            jobs: Mutex::new(HashMap::new()),
            cache: AsyncMutex::new(None),
        })
    }

    /// The job name of a component of this run.
    pub fn job_name(&self, component: &str) -> String {
        job_name(&self.run, component)
    }

    /// The transport in use (`cli`, `ssh`, `rest`).
    pub fn transport_name(&self) -> &'static str {
        self.config.transport.name()
    }

    /// True when health checks and scrapes run inside the allocation.
    pub fn in_allocation(&self) -> bool {
        self.config.in_allocation
    }

    /// The transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    async fn job_list(&self, max_age: Duration) -> Result<Vec<JobInfo>, SlurmError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, jobs)) = cache.as_ref()
            && at.elapsed() < max_age
        {
            return Ok(jobs.clone());
        }
        let jobs: Vec<JobInfo> = self
            .transport
            .jobs()
            .await?
            .into_iter()
            .filter(|j| j.name.starts_with(&self.prefix))
            .collect();
        *cache = Some((Instant::now(), jobs.clone()));
        Ok(jobs)
    }

    fn invalidate(&self) {
        if let Ok(mut c) = self.cache.try_lock() {
            *c = None;
        }
    }

    /// Submits a component's job, or adopts the job of the same name that a
    /// previous driver of this run submitted (the newest one), so nothing
    /// runs twice.
    pub async fn submit(&self, req: &JobRequest) -> Result<Placement, SlurmError> {
        let existing = self
            .job_list(Duration::ZERO)
            .await?
            .into_iter()
            .filter(|j| j.name == req.name)
            .max_by_key(|j| j.job_id.parse::<u64>().unwrap_or(0));
        let job_id = match existing {
            Some(j) => {
                tracing::info!(component = %req.component, job_id = %j.job_id, state = j.state.as_str(), "adopting the job a previous driver submitted");
                j.job_id
            }
            None => {
                let id = self.transport.submit(req).await?;
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

    /// What Slurm says of a component's job.
    pub async fn info(&self, id: &str) -> Option<JobInfo> {
        let t = self.tracked(id)?;
        match self.job_list(self.config.poll_interval).await {
            Ok(jobs) => jobs.into_iter().find(|j| j.job_id == t.job_id),
            Err(e) => {
                tracing::warn!(component = %id, error = %e, "cannot list Slurm jobs");
                None
            }
        }
    }

    /// The component's state, from its job.
    pub async fn run_state(&self, id: &str) -> RunState {
        let Some(t) = self.tracked(id) else {
            return RunState::Unknown;
        };
        match self.job_list(self.config.poll_interval).await {
            Ok(jobs) => match jobs.iter().find(|j| j.job_id == t.job_id) {
                Some(j) => run_state(j),
                None if t.submitted.elapsed() < Duration::from_secs(15) => {
                    RunState::Queued(format!("slurm job {} submitted", t.job_id))
                }
                None => RunState::Exited {
                    code: None,
                    reason: Some(format!(
                        "slurm job {} is no longer known to the controller",
                        t.job_id
                    )),
                },
            },
            // A transient failure (ssh reconnecting, slurmctld busy): keep
            // the last known state by saying nothing new.
            Err(e) => {
                tracing::warn!(component = %id, error = %e, "cannot list Slurm jobs");
                RunState::Running
            }
        }
    }

    /// Cancels one component's job.
    pub async fn cancel(&self, id: &str) {
        let Some(t) = self.tracked(id) else { return };
        if let Err(e) = self.transport.cancel(std::slice::from_ref(&t.job_id)).await {
            tracing::warn!(component = %id, job_id = %t.job_id, error = %e, "scancel failed");
        }
        self.invalidate();
    }

    /// Cancels every job of this run still pending or running (found by
    /// name, so also jobs of a previous driver). Returns the ids cancelled.
    pub async fn cancel_all(&self) -> Result<Vec<String>, SlurmError> {
        let active: Vec<String> = self
            .job_list(Duration::ZERO)
            .await?
            .into_iter()
            .filter(|j| j.state.is_active())
            .map(|j| j.job_id)
            .collect();
        if !active.is_empty() {
            tracing::info!(jobs = ?active, "cancelling the jobs left of this run");
            self.transport.cancel(&active).await?;
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
        self.transport.close().await;
    }
}

impl Backend for SlurmBackend {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn reaches_endpoints(&self) -> bool {
        !self.config.in_allocation
    }

    async fn launch(&self, req: LaunchRequest) -> Result<Placement, BackendError> {
        let log_dir = req
            .log_path
            .parent()
            .map(|p| p.join("..").join("slurm_logs"))
            .unwrap_or_else(|| req.working_dir.join("slurm_logs"));
        let job = JobRequest {
            name: self.job_name(&req.id),
            component: req.id.clone(),
            argv: req.argv,
            env: req.env,
            working_dir: req.working_dir,
            log_dir,
            ..Default::default()
        };
        self.submit(&job)
            .await
            .map_err(|e| BackendError::Unknown(format!("{}: {e}", req.id)))
    }

    async fn observe(&self, id: &str) -> (RunState, Option<ClientProgress>) {
        (self.run_state(id).await, None)
    }

    async fn stop(&self, id: &str, _grace: Duration) {
        // scancel: SIGTERM, then SIGKILL after the cluster's KillWait.
        self.cancel(id).await;
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
    }
}
