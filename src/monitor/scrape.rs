//! The scraper: fetches Prometheus `/metrics` endpoints, parses them and
//! appends every scrape to two JSON-lines files in the output directory:
//!
//! - `<id>.raw.jsonl`: one [`RawRecord`] per scrape of a target, success or
//!   failure, with the body as served;
//! - `<id>.parsed.jsonl`: one [`ParsedRecord`] per scrape that returned a
//!   2xx body, with the parsed metric families.
//!
//! A failed scrape (connection refused, timeout, non-2xx status, malformed
//! exposition) is recorded with `ok: false` and counted, never fatal. The
//! bearer token is sent in the `Authorization` header only: it is never
//! logged, and any occurrence of it in a body, an error message or a URL is
//! replaced by `<redacted>` before anything is written.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::error::MonitorError;
use super::parse::{MetricFamily, parse};

/// Largest body read from a target; larger ones fail the scrape.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What replaces the bearer token wherever it would be written.
const REDACTED: &str = "<redacted>";

/// One endpoint to scrape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrapeTarget {
    /// How the target is named in records and logs: a service id, or
    /// `host:port` as written.
    pub name: String,
    /// The full URL, path included (`http://10.0.0.5:8000/metrics`).
    pub url: String,
}

/// What to scrape, how often, and where the records go.
#[derive(Clone)]
pub struct MonitorConfig {
    /// Names the output files: `<id>.raw.jsonl`, `<id>.parsed.jsonl`.
    pub id: String,
    /// The endpoints, scraped concurrently.
    pub targets: Vec<ScrapeTarget>,
    /// Time between the starts of two scrape rounds (must be > 0).
    pub interval: Duration,
    /// Limit for one scrape, connection and body included (must be > 0).
    pub timeout: Duration,
    /// Sent as `Authorization: Bearer <token>`; never written anywhere.
    pub bearer_token: Option<String>,
}

impl MonitorConfig {
    /// A configuration scraping `targets` every 5 s with a 3 s timeout and
    /// no token.
    pub fn new(id: impl Into<String>, targets: Vec<ScrapeTarget>) -> Self {
        Self {
            id: id.into(),
            targets,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(3),
            bearer_token: None,
        }
    }

    /// Checks what would otherwise fail later (or panic in a timer).
    pub fn validate(&self) -> Result<(), MonitorError> {
        let bad = |m: String| Err(MonitorError::Config(m));
        if self.targets.is_empty() {
            return bad(format!("monitor {:?} has no targets", self.id));
        }
        if self.interval.is_zero() {
            return bad(format!("monitor {:?}: interval must be > 0", self.id));
        }
        if self.timeout.is_zero() {
            return bad(format!("monitor {:?}: timeout must be > 0", self.id));
        }
        validate_id(&self.id)
    }
}

impl fmt::Debug for MonitorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitorConfig")
            .field("id", &self.id)
            .field("targets", &self.targets)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| REDACTED),
            )
            .finish()
    }
}

/// The id names files, so it must be a plain file-name stem.
pub(crate) fn validate_id(id: &str) -> Result<(), MonitorError> {
    if id.is_empty() || id == "." || id == ".." || id.contains(['/', '\\', '\0']) {
        return Err(MonitorError::Config(format!(
            "monitor id {id:?} must be a non-empty file name without '/'"
        )));
    }
    Ok(())
}

/// One scrape of one target: one line of `<id>.raw.jsonl`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// When the scrape started, RFC 3339 UTC.
    pub ts: String,
    /// The target's name.
    pub target: String,
    /// The URL scraped.
    pub url: String,
    /// Whether a 2xx response was read in full (and, in a monitor, parsed
    /// without errors).
    pub ok: bool,
    /// The HTTP status, if a response arrived.
    pub http_status: Option<u16>,
    /// Time from sending the request to the end of the body (monotonic).
    pub duration_ms: f64,
    /// The response body, if one was read (also for non-2xx responses).
    pub body: Option<String>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// The parsed families of one successful scrape: one line of
