//! The act step of a reconcile: the [`Run`] carries out the engine's actions
//! — launches (server-side applies of Services, Pods and indexed Jobs,
//! Slurm submissions, monitor tasks), stops (a pod's deadline, a Job
//! suspended, a Slurm job signalled or cancelled) and the post-actions
//! `report` and `uploadResults` — and reports their outcomes as
//! [`Feedback`] for the engine.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::children_api::{apply_child, deleting, ignore_not_found};
use super::context::Context;
use super::error::Error;
use super::events::Note;
use super::gather::{Gatherer, client_upload};
use super::observe::SlurmJobs;
use super::slurm_link::SlurmLink;
use crate::api::spec::{Benchmark, ExecutorKind, PostAction};
use crate::api::status::{BenchmarkStatus, ComponentKind, ResultsSummary};
use crate::backend::slurm::state::{JobInfo, SlurmState};
use crate::engine::{self, ActionOutcome, PlannedComponent};
use crate::monitor::scrape::{MonitorConfig, ScrapeTarget};
use crate::operator::children::{self, child_name};
use crate::operator::observe::find_pod;
use crate::operator::results::Gathered;
use crate::operator::runs;
use crate::operator::slurm::{SlurmCredentials, SlurmSession, cancel_matching, redact};
use crate::operator::slurm_jobs;

/// Results of carrying out the engine's actions, to feed back at once.
#[derive(Default)]
pub(super) struct Feedback {
    pub(super) launch_failed: BTreeMap<String, String>,
    pub(super) post_actions: BTreeMap<PostAction, ActionOutcome>,
    pub(super) summary: Option<ResultsSummary>,
    /// Warning events to publish (e.g. an approximate summary).
    pub(super) warnings: Vec<Note>,
}

