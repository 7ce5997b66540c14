//! `aifbench run`: the local driver of the engine.
//!
//! It runs the one driver loop ([`crate::driver::step`], every tick, until
//! a terminal phase) as its doer: it observes (backends, health probes,
//! monitor tasks) and carries out the engine's actions. Its status store
//! is the results folder's `status.yaml` (`status_file`); what it launched
//! is recorded in `run.json` (`run_file`), from which `reap` ends what a
//! gone driver left running. Inside `aifbench submit`'s allocation
//! ([`run_in_allocation`]) its Slurm components are job steps of it.

mod dry_run;
mod environment;
mod launch;
mod post;
mod progress;
pub mod reap;
pub mod run_file;
mod status_file;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

pub use dry_run::{dry_run_scripts, dry_run_steps};
pub use progress::ProgressMode;

use self::launch::{Endpoints, Requests, bearer_token, free_port};
use self::run_file::{RecordedAllocation, RunFile};
use self::status_file::StatusFile;
use crate::api::spec::{Benchmark, MonitorSpec, PostAction};
use crate::api::status::{BenchmarkStatus, ComponentKind, ResultsLocation};
use crate::backend::slurm::steps::Allocation;
use crate::backend::slurm::{SlurmConfig, SlurmError};
use crate::backend::{Backend, Backends, LaunchRequest, health};
use crate::driver::{self, Doer, Feedback, StepError};
use crate::engine::{
    self, Action, ActionOutcome, Observations, Observed, Placement, PlannedComponent, RunState,
};
use crate::monitor::task::{MonitorTask, MonitorWork};
use crate::results::provenance::Provenance;
use crate::results::provenance_probe::ServerProbes;
use crate::results::report::Report;
use crate::results::s3::{ResultsStore, s3_url};
use crate::results::{ResultsDir, ResultsError};

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
    /// A component could not be described (dry run).
    #[error("{0}")]
    Component(String),
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

struct Driver {
    b: Benchmark,
    dir: ResultsDir,
    opts: RunOptions,
    /// The backends of this run, by executor.
    backends: Backends,
    /// Which backend runs each launched component.
    launched: BTreeMap<String, Arc<dyn Backend>>,
    /// Services whose endpoint is known (health checks started).
    located: BTreeSet<String>,
    http: reqwest::Client,
    planned: BTreeMap<String, PlannedComponent>,
    endpoints: Endpoints,
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
    /// What was launched, kept in `run.json` (None: not recorded, a dry
    /// run).
    record: Option<RunFile>,
    /// The user asked to cancel (first interrupt).
    cancel: bool,
    /// The user asked to kill everything at once (second interrupt).
    forced: bool,
    /// Services' version and model probes (`environment`).
    servers: ServerProbes,
    /// The provenance, once gathered.
    provenance: Option<Provenance>,
}

/// Runs a benchmark to a terminal phase, writing everything into `dir`,
/// with the backends of `aifbench run` (processes, Apptainer, Slurm).
pub async fn run(
    b: Benchmark,
    dir: ResultsDir,
    opts: RunOptions,
    signals: Signals,
) -> Result<Outcome, LocalError> {
    let backends = local_backends(&b, &dir, &opts)?;
    run_with(backends, b, dir, opts, signals).await
}

/// [`run`] inside a Slurm allocation (the batch job of `aifbench
/// submit`): `executor: slurm` components run as job steps of
/// `allocation` on the nodes [`Backends::node_plan`] gives them, and `run.json`
/// records the allocation.
pub async fn run_in_allocation(
    b: Benchmark,
    dir: ResultsDir,
    opts: RunOptions,
    signals: Signals,
    allocation: Allocation,
) -> Result<Outcome, LocalError> {
    let plan = Backends::node_plan(&b.spec);
    let backends =
        local_backends(&b, &dir, &opts)?.with_steps_of(allocation.clone(), &run_name(&dir), plan);
    let recorded = RecordedAllocation {
        job_id: allocation.job_id,
        nodes: allocation.nodes,
    };
    run_recorded(backends, b, dir, opts, signals, Some(recorded)).await
}

