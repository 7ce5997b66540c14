//! The page from a made-up results folder: every plot has its element and
//! its data, text is escaped, the script data cannot close its element.

use std::collections::BTreeMap;

use super::*;
use crate::workload::load::Timeline;
use crate::workload::result::merge;
use crate::workload::stats::encode_histogram;
use crate::workload::stats::new_histogram;

fn result(id: &str, start_unix_ms: i64, stages: usize) -> ClientResult {
    let mut ttft = new_histogram().unwrap();
    let mut e2el = new_histogram().unwrap();
    for v in 1..=200u64 {
        ttft.record(40_000 + v * 100).unwrap();
        e2el.record(300_000 + v * 500).unwrap();
    }
    let one = |concurrency: u32| ClientResult {
        id: id.to_string(),
        workload: "openai".to_string(),
        started_at: "2026-01-01T00:00:00Z".to_string(),
        duration_s: 4.0,
        requests: 200,
        errors: 2,
        error_classes: BTreeMap::from([("http_503<x>".to_string(), 2)]),
        input_tokens: 100,
        output_tokens: 6400,
        token_count_source: "usage".to_string(),
        histograms: BTreeMap::from([
            ("ttft".to_string(), encode_histogram("ttft", &ttft).unwrap()),
            ("e2el".to_string(), encode_histogram("e2el", &e2el).unwrap()),
        ]),
        concurrency: Some(concurrency),
        timeline: Timeline {
            start_unix_ms,
            completed: vec![50, 50, 50, 50],
            errors: vec![0, 1, 1, 0],
            output_tokens: vec![1600; 4],
            in_flight: vec![4, 4, 4, 0],
            truncated: false,
        },
        ..Default::default()
    };
    if stages == 0 {
        return one(4);
    }
    ClientResult::combine_stages((0..stages).map(|k| one(1 << (2 * k))).collect()).unwrap()
}

fn folder(slo: &str) -> (tempfile::TempDir, ResultsDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ResultsDir::create(tmp.path(), "bm", jiff::Timestamp::UNIX_EPOCH).unwrap();
    std::fs::write(
        dir.benchmark_yaml(),
        format!("apiVersion: aifbench.io/v1alpha1\nkind: Benchmark\nmetadata: {{name: bm}}\nspec:\n  clients: []\n{slo}"),
    )
    .unwrap();
    std::fs::write(
        dir.environment_json(),
        r#"{"aifbenchVersion": "0.1.0", "hostname": "</script><b>host</b>", "components": {"sim": {"kind": "service", "node": "n1"}}}"#,
    )
    .unwrap();
    let scrape = |s: u32, running: u32, tokens: u32| {
        format!(
            r#"{{"ts":"1970-01-01T00:00:{s:02}Z","target":"sim","families":[{{"name":"vllm:num_requests_running","type":"gauge","samples":[{{"name":"vllm:num_requests_running","labels":{{}},"value":{running}}}]}},{{"name":"vllm:generation_tokens_total","type":"counter","samples":[{{"name":"vllm:generation_tokens_total","labels":{{}},"value":{tokens}}}]}}],"parse_errors":[]}}"#
        )
    };
    let lines = [
        scrape(0, 0, 0),
        scrape(2, 4, 3200),
        scrape(4, 3, 6400),
        "not json".into(),
    ];
    std::fs::write(
        dir.metrics().join("sim-metrics.parsed.jsonl"),
        lines.join("\n"),
    )
    .unwrap();
    (tmp, dir)
}

fn write(dir: &ResultsDir, results: &[ClientResult]) -> (HtmlReport, String) {
    let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
    let clients: Vec<Summary> = results
        .iter()
        .map(|r| merge(std::slice::from_ref(r)).unwrap())
        .collect();
    let total = merge(results).unwrap();
    let missing = vec!["c-<3>".to_string()];
    let report = write_html(
        dir,
        &RunData {
            benchmark: "bm<&>",
            results,
            ids: &ids,
            clients: &clients,
            total: &total,
            missing: &missing,
        },
    )
    .unwrap();
    let html = std::fs::read_to_string(dir.report_html()).unwrap();
    (report, html)
}

