//! Apptainer as a wrapper: a component's command line inside `apptainer
//! exec`, usable by the process backend (`executor: apptainer`) and in
//! Slurm batch scripts (`executor: slurm` with `apptainer:`), which also
//! pass the component's environment in with `--env`.

use std::collections::BTreeMap;

use crate::api::spec::ApptainerSpec;

/// The command line, wrapped in `apptainer exec` when a container is set.
pub fn wrapped_argv(argv: &[String], apptainer: Option<&ApptainerSpec>) -> Vec<String> {
    wrapped_argv_passing_env(argv, apptainer, &BTreeMap::new())
}

/// The command line, wrapped in `apptainer exec` when a container is set,
/// with `env` passed into the container as `--env K=V` (so it arrives under
/// `--cleanenv` too): `apptainer exec [--nv] [--bind B]... [--env K=V of
/// env]... [--env K=V of apptainer.env]... [args] IMAGE argv...`.
///
/// `PATH` is never passed (the container keeps its own), nor a variable
/// that `apptainer.env` sets itself (the container's own setting wins).
/// Apptainer reads a `--env` value with more than one `=` as
/// comma-separated pairs, so such values must not hold commas.
pub fn wrapped_argv_passing_env(
    argv: &[String],
    apptainer: Option<&ApptainerSpec>,
    env: &BTreeMap<String, String>,
) -> Vec<String> {
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
    let passed = env
        .iter()
        .filter(|(k, _)| k.as_str() != "PATH" && !a.env.contains_key(k.as_str()));
    for (k, v) in passed.chain(&a.env) {
        out.push("--env".to_string());
        out.push(format!("{k}={v}"));
    }
    out.extend(a.args.iter().cloned());
    out.push(a.image.clone());
    out.extend(argv.iter().cloned());
    out
}
