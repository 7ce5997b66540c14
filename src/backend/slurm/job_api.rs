//! The one job API of the Slurm backend ([`JobApi`]): list the jobs, submit
//! a rendered [`JobRequest`], cancel, send SIGTERM, close — object-safe, so
//! [`super::SlurmBackend`] runs over any of them: a [`Transport`] of its
//! own (`aifbench run`: the local CLI, the CLI over SSH, slurmrestd) or the
//! operator's session of one reconcile (an adapter in
//! `operator::slurm_backend`).

use futures::future::BoxFuture;

use super::SlurmError;
use super::TransportConfig;
use super::cli::{CliTransport, Runner};
use super::render::{JobRequest, render_script};
use super::rest::RestTransport;
use super::state::JobInfo;

/// What the Slurm backend asks of Slurm. Errors carry no secrets.
pub trait JobApi: Send + Sync {
    /// How Slurm is reached (`cli`, `ssh`, `rest`, `session`), for logs.
    fn name(&self) -> &'static str;
    /// Jobs the controller knows (the user's, for the CLI).
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobInfo>, SlurmError>>;
    /// Renders and submits a job; returns its id.
    fn submit<'a>(&'a self, req: &'a JobRequest) -> BoxFuture<'a, Result<String, SlurmError>>;
    /// Cancels jobs.
    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>>;
    /// Sends SIGTERM to every process of the jobs, the batch script
    /// included, without cancelling them (a cancelled job can no longer
    /// update its comment; a client still posts its summary this way).
    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>>;
    /// Releases what the API holds (the SSH master); a borrowed session is
    /// closed by its owner instead.
    fn close(&self) -> BoxFuture<'_, ()>;
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

impl JobApi for Transport {
    fn name(&self) -> &'static str {
        match self {
            Self::Cli(CliTransport {
                runner: Runner::Local,
            }) => "cli",
            Self::Cli(_) => "ssh",
            Self::Rest(_) => "rest",
        }
    }
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobInfo>, SlurmError>> {
        Box::pin(Transport::jobs(self))
    }
    fn submit<'a>(&'a self, req: &'a JobRequest) -> BoxFuture<'a, Result<String, SlurmError>> {
        Box::pin(Transport::submit(self, req))
    }
    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>> {
        Box::pin(Transport::cancel(self, ids))
    }
    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>> {
        Box::pin(Transport::terminate(self, ids))
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(Transport::close(self))
    }
}
