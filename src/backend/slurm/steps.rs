//! Components as job STEPS of the Slurm allocation the driver itself runs
//! in (`aifbench submit`: one batch job holds the driver, the services and
//! the clients), instead of batch jobs of their own.
//!
//! - [`Allocation`]: the job the driver runs in and its nodes, read from
//!   `$SLURM_JOB_ID` and `$SLURM_JOB_NODELIST` (expanded by `scontrol show
//!   hostnames`; in a heterogeneous job each group's
//!   `$SLURM_JOB_NODELIST_HET_GROUP_<n>`, one after the other).
//! - [`NodePlan`]: which node(s) of the allocation each `executor: slurm`
//!   component runs on, pure, and how many nodes the allocation needs: a
//!   component with `slurm.exclusive` gets `slurm.nodes` (default 1) whole
//!   nodes of its own, services first, in declaration order; every other
//!   one shares one node (the last). Components in different partitions
//!   are different het groups of a heterogeneous job (`super::het`), each
//!   placed so on nodes of its own. `aifbench submit` sizes the batch job
//!   with it, and the driver inside places the steps with it.
//! - [`step_argv`]: the component's command line wrapped by `srun
//!   --jobid=<job> [--het-group=<n>] --overlap --nodes=.. --ntasks=.. --nodelist=..
//!   --job-name=<the component's job name>` (and inside `apptainer exec`
//!   when it has a container), pure.
//! - [`StepsBackend`]: a [`ProcessBackend`] (supervised children of the
//!   driver, output into `logs/`) running those command lines. A step is
//!   stopped with `scancel --signal=TERM <job>.<step>`, which reaches its
//!   tasks (a client still writes its results), and only after the grace
//!   period by ending srun (SIGTERM then SIGKILL to its group: srun then
//!   cancels the step) — srun itself answers SIGTERM by killing the step. Its
//!   placements name the step (`<job>.<step>`); a service's endpoint is
//!   `http://<its node>:<its port>`, which the driver health-checks and
//!   scrapes itself (it runs inside the allocation). Nothing queues: the
//!   steps overlap the allocation's resources.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use super::SlurmError;
use super::job_name;
use crate::api::spec::{BenchmarkSpec, ExecutorKind, SlurmSpec};
use crate::backend::apptainer::wrapped_argv_passing_env;
use crate::backend::process::ProcessBackend;
use crate::backend::{Backend, BackendError, LaunchRequest, Seen};
use crate::engine::{Placement, RunState};

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

/// A component's command line as a step of allocation `job_id` on `nodes`:
/// `srun --jobid=<job> [--het-group=<n>] --overlap --nodes=<k> --ntasks=<slurm.ntasks or 1>
/// --nodelist=<nodes> --job-name=<name> [--cpus-per-task] [--gpus]
/// [--gres] --export=ALL`, then the command (inside `apptainer exec` with
/// `env` passed by `--env` when it has a container). `srun` parses its own
/// options up to the first word that is not one, so the command needs no
/// quoting: this is an argv, never a shell line.
pub fn step_argv(
    job_id: &str,
    het_group: Option<u32>,
    nodes: &[String],
    name: &str,
    slurm: Option<&SlurmSpec>,
    command: &[String],
) -> Vec<String> {
    let ntasks = slurm.and_then(|s| s.ntasks).unwrap_or(1);
    let mut argv = vec!["srun".to_string(), format!("--jobid={job_id}")];
    if let Some(g) = het_group {
        argv.push(super::het::het_group_arg(g));
    }
    argv.extend([
        "--overlap".to_string(),
        format!("--nodes={}", nodes.len().max(1)),
        format!("--ntasks={ntasks}"),
        format!("--nodelist={}", nodes.join(",")),
        format!("--job-name={name}"),
    ]);
    if let Some(s) = slurm {
        if let Some(c) = s.cpus_per_task {
            argv.push(format!("--cpus-per-task={c}"));
        }
        if let Some(g) = &s.gpus {
            argv.push(format!("--gpus={g}"));
        }
        if let Some(g) = &s.gres {
            argv.push(format!("--gres={g}"));
        }
    }
    argv.push("--export=ALL".to_string());
    argv.extend(command.iter().cloned());
    argv
}

