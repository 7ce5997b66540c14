//! The operator's pods as a [`Backend`]: for one reconcile of one
//! Benchmark, a service runs as a Pod (and a Service when it has ports), a
//! client as one Indexed Job for all its instances.
//!
//! - [`children`]: the Pod, Service and Job objects, pure, over
//!   [`names`] (object names) and [`container`] (ports, readiness probe,
//!   restricted security context).
//! - [`observe`]: what the listed pods say (pure).
//! - [`apiserver_rules`]: the API server's own validation rules and the
//!   restricted Pod Security Standard, as a pure checker of built children.
//!
//! `launch` server-side applies the children, `stop` ends a pod through its
//! deadline (a client Job not started yet is suspended; a service's
//! Service deleted), `observe` reads the listed pods. The deletion of a
//! run's children stays with the operator's controller (`cleanup` ends
//! nothing here). A failure of the API server worth a retry is not a
//! refusal: it is kept ([`PodBackend::api_failure`]) for the controller,
//! which ends the reconcile with it.

pub mod apiserver_rules;
pub mod children;
pub mod container;
pub mod names;
pub mod observe;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use self::children::{ClientUpload, FIELD_MANAGER, child_name, client_job_name};
use self::observe::{find_pod, pod_ready, pod_run_state};
use super::{Backend, BackendError, LaunchRequest, Seen, progress_of_summary};
use crate::api::spec::Benchmark;
use crate::api::status::ComponentKind;
use crate::engine::{self, Placement, PlannedComponent, RunState};

/// What one reconcile knows of a Benchmark's run, for its pods.
pub struct PodRun {
    /// The API client.
    pub client: Client,
    /// The Benchmark's namespace.
    pub namespace: String,
    /// The Benchmark.
    pub benchmark: Benchmark,
    /// The run's generation.
    pub generation: i64,
    /// The run's results folder.
    pub folder: String,
    /// The default client image.
    pub image: String,
    /// The run's pods, as listed this reconcile.
    pub pods: Vec<Pod>,
    /// Where the clients upload (`results.s3`).
    pub upload: Option<ClientUpload>,
}

/// Pods, Services and Jobs of one reconcile.
pub struct PodBackend {
    run: PodRun,
    planned: BTreeMap<String, PlannedComponent>,
    /// Clients whose Job was applied (once for all instances).
    jobs_applied: Mutex<BTreeSet<usize>>,
    /// The first API failure worth a retry.
    failure: Mutex<Option<kube::Error>>,
}

impl PodBackend {
    /// The backend of `run`.
    pub fn new(run: PodRun) -> Self {
        let planned = engine::plan_components(&run.benchmark.spec)
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        Self {
            run,
            planned,
            jobs_applied: Mutex::new(BTreeSet::new()),
            failure: Mutex::new(None),
        }
    }

    /// Takes the API failure of the last `launch` or `stop`, if any: the
    /// reconcile is to be retried.
    pub fn api_failure(&self) -> Option<kube::Error> {
        self.failure.lock().ok().and_then(|mut f| f.take())
    }

    fn keep_failure(&self, e: kube::Error) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(e);
        }
    }

    /// A service's Service (when it has ports), then its Pod: Some(msg)
    /// when the cluster refused one.
    async fn launch_service(&self, index: usize) -> Result<Option<String>, kube::Error> {
        let r = &self.run;
        let s = &r.benchmark.spec.services[index];
        let pod = match children::service_pod(&r.benchmark, r.generation, s, &r.folder) {
            Ok(pod) => pod,
            Err(e) => return Ok(Some(e.to_string())),
        };
        if let Some(svc) = children::service_object(&r.benchmark, r.generation, s) {
            let refused = self.apply(&svc).await?;
            if refused.is_some() {
                return Ok(refused);
            }
        }
        self.apply(&pod).await
    }

    /// A client's indexed Job (one for all its instances).
    async fn launch_client(&self, index: usize) -> Result<Option<String>, kube::Error> {
        let r = &self.run;
        let c = &r.benchmark.spec.clients[index];
        match children::client_job(
            &r.benchmark,
            r.generation,
            c,
            &r.image,
            &r.folder,
            r.upload.as_ref(),
        ) {
            Ok(job) => self.apply(&job).await,
            Err(e) => Ok(Some(e.to_string())),
        }
    }

    /// Server-side applies a child (field manager `aifbench`, forced):
    /// Some(msg) when the cluster refused it (see [`refusal`]).
    async fn apply<K>(&self, obj: &K) -> Result<Option<String>, kube::Error>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::Serialize
            + serde::de::DeserializeOwned,
    {
        let api: Api<K> = Api::namespaced(self.run.client.clone(), &self.run.namespace);
        let r = api
            .patch(
                &obj.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(obj),
            )
            .await;
        refusal(r)
    }

    /// The pod is ended through its deadline, not deleted: it stays with
    /// its exit code and termination message (the client's summary). A
    /// client pod not created yet is kept from being created (its Job
    /// suspended); a service's Service is deleted.
    async fn stop_pod(&self, p: &PlannedComponent) -> Result<(), kube::Error> {
        let r = &self.run;
        let name = r.benchmark.name_any();
        let role = match p.kind {
            ComponentKind::Client => r.benchmark.spec.clients[p.index].id.clone(),
            _ => p.id.clone(),
        };
        let pod = find_pod(&r.pods, r.generation, p.kind, &role, p.instance);
        if let Some(pod) = pod.filter(|p| p.meta().deletion_timestamp.is_none()) {
            let pods: Api<Pod> = Api::namespaced(r.client.clone(), &r.namespace);
            let patch = json!({"spec": {"activeDeadlineSeconds": 1}});
            ignore_not_found(
                pods.patch(
                    &pod.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await,
            )?;
        } else if p.kind == ComponentKind::Client {
            let jobs: Api<Job> = Api::namespaced(r.client.clone(), &r.namespace);
            let patch = json!({"spec": {"suspend": true}});
            let instances = r.benchmark.spec.clients[p.index].instances;
            let job = client_job_name(&name, r.generation, &role, instances);
            ignore_not_found(
                jobs.patch(&job, &PatchParams::default(), &Patch::Merge(&patch))
                    .await,
            )?;
        }
        if p.kind == ComponentKind::Service {
            let services: Api<Service> = Api::namespaced(r.client.clone(), &r.namespace);
            let svc = child_name(&name, r.generation, &p.id);
            ignore_not_found(services.delete(&svc, &DeleteParams::default()).await)?;
        }
        Ok(())
    }
}

