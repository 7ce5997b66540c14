//! One Slurm path for both drivers, against the real single-node cluster of
//! scripts/setup-slurm.sh: the same Benchmark (a Slurm service and a Slurm
//! client) under the same run id gets the same job names through
//! `aifbench run`'s backend (`Backends::for_local_run`, sbatch here) and
//! through the operator's (`operator_backend`: the same `SlurmBackend`
//! over a slurmrestd session, with the operator's job shape), as
//! Slurm itself lists them; and a fresh backend of that run adopts the job
//! instead of submitting a second one. This test FAILS when Slurm is not up.

mod common;
mod slurm_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Secret;

use aifbench::api::Benchmark;
use aifbench::api::spec::{ExecutorKind, SlurmSpec};
use aifbench::api::status::ComponentKind;
use aifbench::backend::slurm::{SlurmConfig, job_name, operator_run_id, run_prefix};
use aifbench::backend::{Backend, Backends, LaunchRequest};
use aifbench::operator::slurm::{ClusterSlurm, SlurmConnector, credentials_from_secret};
use aifbench::operator::slurm_backend::{SlurmRun, operator_backend};
use slurm_support::{Job, cancel_active, jobs, slurm_env, wait_no_active};

/// A uid no earlier run of this test used (job names of finished jobs stay
/// listed for a while).
fn fresh_uid() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let tag = format!("{:08x}", (nanos as u32) ^ std::process::id());
    format!("{tag}-0000-4000-8000-000000000000")
}

fn benchmark(uid: &str, workspace: &Path, partition: &str) -> Benchmark {
    serde_norway::from_str(&format!(
        r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata:
  name: names
  namespace: team
  uid: {uid}
spec:
  workspace: {ws}
  services:
    - id: sim
      executor: slurm
      command: [sleep, "120"]
      ports: [{{name: http, port: 0}}]
      slurm: {{partition: {partition}, time: 5m}}
  clients:
    - id: chat
      executor: slurm
      instances: 1
      target: sim
      workload: {{type: openai}}
      load: {{concurrency: 1, maxRequests: 1}}
      slurm: {{partition: {partition}, time: 5m}}
"#,
        ws = workspace.display(),
    ))
    .expect("the Benchmark parses")
}

/// What `aifbench run` hands its Slurm backend for `id` (the name depends
/// only on the run and the id; the command is a sleeper).
fn local_request(id: &str, kind: ComponentKind, dir: &Path, partition: &str) -> LaunchRequest {
    LaunchRequest {
        id: id.to_string(),
        kind,
        argv: vec!["sleep".into(), "120".into()],
        working_dir: dir.to_path_buf(),
        log_path: dir.join(format!("{id}.jsonl")),
        slurm: Some(SlurmSpec {
            partition: Some(partition.to_string()),
            ..Default::default()
        }),
        port: (kind == ComponentKind::Service).then_some(20001),
        summary_file: (kind == ComponentKind::Client)
            .then(|| dir.join(format!("clients/{id}.summary.json"))),
        stop_grace: Duration::from_secs(1),
        ..Default::default()
    }
}

/// Cancels the run's active jobs when dropped (also when the test fails).
struct CancelRun(String);

impl Drop for CancelRun {
    fn drop(&mut self) {
        cancel_active(&self.0);
    }
}

