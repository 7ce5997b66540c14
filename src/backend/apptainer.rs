//! Apptainer as a wrapper: a component's command line inside `apptainer
//! exec`, usable by the process backend (`executor: apptainer`) and in
//! Slurm batch scripts (`executor: slurm` with `apptainer:`).

use crate::api::spec::ApptainerSpec;

/// The command line, wrapped in `apptainer exec` when a container is set.
pub fn wrapped_argv(argv: &[String], apptainer: Option<&ApptainerSpec>) -> Vec<String> {
    let Some(a) = apptainer else {
        return argv.to_vec();
    };
    let mut out = vec!["apptainer".to_string(), "exec".to_string()];
    if a.nv {
        out.push("--nv".to_string());
    }
    for b in &a.binds {
        out.push("--bind".to_string());
        out.push(b.clone());
    }
    for (k, v) in &a.env {
        out.push("--env".to_string());
        out.push(format!("{k}={v}"));
    }
    out.extend(a.args.iter().cloned());
    out.push(a.image.clone());
    out.extend(argv.iter().cloned());
    out
}
