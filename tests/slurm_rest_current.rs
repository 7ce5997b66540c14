//! recipes/slurm-local.yaml through slurmrestd of a current Slurm: 24.11
//! from Debian trixie, which serves only the v0.0.40+ REST API (v0.0.40 ..
//! v0.0.42), run in a trixie root by scripts/setup-slurm-trixie.sh. The
//! driver and its binary run on the host; the jobs run inside the root and
//! see the binary and the results folder through the folder shared with it.
//! FAILS when that Slurm is not up.

mod common;
mod slurm_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::component;
use slurm_support::{output_text, results_dir, status};

/// Where scripts/setup-slurm-trixie.sh writes its settings.
const ENV_FILE: &str = "/var/tmp/aifbench-slurm-trixie/env";
/// The trixie root (commands of that cluster run in it).
const ROOT: &str = "/var/tmp/aifbench-slurm-trixie/root";

fn trixie_env() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(ENV_FILE).unwrap_or_else(|e| {
        panic!("Slurm 24.11 is not set up ({ENV_FILE}: {e}): run scripts/setup-slurm-trixie.sh (as root)")
    });
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// HTTP status of a GET with the cluster's token.
fn get_status(env: &BTreeMap<String, String>, path: &str) -> String {
    let token = std::fs::read_to_string(&env["AIFB_SLURM_JWT_FILE"]).expect("jwt");
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("X-SLURM-USER-TOKEN: {}", token.trim()))
        .args(["-H", "X-SLURM-USER-NAME: root"])
        .arg(format!("{}{path}", env["AIFB_SLURM_REST_URL"]))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Jobs (id|name|state) of the trixie cluster whose name starts with
/// `prefix`.
fn trixie_jobs(prefix: &str) -> Vec<String> {
    let out = Command::new("chroot")
        .args([ROOT, "squeue", "-h", "--states=all", "-o", "%i|%j|%T"])
        .output()
        .expect("chroot squeue runs");
    assert!(out.status.success(), "{}", output_text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split('|').nth(1).is_some_and(|n| n.starts_with(prefix)))
        .map(str::to_string)
        .collect()
}

/// The aifbench binary, copied where the jobs see it.
fn shared_binary(share: &Path) -> PathBuf {
    let bin = share.join(format!("bin-{}", std::process::id()));
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("aifbench");
    std::fs::copy(env!("CARGO_BIN_EXE_aifbench"), &exe).expect("copy the binary");
    exe
}

fn succeeds_with(env: &BTreeMap<String, String>, exe: &Path, version: Option<&str>) {
    let share = Path::new(&env["AIFB_TRIXIE_SHARE"]);
    let ws = tempfile::tempdir_in(share).unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "run",
        "recipes/slurm-local.yaml",
        "--progress",
        "plain",
        "--workspace",
    ])
    .arg(ws.path())
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .envs(env)
    .env("AIFB_SLURM_TRANSPORT", "rest")
    .env("AIFB_SLURM_IN_ALLOCATION", "false")
    .env_remove("AIFB_SLURM_REST_SOCKET");
    match version {
        Some(v) => cmd.env("AIFB_SLURM_API_VERSION", v),
        None => cmd.env_remove("AIFB_SLURM_API_VERSION"),
    };
    let start = Instant::now();
    let out = cmd.output().unwrap();
    eprintln!(
        "slurm-local through slurmrestd 24.11 ({}): {:.1}s",
        version.unwrap_or("negotiated"),
        start.elapsed().as_secs_f64()
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let dir = results_dir(ws.path());
    let s = status(&dir);
    assert_eq!(s["phase"], "Succeeded", "{s:#}");
    for id in ["sim", "chat-1", "chat-2"] {
        let c = component(&s, id);
        assert_eq!(c["backend"], "slurm", "{c:#}");
        assert!(c["jobId"].as_str().is_some_and(|j| !j.is_empty()), "{c:#}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let requests = summary["total"]["requests"].as_u64().unwrap_or(0);
    assert!(requests > 0, "{summary:#}");
    // One job per component, none left active.
    let prefix = slurm_support::job_prefix(&dir);
    let all = trixie_jobs(&prefix);
    assert_eq!(all.len(), 3, "one job per component: {all:?}");
    assert!(
        all.iter()
            .all(|j| !j.ends_with("|RUNNING") && !j.ends_with("|PENDING")),
        "jobs left behind: {all:?}"
    );
}

#[test]
fn slurm_local_succeeds_through_slurmrestd_24_11() {
    let env = trixie_env();
    // A current slurmrestd: v0.0.38 (what Slurm 22.05 serves) is gone.
    assert_eq!(get_status(&env, "/slurm/v0.0.40/ping"), "200");
    assert_ne!(get_status(&env, "/slurm/v0.0.38/ping"), "200");
    let share = PathBuf::from(&env["AIFB_TRIXIE_SHARE"]);
    let exe = shared_binary(&share);
    for version in [Some("v0.0.40"), Some("v0.0.41"), None] {
        succeeds_with(&env, &exe, version);
    }
    let _ = std::fs::remove_dir_all(exe.parent().expect("bin folder"));
}
