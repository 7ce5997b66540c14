//! The shell and environment of a batch script: the shebang (a login
//! shell only when modules are loaded), the component's environment
//! exported with PATH prepended, the `module load` lines, and the
//! environment passed into an Apptainer container.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::quote::{is_identifier, shell_quote};
use super::{JobRequest, RenderError};

/// The shebang of a job that loads modules: a login shell, because on
/// sites like MeluXina the `module` command is defined only by the login
/// profile of the compute nodes.
pub const LOGIN_SHEBANG: &str = "#!/bin/bash -l";

/// The shebang of a job without modules: a plain shell, so that a user's
/// login profile (pyenv, conda, banners) neither slows nor breaks it.
pub const PLAIN_SHEBANG: &str = "#!/bin/bash";

/// The shebang `req` needs.
pub fn shebang(req: &JobRequest) -> &'static str {
    if req.slurm.modules.is_empty() {
        PLAIN_SHEBANG
    } else {
        LOGIN_SHEBANG
    }
}

/// The folders a batch job puts first on its PATH: the first entry of the
/// component's `PATH`, which both drivers set to the folder of the aifbench
/// binary. The rest of the driver's own PATH stays behind: its folders
/// (login-node modules, a workstation's tools) have no business on a compute
/// node, whose login shell and modules set the PATH there.
pub fn path_prefix(env: &BTreeMap<String, String>) -> Option<&str> {
    env.get("PATH")
        .and_then(|p| p.split(':').next())
        .filter(|first| !first.is_empty())
}

/// The environment lines: every variable of the component exported, PATH
/// prepended (`export PATH=<aifbench's folder>:"$PATH"`), never replaced.
pub(super) fn env_lines(b: &mut String, env: &BTreeMap<String, String>) -> Result<(), RenderError> {
    for (k, v) in env {
        if !is_identifier(k) {
            return Err(RenderError::BadEnvName(k.clone()));
        }
        if k == "PATH" {
            if let Some(first) = path_prefix(env) {
                let _ = writeln!(b, "export PATH={}:\"$PATH\"", shell_quote(first));
            }
            continue;
        }
        let _ = writeln!(b, "export {k}={}", shell_quote(v));
    }
    Ok(())
}

/// The module lines: `set -u` suspended (module implementations read unset
/// variables), a clear error when there is no `module` command or a module
/// does not load, naming it.
pub(super) fn module_lines(b: &mut String, modules: &[String]) {
    if modules.is_empty() {
        return;
    }
    let _ = writeln!(
        b,
        "aifb_module_failed() {{ echo \"aifbench: 'module load $1' failed on $(hostname); check the name with 'module spider $1'\" >&2; exit 1; }}"
    );
    let _ = writeln!(
        b,
        "type module >/dev/null 2>&1 || {{ echo \"aifbench: no 'module' command on $(hostname) (it comes with the login shell of the compute nodes)\" >&2; exit 1; }}"
    );
    let _ = writeln!(b, "set +u");
    let _ = writeln!(b, "module purge >/dev/null 2>&1 || true");
    for m in modules {
        let q = shell_quote(m);
        let _ = writeln!(b, "module load {q} || aifb_module_failed {q}");
    }
    let _ = writeln!(b, "set -u");
}

/// What the command inside a container is given with `--env`: the
/// component's environment (PATH excepted) and the port variables.
pub(super) fn container_env(req: &JobRequest) -> BTreeMap<String, String> {
    let mut env = req.env.clone();
    env.remove("PATH");
    if let Some((file, port)) = &req.port_file {
        env.insert("AIFB_PORT".to_string(), port.to_string());
        env.insert("AIFB_PORT_FILE".to_string(), file.display().to_string());
    }
    env
}
