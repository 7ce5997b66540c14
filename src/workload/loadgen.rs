//! The `aifbench loadgen` entry point: runs one load-generator instance,
//! reports progress as JSON lines and writes its result file.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::WorkloadError;
use super::load::{Executor, LiveCounters, LoadOutcome, LoadPlan, RecordSink, drive};
use super::openai::OpenAiClient;
use super::record::RequestRecord;
use super::result::{ClientResult, merge};
use super::stats::{Goodput, Recorder};
use crate::api::duration::{Duration as SpecDuration, parse_duration};
use crate::api::workload::{
    Arrival, Dataset, DatasetType, ErrorPolicy, GoodputSlo, LengthDist, LengthDistType, LoadSpec,
    OpenAiApi, OpenAiWorkload, WorkloadSpec, WorkloadType,
};

/// Exit status of `aifbench loadgen` when the run completed (or was stopped
/// by a signal and wrote its result).
pub const EXIT_COMPLETED: i32 = 0;
/// Exit status when the run could not start or report.
pub const EXIT_ERROR: i32 = 1;
/// Exit status when the error policy aborted the run (result still written).
pub const EXIT_ABORTED: i32 = 3;

/// Everything one load-generator instance needs.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LoadgenConfig {
    /// Instance id, copied into the result.
    pub id: String,
    /// Base URL of the service, e.g. `http://10.0.0.5:8000`.
    pub base_url: String,
    /// What to send.
    pub workload: WorkloadSpec,
    /// How hard to push.
    pub load: LoadSpec,
    /// How to react to failures.
    pub errors: ErrorPolicy,
    /// Also put the full result into an S3 bucket after the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadTarget>,
}

impl Default for LoadgenConfig {
    fn default() -> Self {
        Self {
            id: "loadgen".to_string(),
            base_url: String::new(),
            workload: WorkloadSpec::default(),
            load: LoadSpec::default(),
            errors: ErrorPolicy::default(),
            upload: None,
        }
    }
}

impl LoadgenConfig {
    /// The configuration of instance `id` of client `c`, sending to
    /// `base_url`. Without its own duration or request cap the client runs
    /// for `execution.duration` (and is stopped then in any case).
    pub fn for_client(
        spec: &crate::api::spec::BenchmarkSpec,
        c: &crate::api::spec::ClientSpec,
        id: &str,
        base_url: String,
    ) -> Self {
        let mut load = c.load.clone();
        if load.duration.is_none() && load.max_requests.is_none() {
            load.duration = spec.execution.duration;
        }
        Self {
            id: id.to_string(),
            base_url,
            workload: c.workload.clone(),
            load,
            errors: c.errors.clone(),
            upload: None,
        }
    }
}

/// Where `aifbench loadgen` uploads its full result. The credentials are
/// read from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, never from the
/// configuration or a flag.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadTarget {
    /// `s3://bucket/key`.
    pub url: String,
    /// Endpoint of an S3-compatible server (default: `AWS_ENDPOINT_URL`, else
    /// AWS S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Signing region (default: `AWS_REGION`, else `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style addressing (default: true with an endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
}

/// Puts `result` (the same JSON as `--output`) at `target`; returns the URL.
pub async fn upload_result(
    target: &UploadTarget,
    result: &ClientResult,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, crate::results::s3::StoreError> {
    use crate::results::s3::{ResultsStore, StoreConfig, StoreError, parse_s3_url};
    let (bucket, key) = parse_s3_url(&target.url)?;
    if key.is_empty() || key.ends_with('/') {
        return Err(StoreError::BadUrl(target.url.clone()));
    }
    let creds = crate::results::s3::credentials_from_source(
        &crate::api::spec::S3CredentialsSource::default(),
        env,
    )?;
    let endpoint = target
        .endpoint
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .filter(|e| !e.is_empty());
    let config = StoreConfig {
        path_style: target.path_style.unwrap_or(endpoint.is_some()),
        endpoint,
        region: target
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "us-east-1".to_string()),
        bucket,
    };
    let body = serde_json::to_vec_pretty(result).map_err(|e| StoreError::Parse {
        bucket: config.bucket.clone(),
        key: key.clone(),
        reason: e.to_string(),
    })?;
    ResultsStore::new(&config, &creds)
        .put(&key, body, "application/json")
        .await?;
    Ok(target.url.clone())
}

/// One JSON line of `aifbench loadgen` on stdout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum ProgressEvent {
    /// Periodic progress; counters cover measured requests only.
    #[serde(rename_all = "camelCase")]
    Progress {
        /// Instance id.
        id: String,
        /// Seconds since the start, warm-up included.
        elapsed_s: f64,
        /// Successful measured requests so far.
        requests: u64,
        /// Failed measured requests so far.
        errors: u64,
        /// Requests in flight now (warm-up included).
        in_flight: u64,
        /// Output tokens so far.
        output_tokens: u64,
    },
    /// The run ended; the result file (if any) is written.
    #[serde(rename_all = "camelCase")]
    Done {
        /// Instance id.
        id: String,
        /// Successful measured requests.
        requests: u64,
        /// Failed measured requests.
        errors: u64,
        /// Why the error policy aborted the run, if it did.
        aborted: Option<String>,
    },
}

/// How a run ended, for the exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadgenExit {
    /// Ran to a stop condition or was cancelled; exit status 0.
    Completed,
    /// The error policy aborted it, for this reason; exit status 3.
    Aborted(String),
    /// The run completed and its result was written locally, but the
    /// upload (`--upload-url`) failed, for this reason; exit status 1.
    UploadFailed(String),
}