fn names_of<'a>(js: impl IntoIterator<Item = &'a Job>) -> Vec<String> {
    let mut v: Vec<String> = js.into_iter().map(|j| j.name.clone()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn both_drivers_name_a_runs_jobs_alike_and_adopt_them() {
    let env = slurm_env();
    let partition = env["AIFB_SLURM_PARTITION"].clone();
    let ws = tempfile::tempdir().expect("a workspace");
    let uid = fresh_uid();
    let bm = benchmark(&uid, ws.path(), &partition);
    // The run id R: the operator's for generation 1, handed to the local
    // driver's backend as its run.
    let run = operator_run_id(&uid, 1);
    let prefix = run_prefix(&run);
    let _cancel = CancelRun(prefix.clone());
    let components = [
        ("sim", ComponentKind::Service),
        ("chat-1", ComponentKind::Client),
    ];
    let expected: Vec<String> = {
        let mut v: Vec<String> = components
            .iter()
            .map(|(id, _)| job_name(&run, id))
            .collect();
        v.sort();
        v
    };

    // `aifbench run`'s backend submits both components.
    let local_dir = ws.path().join("local");
    let local = Backends::for_local_run(
        [ExecutorKind::Slurm],
        &SlurmConfig::default(),
        &run,
        local_dir.join("slurm_logs"),
    )
    .expect("a local Slurm backend");
    let mut local_ids = BTreeMap::new();
    for (id, kind) in components {
        let placed = local
            .get(ExecutorKind::Slurm)
            .expect("slurm is registered")
            .launch(local_request(id, kind, &local_dir, &partition))
            .await
            .unwrap_or_else(|e| panic!("local launch of {id}: {e}"));
        let job = placed.job_id.expect("a job id");
        local_ids.insert(id, job);
    }
    let listed = jobs(&prefix);
    let local_jobs: Vec<&Job> = listed
        .iter()
        .filter(|j| local_ids.values().any(|id| *id == j.id))
        .collect();
    assert_eq!(names_of(local_jobs), expected, "squeue: {listed:?}");

    // The operator's Slurm path submits the same components of the same
    // run, as a fresh operator that has not listed the jobs yet would.
    let creds = credentials_from_secret(&Secret {
        string_data: Some(BTreeMap::from([
            ("url".to_string(), env["AIFB_SLURM_REST_URL"].clone()),
            (
                "token".to_string(),
                std::fs::read_to_string(&env["AIFB_SLURM_JWT_FILE"])
                    .expect("the JWT")
                    .trim()
                    .to_string(),
            ),
            ("user".to_string(), env["AIFB_SLURM_USER"].clone()),
        ])),
        ..Default::default()
    })
    .expect("credentials");
    let session = Arc::new(
        ClusterSlurm::default()
            .connect(&creds)
            .await
            .expect("slurmrestd reachable"),
    );
    let operator_run = |jobs| SlurmRun {
        benchmark: bm.clone(),
        generation: 1,
        folder: "names-1".to_string(),
        endpoints: BTreeMap::from([("sim".to_string(), "http://127.0.0.1:9".to_string())]),
        session: Some(session.clone()),
        problem: String::new(),
        creds: Some(creds.clone()),
        jobs,
    };
    let operator = operator_backend(operator_run(Vec::new()));
    for (id, kind) in components {
        let req = LaunchRequest {
            id: id.to_string(),
            kind,
            ..Default::default()
        };
        operator
            .launch(req)
            .await
            .unwrap_or_else(|e| panic!("operator launch of {id}: {e}"));
    }
    let listed = jobs(&prefix);
    let operator_jobs: Vec<&Job> = listed
        .iter()
        .filter(|j| !local_ids.values().any(|id| *id == j.id))
        .collect();
    assert_eq!(
        names_of(operator_jobs),
        expected,
        "the operator's jobs are named as the local driver's: {listed:?}"
    );
    assert_eq!(listed.len(), 4, "{listed:?}");

    // A fresh local backend of the run adopts the newest job of the name
    // (the operator's) and submits nothing.
    let newest_sim = listed
        .iter()
        .filter(|j| j.name == job_name(&run, "sim"))
        .map(|j| j.id.parse::<u64>().expect("numeric job id"))
        .max()
        .expect("a sim job");
    let again = Backends::for_local_run(
        [ExecutorKind::Slurm],
        &SlurmConfig::default(),
        &run,
        local_dir.join("slurm_logs"),
    )
    .expect("a local Slurm backend");
    let placed = again
        .get(ExecutorKind::Slurm)
        .expect("slurm is registered")
        .launch(local_request(
            "sim",
            ComponentKind::Service,
            &local_dir,
            &partition,
        ))
        .await
        .expect("adopted");
    assert_eq!(placed.job_id, Some(newest_sim.to_string()));
    assert_eq!(jobs(&prefix).len(), 4, "no second job: {:?}", jobs(&prefix));

    // A fresh operator that listed the run's jobs adopts them too.
    let seen = session.jobs().await.expect("the job list");
    let operator = operator_backend(operator_run(
        seen.into_iter()
            .filter(|j| j.name.starts_with(&prefix))
            .collect(),
    ));
    for (id, kind) in components {
        let req = LaunchRequest {
            id: id.to_string(),
            kind,
            ..Default::default()
        };
        operator.launch(req).await.expect("adopted");
    }
    assert_eq!(jobs(&prefix).len(), 4, "no second job: {:?}", jobs(&prefix));

    // Nothing outlives the test: the local backend's cleanup cancels every
    // job of the run (the operator's included: same names).
    let cancelled = again
        .get(ExecutorKind::Slurm)
        .expect("slurm is registered")
        .cleanup()
        .await
        .expect("cancelled");
    drop(operator);
    assert!(!cancelled.is_empty(), "some jobs were still active");
    let left = wait_no_active(&prefix, Duration::from_secs(20));
    assert!(left.is_empty(), "still active: {left:?}");
    if let Ok(s) = Arc::try_unwrap(session) {
        s.close().await;
    }
}
