//! A PromQL monitor at run time: it notes when it starts, waits until it is
//! stopped (collectMetrics), waits `delay` more so that Prometheus has
//! scraped the last values, then runs each query over the window from its
//! start to the end of that delay (so the window holds the scrape that saw
//! the final values) and appends to the monitors' files in `metrics/`:
//!
//! - `<id>.raw.jsonl`: one [`RawRecord`] per query (and per part of a
//!   window too long for one request), `target` the query's name, `url` the
//!   `/api/v1/query_range` URL with its window and step, `body` Prometheus'
//!   answer as served; a failure (unreachable, an HTTP error, an error
//!   answer) has `ok: false` and says why in `error`;
//! - `<id>.parsed.jsonl`: the answers as parsed records of target
//!   `prometheus` ([`super::promql::to_records`]).
//!
//! A failed query never fails the run: it is recorded, and the monitor ends
//! with code 1 and a reason that says how many failed (the component's
//! status message). The bearer token goes in the `Authorization` header
//! only and is redacted from everything written (as a scrape's).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::error::MonitorError;
use super::promql::{NamedAnswer, parse_range_answer, query_url, to_records, windows};
use super::scrape::{JsonlSink, RawRecord, ScrapeTarget, build_client, scrape_once, validate_id};
use crate::api::spec::MonitorSpec;

/// The `target` of a PromQL monitor's parsed records.
pub const TARGET: &str = "prometheus";

/// One query: its name in the results and its expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromqlQuery {
    /// The name (a metric name).
    pub name: String,
    /// The PromQL expression.
    pub query: String,
}

/// What a PromQL monitor asks, of whom, and where the answers go.
#[derive(Clone)]
pub struct PromqlConfig {
    /// Names the output files: `<id>.raw.jsonl`, `<id>.parsed.jsonl`.
    pub id: String,
    /// Base URL of the Prometheus API.
    pub url: String,
    /// The queries, run in order.
    pub queries: Vec<PromqlQuery>,
    /// The query step.
    pub step: Duration,
    /// The wait between the stop and the queries.
    pub delay: Duration,
    /// Limit of one request, body included.
    pub timeout: Duration,
    /// Sent as `Authorization: Bearer <token>`; never written anywhere.
    pub bearer_token: Option<String>,
}

impl PromqlConfig {
    /// The configuration of monitor `m`, when it queries a Prometheus.
    pub fn from_spec(m: &MonitorSpec, bearer_token: Option<String>) -> Option<Self> {
        let p = m.prometheus.as_ref()?;
        Some(Self {
            id: m.id.clone(),
            url: p.url.clone(),
            queries: p
                .queries
                .iter()
                .map(|q| PromqlQuery {
                    name: q.name.clone(),
                    query: q.query.clone(),
                })
                .collect(),
            step: p.step.get(),
            delay: p.delay(),
            timeout: m.timeout.get(),
            bearer_token,
        })
    }
}

impl fmt::Debug for PromqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromqlConfig")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("queries", &self.queries)
            .field("step", &self.step)
            .field("delay", &self.delay)
            .field("timeout", &self.timeout)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How the queries went.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PromqlReport {
    /// Requests made (queries × parts of the window).
    pub requests: u64,
    /// Requests recorded with `ok: false`.
    pub failures: u64,
    /// Series in the answers.
    pub series: u64,
    /// The first failure's error (redacted).
    pub first_error: Option<String>,
}

impl PromqlReport {
    /// A reason for the status when some request failed.
    pub fn failure_reason(&self) -> Option<String> {
        (self.failures > 0).then(|| {
            format!(
                "{} of {} PromQL request(s) failed; first: {}",
                self.failures,
                self.requests,
                self.first_error.as_deref().unwrap_or("unknown error")
            )
        })
    }
}

/// Waits for `cancel` and the delay, then queries the window from the call
/// to the end of the delay (see the module comment). Only an invalid id or an I/O
/// error on the output files is an error.
pub async fn run_promql_monitor(
    config: PromqlConfig,
    out_dir: &Path,
    cancel: CancellationToken,
) -> Result<PromqlReport, MonitorError> {
    validate_id(&config.id)?;
    let start = jiff::Timestamp::now();
    let client = build_client()?;
    let mut sink = JsonlSink::open(out_dir, &config.id).await?;
    info!(monitor = %config.id, prometheus = %config.url, queries = config.queries.len(), "PromQL monitor started");
    cancel.cancelled().await;
    // The window ends after the delay: the scrape that saw the final values
    // lies after the stop, and Prometheus answers only up to `end`.
    tokio::time::sleep(config.delay).await;
    let end = jiff::Timestamp::now();
    let token = config.bearer_token.as_deref();
    let mut report = PromqlReport::default();
    let mut raw = Vec::new();
    let mut answers = Vec::new();
    let parts = windows(start.as_millisecond(), end.as_millisecond(), config.step);
    for q in &config.queries {
        let mut answer = NamedAnswer {
            name: q.name.clone(),
            query: q.query.clone(),
            series: Vec::new(),
        };
        for &(s, e) in &parts {
            let mut record = match query_url(&config.url, &q.query, s, e, config.step) {
                Ok(url) => {
                    let target = ScrapeTarget {
                        name: q.name.clone(),
                        url: url.to_string(),
                    };
                    scrape_once(&client, &target, config.timeout, token).await
                }
                Err(error) => RawRecord {
                    ts: jiff::Timestamp::now().to_string(),
                    target: q.name.clone(),
                    url: config.url.clone(),
                    ok: false,
                    http_status: None,
                    duration_ms: 0.0,
                    body: None,
                    error: Some(error),
                },
            };
            if let Some(body) = &record.body {
                match parse_range_answer(body) {
                    Ok(a) if record.ok => {
                        for w in &a.warnings {
                            warn!(monitor = %config.id, query = %q.name, warning = %w, "Prometheus warning");
                        }
                        answer.series.extend(a.series);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        record.ok = false;
                        record.error = Some(match record.error.take() {
                            Some(http) => format!("{http}: {e}"),
                            None => e.to_string(),
                        });
                    }
                }
            }
            report.requests += 1;
            if !record.ok {
                report.failures += 1;
                let error = record.error.clone().unwrap_or_default();
                warn!(monitor = %config.id, query = %q.name, error = %error, "PromQL query failed");
                report.first_error.get_or_insert(error);
            }
            raw.push(record);
        }
        report.series += answer.series.len() as u64;
        answers.push(answer);
    }
    let parsed = to_records(TARGET, &answers);
    sink.write_records(&raw, &parsed).await?;
    info!(
        monitor = %config.id,
        start = %start,
        end = %end,
        requests = report.requests,
        failures = report.failures,
        series = report.series,
        points = parsed.len(),
        "PromQL monitor answered"
    );
    Ok(report)
}

#[cfg(test)]
mod tests;