/// The command a launch request runs inside its step: in `apptainer exec`
/// with its environment passed by `--env` when it has a container.
fn step_command(req: &LaunchRequest) -> Vec<String> {
    wrapped_argv_passing_env(&req.argv, req.apptainer.as_ref(), &req.env)
}

/// Where a launched step runs.
#[derive(Clone, Debug)]
struct Placed {
    node: String,
    port: Option<u16>,
    /// `<job>.<step>`, once `squeue --steps` listed it.
    step: Option<String>,
}

/// `executor: slurm` components as steps of the driver's own allocation.
pub struct StepsBackend {
    inner: Arc<ProcessBackend>,
    allocation: Allocation,
    run: String,
    plan: NodePlan,
    placed: Mutex<HashMap<String, Placed>>,
}

impl StepsBackend {
    /// Steps of `allocation` for the run `run` (job names
    /// `aifb-<run>-<component>`), placed by `plan`.
    pub fn new(allocation: Allocation, run: &str, plan: NodePlan) -> Self {
        Self {
            inner: Arc::new(ProcessBackend::new()),
            allocation,
            run: run.to_string(),
            plan,
            placed: Mutex::new(HashMap::new()),
        }
    }

    /// The `srun` command line of a launch request.
    pub fn argv(&self, req: &LaunchRequest) -> Result<Vec<String>, BackendError> {
        Ok(self.placed_argv(req)?.1)
    }

    /// The nodes of a launch request and its `srun` command line there.
    fn placed_argv(&self, req: &LaunchRequest) -> Result<(Vec<String>, Vec<String>), BackendError> {
        let nodes = self
            .plan
            .nodes_of(&req.id, &self.allocation.nodes)
            .map_err(BackendError::Refused)?;
        let argv = step_argv(
            &self.allocation.job_id,
            self.plan.group_of(&req.id),
            &nodes,
            &job_name(&self.run, &req.id),
            req.slurm.as_ref(),
            &step_command(req),
        );
        Ok((nodes, argv))
    }

    async fn launch_step(&self, req: LaunchRequest) -> Result<Placement, BackendError> {
        let (nodes, argv) = self.placed_argv(&req)?;
        let node = nodes.first().cloned().unwrap_or_default();
        let id = req.id.clone();
        let port = req.port;
        let name = job_name(&self.run, &id);
        let placement = self
            .inner
            .launch(LaunchRequest {
                argv,
                apptainer: None,
                endpoint: None,
                ..req
            })
            .await?;
        self.placed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                id.clone(),
                Placed {
                    node: node.clone(),
                    port,
                    step: None,
                },
            );
        let step = self.step_id(&id, &name).await;
        if step.contains('.')
            && let Some(p) = self
                .placed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_mut(&id)
        {
            p.step = Some(step.clone());
        }
        tracing::info!(component = %id, node = %node, step = %step, "started as a job step");
        Ok(Placement {
            pid: placement.pid,
            job_id: Some(step),
            node: Some(node),
            ..Default::default()
        })
    }

    /// The step's id (`<job>.<step>`) as `squeue --steps` lists it, waited
    /// for up to 10 s while srun starts it; the allocation's id when it
    /// does not show (srun failed, or it already ended).
    async fn step_id(&self, id: &str, name: &str) -> String {
        let job = &self.allocation.job_id;
        for _ in 0..100 {
            if self.inner.observe(id).0 != RunState::Running {
                break;
            }
            let out = tokio::process::Command::new("squeue")
                .args(["-h", "--steps", "--jobs", job, "-o", "%i|%j"])
                .output()
                .await;
            if let Ok(o) = out
                && let Some(step) = find_step(&String::from_utf8_lossy(&o.stdout), name)
            {
                return step;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::warn!(component = %id, job = %job, "the step did not show in `squeue --steps`; recording the allocation");
        job.clone()
    }
}

/// The id of the step named `name` in `squeue --steps -o '%i|%j'` output.
pub fn find_step(out: &str, name: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let (step, n) = l.trim().split_once('|')?;
        (n.trim() == name).then(|| step.trim().to_string())
    })
}

