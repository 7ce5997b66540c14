//! The index over small fixture folders written by the tests.

use std::path::Path;

use serde_json::json;

use super::*;
use crate::workload::stats::encode_histogram;
use crate::workload::stats::new_histogram;

fn histogram(values_us: &[u64]) -> String {
    let mut h = new_histogram().unwrap();
    for v in values_us {
        h.record(*v).unwrap();
    }
    encode_histogram("ttft", &h).unwrap()
}

/// A client result with a timeline starting at `start_ms`, optionally with
/// two stages.
fn client(id: &str, start_ms: i64, completed: &[u64], stages: bool) -> serde_json::Value {
    let n = completed.len();
    let mut r = json!({
        "id": id, "workload": "openai", "startedAt": "2026-01-01T00:00:00Z",
        "durationS": n as f64, "requests": completed.iter().sum::<u64>(), "errors": 0,
        "errorClasses": {}, "inputTokens": 0, "outputTokens": 0, "tokenCountSource": "usage",
        "aborted": null, "histograms": {"ttft": histogram(&[10_000, 20_000, 30_000])},
        "timeline": {"startUnixMs": start_ms, "completed": completed, "errors": vec![0; n],
                     "outputTokens": vec![0; n], "inFlight": vec![1; n]},
    });
    if stages {
        let stage = |k: i64, c: u32, us: u64| {
            json!({
                "id": id, "workload": "openai", "startedAt": "2026-01-01T00:00:00Z",
                "durationS": 2.0, "requests": 1, "errors": 0, "errorClasses": {},
                "inputTokens": 0, "outputTokens": 0, "tokenCountSource": "usage", "aborted": null,
                "histograms": {"ttft": histogram(&[us])}, "concurrency": c,
                "measuredFromUnixMs": start_ms + k * 2000,
            })
        };
        r["stages"] = json!([stage(0, 1, 10_000), stage(1, 4, 40_000)]);
    }
    r
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn status(start: &str) -> String {
    format!(
        "phase: Succeeded\nstartTime: {start}\nrunStartTime: {start}\ncompletionTime: {start}\n\
         conditions:\n- type: ServicesReady\n  status: 'True'\n  reason: Healthy\n  lastTransitionTime: {start}\n"
    )
}

const SCRAPE: &str = r#"{"ts":"2026-01-01T00:00:0SZ","target":"sim","families":[{"name":"vllm:num_requests_running","type":"gauge","samples":[{"name":"vllm:num_requests_running","labels":{},"value":V}]}],"parse_errors":[]}"#;

/// Two runs (the second newer, with stages and a monitor), a folder that is
/// no run, and a hidden one.
fn fixture(root: &Path) {
    let a = root.join("quick-a");
    write(&a.join("status.yaml"), &status("2026-01-01T00:00:00Z"));
    write(
        &a.join("clients/c-1.json"),
        &client("c-1", 1_767_225_600_000, &[3, 4, 5], false).to_string(),
    );
    write(
        &a.join("clients/c-2.json"),
        &client("c-2", 1_767_225_600_000, &[1, 1, 1], false).to_string(),
    );
    write(&a.join("clients/c-1.config.json"), "{}");
    let b = root.join("sweep-b");
    write(&b.join("status.yaml"), &status("2026-01-02T00:00:00Z"));
    write(
        &b.join("clients/c-1.json"),
        &client("c-1", 1_767_312_000_000, &[1, 2, 3, 4], true).to_string(),
    );
    let scrapes: Vec<String> = (0..3)
        .map(|k| {
            SCRAPE
                .replace("0S", &format!("0{}", 2 * k))
                .replace('V', &k.to_string())
        })
        .collect();
    write(
        &b.join("metrics/sim.parsed.jsonl"),
        &(scrapes.join("\n") + "\nnot json\n"),
    );
    write(&root.join("notes/readme.txt"), "no run");
    write(
        &root.join(".hidden/status.yaml"),
        &status("2026-01-03T00:00:00Z"),
    );
}

#[test]
fn lists_runs_newest_first_and_finds_only_listed_names() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path());
    let index = Index::open(tmp.path()).unwrap();
    let names: Vec<String> = index.runs().unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["sweep-b", "quick-a"]);
    assert_eq!(index.find(None).unwrap().name, "sweep-b");
    assert_eq!(
        index.find(Some("quick-a")).unwrap().phase.as_deref(),
        Some("Succeeded")
    );
    for bad in [
        "../quick-a",
        "quick-a/..",
        "/etc",
        "notes",
        ".hidden",
        "",
        "quick-a/",
    ] {
        assert!(
            matches!(index.find(Some(bad)), Err(ServeError::NoSuchRun(_))),
            "{bad:?} was found"
        );
    }
}

