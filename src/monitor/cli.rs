//! `aifbench scrape`: scrape Prometheus endpoints once or repeatedly, from a
//! Slurm job or a terminal, printing the parsed metrics or recording them as
//! the monitor does.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::info;

use super::error::MonitorError;
use super::scrape::{
    JsonlSink, MonitorConfig, MonitorReport, Scrape, ScrapeLog, ScrapeTarget, build_client,
    run_monitor, scrape_round,
};
use crate::api::duration::parse_duration;

/// Scrape Prometheus /metrics endpoints and print or record the metrics.
///
/// Without --out-dir, each successful scrape is printed to stdout as one JSON
/// line {"ts", "target", "families", "parse_errors"}; failures are logged.
/// With --out-dir, every scrape is appended to <id>.raw.jsonl (body, status,
/// latency, error) and <id>.parsed.jsonl (parsed families), as the monitor
/// of a benchmark does.
///
/// Exits non-zero if no scrape succeeded.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    aifbench scrape localhost:8000                      # http://localhost:8000/metrics, once\n  \
    aifbench scrape --count 0 --interval 10s --out-dir results/mon \\\n      \
    http://node1:8000/metrics http://node2:3903/metrics  # until Ctrl-C/SIGTERM")]
pub struct ScrapeArgs {
    /// URLs to scrape. "http://" is assumed when no scheme is given, and
    /// "/metrics" when no path is given (`node1:8000` means
    /// `http://node1:8000/metrics`).
    #[arg(required = true, value_name = "URL")]
    pub urls: Vec<String>,

    /// Time between the starts of two scrape rounds (e.g. 500ms, 5s, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,

    /// Limit for one scrape, connection and body included.
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Number of scrape rounds; 0 scrapes until Ctrl-C or SIGTERM (then,
    /// with --out-dir, one final round is recorded).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub count: u64,

    /// Append the scrapes to <DIR>/<id>.raw.jsonl and <DIR>/<id>.parsed.jsonl
    /// instead of printing them.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Stem of the output file names (with --out-dir).
    #[arg(long, default_value = "scrape")]
    pub id: String,

    /// Read a bearer token from this file (surrounding whitespace trimmed)
    /// and send it as "Authorization: Bearer <token>". Takes precedence
    /// over AIFB_BEARER_TOKEN.
    #[arg(long, value_name = "PATH")]
    pub bearer_token_file: Option<PathBuf>,

    /// Bearer token to send. Prefer the environment variable or
    /// --bearer-token-file: command lines are visible to other users.
    #[arg(
        long,
        env = "AIFB_BEARER_TOKEN",
        hide_env_values = true,
        value_parser = parse_token,
        value_name = "TOKEN"
    )]
    pub bearer_token: Option<BearerToken>,
}

/// A bearer token whose `Debug` output does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// A token (surrounding whitespace trimmed).
    pub fn new(token: &str) -> Self {
        Self(token.trim().to_string())
    }

    /// The token itself, to put in a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

fn parse_token(s: &str) -> Result<BearerToken, String> {
    Ok(BearerToken::new(s))
}

impl ScrapeArgs {
    /// The token to send: from --bearer-token-file if given, else from
    /// --bearer-token / AIFB_BEARER_TOKEN; `None` if absent or blank.
    pub fn resolve_token(&self) -> Result<Option<String>, MonitorError> {
        if let Some(path) = &self.bearer_token_file {
            let text = std::fs::read_to_string(path).map_err(|e| MonitorError::TokenFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let token = text.trim();
            if token.is_empty() {
                return Err(MonitorError::TokenFile {
                    path: path.clone(),
                    reason: "the file is empty".to_string(),
                });
            }
            return Ok(Some(token.to_string()));
        }
        Ok(self
            .bearer_token
            .as_ref()
            .map(|t| t.expose().to_string())
            .filter(|t| !t.is_empty()))
    }

    /// The targets named by the URLs (see [`target_from_url`]); a name
    /// shared by several URLs gets the path appended.
    pub fn targets(&self) -> Result<Vec<ScrapeTarget>, MonitorError> {
        let mut targets = self
            .urls
            .iter()
            .map(|u| target_from_url(u))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
        for t in &mut targets {
            if names.iter().filter(|n| **n == t.name).count() > 1 {
                let path_start = t.url.find("://").map_or(0, |i| i + 3);
                let path = t.url[path_start..]
                    .find('/')
                    .map_or("", |i| &t.url[path_start + i..]);
                t.name = format!("{}{path}", t.name);
            }
        }
        Ok(targets)
    }
}

/// A target for a URL as typed: `http://` is added when there is no scheme,
/// `/metrics` when there is no path; the name is the `host:port` part
/// (without any `user:password@`).
pub fn target_from_url(input: &str) -> Result<ScrapeTarget, MonitorError> {
    let invalid = |reason: &str| MonitorError::InvalidUrl {
        url: input.to_string(),
        reason: reason.to_string(),
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(invalid("empty"));
    }
    let mut url = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let authority_len = url[after_scheme..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - after_scheme);
    let authority = url[after_scheme..after_scheme + authority_len].to_string();
    if authority.is_empty() {
        return Err(invalid("no host"));
    }
    if after_scheme + authority_len == url.len() {
        url.push_str("/metrics");
    }
    let parsed = reqwest::Url::parse(&url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("only http and https URLs can be scraped"));
    }
    let name = authority
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, host)| host)
        .to_string();
    Ok(ScrapeTarget { name, url })
}