#[test]
fn the_page_holds_every_plot_and_escapes_text() {
    let (_tmp, dir) =
        folder("  slo:\n    - {metric: ttft, stat: p99, max: 10ms}\n    - {maxErrorRate: 0.5}\n");
    let (report, html) = write(&dir, &[result("c-1", 1_000, 0), result("c-2", 2_000, 0)]);
    assert_eq!(report.bytes, html.len());
    assert_eq!(
        report.plots,
        [
            "plot-latency-ttft",
            "plot-latency-e2el",
            "plot-timeline-throughput",
            "plot-timeline-in-flight",
            "plot-timeline-tokens",
            "plot-monitor-sim-metrics-vllm-requests-running-waiting",
            "plot-monitor-sim-metrics-vllm-token-throughput",
        ]
    );
    for id in &report.plots {
        assert!(
            html.contains(&format!("<div class=\"plot\" id=\"{id}\"")),
            "{id}"
        );
        assert!(html.contains(&format!("\"id\":\"{id}\"")), "{id}");
    }
    // Self-contained: uPlot and the renderer inline, nothing fetched.
    assert!(html.contains("uPlot"));
    assert!(!html.contains("<script src") && !html.contains("<link"));
    // Escaped text; the one "</script>" of the data is escaped too.
    assert!(html.contains("<h1>bm&lt;&amp;&gt;</h1>"));
    assert!(html.contains("&lt;/script&gt;&lt;b&gt;host&lt;/b&gt;"));
    assert!(html.contains("http_503&lt;x&gt;"));
    assert!(html.contains("No result file from: c-&lt;3&gt;."));
    assert_eq!(html.matches("</script>").count(), 3, "three scripts close");
    // The SLO verdict: the 10 ms TTFT bound is missed, the error rate met.
    assert!(html.contains("Objectives missed."), "{html}");
    assert!(html.contains("<td>met</td>"));
    // The two instances' timelines summed, one second apart.
    let data_start = html.find("id=\"aifb-data\">").unwrap();
    let data = &html[data_start + 15..];
    let data: serde_json::Value =
        serde_json::from_str(&data[..data.find("</script>").unwrap()]).unwrap();
    let throughput = &data["plots"][2];
    assert_eq!(
        throughput["y"][0],
        serde_json::json!([50.0, 100.0, 100.0, 100.0, 50.0])
    );
    // The monitor's x is aligned on the measurement start (1 s after its
    // first scrape); the unreadable line is counted.
    assert_eq!(data["plots"][5]["x"], serde_json::json!([-1.0, 1.0, 3.0]));
    assert!(
        html.contains("<td class=\"num\">1</td></tr>"),
        "unreadable line counted"
    );
}

#[test]
fn a_sweep_shows_its_stages_side_by_side() {
    let (_tmp, dir) = folder("");
    let (report, html) = write(&dir, &[result("c-1", 1_000, 3)]);
    for id in [
        "plot-stages-throughput",
        "plot-stages-latency",
        "plot-stages-ttft-distribution",
    ] {
        assert!(
            report.plots.iter().any(|p| p == id),
            "{id}: {:?}",
            report.plots
        );
    }
    assert!(html.contains("<h2 id=\"stages\">Stages</h2>"));
    assert!(html.contains("stage 3 (concurrency 16)"));
    assert!(html.contains("No objectives declared"));
}

#[test]
fn results_without_timelines_or_monitors_still_make_a_page() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ResultsDir::create(tmp.path(), "old", jiff::Timestamp::UNIX_EPOCH).unwrap();
    let mut r = result("c-1", 0, 0);
    r.timeline = Timeline::default();
    let (report, html) = write(&dir, &[r]);
    assert_eq!(report.plots, ["plot-latency-ttft", "plot-latency-e2el"]);
    assert!(html.contains("No per-second timeline"));
    assert!(html.contains("No monitor in this run."));
    assert!(html.contains("No <code>environment.json</code>"));
}
