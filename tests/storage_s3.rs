//! `aifbench run recipes/s3-garage.yaml` against a real Garage server started
//! by the recipe, and a fault run where the server is killed mid-run. Needs
//! `scripts/setup-garage.sh` to have been run once; fails (never skips) when
//! it was not.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Both tests use Garage's fixed loopback ports: one at a time.
static GARAGE: Mutex<()> = Mutex::new(());

fn dir_var(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn require_garage() {
    let bin = dir_var("AIFB_TOOLS", "/var/tmp/aifbench-tools").join("bin/garage");
    let garage_dir = dir_var("AIFB_GARAGE_DIR", "/var/tmp/aifbench-garage");
    for f in [
        bin,
        garage_dir.join("garage.toml"),
        garage_dir.join("credentials.env"),
        garage_dir.join("metrics-token"),
    ] {
        assert!(
            f.exists(),
            "{} is missing: run scripts/setup-garage.sh first (installs Garage, ~16 min the first time, and bootstraps it)",
            f.display()
        );
    }
    assert!(
        std::net::TcpListener::bind("127.0.0.1:3900").is_ok(),
        "127.0.0.1:3900 is busy: a Garage is already running (scripts/setup-garage.sh --stop)"
    );
}

fn run_cmd(workspace: &Path, duration: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aifbench"));
    c.args([
        "run",
        "recipes/s3-garage.yaml",
        "--progress",
        "plain",
        "--workspace",
    ])
    .arg(workspace)
    .env("AIFB_S3_DURATION", duration)
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn results_dir(workspace: &Path) -> Option<PathBuf> {
    std::fs::read_dir(workspace)
        .ok()?
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap()
}

fn status(dir: &Path) -> serde_json::Value {
    serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap()
}

/// No secret of the setup ever lands in the results.
fn assert_no_secrets(dir: &Path) {
    let garage_dir = dir_var("AIFB_GARAGE_DIR", "/var/tmp/aifbench-garage");
    let token = std::fs::read_to_string(garage_dir.join("metrics-token")).unwrap();
    let creds = std::fs::read_to_string(garage_dir.join("credentials.env")).unwrap();
    let secret = creds
        .lines()
        .find_map(|l| l.strip_prefix("AWS_SECRET_ACCESS_KEY="))
        .unwrap()
        .to_string();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(text) = std::fs::read(&p) {
                let text = String::from_utf8_lossy(&text);
                assert!(
                    !text.contains(token.trim()),
                    "metrics token in {}",
                    p.display()
                );
                assert!(!text.contains(&secret), "secret key in {}", p.display());
            }
        }
    }
}