impl LoadgenExit {
    /// The process exit status: [`EXIT_COMPLETED`], [`EXIT_ABORTED`] or
    /// [`EXIT_ERROR`].
    pub fn code(&self) -> i32 {
        match self {
            Self::Completed => EXIT_COMPLETED,
            Self::Aborted(_) => EXIT_ABORTED,
            Self::UploadFailed(_) => EXIT_ERROR,
        }
    }
}

/// Help text after the options of `aifbench loadgen`.
pub const LOADGEN_AFTER_HELP: &str = "\
Examples:
  # 30 s against a local vLLM, 8 concurrent streams, model from /v1/models
  aifbench loadgen --url http://localhost:8000 --concurrency 8 --duration 30s

  # Open loop: 20 requests/s (Poisson arrivals) after a 10 s warm-up, keep the result
  aifbench loadgen --url http://gpu01:8000 --rate 20 --warmup 10s --duration 2m \\
      --max-tokens 128 --output result.json

  # Bursty arrivals, 512-token synthetic prompts, goodput and per-request lines
  aifbench loadgen --url http://gpu01:8000 --rate 50 --arrival gamma --burstiness 0.5 \\
      --input-tokens 512 --max-tokens 128 --goodput ttft:500ms,tpot:50ms \\
      --duration 1m --requests requests.jsonl --output result.json

  # Everything from a file (YAML or JSON); flags override it
  aifbench loadgen --config client.yaml --concurrency 16

A configuration file holds:
  id: client-0
  baseUrl: http://gpu01:8000
  workload: {type: openai, openai: {api: chat, maxTokens: 64, stream: true}}
  load: {concurrency: 4, duration: 60s, warmup: 5s}
  errors: {maxConsecutive: 10, backoff: 0s}
  upload: {url: s3://bucket/runs/client-0.json, endpoint: http://garage:3900, region: garage}

Output: one JSON line per --progress-interval on stdout
  {\"event\":\"progress\",\"id\":..,\"elapsedS\":..,\"requests\":..,\"errors\":..,\"inFlight\":..,\"outputTokens\":..}
then {\"event\":\"done\",...}. Without --output a summary JSON line follows; with
--output the full result (histograms included) is written there atomically.
SIGTERM or SIGINT stops gracefully: no new requests, in-flight ones get a short
grace, and the result is still written.

With --upload-url s3://bucket/key the same result is also put into an S3
bucket after the run (also after SIGTERM), credentials from AWS_ACCESS_KEY_ID
and AWS_SECRET_ACCESS_KEY only; --upload-endpoint (default AWS_ENDPOINT_URL)
for Garage, MinIO and the like.

Exit status:
  0  the run completed (or was stopped by a signal) and its result was written
  1  the run could not start or its result could not be written, or its upload
     failed (the local result and --summary-file are still written)
  3  the error policy aborted the run (too many consecutive errors); the result
     was still written (an upload failure then keeps status 3)";

fn parse_api(s: &str) -> Result<OpenAiApi, String> {
    match s {
        "chat" => Ok(OpenAiApi::Chat),
        "completions" => Ok(OpenAiApi::Completions),
        _ => Err("expected chat or completions".to_string()),
    }
}

fn parse_arrival(s: &str) -> Result<Arrival, String> {
    match s {
        "poisson" => Ok(Arrival::Poisson),
        "constant" => Ok(Arrival::Constant),
        "gamma" => Ok(Arrival::Gamma),
        _ => Err("expected poisson, constant or gamma".to_string()),
    }
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("expected a positive number".to_string()),
    }
}

/// Parses `ttft:200ms,tpot:50ms,e2el:2s` (bare numbers are milliseconds, as
/// in `vllm bench serve --goodput ttft:200`).
fn parse_goodput(s: &str) -> Result<GoodputSlo, String> {
    let mut g = GoodputSlo::default();
    for part in s.split([',', ' ']).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once(':')
            .ok_or_else(|| format!("{part:?}: expected metric:limit, e.g. ttft:200ms"))?;
        let d = match value.parse::<f64>() {
            Ok(ms) if ms.is_finite() && ms >= 0.0 => Duration::from_secs_f64(ms / 1000.0),
            _ => parse_duration(value).map_err(|e| format!("{key}: {e}"))?,
        };
        let slot = match key {
            "ttft" => &mut g.ttft,
            "tpot" => &mut g.tpot,
            "e2el" => &mut g.e2el,
            other => {
                return Err(format!(
                    "unknown metric {other:?}: expected ttft, tpot or e2el"
                ));
            }
        };
        *slot = Some(SpecDuration(d));
    }
    Ok(g)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err("expected a positive number of requests per second".to_string()),
    }
}

