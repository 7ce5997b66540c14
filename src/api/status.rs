//! The `Benchmark` status: what happened and what was measured, written
//! back by the engine (to the resource, or to `status.yaml` locally).

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::post_action::PostAction;

/// Lifecycle phase of a benchmark.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, Default)]
pub enum Phase {
    /// Accepted, nothing launched yet.
    #[default]
    Pending,
    /// Services are being submitted or started.
    Launching,
    /// Services run; waiting for their health checks.
    WaitingReady,
    /// Clients are generating load.
    Running,
    /// Post-actions: final scrapes, stopping services, reports.
    Collecting,
    /// Finished; every client succeeded.
    Succeeded,
    /// Finished with a failure; see the `Succeeded` condition's reason.
    Failed,
    /// Stopped on request; partial results kept.
    Cancelled,
}

impl Phase {
    /// True for Succeeded, Failed and Cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// The name as written in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Launching => "Launching",
            Self::WaitingReady => "WaitingReady",
            Self::Running => "Running",
            Self::Collecting => "Collecting",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Kubernetes-style condition.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type: Validated, ServicesReady, ClientsFinished,
    /// ResultsCollected, SloMet, Succeeded, Queued.
    #[serde(rename = "type")]
    pub type_: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    /// One-word CamelCase reason (e.g. HealthcheckTimeout).
    pub reason: String,
    /// Human-readable detail.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Timestamp,
    /// The spec generation this condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// What kind of component this is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    /// A server under test.
    Service,
    /// A load-generator instance.
    Client,
    /// A Prometheus scrape.
    Monitor,
}

impl ComponentKind {
    /// The name used in labels and status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Client => "client",
            Self::Monitor => "monitor",
        }
    }
}

/// Lifecycle of one component.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, Default)]
pub enum ComponentState {
    /// Not launched yet.
    #[default]
    Pending,
    /// Launch requested; waiting for the backend (e.g. queued in Slurm).
    Launching,
    /// Running; a service waits for its health check.
    Starting,
    /// Service healthy.
    Ready,
    /// Client or monitor running.
    Running,
    /// Stop requested; waiting for it to exit.
    Stopping,
    /// Finished with success (exit code 0).
    Succeeded,
    /// Finished with a failure.
    Failed,
    /// Stopped by aifbench.
    Stopped,
}

impl ComponentState {
    /// True once the component can no longer change.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Stopped)
    }

    /// True while a process, job or pod may exist.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Launching | Self::Starting | Self::Ready | Self::Running | Self::Stopping
        )
    }
}

/// Live counters of a client instance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClientProgress {
    /// Successful requests so far.
    pub requests: u64,
    /// Failed requests so far.
    pub errors: u64,
    /// Seconds since the instance started measuring.
    pub elapsed_seconds: f64,
}

/// State of one service, client instance or monitor.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// Component id (client instances: `<id>-<n>`).
    pub id: String,
    /// service, client or monitor.
    pub kind: ComponentKind,
    /// Backend running it: process, slurm, pod, driver (in-process monitor).
    pub backend: String,
    /// Lifecycle state.
    pub state: ComponentState,
    /// Process id (process backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Slurm job id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Pod name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// Node it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Container images with the digests the runtime resolved (pods:
    /// `image@sha256:...`), once known: what exactly ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Base URL other components use to reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Exit code once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// One-word reason for the current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the backend first reported it waiting in its queue (e.g. Slurm
    /// PENDING); `execution.queueDeadline` counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_time: Option<Timestamp>,
    /// When it started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    /// Live counters (clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ClientProgress>,
}

impl ComponentStatus {
    /// A fresh, pending component.
    pub fn new(id: impl Into<String>, kind: ComponentKind, backend: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            kind,
            backend: backend.into(),
            state: ComponentState::Pending,
            pid: None,
            job_id: None,
            pod_name: None,
            node: None,
            images: Vec::new(),
            endpoint: None,
            exit_code: None,
            reason: None,
            message: None,
            queued_time: None,
            start_time: None,
            end_time: None,
            progress: None,
        }
    }
}

