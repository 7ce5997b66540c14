//! What `aifbench run --dry-run` and `aifbench submit --dry-run` show of
//! the components: each service's and client's `Backend::preview` (a
//! batch script, a job step's `srun` line), built as the driver would
//! build their launch requests; nothing is written, submitted or started.

use std::time::Duration;

use super::{Driver, ProgressMode, RunOptions, local_backends, run_name};
use crate::api::spec::Benchmark;
use crate::api::status::ComponentKind;
use crate::backend::Backends;
use crate::backend::slurm::SlurmConfig;
use crate::backend::slurm::steps::Allocation;
use crate::engine;
use crate::results::ResultsDir;

/// What `aifbench run` would submit for the components of `b` into results
/// folder `dir`, as `(component id, script)`, for backends that submit
/// scripts (Slurm); nothing is written or submitted. Templates referring to
/// other services show their loopback defaults.
pub fn dry_run_scripts(
    b: &Benchmark,
    dir: &ResultsDir,
    exe: &std::path::Path,
) -> Result<Vec<(String, String)>, String> {
    let opts = RunOptions {
        progress: ProgressMode::Quiet,
        tick: Duration::from_millis(200),
        exe: exe.to_path_buf(),
        slurm: SlurmConfig::default(),
    };
    let backends = local_backends(b, dir, &opts).map_err(|e| e.to_string())?;
    previews(b, dir, opts, backends)
}

/// What the driver inside `aifbench submit`'s allocation would start for
/// the components of `b` as `(component id, srun command line)`, on
/// `allocation`'s nodes as [`Backends::node_plan`] places them; nothing runs.
pub fn dry_run_steps(
    b: &Benchmark,
    dir: &ResultsDir,
    exe: &std::path::Path,
    allocation: Allocation,
) -> Result<Vec<(String, String)>, String> {
    let opts = RunOptions {
        progress: ProgressMode::Quiet,
        tick: Duration::from_millis(200),
        exe: exe.to_path_buf(),
        slurm: SlurmConfig::default(),
    };
    let backends = local_backends(b, dir, &opts)
        .map_err(|e| e.to_string())?
        .with_steps_of(allocation, &run_name(dir), Backends::node_plan(&b.spec));
    previews(b, dir, opts, backends)
}

/// Each service's and client's `Backend::preview` over `backends`.
fn previews(
    b: &Benchmark,
    dir: &ResultsDir,
    opts: RunOptions,
    backends: Backends,
) -> Result<Vec<(String, String)>, String> {
    let d = Driver::new(b.clone(), dir.clone(), opts, backends).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for p in engine::plan_components(&b.spec) {
        let req = match p.kind {
            ComponentKind::Service => d.requests().service(&b.spec.services[p.index])?,
            ComponentKind::Client => {
                d.requests()
                    .client(&b.spec, &b.spec.clients[p.index], &p.id)?
            }
            ComponentKind::Monitor => continue,
        };
        let backend = d.backends.get(p.executor).map_err(|e| e.to_string())?;
        if let Some(script) = backend.preview(&req) {
            out.push((p.id.clone(), script.map_err(|e| format!("{}: {e}", p.id))?));
        }
    }
    Ok(out)
}
