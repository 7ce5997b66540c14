//! The command line's shape: the top-level parser, its subcommands, the
//! flags of `aifbench run` and the value parsers they share. Flags of the
//! operator and of the Slurm transports live with the code that uses them
//! (`operator.rs`, `slurm_args.rs`).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use super::cancel::CancelArgs;
use super::operator::OperatorArgs;
use super::slurm_args::SlurmArgs;

/// Benchmarks the services of an AI factory: LLM inference servers
/// (vLLM, any OpenAI-compatible server), S3 object stores and vector
/// databases, from one declarative Benchmark file.
///
/// Quick start (no GPU, no cluster): `aifbench run recipes/quickstart.yaml`.
#[derive(Parser, Debug)]
#[command(name = "aifbench", version, about, long_about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  aifbench run recipes/quickstart.yaml          run a benchmark here, results in ./results/
  aifbench submit recipes/slurm-local.yaml     the whole run as one Slurm batch job
  aifbench status results/slurm-local-2026...   follow a run from its results folder
  aifbench cancel results/quickstart-2026...    end what a killed `aifbench run` left running
  aifbench validate recipes/*.yaml              check files without running them
  aifbench import seed-recipe.yaml > bm.yaml    convert a recipe of the Python framework
  aifbench crd | kubectl apply -f -             install the Benchmark CRD
  aifbench sim --port 8000                      start the simulated OpenAI server
  aifbench loadgen --url http://127.0.0.1:8000 --concurrency 8 --duration 10s
  aifbench scrape http://127.0.0.1:8000/metrics
  aifbench report results/quickstart-20261128T120000Z
  aifbench compare results/before results/after --fail-if 'ttft.p99>+10%'
  aifbench serve results/                       results to Grafana (JSON datasource) on :3100";

/// What `aifbench run --help` adds after the flags: how to follow a run
/// whose terminal is gone.
const RUN_AFTER_HELP: &str = "\
Following a run:
  The results folder (printed first as `results: DIR`) holds status.yaml
  (phase and conditions as they change, client progress every second)
  and logs/ with each component's output. If the terminal goes away (SSH
  disconnect, SIGHUP), the run keeps going and ends as it would have;
  only the console output is lost. To keep a console log as well:
    aifbench run bm.yaml --progress plain > run.log 2>&1 &
    nohup aifbench run bm.yaml --progress plain > run.log 2>&1 &
    setsid aifbench run bm.yaml --progress plain > run.log 2>&1 < /dev/null
  and watch it with `tail -f run.log` or `watch cat DIR/status.yaml`.";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a Benchmark file to completion on this machine.
    ///
    /// Services start as child processes, are health-checked, clients run
    /// `aifbench loadgen` against them, monitors scrape their metrics, and
    /// everything is stopped at the end — also on failure and on Ctrl-C
    /// (first Ctrl-C cancels gracefully and keeps partial results; a second
    /// one kills at once). A hang-up (SIGHUP: the terminal or SSH session
    /// went away) does not stop the run. Results go to
    /// `<workspace>/<name>-<UTC timestamp>/`.
    ///
    /// Exit code: 0 Succeeded, 1 Failed, 2 invalid file, 130 Cancelled.
    #[command(after_long_help = RUN_AFTER_HELP)]
    Run(RunArgs),
    /// Submit a whole run as ONE Slurm batch job: the driver, the services
    /// and the clients in one allocation (the components as job steps).
    ///
    /// Sizes the allocation from the components (whole nodes: one per
    /// `slurm.exclusive` component instance, one shared by the others),
    /// its time limit from execution.runDeadline and the health-check
    /// timeouts, picks the results folder, and prints the job id, the
    /// folder and how to follow the run. `--dry-run` prints the batch
    /// script and the job steps instead.
    Submit(super::submit::SubmitArgs),
    /// Show a run from its results folder: phase, conditions, components,
    /// and the verdict once it ended (`--watch`: until it ends).
    Status(super::status::StatusArgs),
    /// Check Benchmark files without running them.
    ///
    /// Reports every problem of every file, each with its field path
    /// (spec.clients[1].target) and what would be right. Exit code 1 if any
    /// file is invalid.
    Validate {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Convert a seed-framework recipe (meta/global/services/...) into a
    /// Benchmark resource, printed as YAML.
    Import {
        /// The recipe file.
        file: PathBuf,
    },
    /// Print the Benchmark CustomResourceDefinition (YAML).
    Crd,
    /// Run the simulated OpenAI-compatible inference server (for dry runs
    /// and tests: no GPU, no model).
    Sim(crate::sim::SimArgs),
    /// Run one load-generator instance (what each client instance runs).
    Loadgen(Box<crate::workload::loadgen::LoadgenArgs>),
    /// Scrape Prometheus endpoints once or repeatedly.
    Scrape(crate::monitor::ScrapeArgs),
    /// Serve nvidia-smi readings under dcgm-exporter's metric names (for
    /// sites without DCGM; run it next to the service).
    GpuExporter(crate::monitor::gpu_exporter::GpuExporterArgs),
    /// Run the Kubernetes operator: reconcile Benchmarks in the cluster.
    ///
    /// Services run as Pods with a Service, clients as indexed Jobs running
    /// `aifbench loadgen`, monitors are scraped by the operator; the status
    /// is written back to each Benchmark. Uses the in-cluster config or
    /// KUBECONFIG. See docs/operator.md.
    Operator(OperatorArgs),
    /// Rebuild summary.json, summary.csv and report.md of a results folder
    /// from its clients/*.json.
    Report {
        /// The results folder.
        dir: PathBuf,
    },
    /// Cancel a run from its results folder when its driver is gone.
    ///
    /// Ends every process group the run's driver recorded in run.json
    /// (SIGTERM, SIGKILL after the stop grace period; only processes that
    /// are still the ones it started), cancels the run's Slurm jobs (found
    /// by their name, `aifb-<folder name>-...`, through the same transport
    /// flags as `aifbench run`), marks status.yaml `phase: Cancelled` and
    /// prints what it ended. While the driver still runs, stop it instead
    /// (Ctrl-C, or SIGTERM to its pid); `--force` cancels anyway.
    ///
    /// Exit code: 0 done, 1 something could not be ended, 2 refused (the
    /// driver still runs, or not a results folder).
    Cancel(CancelArgs),
    /// Compare results folders: each headline metric of each run against
    /// the first (the baseline), its change, and whether the change is
    /// beyond run-to-run noise (95% intervals from the per-request records
    /// or the histograms; see docs/metrics.md).
    ///
    /// Exit code: 0 no gate tripped, 1 a --fail-if gate tripped, 2 a bad
    /// gate or a folder that cannot be read.
    Compare(super::compare::CompareArgs),
    /// Serve results folders to Grafana (JSON datasource plugin by SimPod):
    /// runs, the clients' and monitors' series, phase changes as annotations.
    ///
    /// Lists the runs under RESULTS_ROOT for a `$run` dashboard variable and
    /// answers Grafana's queries from each run's files; nothing outside the
    /// root is read. Dashboards: deploy/grafana/. Until Ctrl-C or SIGTERM.
    #[command(after_long_help = super::serve::SERVE_AFTER_HELP)]
    Serve(super::serve::ServeArgs),
    /// Run one component under a supervisor that stops it when the driver
    /// dies (started by `aifbench run` for every local component).
    #[command(hide = true)]
    Supervise(crate::backend::supervise::SuperviseArgs),
}

// No doc comment here: the `Run` variant's text is the subcommand's help.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The Benchmark (or seed recipe) file.
    pub file: PathBuf,
    /// Results go here instead of spec.workspace (default ./results).
    #[arg(long, short = 'w')]
    pub workspace: Option<PathBuf>,
    /// Progress display: auto = live line on a terminal, plain log
    /// lines otherwise.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Print what would run (the resolved Benchmark and its components)
    /// without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Console log level (trace, debug, info, warn, error); RUST_LOG
    /// overrides it.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Console logs as JSON lines.
    #[arg(long)]
    pub log_json: bool,
    /// Continue a run whose driver stopped (crash, kill, reboot) in its
    /// existing results folder: Slurm jobs of that run are found by
    /// name and adopted, never submitted twice.
    #[arg(long, value_name = "RESULTS_DIR")]
    pub resume: Option<PathBuf>,
    /// Write into this results folder (created when missing) instead of a
    /// new one in the workspace; `aifbench submit` picks it before
    /// submitting.
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub results_dir: Option<PathBuf>,
    /// Run `executor: slurm` components as job steps of the Slurm
    /// allocation this driver runs in ($SLURM_JOB_ID), not as batch jobs
    /// of their own (set by `aifbench submit`'s batch job).
    #[arg(long, conflicts_with = "resume")]
    pub slurm_steps: bool,
    #[command(flatten)]
    pub slurm: SlurmArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Live,
    Plain,
    Quiet,
}
