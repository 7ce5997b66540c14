//! The command line of `aifbench loadgen` ([`LoadgenArgs`], its value
//! parsers and help text) and its merge over a configuration file.

use std::path::PathBuf;
use std::time::Duration;

use super::config::{LoadgenConfig, load_config};
use super::upload::UploadTarget;
use crate::api::duration::{Duration as SpecDuration, parse_duration};
use crate::api::workload::{
    Arrival, Dataset, DatasetType, GoodputSlo, LengthDist, LengthDistType, OpenAiApi,
    OpenAiWorkload,
};
use crate::workload::WorkloadError;

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
                crate::workload::object_store::parse_s3_url(&u.url)
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

#[cfg(test)]
mod tests {
    use clap::Args as _;

    use super::*;
    use crate::workload::loadgen::testing::parse;

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
}