/// Runs one load generator against an OpenAI-compatible inference server
/// (vLLM, SGLang, TGI, ...) and reports latency and throughput.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(after_help = LOADGEN_AFTER_HELP)]
pub struct LoadgenArgs {
    /// Configuration file (YAML or JSON); the flags below override it.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Threads that run requests: 1 runs everything on one thread (least
    /// CPU per request: no cross-thread wake-ups); 0 uses one per CPU, for
    /// request rates beyond what one core sustains.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
    /// Base URL of the server, e.g. http://localhost:8000 (a trailing /v1 is fine).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Instance id written into progress lines and the result [default: loadgen].
    #[arg(long)]
    pub id: Option<String>,
    /// Endpoint: chat (/v1/chat/completions) or completions (/v1/completions) [default: chat].
    #[arg(long, value_parser = parse_api, value_name = "chat|completions")]
    pub api: Option<OpenAiApi>,
    /// Model name [default: the first model of GET /v1/models].
    #[arg(long)]
    pub model: Option<String>,
    /// Ask for whole responses instead of streams (no TTFT or ITL then).
    #[arg(long)]
    pub no_stream: bool,
    /// Prompt text [default: a short fixed English prompt].
    #[arg(long)]
    pub prompt: Option<String>,
    /// Maximum tokens to generate per request [default: 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,
    /// Send ignore_eos so every request generates --max-tokens tokens (vLLM).
    #[arg(long)]
    pub ignore_eos: bool,
    /// Name of the environment variable holding the API key.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Closed loop: concurrent workers [default: 1]; open loop: in-flight cap [default: 1024].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,
    /// Open loop: requests per second, latencies counted from the scheduled send time.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Open loop arrivals: poisson, constant, or gamma (with --burstiness) [default: poisson].
    #[arg(long, value_parser = parse_arrival, value_name = "poisson|constant|gamma")]
    pub arrival: Option<Arrival>,
    /// Gamma arrivals: shape of the gaps; 1 = Poisson, <1 burstier, >1 more regular.
    #[arg(long, value_parser = parse_positive)]
    pub burstiness: Option<f64>,
    /// Ramp-up: spread worker starts (closed loop) or raise the rate from 0 (open loop).
    #[arg(long, value_parser = parse_duration)]
    pub ramp_up: Option<Duration>,
    /// Synthetic prompts of this many tokens (about one word each) instead of --prompt.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub input_tokens: Option<u32>,
    /// Prompts from a JSON Lines file ({"prompt": ...} or {"messages": [...]} per line).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["sharegpt", "input_tokens"])]
    pub prompts: Option<PathBuf>,
    /// Prompts from a ShareGPT JSON file (first human turn; reply length as max_tokens).
    #[arg(long, value_name = "FILE", conflicts_with = "input_tokens")]
    pub sharegpt: Option<PathBuf>,
    /// Per-request objectives for goodput, e.g. ttft:200ms,tpot:50ms (bare numbers are ms).
    #[arg(long, value_parser = parse_goodput, value_name = "METRIC:LIMIT,..")]
    pub goodput: Option<GoodputSlo>,
    /// Also write one JSON line per request (times, tokens, error class) to this file.
    #[arg(long, value_name = "FILE")]
    pub requests: Option<PathBuf>,
    /// Measurement duration after the warm-up, e.g. 30s or 5m [default: until stopped].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Warm-up: requests scheduled in this window are not recorded.
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Stop after this many measured requests.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: Option<u64>,
    /// Seed of random arrivals and synthetic prompts (same seed, same run).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the result (counters and histograms) to this JSON file.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Interval of progress lines on stdout; 0 disables them.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub progress_interval: Duration,
    /// Also write the headline numbers (a small JSON object, well under
    /// 4 KiB) to this file; in a pod, `/dev/termination-log` hands them to
    /// the operator as the container's termination message.
    #[arg(long, value_name = "FILE")]
    pub summary_file: Option<PathBuf>,
    /// Also put the full result at s3://bucket/key after the run (credentials
    /// from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "S3_URL")]
    pub upload_url: Option<String>,
    /// Endpoint of an S3-compatible server for --upload-url [default: AWS_ENDPOINT_URL, else AWS].
    #[arg(long, value_name = "URL")]
    pub upload_endpoint: Option<String>,
    /// Signing region for --upload-url [default: AWS_REGION, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub upload_region: Option<String>,
    /// Path-style addressing for --upload-url [default: true with an endpoint].
    #[arg(long, value_name = "BOOL")]
    pub upload_path_style: Option<bool>,
}

/// Reads a [`LoadgenConfig`] from a YAML or JSON file.
pub fn load_config(path: &Path) -> Result<LoadgenConfig, WorkloadError> {
    let err = |reason: String| WorkloadError::ConfigFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    } else {
        serde_norway::from_str(&text).map_err(|e| err(e.to_string()))
    }
}

