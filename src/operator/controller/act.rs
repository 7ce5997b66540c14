//! The act step of a reconcile: the [`Run`] carries out the engine's actions
//! — launches and stops of services and clients through the reconcile's
//! backends ([`Backends::for_operator`]: the pod backend and the Slurm
//! backend over the reconcile's session), the monitor tasks, and the post-actions `report` and
//! `uploadResults` — and reports their outcomes as [`Feedback`] for the
//! engine (the one driver loop feeds them back, `decide`).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::context::Context;
use super::error::Error;
use super::gather::{Gatherer, client_upload};
use super::observe::SlurmJobs;
use super::slurm_link::SlurmLink;
use crate::api::spec::{Benchmark, PostAction, ServiceSpec};
use crate::api::status::{BenchmarkStatus, ComponentKind};
use crate::backend::pod::{PodBackend, PodRun};
use crate::backend::slurm::SlurmBackend;
use crate::backend::slurm::state::JobInfo;
use crate::backend::{Backend, Backends, LaunchRequest};
use crate::driver::{Feedback, Warning};
use crate::engine::{self, ActionOutcome, PlannedComponent};
use crate::monitor::targets::scrape_targets;
use crate::monitor::task::MonitorWork;
use crate::operator::children;
use crate::operator::results::Gathered;
use crate::operator::runs;
use crate::operator::slurm::{SlurmCredentials, redact};
use crate::operator::slurm_backend::{SharedSession, SlurmRun, operator_backend};
use crate::operator::slurm_jobs;

/// One run of a Benchmark, as this reconcile carries out its actions.
pub(super) struct Run<'a> {
    bm: &'a Benchmark,
    ctx: &'a Context,
    ns: String,
    name: String,
    generation: i64,
    planned: BTreeMap<String, PlannedComponent>,
    pods: &'a [Pod],
    /// The run's results folder.
    folder: String,
    creds: Option<&'a SlurmCredentials>,
    /// The clients' results (report, uploadResults).
    results: Gatherer<'a>,
    /// The open Slurm session, when the Benchmark uses Slurm and it is
    /// reachable.
    slurm: Option<SharedSession>,
    /// Why Slurm is not usable (for launch failures).
    slurm_problem: String,
    /// The jobs of this run, as listed this reconcile.
    slurm_jobs: Vec<JobInfo>,
    /// Service endpoints known from the status (Slurm services).
    pub(super) endpoints: BTreeMap<String, String>,
}

impl<'a> Run<'a> {
    /// The run `generation` of `bm`, with its pods and, for Slurm, the link
    /// and the jobs listed; its results folder is that of `status`.
    pub(super) fn new(
        bm: &'a Benchmark,
        ctx: &'a Context,
        generation: i64,
        pods: &'a [Pod],
        link: Option<&'a SlurmLink>,
        jobs: SlurmJobs,
        status: &BenchmarkStatus,
    ) -> Self {
        let planned: BTreeMap<String, PlannedComponent> = engine::plan_components(&bm.spec)
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let results = Gatherer::new(bm, ctx, generation, &planned, pods, jobs.summaries);
        Self {
            bm,
            ctx,
            ns: bm.namespace().unwrap_or_default(),
            name: bm.name_any(),
            generation,
            planned,
            pods,
            folder: String::new(),
            creds: link.and_then(|l| l.creds.as_ref()),
            results,
            slurm: link.and_then(|l| l.session.clone()),
            slurm_problem: link
                .map(|l| format!("{}: {}", l.reason, l.message))
                .unwrap_or_default(),
            slurm_jobs: jobs.jobs,
            endpoints: slurm_jobs::endpoints(status),
        }
    }

    /// Names the results folder after `status` (its start, else `now`).
    pub(super) fn set_folder(&mut self, status: &BenchmarkStatus, now: Timestamp) {
        self.folder =
            runs::results_folder(&self.name, status.start_time.or(Some(now)), self.generation);
    }

    /// The clients' results (see [`Gatherer::gather`]).
    pub(super) async fn gather(&self) -> Gathered {
        self.results.gather(&self.folder).await
    }

    /// Carries out the actions in order; refusals and post-action outcomes
    /// go to `fb`, transient API failures end the reconcile.
    pub(super) async fn execute(
        &self,
        actions: &[engine::Action],
        fb: &mut Feedback,
    ) -> Result<(), Error> {
        let (backends, pods) = self.backends();
        for a in actions {
            match a {
                engine::Action::Launch(id) => {
                    if let Err(msg) = self.launch(id, &backends, &pods).await? {
                        let msg = redact(&msg, self.creds);
                        tracing::warn!(namespace = %self.ns, benchmark = %self.name, component = %id, error = %msg, "launch failed");
                        fb.launch_failed.insert(id.clone(), msg);
                    }
                }
                engine::Action::Stop(id) => self.stop(id, &backends, &pods).await?,
                engine::Action::RunPostAction(PostAction::Report) => {
                    let g = self.gather().await;
                    if let Some(w) = &g.warning {
                        fb.warnings.push(Warning {
                            reason: "ApproximateSummary".to_string(),
                            message: w.clone(),
                        });
                    }
                    fb.post_actions
                        .insert(PostAction::Report, ActionOutcome::Succeeded);
                    fb.summary = g.summary;
                }
                engine::Action::RunPostAction(PostAction::UploadResults) => {
                    let outcome = self.results.upload_summary(&self.folder).await;
                    fb.post_actions.insert(PostAction::UploadResults, outcome);
                }
                engine::Action::RunPostAction(other) => {
                    fb.post_actions.insert(*other, ActionOutcome::Succeeded);
                }
            }
        }
        Ok(())
    }

