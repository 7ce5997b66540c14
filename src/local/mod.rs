//! `aifbench run`: the local driver of the engine.
//!
//! It observes (child processes, health probes, monitor tasks), asks the
//! engine what to do, does it, and repeats until a terminal phase. The
//! status lives in memory and in `status.yaml` of the results folder.

mod progress;
mod slurm;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

pub use progress::ProgressMode;
pub use slurm::dry_run_scripts;

use crate::api::spec::{Benchmark, ClientSpec, ExecutorKind, MonitorSpec, PostAction, ServiceSpec};
use crate::api::status::{BenchmarkStatus, ClientProgress, ComponentKind, ResultsLocation};
use crate::api::template;
use crate::backend::process::ProcessBackend;
use crate::backend::slurm::render::wrapped_argv;
use crate::backend::slurm::{SlurmBackend, SlurmConfig, SlurmError};
use crate::backend::{Backend, LaunchRequest, LineHook, health};
use crate::engine::{
    self, Action, ActionOutcome, Observations, Observed, Placement, PlannedComponent, RunState,
};
use crate::monitor::scrape::{MonitorConfig, ScrapeTarget, run_monitor};
use crate::results::environment::Environment;
use crate::results::report::{Report, write_report};
use crate::results::s3::{ResultsStore, StoreConfig, credentials_from_source, join_key, s3_url};
use crate::results::{ResultsDir, ResultsError};
use crate::workload::loadgen::{LoadgenConfig, ProgressEvent};

