//! The client states its own error: `aifbench loadgen` with `calibration`
//! runs against an in-process simulator first and writes its overhead into
//! the result, the merged summary and the reports; starved of CPU (pinned
//! to a core kept busy) it flags the run. A real `aifbench sim` process is
//! the server under test, pinned to the other core.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::read_json;

/// A child killed (by its pid) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn aifbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aifbench"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `aifbench sim` (first token after 20 ms, then one every 5 ms) pinned to
/// `cpu`, once healthy.
fn start_sim(cpu: &str) -> (Killed, String) {
    let port = free_port();
    let child = Command::new("taskset")
        .args(["-c", cpu, env!("CARGO_BIN_EXE_aifbench"), "sim", "--port"])
        .arg(port.to_string())
        .args(["--ttft", "20ms", "--itl", "5ms", "--output-tokens", "16"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "simulator did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, url)
}

/// Runs one calibrated loadgen instance (`prefix`: e.g. `taskset -c 0`)
/// into `dir/clients/chat-1.json`; returns the result.
fn run_loadgen(dir: &Path, url: &str, prefix: &[&str]) -> serde_json::Value {
    std::fs::create_dir_all(dir.join("clients")).unwrap();
    let config = serde_json::json!({
        "id": "chat-1",
        "baseUrl": url,
        "workload": {"type": "openai", "openai": {"api": "chat", "stream": true, "maxTokens": 16}},
        "load": {"concurrency": 8, "warmup": "500ms", "duration": "3s"},
        "calibration": {"enabled": true, "duration": "2s"}
    });
    let cfg = dir.join("chat-1.config.json");
    std::fs::write(&cfg, serde_json::to_vec(&config).unwrap()).unwrap();
    let out = dir.join("clients/chat-1.json");
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(env!("CARGO_BIN_EXE_aifbench"));
            c
        }
        None => aifbench(),
    };
    let o = cmd
        .args(["loadgen", "--progress-interval", "0", "--config"])
        .arg(&cfg)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "loadgen failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    read_json(&out)
}

#[test]
fn a_calibrated_result_carries_the_clients_overhead_into_summary_and_reports() {
    let (_sim, url) = start_sim("1");
    let ws = tempfile::tempdir().unwrap();
    let dir = ws.path();
    let r = run_loadgen(dir, &url, &[]);
    let cal = &r["calibration"];
    assert!(cal["requests"].as_u64().unwrap() > 10, "{cal:#}");
    assert_eq!(cal["concurrency"], 8, "{cal:#}");
    assert_eq!(cal["knownTtftMs"], 20.0, "{cal:#}");
    for k in [
        "ttftOverheadMeanMs",
        "ttftOverheadP99Ms",
        "itlOverheadMeanMs",
        "itlOverheadP99Ms",
    ] {
        let v = cal[k].as_f64().unwrap_or_else(|| panic!("no {k}: {cal:#}"));
        // Overhead: the client cannot see a token before the simulator
        // sends it (less a timer's slack), and not seconds late.
        assert!((-1.0..1000.0).contains(&v), "{k} {v}: {cal:#}");
    }
    let headroom = cal["cpuHeadroom"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&headroom), "{cal:#}");
    // The measured load itself still ran against the real server.
    assert!(r["requests"].as_u64().unwrap() > 10);

    // `aifbench report` merges it into the summary and both reports.
    std::fs::write(dir.join("benchmark.yaml"), "metadata: {name: cal}\n").unwrap();
    let o = aifbench().arg("report").arg(dir).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = read_json(&dir.join("summary.json"));
    let merged = &summary["total"]["calibration"];
    assert_eq!(merged["instances"], 1, "{summary:#}");
    assert_eq!(merged["ttftOverheadP99Ms"], cal["ttftOverheadP99Ms"]);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("## Client overhead") && md.contains("| chat-1 |"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"client-overhead\""));
}

/// With the client pinned to core 0 and two busy loops on core 0, its own
/// timing error is large next to the 20 ms TTFT it measures: flagged in
/// its result, the summary and the report.
#[test]
fn a_client_starved_of_cpu_flags_its_run() {
    let (_sim, url) = start_sim("1");
    let busy: Vec<Killed> = (0..2)
        .map(|_| {
            Killed(
                Command::new("taskset")
                    .args(["-c", "0", "sh", "-c", "while :; do :; done"])
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let ws = tempfile::tempdir().unwrap();
    let dir = ws.path();
    let start = Instant::now();
    let r = run_loadgen(dir, &url, &["taskset", "-c", "0"]);
    drop(busy);
    assert!(start.elapsed() < Duration::from_secs(30));
    let cal = &r["calibration"];
    assert!(
        cal["flagged"]
            .as_str()
            .is_some_and(|w| w.contains("overhead")),
        "not flagged: {cal:#}\nttft: {:#}",
        r["histograms"].as_object().map(|h| h.len()).unwrap_or(0)
    );
    std::fs::write(dir.join("benchmark.yaml"), "metadata: {name: cal}\n").unwrap();
    let o = aifbench().arg("report").arg(dir).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = read_json(&dir.join("summary.json"));
    let merged = &summary["total"]["calibration"];
    assert_eq!(
        merged["flagged"],
        serde_json::json!(["chat-1"]),
        "{merged:#}"
    );
    assert!(merged["warning"].is_string(), "{merged:#}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("**Warning:**"), "{md}");
}
