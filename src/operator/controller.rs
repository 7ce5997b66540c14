//! The reconcile function of the operator: observe the children, ask the
//! engine, carry out its actions, write the status.
//!
//! One reconcile of a Benchmark, in order (the mocked API tests assert
//! exactly these requests):
//!
//! 1. the finalizer: added on first sight (JSON patch); on deletion the
//!    cleanup runs (Slurm jobs cancelled, pods, jobs and services deleted)
//!    before it is removed;
//! 2. `GET`-free observation: list the Pods, Jobs and Services labelled with
//!    the Benchmark; children of another run (generation) are deleted;
//! 3. Slurm users: the credentials Secret is read, a session opened (the
//!    `BackendReachable` probe; a refused JWT is refreshed over SSH when the
//!    Secret allows it) and the run's jobs listed: their states, nodes and
//!    comments (port, readiness, client summaries) are the observations of
//!    `executor: slurm` components (`slurm_jobs`);
//! 4. the engine decides; launches are server-side applies of Services,
//!    Pods and indexed Jobs, stops set a pod's `activeDeadlineSeconds` (the
//!    pod stays, with its exit code and termination message); launch
//!    failures and post-action outcomes are fed back to the engine at once;
//!    the report with `results.s3` reads the credentials Secret and fetches
//!    the clients' full results for an exact merge (`super::results`);
//! 5. the status is server-side applied on the status subresource (field
//!    manager `aifbench`, with the `resourceVersion` read, so a concurrent
//!    writer makes it fail with 409 and the reconcile is retried — every
//!    action above is idempotent);
//! 6. an Event per phase change and per failure;
//! 7. requeue after a few seconds while the run is active, never block.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    PropagationPolicy,
};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::api::spec::{Benchmark, ExecutorKind, PostAction};
use crate::api::status::{BenchmarkStatus, ComponentKind, Phase, condition};
use crate::engine::{self, ActionOutcome, Observations, PlannedComponent, RunState};
use crate::monitor::scrape::{MonitorConfig, ScrapeTarget};

use super::children::{
    self, COMPONENT_LABEL, ClientUpload, FIELD_MANAGER, GENERATION_LABEL, RESULTS_CLAIM_ANNOTATION,
    SECRET_ACCESS_KEY_ID, SECRET_SECRET_ACCESS_KEY, child_name, selector,
};
use crate::api::spec::S3ResultsSpec;
use crate::api::status::ResultsSummary;
use crate::results::s3::{ResultsStore, StoreConfig, join_key, s3_url};
use crate::workload::s3::S3Credentials;

use super::metrics::Metrics;
use super::monitors::MonitorTasks;
use super::observe::{find_pod, merge_summaries, observe, termination_summary};
use super::results::{Gathered, collect_results};
use super::runs::{self, RunStep};
use super::slurm::{
    BACKEND_REACHABLE, SLURM_SECRET_ANNOTATION, SlurmConnector, SlurmCredentials, SlurmSession,
    cancel_matching, credentials_from_secret, job_prefix, redact,
};
use super::slurm_jobs;
use crate::backend::slurm::state::JobInfo;

/// The finalizer the operator puts on every Benchmark.
pub const FINALIZER: &str = "aifbench.io/cleanup";

/// The clock (injected so tests are deterministic).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Settings of the reconciler.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Image of client pods without their own `pod.image` (the operator's).
    pub image: String,
    /// Where monitors write (`<root>/<namespace>/<folder>/metrics`).
    pub results_root: PathBuf,
    /// `reportingInstance` of Events (the pod name).
    pub instance: String,
    /// Requeue interval while a run is active.
    pub requeue: Duration,
    /// Lifespan of JWTs minted over SSH for Slurm backends.
    pub slurm_token_lifespan: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            image: "ghcr.io/aifbench/aifbench:latest".to_string(),
            results_root: PathBuf::from("/var/lib/aifbench/results"),
            instance: "aifbench-operator".to_string(),
            requeue: Duration::from_secs(5),
            slurm_token_lifespan: Duration::from_secs(3600),
        }
    }
}

/// Everything a reconcile needs.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Settings.
    pub settings: Settings,
    /// The operator's metrics.
    pub metrics: Arc<Metrics>,
    /// Monitor tasks.
    pub monitors: Arc<MonitorTasks>,
    /// The Slurm transport.
    pub slurm: Arc<dyn SlurmConnector>,
    /// The clock.
    pub clock: Clock,
}

impl Context {
    /// A context with the real clock, Slurm through slurmrestd or SSH and
    /// fresh metrics.
    pub fn new(client: Client, settings: Settings) -> Self {
        Self {
            client,
            slurm: Arc::new(super::slurm::ClusterSlurm::new(
                settings.slurm_token_lifespan,
            )),
            settings,
            metrics: Arc::new(Metrics::new()),
            monitors: Arc::new(MonitorTasks::new()),
            clock: Arc::new(Timestamp::now),
        }
    }
}

/// Why a reconcile failed (it is retried; nothing here crashes the
/// operator).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or could not be reached.
    #[error("kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    /// Someone else changed the Benchmark between our read and our status
    /// write (409); the reconcile is retried with fresh data.
    #[error("status write conflict (the Benchmark changed meanwhile); retrying")]
    Conflict,
    /// The finalizer could not be added or removed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// A cluster-scoped Benchmark (the CRD is namespaced; should not happen).
    #[error("benchmark has no namespace")]
    NoNamespace,
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        match &e {
            kube::Error::Api(s) if s.code == 409 => Error::Conflict,
            _ => Error::Kube(e),
        }
    }
}

impl Error {
    /// The `reason` label of the error metric.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "api",
            Error::Conflict => "conflict",
            Error::Finalizer(_) => "finalizer",
            Error::NoNamespace => "invalid",
        }
    }
}

