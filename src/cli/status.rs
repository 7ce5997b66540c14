//! `aifbench status DIR`: a run as its results folder shows it — from a
//! login node while `aifbench submit`'s job runs, or beside any `aifbench
//! run`. Reads `status.yaml` (phase, conditions, components), `run.json`
//! (the allocation the driver ran in) and `submit.json` (the submitted job,
//! before its driver wrote anything; its job's state from `squeue`, or
//! from slurmrestd for a run submitted through it, with the same
//! `--slurm-transport rest` flags); prints the verdict and the headline
//! numbers once the run ended. `--watch` prints again whenever it changes
//! until the run ends (or the submitted job ended without a final status).
//! The text is built by [`status_text`], pure.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::api::status::{BenchmarkStatus, Phase};
use crate::backend::slurm::TransportConfig;
use crate::backend::slurm::rest::RestTransport;
use crate::local::run_file::RunFile;
use crate::results::ResultsDir;

use super::console;
use super::slurm_args::SlurmArgs;
use super::submit::SUBMIT_JSON;
use super::summary::verdict_line;

// No doc comment here: the `Status` variant's text is the subcommand's help.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The results folder (printed by `aifbench submit` and `aifbench run`).
    pub dir: PathBuf,
    /// Print again on every change until the run ends; the exit code is
    /// then the run's (0 Succeeded, 1 Failed, 130 Cancelled).
    #[arg(long)]
    pub watch: bool,
    /// Time between two looks with --watch.
    #[arg(long, default_value = "2s", value_parser = super::operator::parse_duration)]
    pub interval: Duration,
    /// How to reach Slurm: only read for a run submitted through
    /// slurmrestd (give the same --slurm-transport rest flags as submit).
    #[command(flatten)]
    pub slurm: SlurmArgs,
}

/// Where the submitted job's state is read.
enum Looker {
    /// `squeue` on this machine.
    Squeue,
    /// slurmrestd's job listing.
    Rest(RestTransport),
}

impl Looker {
    /// The looker for the run's record: slurmrestd when it was submitted
    /// through it (the flags must say how to reach it), else `squeue`.
    fn for_run(seen: &Seen, args: &StatusArgs, dir: &Path) -> anyhow::Result<Self> {
        if seen.submitted.as_ref().and_then(|s| s.transport.as_deref()) != Some("rest") {
            return Ok(Self::Squeue);
        }
        match args.slurm.config().map(|c| c.transport) {
            Ok(TransportConfig::Rest(c)) => Ok(Self::Rest(RestTransport::new(c)?)),
            Ok(_) => anyhow::bail!(
                "{} was submitted through slurmrestd: follow it through it too (--slurm-transport rest with --slurm-rest-url and the JWT, or the AIFB_SLURM_* variables, as for submit)",
                dir.display()
            ),
            Err(e) => Err(e),
        }
    }

    /// The state of job `id` (None: Slurm did not answer); `GONE` when
    /// the controller no longer lists it.
    async fn job_state(&self, id: &str) -> Option<String> {
        match self {
            Self::Squeue => job_state(id).await,
            Self::Rest(r) => {
                let jobs = r.jobs().await.ok()?;
                Some(
                    jobs.iter()
                        .find(|j| j.job_id == id)
                        .map(|j| j.state.as_str().to_string())
                        .unwrap_or_else(|| GONE.to_string()),
                )
            }
        }
    }
}

