//! `aifbench operator` as a process, against a fake API server without the
//! CRD: it must stop with the install hint (not panic, not spin), and print
//! no credential.

use std::process::Stdio;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        [("content-type", "application/json")],
        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"the server could not find the requested resource","metadata":{}}"#,
    )
}

#[tokio::test]
async fn operator_without_the_crd_stops_with_a_hint() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, Router::new().fallback(not_found))
            .await
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"http://{addr}\"}}}}]\nusers: [{{name: u, user: {{token: CANARY-kube-token}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_aifbench"))
            .args(["operator", "--listen", "127.0.0.1:0"])
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("the operator stops by itself")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the Benchmark CRD (benchmarks.aifbench.io) is not installed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("aifbench crd | kubectl apply -f -"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("CANARY") && !stdout.contains("CANARY"),
        "credential printed"
    );
    server.abort();
}

/// A fake API server that has the CRD but no Benchmarks: lists are empty,
/// watches stay open, one Lease is kept; every request is recorded.
#[derive(Clone, Default)]
struct FakeApi {
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
    lease: std::sync::Arc<std::sync::Mutex<Option<serde_json::Value>>>,
}

async fn fake_api(
    axum::extract::State(s): axum::extract::State<FakeApi>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use serde_json::json;
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    s.seen
        .lock()
        .unwrap()
        .push((method.to_string(), path.clone(), query.clone()));
    let json_resp = |code: StatusCode, v: serde_json::Value| {
        (code, [("content-type", "application/json")], v.to_string()).into_response()
    };
    if path.contains("/leases") {
        let mut lease = s.lease.lock().unwrap();
        return match method.as_str() {
            "GET" => match lease.clone() {
                Some(l) => json_resp(StatusCode::OK, l),
                None => json_resp(
                    StatusCode::NOT_FOUND,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "metadata": {}}),
                ),
            },
            _ => {
                let mut l: serde_json::Value = serde_json::from_slice(&body).unwrap();
                l["metadata"]["resourceVersion"] = json!("7");
                *lease = Some(l.clone());
                json_resp(
                    if method == "POST" {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    },
                    l,
                )
            }
        };
    }
    if query.split('&').any(|q| q == "watch=true") {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        return (StatusCode::OK, "").into_response();
    }
    json_resp(
        StatusCode::OK,
        json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}),
    )
}

#[tokio::test]
async fn operator_leads_gets_ready_and_shuts_down_gracefully() {
    use aifbench::operator::rbac;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = FakeApi::default();
    let app = Router::new().fallback(fake_api).with_state(state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"http://{addr}\"}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u, namespace: ops}}}}]\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args([
            "operator",
            "--listen",
            &format!("127.0.0.1:{http_port}"),
            "--lease",
            "ops/aifbench-leader",
        ])
        .args(["--results-root", dir.path().to_str().unwrap()])
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAME", "op-test-0")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = aifbench::tls::client();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{http_port}/readyz"))
            .send()
            .await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the operator became ready");
    let metrics = http
        .get(format!("http://127.0.0.1:{http_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("aifbench_operator_leader 1"), "{metrics}");
    assert_eq!(
        state.lease.lock().unwrap().as_ref().unwrap()["spec"]["holderIdentity"],
        serde_json::json!("op-test-0")
    );
    // Let the controllers start their watches, then SIGTERM.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .expect("graceful shutdown within 20 s")
        .unwrap();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut stderr).await;
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    // The Lease was released on the way out.
    let lease = state.lease.lock().unwrap().clone().unwrap();
    assert!(
        lease["spec"]
            .get("holderIdentity")
            .is_none_or(|h| h.is_null()),
        "{lease}"
    );
    // Every call the operator made is granted by the chart's RBAC, and it
    // watched Benchmarks and its children.
    let seen = state.seen.lock().unwrap().clone();
    let rules = [rbac::BENCHMARK_RULES, rbac::SECRET_RULES, rbac::LEASE_RULES].concat();
    let mut watched = Vec::new();
    for (m, p, q) in &seen {
        let (g, r, v) = rbac::request_verb(m, p, q).unwrap_or_else(|| panic!("{m} {p}"));
        assert!(
            rbac::allows(&rules, &g, &r, &v),
            "{m} {p}?{q} needs {v} on {g}/{r}"
        );
        if v == "watch" {
            watched.push(r);
        }
    }
    watched.sort();
    watched.dedup();
    assert_eq!(
        watched,
        ["benchmarks", "jobs", "pods", "services"],
        "{seen:?}"
    );
    server.abort();
}
