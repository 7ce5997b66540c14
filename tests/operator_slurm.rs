//! The operator's Slurm side against the real single-node cluster of
//! scripts/setup-slurm.sh (slurmrestd with JWT, sshd on 127.0.0.1:2222):
//! credentials from a Kubernetes Secret (JWT and SSH key), `BackendReachable`
//! probing, JWT refresh over SSH, cancelling a Benchmark's jobs by name, and
//! a whole Benchmark with a Slurm service and Slurm clients driven by the
//! operator's own reconcile against a fake API server. These tests FAIL
//! when Slurm is not up.

mod common;
mod slurm_support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Logs, component, condition};
use http::{Request, Response};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use aifbench::api::Benchmark;
use aifbench::operator::controller::{Context, Settings, reconcile};
use aifbench::operator::metrics::Metrics;
use aifbench::operator::monitors::MonitorTasks;
use aifbench::operator::rbac;
use aifbench::operator::slurm::{
    ClusterSlurm, SlurmConnector, cancel_matching, credentials_from_secret, probe,
};

/// One test at a time: they share the node, and the SSH test checks that no
/// private folder of this process is left behind.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CANARY: &str = "CANARY-not-a-jwt-7f3a";

fn secret(values: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("slurm-creds".into()),
            ..Default::default()
        },
        string_data: Some(
            values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The Secret keys of SSH access to the loopback sshd.
fn ssh_values(env: &BTreeMap<String, String>) -> Vec<(String, String)> {
    vec![
        ("host".into(), env["AIFB_SSH_HOST"].clone()),
        ("port".into(), env["AIFB_SSH_PORT"].clone()),
        ("user".into(), env["AIFB_SSH_USER"].clone()),
        ("ssh-privatekey".into(), read(&env["AIFB_SSH_KEY"])),
        ("known_hosts".into(), read(&env["AIFB_SSH_KNOWN_HOSTS"])),
    ]
}

fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, s)| (k.as_str(), s.as_str())).collect()
}

fn jwt() -> String {
    read(&slurm_support::slurm_env()["AIFB_SLURM_JWT_FILE"])
        .trim()
        .to_string()
}