impl LoadgenArgs {
    /// The configuration: the file if given, overridden by the flags.
    pub fn to_config(&self) -> Result<LoadgenConfig, WorkloadError> {
        let mut c = match &self.config {
            Some(path) => load_config(path)?,
            None => LoadgenConfig::default(),
        };
        if let Some(url) = &self.url {
            c.base_url.clone_from(url);
        }
        if let Some(id) = &self.id {
            c.id.clone_from(id);
        }
        let openai_flags = self.api.is_some()
            || self.model.is_some()
            || self.no_stream
            || self.prompt.is_some()
            || self.max_tokens.is_some()
            || self.ignore_eos
            || self.api_key_env.is_some()
            || self.input_tokens.is_some()
            || self.prompts.is_some()
            || self.sharegpt.is_some()
            || self.goodput.is_some();
        if openai_flags {
            let o = c
                .workload
                .openai
                .get_or_insert_with(OpenAiWorkload::default);
            if let Some(api) = self.api {
                o.api = api;
            }
            if let Some(model) = &self.model {
                o.model = Some(model.clone());
            }
            if self.no_stream {
                o.stream = false;
            }
            if let Some(prompt) = &self.prompt {
                o.prompt.clone_from(prompt);
            }
            if let Some(n) = self.max_tokens {
                o.max_tokens = n;
            }
            if self.ignore_eos {
                o.ignore_eos = true;
            }
            if let Some(var) = &self.api_key_env {
                o.api_key_env = Some(var.clone());
                o.api_key_file = None;
            }
            if let Some(n) = self.input_tokens {
                let d = o.dataset.get_or_insert_with(Dataset::default);
                d.kind = DatasetType::Synthetic;
                d.input_tokens = Some(LengthDist {
                    kind: LengthDistType::Fixed,
                    value: Some(n),
                    ..LengthDist::default()
                });
            }
            for (path, kind) in [
                (&self.prompts, DatasetType::Jsonl),
                (&self.sharegpt, DatasetType::Sharegpt),
            ] {
                if let Some(path) = path {
                    let d = o.dataset.get_or_insert_with(Dataset::default);
                    d.kind = kind;
                    d.path = Some(path.to_string_lossy().into_owned());
                }
            }
            if let Some(g) = &self.goodput {
                o.goodput = Some(g.clone());
            }
        }
        let l = &mut c.load;
        if let Some(n) = self.concurrency {
            l.concurrency = Some(n);
        }
        if let Some(r) = self.rate {
            l.rate = Some(r);
        }
        if let Some(a) = self.arrival {
            l.arrival = a;
        }
        if let Some(b) = self.burstiness {
            l.burstiness = Some(b);
        }
        if let Some(d) = self.ramp_up {
            l.ramp_up = Some(SpecDuration(d));
        }
        if let Some(d) = self.duration {
            l.duration = Some(SpecDuration(d));
        }
        if let Some(d) = self.warmup {
            l.warmup = Some(SpecDuration(d));
        }
        if let Some(n) = self.max_requests {
            l.max_requests = Some(n);
        }
        if let Some(s) = self.seed {
            l.seed = Some(s);
        }
        if let Some(url) = &self.upload_url {
            c.upload.get_or_insert_with(UploadTarget::default).url = url.clone();
        }
        let upload_flags = self.upload_endpoint.is_some()
            || self.upload_region.is_some()
            || self.upload_path_style.is_some();
        match c.upload.as_mut() {
            Some(u) => {
                if let Some(e) = &self.upload_endpoint {
                    u.endpoint = Some(e.clone());
                }
                if let Some(r) = &self.upload_region {
                    u.region = Some(r.clone());
                }
                if let Some(p) = self.upload_path_style {
                    u.path_style = Some(p);
                }
                crate::results::s3::parse_s3_url(&u.url)
                    .map_err(|e| WorkloadError::InvalidConfig(format!("upload: {e}")))?;
            }
            None if upload_flags => {
                return Err(WorkloadError::InvalidConfig(
                    "--upload-endpoint, --upload-region and --upload-path-style need --upload-url"
                        .to_string(),
                ));
            }
            None => {}
        }
        Ok(c)
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, synced, then renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WorkloadError> {
    let werr = |source| WorkloadError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(werr)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "result".to_string());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        werr(e)
    })
}

/// The per-request JSON Lines file (`--requests FILE`): one line per
/// request, warm-up included, written through a buffer.
pub struct RequestLog {
    out: std::sync::Mutex<std::io::BufWriter<std::fs::File>>,
}

/// One line of the per-request file; times in milliseconds.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestLine<'a> {
    index: u64,
    stage: usize,
    warmup: bool,
    /// Send time, seconds since the start of the stage.
    sent_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lag_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttft_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttfc_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e2el_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e2el_intended_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    itl_ms: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl RequestLog {
    /// Creates (truncates) `path`, and its directory.
    pub fn create(path: &Path) -> Result<Self, WorkloadError> {
        let werr = |source| WorkloadError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(werr)?;
        }
        let file = std::fs::File::create(path).map_err(werr)?;
        Ok(Self {
            out: std::sync::Mutex::new(std::io::BufWriter::with_capacity(64 * 1024, file)),
        })
    }
}

impl RecordSink for RequestLog {
    fn record(&self, stage: usize, sent_offset: Duration, rec: &RequestRecord) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let error = rec.outcome.as_ref().err().map(ToString::to_string);
        let t = rec.outcome.as_ref().ok();
        let line = RequestLine {
            index: rec.index,
            stage,
            warmup: rec.warmup,
            sent_s: sent_offset.as_secs_f64(),
            queue_ms: rec.queue_time.map(ms),
            lag_ms: rec.client_lag.map(ms),
            ttft_ms: t.and_then(|t| t.ttft).map(ms),
            ttfc_ms: t.and_then(|t| t.ttfc).map(ms),
            e2el_ms: t.map(|t| ms(t.e2el)),
            e2el_intended_ms: t.and_then(|t| t.e2el_intended).map(ms),
            input_tokens: t.map(|t| t.input_tokens),
            output_tokens: t.map(|t| t.output_tokens),
            itl_ms: t
                .map(|t| t.itl.iter().map(|d| ms(*d)).collect())
                .unwrap_or_default(),
            error: error.as_deref(),
        };
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if serde_json::to_writer(&mut *out, &line).is_ok() {
            let _ = out.write_all(b"\n");
        }
    }

    fn flush(&self) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = out.flush() {
            tracing::warn!(error = %e, "cannot write the per-request file");
        }
    }
}

/// Who reports progress, from when, and how often (0: never).
pub(crate) struct ProgressTicks<'a> {
    /// Instance id written into the lines.
    pub id: &'a str,
    /// Start of the instance (`elapsedS` counts from here).
    pub t0: Instant,
    /// Interval of the lines.
    pub interval: Duration,
}

/// Drives `executor` through `plan`, calling `progress` with the live
/// counters every `ticks.interval`.
pub(crate) async fn drive_with_progress<E: Executor>(
    plan: &LoadPlan,
    executor: E,
    live: Arc<LiveCounters>,
    sink: Option<Arc<dyn RecordSink>>,
    cancel: &CancellationToken,
    ticks: &ProgressTicks<'_>,
    progress: &mut impl FnMut(&ProgressEvent),
) -> LoadOutcome {
    let driver = drive(plan, executor, live.clone(), cancel, sink);
    tokio::pin!(driver);
    if ticks.interval.is_zero() {
        return driver.await;
    }
    let mut ticker = tokio::time::interval_at(Instant::now() + ticks.interval, ticks.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            outcome = &mut driver => break outcome,
            _ = ticker.tick() => progress(&ProgressEvent::Progress {
                id: ticks.id.to_string(),
                elapsed_s: ticks.t0.elapsed().as_secs_f64(),
                requests: live.requests.load(Ordering::Relaxed),
                errors: live.errors.load(Ordering::Relaxed),
                in_flight: live.in_flight.load(Ordering::Relaxed),
                output_tokens: live.output_tokens.load(Ordering::Relaxed),
            }),
        }
    }
}

