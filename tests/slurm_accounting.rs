//! Final states from Slurm's accounting once the controller has forgotten a
//! job: on the real single-node Slurm of scripts/setup-slurm.sh, with
//! slurmdbd and MariaDB. The test lowers `MinJobAge` to its floor (2 s;
//! Slurm 22.05 raises anything lower to 2, and purges finished jobs every
//! max(10 s, MinJobAge)) through the file slurm.conf includes for it, runs a
//! job that succeeds and one that exits 3, waits until `squeue` no longer
//! lists either, puts MinJobAge back, and asserts the states the Slurm
//! backend reports (from `sacct`), and what the SSH transport (the same
//! `sacct` on the login node) and slurmrestd's slurmdb endpoint say of
//! them. FAILS when Slurm or its accounting is not up.

mod common;
mod slurm_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aifbench::backend::slurm::render::JobRequest;
use aifbench::backend::slurm::rest::{RestConfig, Secret};
use aifbench::backend::slurm::ssh::SshConfig;
use aifbench::backend::slurm::state::SlurmState;
use aifbench::backend::slurm::{SlurmBackend, SlurmConfig, Transport, TransportConfig};
use aifbench::engine::RunState;
use slurm_support::*;

/// The `MinJobAge` setup-slurm.sh keeps (and restores on its next run).
const DEFAULT_MIN_JOB_AGE: &str = "MinJobAge=600";

/// Sets `MinJobAge` in the included file and reconfigures slurmctld; puts
/// the default back when dropped (also when the test fails).
struct MinJobAge<'a>(&'a Path);

impl<'a> MinJobAge<'a> {
    fn set(conf: &'a Path, seconds: u32) -> Self {
        std::fs::write(conf, format!("MinJobAge={seconds}\n")).expect("write the MinJobAge file");
        reconfigure();
        Self(conf)
    }
}

impl Drop for MinJobAge<'_> {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0, format!("{DEFAULT_MIN_JOB_AGE}\n"));
        reconfigure();
    }
}

fn reconfigure() {
    let st = Command::new("scontrol")
        .arg("reconfigure")
        .status()
        .expect("scontrol runs");
    assert!(st.success(), "scontrol reconfigure failed");
}