/// Runs `aifbench scrape`.
pub async fn run_cli(args: ScrapeArgs) -> Result<(), MonitorError> {
    let token = args.resolve_token()?;
    let targets = args.targets()?;
    let config = MonitorConfig {
        id: args.id.clone(),
        targets,
        interval: args.interval,
        timeout: args.timeout,
        bearer_token: token,
    };
    config.validate()?;
    let cancel = CancellationToken::new();
    let signals = spawn_signal_watcher(cancel.clone())?;
    let result = run_scrapes(&args, config, cancel).await;
    signals.abort();
    let (report, last_error) = result?;
    info!(
        scrapes = report.scrapes,
        failures = report.failures,
        "scrape done"
    );
    if report.scrapes > 0 && report.failures == report.scrapes {
        return Err(MonitorError::AllFailed {
            scrapes: report.scrapes,
            last_error: last_error.unwrap_or_else(|| "see the records".to_string()),
        });
    }
    Ok(())
}

/// Cancels `cancel` on Ctrl-C (SIGINT) or SIGTERM (what Slurm sends).
fn spawn_signal_watcher(
    cancel: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, MonitorError> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(MonitorError::Signal)?;
    Ok(tokio::spawn(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        info!("signal received, stopping");
        cancel.cancel();
    }))
}

/// The scraping loop of the CLI; returns the totals and the last error.
async fn run_scrapes(
    args: &ScrapeArgs,
    config: MonitorConfig,
    cancel: CancellationToken,
) -> Result<(MonitorReport, Option<String>), MonitorError> {
    if let (Some(dir), 0) = (&args.out_dir, args.count) {
        // Until stopped, with a final round: exactly the benchmark monitor.
        let report = run_monitor(config, dir, cancel).await?;
        let last = (report.failures == report.scrapes).then(|| {
            format!(
                "see {}",
                dir.join(format!("{}.raw.jsonl", args.id)).display()
            )
        });
        return Ok((report, last));
    }
    let client = build_client()?;
    let mut sink = match &args.out_dir {
        Some(dir) => Some(JsonlSink::open(dir, &config.id).await?),
        None => None,
    };
    let token = config.bearer_token.as_deref();
    let mut log = ScrapeLog::new(&config.id, config.targets.len());
    let mut report = MonitorReport::default();
    let mut last_error = None;
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds = 0u64;
    while args.count == 0 || rounds < args.count {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let round = scrape_round(&client, &config.targets, config.timeout, token).await;
        match &mut sink {
            Some(sink) => sink.write_round(&round).await?,
            None => print_round(&round)?,
        }
        log.record(&round, &mut report);
        if let Some(e) = round.iter().rev().find_map(|s| s.raw.error.as_ref()) {
            last_error = Some(e.clone());
        }
        rounds += 1;
    }
    Ok((report, last_error))
}

