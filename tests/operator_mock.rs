//! The operator's API traffic against a mocked API server (tower-test): each
//! scenario scripts the exact requests one reconcile must make — method,
//! path, query and the parts of the body that matter — and answers them.
//! A changed, missing or extra request fails the scenario.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Logs, component, condition};
use futures::future::BoxFuture;
use http::{Request, Response};
use jiff::Timestamp;
use kube::Client;
use kube::client::Body;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use aifbench::api::Benchmark;
use aifbench::backend::slurm::render::JobRequest;
use aifbench::backend::slurm::state::{JobInfo, SlurmState};
use aifbench::operator::controller::{Context, Error, Settings, error_policy, reconcile};
use aifbench::operator::metrics::Metrics;
use aifbench::operator::monitors::MonitorTasks;
use aifbench::operator::rbac;
use aifbench::operator::slurm::{SlurmConnector, SlurmCredentials, SlurmFailure, SlurmSession};

const CANARY: &str = "CANARY-s3cr3t-7f3a9c";
const BM_PATH: &str = "/apis/aifbench.io/v1alpha1/namespaces/team/benchmarks/bm";
const PODS: &str = "/api/v1/namespaces/team/pods";
const JOBS: &str = "/apis/batch/v1/namespaces/team/jobs";
const SERVICES: &str = "/api/v1/namespaces/team/services";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/team/events";
const SELECTOR: &str =
    "labelSelector=app.kubernetes.io%2Fmanaged-by%3Daifbench%2Caifbench.io%2Fbenchmark%3Dbm";

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// The scripted API server: every request seen, and every body, for the
/// canary search.
struct ApiServer {
    handle: Handle,
    seen: Arc<Mutex<Vec<String>>>,
}

impl ApiServer {
    /// Expects the next request to be `method path` (path without query;
    /// `query` must be contained in the query string), answers `status`
    /// with `resp` (None: echo the request body) and returns the body.
    async fn expect(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        status: u16,
        resp: Option<Value>,
    ) -> Value {
        let (req, send) = tokio::time::timeout(Duration::from_secs(10), self.handle.next_request())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {method} {path}"))
            .unwrap_or_else(|| panic!("no request; expected {method} {path}"));
        let uri = req.uri().clone();
        let got = format!("{} {}", req.method(), uri.path());
        let q = uri.query().unwrap_or_default().to_string();
        let bytes = req.into_body().collect_bytes().await.expect("body");
        let text = String::from_utf8_lossy(&bytes).to_string();
        assert_eq!(
            got,
            format!("{method} {path}"),
            "unexpected request {uri} with body {text}"
        );
        let (group, resource, verb) = rbac::request_verb(method, path, &q)
            .unwrap_or_else(|| panic!("not a resource request: {got}"));
        let rules: Vec<rbac::Rule> = [rbac::BENCHMARK_RULES, rbac::SECRET_RULES].concat();
        assert!(
            rbac::allows(&rules, &group, &resource, &verb),
            "{got}: the chart's RBAC does not grant {verb} on {group}/{resource}"
        );
        for part in query.split('&').filter(|p| !p.is_empty()) {
            assert!(
                q.split('&').any(|x| x == part),
                "{got}: query {q:?} lacks {part:?}"
            );
        }
        self.seen.lock().unwrap().push(format!("{got}?{q} {text}"));
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("json body")
        };
        let resp = resp.unwrap_or_else(|| body.clone());
        send.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(&resp).unwrap()))
                .unwrap(),
        );
        body
    }

    async fn lists(&mut self, pods: Vec<Value>, jobs: Vec<Value>, services: Vec<Value>) {
        self.expect("GET", PODS, SELECTOR, 200, Some(list("PodList", pods)))
            .await;
        self.expect("GET", JOBS, SELECTOR, 200, Some(list("JobList", jobs)))
            .await;
        self.expect(
            "GET",
            SERVICES,
            SELECTOR,
            200,
            Some(list("ServiceList", services)),
        )
        .await;
    }

    async fn apply(&mut self, path: &str) -> Value {
        self.expect("PATCH", path, "fieldManager=aifbench&force=true", 200, None)
            .await
    }

    async fn status(&mut self, bm: &Benchmark, code: u16) -> Value {
        let resp = if code == 409 {
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409,
                   "message": "the object has been modified; please apply your changes to the latest version", "metadata": {}})
        } else {
            serde_json::to_value(bm).unwrap()
        };
        let body = self
            .expect(
                "PATCH",
                &format!("{BM_PATH}/status"),
                "fieldManager=aifbench&force=true",
                code,
                Some(resp),
            )
            .await;
        assert_eq!(
            body["metadata"]["resourceVersion"],
            json!(bm.metadata.resource_version),
            "optimistic concurrency"
        );
        body
    }

    async fn event(&mut self, reason: &str, type_: &str) -> Value {
        let body = self.expect("POST", EVENTS, "", 201, None).await;
        assert_eq!(body["reason"], json!(reason), "{body}");
        assert_eq!(body["type"], json!(type_), "{body}");
        assert_eq!(body["regarding"]["name"], json!("bm"));
        body
    }

    /// The operator reads the Secret `name` (in the Benchmark's namespace).
    async fn secret(&mut self, name: &str, secret: Value) {
        let path = format!("/api/v1/namespaces/team/secrets/{name}");
        self.expect("GET", &path, "", 200, Some(secret)).await;
    }

    async fn delete(&mut self, path: &str) -> Value {
        let ok = json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}});
        self.expect("DELETE", path, "", 200, Some(ok)).await
    }

    async fn done(mut self) {
        if let Ok(Some((req, _))) =
            tokio::time::timeout(Duration::from_millis(200), self.handle.next_request()).await
        {
            panic!("unexpected extra request {} {}", req.method(), req.uri());
        }
    }
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items})
}

/// A fake Slurm transport whose errors quote the token (as a careless one
/// might), recording what it was asked. Unreachable until `reachable` is
/// set; then it lists one running job of the Benchmark and one of another.
#[derive(Default)]
struct FakeSlurm {
    reachable: std::sync::atomic::AtomicBool,
    cancelled: Arc<Mutex<Vec<String>>>,
    submitted: Arc<Mutex<Vec<JobRequest>>>,
    /// What the session lists; None: one running job of this Benchmark
    /// and one of another.
    jobs: Arc<Mutex<Option<Vec<JobInfo>>>>,
}

