//! The Slurm side of the local driver: batch jobs for components with
//! `executor: slurm`, endpoint discovery from the job's node and port file,
//! in-allocation health checks and monitor jobs, cleanup of the run's jobs,
//! and the scripts `--dry-run` prints.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Driver, ProgressMode, RunOptions};
use crate::api::spec::{Benchmark, ExecutorKind, MonitorSpec, ServiceSpec};
use crate::api::status::ComponentKind;
use crate::backend::slurm::render::JobRequest;
use crate::backend::slurm::{SlurmBackend, SlurmConfig, TransportConfig};
use crate::engine::{self, Placement};
use crate::monitor::scrape::ScrapeTarget;
use crate::results::ResultsDir;

impl Driver {
    pub(super) fn is_slurm(&self, id: &str) -> bool {
        self.job_monitors.contains(id)
            || self
                .planned
                .get(id)
                .is_some_and(|p| p.executor == ExecutorKind::Slurm)
    }

    pub(super) fn in_allocation(&self) -> bool {
        self.slurm.as_ref().is_some_and(SlurmBackend::in_allocation)
    }

    /// The host others reach a service at: its Slurm node once known,
    /// loopback otherwise.
    pub(super) fn host_of(&self, service: &str) -> String {
        self.hosts
            .get(service)
            .cloned()
            .unwrap_or_else(|| "127.0.0.1".to_string())
    }

