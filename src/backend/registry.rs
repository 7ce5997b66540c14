//! The backends of one run, keyed by executor kind: the only place outside
//! the API types and validation that looks at `ExecutorKind`.
//!
//! A driver builds its registry once per run ([`Backends::for_local_run`]
//! for `aifbench run`; the operator registers its pod and Slurm backends)
//! and then only asks [`Backends::get`] for a component's executor. Adding
//! a backend is its own file plus one `.with(kind, backend)` line here.
//!
//! Some questions come before any backend exists — the operator opens its
//! cluster session, renders job templates and decides where client results
//! come from before it builds a reconcile's backends — so the registry also
//! answers them per executor ([`Backends::needs_session`],
//! [`Backends::learns_endpoint_at_run_time`],
//! [`Backends::reports_by_termination_message`]) and per spec
//! ([`Backends::spec_needs_session`]).

use std::path::PathBuf;
use std::sync::Arc;

use crate::api::spec::{BenchmarkSpec, ExecutorKind};

use super::process::ProcessBackend;
use super::slurm::steps::{Allocation, NodePlan, StepsBackend};
use super::slurm::{SlurmBackend, SlurmConfig, SlurmError};
use super::{Backend, BackendError};

/// The backends a driver has, by executor kind.
#[derive(Clone)]
pub struct Backends {
    driver: &'static str,
    entries: Vec<(ExecutorKind, Arc<dyn Backend>)>,
}

impl Backends {
    /// An empty registry for `driver` (named in "not available" errors).
    pub fn new(driver: &'static str) -> Self {
        Self {
            driver,
            entries: Vec::new(),
        }
    }

    /// Registers `backend` for `kind` (replacing an earlier one).
    pub fn with(mut self, kind: ExecutorKind, backend: Arc<dyn Backend>) -> Self {
        self.entries.retain(|(k, _)| *k != kind);
        self.entries.push((kind, backend));
        self
    }

    /// The registry of `aifbench run`: child processes (plain and wrapped in
    /// Apptainer) and, when one of `executors` is Slurm, Slurm jobs named
    /// after `run`, their output in `slurm_logs`.
    pub fn for_local_run(
        executors: impl IntoIterator<Item = ExecutorKind>,
        slurm: &SlurmConfig,
        run: &str,
        slurm_logs: PathBuf,
    ) -> Result<Self, SlurmError> {
        let mut b = Self::new("`aifbench run`")
            .with(ExecutorKind::Process, Arc::new(ProcessBackend::new()))
            .with(
                ExecutorKind::Apptainer,
                Arc::new(ProcessBackend::apptainer()),
            );
        if executors.into_iter().any(|e| e == ExecutorKind::Slurm) {
            b = b.with(
                ExecutorKind::Slurm,
                Arc::new(SlurmBackend::new(slurm.clone(), run, slurm_logs)?),
            );
        }
        Ok(b)
    }

    /// The same registry with `executor: slurm` components run as job steps
    /// of the allocation the driver itself runs in (`aifbench submit`),
    /// placed on its nodes by `plan`, instead of batch jobs of their own.
    pub fn with_steps_of(self, allocation: Allocation, run: &str, plan: NodePlan) -> Self {
        self.with(
            ExecutorKind::Slurm,
            Arc::new(StepsBackend::new(allocation, run, plan)),
        )
    }

    /// Which nodes of an `aifbench submit` allocation each component of
    /// `spec` that takes nodes ([`Self::runs_in_allocation`]) runs on.
    pub fn node_plan(spec: &BenchmarkSpec) -> NodePlan {
        NodePlan::place(spec, Self::runs_in_allocation)
    }

    /// The registry of one operator reconcile: `executor: pod` (Pods,
    /// Services and Indexed Jobs) and `executor: slurm` (batch jobs through
    /// the operator's session).
    pub fn for_operator(pod: Arc<dyn Backend>, slurm: Arc<dyn Backend>) -> Self {
        Self::new("the operator")
            .with(ExecutorKind::Pod, pod)
            .with(ExecutorKind::Slurm, slurm)
    }

