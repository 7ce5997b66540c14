//! The parts of an `aifbench submit` allocation (pure): one part per Slurm
//! partition the `executor: slurm` components name, in the order they
//! first appear (services first, then clients, in declaration order; a
//! component without `slurm.partition` is in the part of the cluster's
//! default partition). One part is a plain batch job; several are one
//! HETEROGENEOUS job (`#SBATCH hetjob` between the parts), each part a
//! het group whose steps start with `srun --het-group=<n>`, so the GPU
//! part (the service) and the CPU part (the clients) are each allocated
//! and billed only for their own resources. The driver runs in part 0
//! (the batch script runs on the first node of the first het group).

use crate::api::spec::{BenchmarkSpec, ExecutorKind, SlurmSpec};
use crate::api::status::ComponentKind;
use crate::engine::plan_components;

/// One component instance of a part.
#[derive(Clone, Debug, PartialEq)]
pub struct Member<'a> {
    /// Its id (`chat-2` for an instance of client `chat`).
    pub id: String,
    /// Where its Slurm settings come from (`spec.clients[0].slurm`).
    pub path: String,
    /// Its Slurm settings.
    pub slurm: Option<&'a SlurmSpec>,
}

/// The components sharing one partition: one het group.
#[derive(Clone, Debug, PartialEq)]
pub struct Part<'a> {
    /// The partition (None: the cluster's default).
    pub partition: Option<String>,
    /// Its component instances, services first, in declaration order.
    pub members: Vec<Member<'a>>,
}

/// The parts of `spec`'s components that take nodes of the allocation
/// (`in_allocation` of their executor): one per partition, in order of
/// first appearance. Empty when no component takes nodes.
pub fn parts(spec: &BenchmarkSpec, in_allocation: impl Fn(ExecutorKind) -> bool) -> Vec<Part<'_>> {
    let mut parts: Vec<Part<'_>> = Vec::new();
    for p in plan_components(spec) {
        if !p.executor.is_some_and(&in_allocation) {
            continue;
        }
        let (slurm, path) = match p.kind {
            ComponentKind::Service => (
                spec.services[p.index].slurm.as_ref(),
                format!("spec.services[{}].slurm", p.index),
            ),
            ComponentKind::Client => (
                spec.clients[p.index].slurm.as_ref(),
                format!("spec.clients[{}].slurm", p.index),
            ),
            ComponentKind::Monitor => continue,
        };
        let partition = slurm.and_then(|s| s.partition.clone());
        let member = Member {
            id: p.id,
            path,
            slurm,
        };
        match parts.iter_mut().find(|g| g.partition == partition) {
            Some(g) => g.members.push(member),
            None => parts.push(Part {
                partition,
                members: vec![member],
            }),
        }
    }
    parts
}

/// The het group option of a step of part `group` (`--het-group=<n>`).
pub fn het_group_arg(group: u32) -> String {
    format!("--het-group={group}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::spec::{ClientSpec, ServiceSpec};

    fn slurm(partition: Option<&str>) -> Option<SlurmSpec> {
        Some(SlurmSpec {
            partition: partition.map(String::from),
            ..Default::default()
        })
    }

    #[test]
    fn one_part_per_partition_services_first() {
        let mut spec = BenchmarkSpec::default();
        spec.clients.push(ClientSpec {
            id: "chat".into(),
            instances: 2,
            executor: ExecutorKind::Slurm,
            slurm: slurm(Some("cpu")),
            ..Default::default()
        });
        spec.services.push(ServiceSpec {
            id: "vllm".into(),
            executor: ExecutorKind::Slurm,
            slurm: slurm(Some("gpu")),
            ..Default::default()
        });
        spec.services.push(ServiceSpec {
            id: "local".into(),
            executor: ExecutorKind::Process,
            ..Default::default()
        });
        spec.services.push(ServiceSpec {
            id: "exporter".into(),
            executor: ExecutorKind::Slurm,
            slurm: slurm(Some("gpu")),
            ..Default::default()
        });
        let p = parts(&spec, |k| k == ExecutorKind::Slurm);
        let ids: Vec<(Option<&str>, Vec<&str>)> = p
            .iter()
            .map(|g| {
                (
                    g.partition.as_deref(),
                    g.members.iter().map(|m| m.id.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [
                (Some("gpu"), vec!["vllm", "exporter"]),
                (Some("cpu"), vec!["chat-1", "chat-2"])
            ]
        );
        assert_eq!(p[1].members[0].path, "spec.clients[0].slurm");
        assert_eq!(het_group_arg(1), "--het-group=1");
        // The same partition everywhere (or none named): one part.
        spec.clients[0].slurm = slurm(Some("gpu"));
        assert_eq!(parts(&spec, |k| k == ExecutorKind::Slurm).len(), 1);
        assert!(parts(&BenchmarkSpec::default(), |_| true).is_empty());
    }
}