/// Progress of one post-action.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostActionStatus {
    /// The action.
    pub action: PostAction,
    /// Pending, Running, Succeeded or Failed.
    pub state: String,
    /// Detail, e.g. an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The headline numbers of a run; the full results are in the results folder.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResultsSummary {
    /// Successful requests (after warmup).
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Measurement window in seconds.
    pub duration_seconds: f64,
    /// Successful requests per second.
    pub request_throughput: f64,
    /// Output tokens per second (LLM workloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_token_throughput: Option<f64>,
    /// Payload bytes per second (storage workloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_second: Option<f64>,
    /// Time to first token, median (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p50_ms: Option<f64>,
    /// Time to first token, 99th percentile (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p99_ms: Option<f64>,
    /// Inter-token latency, median (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_p50_ms: Option<f64>,
    /// End-to-end latency, median (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    /// End-to-end latency, 99th percentile (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<f64>,
    /// Every latency metric measured (ttft, itl, tpot, e2el, ...), in ms.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_ms: BTreeMap<String, Percentiles>,
    /// True when the instances' histograms could not be merged (under the
    /// operator: a full result missing from `results.s3`, or no
    /// `results.s3`): the figures then come from the instances' termination
    /// messages, and p90/p95/p99 are the worst instance's (an upper bound),
    /// means and medians request-weighted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approximate: bool,
    /// A sweep's saturation, when the run had stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepHeadline>,
    /// GPU telemetry over the measured window, when a monitor scraped GPU
    /// series (DCGM names); the full section is `gpu` in summary.json.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuHeadline>,
}

/// GPU power and energy over the measured window (all GPUs together).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GpuHeadline {
    /// GPUs seen by the monitors.
    pub gpus: u32,
    /// Energy of all GPUs over the measured window (J).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_joules: Option<f64>,
    /// Energy per output token (J).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_per_output_token_joules: Option<f64>,
    /// Energy per successful request (J).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_per_request_joules: Option<f64>,
    /// Mean power of all GPUs together (W).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_power_watts: Option<f64>,
    /// Mean GPU utilisation (%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_utilization_percent: Option<f64>,
}

/// Where a sweep of stages saturated (the full curve is in summary.json,
/// `total.saturation`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SweepHeadline {
    /// What the load is: `concurrency` or `rate`.
    pub load_kind: String,
    /// The saturation point's load; absent when the sweep did not saturate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation_load: Option<f64>,
    /// Throughput (requests/s) at the saturation point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation_throughput: Option<f64>,
    /// The load with the highest goodput, when objectives were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_goodput_load: Option<f64>,
    /// Why, in words.
    pub reason: String,
    /// True when stages were skipped past saturation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped_early: bool,
}

/// Statistics of one latency distribution, in milliseconds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Where the full results are.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResultsLocation {
    /// Results folder on the driver's (or a shared) filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Object-store URL, when uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Status of a Benchmark.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct BenchmarkStatus {
    /// Lifecycle phase.
    #[serde(default)]
    pub phase: Phase,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Backend(s) in use (e.g. `process`, `slurm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Conditions, Kubernetes style.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// When the benchmark started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    /// When the run started: the first moment every service was running and
    /// healthy and every client instance had left the backend's queue
    /// (running or already finished). `execution.runDeadline` counts from
    /// here; time spent queued is bounded by `execution.queueDeadline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_start_time: Option<Timestamp>,
    /// When the current phase began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_start_time: Option<Timestamp>,
    /// When the benchmark finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Timestamp>,
    /// Human-readable summary of the current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Per-component state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentStatus>,
    /// Post-action progress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_actions: Vec<PostActionStatus>,
    /// Headline results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ResultsSummary>,
    /// Where the full results are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<ResultsLocation>,
    /// What was measured, in short: aifbench's build and each server's
    /// version and models (the whole record is `environment.json`'s
    /// `provenance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<ProvenanceSummary>,
    /// Short history of earlier runs of this Benchmark (the operator runs a
    /// Benchmark once per spec generation), newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunRecord>,
}

/// `status.provenance`: the build that ran and what each server said it is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceSummary {
    /// aifbench's version.
    pub aifbench_version: String,
    /// The commit aifbench was built from ("unknown" outside a checkout).
    pub build_commit: String,
    /// Per service: its server's version and model ids, where it reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerSummary>,
}

/// One service's server in `status.provenance`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServerSummary {
    /// Service id.
    pub id: String,
    /// What `/version` answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What `/v1/models` listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

