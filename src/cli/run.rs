//! `aifbench run`: load and validate the file, print the plan (`--dry-run`)
//! or pick the results folder (or take the one `aifbench submit` picked),
//! set up the console, the progress display and the signals (Ctrl-C
//! cancels, a hang-up is survived), drive the run, and print the summary
//! and the verdict. Inside `aifbench submit`'s job (`--slurm-steps`) the
//! Slurm components are job steps of its allocation. Everything printed
//! after the start tolerates a terminal that is gone.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::api::spec::Benchmark;
use crate::api::status::Phase;
use crate::local::{self, ProgressMode, RunOptions, Signals};
use crate::results::ResultsDir;

use super::args::{ProgressArg, RunArgs};
use super::console;
use super::files::load_valid;
use super::signals::{spawn_signal_handler, survive_hangup};
use super::summary::{summary_text, verdict_line};

/// Runs (or with `--dry-run` only prints) the Benchmark of `args.file`.
/// Exit code: 0 Succeeded, 1 Failed, 2 invalid file, 130 Cancelled.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = match load_valid(&args.file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let b = loaded.benchmark;
    if args.dry_run {
        dry_run(&b, args.workspace)?;
        return Ok(ExitCode::SUCCESS);
    }
    let slurm_config = args.slurm.config()?;
    // From here on children may be started: a hang-up must not orphan them.
    survive_hangup();
    let ws = workspace(args.workspace, &b);
    let name = b.metadata.name.clone().unwrap_or_default();
    let resumed = args.resume.is_some();
    let dir = match args.resume {
        Some(d) => {
            anyhow::ensure!(
                d.join("benchmark.yaml").is_file(),
                "{} is not a results folder (no benchmark.yaml)",
                d.display()
            );
            ResultsDir::open(&std::path::absolute(&d)?)
        }
        None => match &args.results_dir {
            // Picked by `aifbench submit` before it submitted this run.
            Some(d) => given_dir(d)?,
            None => ResultsDir::create(&std::path::absolute(&ws)?, &name, jiff::Timestamp::now())?,
        },
    };
    let mode = progress_mode(args.progress, std::io::stderr().is_terminal());
    // A live line and log lines on one terminal garble each other: the live
    // display shows phases itself, so the console only gets warnings.
    let console_level = if mode == ProgressMode::Live {
        "warn"
    } else {
        &args.log_level
    };
    crate::logging::init(
        console_level,
        args.log_json,
        &b.spec.loggers,
        Some(&dir.logs()),
    );
    console::err(&format!("results: {}\n", dir.root.display()));
    if resumed && let Some(code) = reap_before_resume(&dir).await? {
        return Ok(code);
    }
    let signals = Signals {
        cancel: CancellationToken::new(),
        force: CancellationToken::new(),
    };
    spawn_signal_handler(signals.cancel.clone(), signals.force.clone());
    let exe = std::env::current_exe().context("cannot find the aifbench executable")?;
    if std::env::var_os(NO_SUPERVISE).is_none_or(|v| v.is_empty() || v == "0") {
        // Local components die with this driver, even a SIGKILLed one.
        crate::backend::process::supervise_by_default(exe.clone());
    } else {
        tracing::warn!(
            "{NO_SUPERVISE} is set: local components are not supervised and outlive a killed driver"
        );
    }
    let opts = RunOptions {
        progress: mode,
        tick: Duration::from_millis(200),
        exe,
        slurm: slurm_config,
    };
    let outcome = if args.slurm_steps {
        let allocation = crate::backend::slurm::steps::Allocation::from_env().await?;
        console::err(&format!(
            "allocation: slurm job {} on {}\n",
            allocation.job_id,
            allocation.nodes.join(",")
        ));
        local::run_in_allocation(b, dir, opts, signals, allocation).await?
    } else {
        local::run(b, dir, opts, signals).await?
    };
    let s = &outcome.status;
    let mut end = String::from("\n");
    if let Some(r) = &outcome.report {
        end.push_str(&summary_text(r));
    }
    end.push_str(&format!(
        "\n{}\nresults: {}\n",
        verdict_line(s),
        outcome.dir.root.display()
    ));
    if !console::out(&end) {
        tracing::info!(results = %outcome.dir.root.display(), "the summary was not printed: the terminal is gone");
    }
    Ok(match s.phase {
        Phase::Succeeded => ExitCode::SUCCESS,
        Phase::Cancelled => ExitCode::from(130),
        _ => ExitCode::from(1),
    })
}

