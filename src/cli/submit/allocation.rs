//! The Slurm settings of the allocation holding a whole run (pure): one
//! [`SlurmSpec`] per part of it ([`backend::slurm::het::parts`]: one per
//! partition the components name). One part is a plain batch job of whole
//! nodes (`--exclusive`); several are the het groups of one heterogeneous
//! job, each sized for its own components only — whole nodes where one of
//! them asks `slurm.exclusive`, else the CPUs its steps take on its
//! busiest node — so neither part is billed for the other's resources.
//!
//! [`backend::slurm::het::parts`]: crate::backend::slurm::het::parts

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::spec::{Benchmark, SlurmSpec};
use crate::backend::Backends;
use crate::backend::slurm::het::{Member, parts};
use crate::backend::slurm::steps::NodePlan;

/// The one value of a setting the members agree on; an error naming both
/// fields when two differ.
fn agreed(
    members: &[Member<'_>],
    field: &str,
    get: impl Fn(&SlurmSpec) -> Option<&String>,
) -> Result<Option<String>, String> {
    let mut found: Option<(&str, &String)> = None;
    for m in members {
        let Some(v) = m.slurm.and_then(&get) else {
            continue;
        };
        match found {
            Some((path, first)) if first != v => {
                return Err(format!(
                    "{path}.{field} is {first:?} but {}.{field} is {v:?}: the components of one partition share one allocation (or one het group), which has one {field}; run them with `aifbench run` (a batch job each) instead",
                    m.path
                ));
            }
            Some(_) => {}
            None => found = Some((&m.path, v)),
        }
    }
    Ok(found.map(|(_, v)| v.clone()))
}

/// The time limit of every part: `execution.runDeadline` + the longest
/// health-check timeout + 2 × `execution.stopGracePeriod` + `margin`.
fn time_limit(b: &Benchmark, margin: Duration) -> Result<Duration, String> {
    let deadline = b.spec.execution.run_deadline.ok_or_else(|| {
        "spec.execution.runDeadline is not set: `aifbench submit` sizes the allocation's time limit from it (set it, e.g. runDeadline: 30m)".to_string()
    })?;
    let health = b
        .spec
        .services
        .iter()
        .filter_map(|s| s.healthcheck.as_ref())
        .map(|h| h.timeout.get())
        .max()
        .unwrap_or_default();
    let grace = b.spec.execution.stop_grace_period.get();
    Ok(deadline.get() + health + 2 * grace + margin)
}

/// The settings the members of one part agree on, with `nodes` and
/// `time`; `exclusive` as given.
fn part_spec(
    members: &[Member<'_>],
    nodes: u32,
    time: Duration,
    exclusive: bool,
) -> Result<SlurmSpec, String> {
    let mut extra: Vec<String> = Vec::new();
    for m in members {
        for e in m
            .slurm
            .map(|s| s.extra_directives.as_slice())
            .unwrap_or_default()
        {
            if !extra.contains(e) {
                extra.push(e.clone());
            }
        }
    }
    if let Some(g) = agreed(members, "gpus", |s| s.gpus.as_ref())? {
        extra.push(format!("--gpus-per-node={g}"));
    }
    Ok(SlurmSpec {
        partition: agreed(members, "partition", |s| s.partition.as_ref())?,
        account: agreed(members, "account", |s| s.account.as_ref())?,
        qos: agreed(members, "qos", |s| s.qos.as_ref())?,
        reservation: agreed(members, "reservation", |s| s.reservation.as_ref())?,
        constraint: agreed(members, "constraint", |s| s.constraint.as_ref())?,
        gres: agreed(members, "gres", |s| s.gres.as_ref())?,
        nodes: Some(nodes),
        exclusive,
        time: Some(crate::api::duration::Duration(time)),
        extra_directives: extra,
        ..Default::default()
    })
}

/// The CPUs a non-exclusive het group needs on its busiest node: the
/// steps placed there (`ntasks` × `cpusPerTask`, 1 × 1 by default), plus
/// one for the driver on the first node of group 0.
fn busiest_node_cpus(members: &[Member<'_>], plan: &NodePlan, first: u32, driver: bool) -> u32 {
    let mut per_node: BTreeMap<u32, u32> = BTreeMap::new();
    if driver {
        per_node.insert(first, 1);
    }
    for m in members {
        let cpus = m
            .slurm
            .map(|s| s.ntasks.unwrap_or(1) * s.cpus_per_task.unwrap_or(1))
            .unwrap_or(1);
        for n in plan.placed.get(&m.id).into_iter().flatten() {
            *per_node.entry(*n).or_default() += cpus;
        }
    }
    per_node.values().copied().max().unwrap_or(1).max(1)
}

/// The Slurm settings of the allocation holding the whole run of `b`:
/// one part (a plain job: whole nodes, as many as [`Backends::node_plan`]
/// needs, the settings the components agree on), or one per partition (a
/// heterogeneous job: each group's own nodes, settings and CPUs). Every
/// component's modules are loaded once by the batch script, so they are
/// all in the first part. The time limit of each is
/// `execution.runDeadline` + the longest health-check timeout + 2 ×
/// `execution.stopGracePeriod` + `margin`.
pub fn allocation_parts(b: &Benchmark, margin: Duration) -> Result<Vec<SlurmSpec>, String> {
    let time = time_limit(b, margin)?;
    let plan = Backends::node_plan(&b.spec);
    let parts = parts(&b.spec, Backends::runs_in_allocation);
    let mut modules: Vec<String> = Vec::new();
    for m in parts.iter().flat_map(|p| &p.members) {
        for module in m.slurm.map(|s| s.modules.as_slice()).unwrap_or_default() {
            if !modules.contains(module) {
                modules.push(module.clone());
            }
        }
    }
    let mut specs = Vec::new();
    if parts.len() <= 1 {
        let members: Vec<Member<'_>> = parts.into_iter().flat_map(|p| p.members).collect();
        specs.push(part_spec(&members, plan.nodes, time, true)?);
    } else {
        let mut first = 0u32;
        for (g, part) in parts.iter().enumerate() {
            let nodes = plan.group_nodes.get(g).copied().unwrap_or(1);
            let exclusive = part
                .members
                .iter()
                .any(|m| m.slurm.is_some_and(|s| s.exclusive));
            let mut spec = part_spec(&part.members, nodes, time, exclusive)?;
            if !exclusive {
                spec.ntasks = Some(nodes);
                spec.cpus_per_task = Some(busiest_node_cpus(&part.members, &plan, first, g == 0));
            }
            specs.push(spec);
            first += nodes;
        }
    }
    if let Some(s) = specs.first_mut() {
        s.modules = modules;
    }
    Ok(specs)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::api::spec::{ClientSpec, ExecutorKind, ServiceSpec};
    use crate::backend::slurm::render::slurm_time;

    fn time_text(s: &SlurmSpec) -> String {
        s.time.map(|t| slurm_time(t.get())).unwrap_or_default()
    }

    pub(crate) fn bench(partitions: [&str; 2], deadline: Option<u64>) -> Benchmark {
        let mut b = Benchmark::new("b", Default::default());
        let slurm = |p: &str, cpus: u32| {
            Some(SlurmSpec {
                partition: Some(p.to_string()),
                account: Some("p200000".to_string()),
                cpus_per_task: Some(cpus),
                modules: vec!["Apptainer/1.3".to_string()],
                ..Default::default()
            })
        };
        b.spec.services.push(ServiceSpec {
            id: "sim".into(),
            executor: ExecutorKind::Slurm,
            slurm: slurm(partitions[0], 4).map(|s| SlurmSpec {
                gres: Some("gpu:1".into()),
                ..s
            }),
            ..Default::default()
        });
        b.spec.clients.push(ClientSpec {
            id: "chat".into(),
            instances: 2,
            executor: ExecutorKind::Slurm,
            slurm: slurm(partitions[1], 2).map(|s| SlurmSpec {
                modules: vec!["tools/1".to_string()],
                ..s
            }),
            ..Default::default()
        });
        b.spec.execution.run_deadline = deadline.map(crate::api::duration::Duration::from_secs);
        b.spec.execution.stop_grace_period = crate::api::duration::Duration::from_secs(5);
        b
    }

    #[test]
    fn the_allocation_holds_every_component_for_the_deadline() {
        let parts =
            allocation_parts(&bench(["cpu", "cpu"], Some(600)), Duration::from_secs(60)).unwrap();
        assert_eq!(parts.len(), 1);
        let s = &parts[0];
        assert_eq!(s.partition.as_deref(), Some("cpu"));
        assert_eq!(s.account.as_deref(), Some("p200000"));
        assert_eq!(s.gres.as_deref(), Some("gpu:1"));
        assert_eq!(s.nodes, Some(1));
        assert!(s.exclusive);
        assert_eq!((s.ntasks, s.cpus_per_task), (None, None));
        assert_eq!(s.modules, ["Apptainer/1.3", "tools/1"]);
        // 600 s + no health check + 2 × 5 s + 60 s.
        assert_eq!(time_text(s), "00:11:10");
    }

    #[test]
    fn different_partitions_are_het_groups_sized_for_their_own_components() {
        let parts = allocation_parts(&bench(["gpu", "cpu"], Some(600)), Duration::ZERO).unwrap();
        assert_eq!(parts.len(), 2);
        let (gpu, cpu) = (&parts[0], &parts[1]);
        assert_eq!(gpu.partition.as_deref(), Some("gpu"));
        assert_eq!(cpu.partition.as_deref(), Some("cpu"));
        // The GPU part: the service's 4 CPUs and its GPU, plus the driver's CPU.
        assert_eq!(
            (gpu.nodes, gpu.ntasks, gpu.cpus_per_task),
            (Some(1), Some(1), Some(5))
        );
        assert_eq!(gpu.gres.as_deref(), Some("gpu:1"));
        // The CPU part: two clients of 2 CPUs on one node, no GPU.
        assert_eq!(
            (cpu.nodes, cpu.ntasks, cpu.cpus_per_task),
            (Some(1), Some(1), Some(4))
        );
        assert_eq!(cpu.gres, None);
        assert!(!gpu.exclusive && !cpu.exclusive);
        // Every module is loaded once, by the batch script (part 0).
        assert_eq!(gpu.modules, ["Apptainer/1.3", "tools/1"]);
        assert!(cpu.modules.is_empty());
        assert_eq!(time_text(gpu), time_text(cpu));
        // A component asking for whole nodes makes its group whole nodes.
        let mut b = bench(["gpu", "cpu"], Some(600));
        if let Some(s) = b.spec.services[0].slurm.as_mut() {
            s.exclusive = true;
        }
        let parts = allocation_parts(&b, Duration::ZERO).unwrap();
        assert!(parts[0].exclusive && !parts[1].exclusive);
        assert_eq!(parts[0].cpus_per_task, None);
    }

    #[test]
    fn what_cannot_be_one_allocation_names_the_fields() {
        let mut b = bench(["cpu", "cpu"], Some(600));
        if let Some(s) = b.spec.clients[0].slurm.as_mut() {
            s.account = Some("p200001".into());
        }
        let e = allocation_parts(&b, Duration::ZERO).unwrap_err();
        assert!(
            e.contains("spec.services[0].slurm.account is \"p200000\"")
                && e.contains("spec.clients[0].slurm.account is \"p200001\""),
            "{e}"
        );
        let e = allocation_parts(&bench(["cpu", "cpu"], None), Duration::ZERO).unwrap_err();
        assert!(
            e.starts_with("spec.execution.runDeadline is not set"),
            "{e}"
        );
    }
}
