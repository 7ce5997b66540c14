//! The body of a batch script, after the `#SBATCH` lines: environment and
//! modules, folders and files the job makes, the working directory, the
//! port file, the in-allocation report parts when asked for, and the
//! command.

use std::fmt::Write as _;

use super::environment::{container_env, env_lines, module_lines};
use super::quote::{is_identifier, shell_join, shell_quote};
use super::report::{port_report, ready_watcher, report_function, waited_command};
use super::wrapped_argv_passing_env;
use super::{JobRequest, RenderError};

/// The body after the directives: environment (PATH prepended), modules,
/// working directory, port file, and the command (`exec`ed, so `scancel`'s
/// signals reach it directly; inside `apptainer exec` with the environment
/// passed by `--env`).
pub fn body(req: &JobRequest) -> Result<String, RenderError> {
    if req.argv.is_empty() {
        return Err(RenderError::EmptyCommand);
    }
    let mut b = String::new();
    let _ = writeln!(b, "set -eu");
    env_lines(&mut b, &req.env)?;
    module_lines(&mut b, &req.slurm.modules);
    for k in req.apptainer.iter().flat_map(|a| a.env.keys()) {
        if !is_identifier(k) {
            return Err(RenderError::BadEnvName(k.clone()));
        }
    }
    if !req.make_dirs.is_empty() {
        let dirs: Vec<String> = req
            .make_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        let _ = writeln!(b, "mkdir -p {}", shell_join(&dirs));
    }
    for (path, content) in &req.files {
        let _ = writeln!(
            b,
            "printf '%s' {} > {}",
            shell_quote(content),
            shell_quote(&path.display().to_string())
        );
    }
    if req.report_comment {
        report_function(&mut b);
    }
    let _ = writeln!(
        b,
        "cd {}",
        shell_quote(&req.working_dir.display().to_string())
    );
    if let Some((file, port)) = &req.port_file {
        let _ = writeln!(
            b,
            "export AIFB_PORT={port} AIFB_PORT_FILE={}",
            shell_quote(&file.display().to_string())
        );
        let _ = writeln!(b, "printf '%s\\n' \"$AIFB_PORT\" > \"$AIFB_PORT_FILE\"");
        if req.report_comment {
            port_report(&mut b);
        }
    }
    if let (Some(p), Some(_)) = (&req.ready_probe, &req.port_file) {
        ready_watcher(&mut b, p, req.report_comment);
    }
    let _ = writeln!(
        b,
        "echo \"aifbench: job $SLURM_JOB_ID ({}) on $(hostname)\" >&2",
        req.component
    );
    let argv = wrapped_argv_passing_env(&req.argv, req.apptainer.as_ref(), &container_env(req));
    match (&req.summary_file, req.report_comment) {
        (Some(summary), true) => waited_command(&mut b, &argv, summary, req.stop_grace_s),
        _ => {
            let _ = writeln!(b, "exec {}", shell_join(&argv));
        }
    }
    Ok(b)
}
