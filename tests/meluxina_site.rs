//! recipes/meluxina-vllm.yaml run end to end by `aifbench submit` on the
//! REAL local Slurm cluster with the MeluXina-like site traits of
//! scripts/setup-slurm.sh: the `gpu` partition (whole node, 4 GPUs as
//! GRES), the account and QoS the site's job_submit.lua requires, `module`
//! (Lmod) only inside jobs, and the Apptainer module whose stand-in
//! `apptainer` records its argv and runs `aifbench sim` for vLLM. The
//! site's variables are set to emulated values (environment only, the file
//! as shipped). Also: the site refuses a job without account or QoS, and an
//! unset site variable is named. FAILS when Slurm is not up.

mod common;
mod slurm_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::component;
use slurm_support::*;

const RECIPE: &str = "recipes/meluxina-vllm.yaml";
const ACCOUNT: &str = "p200999";

fn aifbench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aifbench"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// A stand-in for the project tier (`/project/home/<account>`): the image
/// (an empty file; the stand-in only checks it exists, as Apptainer would)
/// and the results folder under it.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("project/images")).expect("mkdir");
        std::fs::write(dir.path().join("project/images/vllm-openai.sif"), b"").expect("sif");
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The site variables a MeluXina user sets, with emulated values, and
    /// short load phases for the test.
    fn env(&self) -> BTreeMap<String, String> {
        let mut env = slurm_env();
        let p = |rel: &str| self.path(rel).display().to_string();
        for (k, v) in [
            ("MELUXINA_ACCOUNT", ACCOUNT.to_string()),
            ("MELUXINA_QOS", "default".to_string()),
            ("MELUXINA_PROJECT_DIR", p("project")),
            ("VLLM_SIF", p("project/images/vllm-openai.sif")),
            ("AIFB_WARMUP", "2s".to_string()),
            ("AIFB_DURATION", "8s".to_string()),
            ("AIFB_APPTAINER_LOG", p("apptainer.jsonl")),
        ] {
            env.insert(k.to_string(), v);
        }
        env
    }
}

/// The job id of `aifbench submit`'s output (`submitted: slurm job N`).
fn submitted_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("submitted: slurm job "))
        .unwrap_or_else(|| panic!("no job id in {stdout}"))
        .trim()
        .to_string()
}

/// `squeue --steps` of a job: step names.
fn step_names(job: &str) -> BTreeSet<String> {
    let out = Command::new("squeue")
        .args(["-h", "--steps", "--jobs", job, "-o", "%j"])
        .output()
        .expect("squeue runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn timestamp(v: &serde_json::Value) -> jiff::Timestamp {
    v.as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| panic!("{v} is not a time: {e}"))
}

/// A login shell as a user gets one, in or outside a job.
fn login_shell(script: &str, job: Option<&str>) -> Output {
    let mut c = Command::new("bash");
    c.args(["-lc", script])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", "/root");
    if let Some(j) = job {
        c.env("SLURM_JOB_ID", j).env("SLURM_CLUSTER_NAME", "aifb");
    }
    c.output().expect("bash runs")
}

