//! The `Benchmark` spec: what to launch, what load to drive at it, what to
//! watch, and what to do afterwards.
//!
//! Every field of the seed framework's recipes has a home here (see
//! `seed.rs` for the mapping). Doc comments become `kubectl explain` text.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::Duration;
pub use super::monitor::{MonitorSpec, PrometheusQuerySpec, PromqlQuerySpec};
pub use super::post_action::PostAction;
use super::status::BenchmarkStatus;
use super::workload::{ErrorPolicy, LoadSpec, WorkloadSpec};

/// A benchmark of AI-factory services: services to launch, load-generating
/// clients to run against them, Prometheus monitors, and post-actions.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[kube(
    group = "aifbench.io",
    version = "v1alpha1",
    kind = "Benchmark",
    plural = "benchmarks",
    shortname = "bm",
    namespaced,
    status = "BenchmarkStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Backend","type":"string","jsonPath":".status.backend"}"#,
    printcolumn = r#"{"name":"Throughput","type":"number","jsonPath":".status.summary.requestThroughput","description":"Successful requests per second"}"#,
    printcolumn = r#"{"name":"P99","type":"number","jsonPath":".status.summary.latencyP99Ms","description":"End-to-end latency p99 in milliseconds"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BenchmarkSpec {
    /// Directory under which each run writes its results folder
    /// (`<workspace>/<name>-<UTC timestamp>/`). `${VAR}` references are
    /// expanded from the environment. Default: `./results`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,

    /// Where results go besides `workspace`: an S3 bucket (`results.s3`).
    /// Under the operator every client instance uploads its full result
    /// there, and the report merges them exactly; the `uploadResults`
    /// post-action uploads the whole results folder (`aifbench run`) or the
    /// merged summary (operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<ResultsSpec>,

    /// Long-running servers under test (inference servers, object stores,
    /// vector databases), launched first and health-checked.
    #[serde(default)]
    pub services: Vec<ServiceSpec>,

    /// Load generators run against the services once they are healthy.
    #[serde(default)]
    pub clients: Vec<ClientSpec>,

    /// Prometheus scrapes of services (or any host:port) during the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitors: Vec<MonitorSpec>,

    /// Log files written into the results folder, beside the console output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loggers: Vec<LoggerSpec>,

    /// Run length, deadlines and what happens after the run.
    #[serde(default)]
    pub execution: ExecutionSpec,

    /// Service-level objectives checked against the results; the verdict is
    /// the `SloMet` condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<SloSpec>,
}

/// Where results go besides the workspace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResultsSpec {
    /// An S3 bucket (AWS, Garage, MinIO, Ceph RGW, ...) for the results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3ResultsSpec>,
}

/// An S3 bucket for results. Objects are written under
/// `<prefix>/<results folder>/` (`aifbench run`) or
/// `<prefix>/<namespace>/<results folder>/` (operator). Credentials are never
/// part of the spec: they come from a Secret, a file or the environment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct S3ResultsSpec {
    /// Bucket name (must exist).
    pub bucket: String,
    /// Key prefix inside the bucket (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Endpoint URL of an S3-compatible server, e.g. `http://garage:3900`
    /// (default: AWS S3 of `region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region used for request signing (default `us-east-1`; Garage's
    /// default is `garage`).
    #[serde(default = "default_results_region")]
    pub region: String,
    /// Path-style addressing (`<endpoint>/<bucket>/<key>`); default true when
    /// `endpoint` is set, false for AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
    /// Where the access key comes from.
    #[serde(default)]
    pub credentials: S3CredentialsSource,
}

impl S3ResultsSpec {
    /// Path-style addressing, defaulted.
    pub fn path_style(&self) -> bool {
        self.path_style.unwrap_or(self.endpoint.is_some())
    }

    /// The prefix without leading or trailing `/` (may be empty).
    pub fn key_prefix(&self) -> String {
        self.prefix
            .as_deref()
            .unwrap_or_default()
            .trim_matches('/')
            .to_string()
    }
}

fn default_results_region() -> String {
    "us-east-1".to_string()
}

