//! The observe step of a reconcile: which run this is ([`choose_run`]), its
//! children (those of earlier runs deleted), the Slurm link, and what the
//! pods, the monitor tasks and the Slurm jobs say ([`Seen`]).

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::children_api::{Children, delete_children, list_children, orphans};
use super::context::Context;
use super::error::Error;
use super::events::Note;
use super::slurm_link::{self, SlurmLink};
use crate::api::spec::Benchmark;
use crate::api::status::{BenchmarkStatus, Phase, ResultsSummary};
use crate::backend::Backends;
use crate::backend::slurm::state::JobInfo;
use crate::backend::slurm::{job_name, run_prefix};
use crate::engine::{self, Observations, PlannedComponent};
use crate::operator::observe::observe as observe_pods;
use crate::operator::runs::{self, RunStep};
use crate::operator::slurm::{SlurmSession, job_prefix, redact};
use crate::operator::slurm_jobs;

/// What one reconcile saw.
pub(super) struct Seen {
    /// The status as stored.
    pub(super) stored: BenchmarkStatus,
    /// The status of the run to reconcile (a fresh one after a spec edit).
    pub(super) status: BenchmarkStatus,
    /// The run's generation.
    pub(super) generation: i64,
    /// The run's Pods, Jobs and Services.
    pub(super) children: Children,
    /// Slurm, when the Benchmark uses it.
    pub(super) slurm: Option<SlurmLink>,
    /// The run's Slurm jobs and the summaries their clients posted.
    pub(super) slurm_jobs: SlurmJobs,
    /// What the engine is told.
    pub(super) obs: Observations,
    /// Events so far (a new run, a spec edit).
    pub(super) notes: Vec<Note>,
}

/// The run's Slurm jobs, as listed this reconcile.
#[derive(Default)]
pub(super) struct SlurmJobs {
    /// The jobs (named with the run's prefix).
    pub(super) jobs: Vec<JobInfo>,
    /// Summaries the run's client jobs posted.
    pub(super) summaries: Vec<ResultsSummary>,
}

/// Observes the Benchmark: lists its children (deleting those of earlier
/// runs), opens Slurm, and maps pods, monitors and jobs to observations.
pub(super) async fn observe(bm: &Benchmark, ctx: &Context, ns: &str) -> Result<Seen, Error> {
    let name = bm.name_any();
    let spec_gen = bm.metadata.generation.unwrap_or(1);
    let stored = bm.status.clone().unwrap_or_default();
    let (status, cancel, notes) = choose_run(&stored, spec_gen);
    let generation = runs::run_generation(&status, spec_gen);
    let children = current_children(ctx, ns, &name, generation).await?;
    let slurm = slurm_link::link(bm, ctx, ns).await;
    let monitors = ctx.monitors.states(ns, &name, generation);
    let mut obs = observe_pods(bm, &status, generation, &children.pods, &monitors, cancel);
    let slurm_jobs = observe_slurm(bm, &status, generation, slurm.as_ref(), &mut obs, ns).await;
    Ok(Seen {
        stored,
        status,
        generation,
        children,
        slurm,
        slurm_jobs,
        obs,
        notes,
    })
}

/// Which run to reconcile after a spec edit: the status to go on from,
/// whether the run is to be cancelled, and the events of the choice.
fn choose_run(stored: &BenchmarkStatus, spec_gen: i64) -> (BenchmarkStatus, bool, Vec<Note>) {
    let mut status = stored.clone();
    let mut cancel = false;
    let mut notes = Vec::new();
    match runs::step(&status, spec_gen) {
        RunStep::Continue => {}
        RunStep::CancelForEdit => {
            cancel = true;
            if status.phase != Phase::Collecting {
                notes.push(Note::warning(
                    "SpecChanged",
                    format!("spec changed to generation {spec_gen} during the run: cancelling it, then starting again"),
                ));
            }
        }
        RunStep::Restart(fresh) => {
            notes.push(Note::normal(
                "NewRun",
                format!("spec generation {spec_gen}: starting a new run"),
            ));
            status = *fresh;
        }
    }
    (status, cancel, notes)
}

/// Lists the children and deletes those of other runs than `generation`.
async fn current_children(
    ctx: &Context,
    ns: &str,
    name: &str,
    generation: i64,
) -> Result<Children, Error> {
    let ch = list_children(&ctx.client, ns, name).await?;
    if orphans(&ch, generation) > 0 {
        let n = delete_children(&ctx.client, ns, &ch, Some(generation)).await?;
        tracing::info!(namespace = %ns, benchmark = %name, deleted = n, "deleted children of earlier runs");
    }
    Ok(ch)
}

/// The observations of the run's `executor: slurm` components: from the
/// jobs listed once (see [`list_run_jobs`]), or Unknown — not "the job
/// disappeared", the engine keeps what it knew — when Slurm cannot be
/// reached or listed.
async fn observe_slurm(
    bm: &Benchmark,
    status: &BenchmarkStatus,
    generation: i64,
    link: Option<&SlurmLink>,
    obs: &mut Observations,
    ns: &str,
) -> SlurmJobs {
    let ids = slurm_components(bm, status);
    let run = slurm_jobs::run_id(bm, generation);
    let run_prefix = run_prefix(&run);
    let listed = match link.and_then(|l| l.session.as_deref()).map(|s| &**s) {
        Some(session) => {
            let creds = link.and_then(|l| l.creds.as_ref());
            list_run_jobs(bm, session, &run_prefix, creds, ns).await
        }
        None => None,
    };
    let Some(jobs) = listed else {
        for id in ids {
            obs.components.insert(id, Default::default());
        }
        return SlurmJobs::default();
    };
    let mut summaries = Vec::new();
    for id in ids {
        let Some(c) = status.components.iter().find(|c| c.id == id) else {
            continue;
        };
        let job = slurm_jobs::find_job(&jobs, &job_name(&run, &id));
        let expects_port = bm
            .spec
            .services
            .iter()
            .any(|s| s.id == id && !s.ports.is_empty());
        let (o, summary) = slurm_jobs::observe_job(c.kind, c.state, job, expects_port);
        summaries.extend(summary);
        obs.components.insert(id, o);
    }
    SlurmJobs { jobs, summaries }
}

/// Lists the Benchmark's jobs once: returns those of this run (None when
/// the listing failed); active jobs of earlier runs are cancelled.
async fn list_run_jobs(
    bm: &Benchmark,
    session: &dyn SlurmSession,
    run_prefix: &str,
    creds: Option<&crate::operator::slurm::SlurmCredentials>,
    ns: &str,
) -> Option<Vec<JobInfo>> {
    let name = bm.name_any();
    let all = match session.jobs().await {
        Ok(jobs) => jobs,
        Err(e) => {
            // A transient failure: say nothing new about the components.
            let e = redact(&e, creds);
            tracing::warn!(namespace = %ns, benchmark = %name, error = %e, "cannot list Slurm jobs");
            return None;
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
    Some(
        all.into_iter()
            .filter(|j| j.name.starts_with(run_prefix))
            .collect(),
    )
}

/// The ids of the run's services and client instances observed through
/// the Slurm session (`executor: slurm`).
fn slurm_components(bm: &Benchmark, status: &BenchmarkStatus) -> Vec<String> {
    let planned: BTreeMap<String, PlannedComponent> = engine::plan_components(&bm.spec)
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    status
        .components
        .iter()
        .filter(|c| {
            planned
                .get(&c.id)
                .is_some_and(|p| p.executor.is_some_and(Backends::needs_session))
        })
        .map(|c| c.id.clone())
        .collect()
}