/// [`run`] over a given registry of backends (tests drive the loop with an
/// in-memory backend this way).
pub async fn run_with(
    backends: Backends,
    b: Benchmark,
    dir: ResultsDir,
    opts: RunOptions,
    signals: Signals,
) -> Result<Outcome, LocalError> {
    run_recorded(backends, b, dir, opts, signals, None).await
}

/// [`run_with`], `run.json` naming the allocation the driver runs in.
async fn run_recorded(
    backends: Backends,
    b: Benchmark,
    dir: ResultsDir,
    opts: RunOptions,
    signals: Signals,
    allocation: Option<RecordedAllocation>,
) -> Result<Outcome, LocalError> {
    dir.write_yaml(&dir.benchmark_yaml(), &b)?;
    let mut driver = Driver::new(b, dir, opts, backends)?;
    let mut record = RunFile::for_this_driver(driver.grace);
    record.allocation = allocation;
    record.save(&driver.dir)?;
    driver.record = Some(record);
    let status = driver.run(&signals).await;
    driver.cleanup().await;
    driver.finish(&status).await?;
    driver.upload_final_files().await;
    Ok(Outcome {
        status,
        dir: driver.dir.clone(),
        report: driver.report.take(),
    })
}

/// The backends `aifbench run` has for `b`.
fn local_backends(
    b: &Benchmark,
    dir: &ResultsDir,
    opts: &RunOptions,
) -> Result<Backends, LocalError> {
    Ok(Backends::for_local_run(
        engine::plan_components(&b.spec)
            .into_iter()
            .filter_map(|p| p.executor),
        &opts.slurm,
        &run_name(dir),
        dir.root.join("slurm_logs"),
    )?)
}