#[test]
fn the_meluxina_vllm_recipe_runs_in_one_allocation_on_the_site() {
    let project = Project::new();
    let env = project.env();
    let ws = project.path("project/aifbench-results");
    let _cleanup = Cleanup(ws.clone());
    let start = Instant::now();
    let out = aifbench()
        .args(["submit", RECIPE])
        .envs(&env)
        .output()
        .expect("aifbench runs");
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let job = submitted_id(&stdout);
    // The workspace defaulted to the project tier.
    let dir = results_dir(&ws);
    assert!(
        stdout.contains(&format!("results: {}\n", dir.display())),
        "{stdout}"
    );
    let prefix = job_prefix(&dir);

    // While it runs: the steps of the one job; when all three were listed
    // together, the clients measured while the service's step was there.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut together = false;
    let deadline = Instant::now() + Duration::from_secs(240);
    let s = loop {
        let names = step_names(&job);
        let want = ["vllm", "chat-1", "chat-2"].map(|id| format!("{prefix}{id}"));
        together |= want.iter().all(|n| names.contains(n));
        seen.extend(names);
        if let Ok(text) = std::fs::read_to_string(dir.join("status.yaml"))
            && let Ok(s) = serde_norway::from_str::<serde_json::Value>(&text)
            && matches!(
                s["phase"].as_str(),
                Some("Succeeded" | "Failed" | "Cancelled")
            )
        {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not end in 240 s; driver log:\n{}",
            std::fs::read_to_string(dir.join(format!("slurm_logs/driver-{job}.err")))
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let took = start.elapsed();
    let driver_err = std::fs::read_to_string(dir.join(format!("slurm_logs/driver-{job}.err")))
        .unwrap_or_default();
    assert_eq!(s["phase"], "Succeeded", "{s:#}\n{driver_err}");
    assert!(
        together,
        "vLLM's and both clients' steps were never listed together: {seen:?}"
    );
    assert!(
        !driver_err.contains("aifbench: 'module load"),
        "{driver_err}"
    );

    // The batch script asked for what the site requires.
    let script = std::fs::read_to_string(dir.join("submit.sh")).expect("submit.sh");
    for want in [
        "#!/bin/bash -l\n",
        "#SBATCH --partition=gpu\n",
        &format!("#SBATCH --account={ACCOUNT}\n"),
        "#SBATCH --qos=default\n",
        "#SBATCH --gres=gpu:1\n",
        "#SBATCH --exclusive\n",
        "module load env/release/2023.1 ",
        "module load Apptainer/1.2.4-GCCcore-12.3.0 ",
    ] {
        assert!(script.contains(want), "missing {want:?} in\n{script}");
    }

    // Every component was a step of the one submitted job; the run left
    // exactly that job.
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).expect("run.json"))
            .expect("run.json parses");
    assert_eq!(run["allocation"]["jobId"], job.as_str(), "{run:#}");
    for id in ["vllm", "chat-1", "chat-2"] {
        assert_step_of(&s, &run, &job, id);
    }
    assert!(seen.contains(&format!("{prefix}vllm")), "{seen:?}");
    let all = jobs(&prefix);
    assert_eq!(
        all.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        [job.as_str()],
        "{all:?}"
    );

    // The container: one `apptainer exec`, reached through the module, with
    // the GPUs, the project tier bound and HF_HOME passed in.
    let calls = std::fs::read_to_string(project.path("apptainer.jsonl"))
        .expect("the stand-in apptainer was called (it is only on PATH through the module)");
    let calls: Vec<Vec<String>> = calls
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON array per call"))
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let argv = &calls[0];
    let pair = |flag: &str, value: &str| argv.windows(2).any(|w| w[0] == flag && w[1] == value);
    let project_dir = project.path("project").display().to_string();
    assert_eq!(argv[0], "exec", "{argv:?}");
    assert!(argv.iter().any(|a| a == "--nv"), "{argv:?}");
    assert!(pair("--bind", &project_dir), "{argv:?}");
    assert!(
        pair("--env", &format!("HF_HOME={project_dir}/hf-cache")),
        "{argv:?}"
    );
    assert!(pair("--env", "VLLM_NO_USAGE_STATS=1"), "{argv:?}");
    let image = argv
        .iter()
        .position(|a| a.ends_with("/images/vllm-openai.sif"))
        .expect("the image");
    assert_eq!(
        argv[image + 1..image + 4],
        ["python3", "-m", "vllm.entrypoints.openai.api_server"],
        "{argv:?}"
    );

    // The clients' measurement window (after the warmup, to their last
    // request) lies inside the service step's lifetime, and they measured.
    let vllm = component(&s, "vllm");
    let (up, down) = (timestamp(&vllm["startTime"]), timestamp(&vllm["endTime"]));
    for id in ["chat-1", "chat-2"] {
        let r: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("clients/{id}.json"))).expect("result"),
        )
        .expect("result parses");
        let from = jiff::Timestamp::from_millisecond(
            r["timeline"]["startUnixMs"].as_i64().expect("startUnixMs"),
        )
        .expect("a time");
        let started = timestamp(&r["startedAt"]);
        let to = started
            .checked_add(jiff::SignedDuration::from_secs_f64(
                r["durationS"].as_f64().expect("durationS"),
            ))
            .expect("a time");
        assert!(
            up <= from && from < to && to <= down,
            "{id}: measured {from}..{to}, vLLM's step {up}..{down}"
        );
        assert!(
            component(&s, id)["progress"]["requests"]
                .as_u64()
                .unwrap_or(0)
                > 0,
            "{s:#}"
        );
    }
    assert!(wait_no_active(&prefix, Duration::from_secs(30)).is_empty());
    eprintln!(
        "meluxina-vllm on the site: `aifbench submit` to Succeeded in {:.1}s",
        took.as_secs_f64()
    );
}

