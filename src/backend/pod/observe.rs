//! From the children the API server lists to the engine's [`Observations`]
//! — pure, so every mapping (pending, unschedulable, image errors, ready,
//! exit codes, deleted pods, termination messages) is unit-tested.
//!
//! A failure says why: a waiting container's reason and message
//! (`ImagePullBackOff`; `CrashLoopBackOff` is an exit, with its last run's
//! code and output), an
//! unschedulable pod's `PodScheduled` message, and a failed container's
//! termination message — with `FallbackToLogsOnError` the last lines of
//! its log — tail-bounded and with the pod's literal secret-named env
//! values redacted ([`crate::backend::stderr_tail`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::ResourceExt;

use crate::api::spec::Benchmark;
use crate::api::status::{
    BenchmarkStatus, ClientProgress, ComponentKind, ComponentState, Percentiles, ResultsSummary,
};
use crate::backend::stderr_tail::{Redactor, tail_of, with_tail};
use crate::engine::{Observations, Observed, Placement, RunState};

use super::children::{
    COMPLETION_INDEX_LABEL, COMPONENT_LABEL, GENERATION_LABEL, ROLE_LABEL, child_name, label_value,
    service_url,
};

/// Waiting reasons after which a container will not start without a spec
/// change: the launch failed.
const FATAL_WAITING: &[&str] = &[
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "ErrImageNeverPull",
    "RunContainerError",
];

/// The pod of a component of a run: services by role, client instances by
/// role and completion index (`<id>-n` is index `n-1`).
pub fn find_pod<'a>(
    pods: &'a [Pod],
    generation: i64,
    kind: ComponentKind,
    role: &str,
    index: Option<u32>,
) -> Option<&'a Pod> {
    let gen_s = generation.to_string();
    let role = label_value(role);
    let idx = index.map(|i| i.saturating_sub(1).to_string());
    pods.iter()
        .filter(|p| {
            let l = p.labels();
            l.get(GENERATION_LABEL) == Some(&gen_s)
                && l.get(COMPONENT_LABEL).map(String::as_str) == Some(kind.as_str())
                && l.get(ROLE_LABEL) == Some(&role)
                && (idx.is_none() || l.get(COMPLETION_INDEX_LABEL) == idx.as_ref())
        })
        .max_by_key(|p| p.creation_timestamp().map(|t| t.0))
}

/// What a pod says about its component.
pub fn pod_run_state(pod: &Pod) -> RunState {
    let Some(status) = &pod.status else {
        return RunState::Queued("Pending".to_string());
    };
    let container = status.container_statuses.as_ref().and_then(|c| c.first());
    if let Some(exit) = crash_loop(pod, container) {
        return exit;
    }
    match status.phase.as_deref() {
        Some("Running") => RunState::Running,
        Some("Succeeded") | Some("Failed") => {
            let term = container
                .and_then(|c| c.state.as_ref())
                .and_then(|s| s.terminated.as_ref());
            let code = term.map(|t| t.exit_code).or(match status.phase.as_deref() {
                Some("Succeeded") => Some(0),
                _ => None,
            });
            let why = term
                .and_then(|t| t.reason.clone())
                .filter(|r| r != "Completed")
                .or_else(|| {
                    status.reason.as_ref().map(|r| match &status.message {
                        Some(m) => format!("{r}: {m}"),
                        None => r.clone(),
                    })
                });
            let tail = term
                .filter(|_| code != Some(0))
                .and_then(|t| output_tail(pod, t.message.as_deref()));
            RunState::Exited {
                code,
                reason: with_tail(why, tail),
            }
        }
        _ => {
            if let Some(w) = container
                .and_then(|c| c.state.as_ref())
                .and_then(|s| s.waiting.as_ref())
            {
                let reason = w.reason.clone().unwrap_or_default();
                let msg = match &w.message {
                    Some(m) => format!("{reason}: {m}"),
                    None => reason.clone(),
                };

                if FATAL_WAITING.contains(&reason.as_str()) {
                    return RunState::LaunchFailed(msg);
                }
                if !reason.is_empty() && reason != "ContainerCreating" {
                    return RunState::Queued(msg);
                }
            }
            let unschedulable = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False");
            match unschedulable {
                Some(c) => RunState::Queued(format!(
                    "{}: {}",
                    c.reason
                        .clone()
                        .unwrap_or_else(|| "Unschedulable".to_string()),
                    c.message.clone().unwrap_or_default()
                )),
                None => RunState::Queued("Pending".to_string()),
            }
        }
    }
}