/// Reconciles one Benchmark (the entry point given to the Controller).
pub async fn reconcile(bm: Arc<Benchmark>, ctx: Arc<Context>) -> Result<Action, Error> {
    let start = Instant::now();
    // Boxed: the reconcile future is large and deeply nested (Kubernetes,
    // Slurm and S3 calls); callers then hold a pointer, not its layout.
    let result = Box::pin(reconcile_inner(bm.clone(), ctx.clone())).await;
    match &result {
        Ok(_) => ctx.metrics.reconciled("ok", start.elapsed()),
        Err(e) => {
            ctx.metrics.reconciled("error", start.elapsed());
            ctx.metrics.error(e.metric_reason());
        }
    }
    result
}

async fn reconcile_inner(bm: Arc<Benchmark>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = bm.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<Benchmark> = Api::namespaced(ctx.client.clone(), &ns);
    let c = ctx.clone();
    finalizer(&api, FINALIZER, bm, |event| async move {
        match event {
            FinalizerEvent::Apply(bm) => apply(bm, c).await,
            FinalizerEvent::Cleanup(bm) => cleanup(bm, c).await,
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        finalizer::Error::AddFinalizer(k) | finalizer::Error::RemoveFinalizer(k) => {
            match Error::from(k) {
                Error::Conflict => Error::Conflict,
                other => Error::Finalizer(other.to_string()),
            }
        }
        other => Error::Finalizer(other.to_string()),
    })
}

/// What the Controller does after a failed reconcile: log, and retry soon
/// (at once for a conflict).
pub fn error_policy(bm: Arc<Benchmark>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(
        namespace = bm.namespace().unwrap_or_default(),
        benchmark = bm.name_any(),
        error = %err,
        "reconcile failed; retrying"
    );
    match err {
        Error::Conflict => Action::requeue(Duration::from_millis(500)),
        _ => Action::requeue(Duration::from_secs(10)),
    }
}

fn uses(bm: &Benchmark, kind: ExecutorKind) -> bool {
    bm.spec.services.iter().any(|s| s.executor == kind)
        || bm.spec.clients.iter().any(|c| c.executor == kind)
}

/// Children lists of one Benchmark.
struct Children {
    pods: Vec<Pod>,
    jobs: Vec<Job>,
    services: Vec<Service>,
}

async fn list_children(client: &Client, ns: &str, name: &str) -> Result<Children, Error> {
    let lp = ListParams::default().labels(&selector(name));
    Ok(Children {
        pods: Api::<Pod>::namespaced(client.clone(), ns)
            .list(&lp)
            .await?
            .items,
        jobs: Api::<Job>::namespaced(client.clone(), ns)
            .list(&lp)
            .await?
            .items,
        services: Api::<Service>::namespaced(client.clone(), ns)
            .list(&lp)
            .await?
            .items,
    })
}

fn is_current<K: Resource>(k: &K, generation: Option<i64>) -> bool {
    let g = k
        .meta()
        .labels
        .as_ref()
        .and_then(|l| l.get(GENERATION_LABEL));
    generation.is_some_and(|x| g == Some(&x.to_string()))
}

fn deleting<K: Resource>(k: &K) -> bool {
    k.meta().deletion_timestamp.is_some()
}

/// Deletes the children not of `keep` (a generation; None deletes all).
/// Client pods go with their Job.
async fn delete_children(
    client: &Client,
    ns: &str,
    ch: &Children,
    keep: Option<i64>,
) -> Result<u32, Error> {
    let mut n = 0;
    let bg = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    for j in ch
        .jobs
        .iter()
        .filter(|j| !is_current(*j, keep) && !deleting(*j))
    {
        ignore_not_found(jobs.delete(&j.name_any(), &bg).await.map(|_| ()))?;
        n += 1;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    for p in ch
        .pods
        .iter()
        .filter(|p| !is_current(*p, keep) && !deleting(*p))
    {
        let owned_by_job = p.labels().get(COMPONENT_LABEL).map(String::as_str) == Some("client");
        if owned_by_job && !ch.jobs.is_empty() {
            continue;
        }
        ignore_not_found(
            pods.delete(&p.name_any(), &DeleteParams::default())
                .await
                .map(|_| ()),
        )?;
        n += 1;
    }
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    for s in ch
        .services
        .iter()
        .filter(|s| !is_current(*s, keep) && !deleting(*s))
    {
        ignore_not_found(
            services
                .delete(&s.name_any(), &DeleteParams::default())
                .await
                .map(|_| ()),
        )?;
        n += 1;
    }
    Ok(n)
}

fn ignore_not_found(r: Result<(), kube::Error>) -> Result<(), Error> {
    match r {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        other => other.map_err(Error::from),
    }
}

/// Slurm for one reconcile: the `BackendReachable` verdict, the
/// credentials (for redaction) and the open session.
struct SlurmLink {
    ok: bool,
    reason: &'static str,
    message: String,
    creds: Option<SlurmCredentials>,
    session: Option<Box<dyn SlurmSession>>,
}

impl SlurmLink {
    fn failed(reason: &'static str, message: String, creds: Option<SlurmCredentials>) -> Self {
        Self {
            ok: false,
            reason,
            message,
            creds,
            session: None,
        }
    }

    async fn close(&mut self) {
        if let Some(s) = self.session.take() {
            s.close().await;
        }
    }
}

/// Reads the Secret (every reconcile, so a rotated token or key is used at
/// once) and connects.
async fn slurm_check(bm: &Benchmark, ctx: &Context, ns: &str) -> SlurmLink {
    let Some(secret_name) = bm.annotations().get(SLURM_SECRET_ANNOTATION) else {
        return SlurmLink::failed(
            "NoCredentials",
            format!("annotate the Benchmark with {SLURM_SECRET_ANNOTATION}: <secret name>"),
            None,
        );
    };
    let secret = match Api::<Secret>::namespaced(ctx.client.clone(), ns)
        .get(secret_name)
        .await
    {
        Ok(s) => s,
        Err(kube::Error::Api(s)) => {
            return SlurmLink::failed(
                "SecretUnreadable",
                format!("secret {secret_name}: {} ({})", s.reason, s.code),
                None,
            );
        }
        Err(_) => {
            return SlurmLink::failed(
                "SecretUnreadable",
                format!("secret {secret_name} could not be read"),
                None,
            );
        }
    };
    let creds = match credentials_from_secret(&secret) {
        Ok(c) => c,
        Err(e) => return SlurmLink::failed("InvalidCredentials", e.to_string(), None),
    };
    match ctx.slurm.connect(&creds).await {
        Ok(session) => SlurmLink {
            ok: true,
            reason: "Reachable",
            message: session.describe(),
            creds: Some(creds),
            session: Some(session),
        },
        Err(f) => {
            let msg = redact(&f.message, Some(&creds));
            SlurmLink::failed(f.reason, msg, Some(creds))
        }
    }
}

/// Results of carrying out the engine's actions, to feed back at once.
#[derive(Default)]
struct Feedback {
    launch_failed: BTreeMap<String, String>,
    post_actions: BTreeMap<PostAction, ActionOutcome>,
    summary: Option<crate::api::status::ResultsSummary>,
    /// Warning events to publish (e.g. an approximate summary).
    warnings: Vec<(String, String)>,
}

impl Feedback {
    fn is_empty(&self) -> bool {
        self.launch_failed.is_empty() && self.post_actions.is_empty()
    }
}

struct Run<'a> {
    bm: &'a Benchmark,
    ctx: &'a Context,
    ns: String,
    name: String,
    generation: i64,
    planned: BTreeMap<String, PlannedComponent>,
    pods: &'a [Pod],
    folder: String,
    creds: Option<SlurmCredentials>,
    /// The clients' results, gathered once per reconcile (report and
    /// uploadResults both need them).
    gathered: tokio::sync::OnceCell<Gathered>,
    /// The results bucket with the Secret's credentials, opened once per
    /// reconcile.
    store: tokio::sync::OnceCell<Result<ResultsStore, String>>,
    /// The open Slurm session, when the Benchmark uses Slurm and it is
    /// reachable.
    slurm: Option<&'a dyn SlurmSession>,
    /// Why Slurm is not usable (for launch failures).
    slurm_problem: String,
    /// The jobs of this run, as listed this reconcile.
    slurm_jobs: Vec<JobInfo>,
    /// Summaries the run's client jobs posted.
    slurm_summaries: Vec<crate::api::status::ResultsSummary>,
    /// Service endpoints known from the status (Slurm services).
    endpoints: BTreeMap<String, String>,
}

impl Run<'_> {
    fn apply_params() -> PatchParams {
        PatchParams::apply(FIELD_MANAGER).force()
    }

    /// Server-side applies a child object in the Benchmark's namespace:
    /// Ok(Err(msg)) when the cluster refused it (see [`refused`]).
    async fn apply_child<K>(&self, obj: &K) -> Result<Result<(), String>, Error>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::Serialize
            + serde::de::DeserializeOwned,
    {
        let api: Api<K> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let r = api
            .patch(&obj.name_any(), &Self::apply_params(), &Patch::Apply(obj))
            .await;
        Ok(refused(r)?.map_or(Ok(()), Err))
    }

    async fn execute(&self, actions: &[engine::Action], fb: &mut Feedback) -> Result<(), Error> {
        let mut jobs_applied = BTreeSet::new();
        for a in actions {
            match a {
                engine::Action::Launch(id) => {
                    if let Err(msg) = self.launch(id, &mut jobs_applied).await? {
                        let msg = redact(&msg, self.creds.as_ref());
                        tracing::warn!(namespace = %self.ns, benchmark = %self.name, component = %id, error = %msg, "launch failed");
                        fb.launch_failed.insert(id.clone(), msg);
                    }
                }
                engine::Action::Stop(id) => self.stop(id).await?,
                engine::Action::RunPostAction(PostAction::Report) => {
                    let g = self.gather().await;
                    if let Some(w) = &g.warning {
                        fb.warnings
                            .push(("ApproximateSummary".to_string(), w.clone()));
                    }
                    fb.post_actions
                        .insert(PostAction::Report, ActionOutcome::Succeeded);
                    fb.summary = g.summary;
                }
                engine::Action::RunPostAction(PostAction::UploadResults) => {
                    let outcome = self.upload_summary().await;
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
                let s = &self.bm.spec.services[p.index];
                let pod = match children::service_pod(self.bm, self.generation, s, &self.folder) {
                    Ok(pod) => pod,
                    Err(e) => return Ok(Err(e.to_string())),
                };
                if let Some(svc) = children::service_object(self.bm, self.generation, s) {
                    let applied = self.apply_child(&svc).await?;
                    if applied.is_err() {
                        return Ok(applied);
                    }
                }
                self.apply_child(&pod).await
            }
            (_, ExecutorKind::Pod) => {
                if !jobs_applied.insert(p.index) {
                    return Ok(Ok(()));
                }
                let c = &self.bm.spec.clients[p.index];
                let upload = self.upload();
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
                self.apply_child(&job).await
            }
            (kind, ExecutorKind::Slurm) => Ok(self.launch_slurm(p, kind).await),
            (_, other) => Ok(Err(format!(
                "executor {} cannot run under the operator; use executor: pod or slurm",
                other.as_str()
            ))),
        }
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

    fn start_monitor(&self, index: usize) -> Result<(), String> {
        let m = &self.bm.spec.monitors[index];
        let mut targets = Vec::new();
        for t in &m.targets {
            let url = if t.contains("://") {
                t.clone()
            } else if t.contains(':') {
                format!("http://{t}{}", m.path)
            } else {
                let s = self
                    .bm
                    .spec
                    .services
                    .iter()
                    .find(|s| &s.id == t)
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
                    None => children::service_url(self.bm, self.generation, s, port).ok_or_else(
                        || format!("monitor {}: service {t} has no port to scrape", m.id),
                    )?,
                };
                format!("{base}{}", m.path)
            };
            targets.push(ScrapeTarget {
                name: t.clone(),
                url,
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
        if p.executor == ExecutorKind::Slurm {
            let name =
                slurm_jobs::job_name(&self.bm.uid().unwrap_or_default(), self.generation, id);
            let active: Vec<&JobInfo> = self
                .slurm_jobs
                .iter()
                .filter(|j| j.name == name && j.state.is_active())
                .collect();
            let ids: Vec<String> = active.iter().map(|j| j.job_id.clone()).collect();
            // A running client is asked to stop (it still posts its
            // summary); a service, or a client not running yet, is
            // cancelled.
            let running_client = p.kind == ComponentKind::Client
                && active.iter().all(|j| {
                    matches!(
                        j.state,
                        crate::backend::slurm::state::SlurmState::Running
                            | crate::backend::slurm::state::SlurmState::Suspended
                    )
                });
            if let (Some(session), false) = (self.slurm, ids.is_empty()) {
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
                        let e = redact(&e, self.creds.as_ref());
                        tracing::warn!(namespace = %self.ns, benchmark = %self.name, component = %id, error = %e, "cannot cancel the Slurm job");
                    }
                }
            }
            return Ok(());
        }
        if p.executor != ExecutorKind::Pod {
            return Ok(());
        }
        let role = match p.kind {
            ComponentKind::Client => self.bm.spec.clients[p.index].id.clone(),
            _ => id.to_string(),
        };
        let pod = find_pod(self.pods, self.generation, p.kind, &role, p.instance);
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        // The pod is ended through its deadline, not deleted: it stays with
        // its exit code and termination message (the client's summary).
        if let Some(pod) = pod.filter(|p| !deleting(*p)) {
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
            // Not created yet: keep the Job from creating it.
            let jobs: Api<Job> = Api::namespaced(self.ctx.client.clone(), &self.ns);
            let patch = json!({"spec": {"suspend": true}});
            ignore_not_found(
                jobs.patch(
                    &child_name(&self.name, self.generation, &role),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map(|_| ()),
            )?;
        }
        if p.kind == ComponentKind::Service {
            let services: Api<Service> = Api::namespaced(self.ctx.client.clone(), &self.ns);
            ignore_not_found(
                services
                    .delete(
                        &child_name(&self.name, self.generation, id),
                        &DeleteParams::default(),
                    )
                    .await
                    .map(|_| ()),
            )?;
        }
        Ok(())
    }

    /// Where the clients upload (`results.s3`), for this run's folder.
    fn upload(&self) -> Option<ClientUpload> {
        let s3 = self.bm.spec.results.as_ref()?.s3.as_ref()?;
        Some(ClientUpload {
            s3: s3.clone(),
            run_prefix: join_key(&[&s3.key_prefix(), &self.ns, &self.folder]),
        })
    }

    /// The results bucket, with the credentials of the Secret
    /// `results.s3.credentials.secretName` (read once per reconcile).
    async fn store(&self, s3: &S3ResultsSpec) -> Result<&ResultsStore, String> {
        let r = self
            .store
            .get_or_init(|| async {
                let name = s3
                    .credentials
                    .secret_name
                    .clone()
                    .ok_or("results.s3.credentials.secretName is not set")?;
                let secret = Api::<Secret>::namespaced(self.ctx.client.clone(), &self.ns)
                    .get(&name)
                    .await
                    .map_err(|e| match e {
                        kube::Error::Api(s) => format!("secret {name}: {} ({})", s.reason, s.code),
                        _ => format!("secret {name} could not be read"),
                    })?;
                let creds =
                    results_credentials(&secret).map_err(|e| format!("secret {name}: {e}"))?;
                Ok(ResultsStore::new(&StoreConfig::from_spec(s3), &creds))
            })
            .await;
        r.as_ref().map_err(Clone::clone)
    }

    /// The clients' results: with `results.s3`, every instance's full result
    /// fetched from the bucket and merged exactly (the merge of `aifbench
    /// run`); without it, or when one that ran is missing there, the
    /// summaries the pods left as termination messages, merged
    /// approximately (and marked so).
    async fn gather(&self) -> Gathered {
        self.gathered
            .get_or_init(|| async {
                let g = self.gather_uncached().await;
                if let Some(w) = &g.warning {
                    tracing::warn!(namespace = %self.ns, benchmark = %self.name, missing = ?g.missing, reason = %w, "approximate summary");
                }
                g
            })
            .await
            .clone()
    }

    async fn gather_uncached(&self) -> Gathered {
        let mut g = self.gather_pods().await;
        // Slurm clients post only their summary (in the job's comment): a
        // merge with them takes the worst instance's percentiles, and
        // `merge_summaries` marks it approximate.
        if !self.slurm_summaries.is_empty() {
            let mut parts: Vec<ResultsSummary> = g.summary.take().into_iter().collect();
            parts.extend(self.slurm_summaries.iter().cloned());
            g.summary = merge_summaries(&parts);
        }
        g
    }

    /// The pod clients' results (see [`Self::gather`]).
    async fn gather_pods(&self) -> Gathered {
        // (instance id of the pod, its termination summary)
        let mut instances: Vec<(String, Option<ResultsSummary>)> = Vec::new();
        for p in self.planned.values() {
            if p.kind != ComponentKind::Client || p.executor != ExecutorKind::Pod {
                continue;
            }
            let c = &self.bm.spec.clients[p.index];
            let index = p.instance.unwrap_or(1).saturating_sub(1);
            let pod = find_pod(self.pods, self.generation, p.kind, &c.id, p.instance);
            instances.push((
                children::pod_instance_id(&c.id, &index.to_string()),
                pod.and_then(termination_summary),
            ));
        }
        let upload = self.upload().filter(|_| !instances.is_empty());
        let Some(upload) = upload else {
            let parts: Vec<ResultsSummary> =
                instances.iter().filter_map(|(_, s)| s.clone()).collect();
            return Gathered {
                summary: merge_summaries(&parts),
                ..Default::default()
            };
        };
        let store = self.store(&upload.s3).await;
        collect_results(
            store,
            &upload.run_prefix,
            &instances,
            &self.bm.spec.execution.percentiles,
        )
        .await
    }

    /// `uploadResults` under the operator: the clients uploaded their own
    /// results; the merged summary goes next to them as `summary.json`.
    async fn upload_summary(&self) -> ActionOutcome {
        let Some(upload) = self.upload() else {
            return ActionOutcome::Failed("uploadResults needs spec.results.s3".to_string());
        };
        let g = self.gather().await;
        let store = match self.store(&upload.s3).await {
            Ok(s) => s,
            Err(e) => return ActionOutcome::Failed(e),
        };
        let doc = json!({
            "benchmark": self.name,
            "namespace": self.ns,
            "generation": self.generation,
            "approximate": g.summary.as_ref().is_some_and(|s| s.approximate),
            "summary": g.summary,
            "total": g.total,
            "missingResults": g.missing,
        });
        let key = join_key(&[&upload.run_prefix, "summary.json"]);
        let body = match serde_json::to_vec_pretty(&doc) {
            Ok(b) => b,
            Err(e) => return ActionOutcome::Failed(e.to_string()),
        };
        match store.put(&key, body, "application/json").await {
            Ok(()) => {
                tracing::info!(namespace = %self.ns, benchmark = %self.name, url = %s3_url(store.bucket(), &key), "summary uploaded");
                ActionOutcome::Succeeded
            }
            Err(e) => {
                tracing::warn!(namespace = %self.ns, benchmark = %self.name, error = %e, "cannot upload the summary");
                ActionOutcome::Failed(e.to_string())
            }
        }
    }
}

/// The S3 credentials of a results Secret (keys `accessKeyId` and
/// `secretAccessKey`, in `data` or `stringData`).
fn results_credentials(secret: &Secret) -> Result<S3Credentials, String> {
    let get = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|v| v.trim().to_string())
            })
            .filter(|v| !v.is_empty())
    };
    match (get(SECRET_ACCESS_KEY_ID), get(SECRET_SECRET_ACCESS_KEY)) {
        (Some(id), Some(secret)) => Ok(S3Credentials::new(id, secret)),
        _ => Err(format!(
            "needs the keys {SECRET_ACCESS_KEY_ID} and {SECRET_SECRET_ACCESS_KEY}"
        )),
    }
}

