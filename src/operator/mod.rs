//! `aifbench operator`: the Kubernetes driver of the engine.
//!
//! A kube-runtime Controller watches Benchmarks (in every namespace, or in a
//! configured list) and the Pods, Jobs and Services it creates for them; each
//! reconcile ([`controller::reconcile`]) observes the children, asks the
//! engine, applies its actions and writes the status. Around it: leader
//! election on a Lease ([`lease`]), `/metrics`, `/healthz` and `/readyz`
//! ([`http`]), a startup check that the CRD is installed, and graceful
//! shutdown on SIGTERM. See `docs/operator.md`.

pub mod controller;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod monitors;
pub mod rbac;
pub mod results;
pub mod runs;
pub mod slurm;
pub mod slurm_backend;
pub mod slurm_jobs;

/// The children builders, now under the pod backend.
pub use crate::backend::pod::children;
/// Pod observation, now under the pod backend.
pub use crate::backend::pod::observe;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use kube::runtime::{Controller, watcher};
use tokio_util::sync::CancellationToken;

use crate::api::Benchmark;
pub use controller::{Context, Settings};

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// Namespaces to watch; empty: all.
    pub namespaces: Vec<String>,
    /// Reconciler settings.
    pub settings: Settings,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub listen: SocketAddr,
    /// Leader election: (namespace, lease name); None: no election.
    pub lease: Option<(String, String)>,
    /// Lease duration.
    pub lease_duration: Duration,
}

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The CRD is not installed.
    #[error(
        "the Benchmark CRD (benchmarks.aifbench.io) is not installed in this cluster: install it with `aifbench crd | kubectl apply -f -` or `helm install aifbench charts/aifbench`"
    )]
    CrdMissing,
    /// The API server could not be reached or refused.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Leadership was lost; the process exits so it restarts as a candidate.
    #[error("leadership lost")]
    LeadershipLost,
}

/// Checks that the CRD is installed (a `list` of one Benchmark, in the
/// first watched namespace or in all: 404 means it is not) — needs no
/// permission on CRDs themselves.
pub async fn check_crd(client: &Client, namespaces: &[String]) -> Result<(), OperatorError> {
    let api = match namespaces.first() {
        Some(ns) => Api::<Benchmark>::namespaced(client.clone(), ns),
        None => Api::<Benchmark>::all(client.clone()),
    };
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(OperatorError::CrdMissing),
        Err(e) => Err(e.into()),
    }
}

/// Runs the operator until `shutdown` fires (or leadership is lost).
pub async fn run(
    client: Client,
    config: OperatorConfig,
    shutdown: CancellationToken,
) -> Result<(), OperatorError> {
    let ctx = Arc::new(Context::new(client.clone(), config.settings.clone()));
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| OperatorError::Listen {
            addr: config.listen,
            source,
        })?;
    let server = tokio::spawn(http::serve(
        listener,
        ctx.metrics.clone(),
        ready.clone(),
        shutdown.clone(),
    ));
    check_crd(&client, &config.namespaces).await?;
    tracing::info!(namespaces = ?config.namespaces, "the Benchmark CRD is installed");

    let elector = config.lease.as_ref().map(|(ns, name)| {
        lease::LeaderElector::new(
            client.clone(),
            ns,
            name,
            &config.settings.instance,
            config.lease_duration,
        )
    });
    if let Some(e) = &elector {
        tracing::info!(identity = %config.settings.instance, "waiting for leadership");
        if !e.acquire(&shutdown).await {
            server.abort();
            return Ok(());
        }
        tracing::info!(identity = %config.settings.instance, "leading");
    }
    ctx.metrics.set_leader(true);
    ready.store(true, Ordering::SeqCst);

    let stop = shutdown.child_token();
    let lost = Arc::new(AtomicBool::new(false));
    let holder = elector.map(|e| {
        let stop = stop.clone();
        let shutdown = shutdown.clone();
        let lost = lost.clone();
        tokio::spawn(async move {
            e.hold(&shutdown).await;
            if !shutdown.is_cancelled() {
                lost.store(true, Ordering::SeqCst);
            }
            stop.cancel();
        })
    });

    let namespaces: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    // Benchmarks are watched untyped: one that does not parse gets a
    // condition instead of stalling the watch (controller::reconcile_dynamic).
    let ar = controller::benchmark_resource();
    let mut controllers = Vec::new();
    for ns in namespaces {
        let (bms, pods, jobs, svcs) = match &ns {
            Some(ns) => (
                Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar),
                Api::<Pod>::namespaced(client.clone(), ns),
                Api::<Job>::namespaced(client.clone(), ns),
                Api::<Service>::namespaced(client.clone(), ns),
            ),
            None => (
                Api::<DynamicObject>::all_with(client.clone(), &ar),
                Api::<Pod>::all(client.clone()),
                Api::<Job>::all(client.clone()),
                Api::<Service>::all(client.clone()),
            ),
        };
        let owned = || {
            watcher::Config::default().labels(&format!(
                "{}={}",
                children::MANAGED_BY,
                children::FIELD_MANAGER
            ))
        };
        let stop = stop.clone();
        let ctx = ctx.clone();
        controllers.push(
            Controller::new_with(bms, watcher::Config::default().any_semantic(), ar.clone())
                .owns(pods, owned())
                .owns(jobs, owned())
                .owns(svcs, owned())
                .graceful_shutdown_on(async move { stop.cancelled().await })
                .run(
                    controller::reconcile_dynamic,
                    controller::error_policy_dynamic,
                    ctx,
                )
                .for_each(|r| async move {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "controller event");
                    }
                }),
        );
    }
    futures::future::join_all(controllers).await;
    ready.store(false, Ordering::SeqCst);
    ctx.metrics.set_leader(false);
    if let Some(h) = holder {
        stop.cancel();
        let _ = h.await;
    }
    shutdown.cancel();
    let _ = server.await;
    if lost.load(Ordering::SeqCst) {
        return Err(OperatorError::LeadershipLost);
    }
    Ok(())
}