/// A container in `CrashLoopBackOff` (the pod may still say Running): it
/// exited, with its last exit's code and what that run said. The
/// operator's children restart nothing (`restartPolicy: Never`), so this
/// is a pod someone else changed; it is a failure all the same.
fn crash_loop(pod: &Pod, container: Option<&ContainerStatus>) -> Option<RunState> {
    let c = container?;
    let w = c.state.as_ref()?.waiting.as_ref()?;
    if w.reason.as_deref() != Some("CrashLoopBackOff") {
        return None;
    }
    let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let why = match &w.message {
        Some(m) => format!("CrashLoopBackOff: {m}"),
        None => "CrashLoopBackOff".to_string(),
    };
    let tail = last.and_then(|t| output_tail(pod, t.message.as_deref()));
    Some(RunState::Exited {
        code: last.map(|t| t.exit_code),
        reason: with_tail(Some(why), tail),
    })
}

/// The tail of a container's termination message, unless it is a client's
/// summary (a JSON object): with `FallbackToLogsOnError`, the last lines of
/// its log.
fn output_tail(pod: &Pod, message: Option<&str>) -> Option<String> {
    let m = message?;
    if serde_json::from_str::<serde_json::Value>(m).is_ok_and(|v| v.is_object()) {
        return None;
    }
    tail_of(m, &pod_redactor(pod))
}

/// The literal secret-named env values of the pod's containers (values
/// from Secrets are not in the pod; a component printing one is beyond
/// reach here).
fn pod_redactor(pod: &Pod) -> Redactor {
    let vars: Vec<(&str, &str)> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.env.iter().flatten())
        .filter_map(|e| e.value.as_deref().map(|v| (e.name.as_str(), v)))
        .collect();
    Redactor::from_vars(vars)
}

/// The pod's readiness condition.
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The images of a pod's containers as the runtime resolved them: `image@
/// sha256:...` from each container status's `imageID` once pulled, else the
/// image as named (init containers first, as they ran).
pub fn image_digests(pod: &Pod) -> Vec<String> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let statuses = status.init_container_statuses.iter().flatten();
    statuses
        .chain(status.container_statuses.iter().flatten())
        .map(|c| match c.image_id.rsplit_once("@sha256:") {
            Some((_, digest)) if !digest.is_empty() => {
                let name = c.image.split('@').next().unwrap_or(&c.image);
                format!("{name}@sha256:{digest}")
            }
            _ => c.image.clone(),
        })
        .collect()
}

/// The headline numbers a client container left as its termination message.
pub fn termination_summary(pod: &Pod) -> Option<ResultsSummary> {
    let msg = pod
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .terminated
        .as_ref()?
        .message
        .as_ref()?;
    serde_json::from_str(msg).ok()
}

/// Builds the engine's observations of a run from its listed pods.
/// `monitors` says what the operator's own monitor tasks do; `cancel` asks
/// the engine to cancel (deletion, or a spec edited mid-run).
pub fn observe(
    b: &Benchmark,
    status: &BenchmarkStatus,
    generation: i64,
    pods: &[Pod],
    monitors: &BTreeMap<String, RunState>,
    cancel: bool,
) -> Observations {
    let mut obs = Observations {
        cancel_requested: cancel,
        ..Default::default()
    };
    let name = b.name_any();
    for c in &status.components {
        let mut o = Observed::default();
        match c.kind {
            ComponentKind::Monitor => {
                o.run = match monitors.get(&c.id) {
                    Some(r) => r.clone(),
                    // Lost with an operator restart: it ends here.
                    None if c.state.is_active() => RunState::Exited {
                        code: Some(0),
                        reason: Some("monitor task not running (operator restarted)".to_string()),
                    },
                    None => RunState::Unknown,
                };
            }
            kind => {
                let (role, index) = match kind {
                    ComponentKind::Client => match c.id.rsplit_once('-') {
                        Some((role, n)) => (role.to_string(), n.parse::<u32>().ok()),
                        None => (c.id.clone(), None),
                    },
                    _ => (c.id.clone(), None),
                };
                match find_pod(pods, generation, kind, &role, index) {
                    Some(pod) => {
                        o.run = pod_run_state(pod);
                        o.healthy = pod_ready(pod);
                        o.placement = Placement {
                            pod_name: Some(pod.name_any()),
                            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                            endpoint: match kind {
                                ComponentKind::Service => b
                                    .spec
                                    .services
                                    .iter()
                                    .find(|s| s.id == c.id)
                                    .and_then(|s| service_url(b, generation, s, None)),
                                _ => None,
                            },
                            images: image_digests(pod),
                            ..Default::default()
                        };
                        if let Some(s) = termination_summary(pod) {
                            o.progress = Some(ClientProgress {
                                requests: s.requests,
                                errors: s.errors,
                                elapsed_seconds: s.duration_seconds,
                            });
                        }
                    }
                    None if c.state == ComponentState::Stopping => {
                        o.run = RunState::Exited {
                            code: None,
                            reason: Some("pod deleted".to_string()),
                        };
                    }
                    None if c.state.is_active() && c.state != ComponentState::Launching => {
                        o.run = RunState::Exited {
                            code: None,
                            reason: Some(format!(
                                "pod {} disappeared",
                                child_name(&name, generation, &role)
                            )),
                        };
                    }
                    None => {}
                }
            }
        }
        obs.components.insert(c.id.clone(), o);
    }
    obs
}