/// A token that slurmrestd accepted once and that has expired since.
fn expired_jwt() -> String {
    let out = Command::new("scontrol")
        .args(["token", "lifespan=1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    std::thread::sleep(Duration::from_secs(2));
    text.trim()
        .strip_prefix("SLURM_JWT=")
        .unwrap_or_else(|| panic!("scontrol token: {text}"))
        .to_string()
}

fn queued(name: &str) -> bool {
    let out = Command::new("squeue")
        .args(["-h", "-n", name, "-o", "%i %T"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .any(|l| l.contains("PENDING") || l.contains("RUNNING"))
}

fn sbatch_sleeper(name: &str) -> String {
    let env = slurm_support::slurm_env();
    let out = Command::new("sbatch")
        .args([
            "--parsable",
            "-J",
            name,
            "-p",
            &env["AIFB_SLURM_PARTITION"],
            "-o",
            "/dev/null",
        ])
        .args(["--wrap", "sleep 120"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Private folders of this process (`aifb-<pid>-*`) in the temp folder.
fn private_dirs() -> Vec<String> {
    let prefix = format!("aifb-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

#[tokio::test]
async fn rest_connector_probes_and_cancels_a_benchmarks_jobs() {
    let _serial = SERIAL.lock().await;
    let env = slurm_support::slurm_env();
    let url = env["AIFB_SLURM_REST_URL"].clone();
    let slurm = ClusterSlurm::default();
    let creds = credentials_from_secret(&secret(&[
        ("url", &url),
        ("token", &jwt()),
        ("user", "root"),
    ]))
    .unwrap();
    let how = probe(&slurm, &creds)
        .await
        .expect("slurmrestd reachable with the JWT");
    assert_eq!(how, format!("slurmrestd at {url}"));

    // Two jobs of "this" Benchmark and one of another: only ours go.
    let other = sbatch_sleeper("aifb-othrbnch-sim");
    sbatch_sleeper("aifb-opertest-g1-sim");
    sbatch_sleeper("aifb-opertest-g1-chat-1");
    let session = slurm.connect(&creds).await.unwrap();
    let ids = cancel_matching(session.as_ref(), "aifb-opertest-", None)
        .await
        .unwrap();
    session.close().await;
    assert_eq!(ids.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(20);
    while queued("aifb-opertest-g1-sim") || queued("aifb-opertest-g1-chat-1") {
        assert!(Instant::now() < deadline, "jobs still queued after cancel");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        queued("aifb-othrbnch-sim"),
        "another Benchmark's job was cancelled"
    );
    let _ = Command::new("scancel").arg(&other).status();
}

#[tokio::test]
async fn ssh_connector_probes_and_cancels_with_a_key_from_the_secret() {
    let _serial = SERIAL.lock().await;
    let env = slurm_support::slurm_env();
    let slurm = ClusterSlurm::default();
    let values = ssh_values(&env);
    let key = values[3].1.clone();
    let creds = credentials_from_secret(&secret(&as_refs(&values))).unwrap();
    let how = probe(&slurm, &creds).await.expect("reachable over SSH");
    assert_eq!(
        how,
        format!("ssh to root@127.0.0.1:{}", env["AIFB_SSH_PORT"])
    );
    assert_eq!(private_dirs(), Vec::<String>::new(), "key folder removed");

    sbatch_sleeper("aifb-sshtest1-g1-sim");
    let session = slurm.connect(&creds).await.unwrap();
    assert!(
        !private_dirs().is_empty(),
        "the key lives in a private folder"
    );
    let ids = cancel_matching(session.as_ref(), "aifb-sshtest1-", None)
        .await
        .unwrap();
    session.close().await;
    assert_eq!(ids.len(), 1);
    assert_eq!(private_dirs(), Vec::<String>::new(), "key folder removed");

    // A key the server does not know: unreachable, and the key is not
    // quoted anywhere.
    let mut wrong = values.clone();
    let other_key = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(std::env::temp_dir().join(format!("aifb-test-key-{}", std::process::id())))
        .status()
        .unwrap();
    assert!(other_key.success());
    let kpath = std::env::temp_dir().join(format!("aifb-test-key-{}", std::process::id()));
    wrong[3].1 = std::fs::read_to_string(&kpath).unwrap();
    let _ = std::fs::remove_file(&kpath);
    let _ = std::fs::remove_file(kpath.with_extension("pub"));
    let bad = credentials_from_secret(&secret(&as_refs(&wrong))).unwrap();
    let f = probe(&slurm, &bad).await.unwrap_err();
    assert_eq!(f.reason, "Unreachable", "{f:?}");
    assert!(!f.message.contains("PRIVATE KEY"), "{f:?}");
    assert!(!f.message.contains(key.lines().nth(1).unwrap()), "{f:?}");
    // A host key that does not match known_hosts: refused (strict
    // checking).
    let mut spoofed = values.clone();
    spoofed[4].1 = format!(
        "[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHfcvWJ0pOZ0Nq4Xy1uGq6lGk9W0z9Lq6m9CwQz3YV4a\n",
        env["AIFB_SSH_PORT"]
    );
    let spoofed = credentials_from_secret(&secret(&as_refs(&spoofed))).unwrap();
    assert_eq!(
        probe(&slurm, &spoofed).await.unwrap_err().reason,
        "Unreachable"
    );
    assert_eq!(private_dirs(), Vec::<String>::new(), "key folder removed");
}

#[tokio::test]
async fn refused_jwt_is_refreshed_over_ssh_and_never_shown() {
    let _serial = SERIAL.lock().await;
    let env = slurm_support::slurm_env();
    let url = env["AIFB_SLURM_REST_URL"].clone();
    let slurm = ClusterSlurm::new(Duration::from_secs(600));

    // A wrong token alone: TokenRejected, and the token is not echoed.
    let bad = credentials_from_secret(&secret(&[
        ("url", &url),
        ("token", CANARY),
        ("user", "root"),
    ]))
    .unwrap();
    let f = probe(&slurm, &bad).await.unwrap_err();
    assert_eq!(f.reason, "TokenRejected", "{f:?}");
    assert!(!f.message.contains(CANARY), "{f:?}");
    assert!(f.message.contains("SSH"), "says how to fix it: {f:?}");

    // An expired token plus SSH access: a fresh token is minted over SSH
    // and used.
    let expired = expired_jwt();
    let mut values = ssh_values(&env);
    values.push(("url".into(), url.clone()));
    values.push(("token".into(), expired.clone()));
    let creds = credentials_from_secret(&secret(&as_refs(&values))).unwrap();
    let how = probe(&slurm, &creds).await.expect("refreshed");
    assert_eq!(
        how,
        format!("slurmrestd at {url} with a JWT minted over SSH")
    );
    // The minted token is reused while it lasts ...
    let how = probe(&slurm, &creds).await.expect("cached token");
    assert!(how.contains("minted over SSH"), "{how}");
    // ... but only with exactly these credentials: another Secret naming
    // the same slurmrestd and user, with the same expired token and an SSH
    // port nothing listens on, gets nothing from it.
    let mut other = creds.clone();
    other.port = Some(1);
    let f = probe(&slurm, &other).await.unwrap_err();
    assert_eq!(f.reason, "TokenRejected", "{f:?}");
    // A rotated Secret token is tried first (and works).
    let mut rotated = creds.clone();
    rotated.token = Some(aifbench::operator::slurm::SecretValue::new(jwt()));
    assert_eq!(
        probe(&slurm, &rotated).await.unwrap(),
        format!("slurmrestd at {url}")
    );

    // A wrong token plus SSH access: refreshed too; the canary appears
    // nowhere.
    let mut values = ssh_values(&env);
    values.push(("url".into(), url.clone()));
    values.push(("token".into(), CANARY.into()));
    let creds = credentials_from_secret(&secret(&as_refs(&values))).unwrap();
    let fresh = ClusterSlurm::default();
    let how = probe(&fresh, &creds).await.expect("refreshed");
    assert!(how.contains("minted over SSH"), "{how}");
    assert!(!format!("{fresh:?}").contains(CANARY));
    assert_eq!(private_dirs(), Vec::<String>::new(), "key folder removed");
}

// ---- a whole Benchmark through the operator's reconcile ----------------

/// A fake API server that answers what a reconcile asks: empty child lists,
/// the Secret, status writes (kept), events. Every request is checked
/// against the chart's RBAC and recorded.
struct FakeApi {
    status: Arc<Mutex<Option<Value>>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeApi {
    /// Gives `bm` the last status written (if any) and the next
    /// resourceVersion, as a watch would deliver it; returns that status.
    fn adopt_status(&self, bm: &mut Benchmark) -> Option<Value> {
        let st = self.status.lock().unwrap().clone()?;
        bm.status = Some(serde_json::from_value(st.clone()).unwrap());
        let rv: u64 = bm
            .metadata
            .resource_version
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        bm.metadata.resource_version = Some((rv + 1).to_string());
        Some(st)
    }
}

/// One reconcile of `bm`; panics on its error.
async fn reconcile_ok(bm: &Benchmark, ctx: &Arc<Context>) {
    reconcile(Arc::new(bm.clone()), ctx.clone())
        .await
        .unwrap_or_else(|e| panic!("reconcile: {e}"));
}

fn spawn_api(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    bm: Benchmark,
    secret: Value,
) -> FakeApi {
    let status = Arc::new(Mutex::new(None));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (st, sn) = (status.clone(), seen.clone());
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let method = req.method().to_string();
            let path = req.uri().path().to_string();
            let query = req.uri().query().unwrap_or_default().to_string();
            let bytes = req.into_body().collect_bytes().await.expect("body");
            let text = String::from_utf8_lossy(&bytes).to_string();
            let (group, resource, verb) = rbac::request_verb(&method, &path, &query)
                .unwrap_or_else(|| panic!("not a resource request: {method} {path}"));
            let rules: Vec<rbac::Rule> = [rbac::BENCHMARK_RULES, rbac::SECRET_RULES].concat();
            assert!(
                rbac::allows(&rules, &group, &resource, &verb),
                "{method} {path}: not granted by the chart's RBAC"
            );
            sn.lock()
                .unwrap()
                .push(format!("{method} {path}?{query} {text}"));
            let list = |kind: &str| json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "1"}, "items": []});
            let (code, body) = match (method.as_str(), path.as_str()) {
                ("GET", p) if p.ends_with("/pods") => (200, list("PodList")),
                ("GET", p) if p.ends_with("/jobs") => (200, list("JobList")),
                ("GET", p) if p.ends_with("/services") => (200, list("ServiceList")),
                ("GET", p) if p.ends_with("/secrets/slurm-creds") => (200, secret.clone()),
                ("PATCH", p) if p.ends_with("/benchmarks/bm/status") => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    *st.lock().unwrap() = Some(v["status"].clone());
                    let mut b = serde_json::to_value(&bm).unwrap();
                    b["status"] = v["status"].clone();
                    (200, b)
                }
                // The finalizer's removal after the cleanup.
                ("PATCH", p) if p.ends_with("/benchmarks/bm") => {
                    (200, serde_json::to_value(&bm).unwrap())
                }
                ("POST", p) if p.ends_with("/events") => {
                    (201, serde_json::from_str(&text).unwrap())
                }
                _ => panic!("unexpected request {method} {path}"),
            };
            send.send_response(
                Response::builder()
                    .status(code)
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap(),
            );
        }
    });
    FakeApi { status, seen }
}

/// Cancels every job of a uid prefix when dropped (also when a test
/// fails).
struct CancelPrefix(String);

impl Drop for CancelPrefix {
    fn drop(&mut self) {
        slurm_support::cancel_active(&self.0);
    }
}

/// `stopped`: the clients would run for a minute, the run's
/// `execution.duration` stops them after 4 s (SIGTERM to the jobs; they
/// still post their summaries).
fn slurm_benchmark(uid: &str, workspace: &std::path::Path, stopped: bool) -> Benchmark {
    let env = slurm_support::slurm_env();
    let partition = &env["AIFB_SLURM_PARTITION"];
    let exe = env!("CARGO_BIN_EXE_aifbench");
    serde_norway::from_str(&format!(
        r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata:
  name: bm
  namespace: team
  uid: {uid}
  generation: 1
  resourceVersion: "1"
  finalizers: [aifbench.io/cleanup]
  annotations:
    aifbench.io/slurm-secret: slurm-creds
    aifbench.io/slurm-aifbench: {exe}
spec:
  workspace: {ws}
  services:
    - id: sim
      executor: slurm
      command: [aifbench, sim, --port, "{{{{port}}}}", --host, 0.0.0.0, --model, sim-model,
                --ttft, 20ms, --itl, 5ms, --output-tokens, "16"]
      ports: [{{name: http, port: 0}}]
      healthcheck: {{path: /health, interval: 200ms, timeout: 60s}}
      slurm: {{partition: {partition}, ntasks: 1, cpusPerTask: 1, time: 5m}}
  clients:
    - id: chat
      instances: 2
      executor: slurm
      target: sim
      workload: {{type: openai, openai: {{api: chat, stream: true, maxTokens: 16}}}}
      load: {{concurrency: 2, duration: {client_duration}}}
      slurm: {{partition: {partition}, ntasks: 1, cpusPerTask: 1, time: 5m}}
  execution:{execution_duration}
    queueDeadline: 2m
    runDeadline: 4m
    stopGracePeriod: 5s
    postActions: [collectMetrics, stopServices, report]
"#,
        ws = workspace.display(),
        client_duration = if stopped { "60s" } else { "3s" },
        execution_duration = if stopped { "\n    duration: 4s" } else { "" },
    ))
    .unwrap()
}

/// Drives one Benchmark through `reconcile` until it finishes; returns the
/// final status, every (component, state) seen, and the API requests.
async fn run_benchmark(
    secret_values: &[(String, String)],
    stopped: bool,
) -> (Value, Vec<(String, String)>, String) {
    let uid = format!("{:08x}-0000-0000-0000-000000000000", rand::random::<u32>());
    let prefix = format!("aifb-{}-", &uid[..8]);
    let _cancel = CancelPrefix(prefix.clone());
    let ws = tempfile::tempdir().unwrap();
    let mut bm = slurm_benchmark(&uid, ws.path(), stopped);
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "slurm-creds", "namespace": "team"},
        "stringData": secret_values.iter().cloned().collect::<BTreeMap<_, _>>()});
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let api = spawn_api(handle, bm.clone(), secret);
    let ctx = context(service, ws.path());
    let mut seen_states = Vec::new();
    let start = Instant::now();
    let mut first = true;
    loop {
        reconcile_ok(&bm, &ctx).await;
        if first {
            // The first status write "lost" (a restarted operator, or a
            // 409): the same Benchmark again launches again, and the
            // submitted job is adopted by its name, not submitted twice.
            reconcile_ok(&bm, &ctx).await;
            first = false;
        }
        if let Some(st) = api.adopt_status(&mut bm) {
            for c in st["components"].as_array().into_iter().flatten() {
                let pair = (
                    c["id"].as_str().unwrap_or_default().to_string(),
                    c["state"].as_str().unwrap_or_default().to_string(),
                );
                if !seen_states.contains(&pair) {
                    eprintln!(
                        "{:>5.1}s {} {}",
                        start.elapsed().as_secs_f64(),
                        pair.0,
                        pair.1
                    );
                    seen_states.push(pair);
                }
            }
        }
        let phase = bm.status.as_ref().map(|s| s.phase.to_string());
        eprintln!("{:>5.1}s phase {phase:?}", start.elapsed().as_secs_f64());
        if matches!(phase.as_deref(), Some("Succeeded" | "Failed" | "Cancelled")) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "not finished: {:#}",
            serde_json::to_value(&bm.status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let status = serde_json::to_value(&bm.status).unwrap();
    let seen = api.seen.lock().unwrap().join("\n");
    // Every component was submitted once; nothing is left in the queue.
    let jobs = slurm_support::jobs(&prefix);
    let mut names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("{prefix}g1-chat-1"),
            format!("{prefix}g1-chat-2"),
            format!("{prefix}g1-sim")
        ],
        "{jobs:?}"
    );
    let left = slurm_support::wait_no_active(&prefix, Duration::from_secs(20));
    assert!(left.is_empty(), "jobs left in the queue: {left:?}");
    // The clients' full results are in the results folder on the cluster
    // (a repeated first reconcile may have named another folder for the
    // service's port file: the run's start time comes from the status).
    let folders: Vec<std::path::PathBuf> = std::fs::read_dir(ws.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with("bm-"))
        .collect();
    assert!(
        folders.iter().any(|f| ["chat-1", "chat-2"]
            .iter()
            .all(|id| f.join(format!("clients/{id}.json")).is_file())),
        "client results in {folders:?}"
    );
    (status, seen_states, seen)
}

fn assert_succeeded(status: &Value, states: &[(String, String)], stopped: bool) {
    assert_eq!(status["phase"], "Succeeded", "{status:#}");
    let has = |id: &str, state: &str| states.iter().any(|(i, s)| i == id && s == state);
    assert!(has("sim", "Ready"), "{states:?}");
    assert!(
        has("chat-1", "Running") || has("chat-2", "Running"),
        "{states:?}"
    );
    let end = |id: &str| has(id, "Succeeded") || (stopped && has(id, "Stopped"));
    if stopped {
        assert!(
            has("chat-1", "Stopping") && has("chat-2", "Stopping"),
            "{states:?}"
        );
    }
    assert!(end("chat-1") && end("chat-2"), "{states:?}");
    let sim = component(status, "sim");
    assert!(sim["jobId"].as_str().is_some(), "{sim:#}");
    assert!(
        sim["endpoint"]
            .as_str()
            .is_some_and(|e| e.starts_with("http://")),
        "{sim:#}"
    );
    let requests = status["summary"]["requests"].as_u64().unwrap_or(0);
    assert!(
        requests > 0,
        "the client jobs' summaries came back: {status:#}"
    );
    let reach = condition(status, "BackendReachable");
    assert_eq!(reach["status"], "True", "{reach}");
}

#[tokio::test]
async fn operator_runs_a_slurm_benchmark_over_ssh() {
    let _serial = SERIAL.lock().await;
    let env = slurm_support::slurm_env();
    let values = ssh_values(&env);
    let key_line = values[3].1.lines().nth(1).unwrap().to_string();
    let (status, states, seen) = run_benchmark(&values, true).await;
    assert_succeeded(&status, &states, true);
    assert!(
        !seen.contains(&key_line),
        "the SSH key reached the API server"
    );
    assert_eq!(private_dirs(), Vec::<String>::new(), "key folder removed");
}

#[tokio::test(flavor = "current_thread")]
async fn operator_runs_a_slurm_benchmark_through_slurmrestd_with_a_refreshed_jwt() {
    let _serial = SERIAL.lock().await;
    let (logs, _guard) = Logs::capture();
    let env = slurm_support::slurm_env();
    let mut values = ssh_values(&env);
    values.push(("url".into(), env["AIFB_SLURM_REST_URL"].clone()));
    values.push(("token".into(), CANARY.into()));
    let (status, states, seen) = run_benchmark(&values, false).await;
    assert_succeeded(&status, &states, false);
    let reach = condition(&status, "BackendReachable").clone();
    assert!(
        reach["message"]
            .as_str()
            .unwrap()
            .contains("minted over SSH"),
        "{reach}"
    );
    // The canary was only ever in the Secret: no status, event or other
    // request carries it.
    let requests: Vec<&str> = seen
        .lines()
        .filter(|l| !l.starts_with("GET /api/v1/namespaces/team/secrets/"))
        .collect();
    assert!(!requests.join("\n").contains(CANARY));
    // Neither the canary nor any JWT (the minted one included: they all
    // start with the header "eyJ") reaches the log or the API server.
    let logs = logs.text();
    assert!(logs.contains("minted over SSH"), "logs were captured");
    for (what, text) in [("logs", &logs), ("requests", &requests.join("\n"))] {
        assert!(!text.contains(CANARY), "canary in {what}");
        assert!(!text.contains("eyJ"), "a JWT in {what}:\n{text}");
    }
}

#[tokio::test]
async fn deleting_a_running_slurm_benchmark_cancels_its_jobs() {
    let _serial = SERIAL.lock().await;
    let env = slurm_support::slurm_env();
    let uid = format!("{:08x}-0000-0000-0000-000000000000", rand::random::<u32>());
    let prefix = format!("aifb-{}-", &uid[..8]);
    let _cancel = CancelPrefix(prefix.clone());
    let ws = tempfile::tempdir().unwrap();
    // Clients that would run for a minute.
    let mut bm = slurm_benchmark(&uid, ws.path(), true);
    bm.spec.execution.duration = None;
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "slurm-creds", "namespace": "team"},
        "stringData": {"url": env["AIFB_SLURM_REST_URL"], "user": "root", "token": jwt()}});
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let api = spawn_api(handle, bm.clone(), secret);
    let ctx = context(service, ws.path());
    let start = Instant::now();
    // Until the clients run.
    loop {
        reconcile_ok(&bm, &ctx).await;
        api.adopt_status(&mut bm);
        let running = bm.status.as_ref().is_some_and(|s| {
            s.components
                .iter()
                .filter(|c| c.id.starts_with("chat-"))
                .all(|c| c.state == aifbench::api::status::ComponentState::Running)
        });
        if running {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "clients never ran: {:#}",
            serde_json::to_value(&bm.status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(slurm_support::active_jobs(&prefix).len(), 3);
    // kubectl delete: the finalizer cancels every job of the Benchmark.
    bm.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::now(),
    ));
    reconcile_ok(&bm, &ctx).await;
    let left = slurm_support::wait_no_active(&prefix, Duration::from_secs(20));
    assert!(left.is_empty(), "jobs left after deletion: {left:?}");
    let seen = api.seen.lock().unwrap().join("\n");
    assert!(
        seen.lines().any(|l| l
            .starts_with("PATCH /apis/aifbench.io/v1alpha1/namespaces/team/benchmarks/bm?")
            && l.contains("remove")),
        "the finalizer was removed:\n{seen}"
    );
}

/// An operator context on the mocked API server, with the real Slurm
/// connector and results under `workspace`.
fn context(
    service: tower_test::mock::Mock<Request<Body>, Response<Body>>,
    workspace: &std::path::Path,
) -> Arc<Context> {
    Arc::new(Context {
        client: Client::new(service, "default"),
        settings: Settings {
            image: "aifbench:test".into(),
            results_root: workspace.join("operator"),
            instance: "op-0".into(),
            requeue: Duration::from_secs(1),
            ..Settings::default()
        },
        metrics: Arc::new(Metrics::new()),
        monitors: Arc::new(MonitorTasks::new()),
        slurm: Arc::new(ClusterSlurm::default()),
        clock: Arc::new(Timestamp::now),
    })
}