struct FakeSession {
    cancelled: Arc<Mutex<Vec<String>>>,
    submitted: Arc<Mutex<Vec<JobRequest>>>,
    jobs: Arc<Mutex<Option<Vec<JobInfo>>>>,
}

fn fake_job(id: &str, name: &str) -> JobInfo {
    JobInfo {
        job_id: id.into(),
        name: name.into(),
        state: SlurmState::Running,
        reason: None,
        node: Some("n1".into()),
        exit_code: None,
        signal: None,
        comment: None,
    }
}

impl SlurmSession for FakeSession {
    fn describe(&self) -> String {
        "fake".into()
    }
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobInfo>, String>> {
        let jobs = self.jobs.lock().unwrap().clone().unwrap_or_else(|| {
            vec![
                fake_job("7", "aifb-1234abcd-g1-sim"),
                fake_job("8", "aifb-99999999-g1-sim"),
            ]
        });
        Box::pin(async move { Ok(jobs) })
    }
    fn submit<'a>(&'a self, req: &'a JobRequest) -> BoxFuture<'a, Result<String, String>> {
        self.submitted.lock().unwrap().push(req.clone());
        Box::pin(async { Ok("100".to_string()) })
    }
    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), String>> {
        self.cancelled.lock().unwrap().extend(ids.iter().cloned());
        Box::pin(async { Ok(()) })
    }
    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), String>> {
        self.cancelled
            .lock()
            .unwrap()
            .extend(ids.iter().map(|i| format!("TERM {i}")));
        Box::pin(async { Ok(()) })
    }
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

impl SlurmConnector for FakeSlurm {
    fn connect<'a>(
        &'a self,
        creds: &'a SlurmCredentials,
    ) -> BoxFuture<'a, Result<Box<dyn SlurmSession>, SlurmFailure>> {
        let token = creds
            .token
            .as_ref()
            .map(|t| t.expose().to_string())
            .unwrap_or_default();
        let reachable = self.reachable.load(std::sync::atomic::Ordering::SeqCst);
        let session = FakeSession {
            cancelled: self.cancelled.clone(),
            submitted: self.submitted.clone(),
            jobs: self.jobs.clone(),
        };
        Box::pin(async move {
            if reachable {
                Ok(Box::new(session) as Box<dyn SlurmSession>)
            } else {
                Err(SlurmFailure {
                    reason: "Unreachable",
                    message: format!("401 Unauthorized for token {token}"),
                })
            }
        })
    }
}

struct Fixture {
    ctx: Arc<Context>,
    server: ApiServer,
    metrics: Arc<Metrics>,
    slurm: Arc<FakeSlurm>,
}

fn now() -> Timestamp {
    "2026-11-29T03:00:00Z".parse().unwrap()
}

fn fixture() -> Fixture {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let metrics = Arc::new(Metrics::new());
    let slurm = Arc::new(FakeSlurm::default());
    let ctx = Arc::new(Context {
        client,
        settings: Settings {
            image: "aifbench:test".into(),
            results_root: std::env::temp_dir().join("aifbench-operator-mock"),
            instance: "op-0".into(),
            requeue: Duration::from_secs(5),
            ..Settings::default()
        },
        metrics: metrics.clone(),
        monitors: Arc::new(MonitorTasks::new()),
        slurm: slurm.clone(),
        clock: Arc::new(now),
    });
    Fixture {
        ctx,
        server: ApiServer {
            handle,
            seen: Arc::new(Mutex::new(Vec::new())),
        },
        metrics,
        slurm,
    }
}

fn benchmark() -> Benchmark {
    serde_norway::from_str(
        r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata:
  name: bm
  namespace: team
  uid: 1234abcd-0000-0000-0000-000000000000
  generation: 1
  resourceVersion: "100"
  finalizers: [aifbench.io/cleanup]
spec:
  services:
    - id: sim
      executor: pod
      command: [aifbench, sim, --port, "{{port}}"]
      ports: [{name: http, port: 8000}]
      healthcheck: {path: /health, timeout: 60s}
      pod: {image: "aifbench:test"}
  clients:
    - id: load
      executor: pod
      instances: 2
      target: sim
      workload: {type: openai}
      load: {concurrency: 2, maxRequests: 10}
      pod: {image: "aifbench:test"}
"#,
    )
    .expect("fixture")
}

/// Starts one reconcile in a task.
fn start(f: &Fixture, bm: &Benchmark) -> tokio::task::JoinHandle<Result<Action, Error>> {
    let ctx = f.ctx.clone();
    let obj = Arc::new(bm.clone());
    tokio::spawn(async move { reconcile(obj, ctx).await })
}

/// Its result; a request beyond the script fails the test.
async fn finish(
    server: &mut ApiServer,
    h: tokio::task::JoinHandle<Result<Action, Error>>,
) -> Result<Action, Error> {
    let extra = async {
        match server.handle.next_request().await {
            Some((req, _)) => format!("{} {}", req.method(), req.uri()),
            None => "nothing".to_string(),
        }
    };
    tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(20), h) => r.expect("reconcile timed out").expect("reconcile panicked"),
        req = extra => panic!("unexpected extra request: {req}"),
    }
}

/// Runs one reconcile of `$bm` while `$body` answers its requests as `$s`.
macro_rules! reconcile_with {
    ($f:ident, $bm:expr, |$s:ident| $body:block) => {{
        let h = start(&$f, &$bm);
        {
            let $s = &mut $f.server;
            $body
        }
        finish(&mut $f.server, h).await
    }};
}

fn labels(component: &str, role: &str, generation: i64, index: Option<u32>) -> Value {
    let mut l = json!({
        "app.kubernetes.io/managed-by": "aifbench",
        "aifbench.io/benchmark": "bm",
        "aifbench.io/component": component,
        "aifbench.io/role": role,
        "aifbench.io/generation": generation.to_string(),
    });
    if let Some(i) = index {
        l["batch.kubernetes.io/job-completion-index"] = json!(i.to_string());
    }
    l
}

