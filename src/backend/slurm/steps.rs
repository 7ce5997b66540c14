//! Components as job STEPS of the Slurm allocation the driver itself runs
//! in (`aifbench submit`: one batch job holds the driver, the services and
//! the clients), instead of batch jobs of their own.
//!
//! - [`Allocation`] and [`NodePlan`] (re-exported from
//!   `super::allocation`): the job the driver runs in, its nodes, and which
//!   of them each component runs on.
//! - [`step_argv`]: the component's command line wrapped by `srun
//!   --jobid=<job> [--het-group=<n>] --overlap --nodes=.. --ntasks=..
//!   --nodelist=.. --job-name=<the component's job name>` (and inside
//!   `apptainer exec` when it has a container), pure.
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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use super::job_name;
use crate::api::spec::SlurmSpec;
use crate::backend::apptainer::wrapped_argv_passing_env;
use crate::backend::process::ProcessBackend;
use crate::backend::{Backend, BackendError, LaunchRequest, Seen};
use crate::engine::{Placement, RunState};

pub use super::allocation::{Allocation, NodePlan, node_lists, parse_hostnames};

/// A component's command line as a step of allocation `job_id` on `nodes`:
/// `srun --jobid=<job> [--het-group=<n>] --overlap --nodes=<k>
/// --ntasks=<slurm.ntasks or 1> --nodelist=<nodes> --job-name=<name>
/// [--cpus-per-task] [--gpus] [--gres] --export=ALL`, then the command (inside `apptainer exec` with
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
