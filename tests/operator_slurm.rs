//! The operator's Slurm connector against the real slurmrestd (JWT) that
//! scripts/setup-slurm.sh starts: credentials from a Kubernetes Secret,
//! `BackendReachable` probing, and cancelling a Benchmark's jobs by name.

mod slurm_support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use aifbench::operator::slurm::{RestSlurm, SlurmConnector, credentials_from_secret};
use k8s_openapi::api::core::v1::Secret;

fn secret(url: &str, token: &str, user: &str) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("slurm".into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([
            ("url".to_string(), url.to_string()),
            ("token".to_string(), token.to_string()),
            ("user".to_string(), user.to_string()),
        ])),
        ..Default::default()
    }
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

#[tokio::test]
async fn rest_connector_probes_and_cancels_a_benchmarks_jobs() {
    let env = slurm_support::slurm_env();
    let url = &env["AIFB_SLURM_REST_URL"];
    let token = std::fs::read_to_string(&env["AIFB_SLURM_JWT_FILE"]).unwrap();
    let creds = credentials_from_secret(&secret(url, token.trim(), "root")).unwrap();
    RestSlurm
        .probe(&creds)
        .await
        .expect("slurmrestd reachable with the JWT");

    // A wrong token is refused, and the refusal never repeats it.
    let canary = "CANARY-not-a-jwt-7f3a";
    let bad = credentials_from_secret(&secret(url, canary, "root")).unwrap();
    let err = RestSlurm.probe(&bad).await.unwrap_err();
    assert!(!err.contains(canary), "{err}");
    // No url: a clear reason.
    let mut no_url = creds.clone();
    no_url.url = None;
    no_url.host = Some("login".into());
    assert!(RestSlurm.probe(&no_url).await.unwrap_err().contains("url"));

    // Two jobs of "this" Benchmark and one of another: only ours go.
    let submit = |name: &str| {
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
    };
    let other = submit("aifb-othrbnch-sim");
    submit("aifb-opertest-sim");
    submit("aifb-opertest-chat-1");
    let n = RestSlurm
        .cancel_jobs(&creds, "aifb-opertest-")
        .await
        .unwrap();
    assert_eq!(n, 2);
    let deadline = Instant::now() + Duration::from_secs(20);
    while queued("aifb-opertest-sim") || queued("aifb-opertest-chat-1") {
        assert!(Instant::now() < deadline, "jobs still queued after cancel");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        queued("aifb-othrbnch-sim"),
        "another Benchmark's job was cancelled"
    );
    let _ = Command::new("scancel").arg(&other).status();
}
