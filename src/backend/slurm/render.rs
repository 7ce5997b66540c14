//! Pure rendering of Slurm batch scripts (and the Apptainer wrapper) from a
//! component's spec. Nothing here does I/O, so every rendered script is
//! pinned by snapshot tests.
//!
//! A script runs as rendered on sites like MeluXina: a login shell when it
//! loads modules (`#!/bin/bash -l`, where `module` is defined), the component's
//! environment exported before the module loads with PATH prepended (only
//! the aifbench binary's folder, see [`path_prefix`]), each `module load`
//! failing with a line that names the module, and the environment passed
//! into an Apptainer container with `--env`.
//!
//! Quoting rules: every value that reaches the shell part of the script goes
//! through [`shell_quote`]. `#SBATCH` lines are parsed by `sbatch`, not by a
//! shell, so their values are *validated* instead (no whitespace, quotes,
//! `#` or control characters) and the script is refused when one is not
//! safe.
//!
//! This file holds the request ([`JobRequest`]), the error and
//! [`render_script`]; the parts of the script live in submodules, their
//! items re-exported here:
//!
//! - `directives`: the `#SBATCH` lines and Slurm's time formats;
//! - `environment`: shebang, exported environment, `module load` lines,
//!   the environment passed into a container;
//! - `body`: the script after the directives;
//! - `report`: the in-allocation parts (comment report, ready watcher,
//!   waited-for command posting its summary);
//! - `quote`: shell quoting.

mod body;
mod directives;
mod environment;
mod quote;
mod report;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::api::spec::{ApptainerSpec, SlurmSpec};

pub use self::body::body;
pub use self::directives::{directives, slurm_minutes, slurm_time};
pub use self::environment::{LOGIN_SHEBANG, PLAIN_SHEBANG, path_prefix, shebang};
pub use self::quote::{shell_join, shell_quote};
pub use crate::backend::apptainer::{wrapped_argv, wrapped_argv_passing_env};

/// Why a script could not be rendered.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RenderError {
    /// A value would break an `#SBATCH` line.
    #[error(
        "slurm.{field}: {value:?} cannot be used in an #SBATCH line (no whitespace, quotes, '#' or control characters)"
    )]
    UnsafeDirective {
        /// The spec field.
        field: &'static str,
        /// The offending value.
        value: String,
    },
    /// An environment variable name that is not a shell identifier.
    #[error("environment variable name {0:?} is not a valid identifier")]
    BadEnvName(String),
    /// Nothing to run.
    #[error("empty command")]
    EmptyCommand,
}

/// Everything one batch job needs, already resolved (templates filled,
/// paths absolute).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobRequest {
    /// Deterministic job name (`aifb-<benchmark>-<run>-<component>`).
    pub name: String,
    /// The component id (for the log file names).
    pub component: String,
    /// Slurm settings from the spec.
    pub slurm: SlurmSpec,
    /// Optional Apptainer wrapping.
    pub apptainer: Option<ApptainerSpec>,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Environment exported before the command.
    pub env: BTreeMap<String, String>,
    /// Working directory of the job.
    pub working_dir: PathBuf,
    /// Folder for `<component>-<jobid>.out|.err` (the results folder's
    /// `slurm_logs/`).
    pub log_dir: PathBuf,
    /// For services: a file that receives the service's port at start
    /// (`$AIFB_PORT_FILE`); the service may overwrite it with the port it
    /// really picked.
    pub port_file: Option<(PathBuf, u16)>,
    /// A readiness watcher run inside the allocation (for drivers that
    /// cannot reach compute nodes).
    pub ready_probe: Option<ReadyProbe>,
    /// Folders created (`mkdir -p`) before anything else, e.g. the results
    /// folder when the driver cannot create it on the cluster itself.
    pub make_dirs: Vec<PathBuf>,
    /// Files the job writes before its command (path, content), e.g. a
    /// client's loadgen configuration when the driver cannot write to the
    /// cluster's filesystem.
    pub files: Vec<(PathBuf, String)>,
    /// Report back through the job's own comment (`scontrol update
    /// JobId=$SLURM_JOB_ID Comment=aifbench:{...}`), which `squeue --json`
    /// and slurmrestd return: the service's port once written, readiness
    /// once the ready probe passes, and the client's summary (see
    /// [`JobRequest::summary_file`]). For drivers that can neither reach
    /// compute nodes nor read the cluster's filesystem. Parsed by
    /// [`super::state::JobReport::parse`].
    pub report_comment: bool,
    /// With `report_comment`: the command is not `exec`ed but waited for
    /// (SIGTERM forwarded), and the JSON it left in this file is posted as
    /// `{"summary": ...}` before the job exits with the command's status.
    pub summary_file: Option<PathBuf>,
    /// With `summary_file`: seconds after a forwarded SIGTERM before the
    /// command gets SIGKILL (0: never).
    pub stop_grace_s: u64,
}

/// Probes a service from its own node and creates `ready_file` once the
/// URL answers 2xx; the driver reads the file instead of probing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadyProbe {
    /// Path of the health URL (`/health`); host and port are the job's
    /// node and the port in `$AIFB_PORT_FILE`.
    pub path: String,
    /// Created when the service answers.
    pub ready_file: PathBuf,
    /// Seconds between probes.
    pub interval_s: u64,
}

impl JobRequest {
    /// `slurm_logs/<component>-%j.out`.
    pub fn stdout_path(&self) -> PathBuf {
        self.log_dir.join(format!("{}-%j.out", self.component))
    }
    /// `slurm_logs/<component>-%j.err`.
    pub fn stderr_path(&self) -> PathBuf {
        self.log_dir.join(format!("{}-%j.err", self.component))
    }
}

/// The whole batch script: shebang, `#SBATCH` lines, body.
pub fn render_script(req: &JobRequest) -> Result<String, RenderError> {
    let mut s = format!("{}\n", shebang(req));
    let _ = writeln!(s, "# Generated by aifbench for component {}", req.component);
    for d in directives(req)? {
        let _ = writeln!(s, "#SBATCH {d}");
    }
    s.push_str(&body(req)?);
    Ok(s)
}
