//! `aifbench submit FILE`: the whole run as ONE Slurm job. The job runs
//! the driver itself (`exec <this binary> run ... --slurm-steps`), and the
//! driver starts the `executor: slurm` components as job steps of the same
//! allocation (`backend::slurm::steps`), so the clients start with the
//! service, nothing queues mid-run and no node waits idle.
//!
//! - `allocation`: its Slurm settings (pure) — one part, a plain job of
//!   whole nodes, when the components name one partition; one part per
//!   partition, the het groups of one heterogeneous job, when they name
//!   several (each group sized for its own components);
//! - `script`: the batch script (pure), `#SBATCH hetjob` between the parts;
//! - here: the results folder (made before submitting, with the resolved
//!   Benchmark in it, so the job runs exactly what was checked here and the
//!   user knows where to look), `--dry-run`, and the submission: `sbatch`
//!   here or over ssh, or slurmrestd's job submit endpoint (transport
//!   `rest`: the settings travel as fields of the job description — a list
//!   of them for a heterogeneous job — the script unchanged), recorded in `submit.json` for `aifbench status` and
//!   `aifbench cancel`.

mod allocation;
mod script;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::api::spec::{Benchmark, SlurmSpec};
use crate::backend::slurm::render::JobRequest;
use crate::backend::slurm::steps::Allocation;
use crate::backend::slurm::{Transport, TransportConfig, job_name};
use crate::results::ResultsDir;

use super::console;
use super::files::load_valid;
use super::slurm_args::SlurmArgs;

use self::allocation::allocation_parts;
use self::script::render_submit_script;

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
    let parts = match allocation_parts(&b, args.time_margin) {
        Ok(p) => p,
        Err(e) => {
            console::err(&format!("error: {}: {e}\n", args.file.display()));
            return Ok(ExitCode::from(2));
        }
    };
    let Some((first, more)) = parts.split_first() else {
        anyhow::bail!("the allocation has no part");
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
        let script = render_submit_script(&job(first, &exe, &dir, &cwd), more)?;
        print!("{script}");
        print_steps(&b, &dir, &exe, &parts)?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = args.slurm.config()?;
    anyhow::ensure!(
        config.remote_dir.is_none(),
        "`aifbench submit` runs the driver inside the job, which writes the results folder itself: it must be on a filesystem the compute nodes share (--slurm-remote-dir does not apply)"
    );
    let transport_name = match &config.transport {
        TransportConfig::Cli => "cli",
        TransportConfig::Ssh(_) => "ssh",
        TransportConfig::Rest(_) => "rest",
    };
    let dir = ResultsDir::create(&ws, &name, jiff::Timestamp::now())?;
    std::fs::create_dir_all(dir.root.join("slurm_logs"))?;
    // `$` doubled: the job loads the copy with ${VAR} expansion again, and
    // `$$` is a literal `$`, so it gets exactly the values resolved here.
    let resolved = serde_norway::to_string(&b)?.replace('$', "$$");
    std::fs::write(dir.root.join(SUBMITTED), resolved)?;
    let req = job(first, &exe, &dir, &cwd);
    let script = render_submit_script(&req, more)?;
    std::fs::write(dir.root.join("submit.sh"), &script)?;
    let transport = Transport::new(&config.transport)?;
    let submitted = match &transport {
        Transport::Cli(cli) => cli.submit(&script).await,
        Transport::Rest(rest) => {
            // slurmrestd reads the settings from the job description (one
            // per het group), not from the #SBATCH lines; the job inherits
            // nothing but what the description gives (PATH, HOME, USER,
            // LANG of this process: the script prepends the binary's
            // folder itself).
            let described: Vec<JobRequest> = parts
                .iter()
                .map(|p| JobRequest {
                    slurm: p.clone(),
                    env: Default::default(),
                    ..req.clone()
                })
                .collect();
            let (_, ignored) = crate::backend::slurm::rest::het_submit_body(
                &described,
                &script,
                &Default::default(),
                crate::backend::slurm::rest::ApiVersion::V0038,
            );
            for i in &ignored {
                console::err(&format!(
                    "warning: slurmrestd takes no {i:?}: the job runs without it\n"
                ));
            }
            match described.as_slice() {
                [one] => rest.submit(one, &script).await,
                all => rest.submit_het(all, &script).await,
            }
        }
    };
    transport.close().await;
    let job_id = match submitted {
        Ok(id) => id,
        Err(e) => {
            console::err(&format!(
                "error: slurm refused the job: {e}\nthe script is in {}\n",
                dir.root.join("submit.sh").display()
            ));
            return Ok(ExitCode::from(1));
        }
    };
    let output = dir.root.join(format!("slurm_logs/{DRIVER}-{job_id}.out"));
    let record = serde_json::json!({
        "jobId": job_id,
        "jobName": job_name(&run_name(&dir), DRIVER),
        "output": output,
        "submitTime": jiff::Timestamp::now().to_string(),
        "transport": transport_name,
        "hetGroups": parts.len(),
    });
    std::fs::write(
        dir.root.join(SUBMIT_JSON),
        serde_json::to_string_pretty(&record)?,
    )?;
    tracing::info!(job_id = %job_id, transport = transport_name, het_groups = parts.len(), results = %dir.root.display(), "submitted the run as one job");
    console::out(&followed(&job_id, &dir, &output, transport_name));
    Ok(ExitCode::SUCCESS)
}

