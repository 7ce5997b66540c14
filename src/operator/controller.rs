//! The reconcile of the operator, as named steps: observe the children,
//! let the engine decide, carry out its actions, write the status, publish
//! the events. This file holds the entry points given to the Controller
//! and `apply`, the sequence of steps; each step has its own file.
//!
//! One reconcile of a Benchmark, in order (the mocked API tests assert
//! exactly these requests):
//!
//! 1. the finalizer: added on first sight (JSON patch); on deletion the
//!    cleanup runs (Slurm jobs cancelled, pods, jobs and services deleted)
//!    before it is removed (`cleanup`);
//! 2. observe (`observe`), `GET`-free: list the Pods, Jobs and Services
//!    labelled with the Benchmark; children of another run (generation)
//!    are deleted (`children_api`); Slurm users: the credentials Secret is
//!    read, a session opened (the `BackendReachable` probe; a refused JWT
//!    is refreshed over SSH when the Secret allows it; `slurm_link`) and
//!    the run's jobs listed: their states, nodes and comments (port,
//!    readiness, client summaries) are the observations of `executor:
//!    slurm` components (`super::slurm_jobs`);
//! 3. decide and act (`decide`, `act`): the engine decides; launches are
//!    server-side applies of Services, Pods and indexed Jobs, stops set a
//!    pod's `activeDeadlineSeconds` (the pod stays, with its exit code and
//!    termination message); launch failures and post-action outcomes are
//!    fed back to the engine at once; the report with `results.s3` reads
//!    the credentials Secret and fetches the clients' full results for an
//!    exact merge (`gather`, `super::results`);
//! 4. the status is server-side applied on the status subresource
//!    (`status`; field manager `aifbench`, with the `resourceVersion`
//!    read, so a concurrent writer makes it fail with 409 and the
//!    reconcile is retried — every action above is idempotent);
//! 5. an Event per phase change and per failure (`events`);
//! 6. requeue after a few seconds while the run is active, never block.
//!
//! Benchmarks are watched untyped: one that does not parse is handled by
//! `malformed` ([`reconcile_dynamic`]).

mod act;
mod children_api;
mod cleanup;
mod context;
mod decide;
mod error;
mod events;
mod gather;
mod malformed;
mod observe;
mod slurm_link;
mod status;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};

use crate::api::spec::Benchmark;
use crate::driver::{self, Feedback, StepError};
use crate::operator::children::RESULTS_CLAIM_ANNOTATION;

use act::Run;
pub use cleanup::FINALIZER;
pub use context::{Clock, Context, Settings};
use decide::Round;
pub use error::Error;
use events::Note;
pub use malformed::{benchmark_resource, parse_benchmark};
use observe::Seen;
use status::StatusResource;

/// Reconciles one Benchmark (the entry point given to the Controller).
pub async fn reconcile(bm: Arc<Benchmark>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Boxed: the reconcile future is large and deeply nested (Kubernetes,
    // Slurm and S3 calls); callers then hold a pointer, not its layout.
    timed(&ctx, Box::pin(reconcile_inner(bm, ctx.clone()))).await
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
        Err(msg) => timed(&ctx, malformed::reject_malformed(&obj, &msg, &ctx)).await,
    }
}

/// What the Controller does after a failed reconcile: log, and retry soon
/// (at once for a conflict).
pub fn error_policy(bm: Arc<Benchmark>, err: &Error, _ctx: Arc<Context>) -> Action {
    retry(bm.namespace(), bm.name_any(), err)
}

/// [`error_policy`] for the untyped watch.
pub fn error_policy_dynamic(obj: Arc<DynamicObject>, err: &Error, _ctx: Arc<Context>) -> Action {
    retry(obj.namespace(), obj.name_any(), err)
}

fn retry(ns: Option<String>, name: String, err: &Error) -> Action {
    tracing::warn!(
        namespace = ns.unwrap_or_default(),
        benchmark = name,
        error = %err,
        "reconcile failed; retrying"
    );
    match err {
        Error::Conflict => Action::requeue(Duration::from_millis(500)),
        _ => Action::requeue(Duration::from_secs(10)),
    }
}

/// Runs a reconcile and counts it (duration, outcome, error reason).
async fn timed(
    ctx: &Context,
    work: impl Future<Output = Result<Action, Error>>,
) -> Result<Action, Error> {
    let start = Instant::now();
    let result = work.await;
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
            FinalizerEvent::Cleanup(bm) => cleanup::cleanup(bm, c).await,
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

/// One reconcile of a Benchmark that is not being deleted: observe, decide
/// and act, write the status, publish the events.
async fn apply(bm: Arc<Benchmark>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = bm.namespace().ok_or(Error::NoNamespace)?;
    let now = (ctx.clock)();
    let Seen {
        stored,
        status,
        generation,
        children,
        mut slurm,
        slurm_jobs,
        obs,
        mut notes,
    } = observe::observe(&bm, &ctx, &ns).await?;

    let run = Run::new(
        &bm,
        &ctx,
        generation,
        &children.pods,
        slurm.as_ref(),
        slurm_jobs,
        &status,
    );
    let mut round = Round::new(run, obs, &status, now);
    let claim = bm.annotations().get(RESULTS_CLAIM_ANNOTATION);
    let mut store = StatusResource {
        ctx: &ctx,
        bm: &bm,
        stored: &stored,
        status,
        generation,
        link: slurm.as_ref(),
        claim: claim.map(String::as_str),
        now,
        notes: Vec::new(),
        written: None,
    };
    // Boxed, as the whole reconcile is: the chain of steps below (decide,
    // act, the API and Slurm calls) would otherwise nest too deep for the
    // compiler's layout queries in crates that await the reconcile.
    let stepped = Box::pin(driver::step(
        &bm,
        &mut round,
        &mut store,
        Feedback::default(),
        now,
    ))
    .await
    .map_err(|e| match e {
        StepError::Doer(e) | StepError::Store(e) => e,
    })?;
    notes.append(&mut round.notes);
    notes.extend(
        stepped
            .warnings
            .into_iter()
            .map(|w| Note::warning(w.reason, w.message)),
    );
    notes.append(&mut store.notes);
    let new_status = store.written.take().unwrap_or(stepped.status);
    if new_status.phase.is_terminal() {
        round.run.cancel_leftover_jobs().await;
    }
    drop(round);
    if let Some(link) = slurm.as_mut() {
        link.close().await;
    }
    notes.extend(events::phase_notes(&stored, &new_status));

    let creds = slurm.as_ref().and_then(|l| l.creds.as_ref());
    events::publish_all(&ctx, &bm, notes, creds, now).await;
    ctx.metrics.observe_status(&ns, &bm.name_any(), &new_status);
    Ok(if new_status.phase.is_terminal() {
        Action::await_change()
    } else {
        Action::requeue(ctx.settings.requeue)
    })
}
