//! Comparisons of synthetic runs: rows, verdicts, gates and rendering.

use std::collections::BTreeMap;

use super::gate::{check_names, evaluate, parse_gate};
use super::*;
use crate::workload::result::{ClientResult, merge};
use crate::workload::stats::{encode_histogram, new_histogram};

/// A run of `n` requests in 4 s with TTFT spread over ttft_ms ± 10% and
/// E2EL = TTFT + 100 ms; `errors` failed requests.
fn run(label: &str, n: u64, ttft_ms: f64, errors: u64) -> RunData {
    let mut ttft = new_histogram().unwrap();
    let mut e2el = new_histogram().unwrap();
    for i in 0..n {
        // Evenly spread over [0.9, 1.1) in an order that differs per label.
        let u = ((i * 7919 + label.len() as u64 * 13) % n) as f64 / n as f64;
        let t = ttft_ms * (0.9 + 0.2 * u);
        ttft.record((t * 1000.0) as u64).unwrap();
        e2el.record(((t + 100.0) * 1000.0) as u64).unwrap();
    }
    let result = ClientResult {
        id: "c-0".into(),
        workload: "openai".into(),
        started_at: "2025-01-01T00:00:00Z".into(),
        duration_s: 4.0,
        requests: n,
        errors,
        input_tokens: 10 * n,
        output_tokens: 16 * n,
        token_count_source: "usage".into(),
        histograms: BTreeMap::from([
            ("ttft".to_string(), encode_histogram("ttft", &ttft).unwrap()),
            ("e2el".to_string(), encode_histogram("e2el", &e2el).unwrap()),
            (
                "client_lag".to_string(),
                encode_histogram("x", &ttft).unwrap(),
            ),
        ]),
        concurrency: Some(4),
        ..Default::default()
    };
    RunData {
        label: label.into(),
        source: format!("/tmp/{label}"),
        summary: merge(std::slice::from_ref(&result)).unwrap(),
        histograms: BTreeMap::from([("ttft".to_string(), ttft), ("e2el".to_string(), e2el)]),
        records: BTreeMap::new(),
    }
}

fn cell<'a>(cmp: &'a Comparison, name: &str) -> &'a Cell {
    &cmp.rows.iter().find(|r| r.name == name).unwrap().others[0]
}

#[test]
fn rows_in_order_without_diagnostics() {
    let cmp = build(&[run("a", 800, 50.0, 0), run("bb", 800, 50.0, 0)], 5.0);
    let names: Vec<&str> = cmp.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ttft.mean",
            "ttft.p50",
            "ttft.p90",
            "ttft.p99",
            "e2el.mean",
            "e2el.p50",
            "e2el.p90",
            "e2el.p99",
            "request_throughput",
            "output_token_throughput",
            "error_rate"
        ]
    );
    assert_eq!(cmp.runs[1].intervals_from, "histograms");
    assert_eq!(cmp.differing().count(), 0, "{:#?}", cmp.rows);
}

#[test]
fn a_slower_ttft_differs_and_trips_its_gate() {
    let cmp = build(&[run("a", 800, 50.0, 0), run("b", 800, 70.0, 0)], 5.0);
    for stat in ["mean", "p50", "p90", "p99"] {
        let c = cell(&cmp, &format!("ttft.{stat}"));
        assert_eq!(c.verdict, Verdict::Differs, "ttft.{stat}: {c:?}");
        assert_eq!(c.worse, Some(true));
        assert!((c.change_pct.unwrap() - 40.0).abs() < 2.0, "{c:?}");
    }
    // e2el moves by ~20/150 = 13%: beyond noise too; throughput does not.
    assert_eq!(cell(&cmp, "e2el.p50").verdict, Verdict::Differs);
    assert_eq!(
        cell(&cmp, "request_throughput").verdict,
        Verdict::WithinNoise
    );

    let gates: Vec<_> = [
        "ttft.p99>+10%",
        "ttft.p50>+50%",
        "e2el.mean>5",
        "request_throughput<-5%",
    ]
    .iter()
    .map(|g| parse_gate(g).unwrap())
    .collect();
    check_names(&gates, &cmp).unwrap();
    let tripped = evaluate(&gates, &cmp);
    let names: Vec<&str> = tripped.iter().map(|t| t.gate.as_str()).collect();
    assert_eq!(names, ["ttft.p99>+10%", "e2el.mean>5"]);
    assert_eq!(tripped[0].run, "b");

    // A change below the noise threshold is not beyond noise.
    let lenient = build(&[run("a", 800, 50.0, 0), run("b", 800, 70.0, 0)], 50.0);
    assert_eq!(cell(&lenient, "ttft.p50").verdict, Verdict::WithinNoise);
    assert!(evaluate(&gates, &lenient).is_empty());
}