fn pod(name: &str, labels: Value, status: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "team", "labels": labels, "creationTimestamp": "2026-11-29T02:59:00Z"},
           "spec": {"containers": [{"name": "c"}], "nodeName": "node-1"},
           "status": status})
}

fn running_ready() -> Value {
    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
           "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                                  "state": {"running": {}}}]})
}

fn running() -> Value {
    json!({"phase": "Running", "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": true,
           "restartCount": 0, "state": {"running": {}}}]})
}

fn exited(phase: &str, code: i32, message: Option<Value>) -> Value {
    let mut term =
        json!({"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }});
    if let Some(m) = message {
        term["message"] = json!(m.to_string());
    }
    json!({"phase": phase, "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false,
           "restartCount": 0, "state": {"terminated": term}}]})
}

fn summary(requests: u64, throughput: f64, p99: f64) -> Value {
    json!({"requests": requests, "errors": 0, "durationSeconds": 5.0, "requestThroughput": throughput,
           "latencyP50Ms": 10.0, "latencyP99Ms": p99})
}

fn with_status(bm: &Benchmark, status_patch: &Value, rv: &str) -> Benchmark {
    let mut b = bm.clone();
    b.status = Some(serde_json::from_value(status_patch["status"].clone()).expect("status"));
    b.metadata.resource_version = Some(rv.into());
    b
}

fn sim_pod(status: Value) -> Value {
    pod("bm-g1-sim", labels("service", "sim", 1, None), status)
}

fn client_pod(i: u32, status: Value) -> Value {
    pod(
        &format!("bm-g1-load-{i}"),
        labels("client", "load", 1, Some(i)),
        status,
    )
}

