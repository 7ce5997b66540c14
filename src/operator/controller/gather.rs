//! The clients' results under the operator ([`Gatherer`]): gathered once
//! per reconcile for `report` and `uploadResults` — the full results from
//! `results.s3` (the bucket opened with the credentials Secret), else the
//! pods' termination messages, plus the summaries Slurm clients posted —
//! and `uploadResults`, which puts the merged summary next to them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::ResourceExt;
use kube::api::Api;
use serde_json::json;
use tokio::sync::OnceCell;

use super::context::Context;
use crate::api::spec::{Benchmark, S3ResultsSpec};
use crate::api::status::{ComponentKind, ResultsSummary};
use crate::backend::Backends;
use crate::engine::{ActionOutcome, PlannedComponent};
use crate::operator::children::{
    self, ClientUpload, SECRET_ACCESS_KEY_ID, SECRET_SECRET_ACCESS_KEY,
};
use crate::operator::observe::{find_pod, merge_summaries, termination_summary};
use crate::operator::results::{Gathered, collect_results};
use crate::results::s3::{ResultsStore, StoreConfig, join_key, s3_url};
use crate::workload::s3::S3Credentials;

/// Where the clients upload (`results.s3`), for the run's `folder`.
pub(super) fn client_upload(bm: &Benchmark, ns: &str, folder: &str) -> Option<ClientUpload> {
    let s3 = bm.spec.results.as_ref()?.s3.as_ref()?;
    Some(ClientUpload {
        s3: s3.clone(),
        run_prefix: join_key(&[&s3.key_prefix(), ns, folder]),
    })
}

/// The clients' results of one run, gathered at most once per reconcile.
pub(super) struct Gatherer<'a> {
    bm: &'a Benchmark,
    ctx: &'a Context,
    ns: String,
    name: String,
    generation: i64,
    /// Every `executor: pod` client instance: its instance id and its pod.
    pod_clients: Vec<(String, Option<&'a Pod>)>,
    /// Summaries the run's Slurm client jobs posted.
    slurm_summaries: Vec<ResultsSummary>,
    /// The clients' results, gathered once per reconcile (report and
    /// uploadResults both need them).
    gathered: OnceCell<Gathered>,
    /// The results bucket with the Secret's credentials, opened once per
    /// reconcile.
    store: OnceCell<Result<ResultsStore, String>>,
}

impl<'a> Gatherer<'a> {
    /// The gatherer of the run `generation`, whose components are
    /// `planned` and pods `pods`.
    pub(super) fn new(
        bm: &'a Benchmark,
        ctx: &'a Context,
        generation: i64,
        planned: &BTreeMap<String, PlannedComponent>,
        pods: &'a [Pod],
        slurm_summaries: Vec<ResultsSummary>,
    ) -> Self {
        let pod_clients = planned
            .values()
            .filter(|p| {
                p.kind == ComponentKind::Client
                    && p.executor
                        .is_some_and(Backends::reports_by_termination_message)
            })
            .map(|p| {
                let c = &bm.spec.clients[p.index];
                let index = p.instance.unwrap_or(1).saturating_sub(1);
                let pod = find_pod(pods, generation, p.kind, &c.id, p.instance);
                (children::pod_instance_id(&c.id, &index.to_string()), pod)
            })
            .collect();
        Self {
            bm,
            ctx,
            ns: bm.namespace().unwrap_or_default(),
            name: bm.name_any(),
            generation,
            pod_clients,
            slurm_summaries,
            gathered: OnceCell::new(),
            store: OnceCell::new(),
        }
    }

    /// The clients' results: with `results.s3`, every instance's full result
    /// fetched from the bucket and merged exactly (the merge of `aifbench
    /// run`); without it, or when one that ran is missing there, the
    /// summaries the pods left as termination messages, merged
    /// approximately (and marked so).
    pub(super) async fn gather(&self, folder: &str) -> Gathered {
        self.gathered
            .get_or_init(|| async {
                let g = self.gather_uncached(folder).await;
                if let Some(w) = &g.warning {
                    tracing::warn!(namespace = %self.ns, benchmark = %self.name, missing = ?g.missing, reason = %w, "approximate summary");
                }
                g
            })
            .await
            .clone()
    }

    async fn gather_uncached(&self, folder: &str) -> Gathered {
        let mut g = self.gather_pods(folder).await;
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
    async fn gather_pods(&self, folder: &str) -> Gathered {
        // (instance id of the pod, its termination summary)
        let instances: Vec<(String, Option<ResultsSummary>)> = self
            .pod_clients
            .iter()
            .map(|(id, pod)| (id.clone(), pod.and_then(termination_summary)))
            .collect();
        let upload = client_upload(self.bm, &self.ns, folder).filter(|_| !instances.is_empty());
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

    /// `uploadResults` under the operator: the clients uploaded their own
    /// results; the merged summary goes next to them as `summary.json`.
    pub(super) async fn upload_summary(&self, folder: &str) -> ActionOutcome {
        let Some(upload) = client_upload(self.bm, &self.ns, folder) else {
            return ActionOutcome::Failed("uploadResults needs spec.results.s3".to_string());
        };
        let g = self.gather(folder).await;
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
