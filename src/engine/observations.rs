//! What the engine is told: what backends saw of each component, whether the
//! user asked to cancel, and how the driver-run post-actions ended.

use std::collections::BTreeMap;

use crate::api::spec::PostAction;
use crate::api::status::{ClientProgress, ResultsSummary};

/// Exit code with which `aifbench loadgen` reports that its error policy
/// aborted it (too many consecutive errors).
pub const EXIT_ERROR_POLICY: i32 = 3;

/// What a backend says about one component.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum RunState {
    /// Nothing known yet (not launched, or launch still in flight).
    #[default]
    Unknown,
    /// The backend refused to launch it.
    LaunchFailed(String),
    /// Accepted but waiting (e.g. Slurm PENDING) for the given reason.
    Queued(String),
    /// Running.
    Running,
    /// Finished, with its exit code if known and a reason (e.g. a signal,
    /// Slurm's TIMEOUT).
    Exited {
        /// Exit code, when the backend knows it.
        code: Option<i32>,
        /// Why, when more than an exit code is known.
        reason: Option<String>,
    },
}

/// Where a component runs, once known.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Placement {
    /// Process id.
    pub pid: Option<u32>,
    /// Slurm job id.
    pub job_id: Option<String>,
    /// Pod name.
    pub pod_name: Option<String>,
    /// Node.
    pub node: Option<String>,
    /// Base URL for other components.
    pub endpoint: Option<String>,
    /// Container images as the runtime resolved them (pods:
    /// `image@sha256:...` from the container statuses' `imageID`).
    pub images: Vec<String>,
}

/// What the driver saw of one component.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Observed {
    /// Backend state.
    pub run: RunState,
    /// The health check passes (services).
    pub healthy: bool,
    /// Where it runs.
    pub placement: Placement,
    /// Live counters (clients).
    pub progress: Option<ClientProgress>,
}

/// How a post-action carried out by the driver ended.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionOutcome {
    /// Done.
    Succeeded,
    /// Failed, with the reason.
    Failed(String),
}

/// Everything the driver observed since the last call.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Observations {
    /// Per component id.
    pub components: BTreeMap<String, Observed>,
    /// The user asked to cancel (Ctrl-C, deletion).
    pub cancel_requested: bool,
    /// Outcomes of driver-run post-actions (collectMetrics' final scrape is
    /// expressed as stopping monitors; report is run by the driver).
    pub post_actions: BTreeMap<PostAction, ActionOutcome>,
    /// Headline numbers, once the report exists.
    pub summary: Option<ResultsSummary>,
}