/// Prints the parsed record of each successful scrape as a JSON line.
fn print_round(round: &[Scrape]) -> Result<(), MonitorError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for p in round.iter().filter_map(|s| s.parsed.as_ref()) {
        serde_json::to_writer(&mut out, p)?;
        out.write_all(b"\n").map_err(MonitorError::Stdout)?;
    }
    out.flush().map_err(MonitorError::Stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: ScrapeArgs,
    }

    fn parse_args(argv: &[&str]) -> Result<ScrapeArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("scrape").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn help_and_defaults() {
        Cli::command().debug_assert();
        let help = Cli::command().render_long_help().to_string();
        for word in [
            "--interval",
            "--count",
            "--out-dir",
            "--bearer-token-file",
            "AIFB_BEARER_TOKEN",
        ] {
            assert!(help.contains(word), "help lacks {word}:\n{help}");
        }
        let a = parse_args(&["localhost:8000"]).unwrap();
        assert_eq!(a.interval, Duration::from_secs(5));
        assert_eq!(a.timeout, Duration::from_secs(3));
        assert_eq!(a.count, 1);
        assert_eq!(a.id, "scrape");
        assert!(a.out_dir.is_none());
        assert!(parse_args(&[]).is_err(), "a URL is required");
        assert!(parse_args(&["--interval", "soon", "x:1"]).is_err());
        let a = parse_args(&["--interval", "250ms", "--count", "0", "a:1", "b:2"]).unwrap();
        assert_eq!(a.interval, Duration::from_millis(250));
        assert_eq!(a.count, 0);
        assert_eq!(a.urls, ["a:1", "b:2"]);
    }

    #[test]
    fn token_is_not_in_debug_output() {
        let a = parse_args(&["--bearer-token", " s3cr3t-tok ", "x:1"]).unwrap();
        assert_eq!(a.resolve_token().unwrap().as_deref(), Some("s3cr3t-tok"));
        assert!(!format!("{a:?}").contains("s3cr3t"));
        let config = MonitorConfig {
            bearer_token: Some("s3cr3t-tok".into()),
            ..MonitorConfig::new("m", vec![])
        };
        let dbg = format!("{config:?}");
        assert!(
            !dbg.contains("s3cr3t") && dbg.contains("<redacted>"),
            "{dbg}"
        );
    }

    #[test]
    fn token_file_wins_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tok");
        std::fs::write(&path, "  file-token\n").unwrap();
        let p = path.to_str().unwrap();
        let a = parse_args(&["--bearer-token-file", p, "--bearer-token", "other", "x:1"]).unwrap();
        assert_eq!(a.resolve_token().unwrap().as_deref(), Some("file-token"));
        std::fs::write(&path, " \n").unwrap();
        assert!(matches!(
            a.resolve_token(),
            Err(MonitorError::TokenFile { .. })
        ));
        let missing = dir.path().join("missing");
        let a = parse_args(&["--bearer-token-file", missing.to_str().unwrap(), "x:1"]).unwrap();
        let e = a.resolve_token().unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
    }

    #[test]
    fn urls_become_targets() {
        let t = target_from_url("localhost:8000").unwrap();
        assert_eq!(t.url, "http://localhost:8000/metrics");
        assert_eq!(t.name, "localhost:8000");
        let t = target_from_url("https://user:pw@garage.svc:3903/metrics?x=1").unwrap();
        assert_eq!(t.url, "https://user:pw@garage.svc:3903/metrics?x=1");
        assert_eq!(t.name, "garage.svc:3903");
        let t = target_from_url("http://10.0.0.5:8000/").unwrap();
        assert_eq!(t.url, "http://10.0.0.5:8000/");
        let t = target_from_url(" node1:9100/custom ").unwrap();
        assert_eq!(t.url, "http://node1:9100/custom");
        for bad in ["", "http://", "ftp://host/x", "http://ho st:1/"] {
            assert!(target_from_url(bad).is_err(), "{bad:?}");
        }
        let a = parse_args(&["h:1/a", "h:1/b", "g:2"]).unwrap();
        let names: Vec<String> = a.targets().unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["h:1/a", "h:1/b", "g:2"]);
    }

    #[test]
    fn rejects_bad_config() {
        let t = vec![target_from_url("x:1").unwrap()];
        let mut c = MonitorConfig::new("m", t.clone());
        assert!(c.validate().is_ok());
        c.interval = Duration::ZERO;
        assert!(c.validate().is_err());
        assert!(MonitorConfig::new("m", vec![]).validate().is_err());
        assert!(MonitorConfig::new("../m", t.clone()).validate().is_err());
        assert!(MonitorConfig::new("", t).validate().is_err());
    }

    #[tokio::test]
    async fn run_cli_records_count_rounds() {
        use crate::monitor::scrape::tests::{TOKEN, dead_target, read_records, serve};
        use crate::monitor::{ParsedRecord, RawRecord};
        let server = serve().await;
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        let secure = format!("{}/secure", server.addr);
        let dead = dead_target().url;
        let out = dir.path().join("out");
        let a = parse_args(&[
            "--count",
            "2",
            "--interval",
            "50ms",
            "--id",
            "cli",
            "--out-dir",
            out.to_str().unwrap(),
            "--bearer-token-file",
            token_file.to_str().unwrap(),
            &secure,
            &dead,
        ])
        .unwrap();
        run_cli(a).await.unwrap();
        let raw: Vec<RawRecord> = read_records(&out.join("cli.raw.jsonl"));
        assert_eq!(raw.len(), 4);
        assert_eq!(raw.iter().filter(|r| r.ok).count(), 2, "{raw:?}");
        assert!(
            raw.iter()
                .any(|r| r.target == server.addr.to_string() && r.ok)
        );
        let parsed: Vec<ParsedRecord> = read_records(&out.join("cli.parsed.jsonl"));
        assert_eq!(parsed.len(), 2);
        let text = std::fs::read_to_string(out.join("cli.raw.jsonl")).unwrap();
        assert!(!text.contains(TOKEN));

        // Nothing succeeds: an error naming the cause.
        let a = parse_args(&["--count", "1", &dead]).unwrap();
        match run_cli(a).await {
            Err(MonitorError::AllFailed {
                scrapes: 1,
                last_error,
            }) => {
                assert!(
                    last_error.to_lowercase().contains("connect"),
                    "{last_error}"
                )
            }
            other => panic!("expected AllFailed, got {other:?}"),
        }
    }
}