/// Prints the run of `args.dir` (once, or until it ends with `--watch`).
pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let dir = ResultsDir::open(&args.dir);
    anyhow::ensure!(
        dir.benchmark_yaml().is_file() || dir.root.join(SUBMIT_JSON).is_file(),
        "{} is not a results folder (no benchmark.yaml, no submit.json)",
        args.dir.display()
    );
    let mut last = String::new();
    let looker = Looker::for_run(&read(&dir)?, &args, &args.dir)?;
    loop {
        let seen = read(&dir)?;
        let job = seen.submitted.as_ref().map(|s| s.job_id.as_str());
        let job_state = match (job, seen.status.as_ref().map(|s| s.phase.is_terminal())) {
            (Some(id), Some(false) | None) => looker.job_state(id).await,
            _ => None,
        };
        let text = status_text(&dir.root, &seen, job_state.as_deref());
        if text != last {
            if !last.is_empty() {
                console::out("\n");
            }
            console::out(&text);
            last = text;
        }
        let phase = seen.status.as_ref().map(|s| s.phase);
        if !args.watch {
            return Ok(ExitCode::SUCCESS);
        }
        match phase {
            Some(Phase::Succeeded) => return Ok(ExitCode::SUCCESS),
            Some(Phase::Cancelled) => return Ok(ExitCode::from(130)),
            Some(p) if p.is_terminal() => return Ok(ExitCode::from(1)),
            _ => {}
        }
        if job.is_some() && job_state.as_deref().is_some_and(job_ended) {
            // The driver's job is gone: one last look, in case it wrote
            // its final status just now.
            let seen = read(&dir)?;
            if !seen.status.as_ref().is_some_and(|s| s.phase.is_terminal()) {
                console::out("the job ended without a final status; see its output file\n");
                return Ok(ExitCode::from(1));
            }
            continue;
        }
        tokio::time::sleep(args.interval).await;
    }
}

/// The submitted job, as `aifbench submit` recorded it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Submitted {
    /// Its id.
    pub job_id: String,
    /// Its output file.
    #[serde(default)]
    pub output: Option<PathBuf>,
    /// How it was submitted (`cli`, `ssh`, `rest`; absent: sbatch).
    #[serde(default)]
    pub transport: Option<String>,
}

/// What the folder holds now.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// `status.yaml`.
    pub status: Option<BenchmarkStatus>,
    /// `run.json`.
    pub run: Option<RunFile>,
    /// `submit.json`.
    pub submitted: Option<Submitted>,
}

