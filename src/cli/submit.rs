//! `aifbench submit FILE`: the whole run as ONE Slurm batch job. The job
//! runs the driver itself (`exec <this binary> run ... --slurm-steps`), and
//! the driver starts the `executor: slurm` components as job steps of the
//! same allocation (`backend::slurm::steps`), so the clients start with
//! the service, nothing queues mid-run and no node waits idle.
//!
//! The allocation ([`allocation_spec`], pure): whole nodes (`--exclusive`),
//! as many as [`Backends::node_plan`] places components on; partition, account,
//! QoS, reservation, constraint, GPUs and modules from the components'
//! Slurm settings (which must agree: one allocation, one partition); the
//! time limit from `execution.runDeadline`, the longest health-check
//! timeout, twice the stop grace period and a margin. The script
//! ([`render_submit_script`], pure) is a login shell with `set -euo
//! pipefail`, PATH prepended and every value quoted (the batch-script
//! renderer of `backend::slurm::render`). The results folder is made
//! before submitting, with the resolved Benchmark in it, so the job runs
//! exactly what was checked here and the user knows where to look.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use aifbench::api::spec::{Benchmark, SlurmSpec};
use aifbench::backend::Backends;
#[cfg(test)]
use aifbench::backend::slurm::render::slurm_time;
use aifbench::backend::slurm::render::{JobRequest, LOGIN_SHEBANG, body, directives};
use aifbench::backend::slurm::steps::Allocation;
use aifbench::backend::slurm::{Transport, TransportConfig, job_name};
use aifbench::results::ResultsDir;

use super::console;
use super::files::load_valid;
use super::slurm_args::SlurmArgs;

// No doc comment here: the `Submit` variant's text is the subcommand's help.
#[derive(clap::Args, Debug)]
pub struct SubmitArgs {
    /// The Benchmark (or seed recipe) file.
    pub file: PathBuf,
    /// The results folder goes here instead of spec.workspace (default
    /// ./results); it must be on a filesystem the compute nodes share.
    #[arg(long, short = 'w')]
    pub workspace: Option<PathBuf>,
    /// Print the batch script and the job steps without submitting.
    #[arg(long)]
    pub dry_run: bool,
    /// Time added to the allocation's limit beyond the run's deadline,
    /// health-check timeouts and stop grace periods.
    #[arg(long, default_value = "5m", value_parser = super::operator::parse_duration)]
    pub time_margin: Duration,
    #[command(flatten)]
    pub slurm: SlurmArgs,
}

/// The component of the allocation's job name and log files.
const DRIVER: &str = "driver";

/// Where the job's Benchmark copy lives in the results folder.
const SUBMITTED: &str = "benchmark.submitted.yaml";