/// Where S3 credentials come from (never the spec itself).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3CredentialsSource {
    /// Operator: a Secret in the Benchmark's namespace with the keys
    /// `accessKeyId` and `secretAccessKey`; client pods get them through
    /// `secretKeyRef`, the operator reads it to fetch the results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// `aifbench run`: a file of `AWS_ACCESS_KEY_ID=...` and
    /// `AWS_SECRET_ACCESS_KEY=...` lines (takes precedence over the
    /// environment variables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `aifbench run`: environment variable holding the access key id
    /// (default `AWS_ACCESS_KEY_ID`).
    #[serde(default = "default_access_key_env")]
    pub access_key_id_env: String,
    /// `aifbench run`: environment variable holding the secret key
    /// (default `AWS_SECRET_ACCESS_KEY`).
    #[serde(default = "default_secret_key_env")]
    pub secret_access_key_env: String,
}

impl Default for S3CredentialsSource {
    fn default() -> Self {
        Self {
            secret_name: None,
            file: None,
            access_key_id_env: default_access_key_env(),
            secret_access_key_env: default_secret_key_env(),
        }
    }
}

fn default_access_key_env() -> String {
    "AWS_ACCESS_KEY_ID".to_string()
}
fn default_secret_key_env() -> String {
    "AWS_SECRET_ACCESS_KEY".to_string()
}

/// How a component is executed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// A child process of the driver, in its own process group.
    #[default]
    Process,
    /// A Slurm batch job (optionally wrapped in Apptainer).
    Slurm,
    /// A Kubernetes pod (operator only).
    Pod,
    /// A child process wrapped in `apptainer exec` (the seed's executor type).
    Apptainer,
}

impl ExecutorKind {
    /// The name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Process => "process",
            Self::Slurm => "slurm",
            Self::Pod => "pod",
            Self::Apptainer => "apptainer",
        }
    }
}

/// A long-running server under test.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Unique id among services, clients and monitors; used as the target
    /// name by clients and monitors. Lowercase letters, digits and `-`.
    pub id: String,

    /// How the service runs: `process` (default), `slurm`, `pod`, `apptainer`.
    #[serde(default)]
    pub executor: ExecutorKind,

    /// Program and arguments (argv, no shell). Templates such as `{{port}}`,
    /// `{{ports.http}}`, `{{services.<id>.url}}` and `{{resultsDir}}` are
    /// filled in at launch. The directory of the running `aifbench` binary is
    /// first on the PATH, so `aifbench sim` works as a command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,

    /// A shell script run with `sh -c` instead of `command` (the seed's string
    /// commands). Templates are filled in as for `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,

    /// Extra environment variables for the service. Templates are filled in.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,

    /// Working directory of the service (default: the results folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,

    /// Ports the service listens on. Port 0 lets aifbench pick a free port,
    /// handed to the command through `{{port}}` / `{{ports.<name>}}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSpec>,

    /// How to tell the service is ready. Without one, a service is ready as
    /// soon as it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthcheckSpec>,

    /// Slurm job settings (executor `slurm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmSpec>,

    /// Apptainer container settings (executor `apptainer`, or `slurm` with a
    /// container).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apptainer: Option<ApptainerSpec>,

    /// Pod settings (executor `pod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodSpec>,
}

/// A named port.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PortSpec {
    /// Port name, referenced by health checks, clients (`targetPort`) and
    /// templates (`{{ports.<name>}}`). Default: `http`.
    #[serde(default = "default_port_name")]
    pub name: String,
    /// Port number; 0 picks a free port at launch.
    #[schemars(range(max = 65535))]
    #[serde(default)]
    pub port: u16,
}

fn default_port_name() -> String {
    "http".to_string()
}