/// Merges the client instances' headline numbers: counts and throughputs
/// add up; means and medians are request-weighted; the other percentiles
/// take the worst instance (an upper bound; the exact merge of the
/// histograms needs the full results, see `results.s3`), so the merge of
/// more than one instance is marked `approximate`.
pub fn merge_summaries(parts: &[ResultsSummary]) -> Option<ResultsSummary> {
    if parts.is_empty() {
        return None;
    }
    let total: u64 = parts.iter().map(|p| p.requests).sum();
    let weight = |p: &ResultsSummary| {
        if total == 0 {
            1.0 / parts.len() as f64
        } else {
            p.requests as f64 / total as f64
        }
    };
    let wmean = |f: &dyn Fn(&ResultsSummary) -> Option<f64>| -> Option<f64> {
        let vals: Vec<(f64, f64)> = parts
            .iter()
            .filter_map(|p| f(p).map(|v| (v, weight(p))))
            .collect();
        if vals.is_empty() {
            return None;
        }
        let w: f64 = vals.iter().map(|(_, w)| w).sum();
        Some(round3(
            vals.iter().map(|(v, w)| v * w).sum::<f64>() / w.max(f64::EPSILON),
        ))
    };
    let max =
        |f: &dyn Fn(&ResultsSummary) -> Option<f64>| parts.iter().filter_map(f).reduce(f64::max);
    let sum = |f: &dyn Fn(&ResultsSummary) -> Option<f64>| {
        parts.iter().filter_map(f).reduce(|a, b| a + b).map(round3)
    };
    let mut latency_ms = BTreeMap::new();
    let names: std::collections::BTreeSet<&String> =
        parts.iter().flat_map(|p| p.latency_ms.keys()).collect();
    for n in names {
        let get = |p: &ResultsSummary| p.latency_ms.get(n).cloned();
        let mean = wmean(&|p| get(p).map(|x| x.mean)).unwrap_or_default();
        let p50 = wmean(&|p| get(p).map(|x| x.p50)).unwrap_or_default();
        let pick = |f: fn(&Percentiles) -> f64| max(&|p| get(p).map(|x| f(&x))).unwrap_or_default();
        latency_ms.insert(
            n.clone(),
            Percentiles {
                mean,
                p50,
                p90: pick(|x| x.p90),
                p95: pick(|x| x.p95),
                p99: pick(|x| x.p99),
            },
        );
    }
    Some(ResultsSummary {
        requests: total,
        errors: parts.iter().map(|p| p.errors).sum(),
        duration_seconds: max(&|p| Some(p.duration_seconds)).unwrap_or_default(),
        request_throughput: sum(&|p| Some(p.request_throughput)).unwrap_or_default(),
        output_token_throughput: sum(&|p| p.output_token_throughput),
        bytes_per_second: sum(&|p| p.bytes_per_second),
        ttft_p50_ms: wmean(&|p| p.ttft_p50_ms),
        ttft_p99_ms: max(&|p| p.ttft_p99_ms),
        itl_p50_ms: wmean(&|p| p.itl_p50_ms),
        latency_p50_ms: wmean(&|p| p.latency_p50_ms),
        latency_p99_ms: max(&|p| p.latency_p99_ms),
        latency_ms,
        // One instance's own headline is exact; more are merged roughly.
        approximate: parts.len() > 1 || parts.iter().any(|p| p.approximate),
        // A sweep's curve needs the merged stages (`results.s3`); one
        // instance's own is exact.
        sweep: match parts {
            [one] => one.sweep.clone(),
            _ => None,
        },
        // Client instances report no GPU figures; the report adds them.
        gpu: None,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
        PodCondition, PodStatus,
    };

    fn pod_with(status: PodStatus) -> Pod {
        Pod {
            status: Some(status),
            ..Default::default()
        }
    }

    fn waiting(reason: &str) -> PodStatus {
        PodStatus {
            phase: Some("Pending".into()),
            container_statuses: Some(vec![ContainerStatus {
                state: Some(ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(reason.into()),
                        message: Some("detail".into()),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn images_carry_the_digests_the_runtime_resolved() {
        let pod = pod_with(PodStatus {
            container_statuses: Some(vec![
                ContainerStatus {
                    name: "server".into(),
                    image: "vllm/vllm-openai:v0.6.3".into(),
                    image_id: "docker.io/vllm/vllm-openai@sha256:0123abcd".into(),
                    ..Default::default()
                },
                ContainerStatus {
                    name: "pending".into(),
                    image: "busybox:1".into(),
                    image_id: String::new(),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        });
        assert_eq!(
            image_digests(&pod),
            ["vllm/vllm-openai:v0.6.3@sha256:0123abcd", "busybox:1"]
        );
        assert!(image_digests(&Pod::default()).is_empty());
    }

    #[test]
    fn pod_states_map_to_run_states() {
        assert_eq!(
            pod_run_state(&pod_with(waiting("InvalidImageName"))),
            RunState::LaunchFailed("InvalidImageName: detail".into())
        );
        assert_eq!(
            pod_run_state(&pod_with(waiting("ImagePullBackOff"))),
            RunState::Queued("ImagePullBackOff: detail".into())
        );
        let unsched = PodStatus {
            phase: Some("Pending".into()),
            conditions: Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("Unschedulable".into()),
                message: Some("0/3 nodes have nvidia.com/gpu".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(
            pod_run_state(&pod_with(unsched)),
            RunState::Queued("Unschedulable: 0/3 nodes have nvidia.com/gpu".into())
        );
        let failed = PodStatus {
            phase: Some("Failed".into()),
            container_statuses: Some(vec![ContainerStatus {
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: 137,
                        reason: Some("OOMKilled".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(
            pod_run_state(&pod_with(failed)),
            RunState::Exited {
                code: Some(137),
                reason: Some("OOMKilled".into())
            }
        );
    }

    fn from_json(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_failed_container_says_why_from_its_termination_message() {
        let pod = from_json(serde_json::json!({
            "metadata": {"name": "bm-g1-llm"},
            "spec": {"containers": [{"name": "llm", "image": "i",
                "env": [{"name": "HF_TOKEN", "value": "hf_literal_secret"},
                        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]},
            "status": {"phase": "Failed", "containerStatuses": [{
                "name": "llm", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 1, "reason": "Error",
                    "message": "Loading model\ntoken hf_literal_secret\nModuleNotFoundError: No module named 'llama_cpp'\n"}}}]}
        }));
        assert_eq!(
            pod_run_state(&pod),
            RunState::Exited {
                code: Some(1),
                reason: Some(
                    "Error\nLoading model\ntoken ***\nModuleNotFoundError: No module named 'llama_cpp'"
                        .into()
                )
            }
        );
        // A client's summary as its termination message is no error output.
        let client = from_json(serde_json::json!({
            "status": {"phase": "Failed", "containerStatuses": [{
                "name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 3, "reason": "Error",
                    "message": "{\"requests\": 10, \"errors\": 10}"}}}]}
        }));
        assert_eq!(
            pod_run_state(&client),
            RunState::Exited {
                code: Some(3),
                reason: Some("Error".into())
            }
        );
        // An evicted pod: the pod's own reason and message.
        let evicted = from_json(serde_json::json!({
            "status": {"phase": "Failed", "reason": "Evicted",
                "message": "The node was low on resource: memory."}
        }));
        assert_eq!(
            pod_run_state(&evicted),
            RunState::Exited {
                code: None,
                reason: Some("Evicted: The node was low on resource: memory.".into())
            }
        );
    }

    #[test]
    fn waiting_pods_say_why_from_json_fixtures() {
        let crash = from_json(serde_json::json!({
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                    "message": "back-off 1m20s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                    "message": "panic: bad flag --foo\n"}}}]}
        }));
        assert_eq!(
            pod_run_state(&crash),
            RunState::Exited {
                code: Some(1),
                reason: Some(
                    "CrashLoopBackOff: back-off 1m20s restarting failed container\npanic: bad flag --foo"
                        .into()
                )
            }
        );
        let pull = from_json(serde_json::json!({
            "status": {"phase": "Pending", "containerStatuses": [{
                "name": "c", "image": "nope:1", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                    "message": "Back-off pulling image \"nope:1\""}}}]}
        }));
        assert_eq!(
            pod_run_state(&pull),
            RunState::Queued("ImagePullBackOff: Back-off pulling image \"nope:1\"".into())
        );
        let unsched = from_json(serde_json::json!({
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled",
                "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."}]}
        }));
        assert_eq!(
            pod_run_state(&unsched),
            RunState::Queued(
                "Unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.".into()
            )
        );
    }

    #[test]
    fn components_find_their_pods() {
        use crate::api::status::ComponentStatus;
        let b: Benchmark = serde_norway::from_str(
            "apiVersion: aifbench.io/v1alpha1\nkind: Benchmark\nmetadata: {name: bm, namespace: ns}\nspec:\n  services: [{id: sim, executor: pod, ports: [{port: 80}], pod: {image: i}}]\n  clients: [{id: my-load, executor: pod, instances: 2, target: sim, workload: {type: openai}}]\n",
        )
        .unwrap();
        let mut status = BenchmarkStatus::default();
        for (id, kind, state) in [
            ("sim", ComponentKind::Service, ComponentState::Stopping),
            ("my-load-1", ComponentKind::Client, ComponentState::Running),
            (
                "my-load-2",
                ComponentKind::Client,
                ComponentState::Launching,
            ),
        ] {
            let mut c = ComponentStatus::new(id, kind, "pod");
            c.state = state;
            status.components.push(c);
        }
        let mut pod = pod_with(PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        });
        let mut labels = super::super::children::labels("bm", 1, "client", "my-load");
        labels.insert(COMPLETION_INDEX_LABEL.into(), "0".into());
        pod.metadata.labels = Some(labels);
        pod.metadata.name = Some("bm-g1-my-load-0-x".into());
        let obs = observe(&b, &status, 1, &[pod.clone()], &BTreeMap::new(), false);
        assert_eq!(obs.components["my-load-1"].run, RunState::Running);
        assert_eq!(
            obs.components["my-load-1"].placement.pod_name.as_deref(),
            Some("bm-g1-my-load-0-x")
        );
        // Not created yet: unknown; a stopped service whose pod is gone: exited.
        assert_eq!(obs.components["my-load-2"].run, RunState::Unknown);
        assert!(matches!(
            obs.components["sim"].run,
            RunState::Exited { code: None, .. }
        ));
        // Pods of another generation are not this run's.
        let obs = observe(&b, &status, 2, &[pod], &BTreeMap::new(), false);
        assert_eq!(
            obs.components["my-load-1"].run,
            RunState::Exited {
                code: None,
                reason: Some("pod bm-g2-my-load disappeared".into())
            }
        );
    }

    #[test]
    fn summaries_merge() {
        let a = ResultsSummary {
            requests: 100,
            errors: 1,
            duration_seconds: 10.0,
            request_throughput: 10.0,
            latency_p50_ms: Some(10.0),
            latency_p99_ms: Some(50.0),
            ..Default::default()
        };
        let b = ResultsSummary {
            requests: 300,
            errors: 0,
            duration_seconds: 12.0,
            request_throughput: 25.0,
            latency_p50_ms: Some(20.0),
            latency_p99_ms: Some(40.0),
            ..Default::default()
        };
        let a1 = a.clone();
        let m = merge_summaries(&[a, b]).unwrap();
        assert_eq!(m.requests, 400);
        assert_eq!(m.errors, 1);
        assert_eq!(m.request_throughput, 35.0);
        assert_eq!(m.latency_p50_ms, Some(17.5));
        assert_eq!(m.latency_p99_ms, Some(50.0));
        assert_eq!(m.duration_seconds, 12.0);
        assert!(m.approximate, "worst-instance percentiles are approximate");
        assert!(!merge_summaries(&[a1]).unwrap().approximate);
        assert!(merge_summaries(&[]).is_none());
    }
}