impl Driver {
    fn new(
        b: Benchmark,
        dir: ResultsDir,
        opts: RunOptions,
        backends: Backends,
    ) -> Result<Self, LocalError> {
        let planned: BTreeMap<String, PlannedComponent> = engine::plan_components(&b.spec)
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let mut endpoints = Endpoints::default();
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
            endpoints.ports.insert(s.id.clone(), list);
        }
        let grace = b.spec.execution.stop_grace_period.get();
        Ok(Self {
            b,
            dir,
            opts,
            backends,
            launched: BTreeMap::new(),
            located: BTreeSet::new(),
            http: crate::tls::client(),
            planned,
            endpoints,
            health: BTreeMap::new(),
            launch_failures: BTreeMap::new(),
            placements: BTreeMap::new(),
            monitors: BTreeMap::new(),
            post_outcomes: BTreeMap::new(),
            report: None,
            uploaded: None,
            probes: CancellationToken::new(),
            grace,
            record: None,
            cancel: false,
            forced: false,
            servers: ServerProbes::default(),
            provenance: None,
        })
    }

    fn requests(&self) -> Requests<'_> {
        Requests {
            dir: &self.dir,
            exe: &self.opts.exe,
            endpoints: &self.endpoints,
            grace: self.grace,
        }
    }

    /// The loop: a [`driver::step`] every tick until a terminal phase,
    /// with the interrupts in between.
    async fn run(&mut self, signals: &Signals) -> BenchmarkStatus {
        let b = self.b.clone();
        let mut store = StatusFile::new(self.dir.clone());
        let mut display = progress::Display::new(self.opts.progress);
        let mut carry = Feedback::default();
        loop {
            self.cancel = signals.cancel.is_cancelled();
            let before = store.status.phase;
            let stepped = match driver::step(&b, self, &mut store, carry, Timestamp::now()).await {
                Ok(s) => s,
                Err(StepError::Doer(never)) => match never {},
                Err(StepError::Store(never)) => match never {},
            };
            for w in &stepped.warnings {
                tracing::warn!(reason = %w.reason, "{}", w.message);
            }
            carry = stepped.carry;
            let status = stepped.status;
            if status.phase != before {
                display.phase_changed(&status);
            }
            if status.phase.is_terminal() {
                display.clear();
                return status;
            }
            display.tick(&status);
            tokio::select! {
                _ = tokio::time::sleep(self.opts.tick) => {}
                _ = signals.force.cancelled(), if !self.forced => {
                    self.forced = true;
                    display.note("second interrupt: killing every component now");
                    self.grace = Duration::ZERO;
                    for (id, backend) in &self.launched {
                        backend.stop(id, Duration::ZERO).await;
                    }
                }
                _ = signals.cancel.cancelled(), if !self.cancel => {
                    display.note("interrupt: cancelling (stopping clients, collecting partial results); press Ctrl-C again to kill at once");
                }
            }
        }
    }

    async fn finish(&mut self, status: &BenchmarkStatus) -> Result<(), LocalError> {
        self.probes.cancel();
        let mut status = status.clone();
        status.results = Some(ResultsLocation {
            path: Some(self.dir.root.display().to_string()),
            url: self
                .uploaded
                .as_ref()
                .map(|(store, prefix)| format!("{}/", s3_url(store.bucket(), prefix))),
        });
        let provenance = self.write_environment(&status).await?;
        status.provenance = Some(provenance.summary());
        self.dir.write_yaml(&self.dir.status_yaml(), &status)?;
        Ok(())
    }

    // ---- observing (the doer of the loop, below) ---- --------------------------------------------------------

    /// What every component is doing, from its backend, its health check
    /// and the driver's monitor tasks. A service's endpoint becomes known
    /// here once its backend placed it (a Slurm job: its node and the port
    /// it reported), and its health check starts then.
    async fn observe_all(&mut self) -> Observations {
        let mut obs = Observations {
            cancel_requested: self.cancel,
            post_actions: self.post_outcomes.clone(),
            summary: self.report.as_ref().map(|r| r.headline.clone()),
            ..Default::default()
        };
        let ids: Vec<String> = self.planned.keys().cloned().collect();
        for id in ids {
            let mut o = Observed::default();
            if let Some(msg) = self.launch_failures.get(&id) {
                o.run = RunState::LaunchFailed(msg.clone());
            } else if let Some(backend) = self.launched.get(&id).cloned() {
                let seen = backend.observe(&id).await;
                o.run = seen.run.clone();
                o.progress = seen.progress.clone();
                self.locate(&id, &seen);
                if seen.ready == Some(true)
                    && let Some(flag) = self.health.get(&id)
                    && !flag.swap(true, Ordering::SeqCst)
                {
                    tracing::info!(component = %id, "health check passed inside the allocation");
                }
            } else if let Some(m) = self.monitors.get(&id) {
                o.run = m.state();
            }
            o.placement = self.placements.get(&id).cloned().unwrap_or_default();
            o.healthy = self
                .health
                .get(&id)
                .is_some_and(|h| h.load(Ordering::SeqCst));
            self.probe_server_once(&id, &o);
            obs.components.insert(id, o);
        }
        obs
    }

    /// Learns where a launched component runs from what its backend saw.
    fn locate(&mut self, id: &str, seen: &crate::backend::Seen) {
        if self.located.contains(id) || seen.run != RunState::Running {
            return;
        }
        let Some(node) = seen.node.clone() else {
            return;
        };
        let service = self
            .planned
            .get(id)
            .filter(|p| p.kind == ComponentKind::Service)
            .map(|p| p.index);
        let has_ports = self.endpoints.ports.get(id).is_some_and(|p| !p.is_empty());
        if service.is_some() && has_ports && seen.port.is_none() {
            // The job has not reported its port yet: next tick.
            return;
        }
        self.located.insert(id.to_string());
        if service.is_some() {
            self.endpoints.place(id, node.clone(), seen.port);
            tracing::info!(component = %id, node = %node, port = ?seen.port, "service is running");
        }
        let endpoint = service.and_then(|_| self.endpoints.url(id));
        if let Some(pl) = self.placements.get_mut(id) {
            pl.node = Some(node);
            if endpoint.is_some() {
                pl.endpoint = endpoint;
            }
        }
        if service.is_some()
            && let Err(e) = self.start_health(id)
        {
            tracing::error!(component = %id, error = %e, "cannot start the health check");
        }
    }

    // ---- acting -----------------------------------------------------------

    /// Carries out one action; what the engine must learn at once goes to
    /// `fb` (and is kept for later observations too).
    async fn execute(&mut self, action: &Action, fb: &mut Feedback) {
        match action {
            Action::Launch(id) => {
                if let Err(msg) = self.launch(id).await {
                    tracing::error!(component = %id, error = %msg, "launch failed");
                    self.launch_failures.insert(id.clone(), msg.clone());
                    fb.launch_failed.insert(id.clone(), msg);
                }
            }
            Action::Stop(id) => {
                if let Some(m) = self.monitors.get(id) {
                    m.stop();
                } else if let Some(backend) = self.launched.get(id) {
                    let grace = if self.forced {
                        Duration::ZERO
                    } else {
                        self.grace
                    };
                    tracing::info!(component = %id, backend = backend.name(), grace_s = grace.as_secs_f64(), "stopping");
                    backend.stop(id, grace).await;
                }
            }
            Action::RunPostAction(action) => {
                let outcome = match action {
                    PostAction::Report => self.report(),
                    PostAction::UploadResults => self.upload_results().await,
                    // collectMetrics and stopServices are expressed by the
                    // engine as Stop actions; nothing else to do.
                    _ => ActionOutcome::Succeeded,
                };
                self.post_outcomes.insert(*action, outcome.clone());
                fb.post_actions.insert(*action, outcome);
                if *action == PostAction::Report {
                    fb.summary = self.report.as_ref().map(|r| r.headline.clone());
                }
            }
        }
    }

    async fn launch(&mut self, id: &str) -> Result<(), String> {
        let p = self
            .planned
            .get(id)
            .cloned()
            .ok_or_else(|| format!("unknown component {id}"))?;
        let req = match p.kind {
            ComponentKind::Service => self.requests().service(&self.b.spec.services[p.index])?,
            ComponentKind::Client => {
                let c = &self.b.spec.clients[p.index];
                self.requests().client(&self.b.spec, c, id)?
            }
            ComponentKind::Monitor => {
                let m = self.b.spec.monitors[p.index].clone();
                return self.start_monitor(&m).await;
            }
        };
        let backend = self
            .backends
            .get(p.executor)
            .map_err(|e| e.to_string())?
            .clone();
        self.launch_with(backend, req).await
    }

    /// Hands a request to a backend and remembers where it went.
    async fn launch_with(
        &mut self,
        backend: Arc<dyn Backend>,
        req: LaunchRequest,
    ) -> Result<(), String> {
        let id = req.id.clone();
        let kind = req.kind;
        let endpoint = req.endpoint.clone();
        let placement = backend.launch(req).await.map_err(|e| e.to_string())?;
        if let Some(record) = &mut self.record {
            record.launched(&id, backend.name(), &placement);
            if let Err(e) = record.save(&self.dir) {
                tracing::error!(error = %e, "cannot record the launch in run.json");
            }
        }
        self.launched.insert(id.clone(), backend);
        let placement = match kind {
            // A client's endpoint is the URL it sends to.
            ComponentKind::Client => Placement {
                endpoint,
                ..placement
            },
            _ => placement,
        };
        let located = kind == ComponentKind::Service && placement.endpoint.is_some();
        self.placements.insert(id.clone(), placement);
        if located {
            // The backend runs it where the driver planned (a local
            // process): its endpoint is known now.
            self.located.insert(id.clone());
            self.start_health(&id)?;
        }
        Ok(())
    }

    /// Starts a located service's health check: probed by the driver when
    /// its backend reaches endpoints, reported by the backend otherwise.
    fn start_health(&mut self, id: &str) -> Result<(), String> {
        let Some(s) = self.b.spec.services.iter().find(|s| s.id == id) else {
            return Ok(());
        };
        let Some(h) = &s.healthcheck else {
            return Ok(());
        };
        let flag = Arc::new(AtomicBool::new(false));
        self.health.insert(id.to_string(), flag.clone());
        if !self.launched.get(id).is_some_and(|b| b.reaches_endpoints()) {
            return Ok(());
        }
        let url = match &h.url {
            Some(u) => u.clone(),
            None => {
                let port = self
                    .endpoints
                    .port(id, h.port.as_deref())
                    .ok_or_else(|| format!("service {id} has no port to health-check"))?;
                format!("http://{}:{port}{}", self.endpoints.host_of(id), h.path)
            }
        };
        health::spawn_prober(
            self.http.clone(),
            id.to_string(),
            url,
            h.interval.get(),
            h.probe_timeout.get(),
            flag,
            self.probes.child_token(),
        );
        Ok(())
    }

    /// A monitor: a task of the driver, or — when a service it scrapes runs
    /// where the driver cannot reach it — a job next to that service.
    async fn start_monitor(&mut self, m: &MonitorSpec) -> Result<(), String> {
        let remote = m.targets.iter().find_map(|t| {
            let p = self.planned.get(t)?;
            let b = self.backends.get(p.executor).ok()?;
            (!b.reaches_endpoints()).then(|| (b.clone(), p.index))
        });
        if let Some((backend, index)) = remote {
            let slurm = self.b.spec.services[index].slurm.clone();
            let req = self
                .requests()
                .monitor_job(m, &self.b.spec.services, slurm.as_ref())?;
            return self.launch_with(backend, req).await;
        }
        let work = MonitorWork::for_spec(m, bearer_token(m)?, || {
            self.requests().monitor_targets(m, &self.b.spec.services)
        })?;
        self.placements.insert(
            m.id.clone(),
            Placement {
                node: crate::results::hostname(),
                ..Default::default()
            },
        );
        self.monitors
            .insert(m.id.clone(), MonitorTask::spawn(work, self.dir.metrics()));
        Ok(())
    }

    /// Ends whatever any backend still runs (nothing outlives a benchmark)
    /// and releases connections.
    async fn cleanup(&mut self) {
        for backend in self.backends.all() {
            match backend.cleanup().await {
                Ok(left) if !left.is_empty() => {
                    tracing::warn!(backend = backend.name(), left = ?left, "ended what was still running at the end")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(backend = backend.name(), error = %e, "cannot check for what is left running")
                }
            }
        }
    }
}

/// The local driver as the doer of [`driver::step`]: it never fails a
/// step (a component's failure is an observation).
impl Doer for Driver {
    type Error = std::convert::Infallible;

    async fn observe(&mut self) -> Result<Observations, Self::Error> {
        Ok(self.observe_all().await)
    }

    async fn act(
        &mut self,
        actions: &[Action],
        status: &BenchmarkStatus,
    ) -> Result<Feedback, Self::Error> {
        let mut fb = Feedback::default();
        if actions.contains(&Action::RunPostAction(PostAction::Report))
            && let Err(e) = self.write_environment(status).await
        {
            tracing::warn!(error = %e, "cannot write environment.json before the report");
        }
        for a in actions {
            self.execute(a, &mut fb).await;
        }
        Ok(fb)
    }
}

/// The run's name: the results folder name (`<benchmark>-<UTC timestamp>`).
fn run_name(dir: &ResultsDir) -> String {
    dir.root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".to_string())
}