#[tokio::test]
async fn new_benchmark_runs_to_succeeded() {
    let mut f = fixture();
    // First sight: the finalizer is added, nothing else.
    let mut fresh = benchmark();
    fresh.metadata.finalizers = None;
    let r = reconcile_with!(f, fresh, |s| {
        let body = s
            .expect(
                "PATCH",
                BM_PATH,
                "",
                200,
                Some(serde_json::to_value(benchmark()).unwrap()),
            )
            .await;
        assert!(body.to_string().contains("aifbench.io/cleanup"), "{body}");
    })
    .unwrap();
    assert_eq!(r, Action::await_change());

    // Pending -> Launching: the service's Service and Pod are applied.
    let bm = benchmark();
    let mut status: Value;
    let r = reconcile_with!(f, bm, |s| {
        s.lists(vec![], vec![], vec![]).await;
        let svc = s.apply(&format!("{SERVICES}/bm-g1-sim")).await;
        assert_eq!(svc["spec"]["ports"][0]["port"], json!(8000));
        assert_eq!(
            svc["metadata"]["ownerReferences"][0]["kind"],
            json!("Benchmark")
        );
        assert_eq!(
            svc["metadata"]["ownerReferences"][0]["controller"],
            json!(true)
        );
        let p = s.apply(&format!("{PODS}/bm-g1-sim")).await;
        let c = &p["spec"]["containers"][0];
        assert_eq!(c["command"], json!(["aifbench", "sim", "--port", "8000"]));
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], json!("/health"));
        assert_eq!(
            p["metadata"]["labels"]["aifbench.io/component"],
            json!("service")
        );
        assert_eq!(p["spec"]["restartPolicy"], json!("Never"));
        status = s.status(&benchmark(), 200).await;
        assert_eq!(status["status"]["phase"], json!("Launching"));
        assert_eq!(status["status"]["observedGeneration"], json!(1));
        s.event("Launching", "Normal").await;
    })
    .unwrap();
    assert_eq!(r, Action::requeue(Duration::from_secs(5)));

    // The service is ready: WaitingReady -> Running, the client Job applied.
    let bm = with_status(&benchmark(), &status, "101");
    let r = reconcile_with!(f, bm, |s| {
        s.lists(vec![sim_pod(running_ready())], vec![], vec![])
            .await;
        let job = s.apply(&format!("{JOBS}/bm-g1-load")).await;
        assert_eq!(job["spec"]["completionMode"], json!("Indexed"));
        assert_eq!(job["spec"]["completions"], json!(2));
        assert_eq!(job["spec"]["parallelism"], json!(2));
        let tpl = &job["spec"]["template"];
        let config: Value = serde_json::from_str(
            tpl["metadata"]["annotations"]["aifbench.io/loadgen-config"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(config["baseUrl"], json!("http://bm-g1-sim.team.svc:8000"));
        let c = &tpl["spec"]["containers"][0];
        assert_eq!(c["image"], json!("aifbench:test"));
        assert!(
            c["args"].to_string().contains("/dev/termination-log"),
            "{c}"
        );
        status = s.status(&bm, 200).await;
        assert_eq!(status["status"]["phase"], json!("Running"));
        assert_eq!(
            status["status"]["components"][0]["endpoint"],
            json!("http://bm-g1-sim.team.svc:8000")
        );
        s.event("Running", "Normal").await;
    })
    .unwrap();
    assert_eq!(r, Action::requeue(Duration::from_secs(5)));

    // Both client instances finished: Collecting, the service is stopped
    // through its deadline (the pod stays) and its Service deleted.
    let bm = with_status(&benchmark(), &status, "102");
    let clients = vec![
        client_pod(0, exited("Succeeded", 0, Some(summary(100, 20.0, 40.0)))),
        client_pod(1, exited("Succeeded", 0, Some(summary(300, 30.0, 60.0)))),
    ];
    let mut pods = vec![sim_pod(running_ready())];
    pods.extend(clients.clone());
    let r = reconcile_with!(f, bm, |s| {
        s.lists(pods, vec![], vec![]).await;
        let p = s
            .expect(
                "PATCH",
                &format!("{PODS}/bm-g1-sim"),
                "",
                200,
                Some(sim_pod(running())),
            )
            .await;
        assert_eq!(p, json!({"spec": {"activeDeadlineSeconds": 1}}));
        s.delete(&format!("{SERVICES}/bm-g1-sim")).await;
        status = s.status(&bm, 200).await;
        assert_eq!(status["status"]["phase"], json!("Collecting"));
        s.event("Collecting", "Normal").await;
    })
    .unwrap();
    assert_eq!(r, Action::requeue(Duration::from_secs(5)));

    // The service pod ended: report from the termination messages, Succeeded.
    let bm = with_status(&benchmark(), &status, "103");
    let mut pods = vec![sim_pod(exited("Failed", 143, None))];
    pods.extend(clients);
    let r = reconcile_with!(f, bm, |s| {
        s.lists(pods, vec![], vec![]).await;
        status = s.status(&bm, 200).await;
        let st = &status["status"];
        assert_eq!(st["phase"], json!("Succeeded"));
        assert_eq!(st["summary"]["requests"], json!(400));
        assert_eq!(st["summary"]["requestThroughput"], json!(50.0));
        assert_eq!(st["summary"]["latencyP99Ms"], json!(60.0));
        assert!(
            st["results"]["path"]
                .as_str()
                .unwrap()
                .contains("bm-20261129T030000Z"),
            "{st}"
        );
        s.event("Succeeded", "Normal").await;
    })
    .unwrap();
    assert_eq!(
        r,
        Action::await_change(),
        "a finished run waits for a change"
    );
    assert_eq!(f.metrics.reconcile_count("ok"), 5);
    let text = f.metrics.render();
    assert!(
        text.contains("aifbench_benchmarks{phase=\"Succeeded\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "aifbench_benchmark_request_throughput{namespace=\"team\",benchmark=\"bm\"} 50"
        ),
        "{text}"
    );

    // Nothing changes any more: no write, no event.
    let bm = with_status(&benchmark(), &status, "104");
    let r = reconcile_with!(f, bm, |s| {
        s.lists(vec![], vec![], vec![]).await;
    })
    .unwrap();
    assert_eq!(r, Action::await_change());
    f.server.done().await;
}

fn launching_status() -> Value {
    json!({"status": {"phase": "Launching", "observedGeneration": 1, "startTime": "2026-11-29T02:59:00Z",
        "phaseStartTime": "2026-11-29T02:59:00Z",
        "conditions": [{"type": "Validated", "status": "True", "reason": "Valid", "message": "", "lastTransitionTime": "2026-11-29T02:59:00Z"}],
        "components": [
            {"id": "sim", "kind": "service", "backend": "pod", "state": "Launching"},
            {"id": "load-1", "kind": "client", "backend": "pod", "state": "Pending"},
            {"id": "load-2", "kind": "client", "backend": "pod", "state": "Pending"}],
        "postActions": [{"action": "collectMetrics", "state": "Pending"}, {"action": "stopServices", "state": "Pending"},
                        {"action": "report", "state": "Pending"}]}})
}

#[tokio::test]
async fn failing_service_fails_the_benchmark() {
    let mut f = fixture();
    let bm = with_status(&benchmark(), &launching_status(), "200");
    let r = reconcile_with!(f, bm, |s| {
        s.lists(vec![sim_pod(exited("Failed", 1, None))], vec![], vec![])
            .await;
        let st = s.status(&bm, 200).await;
        let st = &st["status"];
        assert_eq!(st["phase"], json!("Failed"));
        let succeeded = condition(st, "Succeeded");
        assert_eq!(succeeded["status"], json!("False"));
        assert_eq!(succeeded["reason"], json!("ServiceExited"));
        assert_eq!(
            st["components"][1]["state"],
            json!("Stopped"),
            "clients never launched"
        );
        s.event("Failed", "Warning").await;
    })
    .unwrap();
    assert_eq!(r, Action::await_change());
    f.server.done().await;
}

#[tokio::test]
async fn invalid_spec_gets_a_condition_and_an_event_not_a_crash_loop() {
    let mut f = fixture();
    let mut bm = benchmark();
    bm.spec.clients[0].target = Some("nope".into());
    let r = reconcile_with!(f, bm, |s| {
        s.lists(vec![], vec![], vec![]).await;
        let st = s.status(&bm, 200).await;
        let st = &st["status"];
        assert_eq!(st["phase"], json!("Failed"));
        let v = condition(st, "Validated");
        assert_eq!(v["reason"], json!("InvalidSpec"));
        assert!(v["message"].as_str().unwrap().contains("nope"), "{v}");
        let ev = s.event("Failed", "Warning").await;
        assert!(ev["note"].as_str().unwrap().contains("InvalidSpec"), "{ev}");
    })
    .unwrap();
    assert_eq!(
        r,
        Action::await_change(),
        "no requeue: nothing to retry until the spec changes"
    );
    f.server.done().await;
}

#[tokio::test]
async fn status_write_conflict_is_retried() {
    let mut f = fixture();
    let bm = benchmark();
    let err = reconcile_with!(f, bm, |s| {
        s.lists(vec![], vec![], vec![]).await;
        s.apply(&format!("{SERVICES}/bm-g1-sim")).await;
        s.apply(&format!("{PODS}/bm-g1-sim")).await;
        s.status(&benchmark(), 409).await;
    })
    .expect_err("409 fails the reconcile");
    assert!(matches!(err, Error::Conflict), "{err:?}");
    assert_eq!(f.metrics.error_count("conflict"), 1);
    assert_eq!(
        error_policy(Arc::new(bm.clone()), &err, f.ctx.clone()),
        Action::requeue(Duration::from_millis(500))
    );
    // The retry repeats the (idempotent) applies and writes the status.
    let r = reconcile_with!(f, bm, |s| {
        s.lists(vec![], vec![], vec![]).await;
        s.apply(&format!("{SERVICES}/bm-g1-sim")).await;
        s.apply(&format!("{PODS}/bm-g1-sim")).await;
        s.status(&benchmark(), 200).await;
        s.event("Launching", "Normal").await;
    })
    .unwrap();
    assert_eq!(r, Action::requeue(Duration::from_secs(5)));
    f.server.done().await;
}

fn running_status() -> Value {
    json!({"status": {"phase": "Running", "observedGeneration": 1, "startTime": "2026-11-29T02:59:00Z",
        "phaseStartTime": "2026-11-29T02:59:30Z",
        "conditions": [{"type": "Validated", "status": "True", "reason": "Valid", "message": "", "lastTransitionTime": "2026-11-29T02:59:00Z"},
                       {"type": "ServicesReady", "status": "True", "reason": "Healthy", "message": "", "lastTransitionTime": "2026-11-29T02:59:30Z"}],
        "components": [
            {"id": "sim", "kind": "service", "backend": "pod", "state": "Ready"},
            {"id": "load-1", "kind": "client", "backend": "pod", "state": "Running"},
            {"id": "load-2", "kind": "client", "backend": "pod", "state": "Running"}],
        "postActions": [{"action": "collectMetrics", "state": "Pending"}, {"action": "stopServices", "state": "Pending"},
                        {"action": "report", "state": "Pending"}]}})
}

#[tokio::test]
async fn spec_edit_mid_run_cancels_then_starts_a_new_run() {
    let mut f = fixture();
    let mut bm = with_status(&benchmark(), &running_status(), "300");
    bm.metadata.generation = Some(2);
    let pods = vec![
        sim_pod(running_ready()),
        client_pod(0, running()),
        client_pod(1, running()),
    ];
    let mut status: Value;
    // 1. The edit cancels the run: clients stopped first.
    let r = reconcile_with!(f, bm, |s| {
        s.lists(pods, vec![], vec![]).await;
        for i in 0..2 {
            let p = s
                .expect(
                    "PATCH",
                    &format!("{PODS}/bm-g1-load-{i}"),
                    "",
                    200,
                    Some(client_pod(i, running())),
                )
                .await;
            assert_eq!(p, json!({"spec": {"activeDeadlineSeconds": 1}}));
        }
        status = s.status(&bm, 200).await;
        assert_eq!(status["status"]["phase"], json!("Collecting"));
        assert_eq!(
            status["status"]["observedGeneration"],
            json!(1),
            "still the old run"
        );
        let ev = s.event("SpecChanged", "Warning").await;
        assert!(
            ev["note"].as_str().unwrap().contains("generation 2"),
            "{ev}"
        );
        s.event("Collecting", "Normal").await;
        // The failure (here: the cancellation) is an event of its own.
        s.event("Cancelled", "Warning").await;
    })
    .unwrap();
    assert_eq!(r, Action::requeue(Duration::from_secs(5)));

    // 2. Clients ended; the service is stopped, and once it ended the run
    //    is Cancelled.
    let mut bm2 = with_status(&benchmark(), &status, "301");
    bm2.metadata.generation = Some(2);
    let stopped = vec![
        sim_pod(running_ready()),
        client_pod(0, exited("Failed", 143, None)),
        client_pod(1, exited("Failed", 143, None)),
    ];
    let r = reconcile_with!(f, bm2, |s| {
        s.lists(stopped, vec![], vec![]).await;
        s.expect(
            "PATCH",
            &format!("{PODS}/bm-g1-sim"),
            "",
            200,
            Some(sim_pod(running())),
        )
        .await;
        s.delete(&format!("{SERVICES}/bm-g1-sim")).await;
        status = s.status(&bm2, 200).await;
    })
    .unwrap();
    assert_eq!(r, Action::requeue(Duration::from_secs(5)));
    let mut bm3 = with_status(&benchmark(), &status, "302");
    bm3.metadata.generation = Some(2);
    let ended = vec![
        sim_pod(exited("Failed", 143, None)),
        client_pod(0, exited("Failed", 143, None)),
        client_pod(1, exited("Failed", 143, None)),
    ];
    let r = reconcile_with!(f, bm3, |s| {
        s.lists(ended.clone(), vec![], vec![]).await;
        status = s.status(&bm3, 200).await;
        assert_eq!(status["status"]["phase"], json!("Cancelled"));
        s.event("Cancelled", "Normal").await;
    })
    .unwrap();
    assert_eq!(r, Action::await_change());

    // 3. The next reconcile starts generation 2: the old children are
    //    deleted, new ones applied, the old run kept in status.runs.
    let mut bm4 = with_status(&benchmark(), &status, "303");
    bm4.metadata.generation = Some(2);
    let old_job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "bm-g1-load", "namespace": "team", "labels": labels("client", "load", 1, None)}});
    let old_svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "bm-g1-sim", "namespace": "team", "labels": labels("service", "sim", 1, None)}});
    let r = reconcile_with!(f, bm4, |s| {
        s.lists(ended, vec![old_job], vec![old_svc]).await;
        let d = s.delete(&format!("{JOBS}/bm-g1-load")).await;
        assert_eq!(d["propagationPolicy"], json!("Background"));
        // The old service pod goes too; client pods go with their Job.
        s.delete(&format!("{PODS}/bm-g1-sim")).await;
        s.delete(&format!("{SERVICES}/bm-g1-sim")).await;
        s.apply(&format!("{SERVICES}/bm-g2-sim")).await;
        let p = s.apply(&format!("{PODS}/bm-g2-sim")).await;
        assert_eq!(
            p["metadata"]["labels"]["aifbench.io/generation"],
            json!("2")
        );
        let st = s.status(&bm4, 200).await;
        let st = &st["status"];
        assert_eq!(st["phase"], json!("Launching"));
        assert_eq!(st["observedGeneration"], json!(2));
        assert_eq!(st["runs"][0]["generation"], json!(1));
        assert_eq!(st["runs"][0]["phase"], json!("Cancelled"));
        assert_eq!(st["runs"][0]["reason"], json!("Cancelled"));
        s.event("NewRun", "Normal").await;
        s.event("Launching", "Normal").await;
    })
    .unwrap();
    assert_eq!(r, Action::requeue(Duration::from_secs(5)));
    f.server.done().await;
}