/// The summary of one finished run, kept in `status.runs`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The spec generation that was run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// How it ended (Succeeded, Failed, Cancelled).
    pub phase: Phase,
    /// The reason of the `Succeeded` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Timestamp>,
    /// Successful requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_throughput: Option<f64>,
    /// End-to-end latency p99 in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<f64>,
    /// Where its results are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<ResultsLocation>,
}

impl BenchmarkStatus {
    /// The condition of a type, if set.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// The component with an id, if known.
    pub fn component(&self, id: &str) -> Option<&ComponentStatus> {
        self.components.iter().find(|c| c.id == id)
    }

    /// Sets a condition; `last_transition_time` only moves when `status`
    /// changes, as Kubernetes conventions require.
    pub fn set_condition(
        &mut self,
        type_: &str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
        now: Timestamp,
    ) {
        let status_str = if status { "True" } else { "False" };
        let message = message.into();
        let generation = self.observed_generation;
        match self.conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) => {
                if c.status != status_str {
                    c.last_transition_time = now;
                }
                c.status = status_str.to_string();
                c.reason = reason.to_string();
                c.message = message;
                c.observed_generation = generation;
            }
            None => self.conditions.push(Condition {
                type_: type_.to_string(),
                status: status_str.to_string(),
                reason: reason.to_string(),
                message,
                last_transition_time: now,
                observed_generation: generation,
            }),
        }
    }
}

/// Condition types written by the engine.
pub mod condition {
    /// The spec passed validation.
    pub const VALIDATED: &str = "Validated";
    /// A component waits in a scheduler queue.
    pub const QUEUED: &str = "Queued";
    /// Every service passed its health check.
    pub const SERVICES_READY: &str = "ServicesReady";
    /// Every client instance finished.
    pub const CLIENTS_FINISHED: &str = "ClientsFinished";
    /// Post-actions completed.
    pub const RESULTS_COLLECTED: &str = "ResultsCollected";
    /// Service-level objectives met.
    pub const SLO_MET: &str = "SloMet";
    /// The verdict: True when the benchmark succeeded; False with the
    /// failure's reason otherwise (set as soon as the failure is known).
    pub const SUCCEEDED: &str = "Succeeded";
}

/// Reasons used in conditions and component status.
pub mod reason {
    /// The spec is invalid.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The spec is valid.
    pub const VALID: &str = "Valid";
    /// A backend refused to launch a component.
    pub const LAUNCH_FAILED: &str = "LaunchFailed";
    /// A service did not pass its health check in time.
    pub const HEALTHCHECK_TIMEOUT: &str = "HealthcheckTimeout";
    /// A service exited before the benchmark finished.
    pub const SERVICE_EXITED: &str = "ServiceExited";
    /// A client failed (non-zero exit).
    pub const CLIENT_FAILED: &str = "ClientFailed";
    /// A client aborted under its error policy.
    pub const ERROR_THRESHOLD: &str = "ErrorThresholdExceeded";
    /// A component waited in a queue past `queueDeadline`.
    pub const QUEUE_DEADLINE: &str = "QueueDeadlineExceeded";
    /// The benchmark ran past `runDeadline`.
    pub const RUN_DEADLINE: &str = "RunDeadlineExceeded";
    /// `execution.duration` elapsed; clients stopped normally.
    pub const DURATION_REACHED: &str = "DurationReached";
    /// Every client finished by itself.
    pub const COMPLETED: &str = "Completed";
    /// Cancelled by the user.
    pub const CANCELLED: &str = "Cancelled";
    /// Every service passed its health check.
    pub const HEALTHY: &str = "Healthy";
    /// Waiting for a service's health check.
    pub const WAITING: &str = "Waiting";
    /// Post-actions done.
    pub const COLLECTED: &str = "Collected";
    /// A post-action failed.
    pub const POST_ACTION_FAILED: &str = "PostActionFailed";
    /// Objectives met / missed.
    pub const OBJECTIVES_MET: &str = "ObjectivesMet";
    /// At least one objective missed.
    pub const OBJECTIVES_MISSED: &str = "ObjectivesMissed";
    /// Stopped by aifbench.
    pub const STOPPED: &str = "Stopped";
    /// Waiting in a scheduler queue.
    pub const QUEUED: &str = "Queued";
    /// Every component was launched and runs.
    pub const RUNNING: &str = "Running";
}