impl Backend for StepsBackend {
    fn name(&self) -> &'static str {
        "slurm-step"
    }

    fn reaches_endpoints(&self) -> bool {
        true
    }

    fn launch(&self, req: LaunchRequest) -> BoxFuture<'_, Result<Placement, BackendError>> {
        Box::pin(self.launch_step(req))
    }

    fn observe<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Seen> {
        let mut seen = self.inner.seen(id);
        if let Some(p) = self
            .placed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
        {
            seen.node = Some(p.node.clone());
            seen.port = p.port;
        }
        Box::pin(async move { seen })
    }

    fn stop<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFuture<'a, ()> {
        let step = self
            .placed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .and_then(|p| p.step.clone());
        let Some(step) = step.filter(|_| self.inner.observe(id).0 == RunState::Running) else {
            self.inner.stop(id, grace);
            return Box::pin(async {});
        };
        Box::pin(async move {
            let signalled = tokio::process::Command::new("scancel")
                .args(["--signal=TERM", &step])
                .output()
                .await
                .is_ok_and(|o| o.status.success());
            if !signalled {
                tracing::warn!(component = %id, step = %step, "cannot signal the step; ending srun");
                self.inner.stop(id, grace);
                return;
            }
            tracing::info!(component = %id, step = %step, grace_s = grace.as_secs_f64(), "SIGTERM sent to the step");
            let inner = self.inner.clone();
            let id = id.to_string();
            tokio::spawn(async move {
                let until = tokio::time::Instant::now() + grace;
                while tokio::time::Instant::now() < until {
                    if inner.observe(&id).0 != RunState::Running {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tracing::warn!(component = %id, "the step still runs after the grace period; ending srun");
                inner.stop(&id, Duration::ZERO);
            });
        })
    }

    fn cleanup(&self) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Backend::cleanup(self.inner.as_ref())
    }

    fn preview(&self, req: &LaunchRequest) -> Option<Result<String, BackendError>> {
        Some(self.argv(req).map(|a| super::render::shell_join(&a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::spec::{ClientSpec, ServiceSpec};

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

    #[test]
    fn a_step_of_a_het_group_names_it() {
        let argv = step_argv(
            "9",
            Some(1),
            &["c1".to_string()],
            "aifb-r-chat-1",
            None,
            &["x".to_string()],
        );
        assert_eq!(
            argv[..4],
            ["srun", "--jobid=9", "--het-group=1", "--overlap"]
        );
    }

    #[test]
    fn a_step_is_srun_in_the_allocation_with_the_job_name() {
        let s = SlurmSpec {
            ntasks: Some(1),
            cpus_per_task: Some(4),
            gres: Some("gpu:1".into()),
            ..Default::default()
        };
        let argv = step_argv(
            "671",
            None,
            &["vm".to_string()],
            "aifb-r-sim",
            Some(&s),
            &["aifbench".to_string(), "sim".to_string(), "a b".to_string()],
        );
        assert_eq!(
            argv,
            [
                "srun",
                "--jobid=671",
                "--overlap",
                "--nodes=1",
                "--ntasks=1",
                "--nodelist=vm",
                "--job-name=aifb-r-sim",
                "--cpus-per-task=4",
                "--gres=gpu:1",
                "--export=ALL",
                "aifbench",
                "sim",
                "a b"
            ]
        );
    }

    #[test]
    fn steps_and_hostnames_are_read() {
        let out = "671.0|aifb-r-chat-1\n671.1|aifb-r-sim\n671.batch|batch\n";
        assert_eq!(find_step(out, "aifb-r-sim").as_deref(), Some("671.1"));
        assert_eq!(find_step(out, "aifb-r-chat-2"), None);
        assert_eq!(parse_hostnames("n1\n n2 \n\n"), ["n1", "n2"]);
    }
}