/// The record `aifbench status` reads before the driver has started.
pub const SUBMIT_JSON: &str = "submit.json";

/// What the user is told after submitting.
fn followed(job_id: &str, dir: &ResultsDir, output: &Path, transport: &str) -> String {
    let d = dir.root.display();
    let flags = if transport == "rest" {
        " --slurm-transport rest"
    } else {
        ""
    };
    format!(
        "submitted: slurm job {job_id}\nresults: {d}\nfollow it:\n  aifbench status {d} --watch{flags}\n  tail -f {}\ncancel it:\n  aifbench cancel {d}{flags}\n",
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
/// submitted copy into `dir`, its components as job steps; `slurm` is the
/// first (or only) part's settings.
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

/// `--dry-run`: each Slurm component's step as the driver would start it,
/// on placeholder nodes (`<node1>`; `<group0-node1>` in a heterogeneous
/// job, the groups' nodes one after the other as the driver lists them).
fn print_steps(
    b: &Benchmark,
    dir: &ResultsDir,
    exe: &Path,
    parts: &[SlurmSpec],
) -> anyhow::Result<()> {
    let nodes = if parts.len() <= 1 {
        let n = parts.first().and_then(|p| p.nodes).unwrap_or(1);
        (1..=n).map(|i| format!("<node{i}>")).collect()
    } else {
        (0..)
            .zip(parts)
            .flat_map(|(g, p)| {
                (1..=p.nodes.unwrap_or(1)).map(move |i| format!("<group{g}-node{i}>"))
            })
            .collect()
    };
    let allocation = Allocation {
        job_id: "$SLURM_JOB_ID".to_string(),
        nodes,
    };
    let steps =
        crate::local::dry_run_steps(b, dir, exe, allocation).map_err(|e| anyhow::anyhow!(e))?;
    for (id, line) in steps {
        println!("# step of {id} (started by the driver inside the allocation):\n#   {line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::submit::allocation::tests::bench;

    fn script_of(partitions: [&str; 2]) -> String {
        let parts = allocation_parts(&bench(partitions, Some(600)), Duration::ZERO).unwrap();
        let dir = ResultsDir::open(Path::new("/scratch/u/b-1"));
        render_submit_script(
            &job(
                &parts[0],
                Path::new("/opt/aif bench/aifbench"),
                &dir,
                Path::new("/home/u/it's $HOME"),
            ),
            &parts[1..],
        )
        .unwrap()
    }

    #[test]
    fn the_script_is_a_login_shell_that_execs_the_driver_in_the_allocation() {
        let script = script_of(["cpu", "cpu"]);
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines[0], "#!/bin/bash -l");
        assert!(lines.contains(&"#SBATCH --exclusive"), "{script}");
        assert!(lines.contains(&"#SBATCH --nodes=1"), "{script}");
        assert!(lines.contains(&"#SBATCH --partition=cpu"), "{script}");
        assert!(lines.contains(&"set -euo pipefail"), "{script}");
        assert!(!script.contains("hetjob"), "{script}");
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

    /// The whole heterogeneous script, as a snapshot.
    #[test]
    fn a_het_job_script_has_one_part_per_partition() {
        let script = script_of(["gpu", "cpu"]);
        let want = r#"#!/bin/bash -l
# Generated by aifbench submit: the driver, services and clients of one run
# in this one heterogeneous job of 2 parts (one per partition); the
# components run as job steps of their part (srun --het-group=N).
#SBATCH --job-name=aifb-b-1-driver
#SBATCH --partition=gpu
#SBATCH --account=p200000
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=5
#SBATCH --gres=gpu:1
#SBATCH --time=00:10:10
#SBATCH --output=/scratch/u/b-1/slurm_logs/driver-%j.out
#SBATCH --error=/scratch/u/b-1/slurm_logs/driver-%j.err
#SBATCH hetjob
#SBATCH --partition=cpu
#SBATCH --account=p200000
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=4
#SBATCH --time=00:10:10
set -euo pipefail
"#;
        assert!(script.starts_with(want), "{script}");
        let rest = &script[want.len()..];
        assert!(rest.contains("module load Apptainer/1.3"), "{rest}");
        assert!(rest.contains("module load tools/1"), "{rest}");
        assert!(
            rest.contains(
                "exec '/opt/aif bench/aifbench' run /scratch/u/b-1/benchmark.submitted.yaml"
            ),
            "{rest}"
        );
        assert!(!rest.contains("#SBATCH"), "{rest}");
    }
}