/// A refusal by the cluster (4xx but 409) becomes a launch failure; other
/// errors are returned for a retry.
fn refused<T>(r: Result<T, kube::Error>) -> Result<Option<String>, Error> {
    match r {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(s))
            if (400..500).contains(&s.code) && s.code != 409 && s.code != 429 =>
        {
            Ok(Some(format!("{} ({}): {}", s.reason, s.code, s.message)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The ids of the run's `executor: slurm` services and client instances.
fn slurm_components(bm: &Benchmark, status: &BenchmarkStatus) -> Vec<String> {
    let planned: BTreeMap<String, PlannedComponent> = engine::plan_components(&bm.spec)
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    status
        .components
        .iter()
        .filter(|c| {
            planned.get(&c.id).is_some_and(|p| {
                p.executor == ExecutorKind::Slurm && p.kind != ComponentKind::Monitor
            })
        })
        .map(|c| c.id.clone())
        .collect()
}

/// Lists the Benchmark's jobs once: those of this run become the
/// observations of its Slurm components (and the summaries their clients
/// posted); active jobs of earlier runs are cancelled.
#[allow(clippy::too_many_arguments)]
async fn observe_slurm(
    bm: &Benchmark,
    status: &BenchmarkStatus,
    session: &dyn SlurmSession,
    run_prefix: &str,
    obs: &mut Observations,
    creds: Option<&SlurmCredentials>,
    ns: &str,
    name: &str,
) -> (Vec<JobInfo>, Vec<crate::api::status::ResultsSummary>) {
    let ids = slurm_components(bm, status);
    let all = match session.jobs().await {
        Ok(jobs) => jobs,
        Err(e) => {
            // A transient failure: say nothing new about the components.
            let e = redact(&e, creds);
            tracing::warn!(namespace = %ns, benchmark = %name, error = %e, "cannot list Slurm jobs");
            for id in ids {
                obs.components.insert(id, Default::default());
            }
            return (Vec::new(), Vec::new());
        }
    };
    let prefix = job_prefix(&bm.uid().unwrap_or_default());
    let stale: Vec<String> = all
        .iter()
        .filter(|j| {
            j.name.starts_with(&prefix) && !j.name.starts_with(run_prefix) && j.state.is_active()
        })
        .map(|j| j.job_id.clone())
        .collect();
    if !stale.is_empty() {
        match session.cancel(&stale).await {
            Ok(()) => {
                tracing::info!(namespace = %ns, benchmark = %name, jobs = ?stale, "cancelled Slurm jobs of an earlier run")
            }
            Err(e) => {
                let e = redact(&e, creds);
                tracing::warn!(namespace = %ns, benchmark = %name, error = %e, "cannot cancel Slurm jobs of an earlier run");
            }
        }
    }
    let jobs: Vec<JobInfo> = all
        .into_iter()
        .filter(|j| j.name.starts_with(run_prefix))
        .collect();
    let uid = bm.uid().unwrap_or_default();
    let generation = runs::run_generation(status, bm.metadata.generation.unwrap_or(1));
    let mut summaries = Vec::new();
    for id in ids {
        let Some(c) = status.components.iter().find(|c| c.id == id) else {
            continue;
        };
        let job = slurm_jobs::find_job(&jobs, &slurm_jobs::job_name(&uid, generation, &id));
        let expects_port = bm
            .spec
            .services
            .iter()
            .any(|s| s.id == id && !s.ports.is_empty());
        let (o, summary) = slurm_jobs::observe_job(c.kind, c.state, job, expects_port);
        summaries.extend(summary);
        obs.components.insert(id, o);
    }
    (jobs, summaries)
}

async fn apply(bm: Arc<Benchmark>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = bm.namespace().ok_or(Error::NoNamespace)?;
    let name = bm.name_any();
    let spec_gen = bm.metadata.generation.unwrap_or(1);
    let now = (ctx.clock)();
    let stored = bm.status.clone().unwrap_or_default();
    let mut status = stored.clone();
    let mut cancel = false;
    let mut events: Vec<(bool, String, String)> = Vec::new();
    match runs::step(&status, spec_gen) {
        RunStep::Continue => {}
        RunStep::CancelForEdit => {
            cancel = true;
            if status.phase != Phase::Collecting {
                events.push((
                    false,
                    "SpecChanged".to_string(),
                    format!("spec changed to generation {spec_gen} during the run: cancelling it, then starting again"),
                ));
            }
        }
        RunStep::Restart(fresh) => {
            events.push((
                true,
                "NewRun".to_string(),
                format!("spec generation {spec_gen}: starting a new run"),
            ));
            status = *fresh;
        }
    }
    let generation = runs::run_generation(&status, spec_gen);
    let ch = list_children(&ctx.client, &ns, &name).await?;
    let orphans = ch
        .pods
        .iter()
        .filter(|p| !is_current(*p, Some(generation)))
        .count()
        + ch.jobs
            .iter()
            .filter(|j| !is_current(*j, Some(generation)))
            .count()
        + ch.services
            .iter()
            .filter(|s| !is_current(*s, Some(generation)))
            .count();
    if orphans > 0 {
        let n = delete_children(&ctx.client, &ns, &ch, Some(generation)).await?;
        tracing::info!(namespace = %ns, benchmark = %name, deleted = n, "deleted children of earlier runs");
    }

    let mut slurm = if uses(&bm, ExecutorKind::Slurm) {
        Some(slurm_check(&bm, &ctx, &ns).await)
    } else {
        None
    };
    let creds = slurm.as_ref().and_then(|s| s.creds.clone());

    let monitors = ctx.monitors.states(&ns, &name, generation);
    let mut obs: Observations = observe(&bm, &status, generation, &ch.pods, &monitors, cancel);
    let uid = bm.uid().unwrap_or_default();
    let run_prefix = slurm_jobs::run_prefix(&uid, generation);
    let (slurm_jobs, slurm_summaries) = match slurm.as_ref().and_then(|l| l.session.as_deref()) {
        Some(session) => {
            observe_slurm(
                &bm,
                &status,
                session,
                &run_prefix,
                &mut obs,
                creds.as_ref(),
                &ns,
                &name,
            )
            .await
        }
        None => {
            // Unknown, not "pod disappeared": the engine keeps what it knew.
            for c in slurm_components(&bm, &status) {
                obs.components.insert(c, Default::default());
            }
            (Vec::new(), Vec::new())
        }
    };
    let claim = bm.annotations().get(RESULTS_CLAIM_ANNOTATION).cloned();
    let folder_for =
        |s: &BenchmarkStatus| runs::results_folder(&name, s.start_time.or(Some(now)), generation);
    let mut run = Run {
        bm: &bm,
        ctx: &ctx,
        ns: ns.clone(),
        name: name.clone(),
        generation,
        planned: engine::plan_components(&bm.spec)
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect(),
        pods: &ch.pods,
        folder: folder_for(&status),
        creds: creds.clone(),
        gathered: tokio::sync::OnceCell::new(),
        store: tokio::sync::OnceCell::new(),
        slurm: slurm.as_ref().and_then(|l| l.session.as_deref()),
        slurm_problem: slurm
            .as_ref()
            .map(|l| format!("{}: {}", l.reason, l.message))
            .unwrap_or_default(),
        slurm_jobs,
        slurm_summaries,
        endpoints: slurm_jobs::endpoints(&status),
    };
    // A report interrupted by a restart or a failed status write is redone.
    if status
        .post_actions
        .iter()
        .any(|p| p.action == PostAction::Report && p.state == "Running")
    {
        let g = run.gather().await;
        if let Some(w) = g.warning {
            events.push((false, "ApproximateSummary".to_string(), w));
        }
        obs.post_actions
            .insert(PostAction::Report, ActionOutcome::Succeeded);
        obs.summary = g.summary;
    }
    let mut decision = engine::reconcile(&bm, &status, &obs, now);
    run.folder = folder_for(&decision.status);
    for _ in 0..4 {
        run.endpoints = slurm_jobs::endpoints(&decision.status);
        let mut fb = Feedback::default();
        run.execute(&decision.actions, &mut fb).await?;
        if fb.is_empty() {
            events.extend(fb.warnings.into_iter().map(|(r, n)| (false, r, n)));
            break;
        }
        for (id, msg) in fb.launch_failed {
            obs.components.entry(id).or_default().run = RunState::LaunchFailed(msg);
        }
        obs.post_actions.extend(fb.post_actions);
        if fb.summary.is_some() {
            obs.summary = fb.summary;
        }
        for (reason, note) in fb.warnings {
            events.push((false, reason, note));
        }
        decision = engine::reconcile(&bm, &decision.status, &obs, now);
    }
    let mut new_status = decision.status;
    // Nothing of a finished run may stay in the queue.
    if new_status.phase.is_terminal()
        && let Some(session) = run.slurm
    {
        match cancel_matching(session, &run_prefix, None).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(namespace = %ns, benchmark = %name, jobs = ?ids, "cancelled Slurm jobs still running at the end")
            }
            Ok(_) => {}
            Err(e) => {
                let e = redact(&e, run.creds.as_ref());
                tracing::warn!(namespace = %ns, benchmark = %name, error = %e, "cannot check for Slurm jobs left running");
            }
        }
    }
    let run_folder = run.folder.clone();
    let upload_url = run
        .upload()
        .map(|u| format!("{}/", s3_url(&u.s3.bucket, &u.run_prefix)));
    let creds = run.creds.clone();
    drop(run);
    if let Some(link) = slurm.as_mut() {
        link.close().await;
    }
    if let Some(SlurmLink {
        ok,
        reason,
        message: msg,
        ..
    }) = &slurm
    {
        new_status.set_condition(BACKEND_REACHABLE, *ok, reason, msg.clone(), now);
        if !ok
            && stored
                .condition(BACKEND_REACHABLE)
                .is_none_or(|c| c.status != "False")
        {
            events.push((
                false,
                "BackendUnreachable".to_string(),
                format!("Slurm: {reason}: {msg}"),
            ));
        }
    }
    if new_status.start_time.is_some() && new_status.results.is_none() {
        let mut at = runs::results_location(claim.as_deref(), &run_folder);
        at.url = upload_url;
        new_status.results = Some(at);
    }
    if new_status.phase != stored.phase
        || new_status.observed_generation != stored.observed_generation
    {
        let warn = new_status.phase == Phase::Failed;
        let verdict = new_status
            .condition(condition::SUCCEEDED)
            .filter(|c| c.status == "False")
            .map(|c| format!("{}: {}", c.reason, c.message));
        let note = match (warn, verdict) {
            (true, Some(v)) => v,
            _ => new_status
                .message
                .clone()
                .unwrap_or_else(|| format!("phase {}", new_status.phase)),
        };
        events.push((!warn, new_status.phase.to_string(), note));
    }
    let newly_failed = new_status
        .condition(condition::SUCCEEDED)
        .filter(|c| c.status == "False")
        .filter(|_| {
            stored
                .condition(condition::SUCCEEDED)
                .is_none_or(|c| c.status != "False")
        });
    if let (Some(c), false) = (newly_failed, new_status.phase == Phase::Failed) {
        events.push((false, c.reason.clone(), c.message.clone()));
    }
    if bm.status.as_ref() != Some(&new_status) {
        let patch = json!({
            "apiVersion": "aifbench.io/v1alpha1",
            "kind": "Benchmark",
            "metadata": {"name": name, "resourceVersion": bm.resource_version()},
            "status": new_status,
        });
        Api::<Benchmark>::namespaced(ctx.client.clone(), &ns)
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        tracing::info!(namespace = %ns, benchmark = %name, phase = %new_status.phase, generation, "status written");
    }
    for (normal, reason, note) in events {
        publish(
            &ctx,
            &bm,
            normal,
            &reason,
            &redact(&note, creds.as_ref()),
            now,
        )
        .await;
    }
    ctx.metrics.observe_status(&ns, &name, &new_status);
    Ok(if new_status.phase.is_terminal() {
        Action::await_change()
    } else {
        Action::requeue(ctx.settings.requeue)
    })
}

async fn cleanup(bm: Arc<Benchmark>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = bm.namespace().ok_or(Error::NoNamespace)?;
    let name = bm.name_any();
    let now = (ctx.clock)();
    ctx.monitors.forget(&ns, &name);
    if uses(&bm, ExecutorKind::Slurm) {
        let mut link = slurm_check(&bm, &ctx, &ns).await;
        match link.session.as_deref() {
            Some(session) => {
                let prefix = job_prefix(&bm.uid().unwrap_or_default());
                match cancel_matching(session, &prefix, None).await {
                    Ok(ids) => {
                        tracing::info!(namespace = %ns, benchmark = %name, jobs = ?ids, "cancelled the Benchmark's Slurm jobs")
                    }
                    Err(e) => {
                        let e = redact(&e, link.creds.as_ref());
                        tracing::warn!(namespace = %ns, benchmark = %name, error = %e, "cannot cancel Slurm jobs");
                        publish(&ctx, &bm, false, "SlurmCancelFailed", &e, now).await;
                    }
                }
            }
            None => {
                tracing::warn!(namespace = %ns, benchmark = %name, reason = link.reason, message = %link.message, "cannot cancel Slurm jobs: Slurm is not reachable")
            }
        }
        link.close().await;
    }
    let ch = list_children(&ctx.client, &ns, &name).await?;
    let n = delete_children(&ctx.client, &ns, &ch, None).await?;
    publish(
        &ctx,
        &bm,
        true,
        "Deleted",
        &format!("deleted {n} child object(s)"),
        now,
    )
    .await;
    ctx.metrics.forget(&ns, &name);
    Ok(Action::await_change())
}

static EVENT_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Publishes a Kubernetes Event about the Benchmark (best effort: a failure
/// is logged, never fails the reconcile).
async fn publish(
    ctx: &Context,
    bm: &Benchmark,
    normal: bool,
    reason: &str,
    note: &str,
    now: Timestamp,
) {
    let ns = bm.namespace().unwrap_or_default();
    let mut note: String = note.chars().take(1000).collect();
    if note.is_empty() {
        note = reason.to_string();
    }
    let ev = K8sEvent {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}.{:x}{:02x}",
                bm.name_any(),
                now.as_nanosecond(),
                EVENT_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 256
            )),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        action: Some("Reconcile".to_string()),
        reason: Some(reason.chars().take(128).collect()),
        note: Some(note),
        type_: Some(if normal { "Normal" } else { "Warning" }.to_string()),
        regarding: Some(bm.object_ref(&())),
        reporting_controller: Some("aifbench.io/operator".to_string()),
        reporting_instance: Some(ctx.settings.instance.clone()),
        ..Default::default()
    };
    let api: Api<K8sEvent> = Api::namespaced(ctx.client.clone(), &ns);
    if let Err(e) = api.create(&PostParams::default(), &ev).await {
        tracing::warn!(namespace = %ns, benchmark = %bm.name_any(), reason, error = %e, "cannot publish event");
    }
}

