//! The `aifbench` command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use aifbench::api::load::{LoadError, Loaded, SourceFormat, load_file, process_env};
use aifbench::api::status::{Phase, condition};
use aifbench::api::validate::validate;
use aifbench::local::{self, ProgressMode, RunOptions, Signals};
use aifbench::results::ResultsDir;

/// Benchmarks the services of an AI factory: LLM inference servers
/// (vLLM, any OpenAI-compatible server), S3 object stores and vector
/// databases, from one declarative Benchmark file.
///
/// Quick start (no GPU, no cluster): `aifbench run recipes/quickstart.yaml`.
#[derive(Parser, Debug)]
#[command(name = "aifbench", version, about, long_about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "\
Examples:
  aifbench run recipes/quickstart.yaml          run a benchmark here, results in ./results/
  aifbench validate recipes/*.yaml              check files without running them
  aifbench import seed-recipe.yaml > bm.yaml    convert a recipe of the Python framework
  aifbench crd | kubectl apply -f -             install the Benchmark CRD
  aifbench sim --port 8000                      start the simulated OpenAI server
  aifbench loadgen --url http://127.0.0.1:8000 --concurrency 8 --duration 10s
  aifbench scrape http://127.0.0.1:8000/metrics
  aifbench report results/quickstart-20261128T120000Z";

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a Benchmark file to completion on this machine.
    ///
    /// Services start as child processes, are health-checked, clients run
    /// `aifbench loadgen` against them, monitors scrape their metrics, and
    /// everything is stopped at the end — also on failure and on Ctrl-C
    /// (first Ctrl-C cancels gracefully and keeps partial results; a second
    /// one kills at once). Results go to
    /// `<workspace>/<name>-<UTC timestamp>/`.
    ///
    /// Exit code: 0 Succeeded, 1 Failed, 2 invalid file, 130 Cancelled.
    Run {
        /// The Benchmark (or seed recipe) file.
        file: PathBuf,
        /// Results go here instead of spec.workspace (default ./results).
        #[arg(long, short = 'w')]
        workspace: Option<PathBuf>,
        /// Progress display: auto = live line on a terminal, plain log
        /// lines otherwise.
        #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
        progress: ProgressArg,
        /// Print what would run (the resolved Benchmark and its components)
        /// without running anything.
        #[arg(long)]
        dry_run: bool,
        /// Console log level (trace, debug, info, warn, error); RUST_LOG
        /// overrides it.
        #[arg(long, default_value = "info")]
        log_level: String,
        /// Console logs as JSON lines.
        #[arg(long)]
        log_json: bool,
        /// Continue a run whose driver stopped (crash, kill, reboot) in its
        /// existing results folder: Slurm jobs of that run are found by
        /// name and adopted, never submitted twice.
        #[arg(long, value_name = "RESULTS_DIR")]
        resume: Option<PathBuf>,
        #[command(flatten)]
        slurm: SlurmArgs,
    },
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
    Sim(aifbench::sim::SimArgs),
    /// Run one load-generator instance (what each client instance runs).
    Loadgen(Box<aifbench::workload::loadgen::LoadgenArgs>),
    /// Scrape Prometheus endpoints once or repeatedly.
    Scrape(aifbench::monitor::ScrapeArgs),
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
}

#[derive(clap::Args, Debug)]
struct OperatorArgs {
    /// Namespaces to watch (repeat or comma-separate); default: all.
    #[arg(long, env = "AIFB_NAMESPACES", value_delimiter = ',')]
    namespace: Vec<String>,
    /// Image of client pods without their own pod.image (the operator's own).
    #[arg(
        long,
        env = "AIFB_IMAGE",
        default_value = "ghcr.io/aifbench/aifbench:latest"
    )]
    image: String,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "AIFB_LISTEN", default_value = "0.0.0.0:8080")]
    listen: std::net::SocketAddr,
    /// Where monitors write their scrapes.
    #[arg(
        long,
        env = "AIFB_RESULTS_ROOT",
        default_value = "/var/lib/aifbench/results"
    )]
    results_root: PathBuf,
    /// Leader-election Lease as NAMESPACE/NAME; empty disables election.
    #[arg(long, env = "AIFB_LEASE", default_value = "")]
    lease: String,
    /// This replica's identity (Lease holder, Event reportingInstance).
    #[arg(long, env = "POD_NAME", default_value = "aifbench-operator")]
    identity: String,
    /// Requeue interval of active Benchmarks.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    requeue: Duration,
    /// Lifespan of the JWTs the operator mints over SSH (`scontrol token
    /// lifespan=...`) when slurmrestd refuses a Secret's token; at least 60s.
    #[arg(
        long,
        env = "AIFB_SLURM_TOKEN_LIFESPAN",
        default_value = "1h",
        value_parser = parse_token_lifespan
    )]
    slurm_token_lifespan: Duration,
    /// Console logs as JSON lines.
    #[arg(long, env = "AIFB_LOG_JSON")]
    log_json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    s.parse::<aifbench::api::duration::Duration>()
        .map(|d| d.get())
        .map_err(|e| e.to_string())
}

fn parse_token_lifespan(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(60) {
        return Err(format!(
            "{s} is shorter than scontrol's minimum token lifespan; use 60s or more, e.g. 1h"
        ));
    }
    Ok(d)
}

async fn operator(args: OperatorArgs) -> anyhow::Result<ExitCode> {
    aifbench::logging::init("info", args.log_json, &[], None);
    let lease = match args.lease.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
            Some((ns.to_string(), name.to_string()))
        }
        _ if args.lease.is_empty() => None,
        _ => anyhow::bail!("--lease must be NAMESPACE/NAME"),
    };
    let config = aifbench::operator::OperatorConfig {
        namespaces: args
            .namespace
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect(),
        settings: aifbench::operator::Settings {
            image: args.image,
            results_root: args.results_root,
            instance: args.identity,
            requeue: args.requeue,
            slurm_token_lifespan: args.slurm_token_lifespan,
        },
        listen: args.listen,
        lease,
        lease_duration: Duration::from_secs(15),
    };
    // kube's TLS needs a process-wide rustls provider: ring and aws-lc-rs are
    // both compiled in (kube, reqwest), so rustls cannot pick one itself.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default().await.context(
        "cannot configure the Kubernetes client (no in-cluster config and no KUBECONFIG)",
    )?;
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone(), CancellationToken::new());
    aifbench::operator::run(client, config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// How Slurm components are submitted (executor: slurm).
#[derive(clap::Args, Debug, Clone)]
struct SlurmArgs {
    /// cli: sbatch/squeue/scancel here; ssh: the same on a login node;
    /// rest: slurmrestd.
    #[arg(long, value_enum, env = "AIFB_SLURM_TRANSPORT", default_value_t = TransportArg::Cli)]
    slurm_transport: TransportArg,
    /// SSH login node (transport ssh).
    #[arg(long, env = "AIFB_SSH_HOST")]
    ssh_host: Option<String>,
    /// SSH port.
    #[arg(long, env = "AIFB_SSH_PORT")]
    ssh_port: Option<u16>,
    /// SSH user.
    #[arg(long, env = "AIFB_SSH_USER")]
    ssh_user: Option<String>,
    /// SSH private key file.
    #[arg(long, env = "AIFB_SSH_KEY")]
    ssh_key: Option<PathBuf>,
    /// known_hosts file (host keys are checked strictly).
    #[arg(long, env = "AIFB_SSH_KNOWN_HOSTS")]
    ssh_known_hosts: Option<PathBuf>,
    /// slurmrestd base URL, e.g. http://127.0.0.1:6820 (transport rest).
    #[arg(long, env = "AIFB_SLURM_REST_URL")]
    slurm_rest_url: Option<String>,
    /// slurmrestd unix socket (local authentication), instead of the URL.
    #[arg(long, env = "AIFB_SLURM_REST_SOCKET")]
    slurm_rest_socket: Option<PathBuf>,
    /// File holding the JWT for slurmrestd (else $SLURM_JWT is used).
    #[arg(long, env = "AIFB_SLURM_JWT_FILE")]
    slurm_jwt_file: Option<PathBuf>,
    /// User name sent to slurmrestd with the token.
    #[arg(long, env = "AIFB_SLURM_USER")]
    slurm_user: Option<String>,
    /// Force a slurmrestd API version (v0.0.38, v0.0.40..v0.0.43) instead
    /// of asking the server.
    #[arg(long, env = "AIFB_SLURM_API_VERSION")]
    slurm_api_version: Option<String>,
    /// The driver cannot reach compute nodes: health checks run inside
    /// each service's job (a ready file in the results folder) and
    /// monitors run as `aifbench scrape` jobs.
    #[arg(long, env = "AIFB_SLURM_IN_ALLOCATION")]
    slurm_in_allocation: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum TransportArg {
    Cli,
    Ssh,
    Rest,
}

impl SlurmArgs {
    fn config(&self) -> anyhow::Result<aifbench::backend::slurm::SlurmConfig> {
        use aifbench::backend::slurm::rest::{ApiVersion, RestConfig, Secret};
        use aifbench::backend::slurm::ssh::SshConfig;
        use aifbench::backend::slurm::{SlurmConfig, TransportConfig};
        let transport = match self.slurm_transport {
            TransportArg::Cli => TransportConfig::Cli,
            TransportArg::Ssh => TransportConfig::Ssh(SshConfig {
                host: self
                    .ssh_host
                    .clone()
                    .context("--slurm-transport ssh needs --ssh-host (or AIFB_SSH_HOST)")?,
                port: self.ssh_port,
                user: self.ssh_user.clone(),
                key: self.ssh_key.clone(),
                known_hosts: self.ssh_known_hosts.clone(),
                control_dir: None,
            }),
            TransportArg::Rest => {
                let token = match &self.slurm_jwt_file {
                    Some(f) => Some(
                        std::fs::read_to_string(f)
                            .with_context(|| format!("cannot read the JWT file {}", f.display()))?
                            .trim()
                            .to_string(),
                    ),
                    None => std::env::var("SLURM_JWT").ok(),
                };
                let version = match &self.slurm_api_version {
                    Some(v) => Some(ApiVersion::parse(v).with_context(|| {
                        format!("unknown slurmrestd API version {v:?} (v0.0.38, v0.0.40..v0.0.43)")
                    })?),
                    None => None,
                };
                if self.slurm_rest_url.is_none() && self.slurm_rest_socket.is_none() {
                    anyhow::bail!(
                        "--slurm-transport rest needs --slurm-rest-url or --slurm-rest-socket"
                    );
                }
                TransportConfig::Rest(RestConfig {
                    url: self.slurm_rest_url.clone(),
                    socket: self.slurm_rest_socket.clone(),
                    // Local auth on the socket needs no token.
                    token: if self.slurm_rest_url.is_none() {
                        None
                    } else {
                        token.map(Secret::new)
                    },
                    user: self.slurm_user.clone(),
                    version,
                })
            }
        };
        Ok(SlurmConfig {
            transport,
            in_allocation: self.slurm_in_allocation,
            ..Default::default()
        })
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ProgressArg {
    Auto,
    Live,
    Plain,
    Quiet,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `aifbench loadgen --threads 1` (its default) runs on one thread: a
    // load generator is cheapest without cross-thread wake-ups.
    let mut builder = match &cli.command {
        Command::Loadgen(args) if args.threads == 1 => {
            tokio::runtime::Builder::new_current_thread()
        }
        Command::Loadgen(args) if args.threads > 1 => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(args.threads);
            b
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run {
            file,
            workspace,
            progress,
            dry_run,
            log_level,
            log_json,
            resume,
            slurm,
        } => {
            run(
                &file, workspace, progress, dry_run, &log_level, log_json, resume, &slurm,
            )
            .await
        }
        Command::Validate { files } => Ok(validate_files(&files)),
        Command::Import { file } => import(&file),
        Command::Crd => {
            print!("{}", aifbench::api::crd_yaml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(args) => {
            aifbench::logging::init("info", false, &[], None);
            aifbench::sim::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Loadgen(args) => {
            aifbench::logging::init("warn", false, &[], None);
            let cancel = CancellationToken::new();
            spawn_signal_handler(cancel.clone(), CancellationToken::new());
            use aifbench::workload::loadgen::{LoadgenExit, run_cli};
            match run_cli(*args, cancel).await? {
                LoadgenExit::Completed => Ok(ExitCode::SUCCESS),
                LoadgenExit::Aborted(reason) => {
                    eprintln!("aborted by the error policy: {reason}");
                    Ok(ExitCode::from(aifbench::engine::EXIT_ERROR_POLICY as u8))
                }
                LoadgenExit::UploadFailed(reason) => {
                    eprintln!("the result was written but not uploaded: {reason}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Scrape(args) => {
            aifbench::logging::init("warn", false, &[], None);
            aifbench::monitor::run_cli(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Operator(args) => operator(args).await,
        Command::Report { dir } => report(&dir),
    }
}

fn print_load_error(e: &LoadError) {
    eprintln!("error: {e}");
}

fn load(file: &Path) -> Result<Loaded, ExitCode> {
    match load_file(file, &process_env) {
        Ok(l) => {
            for w in &l.warnings {
                eprintln!("warning: {}: {w}", file.display());
            }
            Ok(l)
        }
        Err(e) => {
            print_load_error(&e);
            Err(ExitCode::from(2))
        }
    }
}

fn validate_files(files: &[PathBuf]) -> ExitCode {
    let mut bad = 0;
    for f in files {
        match load_file(f, &process_env) {
            Err(e) => {
                bad += 1;
                print_load_error(&e);
            }
            Ok(l) => {
                for w in &l.warnings {
                    eprintln!("warning: {}: {w}", f.display());
                }
                let errors = validate(&l.benchmark);
                if errors.is_empty() {
                    let kind = match l.format {
                        SourceFormat::Benchmark => "Benchmark",
                        SourceFormat::SeedRecipe => "seed recipe",
                    };
                    println!("{}: valid {kind}", f.display());
                } else {
                    bad += 1;
                    eprintln!(
                        "error: {}",
                        LoadError {
                            source_name: f.display().to_string(),
                            errors
                        }
                    );
                }
            }
        }
    }
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn import(file: &Path) -> anyhow::Result<ExitCode> {
    let loaded = match load(file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    if loaded.format != SourceFormat::SeedRecipe {
        eprintln!(
            "note: {} is already a Benchmark; printing it normalized",
            file.display()
        );
    }
    let errors = validate(&loaded.benchmark);
    print!("{}", serde_norway::to_string(&loaded.benchmark)?);
    if errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "warning: {}",
            LoadError {
                source_name: file.display().to_string(),
                errors
            }
        );
        Ok(ExitCode::from(1))
    }
}

fn report(dir: &Path) -> anyhow::Result<ExitCode> {
    let results = ResultsDir::open(dir);
    let bm: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(results.benchmark_yaml())
            .with_context(|| format!("{} is not a results folder", dir.display()))?,
    )?;
    let name = bm["metadata"]["name"]
        .as_str()
        .unwrap_or("benchmark")
        .to_string();
    let mut instances: Vec<String> = std::fs::read_dir(results.clients())
        .with_context(|| format!("reading {}", results.clients().display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && !n.ends_with(".config.json"))
        .map(|n| n.trim_end_matches(".json").to_string())
        .collect();
    instances.sort();
    let percentiles: Vec<f64> = bm["spec"]["execution"]["percentiles"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    let r = aifbench::results::report::write_report(&results, &name, &instances, &percentiles)?;
    print_summary(&r);
    println!("\nwrote {}", results.summary_json().display());
    Ok(ExitCode::SUCCESS)
}

fn print_summary(r: &aifbench::results::report::Report) {
    let t = &r.total;
    println!(
        "requests {}  errors {}  duration {:.1}s  throughput {:.2} req/s  output {:.1} tok/s",
        t.requests, t.errors, t.duration_s, t.request_throughput, t.output_token_throughput
    );
    for (class, n) in &t.error_classes {
        println!("  errors[{class}] = {n}");
    }
    println!(
        "{:<13} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "metric", "count", "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for (name, l) in &t.latency {
        println!(
            "{:<13} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            name, l.count, l.mean_ms, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        );
    }
    if let Some(g) = t.request_goodput {
        println!("goodput {g:.2} req/s");
    }
    if let (Some(rate), Some(sent)) = (t.rate, t.send_rate) {
        println!("open loop: asked {rate:.2} req/s, sent {sent:.2} req/s");
    }
    if !t.stages.is_empty() {
        println!("\nstages:");
        print!("{}", aifbench::results::report::stages_table(t));
    }
}

fn spawn_signal_handler(cancel: CancellationToken, force: CancellationToken) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        let mut count = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            count += 1;
            if count == 1 {
                cancel.cancel();
            } else {
                force.cancel();
            }
        }
    });
}

// One parameter per `run` flag group; a struct would only repeat them.
#[allow(clippy::too_many_arguments)]
async fn run(
    file: &Path,
    workspace: Option<PathBuf>,
    progress: ProgressArg,
    dry_run: bool,
    log_level: &str,
    log_json: bool,
    resume: Option<PathBuf>,
    slurm: &SlurmArgs,
) -> anyhow::Result<ExitCode> {
    let loaded = match load(file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let b = loaded.benchmark;
    let errors = validate(&b);
    if !errors.is_empty() {
        print_load_error(&LoadError {
            source_name: file.display().to_string(),
            errors,
        });
        return Ok(ExitCode::from(2));
    }
    if dry_run {
        print!("{}", serde_norway::to_string(&b)?);
        println!("# components, in launch order:");
        for p in aifbench::engine::plan_components(&b.spec) {
            println!(
                "#   {:<24} {:<8} {}",
                p.id,
                p.kind.as_str(),
                p.executor.as_str()
            );
        }
        let ws = workspace
            .clone()
            .or_else(|| b.spec.workspace.as_ref().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("results"));
        let name = b.metadata.name.clone().unwrap_or_default();
        let stamp = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let dir = ResultsDir::open(&std::path::absolute(ws.join(format!("{name}-{stamp}")))?);
        let exe = std::env::current_exe().context("cannot find the aifbench executable")?;
        let scripts = local::dry_run_scripts(&b, &dir, &exe).map_err(|e| anyhow::anyhow!(e))?;
        for (id, script) in scripts {
            println!(
                "# ---- sbatch script of {id} (would be submitted with `sbatch --parsable`) ----"
            );
            print!("{script}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let slurm_config = slurm.config()?;
    let ws = workspace
        .or_else(|| b.spec.workspace.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("results"));
    let name = b.metadata.name.clone().unwrap_or_default();
    let dir = match resume {
        Some(d) => {
            anyhow::ensure!(
                d.join("benchmark.yaml").is_file(),
                "{} is not a results folder (no benchmark.yaml)",
                d.display()
            );
            ResultsDir::open(&std::path::absolute(&d)?)
        }
        None => ResultsDir::create(&std::path::absolute(&ws)?, &name, jiff::Timestamp::now())?,
    };
    let mode = match progress {
        ProgressArg::Auto if std::io::stderr().is_terminal() => ProgressMode::Live,
        ProgressArg::Auto | ProgressArg::Plain => ProgressMode::Plain,
        ProgressArg::Live => ProgressMode::Live,
        ProgressArg::Quiet => ProgressMode::Quiet,
    };
    // A live line and log lines on one terminal garble each other: the live
    // display shows phases itself, so the console only gets warnings.
    let console = if mode == ProgressMode::Live {
        "warn"
    } else {
        log_level
    };
    aifbench::logging::init(console, log_json, &b.spec.loggers, Some(&dir.logs()));
    eprintln!("results: {}", dir.root.display());
    let signals = Signals {
        cancel: CancellationToken::new(),
        force: CancellationToken::new(),
    };
    spawn_signal_handler(signals.cancel.clone(), signals.force.clone());
    let exe = std::env::current_exe().context("cannot find the aifbench executable")?;
    let opts = RunOptions {
        progress: mode,
        tick: Duration::from_millis(200),
        exe,
        slurm: slurm_config,
    };
    let outcome = local::run(b, dir, opts, signals).await?;
    let s = &outcome.status;
    println!();
    if let Some(r) = &outcome.report {
        print_summary(r);
    }
    let verdict = s
        .condition(condition::SUCCEEDED)
        .map(|c| {
            if c.message.is_empty() {
                c.reason.clone()
            } else {
                format!("{}: {}", c.reason, c.message)
            }
        })
        .unwrap_or_default();
    println!("\n{} ({verdict})", s.phase);
    println!("results: {}", outcome.dir.root.display());
    Ok(match s.phase {
        Phase::Succeeded => ExitCode::SUCCESS,
        Phase::Cancelled => ExitCode::from(130),
        _ => ExitCode::from(1),
    })
}