fn slurm_benchmark() -> Benchmark {
    let mut bm = benchmark();
    bm.spec.services[0].executor = aifbench::api::spec::ExecutorKind::Slurm;
    bm.metadata.annotations = Some(BTreeMap::from([(
        "aifbench.io/slurm-secret".to_string(),
        "slurm-creds".to_string(),
    )]));
    bm
}

fn canary_secret() -> Value {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "slurm-creds", "namespace": "team"},
           "data": {"url": b64("http://slurmrestd:6820"), "user": b64("bench"), "token": b64(CANARY)}})
}

#[tokio::test(flavor = "current_thread")]
async fn slurm_credentials_never_leak_and_deletion_runs_the_finalizer() {
    let (logs, _guard) = Logs::capture();

    let mut f = fixture();
    // A Benchmark whose service runs on Slurm: the Secret is read, the
    // transport probed (its error quotes the token), BackendReachable=False.
    let bm = slurm_benchmark();
    let r = reconcile_with!(f, bm, |s| {
        s.lists(vec![], vec![], vec![]).await;
        s.secret("slurm-creds", canary_secret()).await;
        let st = s.status(&bm, 200).await;
        let reach = condition(&st["status"], "BackendReachable").clone();
        assert_eq!(reach["status"], json!("False"));
        assert_eq!(reach["reason"], json!("Unreachable"));
        assert!(
            reach["message"].as_str().unwrap().contains("<redacted>"),
            "{reach}"
        );
        s.event("BackendUnreachable", "Warning").await;
        s.event("Failed", "Warning").await;
    })
    .unwrap();
    assert_eq!(r, Action::await_change());

    // Deletion: the finalizer cancels the Slurm jobs, deletes the children
    // (client pods go with their Job), then is removed.
    f.slurm
        .reachable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut bm = with_status(&slurm_benchmark(), &running_status(), "400");
    bm.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
    let job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "bm-g1-load", "namespace": "team", "labels": labels("client", "load", 1, None)}});
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "bm-g1-sim", "namespace": "team", "labels": labels("service", "sim", 1, None)}});
    let r = reconcile_with!(f, bm, |s| {
        s.secret("slurm-creds", canary_secret()).await;
        s.lists(
            vec![sim_pod(running_ready()), client_pod(0, running())],
            vec![job],
            vec![svc],
        )
        .await;
        s.delete(&format!("{JOBS}/bm-g1-load")).await;
        s.delete(&format!("{PODS}/bm-g1-sim")).await;
        s.delete(&format!("{SERVICES}/bm-g1-sim")).await;
        s.event("Deleted", "Normal").await;
        let patch = s
            .expect(
                "PATCH",
                BM_PATH,
                "",
                200,
                Some(serde_json::to_value(benchmark()).unwrap()),
            )
            .await;
        assert!(
            patch.to_string().contains("remove"),
            "the finalizer is removed: {patch}"
        );
    })
    .unwrap();
    assert_eq!(r, Action::await_change());
    // Only this Benchmark's job (by its uid prefix) was cancelled.
    assert_eq!(f.slurm.cancelled.lock().unwrap().as_slice(), ["7"]);

    let seen = f.server.seen.lock().unwrap().join("\n");
    let logs = logs.text();
    assert!(!logs.is_empty(), "logs were captured");
    for (what, text) in [("requests", &seen), ("logs", &logs)] {
        // The Secret's own response is the only place the canary may be;
        // requests carry statuses and events.
        assert!(
            !text.contains(CANARY),
            "canary secret found in {what}:\n{text}"
        );
    }
    f.server.done().await;
}