    /// The batch job of a component (no I/O).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn job_request(
        &self,
        id: &str,
        slurm: Option<crate::api::spec::SlurmSpec>,
        apptainer: Option<crate::api::spec::ApptainerSpec>,
        argv: Vec<String>,
        env: BTreeMap<String, String>,
        working_dir: PathBuf,
        port_file: Option<(PathBuf, u16)>,
    ) -> JobRequest {
        JobRequest {
            name: crate::backend::slurm::job_name(&run_name(&self.dir), id),
            component: id.to_string(),
            slurm: slurm.unwrap_or_default(),
            apptainer,
            argv,
            env,
            working_dir,
            log_dir: self.dir.root.join("slurm_logs"),
            port_file,
            ready_probe: None,
            ..Default::default()
        }
    }

    fn service_job(
        &self,
        s: &ServiceSpec,
        argv: Vec<String>,
        env: BTreeMap<String, String>,
        working_dir: PathBuf,
    ) -> JobRequest {
        let port = self
            .ports
            .get(&s.id)
            .and_then(|p| p.first())
            .map(|(_, port)| *port);
        let port_file = port.map(|p| {
            (
                self.dir
                    .root
                    .join("slurm_logs")
                    .join(format!("{}.port", s.id)),
                p,
            )
        });
        let mut req = self.job_request(
            &s.id,
            s.slurm.clone(),
            s.apptainer.clone(),
            argv,
            env,
            working_dir,
            port_file,
        );
        if self.in_allocation()
            && let Some(h) = &s.healthcheck
        {
            req.ready_probe = Some(crate::backend::slurm::render::ReadyProbe {
                path: h.path.clone(),
                ready_file: self.ready_file(&s.id),
                interval_s: h.interval.get().as_secs().max(1),
            });
        }
        req
    }

    /// `slurm_logs/<id>.ready`: created by the service's job once its
    /// health check passes (in-allocation mode).
    fn ready_file(&self, id: &str) -> PathBuf {
        self.dir.root.join("slurm_logs").join(format!("{id}.ready"))
    }

    /// Reads a file of the results folder: over SSH for the ssh
    /// transport, from the shared filesystem otherwise.
    async fn read_results_file(&self, path: &std::path::Path) -> Option<String> {
        match self.slurm.as_ref().map(SlurmBackend::transport) {
            Some(crate::backend::slurm::Transport::Cli(c)) => {
                c.read_file(&path.display().to_string()).await.ok()
            }
            _ => std::fs::read_to_string(path).ok(),
        }
    }

    /// In-allocation mode: a service is healthy once its job created the
    /// ready file.
    pub(super) async fn check_ready_files(&mut self) {
        if !self.in_allocation() {
            return;
        }
        let pending: Vec<(String, Arc<AtomicBool>)> = self
            .health
            .iter()
            .filter(|(_, h)| !h.load(Ordering::SeqCst))
            .map(|(id, h)| (id.clone(), h.clone()))
            .collect();
        for (id, flag) in pending {
            if self
                .read_results_file(&self.ready_file(&id))
                .await
                .is_some()
            {
                tracing::info!(component = %id, "health check passed inside the allocation");
                flag.store(true, Ordering::SeqCst);
            }
        }
    }

    pub(super) async fn submit_service(
        &mut self,
        s: &ServiceSpec,
        argv: Vec<String>,
        env: BTreeMap<String, String>,
        working_dir: PathBuf,
    ) -> Result<(), String> {
        let req = self.service_job(s, argv, env, working_dir);
        self.submit_job(&s.id, &req, None).await
    }

    pub(super) async fn submit_job(
        &mut self,
        id: &str,
        req: &JobRequest,
        endpoint: Option<String>,
    ) -> Result<(), String> {
        let slurm = self.slurm.as_ref().ok_or("no Slurm backend configured")?;
        std::fs::create_dir_all(&req.log_dir)
            .map_err(|e| format!("cannot create {}: {e}", req.log_dir.display()))?;
        let placement = slurm.submit(req).await.map_err(|e| e.to_string())?;
        self.placements.insert(
            id.to_string(),
            Placement {
                endpoint,
                ..placement
            },
        );
        Ok(())
    }

    /// Reads where Slurm placed each job; a running service's node and the
    /// port it reported (`slurm_logs/<id>.port`) become its endpoint, and
    /// its health prober starts.
    pub(super) async fn discover_slurm_services(&mut self) {
        let Some(slurm) = &self.slurm else { return };
        let mut found = Vec::new();
        for (id, placement) in &self.placements {
            if placement.node.is_some() || !self.is_slurm(id) {
                continue;
            }
            let Some(info) = slurm.info(id).await else {
                continue;
            };
            if info.state != crate::backend::slurm::state::SlurmState::Running {
                continue;
            }
            let Some(node) = info.node.clone() else {
                continue;
            };
            let node = node.split(',').next().unwrap_or(&node).to_string();
            let port_file = self.dir.root.join("slurm_logs").join(format!("{id}.port"));
            let port = match slurm.transport() {
                crate::backend::slurm::Transport::Cli(c) => {
                    c.read_file(&port_file.display().to_string()).await.ok()
                }
                crate::backend::slurm::Transport::Rest(_) => {
                    std::fs::read_to_string(&port_file).ok()
                }
            }
            .and_then(|t| t.trim().parse::<u16>().ok());
            found.push((id.clone(), node, port));
        }
        for (id, node, port) in found {
            let p = self.planned.get(&id).cloned();
            let is_service = p.as_ref().is_some_and(|p| p.kind == ComponentKind::Service);
            if is_service {
                let Some(port) = port else {
                    // The job has not written its port yet: next tick.
                    continue;
                };
                if let Some(list) = self.ports.get_mut(&id)
                    && let Some(first) = list.first_mut()
                {
                    first.1 = port;
                }
                self.hosts.insert(id.clone(), node.clone());
                tracing::info!(component = %id, node = %node, port, "service job is running");
            }
            if let Some(pl) = self.placements.get_mut(&id) {
                pl.node = Some(node.clone());
                if is_service {
                    pl.endpoint = Some(format!("http://{node}:{}", port.unwrap_or_default()));
                }
            }
            if is_service && self.in_allocation() {
                if self
                    .b
                    .spec
                    .services
                    .iter()
                    .any(|s| s.id == id && s.healthcheck.is_some())
                {
                    self.health
                        .insert(id.clone(), Arc::new(AtomicBool::new(false)));
                }
            } else if is_service && let Some(p) = p {
                let spec = self.b.spec.services[p.index].clone();
                if let Err(e) = self.start_prober(&spec) {
                    tracing::error!(component = %id, error = %e, "cannot start the health check");
                }
            }
        }
    }

    /// Cancels every job of this run still in the queue (nothing outlives a
    /// benchmark) and closes the transport.
    pub(super) async fn cleanup_slurm(&mut self) {
        let Some(slurm) = &self.slurm else { return };
        match slurm.cancel_all().await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(jobs = ?ids, "cancelled Slurm jobs still running at the end")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot check for Slurm jobs left running"),
        }
        slurm.close().await;
    }

    /// In-allocation mode: the monitor is an `aifbench scrape` job that
    /// appends to `metrics/<id>.*.jsonl` until cancelled (then scrapes a
    /// last time).
    pub(super) async fn submit_monitor(
        &mut self,
        m: &MonitorSpec,
        targets: &[ScrapeTarget],
    ) -> Result<(), String> {
        if m.bearer_token_env.is_some() {
            return Err(format!(
                "monitor {}: bearerTokenEnv cannot be passed into a Slurm job without writing the token into its script; use bearerTokenFile on the shared filesystem",
                m.id
            ));
        }
        let mut argv = vec![
            self.opts.exe.display().to_string(),
            "scrape".to_string(),
            "--count".to_string(),
            "0".to_string(),
            "--interval".to_string(),
            m.interval.to_string(),
            "--timeout".to_string(),
            m.timeout.to_string(),
            "--out-dir".to_string(),
            self.dir.metrics().display().to_string(),
            "--id".to_string(),
            m.id.clone(),
        ];
        if let Some(f) = &m.bearer_token_file {
            argv.push("--bearer-token-file".to_string());
            argv.push(f.clone());
        }
        argv.extend(targets.iter().map(|t| t.url.clone()));
        let values = self.shared_values();
        let env = self.component_env(&BTreeMap::new(), &values)?;
        let slurm_spec = self
            .b
            .spec
            .services
            .iter()
            .find(|s| m.targets.contains(&s.id))
            .and_then(|s| s.slurm.clone())
            .map(|s| crate::api::spec::SlurmSpec {
                partition: s.partition,
                account: s.account,
                qos: s.qos,
                reservation: s.reservation,
                time: s.time,
                ntasks: Some(1),
                cpus_per_task: Some(1),
                ..Default::default()
            });
        let req = self.job_request(
            &m.id,
            slurm_spec,
            None,
            argv,
            env,
            self.dir.root.clone(),
            None,
        );
        self.job_monitors.insert(m.id.clone());
        self.submit_job(&m.id, &req, None).await
    }
}

