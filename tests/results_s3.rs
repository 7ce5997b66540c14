//! Results in S3 against a real Garage server: `aifbench loadgen
//! --upload-url` (after a normal run, after SIGTERM, and with wrong
//! credentials), and the operator's fetch-and-merge of the instances' full
//! results (exact, and its approximate fallback).
//!
//! Each test starts its own single-node Garage on free loopback ports in a
//! temporary folder (so it never collides with the Garage of
//! `recipes/s3-garage.yaml` or another checkout's tests); the binary comes
//! from `scripts/setup-garage.sh`. Fails (never skips) when it is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aifbench::api::status::ResultsSummary;
use aifbench::operator::observe::merge_summaries;
use aifbench::operator::results::collect_results;
use aifbench::results::report::headline;
use aifbench::results::s3::{ResultsStore, StoreConfig, client_result_key};
use aifbench::workload::result::{ClientResult, merge_with};
use aifbench::workload::s3::S3Credentials;
use aifbench::workload::stats::{decode_histogram, encode_histogram, new_histogram};

mod common;
use common::start_sim;

const BUCKET: &str = "results";

fn garage_bin() -> PathBuf {
    let tools = std::env::var_os("AIFB_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/aifbench-tools"));
    let bin = tools.join("bin/garage");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/setup-garage.sh first (installs Garage, ~16 min the first time)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private single-node Garage with one key and the bucket `results`.
struct Garage {
    child: Child,
    _dir: tempfile::TempDir,
    endpoint: String,
    key_id: String,
    secret: String,
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Garage {
    /// Starts a private Garage. A start is retried on fresh ports when the
    /// server dies or a set-up step keeps failing (another process may take a
    /// port between `free_port` and Garage's bind); the last failure's
    /// command, stderr and server log are in the panic message.
    fn start() -> Self {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start() {
                Ok(g) => return g,
                Err(e) => failures.push(e),
            }
        }
        panic!(
            "garage did not start in 3 tries:\n{}",
            failures.join("\n---\n")
        );
    }