/// `<id>.parsed.jsonl`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ParsedRecord {
    /// The same `ts` as the matching [`RawRecord`].
    pub ts: String,
    /// The target's name.
    pub target: String,
    /// The metric families found.
    pub families: Vec<MetricFamily>,
    /// One message per malformed line (`"line 3: ..."`).
    pub parse_errors: Vec<String>,
}

/// Totals of a monitor run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MonitorReport {
    /// Scrapes done (targets × rounds).
    pub scrapes: u64,
    /// Scrapes recorded with `ok: false`.
    pub failures: u64,
}

/// The HTTP client used for scraping. Proxies are not used: metrics
/// endpoints are cluster-internal, and HPC login environments often export
/// `http_proxy` without a matching `no_proxy`.
pub fn build_client() -> Result<reqwest::Client, MonitorError> {
    crate::tls::client_builder()
        .no_proxy()
        .user_agent(concat!("aifbench/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| MonitorError::Client(error_chain(&e)))
}

/// Scrapes `target` once. Never fails: problems are reported in the record
/// (`ok: false`, `error`). The whole exchange, body included, is bounded by
/// `timeout`.
pub async fn scrape_once(
    client: &reqwest::Client,
    target: &ScrapeTarget,
    timeout: Duration,
    bearer_token: Option<&str>,
) -> RawRecord {
    let token = bearer_token.filter(|t| !t.is_empty());
    let ts = jiff::Timestamp::now().to_string();
    let start = Instant::now();
    let outcome = tokio::time::timeout(timeout, fetch(client, &target.url, token)).await;
    let duration_ms = start.elapsed().as_secs_f64() * 1000.0;
    let (http_status, body, error) = match outcome {
        Err(_) => (None, None, Some(format!("timed out after {timeout:?}"))),
        Ok(Err(FetchError { status, message })) => (status, None, Some(message)),
        Ok(Ok((status, body))) => {
            let error = (!(200..300).contains(&status)).then(|| {
                let reason = reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                format!("HTTP {status} {reason}").trim_end().to_string()
            });
            (Some(status), Some(body), error)
        }
    };
    RawRecord {
        ts,
        target: redact(target.name.clone(), token),
        url: redact(target.url.clone(), token),
        ok: error.is_none(),
        http_status,
        duration_ms,
        body: body.map(|b| redact(b, token)),
        error: error.map(|e| redact(e, token)),
    }
}

struct FetchError {
    status: Option<u16>,
    message: String,
}

/// GETs `url` and reads the body (at most [`MAX_BODY_BYTES`]).
async fn fetch(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> Result<(u16, String), FetchError> {
    let mut req = client.get(url).header(
        reqwest::header::ACCEPT,
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1",
    );
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let mut resp = req.send().await.map_err(|e| FetchError {
        status: None,
        message: error_chain(&e),
    })?;
    let status = resp.status().as_u16();
    let mut body: Vec<u8> = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(FetchError {
                        status: Some(status),
                        message: format!("body larger than {MAX_BODY_BYTES} bytes"),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(FetchError {
                    status: Some(status),
                    message: format!("reading the body: {}", error_chain(&e)),
                });
            }
        }
    }
    let body = match String::from_utf8(body) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Ok((status, body))
}

/// An error and its causes, `outer: inner: innermost`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

/// Replaces every occurrence of the token in `s`.
fn redact(s: String, token: Option<&str>) -> String {
    match token {
        Some(t) if !t.is_empty() && s.contains(t) => s.replace(t, REDACTED),
        _ => s,
    }
}

/// Scrapes `target` once and parses the body of a 2xx response. Parse
/// errors turn the raw record's `ok` to false (its `error` says how many
/// lines failed); the families that did parse are still returned.
pub async fn scrape_and_parse(
    client: &reqwest::Client,
    target: &ScrapeTarget,
    timeout: Duration,
    bearer_token: Option<&str>,
) -> (RawRecord, Option<ParsedRecord>) {
    let mut raw = scrape_once(client, target, timeout, bearer_token).await;
    let parsed = match (&raw.body, raw.ok) {
        (Some(body), true) => Some(parse(body)),
        _ => None,
    };
    let parsed = parsed.map(|p| {
        if let Some(first) = p.errors.first() {
            raw.ok = false;
            raw.error = Some(format!(
                "{} malformed line(s) in the exposition; first: {first}",
                p.errors.len()
            ));
        }
        ParsedRecord {
            ts: raw.ts.clone(),
            target: raw.target.clone(),
            families: p.families,
            parse_errors: p.errors.iter().map(ToString::to_string).collect(),
        }
    });
    (raw, parsed)
}

/// One scrape of one target, raw and parsed.
pub(crate) struct Scrape {
    pub(crate) raw: RawRecord,
    pub(crate) parsed: Option<ParsedRecord>,
}

/// Scrapes every target concurrently, once.
pub(crate) async fn scrape_round(
    client: &reqwest::Client,
    targets: &[ScrapeTarget],
    timeout: Duration,
    bearer_token: Option<&str>,
) -> Vec<Scrape> {
    join_all(targets.iter().map(|t| async move {
        let (raw, parsed) = scrape_and_parse(client, t, timeout, bearer_token).await;
        Scrape { raw, parsed }
    }))
    .await
}

/// Logs scrape outcomes without repeating the same failure every round:
/// the first failure of a target is a warning, repeats are debug, and a
/// recovery is info.
pub(crate) struct ScrapeLog {
    monitor: String,
    failing: Vec<bool>,
}

impl ScrapeLog {
    pub(crate) fn new(monitor: &str, targets: usize) -> Self {
        Self {
            monitor: monitor.to_string(),
            failing: vec![false; targets],
        }
    }

    /// Logs one round and adds it to `report`.
    pub(crate) fn record(&mut self, round: &[Scrape], report: &mut MonitorReport) {
        for (i, s) in round.iter().enumerate() {
            let r = &s.raw;
            report.scrapes += 1;
            let was_failing = self.failing.get(i).copied().unwrap_or(false);
            if r.ok {
                if was_failing {
                    info!(monitor = %self.monitor, target = %r.target, "scrape recovered");
                }
                debug!(
                    monitor = %self.monitor,
                    target = %r.target,
                    duration_ms = r.duration_ms,
                    families = s.parsed.as_ref().map_or(0, |p| p.families.len()),
                    "scraped"
                );
            } else {
                report.failures += 1;
                let error = r.error.as_deref().unwrap_or("unknown error");
                if was_failing {
                    debug!(monitor = %self.monitor, target = %r.target, error, "scrape still failing");
                } else {
                    warn!(monitor = %self.monitor, target = %r.target, url = %r.url, error, "scrape failed");
                }
            }
            if let Some(f) = self.failing.get_mut(i) {
                *f = !r.ok;
            }
        }
    }
}

/// The two JSONL files of a monitor, appended to and flushed per round.
pub(crate) struct JsonlSink {
    raw_path: PathBuf,
    parsed_path: PathBuf,
    raw: BufWriter<tokio::fs::File>,
    parsed: BufWriter<tokio::fs::File>,
    line: Vec<u8>,
}

impl JsonlSink {
    /// Creates `dir` if needed and opens `<id>.raw.jsonl` and
    /// `<id>.parsed.jsonl` for appending.
    pub(crate) async fn open(dir: &Path, id: &str) -> Result<Self, MonitorError> {
        validate_id(id)?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|error| MonitorError::CreateDir {
                path: dir.to_path_buf(),
                error,
            })?;
        let raw_path = dir.join(format!("{id}.raw.jsonl"));
        let parsed_path = dir.join(format!("{id}.parsed.jsonl"));
        let raw = open_append(&raw_path).await?;
        let parsed = open_append(&parsed_path).await?;
        Ok(Self {
            raw_path,
            parsed_path,
            raw: BufWriter::new(raw),
            parsed: BufWriter::new(parsed),
            line: Vec::new(),
        })
    }

    /// Appends one round and flushes both files.
    pub(crate) async fn write_round(&mut self, round: &[Scrape]) -> Result<(), MonitorError> {
        for s in round {
            write_line(&mut self.raw, &self.raw_path, &mut self.line, &s.raw).await?;
            if let Some(p) = &s.parsed {
                write_line(&mut self.parsed, &self.parsed_path, &mut self.line, p).await?;
            }
        }
        flush(&mut self.raw, &self.raw_path).await?;
        flush(&mut self.parsed, &self.parsed_path).await
    }

    /// Appends raw and parsed records that are not paired by scrape (a
    /// PromQL monitor's answers) and flushes both files.
    pub(crate) async fn write_records(
        &mut self,
        raw: &[RawRecord],
        parsed: &[ParsedRecord],
    ) -> Result<(), MonitorError> {
        for r in raw {
            write_line(&mut self.raw, &self.raw_path, &mut self.line, r).await?;
        }
        for p in parsed {
            write_line(&mut self.parsed, &self.parsed_path, &mut self.line, p).await?;
        }
        flush(&mut self.raw, &self.raw_path).await?;
        flush(&mut self.parsed, &self.parsed_path).await
    }
}

async fn open_append(path: &Path) -> Result<tokio::fs::File, MonitorError> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(|error| MonitorError::Write {
            path: path.to_path_buf(),
            error,
        })
}

