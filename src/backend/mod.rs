//! The one seam under both drivers: a [`Backend`] runs components —
//! `launch`, `observe`, `stop`, and `cleanup` of a whole run — and says
//! whether the driver can reach their endpoints itself. The engine decides;
//! backends only do.
//!
//! Implementations:
//! - [`process::ProcessBackend`]: child processes of the driver (also
//!   wrapped in `apptainer exec`, for `executor: apptainer`), each under a
//!   [`supervise`] parent that stops it when the driver dies;
//! - [`slurm::SlurmBackend`]: batch jobs over the local CLI, SSH or
//!   slurmrestd, reporting back through the job's own comment;
//! - [`pod::PodBackend`]: the operator's Pods, Services and Indexed Jobs.
//!
//! Drivers hold their backends in one [`registry::Backends`], keyed by
//! executor kind: outside the API types, validation and that registry,
//! nothing matches on `ExecutorKind`.

pub mod apptainer;
pub mod health;
pub mod pod;
pub mod process;
pub mod procfs;
pub mod registry;
pub mod slurm;
pub mod stderr_tail;
pub mod supervise;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::api::spec::{ApptainerSpec, SlurmSpec};
use crate::api::status::{ClientProgress, ComponentKind, ResultsSummary};
use crate::engine::{Placement, RunState};

pub use registry::Backends;

/// Hook called with every stdout line of a component (used to read client
/// progress events).
pub type LineHook = Arc<dyn Fn(&str) -> Option<ClientProgress> + Send + Sync>;

/// Everything a backend needs to launch one component; templates are
/// already filled in. Each backend reads the parts it understands (the
/// Slurm settings, the Apptainer wrapping) and ignores the rest.
#[derive(Clone)]
pub struct LaunchRequest {
    /// Component id (a client instance: `<client>-<n>`).
    pub id: String,
    /// Service, client or monitor.
    pub kind: ComponentKind,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub working_dir: PathBuf,
    /// File receiving the component's output as JSON Lines.
    pub log_path: PathBuf,
    /// Base URL others reach it at (services with ports).
    pub endpoint: Option<String>,
    /// Parses stdout lines into progress (clients).
    pub progress_hook: Option<LineHook>,
    /// Files written before the command starts (path, content): a client's
    /// configuration, carried by the job itself where the driver cannot
    /// write to the component's filesystem.
    pub files: Vec<(PathBuf, String)>,
    /// The component's Slurm settings (`spec.*.slurm`).
    pub slurm: Option<SlurmSpec>,
    /// The component's Apptainer wrapping (`spec.*.apptainer`).
    pub apptainer: Option<ApptainerSpec>,
    /// A service's port, as the driver planned it (the component may
    /// report another one it really bound).
    pub port: Option<u16>,
    /// A service's health check, for backends that check it from inside
    /// (where the driver cannot reach the endpoint).
    pub ready_check: Option<ReadyCheck>,
    /// A client's summary file: the backend reports its content back
    /// (a Slurm job posts it in its comment) once the client exits.
    pub summary_file: Option<PathBuf>,
    /// Time between a graceful stop and a forced one.
    pub stop_grace: Duration,
}

impl Default for LaunchRequest {
    fn default() -> Self {
        Self {
            id: String::new(),
            kind: ComponentKind::Service,
            argv: Vec::new(),
            env: BTreeMap::new(),
            working_dir: PathBuf::new(),
            log_path: PathBuf::new(),
            endpoint: None,
            progress_hook: None,
            files: Vec::new(),
            slurm: None,
            apptainer: None,
            port: None,
            ready_check: None,
            summary_file: None,
            stop_grace: Duration::ZERO,
        }
    }
}

/// A health check run next to the component.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ReadyCheck {
    /// URL path (`/health`); host and port are the component's own.
    pub path: String,
    /// Time between probes.
    pub interval: Duration,
}

/// What a backend sees of one component.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Seen {
    /// Its state.
    pub run: RunState,
    /// Live counters (clients).
    pub progress: Option<ClientProgress>,
    /// The node it runs on, once known.
    pub node: Option<String>,
    /// The port it reported (a service that picked its own).
    pub port: Option<u16>,
    /// Health as checked inside its allocation (None: the driver checks).
    pub ready: Option<bool>,
    /// A client's summary as it reported it (JSON of `loadgen
    /// --summary-file`).
    pub summary: Option<serde_json::Value>,
}

/// Why a backend could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The program could not be started.
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        /// The program (argv[0]).
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Nothing to run.
    #[error("empty command")]
    EmptyCommand,
    /// A file the backend needs could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The component is not known to this backend.
    #[error("unknown component {0:?}")]
    Unknown(String),
    /// The scheduler or cluster refused the component (message as it said).
    #[error("{0}")]
    Refused(String),
    /// The component has no executor: the driver runs it itself (a
    /// monitor).
    #[error("the driver runs this component itself; no backend runs it")]
    DriverRun,
    /// This driver has no backend for the executor.
    #[error("executor {executor} is not available in {driver}; use {available}")]
    Unsupported {
        /// The executor asked for.
        executor: &'static str,
        /// The driver (`aifbench run`, the operator).
        driver: &'static str,
        /// The executors it has.
        available: String,
    },
}

/// A way of running components. Object-safe, so drivers hold backends of
/// different kinds in one [`Backends`] registry.
pub trait Backend: Send + Sync {
    /// Name shown in status (`process`, `slurm`, `pod`).
    fn name(&self) -> &'static str;

    /// True when the driver can reach component endpoints directly (so it
    /// health-checks and scrapes them itself); false when health checks
    /// and scrapes must run next to the components.
    fn reaches_endpoints(&self) -> bool;

    /// Starts a component (or adopts the one a previous driver of the same
    /// run started).
    fn launch(&self, req: LaunchRequest) -> BoxFuture<'_, Result<Placement, BackendError>>;

    /// What the component is doing now.
    fn observe<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Seen>;

    /// Stops a component: graceful first, forced after `grace`. Returns at
    /// once; `observe` reports the exit.
    fn stop<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFuture<'a, ()>;

    /// Ends everything of this run that is still alive (nothing outlives a
    /// benchmark) and releases connections; returns what it had to end.
    fn cleanup(&self) -> BoxFuture<'_, Result<Vec<String>, BackendError>>;

    /// What `launch` would submit, for `--dry-run` (a batch script); None
    /// when there is nothing to show beyond the command line.
    fn preview(&self, _req: &LaunchRequest) -> Option<Result<String, BackendError>> {
        None
    }
}

/// A client's progress from the summary it reported (a Slurm job's
/// comment, a pod's termination message); `None` when it is not one.
pub fn progress_of_summary(summary: &serde_json::Value) -> Option<ClientProgress> {
    let s = ResultsSummary::deserialize(summary).ok()?;
    Some(ClientProgress {
        requests: s.requests,
        errors: s.errors,
        elapsed_seconds: s.duration_seconds,
    })
}
