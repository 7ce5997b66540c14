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
