//! Slurm for one reconcile ([`SlurmLink`]): the credentials Secret read
//! afresh, a session opened, and the `BackendReachable` verdict of that
//! attempt.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;

use super::context::Context;
use crate::api::spec::Benchmark;
use crate::backend::Backends;
use crate::operator::slurm::{
    SLURM_SECRET_ANNOTATION, SlurmCredentials, credentials_from_secret, redact,
};
use crate::operator::slurm_backend::SharedSession;

/// Slurm for one reconcile: the `BackendReachable` verdict, the
/// credentials (for redaction) and the open session.
pub(super) struct SlurmLink {
    pub(super) ok: bool,
    pub(super) reason: &'static str,
    pub(super) message: String,
    pub(super) creds: Option<SlurmCredentials>,
    pub(super) session: Option<SharedSession>,
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

    /// Closes the session, if one is open.
    pub(super) async fn close(&mut self) {
        // The reconcile's backends hold the session until they are
        // dropped, before this.
        if let Some(s) = self.session.take() {
            match Arc::try_unwrap(s) {
                Ok(s) => s.close().await,
                Err(_) => tracing::warn!("Slurm session still in use: not closed"),
            }
        }
    }
}

/// The link of a Benchmark that uses Slurm ([`connect`]); None for one that
/// does not.
pub(super) async fn link(bm: &Benchmark, ctx: &Context, ns: &str) -> Option<SlurmLink> {
    if Backends::spec_needs_session(&bm.spec) {
        Some(connect(bm, ctx, ns).await)
    } else {
        None
    }
}

/// Reads the Secret (every reconcile, so a rotated token or key is used at
/// once) and connects.
pub(super) async fn connect(bm: &Benchmark, ctx: &Context, ns: &str) -> SlurmLink {
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
            session: Some(Arc::new(session)),
        },
        Err(f) => {
            let msg = redact(&f.message, Some(&creds));
            SlurmLink::failed(f.reason, msg, Some(creds))
        }
    }
}
