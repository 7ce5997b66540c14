use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;

use std::str::FromStr;

use super::*;

/// The token the test server accepts; must never reach the output files.
pub(crate) const TOKEN: &str = "tok-7f3a9c1e-do-not-write";

#[derive(Default)]
pub(crate) struct ServerState {
    /// Requests to /metrics.
    pub(crate) hits: AtomicU64,
    /// Exposed as the gauge `phase`.
    pub(crate) phase: AtomicU64,
}

pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) state: Arc<ServerState>,
}

impl TestServer {
    pub(crate) fn target(&self, name: &str, path: &str) -> ScrapeTarget {
        ScrapeTarget {
            name: name.to_string(),
            url: format!("http://{}{path}", self.addr),
        }
    }
}

fn exposition(state: &ServerState) -> String {
    let hits = state.hits.load(Ordering::SeqCst);
    let phase = state.phase.load(Ordering::SeqCst);
    format!(
        "# HELP vllm:e2e_request_latency_seconds Latency.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{{le=\"1.0\",model_name=\"m\"}} 3
vllm:e2e_request_latency_seconds_bucket{{le=\"+Inf\",model_name=\"m\"}} 4
vllm:e2e_request_latency_seconds_sum{{model_name=\"m\"}} 5.5
vllm:e2e_request_latency_seconds_count{{model_name=\"m\"}} 4
# TYPE requests_total counter
requests_total {hits}
# TYPE phase gauge
phase {phase}
# TYPE weird gauge
weird NaN
"
    )
}

async fn metrics(State(s): State<Arc<ServerState>>) -> String {
    s.hits.fetch_add(1, Ordering::SeqCst);
    exposition(&s)
}

async fn secure(State(s): State<Arc<ServerState>>, headers: HeaderMap) -> (StatusCode, String) {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {TOKEN}") {
        return (StatusCode::FORBIDDEN, "forbidden\n".to_string());
    }
    // A careless exporter echoing the credentials it got.
    (
        StatusCode::OK,
        format!("# seen: {auth}\n{}", exposition(&s)),
    )
}

async fn slow() -> String {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "late 1\n".to_string()
}

async fn garbage() -> &'static str {
    "good 1\nthis is not a sample\n"
}

/// Serves /metrics, /secure (bearer token), /slow (5 s) and /garbage on
/// 127.0.0.1:0 until the test's runtime ends.
pub(crate) async fn serve() -> TestServer {
    let state = Arc::new(ServerState::default());
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/secure", get(secure))
        .route("/slow", get(slow))
        .route("/garbage", get(garbage))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestServer { addr, state }
}

/// A loopback URL nobody listens on (a port bound, then released).
pub(crate) fn dead_target() -> ScrapeTarget {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    ScrapeTarget {
        name: "dead".to_string(),
        url: format!("http://127.0.0.1:{port}/metrics"),
    }
}

pub(crate) fn read_records<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn gauge(rec: &ParsedRecord, name: &str) -> f64 {
    rec.families
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| f.samples.first())
        .map(|s| s.value)
        .unwrap_or_else(|| panic!("no {name} in {rec:?}"))
}

#[tokio::test]
async fn monitor_records_all_targets_and_final_round() {
    let server = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mon");
    let config = MonitorConfig {
        id: "svc".to_string(),
        targets: vec![
            server.target("good", "/metrics"),
            server.target("secure", "/secure"),
            dead_target(),
            server.target("garbage", "/garbage"),
        ],
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(1000),
        bearer_token: Some(TOKEN.to_string()),
    };
    let cancel = CancellationToken::new();
    let task = {
        let (out, cancel) = (out.clone(), cancel.clone());
        tokio::spawn(async move { run_monitor(config, &out, cancel).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.state.phase.store(1, Ordering::SeqCst);
    cancel.cancel();
    let report = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    assert_eq!(report.scrapes % 4, 0, "{report:?}");
    let rounds = report.scrapes / 4;
    assert!(rounds >= 3, "{report:?}");
    // The dead and the garbage targets fail every round; the others never.
    assert_eq!(report.failures, 2 * rounds, "{report:?}");

    let raw: Vec<RawRecord> = read_records(&out.join("svc.raw.jsonl"));
    assert_eq!(raw.len() as u64, report.scrapes);
    for r in &raw {
        jiff::Timestamp::from_str(&r.ts).unwrap();
        match r.target.as_str() {
            "good" | "secure" => {
                assert!(r.ok, "{r:?}");
                assert_eq!(r.http_status, Some(200));
                assert!(r.error.is_none());
                assert!(r.duration_ms >= 0.0 && r.duration_ms < 1000.0);
            }
            "dead" => {
                assert!(!r.ok);
                assert_eq!(r.http_status, None);
                assert!(r.body.is_none());
                assert!(!r.error.as_deref().unwrap().is_empty());
            }
            "garbage" => {
                assert!(!r.ok);
                assert_eq!(r.http_status, Some(200));
                let e = r.error.as_deref().unwrap();
                assert!(
                    e.contains("1 malformed line") && e.contains("line 2"),
                    "{e}"
                );
            }
            other => panic!("unexpected target {other}"),
        }
    }
    let secure_raw = raw.iter().find(|r| r.target == "secure").unwrap();
    assert!(
        secure_raw
            .body
            .as_deref()
            .unwrap()
            .contains("Bearer <redacted>"),
        "{secure_raw:?}"
    );

    // Parsed records exist for every 2xx body: good, secure and garbage.
    let parsed: Vec<ParsedRecord> = read_records(&out.join("svc.parsed.jsonl"));
    assert_eq!(parsed.len() as u64, 3 * rounds);
    assert!(parsed.iter().all(|p| p.target != "dead"));
    let good: Vec<&ParsedRecord> = parsed.iter().filter(|p| p.target == "good").collect();
    assert_eq!(good.len() as u64, rounds);
    let h = good[0]
        .families
        .iter()
        .find(|f| f.name == "vllm:e2e_request_latency_seconds")
        .unwrap();
    assert_eq!(h.metric_type, crate::monitor::MetricType::Histogram);
    assert_eq!(h.samples.len(), 4);
    assert!(gauge(good[0], "weird").is_nan(), "NaN survives the JSONL");
    // The counter grows, and the final round saw what changed after cancel.
    assert!(gauge(good[good.len() - 1], "requests_total") > gauge(good[0], "requests_total"));
    assert_eq!(gauge(good[good.len() - 1], "phase"), 1.0);
    assert_eq!(gauge(good[0], "phase"), 0.0);
    let g = parsed.iter().find(|p| p.target == "garbage").unwrap();
    assert_eq!(g.parse_errors.len(), 1);
    assert_eq!(g.families[0].name, "good");

    for file in ["svc.raw.jsonl", "svc.parsed.jsonl"] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(!text.contains(TOKEN), "token leaked into {file}");
    }
}

#[tokio::test]
async fn final_round_happens_after_cancel() {
    let server = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let config = MonitorConfig {
        interval: Duration::from_secs(3600),
        ..MonitorConfig::new("final", vec![server.target("good", "/metrics")])
    };
    let cancel = CancellationToken::new();
    let out = dir.path().to_path_buf();
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(async move { run_monitor(config, &out, cancel).await })
    };
    // Wait for the immediate first round.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.state.hits.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no first scrape");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.state.phase.store(7, Ordering::SeqCst);
    cancel.cancel();
    let report = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        report,
        MonitorReport {
            scrapes: 2,
            failures: 0
        }
    );
    let parsed: Vec<ParsedRecord> = read_records(&dir.path().join("final.parsed.jsonl"));
    assert_eq!(parsed.len(), 2);
    assert_eq!(gauge(&parsed[0], "phase"), 0.0);
    assert_eq!(gauge(&parsed[1], "phase"), 7.0);
}

#[tokio::test]
async fn cancelled_before_start_scrapes_once_and_appends() {
    let server = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    for run in 1..=2u64 {
        let config = MonitorConfig::new("pre", vec![server.target("good", "/metrics")]);
        let report = run_monitor(config, dir.path(), cancel.clone())
            .await
            .unwrap();
        assert_eq!(report.scrapes, 1);
        let raw: Vec<RawRecord> = read_records(&dir.path().join("pre.raw.jsonl"));
        assert_eq!(raw.len() as u64, run, "files are appended to");
    }
}

#[tokio::test]
async fn wrong_token_is_a_recorded_403() {
    let server = serve().await;
    let client = build_client().unwrap();
    let t = server.target("secure", "/secure");
    let r = scrape_once(&client, &t, Duration::from_secs(5), Some("wrong")).await;
    assert!(!r.ok);
    assert_eq!(r.http_status, Some(403));
    assert_eq!(r.error.as_deref(), Some("HTTP 403 Forbidden"));
    assert_eq!(r.body.as_deref(), Some("forbidden\n"));
    let r = scrape_once(&client, &t, Duration::from_secs(5), None).await;
    assert_eq!(r.http_status, Some(403));
    let (r, parsed) = scrape_and_parse(&client, &t, Duration::from_secs(5), Some(TOKEN)).await;
    assert!(r.ok, "{r:?}");
    assert!(parsed.unwrap().parse_errors.is_empty());
}

#[tokio::test]
async fn slow_target_times_out() {
    let server = serve().await;
    let client = build_client().unwrap();
    let t = server.target("slow", "/slow");
    let start = std::time::Instant::now();
    let r = scrape_once(&client, &t, Duration::from_millis(200), None).await;
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(!r.ok);
    assert!(r.error.as_deref().unwrap().contains("timed out"), "{r:?}");
    assert!(r.duration_ms >= 150.0, "{r:?}");
}

#[tokio::test]
async fn dead_target_error_names_the_cause() {
    let client = build_client().unwrap();
    let r = scrape_once(&client, &dead_target(), Duration::from_secs(5), None).await;
    assert!(!r.ok);
    let e = r.error.unwrap();
    assert!(e.to_lowercase().contains("connect"), "{e}");
}

#[tokio::test]
async fn unwritable_output_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let config = MonitorConfig::new("m", vec![dead_target()]);
    let e = run_monitor(config, &file, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(e, MonitorError::CreateDir { .. }), "{e}");
    let config = MonitorConfig {
        interval: Duration::ZERO,
        ..MonitorConfig::new("m", vec![dead_target()])
    };
    let e = run_monitor(config, dir.path(), CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(e, MonitorError::Config(_)), "{e}");
}

#[test]
fn redaction() {
    assert_eq!(
        redact("a tok b tok".into(), Some("tok")),
        "a <redacted> b <redacted>"
    );
    assert_eq!(redact("abc".into(), Some("")), "abc");
    assert_eq!(redact("abc".into(), None), "abc");
}
