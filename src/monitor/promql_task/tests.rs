//! The PromQL monitor against a stand-in Prometheus (serving answers a real
//! one gave) and against none at all.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::routing::get;

use super::*;
use crate::monitor::scrape::ParsedRecord;

const TOKEN: &str = "prom-tok-5d1e-do-not-write";
const RATE: &str = include_str!("../../../tests/fixtures/prometheus/matrix-rate.json");
const BAD: &str = include_str!("../../../tests/fixtures/prometheus/error-bad-data.json");

type Seen = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

/// Answers `rate...` with the fixture, anything else with a bad_data
/// error (HTTP 400, as Prometheus does), and 401 without the token; the
/// answers name the token to check that it is redacted.
async fn query_range(
    State(seen): State<Seen>,
    headers: HeaderMap,
    uri: Uri,
) -> (StatusCode, String) {
    let q: BTreeMap<String, String> = reqwest::Url::parse(&format!("http://x{uri}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return (StatusCode::UNAUTHORIZED, "no".into());
    }
    let query = q.get("query").cloned().unwrap_or_default();
    seen.lock().expect("lock").push(q);
    if query.starts_with("rate") {
        (StatusCode::OK, RATE.replace("fixture", TOKEN))
    } else {
        (StatusCode::BAD_REQUEST, BAD.to_string())
    }
}

async fn serve() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/prom/api/v1/query_range", get(query_range))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/prom"), seen)
}

fn config(url: String) -> PromqlConfig {
    PromqlConfig {
        id: "prom".into(),
        url,
        queries: vec![
            PromqlQuery {
                name: "sim:rate".into(),
                query: "rate(vllm:request_success_total[5s])".into(),
            },
            PromqlQuery {
                name: "broken".into(),
                query: "sum(".into(),
            },
        ],
        step: Duration::from_secs(1),
        delay: Duration::from_millis(300),
        timeout: Duration::from_secs(2),
        bearer_token: Some(TOKEN.into()),
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("aifb-promql-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn lines<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect()
}

#[tokio::test]
async fn answers_are_stored_beside_the_scrapes_and_failures_recorded() {
    let (url, seen) = serve().await;
    let dir = temp_dir("ok");
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let (dir, cancel) = (dir.clone(), cancel.clone());
        async move { run_promql_monitor(config(url), &dir, cancel).await }
    });
    let before = jiff::Timestamp::now().as_millisecond();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    cancel.cancel();
    let report = task.await.expect("joins").expect("runs");
    let after = jiff::Timestamp::now().as_millisecond();

    assert_eq!(report.requests, 2);
    assert_eq!(report.failures, 1);
    assert_eq!(report.series, 1);
    let reason = report.failure_reason().expect("a reason");
    assert!(reason.contains("1 of 2"), "{reason}");
    assert!(reason.contains("HTTP 400"), "{reason}");
    assert!(reason.contains("bad_data: 1:35: parse error"), "{reason}");

    // The window: from the start to the stop, at the step.
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    let secs = |k: &str| (seen[0][k].parse::<f64>().expect("seconds") * 1000.0) as i64;
    assert!(
        secs("start") >= before - 100 && secs("start") <= before + 100,
        "{seen:?}"
    );
    // The window ends after the delay (1.2 s run + 0.3 s).
    assert!(secs("end") - secs("start") >= 1450, "{seen:?}");
    assert!(secs("end") <= after, "{seen:?}");
    assert_eq!(seen[0]["step"], "1");

    let raw: Vec<RawRecord> = lines(&dir.join("prom.raw.jsonl"));
    assert_eq!(raw.len(), 2);
    assert!(raw[0].ok && raw[0].target == "sim:rate", "{:?}", raw[0]);
    assert!(raw[0].url.contains("/prom/api/v1/query_range?query=rate"));
    assert!(
        !raw[1].ok && raw[1].http_status == Some(400),
        "{:?}",
        raw[1]
    );
    let parsed: Vec<ParsedRecord> = lines(&dir.join("prom.parsed.jsonl"));
    assert_eq!(parsed.len(), 5);
    assert!(parsed.iter().all(|r| r.target == TARGET));
    assert_eq!(parsed[2].families[0].name, "sim:rate");
    assert_eq!(parsed[2].families[0].samples[0].value, 3.0);

    for f in ["prom.raw.jsonl", "prom.parsed.jsonl"] {
        let text = std::fs::read_to_string(dir.join(f)).expect("read");
        assert!(!text.contains(TOKEN), "{f} holds the token");
        assert!(
            text.contains("<redacted>"),
            "{f}: the token's place is marked"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn an_unreachable_prometheus_is_recorded_not_fatal() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = temp_dir("down");
    let cancel = CancellationToken::new();
    cancel.cancel();
    let report = run_promql_monitor(config(format!("http://127.0.0.1:{port}")), &dir, cancel)
        .await
        .expect("not an error");
    assert_eq!((report.requests, report.failures, report.series), (2, 2, 0));
    let raw: Vec<RawRecord> = lines(&dir.join("prom.raw.jsonl"));
    assert!(
        raw.iter()
            .all(|r| !r.ok && r.http_status.is_none() && r.error.is_some())
    );
    assert!(
        report
            .failure_reason()
            .expect("reason")
            .starts_with("2 of 2")
    );
    let parsed = std::fs::read_to_string(dir.join("prom.parsed.jsonl")).expect("exists");
    assert!(parsed.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_debug_form_hides_the_token() {
    let text = format!("{:?}", config("http://p".into()));
    assert!(
        !text.contains(TOKEN) && text.contains("<redacted>"),
        "{text}"
    );
}