/// The `ApiResource` of Benchmark, for the lenient (untyped) watch.
pub fn benchmark_resource() -> ApiResource {
    ApiResource::erase::<Benchmark>(&())
}

/// Parses a Benchmark as the API server has it; the error names the field
/// (`spec.execution.duration: ...`).
pub fn parse_benchmark(obj: &DynamicObject) -> Result<Benchmark, String> {
    let value = serde_json::to_value(obj).map_err(|e| e.to_string())?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.into_inner())
    })
}

/// The Controller's entry point: Benchmarks are watched untyped, so one
/// that the CRD schema accepts but aifbench cannot read (say
/// `duration: 5 minutes`) gets an `InvalidSpec` condition and event instead
/// of stalling the watch of every Benchmark; the others go to
/// [`reconcile`].
pub async fn reconcile_dynamic(
    obj: Arc<DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    match parse_benchmark(&obj) {
        Ok(bm) => reconcile(Arc::new(bm), ctx).await,
        Err(msg) => {
            let start = Instant::now();
            let result = reject_malformed(&obj, &msg, &ctx).await;
            match &result {
                Ok(_) => ctx.metrics.reconciled("ok", start.elapsed()),
                Err(e) => {
                    ctx.metrics.reconciled("error", start.elapsed());
                    ctx.metrics.error(e.metric_reason());
                }
            }
            result
        }
    }
}