/// The outcome of a run cancelled before it sent anything.
pub(crate) fn empty_outcome(seed: u64) -> LoadOutcome {
    LoadOutcome {
        recorder: Recorder::new(),
        measurement: Duration::ZERO,
        aborted: None,
        cancelled: true,
        dropped: 0,
        issued: 0,
        seed,
        send_rate: None,
    }
}

/// Runs one instance: validates `config`, resolves the model, drives the
/// load, calls `progress` every `progress_interval` (0: never) and once with
/// [`ProgressEvent::Done`], writes the result to `output` (atomically) and
/// returns it. Cancelling `cancel` stops the run gracefully; the result is
/// still written.
pub async fn run(
    config: LoadgenConfig,
    output: Option<&Path>,
    requests_log: Option<&Path>,
    progress_interval: Duration,
    cancel: CancellationToken,
    mut progress: impl FnMut(&ProgressEvent),
) -> Result<ClientResult, WorkloadError> {
    if matches!(
        config.workload.kind,
        WorkloadType::S3 | WorkloadType::Chroma
    ) {
        return super::storage::run(config, output, progress_interval, cancel, progress).await;
    }
    let openai = match config.workload.kind {
        WorkloadType::OpenAi => config.workload.openai.clone().unwrap_or_default(),
        other => {
            return Err(WorkloadError::NotImplemented {
                kind: other.to_string(),
            });
        }
    };
    if config.id.is_empty() {
        return Err(WorkloadError::InvalidConfig("id must not be empty".into()));
    }
    if config.base_url.is_empty() {
        return Err(WorkloadError::InvalidConfig(
            "baseUrl is required (--url or baseUrl in the configuration file)".into(),
        ));
    }
    let mut plans = LoadPlan::stages(&config.load, &config.errors)?;
    let goodput = openai.goodput.as_ref().map(|g| Goodput {
        ttft: g.ttft.map(|d| d.get()),
        tpot: g.tpot.map(|d| d.get()),
        e2el: g.e2el.map(|d| d.get()),
    });
    for p in &mut plans {
        p.goodput.clone_from(&goodput);
    }
    let max_concurrency = plans.iter().map(|p| p.concurrency).max().unwrap_or(1);
    let client = OpenAiClient::new(&config.base_url, &openai, max_concurrency)?;
    let sink: Option<Arc<dyn RecordSink>> = match requests_log {
        Some(path) => Some(Arc::new(RequestLog::create(path)?)),
        None => None,
    };
    let started_at = jiff::Timestamp::now();
    let t0 = Instant::now();
    tracing::info!(id = %config.id, base_url = %config.base_url, workload = %config.workload.kind, stages = plans.len(), "loadgen starting");

    let model = tokio::select! {
        model = client.resolve_model() => Some(model?),
        _ = cancel.cancelled() => None,
    };
    let live = Arc::new(LiveCounters::default());
    let mut parts = Vec::new();
    match model {
        None => parts.push((plans[0].clone(), empty_outcome(plans[0].seed))),
        Some(model) => {
            let executor = client.executor(&model, plans[0].seed)?;
            let ticks = ProgressTicks {
                id: &config.id,
                t0,
                interval: progress_interval,
            };
            for plan in &plans {
                if cancel.is_cancelled() && !parts.is_empty() {
                    break;
                }
                let outcome = drive_with_progress(
                    plan,
                    executor.clone(),
                    live.clone(),
                    sink.clone(),
                    &cancel,
                    &ticks,
                    &mut progress,
                )
                .await;
                let aborted = outcome.aborted.is_some();
                parts.push((plan.clone(), outcome));
                if aborted {
                    break;
                }
            }
        }
    }
    if let Some(sink) = &sink {
        sink.flush();
    }

    let results = parts
        .iter()
        .map(|(plan, outcome)| {
            let mut r = ClientResult::from_outcome(
                &config.id,
                config.workload.kind.as_str(),
                started_at,
                outcome,
            )?;
            r.concurrency = Some(plan.concurrency);
            r.rate = plan.rate;
            Ok(r)
        })
        .collect::<Result<Vec<_>, WorkloadError>>()?;
    let result = if plans.len() > 1 {
        ClientResult::combine_stages(results)?
    } else {
        results
            .into_iter()
            .next()
            .ok_or_else(|| WorkloadError::InvalidConfig("no stage ran".to_string()))?
    };
    if let Some(path) = output {
        let json = serde_json::to_vec_pretty(&result)?;
        write_atomic(path, &json)?;
        tracing::info!(path = %path.display(), "result written");
    }
    progress(&ProgressEvent::Done {
        id: result.id.clone(),
        requests: result.requests,
        errors: result.errors,
        aborted: result.aborted.clone(),
    });
    Ok(result)
}