    /// The backends of this round of actions: the pods (also returned, for
    /// its API failures) and the Slurm jobs of the run, as listed.
    fn backends(&self) -> (Backends, Arc<PodBackend>) {
        let pods = Arc::new(PodBackend::new(PodRun {
            client: self.ctx.client.clone(),
            namespace: self.ns.clone(),
            benchmark: self.bm.clone(),
            generation: self.generation,
            folder: self.folder.clone(),
            image: self.ctx.settings.image.clone(),
            pods: self.pods.to_vec(),
            upload: client_upload(self.bm, &self.ns, &self.folder),
        }));
        let slurm = Arc::new(self.slurm_backend());
        (Backends::for_operator(pods.clone(), slurm), pods)
    }

    /// The Slurm backend of this reconcile: over its session, with the
    /// run's jobs as listed.
    fn slurm_backend(&self) -> SlurmBackend {
        operator_backend(SlurmRun {
            benchmark: self.bm.clone(),
            generation: self.generation,
            folder: self.folder.clone(),
            endpoints: self.endpoints.clone(),
            session: self.slurm.clone(),
            problem: self.slurm_problem.clone(),
            creds: self.creds.cloned(),
            jobs: self.slurm_jobs.clone(),
        })
    }

    /// Ok(Err(msg)) is a launch the cluster refused (fed to the engine);
    /// Err is a transient API failure (the reconcile is retried).
    async fn launch(
        &self,
        id: &str,
        backends: &Backends,
        pods: &PodBackend,
    ) -> Result<Result<(), String>, Error> {
        let Some(p) = self.planned.get(id) else {
            return Ok(Err(format!("unknown component {id}")));
        };
        if p.kind == ComponentKind::Monitor {
            return Ok(self.start_monitor(p.index));
        }
        let backend = match backends.get(p.executor) {
            Ok(b) => b,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let req = LaunchRequest {
            id: id.to_string(),
            kind: p.kind,
            stop_grace: self.bm.spec.execution.stop_grace_period.get(),
            ..Default::default()
        };
        let launched = backend.launch(req).await;
        if let Some(e) = pods.api_failure() {
            return Err(e.into());
        }
        Ok(launched.map(|_| ()).map_err(|e| e.to_string()))
    }

    /// Starts the monitor's scrape (or PromQL) task, writing under the
    /// results root.
    fn start_monitor(&self, index: usize) -> Result<(), String> {
        let m = &self.bm.spec.monitors[index];
        let config = MonitorWork::for_spec(m, None, || {
            scrape_targets(m, &self.bm.spec.services, |s, port| {
                self.service_base(s, port)
            })
        })?;
        let out = self
            .ctx
            .settings
            .results_root
            .join(&self.ns)
            .join(&self.folder)
            .join("metrics");
        self.ctx
            .monitors
            .start(&self.ns, &self.name, self.generation, config, out);
        Ok(())
    }

    /// The base URL of a service's port for a monitor: a service whose
    /// endpoint is learned at run time (a Slurm job's node and port) is
    /// scraped there (the operator must be able to reach the compute
    /// node), any other at its Kubernetes Service.
    fn service_base(&self, s: &ServiceSpec, port: Option<&str>) -> Option<String> {
        if Backends::learns_endpoint_at_run_time(s.executor)
            && let Some(e) = self.endpoints.get(&s.id)
        {
            return Some(e.clone());
        }
        children::service_url(self.bm, self.generation, s, port)
    }

    /// Stops a monitor task, or a service or client through its backend.
    async fn stop(&self, id: &str, backends: &Backends, pods: &PodBackend) -> Result<(), Error> {
        let Some(p) = self.planned.get(id) else {
            return Ok(());
        };
        if p.kind == ComponentKind::Monitor {
            self.ctx
                .monitors
                .stop(&self.ns, &self.name, self.generation, id);
            return Ok(());
        }
        if let Ok(b) = backends.get(p.executor) {
            b.stop(id, self.bm.spec.execution.stop_grace_period.get())
                .await;
        }
        match pods.api_failure() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Nothing of a finished run may stay in the queue: cancels the run's
    /// Slurm jobs still queued or running (the Slurm backend's cleanup).
    pub(super) async fn cancel_leftover_jobs(&self) {
        if self.slurm.is_none() {
            return;
        }
        match self.slurm_backend().cleanup().await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(namespace = %self.ns, benchmark = %self.name, jobs = ?ids, "cancelled Slurm jobs still running at the end")
            }
            Ok(_) => {}
            Err(e) => {
                let e = redact(&e.to_string(), self.creds);
                tracing::warn!(namespace = %self.ns, benchmark = %self.name, error = %e, "cannot check for Slurm jobs left running");
            }
        }
    }
}