/// Readiness check: HTTP GET until a 2xx answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthcheckSpec {
    /// Full URL to probe. Overrides `path` and `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Path on the service endpoint (default `/health`).
    #[serde(default = "default_health_path")]
    pub path: String,
    /// Name of the port to probe (default: the first port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Time between probes (default 1s).
    #[serde(default = "default_health_interval")]
    pub interval: Duration,
    /// How long the service may take to become healthy after it starts
    /// running before the benchmark fails with `HealthcheckTimeout`
    /// (default 120s).
    #[serde(default = "default_health_timeout")]
    pub timeout: Duration,
    /// Timeout of a single probe (default 2s).
    #[serde(default = "default_probe_timeout")]
    pub probe_timeout: Duration,
}

impl Default for HealthcheckSpec {
    fn default() -> Self {
        Self {
            url: None,
            path: default_health_path(),
            port: None,
            interval: default_health_interval(),
            timeout: default_health_timeout(),
            probe_timeout: default_probe_timeout(),
        }
    }
}

fn default_health_path() -> String {
    "/health".to_string()
}
fn default_health_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_health_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_probe_timeout() -> Duration {
    Duration::from_secs(2)
}

/// Slurm batch-job settings; each maps onto an `#SBATCH` directive.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SlurmSpec {
    /// `--partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `--account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `--qos`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// `--reservation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<String>,
    /// `--nodes`.
    #[schemars(range(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// `--ntasks`.
    #[schemars(range(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ntasks: Option<u32>,
    /// `--cpus-per-task`.
    #[schemars(range(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<u32>,
    /// `--gpus` (a count, or `type:count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<String>,
    /// `--gres` (e.g. `gpu:a100:4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gres: Option<String>,
    /// `--mem` (e.g. `64G`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// `--time`, as a duration (`2h`) converted to Slurm's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Duration>,
    /// `--constraint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// `--exclusive`.
    #[serde(default)]
    pub exclusive: bool,
    /// Environment modules loaded before the command (`module load ...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<String>,
    /// Extra `#SBATCH` lines, given without the `#SBATCH` prefix
    /// (e.g. `--mail-type=END`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_directives: Vec<String>,
}

/// Apptainer (Singularity) container settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApptainerSpec {
    /// Image: a `.sif` path or a `docker://` reference.
    pub image: String,
    /// Pass `--nv` (NVIDIA GPU support).
    #[serde(default)]
    pub nv: bool,
    /// Bind mounts (`src[:dest[:opts]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<String>,
    /// Environment passed with `--env`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Extra arguments to `apptainer exec`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// Kubernetes pod settings (operator only).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Container image.
    pub image: String,
    /// Resource requests and limits, as in a container spec
    /// (e.g. `{limits: {nvidia.com/gpu: "1"}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
    /// Node selector labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<k8s_openapi::api::core::v1::Toleration>,
}

/// A load generator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClientSpec {
    /// Unique id; instances are named `<id>-1` .. `<id>-N`.
    pub id: String,
    /// Number of independent client instances (processes, jobs or pods):
    /// 1 to 1000.
    #[schemars(range(min = 1, max = crate::api::limits::MAX_INSTANCES))]
    #[serde(default = "one")]
    pub instances: u32,
    /// How each instance runs: `process` (default), `slurm`, `pod`, `apptainer`.
    #[serde(default)]
    pub executor: ExecutorKind,
    /// Id of the service to load; its endpoint is discovered at run time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Name of the target service's port (default: its first port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<String>,
    /// Base URL of a server not launched by this benchmark (instead of
    /// `target`), e.g. `http://gpu-node-7:8000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// What each request does.
    pub workload: WorkloadSpec,
    /// How much load: concurrency or rate, warmup, duration, request count.
    #[serde(default)]
    pub load: LoadSpec,
    /// Error policy: backoff and consecutive-error abort threshold.
    #[serde(default)]
    pub errors: ErrorPolicy,
    /// Also write one JSON line per request (send time, latencies, tokens,
    /// error class) to `clients/<instance>.requests.jsonl`. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record_requests: bool,
    /// Measure the client's own timing error first: a short run against an
    /// in-process simulator with known timing (openai workloads); its TTFT
    /// and ITL overhead and CPU headroom go into the result and the report,
    /// and a run whose overhead is large next to what it measured is
    /// flagged. `{}` turns it on with the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::api::calibration::CalibrationSpec>,
    /// Extra environment variables for each instance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Slurm job settings (executor `slurm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmSpec>,
    /// Apptainer container settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apptainer: Option<ApptainerSpec>,
    /// Pod settings (executor `pod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodSpec>,
}

