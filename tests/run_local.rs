//! `aifbench run` end to end: real processes, real HTTP, real scrapes.

mod common;

use common::{component, condition, results_dir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn run_cmd(workspace: &Path, recipe: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aifbench"));
    c.args(["run", recipe, "--progress", "plain", "--workspace"])
        .arg(workspace)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn status(dir: &Path) -> serde_json::Value {
    serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap()
}

/// Live (non-zombie) processes of process group `pgid`.
fn live_group_members(pgid: i32) -> Vec<i32> {
    aifbench::backend::procfs::group_members(pgid)
}

/// Every process group the benchmark started is gone.
fn assert_nothing_left(status: &serde_json::Value) {
    let mut checked = 0;
    for c in status["components"].as_array().unwrap() {
        if let Some(pid) = c["pid"].as_i64() {
            let live = live_group_members(pid as i32);
            assert!(
                live.is_empty(),
                "processes {live:?} of {} (group {pid}) are still alive",
                c["id"]
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no pids recorded in {status:#}");
}

fn output_text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn quickstart_succeeds_with_results_metrics_and_status() {
    let ws = tempfile::tempdir().unwrap();
    let out = run_cmd(ws.path(), "recipes/quickstart.yaml")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let dir = results_dir(ws.path());

    let s = status(&dir);
    assert_eq!(s["phase"], "Succeeded", "{s:#}");
    assert_eq!(condition(&s, "Succeeded")["status"], "True");
    assert_eq!(condition(&s, "ServicesReady")["status"], "True");
    assert!(s["completionTime"].is_string());
    assert_eq!(s["results"]["path"], dir.display().to_string());

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let total = &summary["total"];
    assert!(total["requests"].as_u64().unwrap() > 0, "{summary:#}");
    assert_eq!(total["errors"], 0, "{summary:#}");
    assert_eq!(total["instances"], 2);
    // The simulator's TTFT is 50ms ±10%: the client must see about that.
    let ttft_p50 = total["latency"]["ttft"]["p50Ms"].as_f64().unwrap();
    assert!((44.0..70.0).contains(&ttft_p50), "ttft p50 {ttft_p50}");
    assert!(total["latency"]["e2el"]["p99Ms"].as_f64().unwrap() > ttft_p50);
    assert!(total["latency"]["itl"]["p50Ms"].as_f64().unwrap() > 5.0);
    assert!(s["summary"]["ttftP99Ms"].as_f64().unwrap() >= ttft_p50);

    for f in [
        "benchmark.yaml",
        "environment.json",
        "summary.csv",
        "report.md",
        "clients/chat-1.json",
        "clients/chat-2.json",
        "logs/sim.jsonl",
        "logs/aifbench.jsonl",
    ] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    // Provenance: aifbench's own build commit (not the working directory's),
    // the simulator's version and model, the resolved Benchmark.
    let env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("environment.json")).unwrap())
            .unwrap();
    let prov = &env["provenance"];
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let commit = prov["buildCommit"].as_str().unwrap();
    match head {
        Some(head) => assert_eq!(commit, head, "{prov:#}"),
        None => assert_eq!(commit, "unknown", "{prov:#}"),
    }
    assert_eq!(env["buildCommit"], prov["buildCommit"]);
    assert_eq!(prov["aifbenchVersion"], env!("CARGO_PKG_VERSION"));
    let sim = &prov["servers"][0];
    assert_eq!(sim["id"], "sim", "{prov:#}");
    assert_eq!(
        sim["version"],
        concat!("aifbench-sim ", env!("CARGO_PKG_VERSION")),
        "{prov:#}"
    );
    assert_eq!(sim["models"], serde_json::json!(["sim-model"]), "{prov:#}");
    assert_eq!(s["provenance"]["buildCommit"], prov["buildCommit"], "{s:#}");
    assert_eq!(s["provenance"]["servers"][0]["models"][0], "sim-model");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("## Provenance") && md.contains(commit), "{md}");
    assert!(md.contains("| sim | aifbench-sim"), "{md}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"provenance\"") && html.contains("sim-model"));
    let resolved = std::fs::read_to_string(dir.join("benchmark.resolved.yaml")).unwrap();
    assert!(
        resolved.contains("aifbench run benchmark.resolved.yaml"),
        "{resolved}"
    );
    let dry = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["run", "--dry-run"])
        .arg(dir.join("benchmark.resolved.yaml"))
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", output_text(&dry));
    // Parsed, vLLM-named metrics from the monitor.
    let parsed = std::fs::read_to_string(dir.join("metrics/sim-metrics.parsed.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(parsed.lines().last().unwrap()).unwrap();
    let families = last["families"].as_array().unwrap();
    let ttft = families
        .iter()
        .find(|f| f["name"] == "vllm:time_to_first_token_seconds")
        .expect("vllm:time_to_first_token_seconds scraped");
    assert_eq!(ttft["type"], "histogram");
    let success = families
        .iter()
        .find(|f| f["name"] == "vllm:request_success")
        .or_else(|| {
            families
                .iter()
                .find(|f| f["name"] == "vllm:request_success_total")
        })
        .expect("request counter scraped");
    let served: f64 = success["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_f64().unwrap_or(0.0))
        .sum();
    // The final scrape ran after the clients finished: the server counted at
    // least every request the clients measured (warmup included).
    assert!(
        served >= total["requests"].as_f64().unwrap(),
        "server {served} < client {}",
        total["requests"]
    );
    assert!(dir.join("metrics/sim-metrics.raw.jsonl").is_file());
    assert_nothing_left(&s);
    // `aifbench report` rebuilds the summary from the folder alone (the
    // clients' summary files beside their results are not results).
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    let rebuilt = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["report"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(rebuilt.status.success(), "{}", output_text(&rebuilt));
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(again["total"]["requests"], total["requests"], "{again:#}");
    // Piped output and component logs are plain text: no ANSI escapes.
    assert!(
        !out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b),
        "escape codes in piped output: {}",
        output_text(&out)
    );
    for log in std::fs::read_dir(dir.join("logs")).unwrap().flatten() {
        let bytes = std::fs::read(log.path()).unwrap();
        assert!(
            !bytes.contains(&0x1b),
            "escape codes in {}",
            log.path().display()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ttft") && stdout.contains("Succeeded"),
        "{stdout}"
    );
}

#[test]
fn a_service_that_never_gets_healthy_fails_with_healthcheck_timeout() {
    let ws = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run_cmd(ws.path(), "tests/fixtures/never-healthy.yaml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(started.elapsed() < Duration::from_secs(30));
    let dir = results_dir(ws.path());
    let s = status(&dir);
    assert_eq!(s["phase"], "Failed");
    assert_eq!(condition(&s, "Succeeded")["reason"], "HealthcheckTimeout");
    assert_eq!(condition(&s, "ServicesReady")["status"], "False");
    assert_nothing_left(&s);
    // The client was never started.
    let client = component(&s, "load-1");
    assert_eq!(client["state"], "Stopped");
    assert!(client["pid"].is_null());
}

fn wait_for_phase(workspace: &Path, phase: &str, child: &mut Child) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "aifbench exited early");
        if let Ok(entries) = std::fs::read_dir(workspace) {
            for e in entries.flatten() {
                let p = e.path().join("status.yaml");
                if let Ok(text) = std::fs::read_to_string(&p)
                    && text.contains(&format!("phase: {phase}"))
                {
                    return e.path();
                }
            }
        }
        assert!(Instant::now() < deadline, "never reached {phase}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ctrl_c_cancels_cleanly_and_keeps_partial_results() {
    let ws = tempfile::tempdir().unwrap();
    let mut child = run_cmd(ws.path(), "recipes/quickstart.yaml")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = wait_for_phase(ws.path(), "Running", &mut child);
    // Let the clients get past warmup and measure something.
    std::thread::sleep(Duration::from_secs(3));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130));
    let s = status(&dir);
    assert_eq!(s["phase"], "Cancelled", "{s:#}");
    assert_eq!(condition(&s, "Succeeded")["reason"], "Cancelled");
    assert_nothing_left(&s);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["total"]["requests"].as_u64().unwrap() > 0,
        "partial results kept: {summary:#}"
    );
}

#[test]
fn sweep_stages_show_the_simulated_knee_with_vllm_keys() {
    let ws = tempfile::tempdir().unwrap();
    let out = run_cmd(ws.path(), "recipes/sweep.yaml").output().unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let dir = results_dir(ws.path());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let stages = summary["total"]["stages"].as_array().expect("stages");
    // Five stages planned, the last skipped past saturation.
    assert_eq!(stages.len(), 4, "{summary:#}");
    let v = |k: usize, key: &str| {
        stages[k]["vllm"][key]
            .as_f64()
            .unwrap_or_else(|| panic!("stage {k} lacks {key}: {:#}", stages[k]))
    };
    let concurrency: Vec<f64> = (0..4).map(|k| v(k, "max_concurrency")).collect();
    assert_eq!(concurrency, [1.0, 4.0, 16.0, 32.0]);
    // Alone the simulator answers in 40 ms + prefill (128..512 tokens x 50 us).
    let ttft1 = v(0, "median_ttft_ms");
    assert!((45.0..75.0).contains(&ttft1), "ttft at 1: {ttft1}");
    // At 16 running it is 3x slower; beyond, requests queue: the knee.
    assert!(v(2, "median_tpot_ms") > 2.5 * v(0, "median_tpot_ms"));
    assert!(v(3, "median_ttft_ms") > 4.0 * v(2, "median_ttft_ms"));
    // Throughput grows until the simulator saturates.
    assert!(v(1, "request_throughput") > 2.0 * v(0, "request_throughput"));
    // Goodput (ttft <= 200 ms, tpot <= 20 ms) holds at 1 and fails at 32.
    assert!(v(0, "request_goodput") > 0.9 * v(0, "request_throughput"));
    assert_eq!(v(3, "request_goodput"), 0.0);
    // Configured extra percentile.
    assert!(summary["total"]["latency"]["ttft"]["percentiles"]["p99.9"].is_number());
    // The simulator's capacity is 16 running requests: the sweep saturates
    // there, and stage 64 is skipped once 32 no longer paid.
    let sat = &summary["total"]["saturation"];
    assert_eq!(sat["loadKind"], "concurrency", "{sat:#}");
    assert_eq!(sat["point"]["load"].as_f64(), Some(16.0), "{sat:#}");
    assert_eq!(sat["stoppedEarly"], true, "{sat:#}");
    assert_eq!(sat["curve"].as_array().map(Vec::len), Some(4), "{sat:#}");
    // Goodput is best below saturation.
    let best = sat["bestGoodput"]["load"].as_f64().expect("best goodput");
    assert!(best < 16.0 + 1.0, "{sat:#}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("## Stages"), "{md}");
    assert!(md.contains("| 2 (saturation) | 16 |"), "{md}");
    assert!(md.contains("Sweep: saturated at concurrency 16"), "{md}");
    assert!(md.contains("(`load.stopAtSaturation`)"), "{md}");
    let st = status(&dir);
    let sweep = &st["summary"]["sweep"];
    assert_eq!(sweep["saturationLoad"].as_f64(), Some(16.0), "{st:#}");
}
