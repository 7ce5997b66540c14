//! Leader election's API traffic against a mocked API server, and the CRD
//! startup check.

use std::time::Duration;

use http::{Request, Response};
use jiff::Timestamp;
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use aifbench::operator::lease::LeaderElector;
use aifbench::operator::{OperatorError, check_crd};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/aifbench-leader";

async fn expect(h: &mut Handle, method: &str, path: &str, status: u16, resp: Value) -> Value {
    let (req, send) = tokio::time::timeout(Duration::from_secs(10), h.next_request())
        .await
        .expect("a request")
        .expect("a request");
    assert_eq!(
        format!("{} {}", req.method(), req.uri().path()),
        format!("{method} {path}")
    );
    let bytes = req.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&resp).unwrap()))
            .unwrap(),
    );
    body
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found", "metadata": {}})
}

fn lease(holder: &str, renew: &str, rv: &str) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": "aifbench-leader", "namespace": "ops", "resourceVersion": rv},
           "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": renew, "acquireTime": renew}})
}

fn now() -> Timestamp {
    "2026-11-29T03:00:00Z".parse().unwrap()
}

#[tokio::test]
async fn lease_is_created_renewed_and_respected() {
    let (svc, mut h) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let e = LeaderElector::new(
        Client::new(svc, "default"),
        "ops",
        "aifbench-leader",
        "op-a",
        Duration::from_secs(15),
    );

    // No Lease: create it.
    let t = tokio::spawn(async move { (e.try_acquire_or_renew(now()).await.unwrap(), e) });
    expect(&mut h, "GET", LEASE, 404, not_found()).await;
    let body = expect(
        &mut h,
        "POST",
        "/apis/coordination.k8s.io/v1/namespaces/ops/leases",
        201,
        lease("op-a", "2026-11-29T03:00:00.000000Z", "1"),
    )
    .await;
    assert_eq!(body["spec"]["holderIdentity"], json!("op-a"));
    let (won, e) = t.await.unwrap();
    assert!(won);

    // Held by another, fresh: wait, write nothing.
    let t = tokio::spawn(async move { (e.try_acquire_or_renew(now()).await.unwrap(), e) });
    expect(
        &mut h,
        "GET",
        LEASE,
        200,
        lease("op-b", "2026-11-29T02:59:55.000000Z", "2"),
    )
    .await;
    let (won, e) = t.await.unwrap();
    assert!(!won);

    // Held by another, expired: take over with its resourceVersion; a 409
    // (someone was faster) means not leading.
    let t = tokio::spawn(async move { (e.try_acquire_or_renew(now()).await.unwrap(), e) });
    expect(
        &mut h,
        "GET",
        LEASE,
        200,
        lease("op-b", "2026-11-29T02:59:00.000000Z", "3"),
    )
    .await;
    let body = expect(&mut h, "PUT", LEASE, 409, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "conflict", "metadata": {}})).await;
    assert_eq!(body["metadata"]["resourceVersion"], json!("3"));
    assert_eq!(body["spec"]["leaseTransitions"], json!(1));
    let (won, e) = t.await.unwrap();
    assert!(!won);

    // Ours: renew.
    let t = tokio::spawn(async move { (e.try_acquire_or_renew(now()).await.unwrap(), e) });
    expect(
        &mut h,
        "GET",
        LEASE,
        200,
        lease("op-a", "2026-11-29T02:59:58.000000Z", "4"),
    )
    .await;
    let body = expect(
        &mut h,
        "PUT",
        LEASE,
        200,
        lease("op-a", "2026-11-29T03:00:00.000000Z", "5"),
    )
    .await;
    assert_eq!(
        body["spec"]["renewTime"],
        json!("2026-11-29T03:00:00.000000Z")
    );
    let (won, _e) = t.await.unwrap();
    assert!(won);
}

#[tokio::test]
async fn missing_crd_stops_with_a_hint() {
    let (svc, mut h) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let t = tokio::spawn(async move { check_crd(&client, &["team".to_string()]).await });
    expect(
        &mut h,
        "GET",
        "/apis/aifbench.io/v1alpha1/namespaces/team/benchmarks",
        404,
        not_found(),
    )
    .await;
    let err = t.await.unwrap().expect_err("404 means no CRD");
    assert!(matches!(err, OperatorError::CrdMissing));
    assert!(
        err.to_string()
            .contains("aifbench crd | kubectl apply -f -"),
        "{err}"
    );
}
