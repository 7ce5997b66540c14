//! recipes/slurm-local.yaml on the real single-node Slurm cluster of
//! scripts/setup-slurm.sh, through each transport: the local CLI, SSH to
//! the loopback sshd, and slurmrestd (JWT over TCP; local auth on the unix
//! socket). These tests FAIL when Slurm is not up.

mod common;
mod slurm_support;

use std::time::{Duration, Instant};

use common::component;
use slurm_support::*;

/// The runs share one 8-slot node; one at a time keeps timings honest.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn succeeds_through(transport: &str) {
    succeeds(transport, false);
}

fn succeeds(transport: &str, in_allocation: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ws = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(ws.path().to_path_buf());
    let start = Instant::now();
    let out = run_cmd(ws.path(), "recipes/slurm-local.yaml", transport)
        .env(
            "AIFB_SLURM_IN_ALLOCATION",
            if in_allocation { "true" } else { "false" },
        )
        .output()
        .unwrap();
    let took = start.elapsed();
    eprintln!(
        "slurm-local through {transport} (in allocation: {in_allocation}): {:.1}s",
        took.as_secs_f64()
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let dir = results_dir(ws.path());
    let s = status(&dir);
    assert_eq!(s["phase"], "Succeeded", "{s:#}");
    // Every component ran as a job with an id and a node; the service's
    // endpoint is its node and reported port.
    for id in ["sim", "chat-1", "chat-2"] {
        let c = component(&s, id);
        assert_eq!(c["backend"], "slurm", "{c:#}");
        assert!(c["jobId"].as_str().is_some_and(|j| !j.is_empty()), "{c:#}");
    }
    // Provenance: the Slurm version (asked where the Slurm commands run;
    // slurmrestd is not asked) and each component's job id, node and
    // partition, as the status has them.
    let env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("environment.json")).unwrap())
            .unwrap();
    let slurm = &env["provenance"]["slurm"];
    if transport == "rest" {
        assert!(slurm["version"].is_null(), "{slurm:#}");
    } else {
        let version = slurm["version"].as_str().unwrap_or_default();
        assert!(
            version.starts_with(|c: char| c.is_ascii_digit()) && version.contains('.'),
            "{slurm:#}"
        );
    }
    for id in ["sim", "chat-1", "chat-2"] {
        let c = component(&s, id);
        let job = slurm["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["component"] == id))
            .unwrap_or_else(|| panic!("no job for {id} in {slurm:#}"));
        assert_eq!(job["jobId"], c["jobId"], "{slurm:#}");
        assert_eq!(job["node"], c["node"], "{slurm:#}");
        assert!(
            job["node"].as_str().is_some_and(|n| !n.is_empty()),
            "{slurm:#}"
        );
        assert!(
            job["partition"].as_str().is_some_and(|p| !p.is_empty()),
            "{slurm:#}"
        );
    }
    let sim = component(&s, "sim");
    let port = std::fs::read_to_string(dir.join("slurm_logs/sim.port")).unwrap();
    assert_eq!(
        sim["endpoint"].as_str().unwrap(),
        format!("http://{}:{}", sim["node"].as_str().unwrap(), port.trim())
    );
    // Results were read back from the workspace.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let requests = summary["total"]["requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("no request count in {summary:#}"));
    assert!(requests > 0, "{summary:#}");
    for id in ["chat-1", "chat-2"] {
        assert!(
            dir.join(format!("clients/{id}.json")).is_file(),
            "{id} result"
        );
    }
    let logs: Vec<String> = std::fs::read_dir(dir.join("slurm_logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("sim-") && l.ends_with(".err")),
        "{logs:?}"
    );
    // Nothing of the benchmark is left in the queue.
    let prefix = job_prefix(&dir);
    let all = jobs(&prefix);
    let expected = if in_allocation { 4 } else { 3 };
    assert_eq!(
        all.len(),
        expected,
        "exactly one job per component: {all:?}"
    );
    if in_allocation {
        // Health checked from the service's node; the monitor was a job.
        assert!(dir.join("slurm_logs/sim.ready").is_file());
        assert!(
            all.iter().any(|j| j.name.ends_with("-sim-metrics")),
            "{all:?}"
        );
        let raw = std::fs::read_to_string(dir.join("metrics/sim-metrics.raw.jsonl")).unwrap();
        assert!(raw.lines().count() >= 2, "{raw}");
    }
    let left = wait_no_active(&prefix, Duration::from_secs(15));
    assert!(left.is_empty(), "jobs left behind: {left:?}");
    // The monitor scraped the service on its node.
    assert!(dir.join("metrics/sim-metrics.raw.jsonl").is_file());
}

#[test]
fn slurm_local_succeeds_through_the_cli() {
    succeeds_through("cli");
}

#[test]
fn slurm_local_succeeds_through_ssh() {
    succeeds_through("ssh");
}

/// For clusters whose compute nodes the driver cannot reach: the health
/// check runs inside the service's job, the monitor is an `aifbench
/// scrape` job, and results come back through the shared results folder
/// (the ready file over SSH).
#[test]
fn slurm_local_succeeds_in_allocation_over_ssh() {
    succeeds("ssh", true);
}

#[test]
fn slurm_local_succeeds_through_slurmrestd_with_jwt() {
    succeeds_through("rest");
}

/// slurmrestd on its unix socket with local authentication (jobs run as
/// the socket's user, `nobody`): submit, observe, cancel through the
/// library.
#[tokio::test(flavor = "multi_thread")]
async fn slurmrestd_unix_socket_submits_observes_and_cancels() {
    use aifbench::backend::slurm::render::JobRequest;
    use aifbench::backend::slurm::rest::RestConfig;
    use aifbench::backend::slurm::{SlurmBackend, SlurmConfig, TransportConfig};
    use aifbench::engine::RunState;
    use std::os::unix::fs::PermissionsExt;

    // One `sleep` job: no need to wait for the other tests.
    let env = slurm_env();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = format!("socket-{}", std::process::id());
    let config = SlurmConfig {
        transport: TransportConfig::Rest(RestConfig {
            socket: Some(env["AIFB_SLURM_REST_SOCKET"].clone().into()),
            ..Default::default()
        }),
        poll_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let backend = SlurmBackend::new(config, &run, dir.path().to_path_buf()).unwrap();
    let req = JobRequest {
        name: backend.job_name("sleeper"),
        component: "sleeper".into(),
        slurm: aifbench::api::spec::SlurmSpec {
            partition: Some(env["AIFB_SLURM_PARTITION"].clone()),
            time: Some(aifbench::api::duration::Duration::from_secs(120)),
            ..Default::default()
        },
        argv: vec!["sleep".into(), "60".into()],
        working_dir: dir.path().to_path_buf(),
        log_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let prefix = format!("{}-", backend.job_name("").trim_end_matches('-'));
    let placement = backend.submit(&req).await.unwrap();
    let id = placement.job_id.clone().unwrap();
    let guard = scopeguard(id.clone());
    let start = Instant::now();
    loop {
        match backend.run_state("sleeper").await {
            RunState::Running => break,
            RunState::Queued(_) | RunState::Unknown => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A second submit of the same component adopts the job.
    let again = backend.submit(&req).await.unwrap();
    assert_eq!(again.job_id.as_deref(), Some(id.as_str()));
    assert_eq!(jobs(&prefix).len(), 1);
    let cancelled = backend.cancel_all().await.unwrap();
    assert_eq!(cancelled, vec![id.clone()]);
    let start = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        match backend.run_state("sleeper").await {
            RunState::Exited {
                reason: Some(r), ..
            } => {
                assert!(r.contains("CANCELLED"), "{r}");
                break;
            }
            other => assert!(start.elapsed() < Duration::from_secs(30), "still {other:?}"),
        }
    }
    drop(guard);
}

/// scancel on drop.
struct JobGuard(String);
impl Drop for JobGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("scancel").arg(&self.0).status();
    }
}
fn scopeguard(id: String) -> JobGuard {
    JobGuard(id)
}

/// `--dry-run` prints the sbatch scripts that would be submitted.
#[test]
fn dry_run_prints_the_scripts() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["run", "--dry-run", "recipes/slurm-local.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for id in ["sim", "chat-1", "chat-2"] {
        assert!(
            text.contains(&format!("# ---- sbatch script of {id} ")),
            "{text}"
        );
    }
    assert!(text.contains("#SBATCH --partition=debug"), "{text}");
    assert!(text.contains("exec aifbench sim --port"), "{text}");
    assert!(text.contains(" loadgen --config "), "{text}");
}

/// Runs Apptainer for real where it is installed (it cannot be installed on
/// the CI machines; the rendering is covered by unit tests).
#[test]
fn apptainer_wrapping_runs_where_apptainer_exists() {
    let Ok(path) = std::env::var("PATH") else {
        return;
    };
    if !path
        .split(':')
        .any(|d| std::path::Path::new(d).join("apptainer").is_file())
    {
        eprintln!("apptainer is not on PATH; this one test has nothing to run here");
        return;
    }
    let image =
        std::env::var("AIFB_APPTAINER_IMAGE").unwrap_or_else(|_| "docker://busybox:1.36".into());
    let spec = aifbench::api::spec::ApptainerSpec {
        image,
        env: [("GREETING".to_string(), "hi there".to_string())].into(),
        ..Default::default()
    };
    let argv = aifbench::backend::slurm::render::wrapped_argv(
        &["sh".into(), "-c".into(), "echo \"$GREETING\"".into()],
        Some(&spec),
    );
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi there");
}

/// The MeluXina vLLM recipe renders: GPU partition, account, gres, modules,
/// Apptainer with --nv and the image.
#[test]
fn meluxina_vllm_recipe_renders() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["run", "--dry-run", "recipes/meluxina-vllm.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("MELUXINA_ACCOUNT", "p200123")
        .env("VLLM_SIF", "/project/home/p200123/vllm.sif")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "#SBATCH --partition=gpu",
        "#SBATCH --account=p200123",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --signal=B:TERM@60",
        "module load Apptainer/1.2.4-GCCcore-12.3.0",
        "exec apptainer exec --nv --bind /project/home/p200123 --env AIFB_PORT=",
        "--env HF_HOME=/project/home/p200123/hf-cache --env VLLM_NO_USAGE_STATS=1 /project/home/p200123/vllm.sif python3 -m vllm.entrypoints.openai.api_server --model facebook/opt-125m",
        // The QoS the site requires (the clients, once on `cpu`, now share
        // the GPU node: one allocation has one partition).
        "#SBATCH --qos=default",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}