fn print_line<T: Serialize>(value: &T) {
    if let Ok(line) = serde_json::to_string(value) {
        let mut out = std::io::stdout().lock();
        // A closed stdout must not stop the run.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// `aifbench loadgen`: builds the configuration from `args`, runs it printing
/// progress JSON lines on stdout, writes `--output`, and prints a summary
/// line when there is no `--output`.
pub async fn run_cli(
    args: LoadgenArgs,
    cancel: CancellationToken,
) -> Result<LoadgenExit, WorkloadError> {
    let config = args.to_config()?;
    let upload = config.upload.clone();
    let result = run(
        config,
        args.output.as_deref(),
        args.requests.as_deref(),
        args.progress_interval,
        cancel,
        print_line,
    )
    .await?;
    if args.output.is_none() {
        print_line(&merge(std::slice::from_ref(&result))?);
    }
    if let Some(path) = &args.summary_file {
        let headline = crate::results::report::headline(&merge(std::slice::from_ref(&result))?);
        let bytes = serde_json::to_vec(&headline).map_err(|e| WorkloadError::ConfigFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, bytes).map_err(|source| WorkloadError::Write {
            path: path.clone(),
            source,
        })?;
    }
    // Last, so the local result and the termination message exist even when
    // the upload fails or is slow.
    let mut upload_failed = None;
    if let Some(target) = &upload {
        let env = |k: &str| std::env::var(k).ok();
        match upload_result(target, &result, &env).await {
            Ok(url) => tracing::info!(id = %result.id, url = %url, "result uploaded"),
            Err(e) => {
                tracing::error!(id = %result.id, url = %target.url, error = %e, "cannot upload the result");
                upload_failed = Some(e.to_string());
            }
        }
    }
    Ok(match (result.aborted, upload_failed) {
        (Some(reason), _) => LoadgenExit::Aborted(reason),
        (None, Some(reason)) => LoadgenExit::UploadFailed(reason),
        (None, None) => LoadgenExit::Completed,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use clap::{Args as _, FromArgMatches as _};

    use super::*;
    use crate::workload::stats::{E2EL, ITL, QUEUE_TIME, TPOT, TTFT};
    use crate::workload::testserver::{Behavior, TestServer};

    fn parse(args: &[&str]) -> Result<LoadgenArgs, clap::Error> {
        let cmd = LoadgenArgs::augment_args(clap::Command::new("loadgen").no_binary_name(true));
        let m = cmd.try_get_matches_from(args)?;
        LoadgenArgs::from_arg_matches(&m)
    }

    #[test]
    fn help_teaches_examples_and_exit_codes() {
        let mut cmd = LoadgenArgs::augment_args(clap::Command::new("loadgen"));
        let help = cmd.render_long_help().to_string();
        assert!(help.contains("Exit status"), "{help}");
        assert!(help.contains("--max-requests"), "{help}");
        assert!(help.contains("aifbench loadgen --url"), "{help}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "id: c0\nbaseUrl: http://a:1\nworkload: {type: vllm-inference, openai: {maxTokens: 9, model: x}}\nload: {concurrency: 3, duration: 10s}\nerrors: {maxConsecutive: 2}\n",
        )
        .unwrap();
        let p = path.to_string_lossy();
        let c = parse(&["--config", &p]).unwrap().to_config().unwrap();
        assert_eq!(c.id, "c0");
        assert_eq!(c.load.concurrency, Some(3));
        assert_eq!(c.errors.max_consecutive, 2);
        assert_eq!(c.workload.openai.as_ref().unwrap().max_tokens, 9);
        let c = parse(&[
            "--config",
            &p,
            "--url",
            "http://b:2",
            "--concurrency",
            "5",
            "--no-stream",
            "--api",
            "completions",
            "--duration",
            "1m",
            "--rate",
            "2.5",
        ])
        .unwrap()
        .to_config()
        .unwrap();
        assert_eq!(c.base_url, "http://b:2");
        assert_eq!(c.load.concurrency, Some(5));
        assert_eq!(c.load.rate, Some(2.5));
        assert_eq!(c.load.duration, Some(SpecDuration::from_secs(60)));
        let o = c.workload.openai.unwrap();
        assert!(!o.stream);
        assert_eq!(o.api, OpenAiApi::Completions);
        assert_eq!(o.max_tokens, 9);
        assert_eq!(o.model.as_deref(), Some("x"));
        assert!(parse(&["--concurrency", "0"]).is_err());
        assert!(parse(&["--rate", "-1"]).is_err());
        assert!(parse(&["--api", "embeddings"]).is_err());
        std::fs::write(&path, "baseUrl: http://a:1\nbogus: 1\n").unwrap();
        assert!(parse(&["--config", &p]).unwrap().to_config().is_err());
    }

    #[test]
    fn upload_flags_override_the_file_and_need_a_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "baseUrl: http://a:1\nupload: {url: \"s3://b/k.json\", region: r1}\n",
        )
        .unwrap();
        let p = path.to_string_lossy();
        let c = parse(&["--config", &p]).unwrap().to_config().unwrap();
        let u = c.upload.unwrap();
        assert_eq!(
            (u.url.as_str(), u.region.as_deref()),
            ("s3://b/k.json", Some("r1"))
        );
        let c = parse(&[
            "--config",
            &p,
            "--upload-url",
            "s3://c/x.json",
            "--upload-endpoint",
            "http://g:3900",
            "--upload-path-style",
            "false",
        ])
        .unwrap()
        .to_config()
        .unwrap();
        let u = c.upload.unwrap();
        assert_eq!(u.url, "s3://c/x.json");
        assert_eq!(u.endpoint.as_deref(), Some("http://g:3900"));
        assert_eq!(u.path_style, Some(false));
        assert_eq!(u.region.as_deref(), Some("r1"));
        let err = parse(&["--url", "http://a:1", "--upload-region", "r"])
            .unwrap()
            .to_config()
            .unwrap_err();
        assert!(err.to_string().contains("--upload-url"), "{err}");
        let err = parse(&["--url", "http://a:1", "--upload-url", "https://b/k"])
            .unwrap()
            .to_config()
            .unwrap_err();
        assert!(err.to_string().contains("s3://"), "{err}");
    }

    #[test]
    fn progress_events_serialize_as_tagged_camel_case() {
        let e = ProgressEvent::Progress {
            id: "a".into(),
            elapsed_s: 1.5,
            requests: 2,
            errors: 0,
            in_flight: 1,
            output_tokens: 10,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "progress");
        assert_eq!(v["elapsedS"], 1.5);
        assert_eq!(v["inFlight"], 1);
        assert_eq!(serde_json::from_value::<ProgressEvent>(v).unwrap(), e);
        let d = serde_json::to_value(ProgressEvent::Done {
            id: "a".into(),
            requests: 1,
            errors: 0,
            aborted: None,
        })
        .unwrap();
        assert_eq!(d["event"], "done");
    }

    fn config(base_url: &str, max_requests: u64, concurrency: u32) -> LoadgenConfig {
        LoadgenConfig {
            id: "t".into(),
            base_url: base_url.into(),
            load: LoadSpec {
                concurrency: Some(concurrency),
                max_requests: Some(max_requests),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    async fn run_collect(
        config: LoadgenConfig,
        output: Option<&Path>,
        cancel: CancellationToken,
    ) -> (Result<ClientResult, WorkloadError>, Vec<ProgressEvent>) {
        let events = Mutex::new(Vec::new());
        let r = run(
            config,
            output,
            None,
            Duration::from_millis(50),
            cancel,
            |e| events.lock().unwrap().push(e.clone()),
        )
        .await;
        (r, events.into_inner().unwrap())
    }

    #[tokio::test]
    async fn streaming_with_usage_measures_ttft_itl_and_tokens() {
        let server = TestServer::start(Behavior {
            usage_completion_tokens: Some(11),
            api_key: Some("sk-test".into()),
            ..Behavior::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "sk-test\n").unwrap();
        let out = dir.path().join("sub/result.json");
        let mut c = config(&server.url, 6, 2);
        c.workload.openai = Some(OpenAiWorkload {
            api_key_file: Some(key.to_string_lossy().into_owned()),
            ..Default::default()
        });
        let (r, events) = run_collect(c, Some(&out), CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!(r.requests, 6, "{r:?}");
        assert_eq!(r.errors, 0);
        assert_eq!(r.output_tokens, 66);
        assert_eq!(r.input_tokens, 42);
        assert_eq!(r.token_count_source, "usage");
        assert_eq!(r.workload, "openai");
        let on_disk: ClientResult = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(on_disk, r);

        let s = merge(&[r]).unwrap();
        let ttft = &s.latency[TTFT];
        let itl = &s.latency[ITL];
        assert_eq!(ttft.count, 6);
        // Lower bounds are the server's delays; upper bounds leave room for a
        // loaded CI machine.
        assert!((29.0..120.0).contains(&ttft.p50_ms), "ttft {ttft:?}");
        assert_eq!(itl.count, 6 * 7);
        assert!((4.5..60.0).contains(&itl.p50_ms), "itl {itl:?}");
        let e2el = &s.latency[E2EL];
        assert!((64.0..300.0).contains(&e2el.p50_ms), "e2el {e2el:?}");
        // tpot = (e2el - ttft) / (11 - 1) with the usage count.
        assert!((3.0..30.0).contains(&s.latency[TPOT].p50_ms));
        assert!(!s.latency.contains_key(QUEUE_TIME));

        // The model came from /v1/models; the body asked for usage.
        let body = server.last_body();
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert!(body["messages"].is_array());
        assert!(matches!(
            events.last(),
            Some(ProgressEvent::Done { requests: 6, .. })
        ));
        assert!(events.len() >= 2, "{events:?}");
    }

    #[tokio::test]
    async fn streaming_without_usage_counts_events() {
        let server = TestServer::start(Behavior::default()).await;
        let mut c = config(&server.url, 3, 3);
        c.workload.openai = Some(OpenAiWorkload {
            api: OpenAiApi::Completions,
            model: Some("test-model".into()),
            ..Default::default()
        });
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!(r.requests, 3);
        assert_eq!(r.output_tokens, 24);
        assert_eq!(r.token_count_source, "counted");
        assert!(server.last_body()["prompt"].is_string());
    }

    #[tokio::test]
    async fn non_streaming_measures_e2el_only() {
        let server = TestServer::start(Behavior {
            usage_completion_tokens: Some(8),
            ..Behavior::default()
        })
        .await;
        let mut c = config(&server.url, 2, 1);
        c.workload.openai = Some(OpenAiWorkload {
            stream: false,
            ..Default::default()
        });
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!(r.requests, 2);
        assert_eq!(r.output_tokens, 16);
        assert!(r.histograms.contains_key(E2EL));
        assert!(!r.histograms.contains_key(TTFT));
        let e2el = merge(&[r]).unwrap().latency[E2EL].p50_ms;
        assert!((64.0..300.0).contains(&e2el), "{e2el}");
    }

    /// Runs `requests` requests, one at a time and never aborting, against
    /// a server that answers each with `status`; returns the result and the
    /// server's hit count.
    async fn run_against_status(status: u16, requests: u64) -> (ClientResult, u64) {
        let server = TestServer::start(Behavior {
            status,
            ..Behavior::default()
        })
        .await;
        let mut c = config(&server.url, requests, 1);
        c.workload.openai = Some(OpenAiWorkload {
            model: Some("m".into()),
            ..Default::default()
        });
        c.errors.max_consecutive = 0;
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        (r.unwrap(), server.hits())
    }

    #[tokio::test]
    async fn server_errors_are_never_successes() {
        let (r, _) = run_against_status(500, 5).await;
        assert_eq!(r.requests, 0);
        assert_eq!(r.errors, 5);
        assert_eq!(r.error_classes.get("http_500"), Some(&5));
        assert!(r.aborted.is_none());
        // No latency of a failed request is recorded (only the client's lag).
        assert!(
            !r.histograms.contains_key(E2EL),
            "{:?}",
            r.histograms.keys()
        );
        assert!(!r.histograms.contains_key(TTFT));
    }

    #[tokio::test]
    async fn redirects_are_counted_as_failures_not_followed() {
        let (r, hits) = run_against_status(307, 4).await;
        assert_eq!((r.requests, r.errors), (0, 4));
        assert_eq!(r.error_classes.get("http_307"), Some(&4));
        // One hit per request: neither a redirect nor a retry was followed.
        assert_eq!(hits, 4);
    }

    #[tokio::test]
    async fn truncated_streams_are_stream_errors() {
        let server = TestServer::start(Behavior {
            truncate: true,
            ..Behavior::default()
        })
        .await;
        let mut c = config(&server.url, 2, 1);
        c.errors.max_consecutive = 0;
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!(r.requests, 0);
        assert_eq!(r.error_classes.get("stream"), Some(&2), "{r:?}");
    }

    #[tokio::test]
    async fn consecutive_errors_abort_with_exit_3() {
        let server = TestServer::start(Behavior {
            status: 503,
            ..Behavior::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.json");
        let cfg_path = dir.path().join("c.json");
        let mut c = config(&server.url, 100, 2);
        c.errors.max_consecutive = 4;
        c.workload.openai = Some(OpenAiWorkload {
            model: Some("m".into()),
            ..Default::default()
        });
        std::fs::write(&cfg_path, serde_json::to_vec(&c).unwrap()).unwrap();
        let args = parse(&[
            "--config",
            &cfg_path.to_string_lossy(),
            "--output",
            &out.to_string_lossy(),
            "--progress-interval",
            "0",
        ])
        .unwrap();
        let exit = run_cli(args, CancellationToken::new()).await.unwrap();
        let LoadgenExit::Aborted(reason) = &exit else {
            panic!("expected an abort, got {exit:?}");
        };
        assert!(reason.contains("http_503"), "{reason}");
        assert_eq!(exit.code(), 3);
        let r: ClientResult = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert!(r.aborted.is_some());
        assert!(r.errors >= 4);
        assert!(server.hits() < 10);
    }

    #[tokio::test]
    async fn open_loop_achieves_the_rate() {
        let server = TestServer::start(Behavior {
            first_token: Duration::from_millis(1),
            gap: Duration::from_millis(1),
            tokens: 2,
            usage_completion_tokens: Some(2),
            ..Behavior::default()
        })
        .await;
        let mut c = config(&server.url, 1_000, 1);
        c.load = LoadSpec {
            rate: Some(80.0),
            arrival: Arrival::Constant,
            duration: Some(SpecDuration::from_secs(1)),
            ..Default::default()
        };
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!(r.requests, 80, "{r:?}");
        let s = merge(&[r]).unwrap();
        let achieved = s.request_throughput;
        assert!(
            (achieved - 80.0).abs() / 80.0 < 0.04,
            "achieved {achieved}/s"
        );
        // Sends follow the schedule: the achieved send rate is within 1 %.
        let sent = s.send_rate.unwrap();
        assert!((sent - 80.0).abs() / 80.0 < 0.01, "sent {sent}/s");
        assert_eq!(s.latency[QUEUE_TIME].count, 80);
        // A fast server leaves no backlog: sends go out about on time (the
        // bound leaves room for a busy CI machine).
        assert!(
            s.latency[QUEUE_TIME].p50_ms < 10.0,
            "{:?}",
            s.latency[QUEUE_TIME]
        );
    }

    #[tokio::test]
    async fn cancel_mid_run_still_writes_the_result() {
        let server = TestServer::start(Behavior::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.json");
        let mut c = config(&server.url, 1, 2);
        c.load.max_requests = None;
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            trigger.cancel();
        });
        let started = Instant::now();
        let (r, events) = run_collect(c, Some(&out), cancel).await;
        let r = r.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        // ~65 ms per request, 2 workers, 250 ms: about 6 completed.
        assert!((4..=10).contains(&r.requests), "{r:?}");
        assert_eq!(r.errors, 0);
        assert!(r.aborted.is_none());
        assert!((0.15..0.5).contains(&r.duration_s), "{}", r.duration_s);
        let on_disk: ClientResult = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(on_disk, r);
        assert!(matches!(events.last(), Some(ProgressEvent::Done { .. })));
    }

    #[tokio::test]
    async fn storage_workloads_are_dispatched() {
        let mut c = config("http://127.0.0.1:9", 1, 1);
        c.workload.kind = WorkloadType::S3;
        c.workload.s3 = Some(crate::api::workload::S3Workload {
            credentials_file: Some("/nonexistent/credentials.env".into()),
            ..Default::default()
        });
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let e = r.unwrap_err().to_string();
        assert!(e.contains("/nonexistent/credentials.env"), "{e}");
    }

    #[tokio::test]
    async fn wrong_api_key_is_http_401() {
        let server = TestServer::start(Behavior {
            api_key: Some("right".into()),
            ..Behavior::default()
        })
        .await;
        let mut c = config(&server.url, 1, 1);
        c.workload.openai = Some(OpenAiWorkload {
            model: Some("m".into()),
            ..Default::default()
        });
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        assert_eq!(r.unwrap().error_classes.get("http_401"), Some(&1));
    }
}