/// Set (non-empty, not 0): local components run as plain children of the
/// driver, without `aifbench supervise` (tests use it to leave something
/// behind for `aifbench cancel`).
const NO_SUPERVISE: &str = "AIFB_NO_SUPERVISE";

/// `--resume`: ends what the dead driver left of local processes, so no
/// component runs twice (Slurm jobs are adopted by name instead). Some(2)
/// when the old driver still runs.
async fn reap_before_resume(dir: &ResultsDir) -> anyhow::Result<Option<ExitCode>> {
    match local::reap::reap(dir, false).await {
        Ok(ended) => {
            for e in ended {
                let how = if e.killed { "SIGKILL" } else { "SIGTERM" };
                console::err(&format!(
                    "resume: ended {} left running by the previous driver (group {}, {how})\n",
                    e.id, e.pgid
                ));
            }
            Ok(None)
        }
        Err(e @ local::reap::ReapError::DriverAlive(_)) => {
            console::err(&format!("error: cannot resume: {e}\n"));
            Ok(Some(ExitCode::from(2)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `--results-dir DIR`: the folder, made with its subfolders when missing.
fn given_dir(d: &std::path::Path) -> anyhow::Result<ResultsDir> {
    let dir = ResultsDir::open(&std::path::absolute(d)?);
    for sub in [dir.logs(), dir.metrics(), dir.clients()] {
        std::fs::create_dir_all(&sub)
            .with_context(|| format!("cannot create {}", sub.display()))?;
    }
    Ok(dir)
}

/// `--workspace`, else spec.workspace, else ./results.
fn workspace(flag: Option<PathBuf>, b: &Benchmark) -> PathBuf {
    flag.or_else(|| b.spec.workspace.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("results"))
}

/// `--progress auto` is the live line on a terminal, plain lines elsewhere.
fn progress_mode(arg: ProgressArg, stderr_is_terminal: bool) -> ProgressMode {
    match arg {
        ProgressArg::Auto if stderr_is_terminal => ProgressMode::Live,
        ProgressArg::Auto | ProgressArg::Plain => ProgressMode::Plain,
        ProgressArg::Live => ProgressMode::Live,
        ProgressArg::Quiet => ProgressMode::Quiet,
    }
}

/// `--dry-run`: the resolved Benchmark, its components in launch order and
/// the sbatch script of each Slurm component, as they would be.
fn dry_run(b: &Benchmark, workspace_flag: Option<PathBuf>) -> anyhow::Result<()> {
    print!("{}", serde_norway::to_string(b)?);
    println!("# components, in launch order:");
    for p in crate::engine::plan_components(&b.spec) {
        println!("#   {:<24} {:<8} {}", p.id, p.kind.as_str(), p.runner());
    }
    let ws = workspace(workspace_flag, b);
    let name = b.metadata.name.clone().unwrap_or_default();
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let dir = ResultsDir::open(&std::path::absolute(ws.join(format!("{name}-{stamp}")))?);
    let exe = std::env::current_exe().context("cannot find the aifbench executable")?;
    let scripts = local::dry_run_scripts(b, &dir, &exe).map_err(|e| anyhow::anyhow!(e))?;
    for (id, script) in scripts {
        println!("# ---- sbatch script of {id} (would be submitted with `sbatch --parsable`) ----");
        print!("{script}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_progress_is_live_only_on_a_terminal() {
        assert_eq!(progress_mode(ProgressArg::Auto, true), ProgressMode::Live);
        assert_eq!(progress_mode(ProgressArg::Auto, false), ProgressMode::Plain);
        assert_eq!(progress_mode(ProgressArg::Live, false), ProgressMode::Live);
        assert_eq!(progress_mode(ProgressArg::Plain, true), ProgressMode::Plain);
        assert_eq!(progress_mode(ProgressArg::Quiet, true), ProgressMode::Quiet);
    }
}