#[tokio::test]
async fn slurm_service_is_submitted_and_jobs_of_earlier_runs_cancelled() {
    let mut f = fixture();
    f.slurm
        .reachable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // A job of an earlier run (generation 0) is still running, one of
    // another Benchmark too.
    *f.slurm.jobs.lock().unwrap() = Some(vec![
        fake_job("5", "aifb-1234abcd-g0-sim"),
        fake_job("8", "aifb-99999999-g1-sim"),
    ]);
    let mut bm = slurm_benchmark();
    bm.spec.workspace = Some("/shared/bench".into());
    let r = reconcile_with!(f, bm, |s| {
        s.lists(vec![], vec![], vec![]).await;
        s.secret("slurm-creds", canary_secret()).await;
        let st = s.status(&bm, 200).await;
        let reach = condition(&st["status"], "BackendReachable").clone();
        assert_eq!(reach["status"], json!("True"), "{reach}");
        assert_eq!(reach["message"], json!("fake"), "{reach}");
        let sim = component(&st["status"], "sim").clone();
        assert_eq!(sim["state"], json!("Launching"), "{sim}");
        s.event("Launching", "Normal").await;
    })
    .unwrap();
    assert_eq!(r, Action::requeue(Duration::from_secs(5)));
    assert_eq!(f.slurm.cancelled.lock().unwrap().as_slice(), ["5"]);
    let submitted = f.slurm.submitted.lock().unwrap().clone();
    assert_eq!(submitted.len(), 1);
    let req = &submitted[0];
    assert_eq!(req.name, "aifb-1234abcd-g1-sim");
    assert!(req.report_comment);
    assert_eq!(req.port_file.as_ref().map(|p| p.1), Some(8000));
    assert!(
        req.working_dir
            .display()
            .to_string()
            .starts_with("/shared/bench/bm-"),
        "{:?}",
        req.working_dir
    );
    let script = aifbench::backend::slurm::render::render_script(req).unwrap();
    assert!(script.contains("scontrol update"), "{script}");

    // The job is listed now: the next reconcile launches nothing again
    // even with the status write lost (the job is adopted by its name).
    *f.slurm.jobs.lock().unwrap() = Some(vec![fake_job("100", "aifb-1234abcd-g1-sim")]);
    let r = reconcile_with!(f, bm, |s| {
        s.lists(vec![], vec![], vec![]).await;
        s.secret("slurm-creds", canary_secret()).await;
        s.status(&bm, 200).await;
        s.event("Launching", "Normal").await;
    })
    .unwrap();
    assert_eq!(r, Action::requeue(Duration::from_secs(5)));
    assert_eq!(
        f.slurm.submitted.lock().unwrap().len(),
        1,
        "adopted, not resubmitted"
    );
    f.server.done().await;
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn monitors_are_scraped_by_the_operator() {
    // A real simulator to scrape.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    let sim = tokio::spawn(aifbench::sim::serve(
        listener,
        Default::default(),
        async move { s.cancelled().await },
    ));
    let results = tempfile::tempdir().unwrap();

    let mut f = fixture();
    f.ctx = Arc::new(Context {
        client: f.ctx.client.clone(),
        settings: Settings {
            results_root: results.path().to_path_buf(),
            ..f.ctx.settings.clone()
        },
        metrics: f.metrics.clone(),
        monitors: Arc::new(MonitorTasks::new()),
        slurm: f.slurm.clone(),
        clock: Arc::new(now),
    });
    let mut base = benchmark();
    base.spec.clients[0].instances = 1;
    base.spec.monitors = serde_norway::from_str(&format!(
        "[{{id: m, targets: ['{addr}'], interval: 100ms}}]"
    ))
    .unwrap();

    let mut status: Value;
    let r = reconcile_with!(f, base, |s| {
        s.lists(vec![], vec![], vec![]).await;
        s.apply(&format!("{SERVICES}/bm-g1-sim")).await;
        s.apply(&format!("{PODS}/bm-g1-sim")).await;
        status = s.status(&base, 200).await;
        s.event("Launching", "Normal").await;
    });
    assert!(r.is_ok());
    // Ready: the monitor starts (no API call) with the client Job.
    let bm = with_status(&base, &status, "101");
    reconcile_with!(f, bm, |s| {
        s.lists(vec![sim_pod(running_ready())], vec![], vec![])
            .await;
        s.apply(&format!("{JOBS}/bm-g1-load")).await;
        status = s.status(&bm, 200).await;
        let m = component(&status["status"], "m").clone();
        assert_eq!(m["state"], json!("Launching"), "{m}");
        s.event("Running", "Normal").await;
    })
    .unwrap();
    let raw = results
        .path()
        .join("team/bm-20261129T030000Z/metrics/m.raw.jsonl");
    wait_for("a first scrape", || {
        std::fs::read_to_string(&raw).is_ok_and(|t| t.lines().count() >= 1)
    })
    .await;
    // The client finished: collectMetrics stops the monitor (a final scrape).
    let client = client_pod(0, exited("Succeeded", 0, Some(summary(10, 5.0, 9.0))));
    let bm = with_status(&base, &status, "102");
    reconcile_with!(f, bm, |s| {
        s.lists(
            vec![sim_pod(running_ready()), client.clone()],
            vec![],
            vec![],
        )
        .await;
        status = s.status(&bm, 200).await;
        assert_eq!(status["status"]["phase"], json!("Collecting"));
        s.event("Collecting", "Normal").await;
    })
    .unwrap();
    let monitors = f.ctx.monitors.clone();
    wait_for("the monitor to stop", || {
        matches!(
            monitors.states("team", "bm", 1).get("m"),
            Some(aifbench::engine::RunState::Exited { .. })
        )
    })
    .await;
    // The monitor ended: services are stopped.
    let bm = with_status(&base, &status, "103");
    reconcile_with!(f, bm, |s| {
        s.lists(
            vec![sim_pod(running_ready()), client.clone()],
            vec![],
            vec![],
        )
        .await;
        s.expect(
            "PATCH",
            &format!("{PODS}/bm-g1-sim"),
            "",
            200,
            Some(sim_pod(running())),
        )
        .await;
        s.delete(&format!("{SERVICES}/bm-g1-sim")).await;
        status = s.status(&bm, 200).await;
        let m = component(&status["status"], "m").clone();
        assert_eq!(m["state"], json!("Stopped"), "{m}");
    })
    .unwrap();
    let raw = results
        .path()
        .join("team/bm-20261129T030000Z/metrics/m.raw.jsonl");
    let text = std::fs::read_to_string(&raw).unwrap_or_else(|e| panic!("{}: {e}", raw.display()));
    assert!(text.lines().count() >= 2, "several scrapes: {text}");
    assert!(
        text.contains("vllm"),
        "the simulator's vLLM metric names were scraped"
    );
    f.server.done().await;
    stop.cancel();
    sim.await.unwrap().unwrap();
}