#[test]
fn unknown_gate_metrics_list_the_known_ones() {
    let cmp = build(&[run("a", 100, 50.0, 0), run("b", 100, 50.0, 0)], 5.0);
    let e = check_names(&[parse_gate("tfft.p99>+10%").unwrap()], &cmp).unwrap_err();
    assert!(e.to_string().contains("ttft.p99"), "{e}");
}

#[test]
fn few_requests_are_within_noise() {
    let cmp = build(&[run("a", 6, 50.0, 0), run("b", 6, 60.0, 0)], 5.0);
    for stat in ["p50", "p90", "p99"] {
        let c = cell(&cmp, &format!("ttft.{stat}"));
        assert_ne!(c.verdict, Verdict::Differs, "{stat}: {c:?}");
    }
}

#[test]
fn errors_and_missing_metrics() {
    let mut b = run("b", 800, 50.0, 200);
    b.histograms.remove("e2el");
    b.summary.latency.remove("e2el");
    let cmp = build(&[run("a", 800, 50.0, 0), b], 5.0);
    let e = cell(&cmp, "error_rate");
    assert_eq!((e.verdict, e.worse), (Verdict::Differs, Some(true)));
    assert_eq!(cell(&cmp, "e2el.p50").verdict, Verdict::Unknown);
    assert!(cell(&cmp, "e2el.p50").estimate.is_none());
}

#[test]
fn records_give_the_intervals_when_they_match_the_histograms() {
    let mut a = run("a", 200, 50.0, 0);
    let mut values: Vec<f64> = (0..200).map(|i| 45.0 + i as f64 * 0.05).collect();
    values.sort_by(f64::total_cmp);
    a.records.insert("ttft".into(), values.clone());
    let cmp = build(&[a.clone(), a.clone()], 5.0);
    assert_eq!(cmp.runs[0].intervals_from, "records");
    let base = cmp.rows[1].baseline.unwrap();
    assert_eq!(base.value, values[99]);
    // Records that do not match the histogram's count are not used.
    a.records.insert("ttft".into(), values[..10].to_vec());
    assert_eq!(
        build(&[a.clone(), a], 5.0).runs[0].intervals_from,
        "histograms"
    );
}

#[test]
fn renders_plain_table_and_html() {
    let runs = [run("a", 800, 50.0, 0), run("b", 800, 70.0, 0)];
    let cmp = build(&runs, 5.0);
    let plain = render::table(&cmp, false);
    assert!(!plain.contains('\x1b'), "{plain}");
    assert!(plain.contains("DIFFERS (worse)"), "{plain}");
    assert!(plain.contains("ttft.p99"));
    assert!(plain.contains("metric(s) differ beyond noise"), "{plain}");
    assert!(render::table(&cmp, true).contains("\x1b[31;1m"));
    let html = render::html(&cmp, &runs);
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "one chart per latency metric"
    );
    assert!(html.contains("<path d=\"M"));
    assert!(
        !html.contains("http://") || html.matches("http://").count() == 2,
        "only the SVG namespaces"
    );
    let json = serde_json::to_value(&cmp).unwrap();
    assert_eq!(json["rows"][0]["others"][0]["verdict"], "differs");
}
