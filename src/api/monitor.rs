//! A monitor of the run: Prometheus scrapes of services (or any
//! `host:port`), or PromQL range queries against a Prometheus the site
//! already has (`prometheus`), answered for the run's window.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::Duration;

/// A Prometheus scrape of `targets` during the run, or, with `prometheus`,
/// PromQL range queries against an existing Prometheus for the run's window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct MonitorSpec {
    /// Unique id; results go to `metrics/<id>.raw.jsonl` and `.parsed.jsonl`.
    pub id: String,
    /// Service ids (their endpoint is used) or `host:port` / full URLs.
    /// Empty (or left out) for a `prometheus` monitor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Port name on service targets (default: a port named `metrics`, else
    /// the first port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Metrics path (default `/metrics`).
    #[serde(default = "default_metrics_path")]
    pub path: String,
    /// Time between scrapes (default 5s).
    #[serde(default = "default_scrape_interval")]
    pub interval: Duration,
    /// Timeout of one scrape, or of one PromQL query (default 3s, as the
    /// seed; a site's Prometheus may need more for long windows).
    #[serde(default = "default_scrape_timeout")]
    pub timeout: Duration,
    /// Environment variable holding a bearer token for the scrape or the
    /// Prometheus API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
    /// File holding a bearer token for the scrape or the Prometheus API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<String>,
    /// PromQL range queries against an existing Prometheus instead of
    /// scraping `targets`: run once when the monitor stops (collectMetrics),
    /// over the window from the monitor's start (every service healthy, the
    /// clients launched) to its stop plus `delay`, and stored beside the
    /// scrapes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusQuerySpec>,
}

/// An existing Prometheus and what to ask it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusQuerySpec {
    /// Base URL of the Prometheus HTTP API, e.g. `http://prometheus:9090`
    /// (a path prefix such as `/prometheus` is kept; `/api/v1/query_range`
    /// is appended). No user or password in it: use `bearerTokenFile` or
    /// `bearerTokenEnv` of the monitor.
    pub url: String,
    /// The queries; each answer is stored under its name.
    pub queries: Vec<PromqlQuerySpec>,
    /// Resolution of the answers: the query step (default 5s; between 100ms
    /// and 1h).
    #[serde(default = "default_promql_step")]
    pub step: Duration,
    /// Time to wait after the run before querying, so that Prometheus has
    /// scraped the last values; the window ends then, so it holds that
    /// scrape (default: one `step`; at most 10m; more than Prometheus'
    /// scrape interval to catch the final values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
}

impl PrometheusQuerySpec {
    /// The wait before querying, defaulted.
    pub fn delay(&self) -> std::time::Duration {
        self.delay.unwrap_or(self.step).get()
    }
}

/// One PromQL range query.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PromqlQuerySpec {
    /// Names the answer in the results (the metric family of
    /// `.parsed.jsonl`): a Prometheus metric name, e.g.
    /// `sim:requests:rate5s`; unique within the monitor.
    pub name: String,
    /// The PromQL expression, e.g. `rate(vllm:request_success_total[5s])`.
    pub query: String,
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}
fn default_scrape_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_scrape_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_promql_step() -> Duration {
    Duration::from_secs(5)
}
