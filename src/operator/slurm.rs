//! Slurm from the cluster: credentials from a Secret, the
//! `BackendReachable` condition, JWT refresh, and a session per reconcile
//! over which the operator lists, submits and cancels jobs. The transports
//! themselves (SSH, slurmrestd) live in `backend::slurm`; the operator talks
//! to them through the small [`SlurmConnector`] / [`SlurmSession`] traits so
//! the reconcile is testable without a cluster.
//!
//! - slurmrestd: the Secret's `url`, `token` (JWT) and `user`. When
//!   slurmrestd refuses the token and the Secret also gives SSH access, a
//!   fresh token is minted with `scontrol token lifespan=...` on the login
//!   node and used instead; it is kept in memory only (never in a status,
//!   an event or a log line) and reused, for exactly the credentials that
//!   minted it, until half its lifespan is gone.
//! - SSH: the Secret's `host`, `port`, `user`, `ssh-privatekey` and
//!   `known_hosts`; the key and the known_hosts file are written (0600) to a
//!   private folder (0700) of the operator process for the life of one
//!   session, host keys are checked strictly, and the folder is removed
//!   when the session ends.
//!
//! Secret values are held in [`SecretValue`], whose `Debug` and `Display`
//! print `<redacted>`; every message that reaches a status, an event or a
//! log line goes through [`redact`] first.
//!
//! This file holds the seam (the traits, [`SlurmFailure`], [`probe`],
//! [`cancel_matching`], [`NoSlurm`]) and the job-name prefix; the rest
//! lives in submodules, their items re-exported here:
//!
//! - `credentials`: reading the Secret, [`SecretValue`], [`redact`];
//! - `ssh_access`: the private key folder, [`SshAccess`], [`mint_token`];
//! - `cluster`: [`ClusterSlurm`], the connector for real clusters.

mod cluster;
mod credentials;
mod ssh_access;

use futures::future::BoxFuture;

use crate::backend::slurm::render::JobRequest;
use crate::backend::slurm::state::JobInfo;

pub use self::cluster::ClusterSlurm;
pub use self::credentials::{
    CredentialError, SecretValue, SlurmCredentials, credentials_from_secret, redact,
};
pub use self::ssh_access::{PrivateDir, SshAccess, mint_token};

/// Benchmark annotation naming the Secret (same namespace) with the Slurm
/// credentials.
pub const SLURM_SECRET_ANNOTATION: &str = "aifbench.io/slurm-secret";
/// The condition the operator sets for Benchmarks that use Slurm.
pub const BACKEND_REACHABLE: &str = "BackendReachable";

/// Why Slurm could not be used: the `BackendReachable` reason and a
/// message (already redacted).
#[derive(Clone, Debug, PartialEq)]
pub struct SlurmFailure {
    /// `Unreachable`, `TokenRejected` or `InvalidCredentials`.
    pub reason: &'static str,
    /// What went wrong.
    pub message: String,
}

/// An open connection to Slurm for one reconcile. Errors are
/// human-readable and redacted.
pub trait SlurmSession: Send + Sync {
    /// How Slurm is reached (for the condition's message; no secrets).
    fn describe(&self) -> String;
    /// Every job the controller still knows (of the session's user).
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobInfo>, String>>;
    /// Submits a job; returns its id.
    fn submit<'a>(&'a self, req: &'a JobRequest) -> BoxFuture<'a, Result<String, String>>;
    /// Cancels jobs.
    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), String>>;
    /// Asks jobs to stop: SIGTERM to every process, the batch script
    /// included, without cancelling them (a cancelled job can no longer
    /// update its comment; a client still posts its summary this way).
    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), String>>;
    /// Ends the session (closes the SSH master, removes the key files).
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Opens Slurm sessions from credentials.
pub trait SlurmConnector: Send + Sync {
    /// Connects and checks that Slurm answers (this is the
    /// `BackendReachable` probe), refreshing the JWT when it is refused
    /// and the credentials allow it.
    fn connect<'a>(
        &'a self,
        creds: &'a SlurmCredentials,
    ) -> BoxFuture<'a, Result<Box<dyn SlurmSession>, SlurmFailure>>;
}

/// Checks that Slurm answers with these credentials.
pub async fn probe(
    connector: &dyn SlurmConnector,
    creds: &SlurmCredentials,
) -> Result<String, SlurmFailure> {
    let session = connector.connect(creds).await?;
    let how = session.describe();
    session.close().await;
    Ok(how)
}

/// Cancels every pending or running job whose name starts with `prefix`
/// and not with `keep` (when given); returns the ids cancelled.
pub async fn cancel_matching(
    session: &dyn SlurmSession,
    prefix: &str,
    keep: Option<&str>,
) -> Result<Vec<String>, String> {
    let ids: Vec<String> = session
        .jobs()
        .await?
        .into_iter()
        .filter(|j| {
            j.name.starts_with(prefix)
                && keep.is_none_or(|k| !j.name.starts_with(k))
                && j.state.is_active()
        })
        .map(|j| j.job_id)
        .collect();
    if !ids.is_empty() {
        session.cancel(&ids).await?;
    }
    Ok(ids)
}

/// The connector of a build without a Slurm transport: Slurm is reported
/// unreachable, with that reason.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSlurm;

impl SlurmConnector for NoSlurm {
    fn connect<'a>(
        &'a self,
        _creds: &'a SlurmCredentials,
    ) -> BoxFuture<'a, Result<Box<dyn SlurmSession>, SlurmFailure>> {
        Box::pin(async {
            Err(SlurmFailure {
                reason: "Unreachable",
                message: "this operator build has no Slurm transport".to_string(),
            })
        })
    }
}

/// The Slurm job-name prefix of a Benchmark (`aifb-<uid prefix>-`): the
/// start of [`crate::backend::slurm::run_prefix`] of every run id
/// [`crate::backend::slurm::operator_run_id`] gives it, whatever the
/// generation.
pub fn job_prefix(uid: &str) -> String {
    let short: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    format!("aifb-{short}-")
}
