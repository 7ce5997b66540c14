//! `environment.json` and `benchmark.resolved.yaml` of a local run: the
//! host, where each component ran and the provenance (`results::provenance`),
//! gathered once — before the report, which shows it, or at the end when
//! no report ran — and written again at the end with the final placements.
//! Servers are probed for their version and models once healthy.

use crate::api::status::{BenchmarkStatus, ComponentKind};
use crate::engine::Observed;
use crate::results::environment::Environment;
use crate::results::provenance::{Provenance, RESOLVED_BENCHMARK, resolved_benchmark};
use crate::results::provenance_probe::{RunFacts, gather};

use super::{Driver, LocalError};

impl Driver {
    /// Starts asking service `id` for its version and models once it is
    /// healthy (or running, without a health check), where the driver
    /// reaches it.
    pub(super) fn probe_server_once(&mut self, id: &str, o: &Observed) {
        let Some(p) = self.planned.get(id) else {
            return;
        };
        if p.kind != ComponentKind::Service
            || !self.located.contains(id)
            || !self.launched.get(id).is_some_and(|b| b.reaches_endpoints())
        {
            return;
        }
        let has_check = self.b.spec.services[p.index].healthcheck.is_some();
        let up = if has_check {
            o.healthy
        } else {
            o.run == crate::engine::RunState::Running
        };
        if let (true, Some(url)) = (up, self.endpoints.url(id)) {
            self.servers.probe_once(&self.http, id, url);
        }
    }

    /// The provenance, gathered on first use and kept.
    async fn provenance(&mut self, status: &BenchmarkStatus) -> Provenance {
        if let Some(p) = &self.provenance {
            return p.clone();
        }
        let mut p = Provenance::of_this_build();
        p.servers = self.servers.collect().await;
        let facts = RunFacts {
            spec: &self.b.spec,
            status,
            slurm: &self.opts.slurm.transport,
        };
        gather(&mut p, &facts).await;
        self.provenance = Some(p.clone());
        p
    }

    /// Writes `environment.json` (components as `status` has them) and
    /// `benchmark.resolved.yaml`; returns the provenance recorded.
    pub(super) async fn write_environment(
        &mut self,
        status: &BenchmarkStatus,
    ) -> Result<Provenance, LocalError> {
        let provenance = self.provenance(status).await;
        let mut env = Environment::capture();
        env.provenance = provenance.clone();
        for c in &status.components {
            env.components.insert(
                c.id.clone(),
                serde_json::json!({
                    "kind": c.kind.as_str(),
                    "backend": c.backend,
                    "node": c.node,
                    "pid": c.pid,
                    "jobId": c.job_id,
                    "endpoint": c.endpoint,
                }),
            );
        }
        self.dir.write_json(&self.dir.environment_json(), &env)?;
        let driver_env = std::env::vars().collect();
        match resolved_benchmark(&self.b, &driver_env) {
            Ok(text) => crate::results::write_atomic(
                &self.dir.root.join(RESOLVED_BENCHMARK),
                text.as_bytes(),
            )?,
            Err(e) => tracing::warn!(error = %e, "cannot write {RESOLVED_BENCHMARK}"),
        }
        Ok(provenance)
    }
}