async fn write_line<T: Serialize>(
    w: &mut BufWriter<tokio::fs::File>,
    path: &Path,
    buf: &mut Vec<u8>,
    record: &T,
) -> Result<(), MonitorError> {
    buf.clear();
    serde_json::to_writer(&mut *buf, record)?;
    buf.push(b'\n');
    w.write_all(buf).await.map_err(|error| MonitorError::Write {
        path: path.to_path_buf(),
        error,
    })
}

async fn flush(w: &mut BufWriter<tokio::fs::File>, path: &Path) -> Result<(), MonitorError> {
    w.flush().await.map_err(|error| MonitorError::Write {
        path: path.to_path_buf(),
        error,
    })
}

/// Scrapes all targets concurrently every `interval` (the first round at
/// once; a late round delays the next rather than bursting), appending each
/// round to `out_dir/<id>.raw.jsonl` and `out_dir/<id>.parsed.jsonl` and
/// flushing after it. When `cancel` fires, does one final round, so the last
/// values are captured, and returns the totals.
///
/// Failed scrapes are recorded and counted, never fatal; only an invalid
/// configuration or an I/O error on the output files is an error.
pub async fn run_monitor(
    config: MonitorConfig,
    out_dir: &Path,
    cancel: CancellationToken,
) -> Result<MonitorReport, MonitorError> {
    config.validate()?;
    let client = build_client()?;
    let mut sink = JsonlSink::open(out_dir, &config.id).await?;
    let token = config.bearer_token.as_deref();
    let mut log = ScrapeLog::new(&config.id, config.targets.len());
    let mut report = MonitorReport::default();
    info!(
        monitor = %config.id,
        targets = config.targets.len(),
        interval_ms = config.interval.as_millis() as u64,
        out_dir = %out_dir.display(),
        "monitor started"
    );
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let round = scrape_round(&client, &config.targets, config.timeout, token).await;
        sink.write_round(&round).await?;
        log.record(&round, &mut report);
    }
    // Final round: the values at the end of the benchmark.
    let round = scrape_round(&client, &config.targets, config.timeout, token).await;
    sink.write_round(&round).await?;
    log.record(&round, &mut report);
    info!(
        monitor = %config.id,
        scrapes = report.scrapes,
        failures = report.failures,
        "monitor stopped"
    );
    Ok(report)
}

#[cfg(test)]
pub(crate) mod tests;