/// [`error_policy`] for the untyped watch.
pub fn error_policy_dynamic(obj: Arc<DynamicObject>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(
        namespace = obj.namespace().unwrap_or_default(),
        benchmark = obj.name_any(),
        error = %err,
        "reconcile failed; retrying"
    );
    match err {
        Error::Conflict => Action::requeue(Duration::from_millis(500)),
        _ => Action::requeue(Duration::from_secs(10)),
    }
}

async fn reject_malformed(obj: &DynamicObject, msg: &str, ctx: &Context) -> Result<Action, Error> {
    let ns = obj.namespace().ok_or(Error::NoNamespace)?;
    let name = obj.name_any();
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ns, &benchmark_resource());
    let finalizers = obj.metadata.finalizers.clone().unwrap_or_default();
    if obj.metadata.deletion_timestamp.is_some() {
        if finalizers.iter().any(|f| f == FINALIZER) {
            let ch = list_children(&ctx.client, &ns, &name).await?;
            delete_children(&ctx.client, &ns, &ch, None).await?;
            let rest: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
            let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": obj.resource_version()}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        return Ok(Action::await_change());
    }
    let generation = obj.metadata.generation;
    let status = obj
        .data
        .get("status")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let reported = status["observedGeneration"].as_i64() == generation
        && status["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Validated" && c["message"] == msg)
        });
    if reported {
        return Ok(Action::await_change());
    }
    let now = (ctx.clock)();
    let condition = |type_: &str| {
        json!({"type": type_, "status": "False", "reason": crate::api::status::reason::INVALID_SPEC,
               "message": msg, "lastTransitionTime": now.to_string(), "observedGeneration": generation})
    };
    let mut new_status = json!({
        "phase": "Failed",
        "observedGeneration": generation,
        "message": format!("InvalidSpec: {msg}"),
        "conditions": [condition(condition::VALIDATED), condition(condition::SUCCEEDED)],
        "completionTime": now.to_string(),
    });
    if let Some(runs) = status.get("runs") {
        new_status["runs"] = runs.clone();
    }
    let patch = json!({
        "apiVersion": "aifbench.io/v1alpha1",
        "kind": "Benchmark",
        "metadata": {"name": name, "resourceVersion": obj.resource_version()},
        "status": new_status,
    });
    api.patch_status(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    tracing::warn!(namespace = %ns, benchmark = %name, error = %msg, "the Benchmark cannot be read");
    let bm = Benchmark {
        metadata: obj.metadata.clone(),
        spec: Default::default(),
        status: None,
    };
    publish(
        ctx,
        &bm,
        false,
        crate::api::status::reason::INVALID_SPEC,
        msg,
        now,
    )
    .await;
    Ok(Action::await_change())
}