fn read(dir: &ResultsDir) -> anyhow::Result<Seen> {
    let status = match std::fs::read_to_string(dir.status_yaml()) {
        Ok(t) => Some(serde_norway::from_str(&t)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let submitted = match std::fs::read_to_string(dir.root.join(SUBMIT_JSON)) {
        Ok(t) => Some(serde_json::from_str(&t)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    Ok(Seen {
        status,
        run: RunFile::load(dir)?,
        submitted,
    })
}

/// The state of job `id` as `squeue` says (None: squeue did not answer);
/// `GONE` when the controller no longer lists it.
async fn job_state(id: &str) -> Option<String> {
    let out = tokio::process::Command::new("squeue")
        .args(["-h", "--states=all", "-j", id, "-o", "%i|%T"])
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    match (out.status.success(), leader_state(&text, id)) {
        (true, Some(state)) => Some(state),
        // An id the controller forgot: `squeue -j` fails with "Invalid job id".
        _ if String::from_utf8_lossy(&out.stderr).contains("Invalid job id") => {
            Some(GONE.to_string())
        }
        (true, None) => Some(GONE.to_string()),
        _ => None,
    }
}

/// The state of job `id` in `squeue -o '%i|%T'` output (pure): its own
/// line, or for a heterogeneous job its leader's (`<id>+0`; squeue lists
/// the components in any order).
fn leader_state(out: &str, id: &str) -> Option<String> {
    let leader = format!("{id}+0");
    out.lines().find_map(|l| {
        let (job, state) = l.trim().split_once('|')?;
        (job == id || job == leader).then(|| state.trim().to_string())
    })
}

const GONE: &str = "GONE";

/// Whether a job state is an end state.
fn job_ended(state: &str) -> bool {
    !matches!(
        state,
        "PENDING" | "CONFIGURING" | "RUNNING" | "COMPLETING" | "SUSPENDED" | "REQUEUED"
    )
}

/// The text of one look at a run (pure): the folder, the submitted job and
/// the allocation, the phase, the conditions, one line per component, and
/// once it ended the verdict and the headline numbers.
pub fn status_text(root: &Path, seen: &Seen, job_state: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "results: {}", root.display());
    if let Some(sub) = &seen.submitted {
        let state = job_state.map(|j| format!(" ({j})")).unwrap_or_default();
        let _ = writeln!(s, "job: slurm job {}{state}", sub.job_id);
        if let Some(o) = &sub.output {
            let _ = writeln!(s, "output: {}", o.display());
        }
    }
    if let Some(a) = seen.run.as_ref().and_then(|r| r.allocation.as_ref()) {
        let _ = writeln!(
            s,
            "allocation: slurm job {} on {}",
            a.job_id,
            a.nodes.join(",")
        );
    }
    let Some(st) = &seen.status else {
        let _ = writeln!(s, "phase: (not started: no status.yaml yet)");
        return s;
    };
    let since = st
        .phase_start_time
        .map(|t| format!(" since {t}"))
        .unwrap_or_default();
    let _ = writeln!(s, "phase: {}{since}", st.phase);
    if let Some(m) = st.message.as_deref().filter(|m| !m.is_empty()) {
        let _ = writeln!(s, "message: {m}");
    }
    if !st.conditions.is_empty() {
        let _ = writeln!(s, "conditions:");
        for c in &st.conditions {
            let _ = writeln!(s, "  {:<17} {:<7} {}", c.type_, c.status, c.reason);
        }
    }
    if !st.components.is_empty() {
        let _ = writeln!(s, "components:");
        for c in &st.components {
            let mut line = format!(
                "  {:<16} {:<8} {:<10} {:<10}",
                c.id,
                c.kind.as_str(),
                format!("{:?}", c.state),
                c.backend
            );
            if let Some(n) = &c.node {
                let _ = write!(line, " node {n}");
            }
            if let Some(j) = &c.job_id {
                let _ = write!(line, " job {j}");
            }
            if let Some(e) = &c.endpoint {
                let _ = write!(line, " {e}");
            }
            if let Some(p) = &c.progress {
                let _ = write!(line, " requests {} errors {}", p.requests, p.errors);
            }
            let _ = writeln!(s, "{}", line.trim_end());
        }
    }
    if st.phase.is_terminal() {
        let _ = writeln!(s, "verdict: {}", verdict_line(st));
        if let Some(r) = &st.summary {
            let _ = writeln!(
                s,
                "summary: requests {} errors {} duration {:.1}s throughput {:.2} req/s",
                r.requests, r.errors, r.duration_seconds, r.request_throughput
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::status::{ComponentKind, ComponentStatus, Condition, condition};
    use crate::local::run_file::RecordedAllocation;

    #[test]
    fn a_run_shows_its_job_allocation_phase_components_and_verdict() {
        let mut st = BenchmarkStatus {
            phase: Phase::Running,
            ..Default::default()
        };
        let mut sim = ComponentStatus::new("sim", ComponentKind::Service, "slurm-step");
        sim.job_id = Some("671.0".into());
        sim.node = Some("vm".into());
        st.components.push(sim);
        let run = RunFile {
            allocation: Some(RecordedAllocation {
                job_id: "671".into(),
                nodes: vec!["vm".into()],
            }),
            ..Default::default()
        };
        let mut seen = Seen {
            status: Some(st),
            run: Some(run),
            submitted: Some(Submitted {
                job_id: "671".into(),
                output: Some("/r/slurm_logs/driver-671.out".into()),
                transport: None,
            }),
        };
        let text = status_text(Path::new("/r"), &seen, Some("RUNNING"));
        assert!(text.contains("job: slurm job 671 (RUNNING)\n"), "{text}");
        assert!(text.contains("allocation: slurm job 671 on vm\n"), "{text}");
        assert!(text.contains("phase: Running\n"), "{text}");
        assert!(text.contains("slurm-step node vm job 671.0"), "{text}");
        assert!(!text.contains("verdict"), "{text}");
        let st = seen.status.as_mut().unwrap();
        st.phase = Phase::Succeeded;
        st.conditions.push(Condition {
            type_: condition::SUCCEEDED.to_string(),
            status: "True".to_string(),
            reason: "Completed".to_string(),
            message: String::new(),
            last_transition_time: jiff::Timestamp::UNIX_EPOCH,
            observed_generation: None,
        });
        let text = status_text(Path::new("/r"), &seen, None);
        assert!(text.contains("verdict: Succeeded (Completed)\n"), "{text}");
        let none = status_text(Path::new("/r"), &Seen::default(), None);
        assert!(none.contains("not started"), "{none}");
        assert!(job_ended("COMPLETED") && job_ended(GONE) && !job_ended("PENDING"));
        assert_eq!(
            leader_state("672+1|RUNNING\n672+0|PENDING\n", "672").as_deref(),
            Some("PENDING")
        );
        assert_eq!(
            leader_state("671|RUNNING\n", "671").as_deref(),
            Some("RUNNING")
        );
        assert_eq!(leader_state("", "671"), None);
    }
}