#[tokio::test]
async fn unreadable_benchmark_gets_invalid_spec_instead_of_stalling_the_watch() {
    use aifbench::operator::controller::{parse_benchmark, reconcile_dynamic};
    use kube::api::DynamicObject;
    let mut f = fixture();
    // The CRD schema lets int-or-string through; aifbench cannot read it.
    let mut v = serde_json::to_value(benchmark()).unwrap();
    v["spec"]["execution"] = json!({"duration": "5 minutes"});
    let obj: DynamicObject = serde_json::from_value(v.clone()).unwrap();
    let err = parse_benchmark(&obj).unwrap_err();
    assert!(err.starts_with("spec.execution.duration"), "{err}");

    let ctx = f.ctx.clone();
    let o = Arc::new(obj);
    let h = tokio::spawn(async move { reconcile_dynamic(o, ctx).await });
    let st = f.server.status(&benchmark(), 200).await;
    let st = &st["status"];
    assert_eq!(st["phase"], json!("Failed"));
    assert_eq!(st["observedGeneration"], json!(1));
    let v_cond = condition(st, "Validated");
    assert_eq!(v_cond["reason"], json!("InvalidSpec"));
    assert!(
        v_cond["message"]
            .as_str()
            .unwrap()
            .contains("spec.execution.duration"),
        "{v_cond}"
    );
    f.server.event("InvalidSpec", "Warning").await;
    assert_eq!(
        finish(&mut f.server, h).await.unwrap(),
        Action::await_change()
    );

    // Reported once: the next reconcile writes nothing, publishes nothing.
    v["status"] = st.clone();
    let obj: DynamicObject = serde_json::from_value(v).unwrap();
    let ctx = f.ctx.clone();
    let h = tokio::spawn(async move { reconcile_dynamic(Arc::new(obj), ctx).await });
    assert_eq!(
        finish(&mut f.server, h).await.unwrap(),
        Action::await_change()
    );

    // A readable Benchmark takes the typed path (lists first).
    let obj: DynamicObject =
        serde_json::from_value(serde_json::to_value(benchmark()).unwrap()).unwrap();
    let ctx = f.ctx.clone();
    let h = tokio::spawn(async move { reconcile_dynamic(Arc::new(obj), ctx).await });
    f.server.lists(vec![], vec![], vec![]).await;
    f.server.apply(&format!("{SERVICES}/bm-g1-sim")).await;
    f.server.apply(&format!("{PODS}/bm-g1-sim")).await;
    f.server.status(&benchmark(), 200).await;
    f.server.event("Launching", "Normal").await;
    assert!(finish(&mut f.server, h).await.is_ok());
    f.server.done().await;
}

