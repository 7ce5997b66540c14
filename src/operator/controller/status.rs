//! The status step of a reconcile, as the operator's status store of the
//! one driver loop ([`StatusResource`]): the `BackendReachable` condition
//! of the Slurm link, the results location, and the server-side apply on
//! the status subresource.

use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::context::Context;
use super::error::Error;
use super::events::Note;
use super::slurm_link::SlurmLink;
use crate::api::spec::Benchmark;
use crate::api::status::BenchmarkStatus;
use crate::driver::StatusStore;
use crate::operator::children::FIELD_MANAGER;
use crate::operator::controller::gather::client_upload;
use crate::operator::runs;
use crate::operator::slurm::BACKEND_REACHABLE;

/// Sets `BackendReachable` from the Slurm link; a Warning when Slurm
/// became unreachable (not again while it stays so).
pub(super) fn set_backend_reachable(
    status: &mut BenchmarkStatus,
    stored: &BenchmarkStatus,
    link: Option<&SlurmLink>,
    notes: &mut Vec<Note>,
    now: Timestamp,
) {
    let Some(SlurmLink {
        ok,
        reason,
        message: msg,
        ..
    }) = link
    else {
        return;
    };
    status.set_condition(BACKEND_REACHABLE, *ok, reason, msg.clone(), now);
    if !ok
        && stored
            .condition(BACKEND_REACHABLE)
            .is_none_or(|c| c.status != "False")
    {
        notes.push(Note::warning(
            "BackendUnreachable",
            format!("Slurm: {reason}: {msg}"),
        ));
    }
}

/// Once the run started, where its results are: the claim's path (or the
/// operator's results root) and, with `results.s3`, the bucket URL.
pub(super) fn set_results_location(
    status: &mut BenchmarkStatus,
    claim: Option<&str>,
    folder: &str,
    upload_url: Option<String>,
) {
    if status.start_time.is_some() && status.results.is_none() {
        let mut at = runs::results_location(claim, folder);
        at.url = upload_url;
        status.results = Some(at);
    }
}

/// Server-side applies the status (field manager `aifbench`, with the
/// `resourceVersion` read, so a concurrent writer makes it fail with 409
/// and the reconcile is retried); nothing when it did not change.
pub(super) async fn write(
    ctx: &Context,
    bm: &Benchmark,
    status: &BenchmarkStatus,
    generation: i64,
) -> Result<(), Error> {
    if bm.status.as_ref() == Some(status) {
        return Ok(());
    }
    let ns = bm.namespace().unwrap_or_default();
    let name = bm.name_any();
    let patch = json!({
        "apiVersion": "aifbench.io/v1alpha1",
        "kind": "Benchmark",
        "metadata": {"name": name, "resourceVersion": bm.resource_version()},
        "status": status,
    });
    Api::<Benchmark>::namespaced(ctx.client.clone(), &ns)
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    tracing::info!(namespace = %ns, benchmark = %name, phase = %status.phase, generation, "status written");
    Ok(())
}

/// The Benchmark's status subresource, for one reconcile: loads the status
/// of the run the observe step chose, and records the decided one with the
/// link's condition and the results location, server-side applied.
pub(super) struct StatusResource<'a> {
    pub(super) ctx: &'a Context,
    pub(super) bm: &'a Benchmark,
    /// The status as stored (conditions change against it).
    pub(super) stored: &'a BenchmarkStatus,
    /// The status of the run to reconcile.
    pub(super) status: BenchmarkStatus,
    pub(super) generation: i64,
    pub(super) link: Option<&'a SlurmLink>,
    /// The results claim's path, when the operator has one.
    pub(super) claim: Option<&'a str>,
    pub(super) now: Timestamp,
    /// Events of the write (Slurm became unreachable).
    pub(super) notes: Vec<Note>,
    /// What was written.
    pub(super) written: Option<BenchmarkStatus>,
}

impl StatusStore for StatusResource<'_> {
    type Error = Error;

    async fn load(&mut self) -> Result<BenchmarkStatus, Error> {
        Ok(self.status.clone())
    }

    async fn record(&mut self, status: &BenchmarkStatus) -> Result<(), Error> {
        let mut status = status.clone();
        set_backend_reachable(
            &mut status,
            self.stored,
            self.link,
            &mut self.notes,
            self.now,
        );
        let name = self.bm.name_any();
        let ns = self.bm.namespace().unwrap_or_default();
        let folder =
            runs::results_folder(&name, status.start_time.or(Some(self.now)), self.generation);
        let url = client_upload(self.bm, &ns, &folder).map(|u| {
            format!(
                "{}/",
                crate::results::s3::s3_url(&u.s3.bucket, &u.run_prefix)
            )
        });
        set_results_location(&mut status, self.claim, &folder, url);
        write(self.ctx, self.bm, &status, self.generation).await?;
        self.written = Some(status);
        Ok(())
    }
}