fn one() -> u32 {
    1
}

/// Log output format.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

/// Log verbosity.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Diagnostics.
    Debug,
    /// Progress and decisions (default).
    #[default]
    Info,
    /// Problems only.
    Warn,
    /// Failures only.
    Error,
}

impl LogLevel {
    /// The name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// A log file of the run, written to `logs/<id>.jsonl` (json) or
/// `logs/<id>.log` (text).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct LoggerSpec {
    /// Unique id, used as the file name.
    pub id: String,
    /// `json` (default) or `text`.
    #[serde(default)]
    pub format: LogFormat,
    /// Minimum level: trace, debug, info (default), warn, error.
    #[serde(default)]
    pub level: LogLevel,
}

/// Run length, deadlines and post-actions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSpec {
    /// Maximum time the clients run, counted from `status.runStartTime`
    /// (every service healthy, every client out of the queue). When it
    /// expires the clients are stopped gracefully (their results kept) and
    /// the run completes normally. Clients without their own
    /// `load.duration` run this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// Maximum time any service or client instance may wait in its
    /// backend's queue (e.g. Slurm PENDING), from when it is first seen
    /// queued, before the benchmark fails with `QueueDeadlineExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_deadline: Option<Duration>,
    /// Maximum run time, counted from `status.runStartTime` (every service
    /// healthy and every client instance out of the queue), so queue and
    /// health-check waits never count; past it the benchmark fails with
    /// `RunDeadlineExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_deadline: Option<Duration>,
    /// Ordered steps after the run (default: collectMetrics, stopServices,
    /// report). Services are stopped and a report written even when not
    /// listed; `uploadResults` (needs `results.s3`) runs last.
    #[serde(default = "default_post_actions")]
    pub post_actions: Vec<PostAction>,
    /// Time between SIGTERM and SIGKILL (or `scancel` and giving up) when
    /// stopping a component (default 10s).
    #[serde(default = "default_grace")]
    pub stop_grace_period: Duration,
    /// Extra latency percentiles to report for every metric, in percent
    /// (e.g. `[99.9]`), beyond the p50, p90, p95 and p99 always reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<f64>,
}

impl Default for ExecutionSpec {
    fn default() -> Self {
        Self {
            duration: None,
            queue_deadline: None,
            run_deadline: None,
            post_actions: default_post_actions(),
            stop_grace_period: default_grace(),
            percentiles: Vec::new(),
        }
    }
}

fn default_post_actions() -> Vec<PostAction> {
    vec![
        PostAction::CollectMetrics,
        PostAction::StopServices,
        PostAction::Report,
    ]
}
fn default_grace() -> Duration {
    Duration::from_secs(10)
}

/// A latency metric of the results summary.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SloMetric {
    /// Time to first token.
    Ttft,
    /// Inter-token latency.
    Itl,
    /// Time per output token.
    Tpot,
    /// End-to-end request latency.
    E2el,
}

impl SloMetric {
    /// The name as written in the spec and in summary.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ttft => "ttft",
            Self::Itl => "itl",
            Self::Tpot => "tpot",
            Self::E2el => "e2el",
        }
    }
}

/// A statistic of a latency distribution.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SloStat {
    /// Arithmetic mean.
    Mean,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
}

/// One objective: a latency statistic must stay below a bound, or the error
/// rate below a fraction.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SloSpec {
    /// Latency metric (`ttft`, `itl`, `tpot`, `e2el`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<SloMetric>,
    /// Statistic of the metric (default `p99`).
    #[serde(default = "default_slo_stat")]
    pub stat: SloStat,
    /// The statistic must be below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Duration>,
    /// Alternatively: the fraction of failed requests must be below this
    /// (e.g. 0.01).
    #[schemars(range(min = 0.0, max = 1.0))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<f64>,
}

fn default_slo_stat() -> SloStat {
    SloStat::P99
}
