//! Backends run components: `launch`, `observe`, `stop`. The engine decides,
//! backends only do.
//!
//! This version ships the process backend (child processes on the driver's
//! machine) and the HTTP health prober. Slurm and pod backends implement the
//! same [`Backend`] trait.

pub mod health;
pub mod process;
pub mod slurm;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::api::status::{ClientProgress, ComponentKind};
use crate::engine::{Placement, RunState};

/// Hook called with every stdout line of a component (used to read client
/// progress events).
pub type LineHook = Arc<dyn Fn(&str) -> Option<ClientProgress> + Send + Sync>;

/// Everything a backend needs to launch one component; templates are
/// already filled in.
#[derive(Clone)]
pub struct LaunchRequest {
    /// Component id.
    pub id: String,
    /// Service or client.
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
}

/// A way of running components.
pub trait Backend: Send + Sync {
    /// Name shown in status (`process`, `slurm`, `pod`).
    fn name(&self) -> &'static str;

    /// True when the driver can reach component endpoints directly (so it
    /// health-checks and scrapes them itself).
    fn reaches_endpoints(&self) -> bool;

    /// Starts a component.
    fn launch(
        &self,
        req: LaunchRequest,
    ) -> impl Future<Output = Result<Placement, BackendError>> + Send;

    /// What the component is doing now, and its live progress.
    fn observe(&self, id: &str) -> impl Future<Output = (RunState, Option<ClientProgress>)> + Send;

    /// Stops a component: graceful first, forced after `grace`. Returns at
    /// once; `observe` reports the exit.
    fn stop(&self, id: &str, grace: Duration) -> impl Future<Output = ()> + Send;
}