impl Feedback {
    /// Nothing for the engine (warnings aside).
    pub(super) fn is_empty(&self) -> bool {
        self.launch_failed.is_empty() && self.post_actions.is_empty()
    }
}

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
    slurm: Option<&'a dyn SlurmSession>,
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
            slurm: link.and_then(|l| l.session.as_deref()),
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
        let mut jobs_applied = BTreeSet::new();
        for a in actions {
            match a {
                engine::Action::Launch(id) => {
                    if let Err(msg) = self.launch(id, &mut jobs_applied).await? {
                        let msg = redact(&msg, self.creds);
                        tracing::warn!(namespace = %self.ns, benchmark = %self.name, component = %id, error = %msg, "launch failed");
                        fb.launch_failed.insert(id.clone(), msg);
                    }
                }
                engine::Action::Stop(id) => self.stop(id).await?,
                engine::Action::RunPostAction(PostAction::Report) => {
                    let g = self.gather().await;
                    if let Some(w) = &g.warning {
                        fb.warnings
                            .push(Note::warning("ApproximateSummary", w.clone()));
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

    /// Ok(Err(msg)) is a launch the cluster refused (fed to the engine);
    /// Err is a transient API failure (the reconcile is retried).
    async fn launch(
        &self,
        id: &str,
        jobs_applied: &mut BTreeSet<usize>,
    ) -> Result<Result<(), String>, Error> {
        let Some(p) = self.planned.get(id) else {
            return Ok(Err(format!("unknown component {id}")));
        };
        match (p.kind, p.executor) {
            (ComponentKind::Monitor, _) => Ok(self.start_monitor(p.index)),
            (_, ExecutorKind::Pod) if p.kind == ComponentKind::Service => {
                self.launch_service_pod(p.index).await
            }
            (_, ExecutorKind::Pod) => {
                if !jobs_applied.insert(p.index) {
                    return Ok(Ok(()));
                }
                self.launch_client_job(p.index).await
            }
            (kind, ExecutorKind::Slurm) => Ok(self.launch_slurm(p, kind).await),
            (_, other) => Ok(Err(format!(
                "executor {} cannot run under the operator; use executor: pod or slurm",
                other.as_str()
            ))),
        }
    }

    /// A service's Service (when it has ports), then its Pod.
    async fn launch_service_pod(&self, index: usize) -> Result<Result<(), String>, Error> {
        let s = &self.bm.spec.services[index];
        let pod = match children::service_pod(self.bm, self.generation, s, &self.folder) {
            Ok(pod) => pod,
            Err(e) => return Ok(Err(e.to_string())),
        };
        if let Some(svc) = children::service_object(self.bm, self.generation, s) {
            let applied = apply_child(&self.ctx.client, &self.ns, &svc).await?;
            if applied.is_err() {
                return Ok(applied);
            }
        }
        apply_child(&self.ctx.client, &self.ns, &pod).await
    }

    /// A client's indexed Job (one for all its instances).
    async fn launch_client_job(&self, index: usize) -> Result<Result<(), String>, Error> {
        let c = &self.bm.spec.clients[index];
        let upload = client_upload(self.bm, &self.ns, &self.folder);
        let job = match children::client_job(
            self.bm,
            self.generation,
            c,
            &self.ctx.settings.image,
            &self.folder,
            upload.as_ref(),
        ) {
            Ok(j) => j,
            Err(e) => return Ok(Err(e.to_string())),
        };
        apply_child(&self.ctx.client, &self.ns, &job).await
    }

    /// Submits a component's job, or adopts the job of the same name a
    /// previous reconcile (or operator) submitted.
    async fn launch_slurm(&self, p: &PlannedComponent, kind: ComponentKind) -> Result<(), String> {
        let Some(session) = self.slurm else {
            return Err(format!("Slurm is not reachable: {}", self.slurm_problem));
        };
        let req = match kind {
            ComponentKind::Service => slurm_jobs::service_job(
                self.bm,
                self.generation,
                &self.bm.spec.services[p.index],
                &self.folder,
                &self.endpoints,
            )?,
            _ => slurm_jobs::client_job(
                self.bm,
                self.generation,
                &self.bm.spec.clients[p.index],
                &p.id,
                &self.folder,
                &self.endpoints,
            )?,
        };
        if let Some(j) = slurm_jobs::find_job(&self.slurm_jobs, &req.name) {
            tracing::info!(namespace = %self.ns, benchmark = %self.name, component = %p.id, job_id = %j.job_id, state = j.state.as_str(), "adopting the Slurm job already submitted");
            return Ok(());
        }
        let id = session.submit(&req).await?;
        tracing::info!(namespace = %self.ns, benchmark = %self.name, component = %p.id, job_id = %id, job = %req.name, "Slurm job submitted");
        Ok(())
    }

    /// Starts the monitor's scrape task, writing under the results root.
    fn start_monitor(&self, index: usize) -> Result<(), String> {
        let m = &self.bm.spec.monitors[index];
        let mut targets = Vec::new();
        for t in &m.targets {
            targets.push(ScrapeTarget {
                name: t.clone(),
                url: self.scrape_url(index, t)?,
            });
        }
        let config = MonitorConfig {
            id: m.id.clone(),
            targets,
            interval: m.interval.get(),
            timeout: m.timeout.get(),
            bearer_token: None,
        };
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

    /// The URL a monitor scrapes for target `t`: a URL, `host:port`, or a
    /// service id (its Service, or a Slurm service's node and port).
    fn scrape_url(&self, index: usize, t: &str) -> Result<String, String> {
        let m = &self.bm.spec.monitors[index];
        if t.contains("://") {
            return Ok(t.to_string());
        }
        if t.contains(':') {
            return Ok(format!("http://{t}{}", m.path));
        }
        let s = self
            .bm
            .spec
            .services
            .iter()
            .find(|s| s.id == t)
            .ok_or_else(|| format!("monitor {}: unknown service {t}", m.id))?;
        let port = m.port.as_deref().or_else(|| {
            s.ports
                .iter()
                .any(|p| p.name == "metrics")
                .then_some("metrics")
        });
        // A Slurm service is scraped at its job's node and port (the
        // operator must be able to reach the compute node).
        let slurm_endpoint = (s.executor == ExecutorKind::Slurm)
            .then(|| self.endpoints.get(t).cloned())
            .flatten();
        let base = match slurm_endpoint {
            Some(e) => e,
            None => children::service_url(self.bm, self.generation, s, port)
                .ok_or_else(|| format!("monitor {}: service {t} has no port to scrape", m.id))?,
        };
        Ok(format!("{base}{}", m.path))
    }

    async fn stop(&self, id: &str) -> Result<(), Error> {
        let Some(p) = self.planned.get(id) else {
            return Ok(());
        };
        if p.kind == ComponentKind::Monitor {
            self.ctx
                .monitors
                .stop(&self.ns, &self.name, self.generation, id);
            return Ok(());
        }
        match p.executor {
            ExecutorKind::Slurm => {
                self.stop_slurm(p, id).await;
                Ok(())
            }
            ExecutorKind::Pod => self.stop_pod(p, id).await,
            _ => Ok(()),
        }
    }

    /// A running Slurm client is asked to stop (it still posts its
    /// summary); a service, or a client not running yet, is cancelled.
    async fn stop_slurm(&self, p: &PlannedComponent, id: &str) {
        let name = slurm_jobs::job_name(&self.bm.uid().unwrap_or_default(), self.generation, id);
        let active: Vec<&JobInfo> = self
            .slurm_jobs
            .iter()
            .filter(|j| j.name == name && j.state.is_active())
            .collect();
        let ids: Vec<String> = active.iter().map(|j| j.job_id.clone()).collect();
        let running_client = p.kind == ComponentKind::Client
            && active
                .iter()
                .all(|j| matches!(j.state, SlurmState::Running | SlurmState::Suspended));
        let (Some(session), false) = (self.slurm, ids.is_empty()) else {
            return;
        };
        let (result, what) = if running_client {
            (session.terminate(&ids).await, "Slurm job sent SIGTERM")
        } else {
            (session.cancel(&ids).await, "Slurm job cancelled")
        };
        match result {
            Ok(()) => {
                tracing::info!(namespace = %self.ns, benchmark = %self.name, component = %id, jobs = ?ids, "{what}")
            }
            Err(e) => {
                let e = redact(&e, self.creds);
                tracing::warn!(namespace = %self.ns, benchmark = %self.name, component = %id, error = %e, "cannot cancel the Slurm job");
            }
        }
    }

    /// The pod is ended through its deadline, not deleted: it stays with
    /// its exit code and termination message (the client's summary). A
    /// client pod not created yet is kept from being created (its Job
    /// suspended); a service's Service is deleted.
    async fn stop_pod(&self, p: &PlannedComponent, id: &str) -> Result<(), Error> {
        let role = match p.kind {
            ComponentKind::Client => self.bm.spec.clients[p.index].id.clone(),
            _ => id.to_string(),
        };
        let pod = find_pod(self.pods, self.generation, p.kind, &role, p.instance);
        if let Some(pod) = pod.filter(|p| !deleting(*p)) {
            let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
            let patch = json!({"spec": {"activeDeadlineSeconds": 1}});
            ignore_not_found(
                pods.patch(
                    &pod.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map(|_| ()),
            )?;
        } else if p.kind == ComponentKind::Client {
            let jobs: Api<Job> = Api::namespaced(self.ctx.client.clone(), &self.ns);
            let patch = json!({"spec": {"suspend": true}});
            let job = child_name(&self.name, self.generation, &role);
            ignore_not_found(
                jobs.patch(&job, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ()),
            )?;
        }
        if p.kind == ComponentKind::Service {
            let services: Api<Service> = Api::namespaced(self.ctx.client.clone(), &self.ns);
            let svc = child_name(&self.name, self.generation, id);
            ignore_not_found(
                services
                    .delete(&svc, &DeleteParams::default())
                    .await
                    .map(|_| ()),
            )?;
        }
        Ok(())
    }

    /// Nothing of a finished run may stay in the queue: cancels the run's
    /// Slurm jobs still queued or running.
    pub(super) async fn cancel_leftover_jobs(&self) {
        let Some(session) = self.slurm else {
            return;
        };
        let run_prefix =
            slurm_jobs::run_prefix(&self.bm.uid().unwrap_or_default(), self.generation);
        match cancel_matching(session, &run_prefix, None).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(namespace = %self.ns, benchmark = %self.name, jobs = ?ids, "cancelled Slurm jobs still running at the end")
            }
            Ok(_) => {}
            Err(e) => {
                let e = redact(&e, self.creds);
                tracing::warn!(namespace = %self.ns, benchmark = %self.name, error = %e, "cannot check for Slurm jobs left running");
            }
        }
    }

    /// Ends the run's work for this reconcile: its results folder and, with
    /// `results.s3`, the URL of its objects.
    pub(super) fn into_results_at(self) -> (String, Option<String>) {
        let url = client_upload(self.bm, &self.ns, &self.folder).map(|u| {
            format!(
                "{}/",
                crate::results::s3::s3_url(&u.s3.bucket, &u.run_prefix)
            )
        });
        (self.folder, url)
    }
}