impl Backend for PodBackend {
    fn name(&self) -> &'static str {
        "pod"
    }

    /// The operator reaches services through their Service.
    fn reaches_endpoints(&self) -> bool {
        true
    }

    fn launch(&self, req: LaunchRequest) -> BoxFuture<'_, Result<Placement, BackendError>> {
        Box::pin(async move {
            let Some(p) = self.planned.get(&req.id) else {
                return Err(BackendError::Unknown(req.id));
            };
            let outcome = match p.kind {
                ComponentKind::Service => self.launch_service(p.index).await,
                _ => {
                    let first = self
                        .jobs_applied
                        .lock()
                        .map(|mut j| j.insert(p.index))
                        .unwrap_or(true);
                    if !first {
                        return Ok(Placement::default());
                    }
                    self.launch_client(p.index).await
                }
            };
            match outcome {
                Ok(None) => Ok(Placement::default()),
                Ok(Some(msg)) => Err(BackendError::Refused(msg)),
                Err(e) => {
                    let msg = e.to_string();
                    self.keep_failure(e);
                    Err(BackendError::Refused(msg))
                }
            }
        })
    }

    fn observe<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Seen> {
        Box::pin(async move {
            let Some(p) = self.planned.get(id) else {
                return Seen::default();
            };
            let role = match p.kind {
                ComponentKind::Client => self.run.benchmark.spec.clients[p.index].id.clone(),
                _ => p.id.clone(),
            };
            match find_pod(
                &self.run.pods,
                self.run.generation,
                p.kind,
                &role,
                p.instance,
            ) {
                Some(pod) => pod_seen(pod),
                None => Seen {
                    run: RunState::Unknown,
                    ..Default::default()
                },
            }
        })
    }

    fn stop<'a>(&'a self, id: &'a str, _grace: Duration) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Some(p) = self.planned.get(id) else {
                return;
            };
            if let Err(e) = self.stop_pod(p).await {
                self.keep_failure(e);
            }
        })
    }

    /// The controller deletes the run's children itself.
    fn cleanup(&self) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// What a pod says of its component: its state, readiness, node and the
/// summary a client left as its termination message.
pub fn pod_seen(pod: &Pod) -> Seen {
    let message = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| t.message.as_deref());
    let summary: Option<serde_json::Value> = message.and_then(|m| serde_json::from_str(m).ok());
    let progress = summary.as_ref().and_then(progress_of_summary);
    Seen {
        run: pod_run_state(pod),
        progress,
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        port: None,
        ready: Some(pod_ready(pod)),
        summary,
    }
}

/// A 404 is no failure (the object is gone already).
fn ignore_not_found<T>(r: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match r {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
        Ok(_) => Ok(()),
    }
}

/// A refusal by the cluster (4xx but 409 and 429) is Some(message); other
/// errors are returned for a retry.
pub fn refusal<T>(r: Result<T, kube::Error>) -> Result<Option<String>, kube::Error> {
    match r {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(s))
            if (400..500).contains(&s.code) && s.code != 409 && s.code != 429 =>
        {
            Ok(Some(format!("{} ({}): {}", s.reason, s.code, s.message)))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_ready_running_pod_is_seen_running_and_ready_on_its_node() {
        let p = pod(json!({
            "metadata": {"name": "p"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }));
        let s = pod_seen(&p);
        assert_eq!(s.run, RunState::Running);
        assert_eq!(s.ready, Some(true));
        assert_eq!(s.node.as_deref(), Some("n1"));
        assert_eq!(s.summary, None);
    }

    #[test]
    fn a_finished_client_pod_reports_its_termination_message_as_summary() {
        let msg = r#"{"requests":10,"errors":1,"durationSeconds":2.0,"requestThroughput":5.0}"#;
        let p = pod(json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Succeeded", "containerStatuses": [{
                "name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "message": msg}}
            }]}
        }));
        let s = pod_seen(&p);
        assert!(matches!(s.run, RunState::Exited { code: Some(0), .. }));
        assert_eq!(s.progress.map(|p| (p.requests, p.errors)), Some((10, 1)));
        assert!(s.summary.is_some());
    }

    #[test]
    fn refusals_are_4xx_but_conflicts_and_throttling() {
        let api = |code: u16| {
            let status: kube::core::Status =
                serde_json::from_value(json!({"code": code, "message": "no", "reason": "Invalid"}))
                    .unwrap();
            Err::<(), _>(kube::Error::Api(Box::new(status)))
        };
        assert_eq!(
            refusal(api(422)).ok().flatten().as_deref(),
            Some("Invalid (422): no")
        );
        assert!(refusal(api(409)).is_err());
        assert!(refusal(api(429)).is_err());
        assert!(refusal(api(500)).is_err());
        assert_eq!(refusal(Ok::<(), kube::Error>(())).ok(), Some(None));
    }
}
