//! Trace replay end to end: `aifbench run recipes/trace-replay.yaml` against
//! the simulator replays tests/fixtures/trace-replay.jsonl (200 requests over
//! 2.09 s) at 1x and at 2x. Every request is sent, request `i` near arrival
//! time `i` / speed (open loop, from the intended times), with the trace's
//! lengths, and the summary reports the client's lag. Bounds leave room for
//! a loaded 2-core machine; the lag figures are printed (`--nocapture`).

use std::path::{Path, PathBuf};
use std::process::Command;

const REQUESTS: usize = 200;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// (arrival time in seconds, input tokens, output tokens) of each line.
fn fixture() -> Vec<(f64, u64, u64)> {
    let text =
        std::fs::read_to_string(manifest().join("tests/fixtures/trace-replay.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["timestamp"].as_f64().unwrap(),
                v["input_tokens"].as_u64().unwrap(),
                v["output_tokens"].as_u64().unwrap(),
            )
        })
        .collect()
}

struct Replay {
    /// Send time of each request (by index), seconds from the start.
    sent_s: Vec<f64>,
    summary: serde_json::Value,
}

/// Runs the recipe with `speed` (the recipe's `speed: 1` replaced).
fn replay(speed: f64) -> Replay {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = std::fs::read_to_string(manifest().join("recipes/trace-replay.yaml")).unwrap();
    assert!(recipe.contains("speed: 1\n"), "{recipe}");
    let path = tmp.path().join("trace-replay.yaml");
    std::fs::write(
        &path,
        recipe.replace("speed: 1\n", &format!("speed: {speed}\n")),
    )
    .unwrap();
    let ws = tmp.path().join("ws");
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["run", "--progress", "plain", "--workspace"])
        .arg(&ws)
        .arg(&path)
        .env(
            "AIFB_TRACE",
            manifest().join("tests/fixtures/trace-replay.jsonl"),
        )
        .current_dir(manifest())
        .output()
        .unwrap();
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let dirs: Vec<PathBuf> = std::fs::read_dir(&ws)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let dir = &dirs[0];
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let log = std::fs::read_to_string(dir.join("clients/replay-1.requests.jsonl")).unwrap();
    let trace = fixture();
    let mut sent_s = vec![f64::NAN; REQUESTS];
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let i = v["index"].as_u64().unwrap() as usize;
        assert!(v.get("error").is_none(), "{v}");
        // Request i carried line i's lengths (the simulator counts words
        // and always generates max_tokens).
        assert_eq!(v["inputTokens"].as_u64(), Some(trace[i].1), "{v}");
        assert_eq!(v["outputTokens"].as_u64(), Some(trace[i].2), "{v}");
        assert!(sent_s[i].is_nan(), "index {i} twice");
        sent_s[i] = v["sentS"].as_f64().unwrap();
    }
    assert!(
        sent_s.iter().all(|s| s.is_finite()),
        "a request was never sent"
    );
    Replay { sent_s, summary }
}

/// Checks one replay against the trace at `speed`; returns the span of
/// sending and the client lag p99 (ms).
fn check(r: &Replay, speed: f64) -> (f64, f64) {
    let trace = fixture();
    assert_eq!(trace.len(), REQUESTS);
    let total = &r.summary["total"];
    assert_eq!(total["requests"], REQUESTS, "{total:#}");
    assert_eq!(total["errors"], 0, "{total:#}");
    // Every request left at its intended time: never early, and late by at
    // most what a loaded CI machine may add.
    let mut late: Vec<f64> = Vec::new();
    for (i, sent) in r.sent_s.iter().enumerate() {
        let intended = (trace[i].0 - trace[0].0) / speed;
        let d = sent - intended;
        assert!(
            (-0.001..0.25).contains(&d),
            "request {i} sent at {sent:.4}s, intended {intended:.4}s"
        );
        late.push(d * 1000.0);
    }
    late.sort_by(f64::total_cmp);
    let span = r.sent_s[REQUESTS - 1] - r.sent_s[0];
    let want = (trace[REQUESTS - 1].0 - trace[0].0) / speed;
    assert!(
        (span - want).abs() < 0.05 + 0.05 * want,
        "sending took {span:.3}s, the trace at {speed}x {want:.3}s"
    );
    let lag = &total["latency"]["client_lag"];
    assert_eq!(lag["count"], REQUESTS, "{lag:#}");
    let lag_p99 = lag["p99Ms"].as_f64().expect("client_lag p99");
    let queue_p99 = total["latency"]["queue_time"]["p99Ms"].as_f64().unwrap();
    eprintln!(
        "speed {speed}: {REQUESTS} sent over {span:.3}s (trace {want:.3}s); send - intended p50 {:.3} ms, p99 {:.3} ms; client_lag p99 {lag_p99:.3} ms, queue_time p99 {queue_p99:.3} ms",
        late[REQUESTS / 2],
        late[REQUESTS * 99 / 100 - 1],
    );
    (span, lag_p99)
}

#[test]
fn trace_is_replayed_at_its_pace_and_twice_as_fast() {
    let (span1, _) = check(&replay(1.0), 1.0);
    let (span2, _) = check(&replay(2.0), 2.0);
    let ratio = span2 / span1;
    assert!((0.45..0.55).contains(&ratio), "2x took {ratio:.3} of 1x");
}
