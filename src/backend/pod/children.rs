//! The Kubernetes objects a Benchmark's run creates — pure builders, no I/O.
//!
//! - a service becomes a Pod (`restartPolicy: Never`: a service that exits
//!   fails the benchmark) with a readiness probe built from its health check,
//!   plus a ClusterIP Service giving it a stable DNS name;
//! - a client becomes one indexed Job (completion index `n-1` is instance
//!   `<id>-n`) running `aifbench loadgen`; its configuration is a pod
//!   annotation mounted as a file through the downward API (no ConfigMap),
//!   its headline numbers come back as the container's termination message
//!   (`--summary-file /dev/termination-log`) and its full result is written
//!   to `/results` (an emptyDir, or the PersistentVolumeClaim named by the
//!   `aifbench.io/results-claim` annotation of the Benchmark).
//!
//! Every child carries the labels of `DESIGN.md`, the run's generation, and a
//! controller owner reference to the Benchmark; every container the
//! restricted Pod Security Standard's `securityContext`. Names come from
//! [`super::names`], ports, probes and security contexts from
//! [`super::container`] (both re-exported here).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, DownwardAPIVolumeFile, DownwardAPIVolumeSource, EmptyDirVolumeSource,
    EnvVar, EnvVarSource, ObjectFieldSelector, PersistentVolumeClaimVolumeSource, Pod,
    PodSpec as K8sPodSpec, PodTemplateSpec, SecretKeySelector, Service, ServicePort,
    ServiceSpec as K8sServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

use crate::api::spec::{Benchmark, ClientSpec, S3ResultsSpec, ServiceSpec};
use crate::api::template::{self, RunValues};
use crate::workload::loadgen::LoadgenConfig;

pub use super::container::{port_name, restricted_security_context, service_ports};
use super::container::{probe_target, readiness_probe};
pub use super::names::{child_name, client_job_name, label_value, pod_instance_id};

/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "aifbench";
/// `app.kubernetes.io/managed-by` label key.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The Benchmark a child belongs to.
pub const BENCHMARK_LABEL: &str = "aifbench.io/benchmark";
/// `service`, `client` or `monitor`.
pub const COMPONENT_LABEL: &str = "aifbench.io/component";
/// The component id.
pub const ROLE_LABEL: &str = "aifbench.io/role";
/// The spec generation of the run that created the child.
pub const GENERATION_LABEL: &str = "aifbench.io/generation";
/// Label the Job controller puts on the pods of an indexed Job.
pub const COMPLETION_INDEX_LABEL: &str = "batch.kubernetes.io/job-completion-index";
/// Pod annotation holding a client's loadgen configuration (JSON).
pub const CONFIG_ANNOTATION: &str = "aifbench.io/loadgen-config";
/// Benchmark annotation naming a PersistentVolumeClaim for client results.
pub const RESULTS_CLAIM_ANNOTATION: &str = "aifbench.io/results-claim";
/// Where client results are written inside client pods.
pub const RESULTS_MOUNT: &str = "/results";

/// A child could not be built from the spec.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChildError {
    /// The component has no `pod` settings and no default image applies.
    #[error("{0}: executor pod needs pod.image")]
    NoImage(String),
    /// A template could not be filled in.
    #[error("{id}: {message}")]
    Template {
        /// The component.
        id: String,
        /// What was wrong.
        message: String,
    },
    /// A client's target is unknown or has no port.
    #[error("{0}")]
    Target(String),
    /// `results.s3` cannot be handed to the client pods.
    #[error("{0}")]
    Results(String),
}

/// Secret key holding the access key id (`results.s3.credentials.secretName`).
pub const SECRET_ACCESS_KEY_ID: &str = "accessKeyId";
/// Secret key holding the secret access key.
pub const SECRET_SECRET_ACCESS_KEY: &str = "secretAccessKey";

/// Where a client's instances upload their full results (`results.s3`).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientUpload {
    /// The bucket settings.
    pub s3: S3ResultsSpec,
    /// `<prefix>/<namespace>/<results folder>`: the run's objects.
    pub run_prefix: String,
}

/// The label selector of every child of a Benchmark.
pub fn selector(benchmark: &str) -> String {
    format!(
        "{MANAGED_BY}={FIELD_MANAGER},{BENCHMARK_LABEL}={}",
        label_value(benchmark)
    )
}

/// The labels of a child.
pub fn labels(
    benchmark: &str,
    generation: i64,
    component: &str,
    role: &str,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_string(), FIELD_MANAGER.to_string()),
        (BENCHMARK_LABEL.to_string(), label_value(benchmark)),
        (COMPONENT_LABEL.to_string(), component.to_string()),
        (ROLE_LABEL.to_string(), label_value(role)),
        (GENERATION_LABEL.to_string(), generation.to_string()),
    ])
}

