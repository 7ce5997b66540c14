//! Client results come back from Slurm jobs without a shared filesystem:
//! on the real single-node Slurm of scripts/setup-slurm.sh, over the
//! loopback sshd as the unprivileged job user (`aifbjob`), whose jobs run
//! as that user and cannot see the driver's results folder (root's, under a
//! 0700 folder). The jobs work in a run folder the job user owns
//! (`SlurmConfig::remote_dir`), and the Slurm backend brings their files
//! back over SSH. FAILS when Slurm is not up.

mod common;
mod slurm_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aifbench::backend::slurm::ssh::SshConfig;
use aifbench::backend::slurm::{SlurmConfig, TransportConfig};
use aifbench::local::{ProgressMode, RunOptions, Signals};
use aifbench::results::ResultsDir;
use slurm_support::*;

const BENCHMARK: &str = r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata:
  name: remote-results
spec:
  services:
    - id: sim
      executor: slurm
      command: [aifbench, sim, --port, "{{port}}", --host, 0.0.0.0, --model, sim-model,
                --ttft, 20ms, --itl, 5ms, --output-tokens, "8"]
      ports:
        - {name: http, port: 0}
      healthcheck:
        path: /health
        interval: 200ms
        timeout: 60s
      slurm: {partition: "${AIFB_SLURM_PARTITION}", ntasks: 1, cpusPerTask: 1, time: 5m}
  clients:
    - id: load
      instances: 1
      executor: slurm
      target: sim
      recordRequests: true
      workload:
        type: openai
        openai: {api: chat, stream: true, maxTokens: 8}
      load: {concurrency: 2, duration: 2s}
      slurm: {partition: "${AIFB_SLURM_PARTITION}", ntasks: 1, cpusPerTask: 1, time: 5m}
  execution:
    queueDeadline: 2m
    runDeadline: 3m
    stopGracePeriod: 5s
    postActions: [stopServices, report]
"#;

/// Removes a job's run folder on the cluster side when dropped.
struct RemoveDir(PathBuf);
impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `remote` over SSH as `user` with the cluster's key; its exit code.
fn ssh_as(env: &std::collections::BTreeMap<String, String>, user: &str, remote: &str) -> i32 {
    Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            env["AIFB_SSH_KNOWN_HOSTS"]
        ))
        .args(["-i", &env["AIFB_SSH_KEY"], "-p", &env["AIFB_SSH_PORT"]])
        .arg(format!("{user}@{}", env["AIFB_SSH_HOST"]))
        .arg("--")
        .arg(remote)
        .status()
        .expect("ssh runs")
        .code()
        .unwrap_or(-1)
}

fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no user {user}: run scripts/setup-slurm.sh"))
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clients_result_comes_back_over_ssh_from_a_job_that_cannot_see_the_results_folder() {
    let env = slurm_env();
    let (Some(user), Some(job_dir)) = (env.get("AIFB_TEST_JOB_USER"), env.get("AIFB_TEST_JOB_DIR"))
    else {
        panic!("{ENV_FILE} names no job user: re-run scripts/setup-slurm.sh (as root)");
    };
    let user = user.clone();
    let job_dir = PathBuf::from(job_dir);

    // The results folder: under a folder only root may enter.
    let locked = tempfile::Builder::new()
        .prefix("aifb-remote-results-")
        .tempdir_in("/var/tmp")
        .expect("tempdir");
    std::fs::set_permissions(locked.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let meta = std::fs::metadata(locked.path()).expect("meta");
    assert_eq!(meta.uid(), 0, "the test runs as root");
    assert_eq!(meta.mode() & 0o777, 0o700);
    let ws = locked.path().join("ws");
    let _cleanup = Cleanup(ws.clone());
    let dir = ResultsDir::create(&ws, "remote-results", jiff::Timestamp::now()).expect("dir");
    let run = dir
        .root
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let remote_run = job_dir.join(&run);
    let _remove = RemoveDir(remote_run.clone());
    // The job user cannot even see the results folder.
    let probe = format!("test -e '{}'", dir.clients().display());
    assert_ne!(ssh_as(&env, &user, &probe), 0, "{user} sees the results");
    assert_eq!(ssh_as(&env, &user, "true"), 0, "{user} logs in");

    let b =
        aifbench::api::load::load_str(BENCHMARK, "remote-results", &|k: &str| env.get(k).cloned())
            .expect("loads")
            .benchmark;
    let opts = RunOptions {
        progress: ProgressMode::Quiet,
        tick: Duration::from_millis(200),
        exe: PathBuf::from(env!("CARGO_BIN_EXE_aifbench")),
        slurm: SlurmConfig {
            transport: TransportConfig::Ssh(SshConfig {
                host: env["AIFB_SSH_HOST"].clone(),
                port: env["AIFB_SSH_PORT"].parse().ok(),
                user: Some(user.clone()),
                key: Some(env["AIFB_SSH_KEY"].clone().into()),
                known_hosts: Some(env["AIFB_SSH_KNOWN_HOSTS"].clone().into()),
                control_dir: None,
            }),
            poll_interval: Duration::from_millis(500),
            remote_dir: Some(job_dir.clone()),
            ..Default::default()
        },
    };
    let start = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(240),
        aifbench::local::run(b, dir.clone(), opts, Signals::default()),
    )
    .await
    .expect("the run ends within 4 minutes")
    .expect("runs");
    eprintln!("remote-results run: {:.1}s", start.elapsed().as_secs_f64());
    let s = status(&dir.root);
    assert_eq!(s["phase"], "Succeeded", "{s:#}");

    // The result came back into the results folder, whole.
    let result_path = dir.client_result("load-1");
    let result = read_json(&result_path);
    let requests = result["requests"].as_u64().expect("requests");
    assert!(requests > 0, "{result:#}");
    assert_eq!(result["errors"], 0, "{result:#}");
    let report = outcome.report.expect("report written");
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    let summary = read_json(&dir.summary_json());
    assert_eq!(summary["total"]["requests"].as_u64(), Some(requests));
    let log = std::fs::read_to_string(dir.clients().join("load-1.requests.jsonl"))
        .expect("request log back");
    assert_eq!(log.lines().count() as u64, requests, "one line per request");
    let back = read_json(&dir.clients().join("load-1.summary.json"));
    assert_eq!(back["requests"].as_u64(), Some(requests), "{back:#}");

    // The job wrote it in its own run folder, as the job user: the copy in
    // the results folder came through the SSH session, not from the job.
    let job_uid = uid_of(&user);
    let original = remote_run.join("clients/load-1.json");
    assert_eq!(
        std::fs::metadata(&original)
            .expect("the job's own copy")
            .uid(),
        job_uid
    );
    assert_eq!(
        std::fs::read(&original).expect("read"),
        std::fs::read(&result_path).expect("read")
    );
    assert_eq!(std::fs::metadata(&result_path).expect("meta").uid(), 0);
    let prefix = job_prefix(&dir.root);
    let owners = Command::new("squeue")
        .args(["-h", "--states=all", "-o", "%j|%u|%i"])
        .output()
        .expect("squeue");
    let owners = String::from_utf8_lossy(&owners.stdout);
    let client_job = owners
        .lines()
        .find(|l| l.starts_with(&format!("{prefix}load-1|")))
        .unwrap_or_else(|| panic!("no client job in:\n{owners}"));
    let fields: Vec<&str> = client_job.split('|').collect();
    assert_eq!(fields[1], user, "{client_job}");
    // Its log came back too; nothing of the run is left in the queue.
    let job_id = fields[2];
    assert!(
        dir.root
            .join(format!("slurm_logs/load-1-{job_id}.err"))
            .is_file(),
        "job log back"
    );
    let left = wait_no_active(&prefix, Duration::from_secs(15));
    assert!(left.is_empty(), "jobs left behind: {left:?}");
}