    /// The backend of `executor`, or why there is none: this driver lacks
    /// it, or the component has no executor (a monitor: the driver runs it
    /// itself).
    pub fn get(
        &self,
        executor: impl Into<Option<ExecutorKind>>,
    ) -> Result<&Arc<dyn Backend>, BackendError> {
        let Some(kind) = executor.into() else {
            return Err(BackendError::DriverRun);
        };
        self.entries
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, b)| b)
            .ok_or_else(|| BackendError::Unsupported {
                executor: kind.as_str(),
                driver: self.driver,
                available: self
                    .entries
                    .iter()
                    .map(|(k, _)| format!("executor: {}", k.as_str()))
                    .collect::<Vec<_>>()
                    .join(" or "),
            })
    }

    /// Every registered backend once.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Backend>> {
        self.entries.iter().map(|(_, b)| b)
    }

    /// Whether components of `kind` are reached through a cluster session
    /// opened by the driver (credentials, a connection per reconcile) and
    /// observed from that session's job list: Slurm.
    pub fn needs_session(kind: ExecutorKind) -> bool {
        kind == ExecutorKind::Slurm
    }

    /// Whether any service or client of `spec` needs a cluster session
    /// ([`Self::needs_session`]).
    pub fn spec_needs_session(spec: &BenchmarkSpec) -> bool {
        spec.services
            .iter()
            .map(|s| s.executor)
            .chain(spec.clients.iter().map(|c| c.executor))
            .any(Self::needs_session)
    }

    /// Whether components of `kind` take nodes of a Slurm allocation: their
    /// own batch jobs, or steps of the one allocation `aifbench submit`
    /// makes (whose size and settings they decide): Slurm.
    pub fn runs_in_allocation(kind: ExecutorKind) -> bool {
        kind == ExecutorKind::Slurm
    }

    /// Whether a service of `kind` is reached at an endpoint learned only
    /// once it runs (the node its job landed on and the port it reported),
    /// rather than one planned before launch (a Service's DNS name, a local
    /// port): Slurm.
    pub fn learns_endpoint_at_run_time(kind: ExecutorKind) -> bool {
        kind == ExecutorKind::Slurm
    }

    /// Whether a client instance of `kind` hands its results back through
    /// its pod (the bucket it uploads to, else its termination message):
    /// pods.
    pub fn reports_by_termination_message(kind: ExecutorKind) -> bool {
        kind == ExecutorKind::Pod
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unregistered_executor_names_the_driver_and_the_alternatives() {
        let b = Backends::new("`aifbench run`")
            .with(ExecutorKind::Process, Arc::new(ProcessBackend::new()));
        assert_eq!(
            b.get(ExecutorKind::Process).map(|b| b.name()).ok(),
            Some("process")
        );
        let e = b.get(ExecutorKind::Pod).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("executor pod is not available in `aifbench run`; use executor: process")
        );
    }

    #[test]
    fn a_component_without_executor_has_no_backend() {
        let b = Backends::new("`aifbench run`")
            .with(ExecutorKind::Process, Arc::new(ProcessBackend::new()));
        assert!(matches!(b.get(None), Err(BackendError::DriverRun)));
        assert!(b.get(Some(ExecutorKind::Process)).is_ok());
    }

    #[test]
    fn questions_asked_before_any_backend_exists() {
        assert!(Backends::needs_session(ExecutorKind::Slurm));
        assert!(!Backends::needs_session(ExecutorKind::Pod));
        assert!(!Backends::needs_session(ExecutorKind::Process));
        assert!(Backends::learns_endpoint_at_run_time(ExecutorKind::Slurm));
        assert!(!Backends::learns_endpoint_at_run_time(ExecutorKind::Pod));
        assert!(Backends::reports_by_termination_message(ExecutorKind::Pod));
        assert!(!Backends::reports_by_termination_message(
            ExecutorKind::Slurm
        ));
        let mut spec = crate::api::spec::BenchmarkSpec::default();
        assert!(!Backends::spec_needs_session(&spec));
        spec.clients.push(crate::api::spec::ClientSpec {
            executor: ExecutorKind::Slurm,
            ..Default::default()
        });
        assert!(Backends::spec_needs_session(&spec));
    }

    #[test]
    fn inside_an_allocation_slurm_components_are_steps() {
        let cfg = SlurmConfig::default();
        let b = Backends::for_local_run([ExecutorKind::Slurm], &cfg, "r", PathBuf::from("/tmp"))
            .unwrap()
            .with_steps_of(
                Allocation {
                    job_id: "7".into(),
                    nodes: vec!["n1".into()],
                },
                "r",
                NodePlan::default(),
            );
        let slurm = b.get(ExecutorKind::Slurm).unwrap();
        assert_eq!(slurm.name(), "slurm-step");
        // The driver is inside: it health-checks and scrapes itself.
        assert!(slurm.reaches_endpoints());
        assert_eq!(b.all().count(), 3);
    }

    #[test]
    fn local_runs_get_slurm_only_when_used() {
        let cfg = SlurmConfig::default();
        let plain =
            Backends::for_local_run([ExecutorKind::Process], &cfg, "r", PathBuf::from("/tmp"))
                .unwrap();
        assert!(plain.get(ExecutorKind::Slurm).is_err());
        assert_eq!(
            plain.get(ExecutorKind::Apptainer).map(|b| b.name()).ok(),
            Some("process")
        );
        let with = Backends::for_local_run([ExecutorKind::Slurm], &cfg, "r", PathBuf::from("/tmp"))
            .unwrap();
        assert_eq!(
            with.get(ExecutorKind::Slurm).map(|b| b.name()).ok(),
            Some("slurm")
        );
    }
}