fn meta(b: &Benchmark, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: b.namespace(),
        labels: Some(labels),
        owner_references: owner_ref(b).map(|o| vec![o]),
        ..Default::default()
    }
}

/// A controller owner reference to the Benchmark (None without a uid).
pub fn owner_ref(b: &Benchmark) -> Option<OwnerReference> {
    b.controller_owner_ref(&())
}

/// The in-cluster base URL of a service's port (default: the first one).
pub fn service_url(
    b: &Benchmark,
    generation: i64,
    s: &ServiceSpec,
    port: Option<&str>,
) -> Option<String> {
    let ports = service_ports(s);
    let (_, p) = match port {
        Some(name) => ports.iter().find(|(n, _)| n == name)?,
        None => ports.first()?,
    };
    let ns = b.namespace().unwrap_or_else(|| "default".to_string());
    Some(format!(
        "http://{}.{ns}.svc:{p}",
        child_name(&b.name_any(), generation, &s.id)
    ))
}

/// Template values shared by every component of a run.
pub fn template_values(b: &Benchmark, generation: i64, results_dir: &str) -> RunValues {
    let mut v = RunValues::new(results_dir);
    for s in &b.spec.services {
        if let Some(url) = service_url(b, generation, s, None) {
            v.set_service(&s.id, &url);
        }
    }
    v
}

fn env_vars(
    env: &BTreeMap<String, String>,
    values: &BTreeMap<String, String>,
    id: &str,
) -> Result<Vec<EnvVar>, ChildError> {
    env.iter()
        .map(|(k, v)| {
            let value = template::render(v, values).map_err(|e| ChildError::Template {
                id: id.to_string(),
                message: format!("env {k}: {e}"),
            })?;
            Ok(EnvVar {
                name: k.clone(),
                value: Some(value),
                ..Default::default()
            })
        })
        .collect()
}

/// The Pod of a service.
pub fn service_pod(
    b: &Benchmark,
    generation: i64,
    s: &ServiceSpec,
    results_dir: &str,
) -> Result<Pod, ChildError> {
    let pod = s
        .pod
        .as_ref()
        .ok_or_else(|| ChildError::NoImage(s.id.clone()))?;
    let ports = service_ports(s);
    let mut values = template_values(b, generation, results_dir).into_map();
    values.insert("id".to_string(), s.id.clone());
    if let Some((_, p)) = ports.first() {
        values.insert("port".to_string(), p.to_string());
    }
    for (n, p) in &ports {
        values.insert(format!("ports.{n}"), p.to_string());
    }
    let render = |t: &str| {
        template::render(t, &values).map_err(|e| ChildError::Template {
            id: s.id.clone(),
            message: e.to_string(),
        })
    };
    let command: Option<Vec<String>> = match &s.shell {
        Some(sh) => Some(vec!["sh".to_string(), "-c".to_string(), render(sh)?]),
        None if s.command.is_empty() => None,
        None => Some(
            s.command
                .iter()
                .map(|a| render(a))
                .collect::<Result<_, _>>()?,
        ),
    };
    let readiness_probe = match &s.healthcheck {
        Some(h) => {
            let url = h.url.as_deref().map(render).transpose()?;
            probe_target(h, url.as_deref(), &ports)
                .map_err(|message| ChildError::Template {
                    id: s.id.clone(),
                    message,
                })?
                .map(|t| readiness_probe(h, t))
        }
        None => None,
    };
    let container = Container {
        name: "service".to_string(),
        image: Some(pod.image.clone()),
        command,
        env: Some(env_vars(&s.env, &values, &s.id)?).filter(|e| !e.is_empty()),
        working_dir: s.working_dir.clone(),
        ports: Some(
            ports
                .iter()
                .map(|(n, p)| ContainerPort {
                    name: Some(port_name(n)),
                    container_port: i32::from(*p),
                    ..Default::default()
                })
                .collect(),
        )
        .filter(|p: &Vec<ContainerPort>| !p.is_empty()),
        readiness_probe,
        resources: pod.resources.clone(),
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        security_context: Some(restricted_security_context(false)),
        ..Default::default()
    };
    Ok(Pod {
        metadata: meta(
            b,
            child_name(&b.name_any(), generation, &s.id),
            labels(&b.name_any(), generation, "service", &s.id),
        ),
        spec: Some(K8sPodSpec {
            containers: vec![container],
            restart_policy: Some("Never".to_string()),
            enable_service_links: Some(false),
            node_selector: Some(pod.node_selector.clone()).filter(|m| !m.is_empty()),
            tolerations: Some(pod.tolerations.clone()).filter(|t| !t.is_empty()),
            ..Default::default()
        }),
        status: None,
    })
}