#[test]
fn symlinks_are_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    fixture(outside.path());
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path().join("quick-a"), tmp.path().join("linked")).unwrap();
    let real = tmp.path().join("real");
    write(&real.join("status.yaml"), &status("2026-01-01T00:00:00Z"));
    fs::create_dir_all(real.join("clients")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("quick-a/clients/c-1.json"),
        real.join("clients/c-1.json"),
    )
    .unwrap();
    let index = Index::open(tmp.path()).unwrap();
    let names: Vec<String> = index.runs().unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["real"]);
    let run = index.load(&index.find(Some("real")).unwrap()).unwrap();
    assert!(run.series.is_empty(), "{:?}", run.metrics());
}

#[test]
fn loads_timeline_latency_and_annotations() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path());
    let index = Index::open(tmp.path()).unwrap();
    let run = index.load(&index.find(Some("quick-a")).unwrap()).unwrap();
    let requests = run
        .series
        .iter()
        .find(|s| s.metric == series::REQUESTS)
        .unwrap();
    // Both instances summed per second: 4, 5, 6.
    let values: Vec<f64> = requests.points.iter().map(|p| p.value).collect();
    assert_eq!(values, [4.0, 5.0, 6.0]);
    assert_eq!(requests.points[0].ms, 1_767_225_600_000);
    let p50 = run
        .series
        .iter()
        .find(|s| s.metric == "latency:ttft:p50")
        .unwrap();
    assert!((p50.points[0].value - 20.0).abs() < 0.1, "{p50:?}");
    let titles: Vec<&str> = run.annotations.iter().map(|a| a.title.as_str()).collect();
    assert!(titles.contains(&"ServicesReady"), "{titles:?}");
    assert!(titles.contains(&"measurement"), "{titles:?}");
    assert_eq!(run.unreadable, 0);
}

#[test]
fn stages_are_windows_and_monitors_are_series() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path());
    let index = Index::open(tmp.path()).unwrap();
    let run = index.load(&index.find(None).unwrap()).unwrap();
    let stages: Vec<&Annotation> = run
        .annotations
        .iter()
        .filter(|a| a.tags == ["stage"])
        .collect();
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[1].title, "stage 2 (concurrency 4)");
    assert_eq!(stages[1].time_ms, 1_767_312_002_000);
    assert_eq!(stages[1].end_ms, Some(1_767_312_004_000));
    let p50 = run
        .series
        .iter()
        .find(|s| s.metric == "latency:ttft:p50")
        .unwrap();
    let values: Vec<f64> = p50.points.iter().map(|p| p.value.round()).collect();
    assert_eq!(values, [10.0, 10.0, 40.0, 40.0]);
    let gauge = run
        .series
        .iter()
        .find(|s| s.metric == "server:vllm:num_requests_running")
        .unwrap();
    assert_eq!(gauge.points.len(), 3);
    assert_eq!(run.unreadable, 1, "the line that is not JSON");
    assert!(run.metrics().contains(&"in_flight"));
}

#[test]
fn a_root_that_is_itself_a_run_serves_that_run() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path());
    let index = Index::open(&tmp.path().join("quick-a")).unwrap();
    let runs = index.runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].name, "quick-a");
    assert!(Index::open(&tmp.path().join("missing")).is_err());
}

#[test]
fn a_loaded_run_is_kept_until_its_files_change() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path());
    let index = Index::open(tmp.path()).unwrap();
    let entry = index.find(Some("quick-a")).unwrap();
    let first = index.load(&entry).unwrap();
    let again = index.load(&entry).unwrap();
    assert!(Arc::ptr_eq(&first, &again), "kept");
    write(
        &tmp.path().join("quick-a/clients/c-2.json"),
        &client("c-2", 1_767_225_600_000, &[1, 1, 1, 7], false).to_string(),
    );
    let changed = index.load(&entry).unwrap();
    assert!(!Arc::ptr_eq(&first, &changed), "reloaded");
    let requests = changed
        .series
        .iter()
        .find(|s| s.metric == series::REQUESTS)
        .unwrap();
    assert_eq!(requests.points.len(), 4);
}
