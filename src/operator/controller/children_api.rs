//! The Benchmark's children through the API: list them, count and delete
//! those of other runs (applying and stopping them is the pod backend's,
//! [`crate::backend::pod`]).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, PropagationPolicy};
use kube::{Client, Resource, ResourceExt};

use super::error::Error;
use crate::operator::children::{COMPONENT_LABEL, GENERATION_LABEL, selector};

/// Children lists of one Benchmark.
pub(super) struct Children {
    pub(super) pods: Vec<Pod>,
    pub(super) jobs: Vec<Job>,
    pub(super) services: Vec<Service>,
}

/// Lists the Pods, Jobs and Services labelled with the Benchmark (in that
/// order).
pub(super) async fn list_children(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<Children, Error> {
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

/// Whether the object is being deleted already.
pub(super) fn deleting<K: Resource>(k: &K) -> bool {
    k.meta().deletion_timestamp.is_some()
}

/// How many children are not of `generation` (being deleted or not).
pub(super) fn orphans(ch: &Children, generation: i64) -> usize {
    let keep = Some(generation);
    ch.pods.iter().filter(|p| !is_current(*p, keep)).count()
        + ch.jobs.iter().filter(|j| !is_current(*j, keep)).count()
        + ch.services.iter().filter(|s| !is_current(*s, keep)).count()
}

/// Deletes the children not of `keep` (a generation; None deletes all).
/// Client pods go with their Job.
pub(super) async fn delete_children(
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

/// A 404 is no failure (the object is gone already).
pub(super) fn ignore_not_found(r: Result<(), kube::Error>) -> Result<(), Error> {
    match r {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        other => other.map_err(Error::from),
    }
}
