//! The PromQL monitor against a real Prometheus (Debian's 2.42, started by
//! scripts/setup-prometheus.sh): a run whose service is the simulator,
//! scraped every second by that Prometheus (through a file_sd targets file
//! this test writes, with a label of its own), and whose PromQL monitor asks
//! for a counter, its rate and a gauge over the run's window. The stored
//! series must be non-empty, inside the window, and agree with what the
//! simulator served (its counter's last value as the run's own scrape
//! monitor read it at the end, and the clients' request count). A second
//! run against a Prometheus that is not there must still succeed, with the
//! failure in the monitor's files and status.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{component, read_json, results_dir};
use serde_json::Value;

/// `KEY=value` lines of setup-prometheus.sh's env file.
fn prometheus_env() -> (String, PathBuf) {
    let path = std::env::var("AIFB_PROMETHEUS_ENV")
        .unwrap_or_else(|_| "/var/tmp/aifbench-prometheus/env".to_string());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{path}: {e}: run scripts/setup-prometheus.sh first (tests/run-all.sh does)")
    });
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{path} has no {k}"))
            .to_string()
    };
    (
        get("AIFB_PROMETHEUS_URL"),
        PathBuf::from(get("AIFB_PROMETHEUS_TARGETS")),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Removes the targets file when the test ends, however it ends.
struct TargetsFile(PathBuf);

impl Drop for TargetsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn benchmark(sim_port: u16, prometheus: &str, label: &str) -> String {
    format!(
        r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {{name: promql-test}}
spec:
  services:
    - id: sim
      command: [aifbench, sim, --port, "{{{{port}}}}", --model, m,
                --ttft, 20ms, --itl, 5ms, --output-tokens, "8"]
      ports: [{{name: http, port: {sim_port}}}]
      healthcheck: {{path: /health, interval: 100ms, timeout: 30s}}
  clients:
    - id: chat
      target: sim
      workload: {{type: openai, openai: {{api: chat, stream: true, maxTokens: 8}}}}
      load: {{concurrency: 2, duration: 6s}}
  monitors:
    - id: scrape
      targets: [sim]
      interval: 1s
    - id: prom
      timeout: 10s
      prometheus:
        url: {prometheus}
        step: 1s
        delay: 2500ms
        queries:
          - name: "sim:requests"
            query: 'sum(vllm:request_success_total{{aifb_test="{label}",finished_reason="length"}})'
          - name: "sim:requests:rate5s"
            query: 'sum(rate(vllm:request_success_total{{aifb_test="{label}"}}[5s]))'
          - name: "sim:running"
            query: 'vllm:num_requests_running{{aifb_test="{label}"}}'
  execution:
    runDeadline: 2m
    postActions: [collectMetrics, stopServices, report]
"#
    )
}

/// Runs `yaml`; the results folder and its status.
fn run(yaml: &str) -> (tempfile::TempDir, PathBuf, Value) {
    let ws = tempfile::tempdir().unwrap();
    let file = ws.path().join("b.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["run", "--progress", "plain", "--workspace"])
        .arg(ws.path().join("results"))
        .arg(&file)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = results_dir(&ws.path().join("results"));
    let status: Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap();
    assert_eq!(status["phase"], "Succeeded", "{status:#}");
    (ws, dir, status)
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ms(ts: &Value) -> i64 {
    ts.as_str()
        .unwrap_or_else(|| panic!("not a time: {ts}"))
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
}

/// `(time ms, value)` of family `name` over the parsed records.
fn series(records: &[Value], name: &str) -> Vec<(i64, f64)> {
    records
        .iter()
        .flat_map(|r| {
            r["families"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["name"] == name)
                .flat_map(|f| f["samples"].as_array().unwrap().iter())
                .map(|s| {
                    (
                        s["timestamp_ms"].as_i64().unwrap(),
                        s["value"].as_f64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Waits until Prometheus lists the target labelled `label` (its discovery
/// passes new targets on every 5 s), so it scrapes the whole run.
fn wait_until_active(url: &str, label: &str) {
    let needle = format!("\"aifb_test\":\"{label}\"");
    for _ in 0..100 {
        let out = Command::new("curl")
            .args([
                "-sf",
                "--max-time",
                "2",
                &format!("{url}/api/v1/targets?state=active"),
            ])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains(&needle) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("Prometheus at {url} never picked up the target {label}");
}

#[test]
fn a_real_prometheus_answers_for_the_run_window_and_agrees_with_the_simulator() {
    let (url, targets_dir) = prometheus_env();
    let ready = Command::new("curl")
        .args(["-sf", "--max-time", "2", &format!("{url}/-/ready")])
        .status()
        .unwrap();
    assert!(
        ready.success(),
        "Prometheus at {url} is not ready: run scripts/setup-prometheus.sh"
    );

    let port = free_port();
    let label = format!("t{}-{port}", std::process::id());
    let targets = TargetsFile(targets_dir.join(format!("{label}.json")));
    std::fs::write(
        &targets.0,
        format!(r#"[{{"targets":["127.0.0.1:{port}"],"labels":{{"aifb_test":"{label}"}}}}]"#),
    )
    .unwrap();
    wait_until_active(&url, &label);

    let (_ws, dir, status) = run(&benchmark(port, &url, &label));

    let prom = component(&status, "prom");
    assert_eq!(prom["exitCode"], 0, "{prom:#}");
    let start = ms(&prom["startTime"]);
    let end = ms(&prom["endTime"]);

    // Prometheus' answers as served, one per query, all successful.
    let raw = jsonl(&dir.join("metrics/prom.raw.jsonl"));
    assert_eq!(raw.len(), 3, "{raw:#?}");
    for r in &raw {
        assert_eq!(r["ok"], true, "{r:#}");
        assert!(
            r["url"]
                .as_str()
                .unwrap()
                .contains("/api/v1/query_range?query=")
        );
        assert!(
            r["body"]
                .as_str()
                .unwrap()
                .contains("\"resultType\":\"matrix\"")
        );
    }

    // Their series, as parsed records, inside the run's window.
    let parsed = jsonl(&dir.join("metrics/prom.parsed.jsonl"));
    // 6 s of load and 2.5 s of delay at a 1 s step, the first points
    // while the sim's first scrapes arrive.
    assert!(parsed.len() >= 7, "{} evaluation times", parsed.len());
    for r in &parsed {
        assert_eq!(r["target"], "prometheus");
        let t = ms(&r["ts"]);
        assert!(
            t >= start - 1000 && t <= end,
            "{t} outside [{start}, {end}]"
        );
    }
    let requests = series(&parsed, "sim:requests");
    let rate = series(&parsed, "sim:requests:rate5s");
    let running = series(&parsed, "sim:running");
    for (name, s) in [
        ("requests", &requests),
        ("rate", &rate),
        ("running", &running),
    ] {
        assert!(s.len() >= 4, "{name}: {s:?}");
    }
    assert!(
        requests.windows(2).all(|w| w[1].1 >= w[0].1),
        "{requests:?}"
    );
    let max_rate = rate.iter().map(|p| p.1).fold(0.0, f64::max);
    assert!(max_rate > 1.0, "{rate:?}");
    assert!(
        running.iter().all(|p| (0.0..=2.0).contains(&p.1)),
        "{running:?}"
    );
    assert!(running.iter().any(|p| p.1 > 0.0), "{running:?}");

    // What the simulator served: its counter at the end, as the run's own
    // scrape monitor read it (the final scrape, after the clients ended).
    let scrapes = jsonl(&dir.join("metrics/scrape.parsed.jsonl"));
    let last = scrapes.last().unwrap();
    let served: f64 = last["families"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["name"]
                .as_str()
                .unwrap()
                .starts_with("vllm:request_success")
        })
        .flat_map(|f| f["samples"].as_array().unwrap().iter())
        .filter(|s| s["labels"]["finished_reason"] == "length")
        .map(|s| s["value"].as_f64().unwrap())
        .sum();
    let summary = read_json(&dir.join("summary.json"));
    let client_requests = summary["total"]["requests"].as_f64().unwrap();
    let last_promql = requests.last().unwrap().1;
    println!(
        "{} evaluation times; requests: PromQL {last_promql}, simulator {served}, clients {client_requests}; max rate {max_rate:.2}/s",
        parsed.len()
    );
    assert!(served > 10.0, "{last:#}");
    assert_eq!(last_promql, served);
    assert_eq!(served, client_requests);

    // The report plots them.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("prometheus: sim:requests:rate5s"),
        "report.html lacks the PromQL panel"
    );
}

#[test]
fn an_unreachable_prometheus_leaves_the_run_successful_and_says_so() {
    let port = free_port();
    let nobody = free_port();
    let yaml = benchmark(port, &format!("http://127.0.0.1:{nobody}"), "none")
        .replace("duration: 6s", "duration: 1s")
        .replace("delay: 2500ms", "delay: 0s");
    let (_ws, dir, status) = run(&yaml);
    let prom = component(&status, "prom");
    assert_eq!(prom["exitCode"], 1, "{prom:#}");
    let message = prom["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("3 of 3 PromQL request(s) failed"),
        "{prom:#}"
    );
    let raw = jsonl(&dir.join("metrics/prom.raw.jsonl"));
    assert_eq!(raw.len(), 3);
    assert!(
        raw.iter()
            .all(|r| r["ok"] == false && r["error"].is_string()),
        "{raw:#?}"
    );
}
