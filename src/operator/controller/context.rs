//! What every reconcile runs with: the [`Settings`] of the reconciler and
//! the shared [`Context`] (API client, metrics, monitor tasks, the Slurm
//! transport and the clock).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::Client;

use crate::operator::metrics::Metrics;
use crate::operator::monitors::MonitorTasks;
use crate::operator::slurm::{ClusterSlurm, SlurmConnector};

/// The clock (injected so tests are deterministic).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Settings of the reconciler.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Image of client pods without their own `pod.image` (the operator's).
    pub image: String,
    /// Where monitors write (`<root>/<namespace>/<folder>/metrics`).
    pub results_root: PathBuf,
    /// `reportingInstance` of Events (the pod name).
    pub instance: String,
    /// Requeue interval while a run is active.
    pub requeue: Duration,
    /// Lifespan of JWTs minted over SSH for Slurm backends.
    pub slurm_token_lifespan: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            image: "ghcr.io/aifbench/aifbench:latest".to_string(),
            results_root: PathBuf::from("/var/lib/aifbench/results"),
            instance: "aifbench-operator".to_string(),
            requeue: Duration::from_secs(5),
            slurm_token_lifespan: Duration::from_secs(3600),
        }
    }
}

/// Everything a reconcile needs.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Settings.
    pub settings: Settings,
    /// The operator's metrics.
    pub metrics: Arc<Metrics>,
    /// Monitor tasks.
    pub monitors: Arc<MonitorTasks>,
    /// The Slurm transport.
    pub slurm: Arc<dyn SlurmConnector>,
    /// The clock.
    pub clock: Clock,
}

impl Context {
    /// A context with the real clock, Slurm through slurmrestd or SSH and
    /// fresh metrics.
    pub fn new(client: Client, settings: Settings) -> Self {
        Self {
            client,
            slurm: Arc::new(ClusterSlurm::new(settings.slurm_token_lifespan)),
            settings,
            metrics: Arc::new(Metrics::new()),
            monitors: Arc::new(MonitorTasks::new()),
            clock: Arc::new(Timestamp::now),
        }
    }
}