#[test]
fn the_site_refuses_a_job_without_account_or_qos() {
    let env = slurm_env();
    let partition = env.get("AIFB_SITE_PARTITION").cloned().unwrap_or_default();
    assert_eq!(partition, "gpu", "re-run scripts/setup-slurm.sh: {env:?}");
    for (args, missing) in [
        (vec![], "--account --qos"),
        (vec!["--account", ACCOUNT], "--qos"),
        (vec!["--qos", "default"], "--account"),
    ] {
        let out = Command::new("sbatch")
            .args(["--parsable", "--partition", &partition, "--time", "1"])
            .args(&args)
            .args(["--output", "/dev/null", "--wrap", "true"])
            .output()
            .expect("sbatch runs");
        assert!(!out.status.success(), "{args:?}: {}", output_text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "jobs on partition gpu need --account=<project> and --qos=<qos> (missing: {missing})"
            )),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn module_exists_only_inside_jobs_and_reaches_the_stand_in() {
    let env = slurm_env();
    let site = Path::new(env.get("AIFB_SITE_DIR").expect("AIFB_SITE_DIR"));
    let outside = login_shell("type module", None);
    assert!(!outside.status.success(), "{}", output_text(&outside));
    let inside = login_shell(
        "module load env/release/2023.1 Apptainer/1.2.4-GCCcore-12.3.0 && command -v apptainer",
        Some("1"),
    );
    assert!(inside.status.success(), "{}", output_text(&inside));
    assert_eq!(
        String::from_utf8_lossy(&inside.stdout).trim(),
        site.join("bin/apptainer").display().to_string()
    );
    // Without the release module, Apptainer is not visible (as on MeluXina).
    let alone = login_shell("module load Apptainer/1.2.4-GCCcore-12.3.0", Some("1"));
    assert!(!alone.status.success(), "{}", output_text(&alone));
    let apptainer_on_path = login_shell("command -v apptainer", Some("1"));
    assert!(
        !apptainer_on_path.status.success(),
        "{}",
        output_text(&apptainer_on_path)
    );
}

#[test]
fn an_unset_site_variable_is_named_and_nothing_is_submitted() {
    let project = Project::new();
    let mut env = project.env();
    env.remove("MELUXINA_ACCOUNT");
    env.remove("MELUXINA_PROJECT_DIR");
    let out = aifbench()
        .args(["submit", RECIPE])
        .envs(&env)
        .env_remove("MELUXINA_ACCOUNT")
        .env_remove("MELUXINA_PROJECT_DIR")
        .output()
        .expect("aifbench runs");
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "spec.services[0].slurm.account: environment variable(s) MELUXINA_ACCOUNT not set"
        ),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("submitted"));
    assert!(run_dirs(&project.path("project/aifbench-results")).is_empty());
}