/// Submits (or with `--dry-run` prints) the run of `args.file` as one job.
/// Exit code: 0 submitted, 1 refused, 2 invalid file.
pub async fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let loaded = match load_valid(&args.file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let b = loaded.benchmark;
    let slurm = match allocation_spec(&b, args.time_margin) {
        Ok(s) => s,
        Err(e) => {
            console::err(&format!("error: {}: {e}\n", args.file.display()));
            return Ok(ExitCode::from(2));
        }
    };
    let exe = std::env::current_exe().context("cannot find the aifbench executable")?;
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let ws = std::path::absolute(
        args.workspace
            .clone()
            .or_else(|| b.spec.workspace.as_ref().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("results")),
    )?;
    let name = b.metadata.name.clone().unwrap_or_default();
    if args.dry_run {
        let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
        let dir = ResultsDir::open(&ws.join(format!("{name}-{stamp}")));
        let script = render_submit_script(&job(&slurm, &exe, &dir, &cwd))?;
        print!("{script}");
        print_steps(&b, &dir, &exe, &slurm)?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = args.slurm.config()?;
    anyhow::ensure!(
        config.remote_dir.is_none(),
        "`aifbench submit` runs the driver inside the job, which writes the results folder itself: it must be on a filesystem the compute nodes share (--slurm-remote-dir does not apply)"
    );
    if !matches!(
        config.transport,
        TransportConfig::Cli | TransportConfig::Ssh(_)
    ) {
        anyhow::bail!(
            "`aifbench submit` submits with sbatch, here or over ssh (--slurm-transport cli or ssh), not through slurmrestd"
        );
    }
    let dir = ResultsDir::create(&ws, &name, jiff::Timestamp::now())?;
    std::fs::create_dir_all(dir.root.join("slurm_logs"))?;
    // `$` doubled: the job loads the copy with ${VAR} expansion again, and
    // `$$` is a literal `$`, so it gets exactly the values resolved here.
    let resolved = serde_norway::to_string(&b)?.replace('$', "$$");
    std::fs::write(dir.root.join(SUBMITTED), resolved)?;
    let script = render_submit_script(&job(&slurm, &exe, &dir, &cwd))?;
    std::fs::write(dir.root.join("submit.sh"), &script)?;
    let transport = Transport::new(&config.transport)?;
    let Transport::Cli(cli) = &transport else {
        anyhow::bail!("`aifbench submit` needs the cli or ssh transport");
    };
    let job_id = match cli.submit(&script).await {
        Ok(id) => id,
        Err(e) => {
            console::err(&format!(
                "error: slurm refused the job: {e}\nthe script is in {}\n",
                dir.root.join("submit.sh").display()
            ));
            cli.close().await;
            return Ok(ExitCode::from(1));
        }
    };
    cli.close().await;
    let output = dir.root.join(format!("slurm_logs/{DRIVER}-{job_id}.out"));
    let record = serde_json::json!({
        "jobId": job_id,
        "jobName": job_name(&run_name(&dir), DRIVER),
        "output": output,
        "submitTime": jiff::Timestamp::now().to_string(),
    });
    std::fs::write(
        dir.root.join(SUBMIT_JSON),
        serde_json::to_string_pretty(&record)?,
    )?;
    tracing::info!(job_id = %job_id, results = %dir.root.display(), "submitted the run as one job");
    console::out(&followed(&job_id, &dir, &output));
    Ok(ExitCode::SUCCESS)
}

/// The record `aifbench status` reads before the driver has started.
pub const SUBMIT_JSON: &str = "submit.json";

/// What the user is told after submitting.
fn followed(job_id: &str, dir: &ResultsDir, output: &Path) -> String {
    let d = dir.root.display();
    format!(
        "submitted: slurm job {job_id}\nresults: {d}\nfollow it:\n  aifbench status {d} --watch\n  tail -f {}\ncancel it:\n  aifbench cancel {d}\n",
        output.display()
    )
}

/// The results folder's name: the run id of the job names.
fn run_name(dir: &ResultsDir) -> String {
    dir.root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".to_string())
}

/// The batch job holding the whole run: this binary's `run` of the
/// submitted copy into `dir`, its components as job steps.
fn job(slurm: &SlurmSpec, exe: &Path, dir: &ResultsDir, cwd: &Path) -> JobRequest {
    let mut env = std::collections::BTreeMap::new();
    if let Some(bin) = exe.parent() {
        env.insert("PATH".to_string(), bin.display().to_string());
    }
    let root = dir.root.display().to_string();
    JobRequest {
        name: job_name(&run_name(dir), DRIVER),
        component: DRIVER.to_string(),
        slurm: slurm.clone(),
        argv: vec![
            exe.display().to_string(),
            "run".to_string(),
            dir.root.join(SUBMITTED).display().to_string(),
            "--results-dir".to_string(),
            root,
            "--slurm-steps".to_string(),
            "--progress".to_string(),
            "plain".to_string(),
        ],
        env,
        working_dir: cwd.to_path_buf(),
        log_dir: dir.root.join("slurm_logs"),
        ..Default::default()
    }
}

/// The batch script of the allocation: a login shell (site modules),
/// `set -euo pipefail`, the `#SBATCH` lines, PATH prepended, the
/// components' modules, and `exec` of the driver.
pub fn render_submit_script(req: &JobRequest) -> anyhow::Result<String> {
    let mut s = format!("{LOGIN_SHEBANG}\n");
    s.push_str("# Generated by aifbench submit: the driver, services and clients of one run\n");
    s.push_str("# in this one allocation; the components run as job steps of it.\n");
    for d in directives(req)? {
        s.push_str(&format!("#SBATCH {d}\n"));
    }
    let b = body(req)?;
    match b.strip_prefix("set -eu\n") {
        Some(rest) => {
            s.push_str("set -euo pipefail\n");
            s.push_str(rest);
        }
        None => {
            s.push_str("set -euo pipefail\n");
            s.push_str(&b);
        }
    }
    Ok(s)
}

/// `--dry-run`: each Slurm component's step as the driver would start it.
fn print_steps(
    b: &Benchmark,
    dir: &ResultsDir,
    exe: &Path,
    slurm: &SlurmSpec,
) -> anyhow::Result<()> {
    let n = slurm.nodes.unwrap_or(1);
    let allocation = Allocation {
        job_id: "$SLURM_JOB_ID".to_string(),
        nodes: (1..=n).map(|i| format!("<node{i}>")).collect(),
    };
    let steps =
        aifbench::local::dry_run_steps(b, dir, exe, allocation).map_err(|e| anyhow::anyhow!(e))?;
    for (id, line) in steps {
        println!("# step of {id} (started by the driver inside the allocation):\n#   {line}");
    }
    Ok(())
}

/// Where a Slurm setting comes from: `spec.services[0].slurm`.
struct Source<'a> {
    path: String,
    slurm: &'a SlurmSpec,
}