/// Every failed request is in exactly one error class and one operation.
fn assert_errors_accounted(r: &serde_json::Value) {
    let errors = r["errors"].as_u64().unwrap();
    let by_class: u64 = r["errorClasses"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(errors, by_class, "{r:#}");
    let ops = r["operations"].as_object().unwrap();
    let op_errors: u64 = ops.values().map(|o| o["errors"].as_u64().unwrap()).sum();
    let op_ok: u64 = ops.values().map(|o| o["requests"].as_u64().unwrap()).sum();
    assert_eq!(op_errors, errors, "{r:#}");
    assert_eq!(op_ok, r["requests"].as_u64().unwrap(), "{r:#}");
}

#[test]
fn s3_recipe_succeeds_on_garage_without_data_loss() {
    let _guard = GARAGE.lock().unwrap_or_else(|p| p.into_inner());
    require_garage();
    let ws = tempfile::tempdir().unwrap();
    let out = run_cmd(ws.path(), "5s").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "aifbench run failed: {stderr}");
    let dir = results_dir(ws.path()).unwrap();
    let st = status(&dir);
    assert_eq!(st["phase"], "Succeeded", "{st:#}");
    assert!(
        st["summary"]["bytesPerSecond"].as_f64().unwrap_or(0.0) > 0.0,
        "{st:#}"
    );
    let summary = json(&dir.join("summary.json"));
    let total = &summary["total"];
    assert_eq!(total["dataLoss"], 0, "{total:#}");
    assert_eq!(total["errors"], 0, "{total:#}");
    assert!(total["bytesRead"].as_u64().unwrap() > 0, "{total:#}");
    assert!(total["bytesWritten"].as_u64().unwrap() > 0, "{total:#}");
    let ops = total["operations"].as_object().unwrap();
    for op in ["get", "stat", "put", "delete", "list", "multipartPut"] {
        assert!(
            ops.get(op)
                .and_then(|o| o["requests"].as_u64())
                .unwrap_or(0)
                > 0,
            "no successful {op} in {total:#}"
        );
    }
    for h in ["ttfb", "ttlb", "get.ttfb", "get.ttlb", "put.ttlb"] {
        assert!(
            total["latency"][h]["count"].as_u64().unwrap() > 0,
            "no {h} in {total:#}"
        );
    }
    for c in ["mixed-1", "mixed-2", "upload-1", "multipart-1"] {
        let r = json(&dir.join("clients").join(format!("{c}.json")));
        assert_errors_accounted(&r);
        assert_eq!(r["dataLoss"], 0, "{r:#}");
    }
    let raw = std::fs::read_to_string(dir.join("metrics/garage-metrics.raw.jsonl")).unwrap();
    assert!(
        raw.contains("api_s3_request_counter"),
        "Garage metrics not scraped"
    );
    assert_no_secrets(&dir);
}

#[test]
fn s3_fault_killing_garage_mid_run_fails_and_keeps_results() {
    let _guard = GARAGE.lock().unwrap_or_else(|p| p.into_inner());
    require_garage();
    let ws = tempfile::tempdir().unwrap();
    let child = run_cmd(ws.path(), "30s")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the server's pid and for the clients to be well into the run.
    let started = Instant::now();
    let pid = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "garage never started"
        );
        if let Some(dir) = results_dir(ws.path())
            && let Ok(text) = std::fs::read_to_string(dir.join("garage.pid"))
            && let Ok(pid) = text.trim().parse::<i32>()
        {
            break pid;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Wait until measured requests flow (a progress line of mixed-1 with
    // requests > 0), then pull the plug.
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the clients never got going"
        );
        let log = results_dir(ws.path())
            .and_then(|d| std::fs::read_to_string(d.join("logs/mixed-1.jsonl")).ok())
            .unwrap_or_default();
        let going = log
            .lines()
            .any(|l| l.contains(r#"\"event\":\"progress\""#) && !l.contains(r#"\"requests\":0,"#));
        if going {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the run must fail: {stderr}");
    let dir = results_dir(ws.path()).unwrap();
    let st = status(&dir);
    assert_eq!(st["phase"], "Failed", "{st:#}");
    let verdict = st["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Succeeded")
        .cloned()
        .unwrap_or_default();
    assert_eq!(verdict["status"], "False", "{st:#}");
    // Either the engine saw the server die first, or the clients' error
    // policy (10 consecutive errors) aborted them first.
    let reason = verdict["reason"].as_str().unwrap_or_default();
    assert!(
        reason == "ServiceExited" || reason == "ErrorThresholdExceeded",
        "unexpected reason {reason}: {st:#}"
    );
    // What was measured before the fault is kept, per client.
    let mut requests = 0;
    for c in ["mixed-1", "mixed-2", "upload-1"] {
        let r = json(&dir.join("clients").join(format!("{c}.json")));
        assert_errors_accounted(&r);
        assert_eq!(r["dataLoss"], 0, "{r:#}");
        requests += r["requests"].as_u64().unwrap();
    }
    assert!(requests > 0, "nothing measured before the fault");
    eprintln!(
        "fault run: reason {reason}; errors by class {}; {requests} requests kept",
        json(&dir.join("summary.json"))["total"]["errorClasses"]
    );
    let summary = json(&dir.join("summary.json"));
    assert!(summary["total"]["requests"].as_u64().unwrap() > 0);
    assert_no_secrets(&dir);
}
