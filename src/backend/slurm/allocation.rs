//! The Slurm allocation the driver of `aifbench submit` runs in, and where
//! its components go in it.
//!
//! - [`Allocation`]: the job the driver runs in and its nodes, read from
//!   `$SLURM_JOB_ID` and `$SLURM_JOB_NODELIST` (expanded by `scontrol show
//!   hostnames`; in a heterogeneous job each group's
//!   `$SLURM_JOB_NODELIST_HET_GROUP_<n>`, one after the other:
//!   [`node_lists`], pure).
//! - [`NodePlan`]: which node(s) of the allocation each `executor: slurm`
//!   component runs on, pure, and how many nodes the allocation needs: a
//!   component with `slurm.exclusive` gets `slurm.nodes` (default 1) whole
//!   nodes of its own, services first, in declaration order; every other
//!   one shares one node (the last). Components in different partitions
//!   are different het groups of a heterogeneous job (`super::het`), each
//!   placed so on nodes of its own. `aifbench submit` sizes the batch job
//!   with it, and the driver inside places the steps
//!   (`super::steps`) with it.

use std::collections::BTreeMap;

use super::SlurmError;
use crate::api::spec::{BenchmarkSpec, ExecutorKind};

/// The Slurm job the driver runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// `$SLURM_JOB_ID`.
    pub job_id: String,
    /// Its nodes, in Slurm's order (the batch host first); in a
    /// heterogeneous job each het group's nodes, one group after the other.
    pub nodes: Vec<String>,
}

impl Allocation {
    /// The allocation this process runs in: `$SLURM_JOB_ID`, and its node
    /// lists ([`node_lists`]) expanded by `scontrol show hostnames`.
    pub async fn from_env() -> Result<Self, SlurmError> {
        let job_id = std::env::var("SLURM_JOB_ID")
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                SlurmError::Config(
                    "job steps need an allocation: SLURM_JOB_ID is not set (run inside `aifbench submit`'s job, or sbatch/salloc)"
                        .to_string(),
                )
            })?;
        let mut nodes = Vec::new();
        for list in node_lists(|k| std::env::var(k).ok())? {
            nodes.extend(hostnames(&list).await?);
        }
        Ok(Self { job_id, nodes })
    }
}

/// The node lists of the allocation, read through `var` (pure): in a
/// heterogeneous job (`SLURM_HET_SIZE` > 1) each group's
/// `SLURM_JOB_NODELIST_HET_GROUP_<n>` in order, else
/// `SLURM_JOB_NODELIST` (or `SLURM_NODELIST`).
pub fn node_lists(var: impl Fn(&str) -> Option<String>) -> Result<Vec<String>, SlurmError> {
    let het: u32 = var("SLURM_HET_SIZE")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if het > 1 {
        return (0..het)
            .map(|g| {
                let k = format!("SLURM_JOB_NODELIST_HET_GROUP_{g}");
                var(&k).filter(|v| !v.is_empty()).ok_or_else(|| {
                    SlurmError::Config(format!(
                        "{k} is not set inside a heterogeneous allocation of {het} groups"
                    ))
                })
            })
            .collect();
    }
    var("SLURM_JOB_NODELIST")
        .or_else(|| var("SLURM_NODELIST"))
        .map(|l| vec![l])
        .ok_or_else(|| {
            SlurmError::Config("SLURM_JOB_NODELIST is not set inside the allocation".into())
        })
}