/// The ClusterIP Service of a service (None when it declares no ports).
pub fn service_object(b: &Benchmark, generation: i64, s: &ServiceSpec) -> Option<Service> {
    let ports = service_ports(s);
    if ports.is_empty() {
        return None;
    }
    let name = b.name_any();
    let mut sel = labels(&name, generation, "service", &s.id);
    sel.remove(MANAGED_BY);
    Some(Service {
        metadata: meta(
            b,
            child_name(&name, generation, &s.id),
            labels(&name, generation, "service", &s.id),
        ),
        spec: Some(K8sServiceSpec {
            selector: Some(sel),
            ports: Some(
                ports
                    .iter()
                    .map(|(n, p)| ServicePort {
                        name: Some(port_name(n)),
                        port: i32::from(*p),
                        target_port: Some(IntOrString::Int(i32::from(*p))),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    })
}

/// The base URL a client loads: its `endpoint`, or its target's Service.
pub fn client_base_url(
    b: &Benchmark,
    generation: i64,
    c: &ClientSpec,
) -> Result<String, ChildError> {
    if let Some(e) = &c.endpoint {
        return Ok(e.trim_end_matches('/').to_string());
    }
    let target = c.target.as_deref().ok_or_else(|| {
        ChildError::Target(format!("client {} has neither target nor endpoint", c.id))
    })?;
    let s = b
        .spec
        .services
        .iter()
        .find(|s| s.id == target)
        .ok_or_else(|| {
            ChildError::Target(format!("client {}: unknown target service {target}", c.id))
        })?;
    service_url(b, generation, s, c.target_port.as_deref()).ok_or_else(|| {
        ChildError::Target(format!(
            "client {}: service {target} has no such port",
            c.id
        ))
    })
}

/// The indexed Job of a client (one completion index per instance).
pub fn client_job(
    b: &Benchmark,
    generation: i64,
    c: &ClientSpec,
    default_image: &str,
    results_dir: &str,
    upload: Option<&ClientUpload>,
) -> Result<Job, ChildError> {
    let name = b.name_any();
    let base_url = client_base_url(b, generation, c)?;
    let config = LoadgenConfig::for_client(&b.spec, c, &c.id, base_url);
    let config_json = serde_json::to_string(&config).map_err(|e| ChildError::Template {
        id: c.id.clone(),
        message: e.to_string(),
    })?;
    let image = c
        .pod
        .as_ref()
        .map(|p| p.image.clone())
        .unwrap_or_else(|| default_image.to_string());
    let mut values = template_values(b, generation, results_dir).into_map();
    values.insert("id".to_string(), c.id.clone());
    let mut env = vec![EnvVar {
        name: "AIFB_INDEX".to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: format!("metadata.labels['{COMPLETION_INDEX_LABEL}']"),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }];
    // The index is aifbench's (validation refuses a user AIFB_INDEX): every
    // instance writes its own result.
    env.extend(
        env_vars(&c.env, &values, &c.id)?
            .into_iter()
            .filter(|e| e.name != "AIFB_INDEX"),
    );
    let instance = pod_instance_id(&c.id, "$(AIFB_INDEX)");
    let mut args = vec![
        "loadgen".to_string(),
        "--config".to_string(),
        "/etc/aifbench/loadgen.json".to_string(),
        "--id".to_string(),
        instance.clone(),
        "--output".to_string(),
        format!("{RESULTS_MOUNT}/clients/{instance}.json"),
        "--summary-file".to_string(),
        "/dev/termination-log".to_string(),
        "--progress-interval".to_string(),
        "10s".to_string(),
    ];
    if let Some(u) = upload {
        let secret = u.s3.credentials.secret_name.clone().ok_or_else(|| {
            ChildError::Results(format!(
                "client {}: results.s3.credentials.secretName is required under the operator",
                c.id
            ))
        })?;
        // Credentials by reference only: the pod spec never holds them.
        for (var, key) in [
            ("AWS_ACCESS_KEY_ID", SECRET_ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_SECRET_ACCESS_KEY),
        ] {
            env.retain(|e| e.name != var);
            env.push(EnvVar {
                name: var.to_string(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret.clone(),
                        key: key.to_string(),
                        optional: Some(false),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        args.push("--upload-url".to_string());
        args.push(crate::results::s3::s3_url(
            &u.s3.bucket,
            &crate::results::s3::client_result_key(&u.run_prefix, &instance),
        ));
        if let Some(e) = &u.s3.endpoint {
            args.push("--upload-endpoint".to_string());
            args.push(e.clone());
        }
        args.push("--upload-region".to_string());
        args.push(u.s3.region.clone());
        args.push("--upload-path-style".to_string());
        args.push(u.s3.path_style().to_string());
    }
    let results_volume = match b.annotations().get(RESULTS_CLAIM_ANNOTATION) {
        Some(claim) => Volume {
            name: "results".to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.clone(),
                read_only: None,
            }),
            ..Default::default()
        },
        None => Volume {
            name: "results".to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
    };
    let container = Container {
        name: "loadgen".to_string(),
        image: Some(image),
        command: Some(vec!["aifbench".to_string()]),
        args: Some(args),
        env: Some(env),
        resources: c.pod.as_ref().and_then(|p| p.resources.clone()),
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "config".to_string(),
                mount_path: "/etc/aifbench".to_string(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: "results".to_string(),
                mount_path: RESULTS_MOUNT.to_string(),
                sub_path: Some(results_dir.to_string()),
                ..Default::default()
            },
        ]),
        security_context: Some(restricted_security_context(true)),
        ..Default::default()
    };
    let instances = i32::try_from(c.instances).unwrap_or(i32::MAX);
    let pod_labels = labels(&name, generation, "client", &c.id);
    Ok(Job {
        metadata: meta(
            b,
            client_job_name(&name, generation, &c.id, c.instances),
            pod_labels.clone(),
        ),
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".to_string()),
            completions: Some(instances),
            parallelism: Some(instances),
            backoff_limit: Some(0),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        CONFIG_ANNOTATION.to_string(),
                        config_json,
                    )])),
                    ..Default::default()
                }),
                spec: Some(K8sPodSpec {
                    containers: vec![container],
                    restart_policy: Some("Never".to_string()),
                    enable_service_links: Some(false),
                    node_selector: c
                        .pod
                        .as_ref()
                        .map(|p| p.node_selector.clone())
                        .filter(|m| !m.is_empty()),
                    tolerations: c
                        .pod
                        .as_ref()
                        .map(|p| p.tolerations.clone())
                        .filter(|t| !t.is_empty()),
                    volumes: Some(vec![
                        Volume {
                            name: "config".to_string(),
                            downward_api: Some(DownwardAPIVolumeSource {
                                items: Some(vec![DownwardAPIVolumeFile {
                                    path: "loadgen.json".to_string(),
                                    field_ref: Some(ObjectFieldSelector {
                                        field_path: format!(
                                            "metadata.annotations['{CONFIG_ANNOTATION}']"
                                        ),
                                        ..Default::default()
                                    }),
                                    ..Default::default()
                                }]),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        results_volume,
                    ]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_pods_upload_with_the_secret_by_reference() {
        let b: Benchmark = serde_norway::from_str(
            "apiVersion: aifbench.io/v1alpha1\nkind: Benchmark\nmetadata: {name: bm, namespace: ns, uid: u}\nspec:\n  results: {s3: {bucket: res, prefix: runs, endpoint: \"http://garage:3900\", region: garage, credentials: {secretName: s3-creds}}}\n  clients: [{id: load, executor: pod, instances: 2, endpoint: \"http://x:1\", workload: {type: openai}, env: {AWS_SECRET_ACCESS_KEY: plain}}]\n",
        )
        .unwrap();
        let s3 = b.spec.results.clone().unwrap().s3.unwrap();
        let upload = ClientUpload {
            s3,
            run_prefix: "runs/ns/bm-20261129T030000Z".into(),
        };
        let job = client_job(
            &b,
            1,
            &b.spec.clients[0],
            "img",
            "bm-20261129T030000Z",
            Some(&upload),
        )
        .unwrap();
        let c = job.spec.unwrap().template.spec.unwrap().containers[0].clone();
        let args = c.args.unwrap();
        let at = |flag: &str| args[args.iter().position(|a| a == flag).unwrap() + 1].clone();
        assert_eq!(
            at("--upload-url"),
            "s3://res/runs/ns/bm-20261129T030000Z/clients/load-index-$(AIFB_INDEX).json"
        );
        assert_eq!(at("--id"), "load-index-$(AIFB_INDEX)");
        assert_eq!(at("--upload-endpoint"), "http://garage:3900");
        assert_eq!(at("--upload-region"), "garage");
        assert_eq!(at("--upload-path-style"), "true");
        let env = c.env.unwrap();
        for (var, key) in [
            ("AWS_ACCESS_KEY_ID", SECRET_ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_SECRET_ACCESS_KEY),
        ] {
            let vars: Vec<_> = env.iter().filter(|e| e.name == var).collect();
            assert_eq!(vars.len(), 1, "{var} once: {env:?}");
            assert!(vars[0].value.is_none(), "no value in the pod spec");
            let r = vars[0]
                .value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .as_ref()
                .unwrap();
            assert_eq!((r.name.as_str(), r.key.as_str()), ("s3-creds", key));
        }
        // Without results.s3: no upload flags, no AWS variables.
        let job = client_job(&b, 1, &b.spec.clients[0], "img", "f", None).unwrap();
        let c = job.spec.unwrap().template.spec.unwrap().containers[0].clone();
        assert!(!c.args.unwrap().iter().any(|a| a.starts_with("--upload")));
    }
}