fn s3_benchmark(endpoint: &str) -> Benchmark {
    let mut bm = benchmark();
    let s3: aifbench::api::spec::S3ResultsSpec = serde_json::from_value(json!({
        "bucket": "results", "prefix": "runs", "endpoint": endpoint, "region": "garage",
        "credentials": {"secretName": "s3-creds"}}))
    .unwrap();
    bm.spec.results = Some(aifbench::api::spec::ResultsSpec { s3: Some(s3) });
    bm
}

fn s3_canary_secret() -> Value {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-creds", "namespace": "team"},
           "data": {"accessKeyId": b64("GK-test-key"), "secretAccessKey": b64(CANARY)}})
}

/// `results.s3`: the client Job gets the Secret by reference and the upload
/// URL; at the report the operator reads the Secret and fetches the full
/// results (here the bucket is unreachable, so the summary falls back to
/// the termination messages, marked approximate, with a Warning event). The
/// Secret's value appears in no request, status, event or log line.
#[tokio::test(flavor = "current_thread")]
async fn results_s3_secret_by_reference_fetch_at_report_and_no_leak() {
    let (logs, _guard) = Logs::capture();
    // A "bucket" that only notes the request line and hangs up: the report
    // asks for the objects the pods were told to write, and gets nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let asked = asked.clone();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let mut line = String::new();
                let _ = std::io::BufReader::new(&conn).read_line(&mut line);
                asked.lock().unwrap().push(line.trim().to_string());
            }
        });
    }
    let mut f = fixture();

    // The service is ready: the client Job is applied with the upload.
    let bm = with_status(&s3_benchmark(&endpoint), &launching_status(), "500");
    let mut status: Value;
    let r = reconcile_with!(f, bm, |s| {
        s.lists(vec![sim_pod(running_ready())], vec![], vec![])
            .await;
        let job = s.apply(&format!("{JOBS}/bm-g1-load")).await;
        let c = &job["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<String> = serde_json::from_value(c["args"].clone()).unwrap();
        let url = &args[args.iter().position(|a| a == "--upload-url").unwrap() + 1];
        assert_eq!(
            url,
            "s3://results/runs/team/bm-20261129T025900Z/clients/load-index-$(AIFB_INDEX).json"
        );
        let env = c["env"].as_array().unwrap();
        let secret_env = env
            .iter()
            .find(|e| e["name"] == "AWS_SECRET_ACCESS_KEY")
            .unwrap();
        assert_eq!(
            secret_env["valueFrom"]["secretKeyRef"],
            json!({"name": "s3-creds", "key": "secretAccessKey", "optional": false})
        );
        assert!(secret_env.get("value").is_none(), "{secret_env}");
        status = s.status(&bm, 200).await;
        assert_eq!(status["status"]["phase"], json!("Running"));
        assert_eq!(
            status["status"]["results"]["url"],
            json!("s3://results/runs/team/bm-20261129T025900Z/")
        );
        s.event("Running", "Normal").await;
    })
    .unwrap();
    assert_eq!(r, Action::requeue(Duration::from_secs(5)));

    // Both instances finished: Collecting.
    let bm = with_status(&s3_benchmark(&endpoint), &status, "501");
    let clients = vec![
        client_pod(0, exited("Succeeded", 0, Some(summary(100, 20.0, 40.0)))),
        client_pod(1, exited("Succeeded", 0, Some(summary(300, 30.0, 60.0)))),
    ];
    let mut pods = vec![sim_pod(running_ready())];
    pods.extend(clients.clone());
    reconcile_with!(f, bm, |s| {
        s.lists(pods, vec![], vec![]).await;
        s.expect(
            "PATCH",
            &format!("{PODS}/bm-g1-sim"),
            "",
            200,
            Some(sim_pod(running())),
        )
        .await;
        s.delete(&format!("{SERVICES}/bm-g1-sim")).await;
        status = s.status(&bm, 200).await;
        assert_eq!(status["status"]["phase"], json!("Collecting"));
        s.event("Collecting", "Normal").await;
    })
    .unwrap();

    // The report: the Secret is read, the bucket cannot be reached, the
    // termination messages are merged and the summary says approximate.
    let bm = with_status(&s3_benchmark(&endpoint), &status, "502");
    let mut pods = vec![sim_pod(exited("Failed", 143, None))];
    pods.extend(clients);
    let r = reconcile_with!(f, bm, |s| {
        s.lists(pods, vec![], vec![]).await;
        s.secret("s3-creds", s3_canary_secret()).await;
        status = s.status(&bm, 200).await;
        let st = &status["status"];
        assert_eq!(st["phase"], json!("Succeeded"));
        assert_eq!(st["summary"]["requests"], json!(400));
        assert_eq!(st["summary"]["approximate"], json!(true));
        let w = s.event("ApproximateSummary", "Warning").await;
        assert!(
            w["note"]
                .as_str()
                .unwrap()
                .contains("cannot fetch the full results"),
            "{w}"
        );
        s.event("Succeeded", "Normal").await;
    })
    .unwrap();
    assert_eq!(r, Action::await_change());
    let first = asked.lock().unwrap().first().cloned().unwrap_or_default();
    assert!(
        first.starts_with("GET /results/runs/team/bm-20261129T025900Z/clients/load-index-0.json"),
        "the report fetches where the pods upload: {first}"
    );

    let seen = f.server.seen.lock().unwrap().join("\n");
    let logs = logs.text();
    assert!(logs.contains("approximate summary"), "{logs}");
    for (what, text) in [("requests", &seen), ("logs", &logs)] {
        assert!(
            !text.contains(CANARY),
            "canary secret found in {what}:\n{text}"
        );
    }
    f.server.done().await;
}