/// `scontrol show hostnames LIST`: the node names of a Slurm node list.
async fn hostnames(list: &str) -> Result<Vec<String>, SlurmError> {
    let out = tokio::process::Command::new("scontrol")
        .args(["show", "hostnames", list])
        .output()
        .await
        .map_err(|e| SlurmError::Command {
            command: "scontrol show hostnames".into(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(SlurmError::Command {
            command: "scontrol show hostnames".into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let nodes = parse_hostnames(&String::from_utf8_lossy(&out.stdout));
    if nodes.is_empty() {
        return Err(SlurmError::Parse(format!(
            "scontrol show hostnames {list:?} printed no node"
        )));
    }
    Ok(nodes)
}

/// The node names `scontrol show hostnames` printed, one a line.
pub fn parse_hostnames(out: &str) -> Vec<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Which nodes of the allocation each `executor: slurm` component runs on
/// (indexes into [`Allocation::nodes`]), and how many nodes that takes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodePlan {
    /// Nodes the allocation needs (at least 1: the driver's).
    pub nodes: u32,
    /// Component id -> its node indexes.
    pub placed: BTreeMap<String, Vec<u32>>,
    /// Component id -> its het group, when the components name more than
    /// one partition (a heterogeneous job, [`super::het`]); empty for a
    /// plain job.
    pub groups: BTreeMap<String, u32>,
    /// Nodes of each het group, in order (empty for a plain job). The
    /// node indexes of group `g` follow those of the groups before it, as
    /// [`Allocation::from_env`] lists the groups' nodes one after the other.
    pub group_nodes: Vec<u32>,
}

impl NodePlan {
    /// The plan of `spec` for its components that take nodes of the
    /// allocation (`in_allocation`, asked of the registry:
    /// [`crate::backend::Backends::node_plan`]): services first, then client
    /// instances, in declaration order; `slurm.exclusive` components get
    /// `slurm.nodes` (default 1) nodes of their own, the others share one
    /// node after them. Components in different partitions are different
    /// het groups ([`super::het::parts`]), each placed so, on nodes of its
    /// own, at least one each.
    pub fn place(spec: &BenchmarkSpec, in_allocation: impl Fn(ExecutorKind) -> bool) -> Self {
        let parts = super::het::parts(spec, in_allocation);
        let mut plan = Self::default();
        if parts.len() <= 1 {
            let members = parts.into_iter().flat_map(|p| p.members);
            plan.nodes = place_members(&mut plan.placed, members, 0).max(1);
            return plan;
        }
        let mut offset = 0u32;
        for (g, part) in (0u32..).zip(parts) {
            for m in &part.members {
                plan.groups.insert(m.id.clone(), g);
            }
            let n = place_members(&mut plan.placed, part.members, offset).max(1);
            plan.group_nodes.push(n);
            offset += n;
        }
        plan.nodes = offset;
        plan
    }

    /// The het group of component `id` (None in a plain job).
    pub fn group_of(&self, id: &str) -> Option<u32> {
        self.groups.get(id).copied()
    }

    /// The node names of component `id` in an allocation with `nodes`.
    pub fn nodes_of(&self, id: &str, nodes: &[String]) -> Result<Vec<String>, String> {
        let idx = self
            .placed
            .get(id)
            .ok_or_else(|| format!("{id} has no node in the allocation's plan"))?;
        idx.iter()
            .map(|i| {
                usize::try_from(*i)
                    .ok()
                    .and_then(|i| nodes.get(i))
                    .cloned()
                    .ok_or_else(|| {
                        format!(
                            "{id} needs node {} of the allocation, which has {} ({}); submit it with `aifbench submit`, which sizes the allocation",
                            i + 1,
                            nodes.len(),
                            nodes.join(",")
                        )
                    })
            })
            .collect()
    }
}

/// Places `members` on node indexes from `offset`: exclusive ones on
/// nodes of their own, the others together on one node after them;
/// returns how many nodes that takes (0 for none).
fn place_members<'a>(
    placed: &mut BTreeMap<String, Vec<u32>>,
    members: impl IntoIterator<Item = super::het::Member<'a>>,
    offset: u32,
) -> u32 {
    let mut next = offset;
    let mut shared = Vec::new();
    for m in members {
        match m.slurm.filter(|s| s.exclusive) {
            Some(s) => {
                let n = s.nodes.unwrap_or(1).max(1);
                placed.insert(m.id, (next..next + n).collect());
                next += n;
            }
            None => shared.push(m.id),
        }
    }
    if !shared.is_empty() {
        for id in shared {
            placed.insert(id, vec![next]);
        }
        next += 1;
    }
    next - offset
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::spec::{ClientSpec, ServiceSpec, SlurmSpec};

    fn slurm(exclusive: bool, nodes: Option<u32>) -> Option<SlurmSpec> {
        Some(SlurmSpec {
            exclusive,
            nodes,
            ..Default::default()
        })
    }

    #[test]
    fn exclusive_components_get_their_own_nodes_and_the_rest_share_one() {
        let mut spec = BenchmarkSpec::default();
        spec.services.push(ServiceSpec {
            id: "vllm".into(),
            executor: ExecutorKind::Slurm,
            slurm: slurm(true, Some(2)),
            ..Default::default()
        });
        spec.services.push(ServiceSpec {
            id: "local".into(),
            executor: ExecutorKind::Process,
            ..Default::default()
        });
        spec.clients.push(ClientSpec {
            id: "chat".into(),
            instances: 2,
            executor: ExecutorKind::Slurm,
            slurm: slurm(false, None),
            ..Default::default()
        });
        spec.clients.push(ClientSpec {
            id: "big".into(),
            instances: 1,
            executor: ExecutorKind::Slurm,
            slurm: slurm(true, None),
            ..Default::default()
        });
        let plan = NodePlan::place(&spec, |k| k == ExecutorKind::Slurm);
        assert_eq!(plan.nodes, 4);
        assert_eq!(plan.placed["vllm"], vec![0, 1]);
        assert_eq!(plan.placed["big-1"], vec![2]);
        assert_eq!(plan.placed["chat-1"], vec![3]);
        assert_eq!(plan.placed["chat-2"], vec![3]);
        assert!(!plan.placed.contains_key("local"));
        let nodes: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        assert_eq!(plan.nodes_of("vllm", &nodes).unwrap(), ["a", "b"]);
        let short = plan.nodes_of("chat-1", &nodes[..2]).unwrap_err();
        assert!(short.contains("needs node 4"), "{short}");
        assert!(plan.nodes_of("nope", &nodes).is_err());
        assert_eq!(
            NodePlan::place(&BenchmarkSpec::default(), |_| true).nodes,
            1
        );
    }

    #[test]
    fn components_in_different_partitions_are_het_groups_on_nodes_of_their_own() {
        let part = |p: &str, exclusive: bool| {
            Some(SlurmSpec {
                partition: Some(p.to_string()),
                exclusive,
                ..Default::default()
            })
        };
        let mut spec = BenchmarkSpec::default();
        spec.services.push(ServiceSpec {
            id: "vllm".into(),
            executor: ExecutorKind::Slurm,
            slurm: part("gpu", false),
            ..Default::default()
        });
        spec.clients.push(ClientSpec {
            id: "chat".into(),
            instances: 2,
            executor: ExecutorKind::Slurm,
            slurm: part("cpu", false),
            ..Default::default()
        });
        spec.clients.push(ClientSpec {
            id: "big".into(),
            instances: 1,
            executor: ExecutorKind::Slurm,
            slurm: part("cpu", true),
            ..Default::default()
        });
        let plan = NodePlan::place(&spec, |k| k == ExecutorKind::Slurm);
        assert_eq!(plan.group_nodes, [1, 2]);
        assert_eq!(plan.nodes, 3);
        assert_eq!(plan.placed["vllm"], vec![0]);
        assert_eq!(plan.placed["big-1"], vec![1]);
        assert_eq!(plan.placed["chat-1"], vec![2]);
        assert_eq!(plan.group_of("vllm"), Some(0));
        assert_eq!(plan.group_of("chat-2"), Some(1));
        // One node shared by both groups (a one-node test cluster): the
        // allocation lists it once per group.
        let nodes: Vec<String> = ["g1", "c1", "c2"].map(String::from).to_vec();
        assert_eq!(plan.nodes_of("chat-2", &nodes).unwrap(), ["c2"]);
        // One partition: a plain job, no groups.
        spec.services[0].slurm = part("cpu", false);
        let plain = NodePlan::place(&spec, |k| k == ExecutorKind::Slurm);
        assert!(plain.groups.is_empty() && plain.group_nodes.is_empty());
        assert_eq!(plain.nodes, 2);
        assert_eq!(plain.group_of("vllm"), None);
    }

    #[test]
    fn the_node_lists_of_a_plain_and_a_heterogeneous_allocation() {
        let env = |pairs: &[(&str, &str)]| {
            let m: std::collections::HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |k: &str| m.get(k).cloned()
        };
        assert_eq!(
            node_lists(env(&[("SLURM_JOB_NODELIST", "n[1-2]")])).unwrap(),
            ["n[1-2]"]
        );
        assert_eq!(
            node_lists(env(&[
                ("SLURM_JOB_NODELIST", "g1"),
                ("SLURM_HET_SIZE", "2"),
                ("SLURM_JOB_NODELIST_HET_GROUP_0", "g1"),
                ("SLURM_JOB_NODELIST_HET_GROUP_1", "c[1-2]"),
            ]))
            .unwrap(),
            ["g1", "c[1-2]"]
        );
        let e = node_lists(env(&[
            ("SLURM_HET_SIZE", "2"),
            ("SLURM_JOB_NODELIST_HET_GROUP_0", "g1"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("SLURM_JOB_NODELIST_HET_GROUP_1"), "{e}");
        assert!(node_lists(env(&[])).is_err());
    }
}