/// A component's argv, environment and working directory.
type CommandLine = (Vec<String>, BTreeMap<String, String>, PathBuf);
/// Why a local run could not proceed at all (component failures are not
/// errors: they end in a Failed status).
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The results folder could not be written.
    #[error("results: {0}")]
    Results(#[from] ResultsError),
    /// No free port could be reserved.
    #[error("cannot reserve a free port for {id}: {source}")]
    Port {
        /// The service.
        id: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The Slurm backend could not be set up.
    #[error("slurm: {0}")]
    Slurm(#[from] SlurmError),
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Live terminal line, plain log lines, or nothing.
    pub progress: ProgressMode,
    /// Time between reconciles.
    pub tick: Duration,
    /// The aifbench binary (clients run `<exe> loadgen`; its folder is put
    /// first on the PATH of every component).
    pub exe: PathBuf,
    /// How Slurm components are submitted and observed.
    pub slurm: SlurmConfig,
}

/// Cancellation: `cancel` stops gracefully (first Ctrl-C), `force` kills
/// everything at once (second Ctrl-C).
#[derive(Clone, Debug, Default)]
pub struct Signals {
    /// Graceful cancel.
    pub cancel: CancellationToken,
    /// Immediate kill.
    pub force: CancellationToken,
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The final status.
    pub status: BenchmarkStatus,
    /// Where the results are.
    pub dir: ResultsDir,
    /// The merged results, when the report was written.
    pub report: Option<Report>,
}

struct MonitorTask {
    cancel: CancellationToken,
    run: Arc<Mutex<RunState>>,
}

struct Driver {
    b: Benchmark,
    dir: ResultsDir,
    opts: RunOptions,
    backend: ProcessBackend,
    /// Present when a component runs as a Slurm job.
    slurm: Option<SlurmBackend>,
    /// service id -> host others reach it at (a Slurm service: its node).
    hosts: BTreeMap<String, String>,
    /// Monitors running as `aifbench scrape` jobs (in-allocation mode).
    job_monitors: std::collections::BTreeSet<String>,
    http: reqwest::Client,
    planned: BTreeMap<String, PlannedComponent>,
    /// service id -> port name -> port, in declaration order.
    ports: BTreeMap<String, Vec<(String, u16)>>,
    health: BTreeMap<String, Arc<AtomicBool>>,
    launch_failures: BTreeMap<String, String>,
    placements: BTreeMap<String, Placement>,
    monitors: BTreeMap<String, MonitorTask>,
    post_outcomes: BTreeMap<PostAction, ActionOutcome>,
    report: Option<Report>,
    /// After `uploadResults`: the bucket and the key prefix of the folder.
    uploaded: Option<(ResultsStore, String)>,
    probes: CancellationToken,
    grace: Duration,
}

/// Runs a benchmark to a terminal phase, writing everything into `dir`.
pub async fn run(
    b: Benchmark,
    dir: ResultsDir,
    opts: RunOptions,
    signals: Signals,
) -> Result<Outcome, LocalError> {
    dir.write_yaml(&dir.benchmark_yaml(), &b)?;
    let mut driver = Driver::new(b, dir, opts)?;
    let status = driver.run(&signals).await;
    driver.cleanup_slurm().await;
    driver.finish(&status)?;
    driver.upload_final_files().await;
    Ok(Outcome {
        status,
        dir: driver.dir.clone(),
        report: driver.report.take(),
    })
}

impl Driver {
    fn new(b: Benchmark, dir: ResultsDir, opts: RunOptions) -> Result<Self, LocalError> {
        let planned: BTreeMap<String, PlannedComponent> = engine::plan_components(&b.spec)
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let mut ports = BTreeMap::new();
        for s in &b.spec.services {
            let mut list = Vec::new();
            for p in &s.ports {
                let port = if p.port == 0 {
                    free_port().map_err(|source| LocalError::Port {
                        id: s.id.clone(),
                        source,
                    })?
                } else {
                    p.port
                };
                list.push((p.name.clone(), port));
            }
            ports.insert(s.id.clone(), list);
        }
        let grace = b.spec.execution.stop_grace_period.get();
        let uses_slurm = planned.values().any(|p| p.executor == ExecutorKind::Slurm);
        let slurm = if uses_slurm {
            Some(SlurmBackend::new(
                opts.slurm.clone(),
                &slurm::run_name(&dir),
            )?)
        } else {
            None
        };
        Ok(Self {
            b,
            dir,
            opts,
            backend: ProcessBackend::new(),
            slurm,
            hosts: BTreeMap::new(),
            job_monitors: Default::default(),
            http: reqwest::Client::new(),
            planned,
            ports,
            health: BTreeMap::new(),
            launch_failures: BTreeMap::new(),
            placements: BTreeMap::new(),
            monitors: BTreeMap::new(),
            post_outcomes: BTreeMap::new(),
            report: None,
            uploaded: None,
            probes: CancellationToken::new(),
            grace,
        })
    }

    async fn run(&mut self, signals: &Signals) -> BenchmarkStatus {
        let mut status = BenchmarkStatus::default();
        let mut display = progress::Display::new(self.opts.progress);
        let mut last_write = Instant::now();
        let mut unwritten = false;
        let mut forced = false;
        loop {
            self.discover_slurm_services().await;
            self.check_ready_files().await;
            let obs = self.observe(signals.cancel.is_cancelled()).await;
            let decision = engine::reconcile(&self.b, &status, &obs, Timestamp::now());
            if decision.status.phase != status.phase {
                display.phase_changed(&decision.status);
            }
            let important = decision.status.phase != status.phase
                || decision.status.conditions != status.conditions;
            // A change not written yet (throttled) is written on a later
            // tick even when nothing changes any more.
            unwritten |= decision.status != status;
            status = decision.status;
            if important || (unwritten && last_write.elapsed() >= Duration::from_secs(1)) {
                self.write_status(&status);
                last_write = Instant::now();
                unwritten = false;
            }
            for action in decision.actions {
                self.execute(action, forced).await;
            }
            if status.phase.is_terminal() {
                break;
            }
            display.tick(&status);
            tokio::select! {
                _ = tokio::time::sleep(self.opts.tick) => {}
                _ = signals.force.cancelled(), if !forced => {
                    forced = true;
                    display.note("second interrupt: killing every component now");
                    self.grace = Duration::ZERO;
                    self.backend.stop_all(Duration::ZERO).await;
                }
                _ = signals.cancel.cancelled(), if !obs.cancel_requested => {
                    display.note("interrupt: cancelling (stopping clients, collecting partial results); press Ctrl-C again to kill at once");
                }
            }
        }
        display.clear();
        status
    }

    fn finish(&mut self, status: &BenchmarkStatus) -> Result<(), LocalError> {
        self.probes.cancel();
        let mut status = status.clone();
        status.results = Some(ResultsLocation {
            path: Some(self.dir.root.display().to_string()),
            url: self
                .uploaded
                .as_ref()
                .map(|(store, prefix)| format!("{}/", s3_url(store.bucket(), prefix))),
        });
        self.dir.write_yaml(&self.dir.status_yaml(), &status)?;
        let mut env = Environment::capture();
        for c in &status.components {
            env.components.insert(
                c.id.clone(),
                serde_json::json!({
                    "kind": c.kind.as_str(),
                    "backend": c.backend,
                    "node": c.node,
                    "pid": c.pid,
                    "jobId": c.job_id,
                    "endpoint": c.endpoint,
                }),
            );
        }
        self.dir.write_json(&self.dir.environment_json(), &env)?;
        Ok(())
    }

    fn write_status(&self, status: &BenchmarkStatus) {
        if let Err(e) = self.dir.write_yaml(&self.dir.status_yaml(), status) {
            tracing::error!(error = %e, "cannot write status.yaml");
        }
    }

    // ---- observing --------------------------------------------------------

    async fn observe(&self, cancel: bool) -> Observations {
        let mut obs = Observations {
            cancel_requested: cancel,
            post_actions: self.post_outcomes.clone(),
            summary: self.report.as_ref().map(|r| r.headline.clone()),
            ..Default::default()
        };
        for (id, p) in &self.planned {
            let mut o = Observed {
                placement: self.placements.get(id).cloned().unwrap_or_default(),
                ..Default::default()
            };
            if let Some(msg) = self.launch_failures.get(id) {
                o.run = RunState::LaunchFailed(msg.clone());
            } else if let (true, Some(slurm)) = (self.job_monitors.contains(id), &self.slurm) {
                o.run = slurm.run_state(id).await;
            } else if p.kind == ComponentKind::Monitor {
                if let Some(m) = self.monitors.get(id) {
                    o.run = m.run.lock().unwrap_or_else(PoisonError::into_inner).clone();
                }
            } else if let (ExecutorKind::Slurm, Some(slurm)) = (p.executor, &self.slurm) {
                o.run = slurm.run_state(id).await;
            } else {
                let (run, progress) = self.backend.observe(id).await;
                o.run = run;
                o.progress = progress;
            }
            o.healthy = self
                .health
                .get(id)
                .is_some_and(|h| h.load(Ordering::SeqCst));
            obs.components.insert(id.clone(), o);
        }
        obs
    }

    // ---- acting -----------------------------------------------------------

    async fn execute(&mut self, action: Action, forced: bool) {
        match action {
            Action::Launch(id) => {
                if let Err(msg) = self.launch(&id).await {
                    tracing::error!(component = %id, error = %msg, "launch failed");
                    self.launch_failures.insert(id, msg);
                }
            }
            Action::Stop(id) => {
                if let Some(m) = self.monitors.get(&id) {
                    m.cancel.cancel();
                } else if let (Some(slurm), true) = (&self.slurm, self.is_slurm(&id)) {
                    tracing::info!(component = %id, "cancelling the Slurm job");
                    slurm.cancel(&id).await;
                } else {
                    let grace = if forced { Duration::ZERO } else { self.grace };
                    tracing::info!(component = %id, grace_s = grace.as_secs_f64(), "stopping");
                    self.backend.stop(&id, grace).await;
                }
            }
            Action::RunPostAction(PostAction::Report) => {
                let outcome = self.report();
                self.post_outcomes.insert(PostAction::Report, outcome);
            }
            Action::RunPostAction(PostAction::UploadResults) => {
                let outcome = self.upload_results().await;
                self.post_outcomes
                    .insert(PostAction::UploadResults, outcome);
            }
            Action::RunPostAction(other) => {
                // collectMetrics and stopServices are expressed by the
                // engine as Stop actions; nothing else to do.
                self.post_outcomes.insert(other, ActionOutcome::Succeeded);
            }
        }
    }

    /// `uploadResults`: the whole results folder to
    /// `<results.s3.prefix>/<folder name>/`.
    async fn upload_results(&mut self) -> ActionOutcome {
        let Some(s3) = self.b.spec.results.as_ref().and_then(|r| r.s3.clone()) else {
            return ActionOutcome::Failed("uploadResults needs spec.results.s3".to_string());
        };
        let creds = match credentials_from_source(&s3.credentials, &|k| std::env::var(k).ok()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot upload the results");
                return ActionOutcome::Failed(e.to_string());
            }
        };
        let store = ResultsStore::new(&StoreConfig::from_spec(&s3), &creds);
        let folder = self
            .dir
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = join_key(&[&s3.key_prefix(), &folder]);
        match store.upload_dir(&self.dir.root, &prefix).await {
            Ok(files) => {
                tracing::info!(files, url = %s3_url(store.bucket(), &prefix), "results uploaded");
                self.uploaded = Some((store, prefix));
                ActionOutcome::Succeeded
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot upload the results");
                ActionOutcome::Failed(e.to_string())
            }
        }
    }

    /// After an upload, `status.yaml` and `environment.json` are written
    /// once more at the very end: upload those again (best effort).
    async fn upload_final_files(&self) {
        let Some((store, prefix)) = &self.uploaded else {
            return;
        };
        for path in [self.dir.status_yaml(), self.dir.environment_json()] {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Err(e) = store.put_file(&join_key(&[prefix, &name]), &path).await {
                tracing::warn!(error = %e, "cannot upload the final {name}");
            }
        }
    }

    fn report(&mut self) -> ActionOutcome {
        let instances: Vec<String> = self
            .planned
            .values()
            .filter(|p| p.kind == ComponentKind::Client)
            .map(|p| p.id.clone())
            .collect();
        let name = self.b.metadata.name.clone().unwrap_or_default();
        let percentiles = self.b.spec.execution.percentiles.clone();
        match write_report(&self.dir, &name, &instances, &percentiles) {
            Ok(r) => {
                if !r.missing.is_empty() {
                    tracing::warn!(missing = ?r.missing, "some client instances wrote no results");
                }
                self.report = Some(r);
                ActionOutcome::Succeeded
            }
            Err(e) => {
                tracing::error!(error = %e, "report failed");
                ActionOutcome::Failed(e.to_string())
            }
        }
    }

    async fn launch(&mut self, id: &str) -> Result<(), String> {
        let p = self
            .planned
            .get(id)
            .cloned()
            .ok_or_else(|| format!("unknown component {id}"))?;
        match p.kind {
            ComponentKind::Service => {
                let spec = self.b.spec.services[p.index].clone();
                self.launch_service(&spec).await
            }
            ComponentKind::Client => {
                let spec = self.b.spec.clients[p.index].clone();
                self.launch_client(&spec, id).await
            }
            ComponentKind::Monitor => {
                let spec = self.b.spec.monitors[p.index].clone();
                self.start_monitor_any(&spec).await
            }
        }
    }

    fn check_executor(&self, kind: ExecutorKind) -> Result<(), String> {
        match kind {
            ExecutorKind::Process | ExecutorKind::Slurm | ExecutorKind::Apptainer => Ok(()),
            other => Err(format!(
                "executor {} is not available in `aifbench run` of this version; use executor: process",
                other.as_str()
            )),
        }
    }

    /// Template values every component can use.
    fn shared_values(&self) -> BTreeMap<String, String> {
        let mut v = BTreeMap::new();
        v.insert(
            "resultsDir".to_string(),
            self.dir.root.display().to_string(),
        );
        for (id, ports) in &self.ports {
            if let Some((_, port)) = ports.first() {
                let host = self.host_of(id);
                v.insert(format!("services.{id}.host"), host.clone());
                v.insert(format!("services.{id}.port"), port.to_string());
                v.insert(
                    format!("services.{id}.url"),
                    format!("http://{host}:{port}"),
                );
            }
        }
        v
    }

    fn component_env(
        &self,
        extra: &BTreeMap<String, String>,
        values: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut env = BTreeMap::new();
        if let Some(bin_dir) = self.opts.exe.parent() {
            let path = std::env::var("PATH").unwrap_or_default();
            env.insert("PATH".to_string(), format!("{}:{path}", bin_dir.display()));
        }
        env.insert(
            "AIFB_RESULTS_DIR".to_string(),
            self.dir.root.display().to_string(),
        );
        for (k, val) in extra {
            let rendered = template::render(val, values).map_err(|e| format!("env {k}: {e}"))?;
            env.insert(k.clone(), rendered);
        }
        Ok(env)
    }

    /// A service's command line (templates filled in with its ports), its
    /// environment and its working directory.
    fn service_command(&self, s: &ServiceSpec) -> Result<CommandLine, String> {
        let mut values = self.shared_values();
        values.insert("id".to_string(), s.id.clone());
        let ports = self.ports.get(&s.id).cloned().unwrap_or_default();
        if let Some((_, port)) = ports.first() {
            values.insert("port".to_string(), port.to_string());
        }
        for (name, port) in &ports {
            values.insert(format!("ports.{name}"), port.to_string());
        }
        let argv: Vec<String> = match &s.shell {
            Some(sh) => vec![
                "sh".to_string(),
                "-c".to_string(),
                template::render(sh, &values).map_err(|e| e.to_string())?,
            ],
            None => s
                .command
                .iter()
                .map(|a| template::render(a, &values))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
        };
        let env = self.component_env(&s.env, &values)?;
        let working_dir = s
            .working_dir
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| self.dir.root.clone());
        Ok((argv, env, working_dir))
    }

    /// The `aifbench loadgen` command line of client instance `id`.
    fn loadgen_argv(&self, c: &ClientSpec, id: &str) -> Vec<String> {
        let mut argv = vec![
            self.opts.exe.display().to_string(),
            "loadgen".to_string(),
            "--config".to_string(),
            self.dir.client_config(id).display().to_string(),
            "--output".to_string(),
            self.dir.client_result(id).display().to_string(),
        ];
        if c.record_requests {
            argv.push("--requests".to_string());
            let path = self.dir.clients().join(format!("{id}.requests.jsonl"));
            argv.push(path.display().to_string());
        }
        argv
    }

    /// A client instance's environment.
    fn client_env(&self, c: &ClientSpec, id: &str) -> Result<BTreeMap<String, String>, String> {
        let mut values = self.shared_values();
        values.insert("id".to_string(), id.to_string());
        self.component_env(&c.env, &values)
    }

    async fn launch_service(&mut self, s: &ServiceSpec) -> Result<(), String> {
        self.check_executor(s.executor)?;
        let ports = self.ports.get(&s.id).cloned().unwrap_or_default();
        let (argv, env, working_dir) = self.service_command(s)?;
        if s.executor == ExecutorKind::Slurm {
            return self.submit_service(s, argv, env, working_dir).await;
        }
        let argv = if s.executor == ExecutorKind::Apptainer {
            wrapped_argv(&argv, s.apptainer.as_ref())
        } else {
            argv
        };
        let endpoint = ports
            .first()
            .map(|(_, port)| format!("http://127.0.0.1:{port}"));
        let placement = self
            .backend
            .launch(LaunchRequest {
                id: s.id.clone(),
                kind: ComponentKind::Service,
                argv,
                env,
                working_dir,
                log_path: self.dir.component_log(&s.id),
                endpoint: endpoint.clone(),
                progress_hook: None,
            })
            .await
            .map_err(|e| e.to_string())?;
        self.placements.insert(s.id.clone(), placement);
        self.start_prober(s)
    }

    /// Starts the health prober of a service whose endpoint is known.
    fn start_prober(&mut self, s: &ServiceSpec) -> Result<(), String> {
        let ports = self.ports.get(&s.id).cloned().unwrap_or_default();
        let host = self.host_of(&s.id);
        if let Some(h) = &s.healthcheck {
            let url = match &h.url {
                Some(u) => u.clone(),
                None => {
                    let port = match &h.port {
                        Some(name) => ports.iter().find(|(n, _)| n == name).map(|(_, p)| *p),
                        None => ports.first().map(|(_, p)| *p),
                    }
                    .ok_or_else(|| format!("service {} has no port to health-check", s.id))?;
                    format!("http://{host}:{port}{}", h.path)
                }
            };
            let flag = Arc::new(AtomicBool::new(false));
            self.health.insert(s.id.clone(), flag.clone());
            health::spawn_prober(
                self.http.clone(),
                s.id.clone(),
                url,
                h.interval.get(),
                h.probe_timeout.get(),
                flag,
                self.probes.child_token(),
            );
        }
        Ok(())
    }

    fn client_base_url(&self, c: &ClientSpec) -> Result<String, String> {
        if let Some(e) = &c.endpoint {
            return Ok(e.trim_end_matches('/').to_string());
        }
        let target = c
            .target
            .as_deref()
            .ok_or("client has neither target nor endpoint")?;
        let ports = self
            .ports
            .get(target)
            .ok_or_else(|| format!("unknown target service {target}"))?;
        let port = match &c.target_port {
            Some(name) => ports.iter().find(|(n, _)| n == name),
            None => ports.first(),
        }
        .map(|(_, p)| *p)
        .ok_or_else(|| format!("service {target} has no such port"))?;
        Ok(format!("http://{}:{port}", self.host_of(target)))
    }

    async fn launch_client(&mut self, c: &ClientSpec, id: &str) -> Result<(), String> {
        self.check_executor(c.executor)?;
        let base_url = self.client_base_url(c)?;
        let config = LoadgenConfig::for_client(&self.b.spec, c, id, base_url.clone());
        let config_path = self.dir.client_config(id);
        self.dir
            .write_json(&config_path, &config)
            .map_err(|e| e.to_string())?;
        let env = self.client_env(c, id)?;
        let argv = self.loadgen_argv(c, id);
        if c.executor == ExecutorKind::Slurm {
            let req = self.job_request(
                id,
                c.slurm.clone(),
                c.apptainer.clone(),
                argv,
                env,
                self.dir.root.clone(),
                None,
            );
            return self.submit_job(id, &req, Some(base_url)).await;
        }
        let argv = if c.executor == ExecutorKind::Apptainer {
            wrapped_argv(&argv, c.apptainer.as_ref())
        } else {
            argv
        };
        let hook: LineHook =
            Arc::new(
                |line: &str| match serde_json::from_str::<ProgressEvent>(line) {
                    Ok(ProgressEvent::Progress {
                        requests,
                        errors,
                        elapsed_s,
                        ..
                    }) => Some(ClientProgress {
                        requests,
                        errors,
                        elapsed_seconds: elapsed_s,
                    }),
                    _ => None,
                },
            );
        let placement = self
            .backend
            .launch(LaunchRequest {
                id: id.to_string(),
                kind: ComponentKind::Client,
                argv,
                env,
                working_dir: self.dir.root.clone(),
                log_path: self.dir.component_log(id),
                endpoint: None,
                progress_hook: Some(hook),
            })
            .await
            .map_err(|e| e.to_string())?;
        self.placements.insert(
            id.to_string(),
            Placement {
                endpoint: Some(base_url),
                ..placement
            },
        );
        Ok(())
    }

    /// A monitor in the driver, or as a job in in-allocation mode.
    async fn start_monitor_any(&mut self, m: &MonitorSpec) -> Result<(), String> {
        if self.in_allocation() {
            let targets = self.monitor_targets(m)?;
            return self.submit_monitor(m, &targets).await;
        }
        self.start_monitor(m)
    }

    fn monitor_targets(&self, m: &MonitorSpec) -> Result<Vec<ScrapeTarget>, String> {
        let mut targets = Vec::new();
        for t in &m.targets {
            let url = if t.contains("://") {
                t.clone()
            } else if t.contains(':') {
                format!("http://{t}{}", m.path)
            } else {
                let ports = self
                    .ports
                    .get(t)
                    .ok_or_else(|| format!("unknown service {t}"))?;
                let port = match &m.port {
                    Some(name) => ports.iter().find(|(n, _)| n == name),
                    None => ports.iter().find(|(n, _)| n == "metrics").or(ports.first()),
                }
                .map(|(_, p)| *p)
                .ok_or_else(|| format!("service {t} has no port to scrape"))?;
                format!("http://{}:{port}{}", self.host_of(t), m.path)
            };
            targets.push(ScrapeTarget {
                name: t.clone(),
                url,
            });
        }
        Ok(targets)
    }

    fn start_monitor(&mut self, m: &MonitorSpec) -> Result<(), String> {
        let targets = self.monitor_targets(m)?;
        let bearer_token = bearer_token(m)?;
        let config = MonitorConfig {
            id: m.id.clone(),
            targets,
            interval: m.interval.get(),
            timeout: m.timeout.get(),
            bearer_token,
        };
        let cancel = CancellationToken::new();
        let run = Arc::new(Mutex::new(RunState::Running));
        let out_dir = self.dir.metrics();
        {
            let cancel = cancel.clone();
            let run = run.clone();
            let id = m.id.clone();
            tokio::spawn(async move {
                let result = run_monitor(config, &out_dir, cancel).await;
                let state = match result {
                    Ok(report) => {
                        tracing::debug!(monitor = %id, scrapes = report.scrapes, failures = report.failures, "monitor stopped");
                        RunState::Exited {
                            code: Some(0),
                            reason: None,
                        }
                    }
                    Err(e) => {
                        tracing::error!(monitor = %id, error = %e, "monitor failed");
                        RunState::Exited {
                            code: Some(1),
                            reason: Some(e.to_string()),
                        }
                    }
                };
                *run.lock().unwrap_or_else(PoisonError::into_inner) = state;
            });
        }
        self.placements.insert(
            m.id.clone(),
            Placement {
                node: crate::results::hostname(),
                ..Default::default()
            },
        );
        self.monitors
            .insert(m.id.clone(), MonitorTask { cancel, run });
        Ok(())
    }
}

fn bearer_token(m: &MonitorSpec) -> Result<Option<String>, String> {
    if let Some(var) = &m.bearer_token_env {
        return std::env::var(var).map(Some).map_err(|_| {
            format!(
                "monitor {}: environment variable {var} (bearerTokenEnv) is not set",
                m.id
            )
        });
    }
    if let Some(file) = &m.bearer_token_file {
        return std::fs::read_to_string(file)
            .map(|t| Some(t.trim().to_string()))
            .map_err(|e| format!("monitor {}: cannot read bearerTokenFile {file}: {e}", m.id));
    }
    Ok(None)
}

/// Reserves a free loopback port by binding port 0 and releasing it.
fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