/// The Slurm settings of every `executor: slurm` component.
fn sources(b: &Benchmark) -> Vec<Source<'_>> {
    let services = b.spec.services.iter().enumerate().filter_map(|(i, s)| {
        Backends::runs_in_allocation(s.executor)
            .then_some(s.slurm.as_ref())
            .flatten()
            .map(|slurm| Source {
                path: format!("spec.services[{i}].slurm"),
                slurm,
            })
    });
    let clients = b.spec.clients.iter().enumerate().filter_map(|(i, c)| {
        Backends::runs_in_allocation(c.executor)
            .then_some(c.slurm.as_ref())
            .flatten()
            .map(|slurm| Source {
                path: format!("spec.clients[{i}].slurm"),
                slurm,
            })
    });
    services.chain(clients).collect()
}

/// The one value of a setting the components agree on; an error naming
/// both fields when two differ.
fn agreed(
    sources: &[Source<'_>],
    field: &str,
    get: impl Fn(&SlurmSpec) -> Option<&String>,
) -> Result<Option<String>, String> {
    let mut found: Option<(&str, &String)> = None;
    for s in sources {
        let Some(v) = get(s.slurm) else { continue };
        match found {
            Some((path, first)) if first != v => {
                return Err(format!(
                    "{path}.{field} is {first:?} but {}.{field} is {v:?}: one allocation has one {field} (components that need different ones need a heterogeneous job, which `aifbench submit` does not make yet; run them with `aifbench run`)",
                    s.path
                ));
            }
            Some(_) => {}
            None => found = Some((&s.path, v)),
        }
    }
    Ok(found.map(|(_, v)| v.clone()))
}

/// The Slurm settings of the allocation holding the whole run of `b`
/// (pure): whole nodes, as many as [`Backends::node_plan`] needs; the settings the
/// components agree on; their modules and extra directives; the time
/// limit (`execution.runDeadline` + the longest health-check timeout + 2 ×
/// `execution.stopGracePeriod` + `margin`).
pub fn allocation_spec(b: &Benchmark, margin: Duration) -> Result<SlurmSpec, String> {
    let src = sources(b);
    let deadline = b.spec.execution.run_deadline.ok_or_else(|| {
        "spec.execution.runDeadline is not set: `aifbench submit` sizes the allocation's time limit from it (set it, e.g. runDeadline: 30m)".to_string()
    })?;
    let health = b
        .spec
        .services
        .iter()
        .filter_map(|s| s.healthcheck.as_ref())
        .map(|h| h.timeout.get())
        .max()
        .unwrap_or_default();
    let grace = b.spec.execution.stop_grace_period.get();
    let time = deadline.get() + health + 2 * grace + margin;
    let mut modules: Vec<String> = Vec::new();
    let mut extra: Vec<String> = Vec::new();
    for s in &src {
        for m in &s.slurm.modules {
            if !modules.contains(m) {
                modules.push(m.clone());
            }
        }
        for e in &s.slurm.extra_directives {
            if !extra.contains(e) {
                extra.push(e.clone());
            }
        }
    }
    if let Some(g) = agreed(&src, "gpus", |s| s.gpus.as_ref())? {
        extra.push(format!("--gpus-per-node={g}"));
    }
    Ok(SlurmSpec {
        partition: agreed(&src, "partition", |s| s.partition.as_ref())?,
        account: agreed(&src, "account", |s| s.account.as_ref())?,
        qos: agreed(&src, "qos", |s| s.qos.as_ref())?,
        reservation: agreed(&src, "reservation", |s| s.reservation.as_ref())?,
        constraint: agreed(&src, "constraint", |s| s.constraint.as_ref())?,
        gres: agreed(&src, "gres", |s| s.gres.as_ref())?,
        nodes: Some(Backends::node_plan(&b.spec).nodes),
        exclusive: true,
        time: Some(aifbench::api::duration::Duration(time)),
        modules,
        extra_directives: extra,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aifbench::api::spec::{ClientSpec, ExecutorKind, ServiceSpec};

    fn time_text(s: &SlurmSpec) -> String {
        s.time.map(|t| slurm_time(t.get())).unwrap_or_default()
    }

    fn bench(partitions: [&str; 2], deadline: Option<u64>) -> Benchmark {
        let mut b = Benchmark::new("b", Default::default());
        let slurm = |p: &str| {
            Some(SlurmSpec {
                partition: Some(p.to_string()),
                account: Some("p200000".to_string()),
                modules: vec!["Apptainer/1.3".to_string()],
                ..Default::default()
            })
        };
        b.spec.services.push(ServiceSpec {
            id: "sim".into(),
            executor: ExecutorKind::Slurm,
            slurm: slurm(partitions[0]),
            ..Default::default()
        });
        b.spec.clients.push(ClientSpec {
            id: "chat".into(),
            instances: 2,
            executor: ExecutorKind::Slurm,
            slurm: slurm(partitions[1]),
            ..Default::default()
        });
        b.spec.execution.run_deadline = deadline.map(aifbench::api::duration::Duration::from_secs);
        b.spec.execution.stop_grace_period = aifbench::api::duration::Duration::from_secs(5);
        b
    }

    #[test]
    fn the_allocation_holds_every_component_for_the_deadline() {
        let s =
            allocation_spec(&bench(["cpu", "cpu"], Some(600)), Duration::from_secs(60)).unwrap();
        assert_eq!(s.partition.as_deref(), Some("cpu"));
        assert_eq!(s.account.as_deref(), Some("p200000"));
        assert_eq!(s.nodes, Some(1));
        assert!(s.exclusive);
        assert_eq!(s.modules, ["Apptainer/1.3"]);
        // 600 s + no health check + 2 × 5 s + 60 s.
        assert_eq!(time_text(&s), "00:11:10");
    }

    #[test]
    fn what_cannot_be_one_allocation_names_the_fields() {
        let e = allocation_spec(&bench(["gpu", "cpu"], Some(600)), Duration::ZERO).unwrap_err();
        assert!(
            e.contains("spec.services[0].slurm.partition is \"gpu\"")
                && e.contains("spec.clients[0].slurm.partition is \"cpu\""),
            "{e}"
        );
        let e = allocation_spec(&bench(["cpu", "cpu"], None), Duration::ZERO).unwrap_err();
        assert!(
            e.starts_with("spec.execution.runDeadline is not set"),
            "{e}"
        );
    }

    #[test]
    fn the_script_is_a_login_shell_that_execs_the_driver_in_the_allocation() {
        let slurm = allocation_spec(&bench(["cpu", "cpu"], Some(600)), Duration::ZERO).unwrap();
        let dir = ResultsDir::open(Path::new("/scratch/u/b-1"));
        let script = render_submit_script(&job(
            &slurm,
            Path::new("/opt/aif bench/aifbench"),
            &dir,
            Path::new("/home/u/it's $HOME"),
        ))
        .unwrap();
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines[0], "#!/bin/bash -l");
        assert!(lines.contains(&"#SBATCH --exclusive"), "{script}");
        assert!(lines.contains(&"#SBATCH --nodes=1"), "{script}");
        assert!(lines.contains(&"#SBATCH --partition=cpu"), "{script}");
        assert!(lines.contains(&"set -euo pipefail"), "{script}");
        assert!(
            lines.contains(&"export PATH='/opt/aif bench':\"$PATH\""),
            "{script}"
        );
        assert!(
            script.contains(
                "exec '/opt/aif bench/aifbench' run /scratch/u/b-1/benchmark.submitted.yaml --results-dir /scratch/u/b-1 --slurm-steps"
            ),
            "{script}"
        );
        assert!(lines.contains(&"cd '/home/u/it'\\''s $HOME'"), "{script}");
        assert!(script.contains("module load Apptainer/1.3"), "{script}");
        assert!(
            lines.contains(&"#SBATCH --output=/scratch/u/b-1/slurm_logs/driver-%j.out"),
            "{script}"
        );
    }
}
