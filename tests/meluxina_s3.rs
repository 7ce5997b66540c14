//! recipes/meluxina-s3.yaml run end to end by `aifbench submit` on the
//! REAL local Slurm cluster with the MeluXina-like site traits of
//! scripts/setup-slurm.sh (partition `cpu`, whole node, the account and QoS
//! the site's job_submit.lua requires, a login-shell job where Lmod exists),
//! against the REAL Garage S3 server of scripts/setup-garage.sh, started
//! here for the test. The site's variables are set to emulated values
//! (environment only, the file as shipped); the credentials file sits where
//! the recipe looks by default (`<project dir>/.aifbench-s3.env`). Asserts:
//! Succeeded, the four clients were steps of the one job, S3 results
//! (operations, bytes, no data loss), and neither key of the credentials
//! anywhere in the rendered script, the logs, status.yaml, the results or
//! what `aifbench submit`/`status` printed. FAILS when Slurm or Garage is
//! not set up.

mod common;
mod slurm_support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slurm_support::*;

const RECIPE: &str = "recipes/meluxina-s3.yaml";
const ACCOUNT: &str = "p200999";
const CLIENTS: [&str; 4] = ["mixed-1", "mixed-2", "mixed-3", "mixed-4"];

fn dir_var(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// Garage as scripts/setup-garage.sh left it, started for this test and
/// stopped (SIGKILL of the child this test started) when dropped.
struct Garage {
    child: std::process::Child,
    credentials: PathBuf,
}

impl Garage {
    fn start() -> Self {
        let bin = dir_var("AIFB_TOOLS", "/var/tmp/aifbench-tools").join("bin/garage");
        let dir = dir_var("AIFB_GARAGE_DIR", "/var/tmp/aifbench-garage");
        for f in [&bin, &dir.join("garage.toml"), &dir.join("credentials.env")] {
            assert!(
                f.exists(),
                "{} is missing: run scripts/setup-garage.sh first",
                f.display()
            );
        }
        // tests/storage_s3.rs starts its own Garage on the same ports:
        // wait (bounded) until none listens.
        let free_by = Instant::now() + Duration::from_secs(180);
        while std::net::TcpListener::bind("127.0.0.1:3900").is_err() {
            assert!(
                Instant::now() < free_by,
                "127.0.0.1:3900 stayed busy for 180 s: another Garage runs (scripts/setup-garage.sh --stop)"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let child = Command::new(&bin)
            .arg("-c")
            .arg(dir.join("garage.toml"))
            .arg("server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("garage starts");
        let garage = Self {
            child,
            credentials: dir.join("credentials.env"),
        };
        let ready_by = Instant::now() + Duration::from_secs(60);
        while !health_ok() {
            assert!(
                Instant::now() < ready_by,
                "Garage's /health did not answer 200 within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        garage
    }

    /// `(access key id, secret key)` of the setup's credentials file.
    fn keys(&self) -> (String, String) {
        let text = std::fs::read_to_string(&self.credentials).expect("credentials.env");
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or_else(|| panic!("no {k} in the credentials file"))
                .trim()
                .to_string()
        };
        (get("AWS_ACCESS_KEY_ID="), get("AWS_SECRET_ACCESS_KEY="))
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Garage's admin `/health` answers 200.
fn health_ok() -> bool {
    let Ok(mut s) = std::net::TcpStream::connect("127.0.0.1:3903") else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}

fn aifbench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aifbench"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn the_meluxina_s3_recipe_runs_in_one_allocation_against_garage() {
    let garage = Garage::start();
    let (access_key, secret_key) = garage.keys();
    let tmp = tempfile::tempdir().expect("tempdir");
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).expect("mkdir");
    // Where the recipe reads the credentials by default, as a user keeps
    // them: a copy on the project tier.
    std::fs::copy(&garage.credentials, project.join(".aifbench-s3.env")).expect("copy");
    let ws = project.join("aifbench-results");
    let _cleanup = Cleanup(ws.clone());
    let mut env = slurm_env();
    for (k, v) in [
        ("MELUXINA_ACCOUNT", ACCOUNT.to_string()),
        ("MELUXINA_QOS", "default".to_string()),
        ("MELUXINA_PROJECT_DIR", project.display().to_string()),
        ("S3_ENDPOINT", "http://127.0.0.1:3900".to_string()),
        ("S3_REGION", "garage".to_string()),
        ("AIFB_WARMUP", "1s".to_string()),
        ("AIFB_DURATION", "5s".to_string()),
    ] {
        env.insert(k.to_string(), v);
    }
    let start = Instant::now();
    let out = aifbench()
        .args(["submit", RECIPE])
        .envs(&env)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("aifbench runs");
    assert!(out.status.success(), "{}", output_text(&out));
    let mut printed = output_text(&out);
    let job = submitted_job_id(&String::from_utf8_lossy(&out.stdout));
    let dir = results_dir(&ws);
    let prefix = job_prefix(&dir);

    let mut seen_steps = std::collections::BTreeSet::new();
    let s = wait_terminal(&dir, &job, Duration::from_secs(240), || {
        seen_steps.extend(job_steps(&job).into_iter().map(|(_, n)| n));
    });
    let took = start.elapsed();
    let driver_err = std::fs::read_to_string(dir.join(format!("slurm_logs/driver-{job}.err")))
        .unwrap_or_default();
    assert_eq!(s["phase"], "Succeeded", "{s:#}\n{driver_err}");

    // The batch script: the site's login shell, partition, account, QoS,
    // one whole node; no module (nothing in the recipe needs one).
    let script = std::fs::read_to_string(dir.join("submit.sh")).expect("submit.sh");
    for want in [
        "#!/bin/bash -l\n",
        "#SBATCH --partition=cpu\n",
        &format!("#SBATCH --account={ACCOUNT}\n"),
        "#SBATCH --qos=default\n",
        "#SBATCH --nodes=1\n",
        "#SBATCH --exclusive\n",
        "#SBATCH --time=00:35:20\n",
    ] {
        assert!(script.contains(want), "missing {want:?} in\n{script}");
    }
    assert!(!script.contains("module load"), "{script}");

    // One allocation: every client a step of the submitted job, the run
    // left exactly that job, the steps were listed by squeue.
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).expect("run.json"))
            .expect("run.json parses");
    assert_eq!(run["allocation"]["jobId"], job.as_str(), "{run:#}");
    for id in CLIENTS {
        assert_step_of(&s, &run, &job, id);
    }
    assert!(
        CLIENTS
            .iter()
            .any(|id| seen_steps.contains(&format!("{prefix}{id}"))),
        "no client step was ever listed: {seen_steps:?}"
    );
    let all = jobs(&prefix);
    assert_eq!(
        all.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        [job.as_str()],
        "{all:?}"
    );

    // S3 results: operations counted, bytes both ways, no data loss.
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("summary.json")).expect("summary.json"),
    )
    .expect("summary parses");
    let total = &summary["total"];
    assert!(total["requests"].as_u64().unwrap_or(0) > 0, "{total:#}");
    assert_eq!(total["errors"], 0, "{total:#}");
    assert_eq!(total["dataLoss"], 0, "{total:#}");
    assert!(total["bytesWritten"].as_u64().unwrap_or(0) > 0, "{total:#}");
    assert!(total["bytesRead"].as_u64().unwrap_or(0) > 0, "{total:#}");
    for op in ["get", "put", "stat", "delete"] {
        assert!(
            total["operations"][op]["requests"].as_u64().unwrap_or(0) > 0,
            "no {op}: {total:#}"
        );
    }
    for id in CLIENTS {
        assert!(dir.join(format!("clients/{id}.json")).is_file(), "{id}");
    }

    // `aifbench status` of the folder, as the user follows it.
    let st = aifbench()
        .arg("status")
        .arg(&dir)
        .envs(&env)
        .output()
        .expect("aifbench status runs");
    assert!(st.status.success(), "{}", output_text(&st));
    let st_text = String::from_utf8_lossy(&st.stdout).into_owned();
    assert!(st_text.contains("verdict: Succeeded"), "{st_text}");
    printed.push_str(&output_text(&st));

    // The credentials: the path is in the configuration, the keys nowhere.
    for (what, key) in [("access key id", &access_key), ("secret key", &secret_key)] {
        assert!(key.len() >= 16, "a {what} this short proves nothing");
        let found = files_containing(&dir, key);
        assert!(found.is_empty(), "the {what} is in {found:?}");
        assert!(!printed.contains(key.as_str()), "the {what} was printed");
    }
    let config = std::fs::read_to_string(dir.join("clients/mixed-1.config.json")).expect("config");
    assert!(config.contains(".aifbench-s3.env"), "{config}");

    assert!(wait_no_active(&prefix, Duration::from_secs(30)).is_empty());
    eprintln!(
        "meluxina-s3 on the site against Garage: `aifbench submit` to Succeeded in {:.1}s",
        took.as_secs_f64()
    );
}
