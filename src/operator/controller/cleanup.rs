//! The finalizer path: when a Benchmark is deleted, its Slurm jobs are
//! cancelled and its Pods, Jobs and Services deleted before the
//! [`FINALIZER`] is removed.

use std::sync::Arc;

use jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::children_api::{delete_children, list_children};
use super::context::Context;
use super::error::Error;
use super::events::{Note, publish};
use super::slurm_link;
use crate::api::spec::Benchmark;
use crate::backend::Backends;
use crate::operator::slurm::{cancel_matching, job_prefix, redact};

/// The finalizer the operator puts on every Benchmark.
pub const FINALIZER: &str = "aifbench.io/cleanup";

/// Cleans up after a deleted Benchmark (the finalizer's cleanup).
pub(super) async fn cleanup(bm: Arc<Benchmark>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = bm.namespace().ok_or(Error::NoNamespace)?;
    let name = bm.name_any();
    let now = (ctx.clock)();
    ctx.monitors.forget(&ns, &name);
    if Backends::spec_needs_session(&bm.spec) {
        cancel_slurm_jobs(&bm, &ctx, &ns, now).await;
    }
    let ch = list_children(&ctx.client, &ns, &name).await?;
    let n = delete_children(&ctx.client, &ns, &ch, None).await?;
    let deleted = Note::normal("Deleted", format!("deleted {n} child object(s)"));
    publish(&ctx, &bm, &deleted, now).await;
    ctx.metrics.forget(&ns, &name);
    Ok(Action::await_change())
}

/// Cancels every Slurm job of the Benchmark (of any run); a failure is a
/// Warning event, an unreachable Slurm a log line.
async fn cancel_slurm_jobs(bm: &Benchmark, ctx: &Context, ns: &str, now: Timestamp) {
    let name = bm.name_any();
    let mut link = slurm_link::connect(bm, ctx, ns).await;
    match link.session.as_deref().map(|s| &**s) {
        Some(session) => {
            let prefix = job_prefix(&bm.uid().unwrap_or_default());
            match cancel_matching(session, &prefix, None).await {
                Ok(ids) => {
                    tracing::info!(namespace = %ns, benchmark = %name, jobs = ?ids, "cancelled the Benchmark's Slurm jobs")
                }
                Err(e) => {
                    let e = redact(&e, link.creds.as_ref());
                    tracing::warn!(namespace = %ns, benchmark = %name, error = %e, "cannot cancel Slurm jobs");
                    publish(ctx, bm, &Note::warning("SlurmCancelFailed", e), now).await;
                }
            }
        }
        None => {
            tracing::warn!(namespace = %ns, benchmark = %name, reason = link.reason, message = %link.message, "cannot cancel Slurm jobs: Slurm is not reachable")
        }
    }
    link.close().await;
}