    fn try_start() -> Result<Self, String> {
        let bin = garage_bin();
        let dir = tempfile::tempdir().unwrap();
        let (s3, rpc, admin) = (free_port(), free_port(), free_port());
        let hex: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let cfg = dir.path().join("garage.toml");
        std::fs::write(
            &cfg,
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\nreplication_factor = 1\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{hex}\"\n\n\
                 [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\n\
                 [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\n",
                d = dir.path().display()
            ),
        )
        .unwrap();
        let log_path = dir.path().join("garage.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&cfg)
            .arg("server")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("garage starts");
        let mut g = Garage {
            child,
            _dir: dir,
            endpoint: format!("http://127.0.0.1:{s3}"),
            key_id: String::new(),
            secret: String::new(),
        };
        // Each step is retried until it succeeds: right after start-up the
        // CLI can reach the node before its layout and key tables accept
        // writes (seen under CI load, with three Garages starting at once).
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut step = |args: &[&str]| -> Result<String, String> {
            loop {
                let out = Command::new(&bin)
                    .arg("-c")
                    .arg(&cfg)
                    .args(args)
                    .output()
                    .map_err(|e| format!("garage {args:?}: {e}"))?;
                if out.status.success() {
                    return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
                }
                let exited = g.child.try_wait().ok().flatten();
                if exited.is_some() || Instant::now() > deadline {
                    return Err(format!(
                        "garage {args:?} failed (server exit: {exited:?}): {}\nserver log:\n{}",
                        String::from_utf8_lossy(&out.stderr).trim(),
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    ));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        };
        let id = step(&["node", "id", "-q"])?;
        let node = id.trim().split('@').next().unwrap_or_default().to_string();
        step(&["layout", "assign", "-z", "dc1", "-c", "1G", &node])?;
        step(&["layout", "apply", "--version", "1"])?;
        step(&["key", "create", "aifb"])?;
        step(&["bucket", "create", BUCKET])?;
        step(&[
            "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", "aifb",
        ])?;
        let info = step(&["key", "info", "--show-secret", "aifb"])?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .map(|v| v.trim().to_string())
                .ok_or_else(|| format!("no {name} in garage key info:\n{info}"))
        };
        g.key_id = field("Key ID:")?;
        g.secret = field("Secret key:")?;
        Ok(g)
    }

    fn creds(&self) -> S3Credentials {
        S3Credentials::new(self.key_id.clone(), self.secret.clone())
    }

    fn store(&self) -> ResultsStore {
        ResultsStore::new(
            &StoreConfig {
                endpoint: Some(self.endpoint.clone()),
                region: "garage".into(),
                path_style: true,
                bucket: BUCKET.into(),
            },
            &self.creds(),
        )
    }

    /// Waits until a put succeeds (the layout takes a moment to apply).
    async fn wait_ready(&self) {
        let store = self.store();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match store.put("ready", b"ok".to_vec(), "text/plain").await {
                Ok(()) => return,
                Err(e) => assert!(Instant::now() < deadline, "garage not ready: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn loadgen(
    g: &Garage,
    url: &str,
    output: &Path,
    upload: &str,
    extra: &[&str],
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_aifbench"));
    c.args([
        "loadgen",
        "--url",
        url,
        "--id",
        "load-index-0",
        "--concurrency",
        "2",
    ])
    .args(["--progress-interval", "0", "--output"])
    .arg(output)
    .args(["--upload-url", upload, "--upload-endpoint", &g.endpoint])
    .args(["--upload-region", "garage"])
    .args(extra)
    .env("AWS_ACCESS_KEY_ID", &g.key_id)
    .env("AWS_SECRET_ACCESS_KEY", &g.secret)
    .env_remove("AWS_ENDPOINT_URL")
    .env_remove("AWS_REGION")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

fn read_result(path: &Path) -> ClientResult {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every histogram of `a` and `b` holds the same number of samples.
fn same_histogram_counts(a: &ClientResult, b: &ClientResult) {
    assert_eq!(
        a.histograms.keys().collect::<Vec<_>>(),
        b.histograms.keys().collect::<Vec<_>>()
    );
    assert!(
        a.histograms.contains_key("e2el"),
        "{:?}",
        a.histograms.keys()
    );
    for (name, text) in &a.histograms {
        let ha = decode_histogram(name, text).unwrap();
        let hb = decode_histogram(name, &b.histograms[name]).unwrap();
        assert_eq!(ha.len(), hb.len(), "{name}");
        assert_eq!(ha.max(), hb.max(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_uploads_its_full_result_to_garage() {
    let g = Garage::start();
    g.wait_ready().await;
    let (url, stop, _) = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = g.store();

    // A normal run: exit 0, the object equals the local result.
    let output = dir.path().join("load-index-0.json");
    let out = loadgen(
        &g,
        &url,
        &output,
        "s3://results/runs/t/clients/load-index-0.json",
        &["--max-requests", "40"],
    )
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stderr}");
    let local = read_result(&output);
    assert_eq!(local.requests, 40);
    let bytes = store
        .get("runs/t/clients/load-index-0.json")
        .await
        .unwrap()
        .expect("uploaded");
    let uploaded: ClientResult = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(uploaded, local);
    same_histogram_counts(&uploaded, &local);
    for text in [&stderr, &stdout] {
        assert!(!text.contains(&g.secret), "the secret leaked: {text}");
    }

    // Stopped by SIGTERM mid-run: still written and uploaded, exit 0.
    let output = dir.path().join("load-index-1.json");
    let child = loadgen(
        &g,
        &url,
        &output,
        "s3://results/runs/t/clients/load-index-1.json",
        &["--duration", "60s"],
    )
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("stops after SIGTERM")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let local = read_result(&output);
    assert!(local.requests > 0);
    let uploaded: ClientResult = serde_json::from_slice(
        &store
            .get("runs/t/clients/load-index-1.json")
            .await
            .unwrap()
            .expect("uploaded after SIGTERM"),
    )
    .unwrap();
    same_histogram_counts(&uploaded, &local);
    assert_eq!(uploaded.requests, local.requests);

    // Wrong secret: the local result is still written, exit 1, the reason
    // logged without the secret.
    let output = dir.path().join("load-index-2.json");
    let wrong = "CANARY-wrong-secret-5e1f";
    let out = loadgen(
        &g,
        &url,
        &output,
        "s3://results/runs/t/clients/load-index-2.json",
        &["--max-requests", "4"],
    )
    .env("AWS_SECRET_ACCESS_KEY", wrong)
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(output.exists(), "the local result is kept");
    assert!(stderr.contains("not uploaded"), "{stderr}");
    assert!(!stderr.contains(wrong), "the secret leaked: {stderr}");
    assert!(
        store
            .get("runs/t/clients/load-index-2.json")
            .await
            .unwrap()
            .is_none()
    );
    stop.cancel();
}

/// A result with `fast` e2el samples of 10 ms and `slow` of 500 ms.
fn result(id: &str, fast: u64, slow: u64) -> ClientResult {
    let mut h = new_histogram().unwrap();
    h.record_n(10_000, fast).unwrap();
    h.record_n(500_000, slow).unwrap();
    ClientResult {
        id: id.into(),
        workload: "openai".into(),
        started_at: "2026-11-29T03:00:00Z".into(),
        duration_s: 10.0,
        requests: fast + slow,
        errors: 0,
        error_classes: Default::default(),
        input_tokens: 0,
        output_tokens: 0,
        inputs: 0,
        token_count_source: "none".into(),
        aborted: None,
        histograms: [("e2el".to_string(), encode_histogram("e2el", &h).unwrap())].into(),
        concurrency: Some(1),
        ..ClientResult::default()
    }
}

fn termination(r: &ClientResult) -> ResultsSummary {
    headline(&merge_with(std::slice::from_ref(r), &[]).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_merges_the_instances_full_results_exactly() {
    let g = Garage::start();
    g.wait_ready().await;
    let store = g.store();
    let prefix = "runs/team/bm-20261129T030000Z";
    // Instance 0: 1000 requests of 10 ms; instance 1: 95 of 10 ms and 5 of
    // 500 ms. Its own p99 is 500 ms, but over all 1100 requests the p99 is
    // 10 ms: the worst-instance approximation is far off.
    let a = result("load-index-0", 1000, 0);
    let b = result("load-index-1", 95, 5);
    for r in [&a, &b] {
        store
            .put(
                &client_result_key(prefix, &r.id),
                serde_json::to_vec(r).unwrap(),
                "application/json",
            )
            .await
            .unwrap();
    }
    let instances = vec![
        ("load-index-0".to_string(), Some(termination(&a))),
        ("load-index-1".to_string(), Some(termination(&b))),
    ];
    let approx = merge_summaries(&[termination(&a), termination(&b)]).unwrap();
    assert!(approx.latency_p99_ms.unwrap() > 400.0, "{approx:?}");

    let g1 = collect_results(Ok(&store), prefix, &instances, &[99.9]).await;
    let local = merge_with(&[a.clone(), b.clone()], &[99.9]).unwrap();
    assert_eq!(
        g1.total.as_ref(),
        Some(&local),
        "the same merge as aifbench run"
    );
    let s = g1.summary.unwrap();
    assert_eq!(s, headline(&local));
    assert!(!s.approximate);
    assert!(g1.warning.is_none());
    assert_eq!(s.requests, 1100);
    let p99 = s.latency_p99_ms.unwrap();
    assert!((p99 - 10.0).abs() < 0.1, "exact p99 {p99}");
    assert_ne!(s.latency_p99_ms, approx.latency_p99_ms);

    // One that ran but has no object: the termination messages, marked.
    let mut more = instances.clone();
    more.push(("load-index-2".to_string(), Some(termination(&b))));
    let g2 = collect_results(Ok(&store), prefix, &more, &[]).await;
    let s = g2.summary.unwrap();
    assert!(s.approximate);
    assert_eq!(s.requests, 1200);
    assert_eq!(g2.missing, vec!["load-index-2".to_string()]);
    assert!(g2.warning.unwrap().contains("load-index-2"));
    // One that never ran (no termination message either) loses nothing.
    let mut idle = instances.clone();
    idle.push(("load-index-2".to_string(), None));
    let g3 = collect_results(Ok(&store), prefix, &idle, &[]).await;
    assert!(!g3.summary.unwrap().approximate);

    // Wrong credentials: a warning without the secret, approximate.
    let bad = ResultsStore::new(
        &StoreConfig {
            endpoint: Some(g.endpoint.clone()),
            region: "garage".into(),
            path_style: true,
            bucket: BUCKET.into(),
        },
        &S3Credentials::new(g.key_id.clone(), "CANARY-bad-7a7a"),
    );
    let g4 = collect_results(Ok(&bad), prefix, &instances, &[]).await;
    assert!(g4.summary.unwrap().approximate);
    let w = g4.warning.unwrap();
    assert!(!w.contains("CANARY"), "{w}");
}

/// `aifbench run` with `uploadResults`: the whole results folder lands under
/// `<prefix>/<folder>/`, including the final status, and the status names
/// the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_uploads_the_results_folder() {
    let g = Garage::start();
    g.wait_ready().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("up.yaml");
    std::fs::write(
        &file,
        format!(
            r#"apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {{name: up}}
spec:
  results:
    s3: {{bucket: {BUCKET}, prefix: local/, endpoint: "{}", region: garage}}
  services:
    - id: sim
      command: [aifbench, sim, --port, "{{{{port}}}}", --ttft, 2ms, --itl, 1ms, --output-tokens, "4"]
      ports: [{{name: http, port: 0}}]
      healthcheck: {{path: /health}}
  clients:
    - id: load
      target: sim
      workload: {{type: openai}}
      load: {{concurrency: 2, maxRequests: 20}}
  execution:
    stopGracePeriod: 2s
    postActions: [collectMetrics, stopServices, uploadResults, report]
"#,
            g.endpoint
        ),
    )
    .unwrap();
    let ws = dir.path().join("ws");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .arg("run")
        .arg(&file)
        .args(["--progress", "plain", "--workspace"])
        .arg(&ws)
        .env("AWS_ACCESS_KEY_ID", &g.key_id)
        .env("AWS_SECRET_ACCESS_KEY", &g.secret)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let folder = std::fs::read_dir(&ws)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let name = folder.file_name().unwrap().to_string_lossy().to_string();
    let status: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(folder.join("status.yaml")).unwrap())
            .unwrap();
    assert_eq!(status["phase"], "Succeeded", "{status}");
    assert_eq!(
        status["results"]["url"],
        serde_json::json!(format!("s3://{BUCKET}/local/{name}/"))
    );
    let uploaded = status["postActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["action"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(uploaded.last().map(String::as_str), Some("uploadResults"));
    let store = g.store();
    for f in [
        "summary.json",
        "summary.csv",
        "report.md",
        "benchmark.yaml",
        "clients/load-1.json",
        "clients/load-1.config.json",
        "status.yaml",
        "environment.json",
    ] {
        let remote = store
            .get(&format!("local/{name}/{f}"))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{f} was not uploaded"));
        assert_eq!(remote, std::fs::read(folder.join(f)).unwrap(), "{f}");
    }
    for text in [&stdout, &stderr] {
        assert!(!text.contains(&g.secret), "the secret leaked");
    }
}

/// `aifbench compare` with `--s3-*` flags and the key in the environment.
fn compare_cmd(g: &Garage, runs: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_aifbench"));
    c.arg("compare")
        .args([
            "--json",
            "--s3-endpoint",
            &g.endpoint,
            "--s3-region",
            "garage",
        ])
        .args(runs)
        .env("AWS_ACCESS_KEY_ID", &g.key_id)
        .env("AWS_SECRET_ACCESS_KEY", &g.secret)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION");
    c
}

/// `aifbench compare s3://...` reads uploaded results folders exactly as it
/// reads the local ones (same rows, verdicts and intervals), names each
/// run by its URL, and refuses an empty prefix and wrong credentials by
/// name, without the secret in its messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_reads_runs_from_s3_urls_as_it_reads_folders() {
    let g = Garage::start();
    g.wait_ready().await;
    let (url, stop, _) = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = g.store();
    let mut local = Vec::new();
    for run in ["before", "after"] {
        let folder = dir.path().join(run);
        std::fs::create_dir_all(folder.join("clients")).unwrap();
        let output = folder.join("clients/load-index-0.json");
        let out = loadgen(
            &g,
            &url,
            &output,
            &format!("s3://results/cmp/{run}/clients/load-index-0.json"),
            &["--max-requests", "60"],
        )
        .output()
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A file compare must not read sits beside the results.
        store
            .put(
                &format!("cmp/{run}/clients/load-index-0.log"),
                b"x".to_vec(),
                "text/plain",
            )
            .await
            .unwrap();
        local.push(folder);
    }
    stop.cancel();

    let from_s3 = compare_cmd(&g, &["s3://results/cmp/before", "s3://results/cmp/after/"])
        .output()
        .await
        .unwrap();
    let s3_err = String::from_utf8_lossy(&from_s3.stderr).to_string();
    assert!(from_s3.status.success(), "{s3_err}");
    let from_disk = compare_cmd(
        &g,
        &[local[0].to_str().unwrap(), local[1].to_str().unwrap()],
    )
    .output()
    .await
    .unwrap();
    assert!(from_disk.status.success());
    let mut a: serde_json::Value = serde_json::from_slice(&from_s3.stdout).unwrap();
    let mut b: serde_json::Value = serde_json::from_slice(&from_disk.stdout).unwrap();
    assert_eq!(a["runs"][0]["source"], "s3://results/cmp/before");
    assert_eq!(a["runs"][0]["label"], "before");
    assert_eq!(a["runs"][1]["label"], "after");
    assert_eq!(a["runs"][0]["requests"], 60);
    assert!(!a["rows"].as_array().unwrap().is_empty(), "{a:#}");
    for v in [&mut a, &mut b] {
        for run in v["runs"].as_array_mut().unwrap() {
            run.as_object_mut().unwrap().remove("source");
        }
    }
    assert_eq!(
        a, b,
        "the same runs read from S3 and from disk compare the same"
    );

    // An empty prefix: exit 2, named.
    let empty = compare_cmd(&g, &["s3://results/cmp/before", "s3://results/nothing"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&empty.stderr).to_string();
    assert_eq!(empty.status.code(), Some(2), "{text}");
    assert!(
        text.contains("s3://results/nothing: no results there"),
        "{text}"
    );

    // Wrong credentials: exit 2, and no secret in the message.
    let wrong = compare_cmd(&g, &["s3://results/cmp/before", "s3://results/cmp/after"])
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret-0123456789")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&wrong.stderr).to_string();
    assert_eq!(wrong.status.code(), Some(2), "{text}");
    assert!(text.contains("s3://results/"), "{text}");
    assert!(
        !text.contains("wrong-secret-0123456789") && !text.contains(&g.secret),
        "{text}"
    );
}