/// The run's name: the results folder name (`<benchmark>-<UTC timestamp>`).
pub(super) fn run_name(dir: &ResultsDir) -> String {
    dir.root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".to_string())
}

/// The batch scripts `aifbench run` would submit for the Slurm components
/// of `b` into results folder `dir` (nothing is written or submitted), as
/// `(component id, script)`. Templates referring to other services show
/// their loopback defaults; clients show the command they would run.
pub fn dry_run_scripts(
    b: &Benchmark,
    dir: &ResultsDir,
    exe: &std::path::Path,
) -> Result<Vec<(String, String)>, String> {
    let opts = RunOptions {
        progress: ProgressMode::Quiet,
        tick: Duration::from_millis(200),
        exe: exe.to_path_buf(),
        slurm: SlurmConfig {
            transport: TransportConfig::Cli,
            ..Default::default()
        },
    };
    let mut d = Driver::new(b.clone(), dir.clone(), opts).map_err(|e| e.to_string())?;
    d.slurm = None;
    let mut out = Vec::new();
    let planned = engine::plan_components(&b.spec);
    for p in planned {
        if p.executor != ExecutorKind::Slurm {
            continue;
        }
        let req = match p.kind {
            ComponentKind::Service => {
                let s = &b.spec.services[p.index];
                let (argv, env, wd) = d.service_command(s)?;
                d.service_job(s, argv, env, wd)
            }
            ComponentKind::Client => {
                let c = &b.spec.clients[p.index];
                let env = d.client_env(c, &p.id)?;
                let argv = d.loadgen_argv(c, &p.id);
                d.job_request(
                    &p.id,
                    c.slurm.clone(),
                    c.apptainer.clone(),
                    argv,
                    env,
                    dir.root.clone(),
                    None,
                )
            }
            ComponentKind::Monitor => continue,
        };
        let script = crate::backend::slurm::render::render_script(&req)
            .map_err(|e| format!("{}: {e}", p.id))?;
        out.push((p.id.clone(), script));
    }
    Ok(out)
}