fn config_value(key: &str) -> String {
    let out = Command::new("scontrol")
        .args(["show", "config"])
        .output()
        .expect("scontrol runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn job(
    backend: &SlurmBackend,
    env: &std::collections::BTreeMap<String, String>,
    dir: &Path,
    id: &str,
    script: &str,
) -> JobRequest {
    JobRequest {
        name: backend.job_name(id),
        component: id.into(),
        slurm: aifbench::api::spec::SlurmSpec {
            partition: Some(env["AIFB_SLURM_PARTITION"].clone()),
            time: Some(aifbench::api::duration::Duration::from_secs(60)),
            ..Default::default()
        },
        argv: vec!["sh".into(), "-c".into(), script.into()],
        working_dir: dir.to_path_buf(),
        log_dir: dir.to_path_buf(),
        ..Default::default()
    }
}

async fn exited(backend: &SlurmBackend, id: &str, within: Duration) -> RunState {
    let start = Instant::now();
    loop {
        let s = backend.run_state(id).await;
        if matches!(s, RunState::Exited { .. }) {
            return s;
        }
        assert!(start.elapsed() < within, "{id} did not end: {s:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn final_states_come_from_sacct_after_the_controller_forgets_the_jobs() {
    let env = slurm_env();
    let age_conf = env
        .get("AIFB_SLURM_JOB_AGE_CONF")
        .expect("AIFB_SLURM_JOB_AGE_CONF in the Slurm env: re-run scripts/setup-slurm.sh")
        .clone();
    assert_eq!(
        config_value("AccountingStorageType"),
        "accounting_storage/slurmdbd",
        "Slurm runs without accounting: re-run scripts/setup-slurm.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let run = format!("acct-{}", std::process::id());
    let config = SlurmConfig {
        transport: TransportConfig::Cli,
        poll_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let backend = SlurmBackend::new(config, &run, dir.path().to_path_buf()).unwrap();
    let prefix = format!("{}-", backend.job_name("").trim_end_matches('-'));
    let _cleanup = CancelPrefix(prefix.clone());

    let ok = backend
        .submit(&job(&backend, &env, dir.path(), "ok", "true"))
        .await
        .unwrap()
        .job_id
        .unwrap();
    let bad = backend
        .submit(&job(&backend, &env, dir.path(), "bad", "exit 3"))
        .await
        .unwrap()
        .job_id
        .unwrap();
    // Listed by squeue while the controller remembers them.
    let listed_ok = exited(&backend, "ok", Duration::from_secs(60)).await;
    let listed_bad = exited(&backend, "bad", Duration::from_secs(60)).await;
    assert_eq!(
        listed_ok,
        RunState::Exited {
            code: Some(0),
            reason: None
        }
    );
    assert!(
        matches!(&listed_bad, RunState::Exited { code: Some(3), reason: Some(r) } if r.starts_with(&format!("slurm FAILED (job {bad}"))),
        "{listed_bad:?}"
    );

    // The controller forgets them: MinJobAge at its floor.
    let forgotten_after = {
        let age = MinJobAge::set(Path::new(&age_conf), 1);
        assert_eq!(
            config_value("MinJobAge"),
            "2 sec",
            "MinJobAge's floor is 2 s"
        );
        let start = Instant::now();
        while !jobs(&prefix).is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "squeue still lists {:?}",
                jobs(&prefix)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        drop(age);
        start.elapsed()
    };
    eprintln!("squeue forgot both jobs after {forgotten_after:?}");
    assert_eq!(config_value("MinJobAge"), "600 sec", "MinJobAge restored");
    let cli = Transport::new(&TransportConfig::Cli).unwrap();
    let listed: Vec<String> = cli
        .jobs()
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert!(
        !listed.contains(&ok) && !listed.contains(&bad),
        "{listed:?}"
    );

    // The backend's view, now from sacct: the same end states.
    assert_eq!(backend.run_state("ok").await, listed_ok);
    // squeue's reason (NonZeroExitCode) is not kept by accounting.
    let from_sacct = backend.run_state("bad").await;
    assert!(
        matches!(&from_sacct, RunState::Exited { code: Some(3), reason: Some(r) } if r.starts_with(&format!("slurm FAILED (job {bad} on "))),
        "{from_sacct:?}"
    );
    let info = backend.info("bad").await.expect("the job, from accounting");
    assert_eq!(info.job_id, bad);
    assert_eq!(info.name, backend.job_name("bad"));

    // The same sacct on a login node over SSH.
    let ssh = Transport::new(&TransportConfig::Ssh(SshConfig {
        host: env["AIFB_SSH_HOST"].clone(),
        port: env["AIFB_SSH_PORT"].parse().ok(),
        user: Some(env["AIFB_SSH_USER"].clone()),
        key: Some(env["AIFB_SSH_KEY"].clone().into()),
        known_hosts: Some(env["AIFB_SSH_KNOWN_HOSTS"].clone().into()),
        control_dir: Some(dir.path().to_path_buf()),
    }))
    .unwrap();
    let over_ssh = ssh.accounted(&bad).await.unwrap().expect("sacct over ssh");
    assert_eq!(over_ssh.state, SlurmState::Failed);
    assert_eq!(over_ssh.exit_code, Some(3));
    let over_ssh = ssh.accounted(&ok).await.unwrap().expect("sacct over ssh");
    ssh.close().await;
    assert_eq!(
        (over_ssh.state, over_ssh.exit_code),
        (SlurmState::Completed, Some(0))
    );

    // slurmrestd's slurmdb endpoint (openapi/dbv0.0.38). Its exit code of a
    // failed job reads 0 in Slurm 22.05.8 (sacct says 3): only the state
    // is asserted.
    let token = std::fs::read_to_string(&env["AIFB_SLURM_JWT_FILE"]).expect("jwt");
    let rest = Transport::new(&TransportConfig::Rest(RestConfig {
        url: Some(env["AIFB_SLURM_REST_URL"].clone()),
        token: Some(Secret::new(token.trim())),
        user: Some(env["AIFB_SLURM_USER"].clone()),
        ..Default::default()
    }))
    .unwrap();
    let db_bad = rest
        .accounted(&bad)
        .await
        .unwrap()
        .expect("slurmdb knows the job");
    assert_eq!(db_bad.state, SlurmState::Failed);
    assert_eq!(db_bad.name, backend.job_name("bad"));
    let db_ok = rest
        .accounted(&ok)
        .await
        .unwrap()
        .expect("slurmdb knows the job");
    assert_eq!(
        (db_ok.state, db_ok.exit_code),
        (SlurmState::Completed, Some(0))
    );
    assert_eq!(rest.accounted("999999999").await.unwrap(), None);
}

/// Cancels the test's jobs still active when dropped.
struct CancelPrefix(String);

impl Drop for CancelPrefix {
    fn drop(&mut self) {
        cancel_active(&self.0);
    }
}
