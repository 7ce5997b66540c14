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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::api::spec::{ApptainerSpec, SlurmSpec};

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

/// Quotes `s` for a POSIX shell: the result is one word with exactly the
/// bytes of `s`. Plain words stay unquoted for readability.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b',' | b'+' | b'@' | b'%'
                )
        })
        && !s.starts_with('=');
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quotes every word and joins them with spaces.
pub fn shell_join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Slurm's `--time` format (`D-HH:MM:SS`), rounded up to whole seconds.
pub fn slurm_time(d: std::time::Duration) -> String {
    let mut secs = d.as_secs();
    if d.subsec_nanos() > 0 {
        secs += 1;
    }
    let days = secs / 86_400;
    let h = (secs % 86_400) / 3600;
    let m = (secs % 3600) / 60;
    let s = secs % 60;
    if days > 0 {
        format!("{days}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// Time limit in whole minutes (what the REST API takes), rounded up.
pub fn slurm_minutes(d: std::time::Duration) -> u64 {
    d.as_secs().div_ceil(60).max(1)
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

/// A value safe for an `#SBATCH` line.
fn directive_value(field: &'static str, v: &str) -> Result<String, RenderError> {
    let bad = v.is_empty()
        || v.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '\'' | '"' | '#' | '\\' | '`' | '$')
        });
    if bad {
        return Err(RenderError::UnsafeDirective {
            field,
            value: v.to_string(),
        });
    }
    Ok(v.to_string())
}

fn is_identifier(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `#SBATCH` directives (without the prefix) for a request.
pub fn directives(req: &JobRequest) -> Result<Vec<String>, RenderError> {
    let s = &req.slurm;
    let mut d = vec![format!(
        "--job-name={}",
        directive_value("name", &req.name)?
    )];
    let opt = |d: &mut Vec<String>,
               flag: &str,
               field: &'static str,
               v: &Option<String>|
     -> Result<(), RenderError> {
        if let Some(v) = v {
            d.push(format!("--{flag}={}", directive_value(field, v)?));
        }
        Ok(())
    };
    opt(&mut d, "partition", "partition", &s.partition)?;
    opt(&mut d, "account", "account", &s.account)?;
    opt(&mut d, "qos", "qos", &s.qos)?;
    opt(&mut d, "reservation", "reservation", &s.reservation)?;
    if let Some(n) = s.nodes {
        d.push(format!("--nodes={n}"));
    }
    if let Some(n) = s.ntasks {
        d.push(format!("--ntasks={n}"));
    }
    if let Some(n) = s.cpus_per_task {
        d.push(format!("--cpus-per-task={n}"));
    }
    opt(&mut d, "gpus", "gpus", &s.gpus)?;
    opt(&mut d, "gres", "gres", &s.gres)?;
    opt(&mut d, "mem", "mem", &s.mem)?;
    if let Some(t) = s.time {
        d.push(format!("--time={}", slurm_time(t.get())));
    }
    opt(&mut d, "constraint", "constraint", &s.constraint)?;
    if s.exclusive {
        d.push("--exclusive".to_string());
    }
    let out = req.stdout_path().display().to_string();
    let err = req.stderr_path().display().to_string();
    d.push(format!("--output={}", directive_value("output", &out)?));
    d.push(format!("--error={}", directive_value("error", &err)?));
    for extra in &s.extra_directives {
        let e = extra.trim();
        let e = e.strip_prefix("#SBATCH").map(str::trim).unwrap_or(e);
        if !e.starts_with('-') || e.chars().any(|c| c.is_control() || c == '\n') {
            return Err(RenderError::UnsafeDirective {
                field: "extraDirectives",
                value: extra.clone(),
            });
        }
        d.push(e.to_string());
    }
    Ok(d)
}

pub use crate::backend::apptainer::{wrapped_argv, wrapped_argv_passing_env};

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
fn env_lines(b: &mut String, env: &BTreeMap<String, String>) -> Result<(), RenderError> {
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
fn module_lines(b: &mut String, modules: &[String]) {
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
fn container_env(req: &JobRequest) -> BTreeMap<String, String> {
    let mut env = req.env.clone();
    env.remove("PATH");
    if let Some((file, port)) = &req.port_file {
        env.insert("AIFB_PORT".to_string(), port.to_string());
        env.insert("AIFB_PORT_FILE".to_string(), file.display().to_string());
    }
    env
}

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
        let _ = writeln!(
            b,
            "aifb_report() {{ scontrol update JobId=\"$SLURM_JOB_ID\" Comment=\"aifbench:$1\" >/dev/null 2>&1 || echo \"aifbench: cannot set the comment of job $SLURM_JOB_ID\" >&2; }}"
        );
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
            let _ = writeln!(
                b,
                "aifb_report \"{{\\\"port\\\":$(cat \"$AIFB_PORT_FILE\")}}\""
            );
        }
    }
    if let (Some(p), Some(_)) = (&req.ready_probe, &req.port_file) {
        let url_tail = shell_quote(&p.path);
        let ready = shell_quote(&p.ready_file.display().to_string());
        let report = if req.report_comment {
            " aifb_report \"{\\\"port\\\":$(cat \"$AIFB_PORT_FILE\"),\\\"ready\\\":true}\";"
        } else {
            ""
        };
        let _ = writeln!(b, "rm -f {ready}");
        let _ = writeln!(
            b,
            "( while :; do u=\"http://127.0.0.1:$(cat \"$AIFB_PORT_FILE\")\"{url_tail}; \
if curl -fsS -o /dev/null --max-time 2 \"$u\" 2>/dev/null || wget -q -O /dev/null -T 2 \"$u\" 2>/dev/null; \
then : > {ready};{report} break; fi; sleep {}; done ) &",
            p.interval_s.max(1)
        );
    }
    let _ = writeln!(
        b,
        "echo \"aifbench: job $SLURM_JOB_ID ({}) on $(hostname)\" >&2",
        req.component
    );
    let argv = wrapped_argv_passing_env(&req.argv, req.apptainer.as_ref(), &container_env(req));
    match (&req.summary_file, req.report_comment) {
        (Some(summary), true) => {
            // Waited for, not exec'ed: the summary is posted afterwards.
            // scancel's SIGTERM is forwarded; the second wait collects the
            // command's own status once it has written its results.
            let summary = shell_quote(&summary.display().to_string());
            let _ = writeln!(b, "set +e");
            let _ = writeln!(b, "{} &", shell_join(&argv));
            let _ = writeln!(b, "aifb_pid=$!");
            let kill_later = if req.stop_grace_s > 0 {
                format!(
                    "; (sleep {}; kill -KILL \"$aifb_pid\" 2>/dev/null) &",
                    req.stop_grace_s
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                b,
                "trap 'kill -TERM \"$aifb_pid\" 2>/dev/null{kill_later}' TERM INT"
            );
            let _ = writeln!(b, "wait \"$aifb_pid\"; aifb_rc=$?");
            let _ = writeln!(
                b,
                "if kill -0 \"$aifb_pid\" 2>/dev/null; then wait \"$aifb_pid\"; aifb_rc=$?; fi"
            );
            let _ = writeln!(
                b,
                "if [ -s {summary} ]; then aifb_report \"{{\\\"summary\\\":$(cat {summary})}}\"; fi"
            );
            let _ = writeln!(b, "exit \"$aifb_rc\"");
        }
        _ => {
            let _ = writeln!(b, "exec {}", shell_join(&argv));
        }
    }
    Ok(b)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::duration::Duration;

    fn sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh runs");
        String::from_utf8(out.stdout).expect("utf-8")
    }

    #[test]
    fn quoting_survives_nasty_inputs() {
        let nasty = [
            "plain",
            "",
            "two words",
            "it's",
            "'",
            "''",
            "\"double\"",
            "$HOME",
            "${x:-y}",
            "`id`",
            "$(id)",
            "a;b&&c||d|e",
            "new\nline",
            "tab\there",
            "back\\slash",
            "*?[glob]",
            "~user",
            "-n",
            "=x",
            "#comment",
            "ünïcødé ✓",
            "!bang",
        ];
        for n in nasty {
            let got = sh(&format!("printf '%s' {}", shell_quote(n)));
            assert_eq!(got, n, "quoting {n:?} as {}", shell_quote(n));
        }
        let joined = shell_join(&nasty);
        let got = sh(&format!("for a in {joined}; do printf '[%s]' \"$a\"; done"));
        let want: String = nasty.iter().map(|n| format!("[{n}]")).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn time_format() {
        use std::time::Duration as D;
        assert_eq!(slurm_time(D::from_secs(90)), "00:01:30");
        assert_eq!(slurm_time(D::from_secs(2 * 3600)), "02:00:00");
        assert_eq!(slurm_time(D::from_secs(86_400 + 61)), "1-00:01:01");
        assert_eq!(slurm_time(D::from_millis(1500)), "00:00:02");
        assert_eq!(slurm_minutes(D::from_secs(61)), 2);
        assert_eq!(slurm_minutes(D::from_secs(0)), 1);
    }

    fn full_request() -> JobRequest {
        JobRequest {
            name: "aifb-demo-20261129t030000z-vllm".to_string(),
            component: "vllm".to_string(),
            slurm: SlurmSpec {
                partition: Some("gpu".into()),
                account: Some("p200001".into()),
                qos: Some("default".into()),
                reservation: Some("bench".into()),
                nodes: Some(1),
                ntasks: Some(1),
                cpus_per_task: Some(8),
                gpus: Some("4".into()),
                gres: Some("gpu:a100:4".into()),
                mem: Some("64G".into()),
                time: Some(Duration::from_secs(5400)),
                constraint: Some("a100".into()),
                exclusive: true,
                modules: vec!["Apptainer/1.2.4".into(), "CUDA".into()],
                extra_directives: vec![
                    "--mail-type=END".into(),
                    "#SBATCH --signal=B:TERM@60".into(),
                ],
            },
            apptainer: Some(ApptainerSpec {
                image: "docker://vllm/vllm-openai:v0.6.3".into(),
                nv: true,
                binds: vec!["/project/home:/data:ro".into()],
                env: BTreeMap::from([("HF_HOME".into(), "/data/hf cache".into())]),
                args: vec!["--cleanenv".into()],
            }),
            argv: vec![
                "python3".into(),
                "-m".into(),
                "vllm.entrypoints.openai.api_server".into(),
                "--model".into(),
                "facebook/opt-125m".into(),
                "--served-model-name".into(),
                "it's $model".into(),
            ],
            env: BTreeMap::from([
                (
                    "AIFB_RESULTS_DIR".into(),
                    "/scratch/r/demo-20261129T030000Z".into(),
                ),
                ("MSG".into(), "hello 'world' $(rm -rf /)".into()),
                (
                    "PATH".into(),
                    "/opt/aifbench/bin:/login/only/bin:/usr/bin".into(),
                ),
            ]),
            working_dir: "/scratch/r/demo-20261129T030000Z".into(),
            log_dir: "/scratch/r/demo-20261129T030000Z/slurm_logs".into(),
            port_file: Some((
                "/scratch/r/demo-20261129T030000Z/slurm_logs/vllm.port".into(),
                8000,
            )),
            ready_probe: None,
            ..Default::default()
        }
    }

    #[test]
    fn jobs_report_through_their_comment() {
        // A fake scontrol records what the job posts.
        let dir = tempfile::tempdir().expect("tmp");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin");
        let log = dir.path().join("scontrol.log");
        let fake = format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> {}\n",
            shell_quote(&log.display().to_string())
        );
        std::fs::write(bin.join("scontrol"), fake).expect("fake");
        let chmod = std::process::Command::new("chmod")
            .args(["+x"])
            .arg(bin.join("scontrol"))
            .status()
            .expect("chmod");
        assert!(chmod.success());
        let results = dir.path().join("it's results");
        let summary = results.join("clients/c-1.summary.json");
        let config = results.join("clients/c-1.config.json");
        let req = JobRequest {
            name: "aifb-x-g1-c-1".into(),
            component: "c-1".into(),
            argv: vec![
                "sh".into(),
                "-c".into(),
                "cat \"$1\" > /dev/null && printf '%s' '{\"requests\":3}' > \"$2\"; exit 3".into(),
                "sh".into(),
                config.display().to_string(),
                summary.display().to_string(),
            ],
            working_dir: results.clone(),
            log_dir: dir.path().to_path_buf(),
            make_dirs: vec![results.join("clients")],
            files: vec![(config.clone(), "{\"id\": \"it's $(x)\"}".into())],
            report_comment: true,
            summary_file: Some(summary.clone()),
            ..Default::default()
        };
        let script = body(&req).expect("body");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let status = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("SLURM_JOB_ID", "77")
            .env("PATH", path)
            .status()
            .expect("runs");
        assert_eq!(status.code(), Some(3), "the command's status: {script}");
        assert_eq!(
            std::fs::read_to_string(&config).expect("config"),
            "{\"id\": \"it's $(x)\"}"
        );
        let posted = std::fs::read_to_string(&log).expect("scontrol called");
        assert_eq!(
            posted.lines().collect::<Vec<_>>(),
            [
                "update",
                "JobId=77",
                "Comment=aifbench:{\"summary\":{\"requests\":3}}"
            ],
            "{script}"
        );
    }

    #[test]
    fn snapshot_full_script() {
        let got = render_script(&full_request()).expect("renders");
        let want = r#"#!/bin/bash -l
# Generated by aifbench for component vllm
#SBATCH --job-name=aifb-demo-20261129t030000z-vllm
#SBATCH --partition=gpu
#SBATCH --account=p200001
#SBATCH --qos=default
#SBATCH --reservation=bench
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=8
#SBATCH --gpus=4
#SBATCH --gres=gpu:a100:4
#SBATCH --mem=64G
#SBATCH --time=01:30:00
#SBATCH --constraint=a100
#SBATCH --exclusive
#SBATCH --output=/scratch/r/demo-20261129T030000Z/slurm_logs/vllm-%j.out
#SBATCH --error=/scratch/r/demo-20261129T030000Z/slurm_logs/vllm-%j.err
#SBATCH --mail-type=END
#SBATCH --signal=B:TERM@60
set -eu
export AIFB_RESULTS_DIR=/scratch/r/demo-20261129T030000Z
export MSG='hello '\''world'\'' $(rm -rf /)'
export PATH=/opt/aifbench/bin:"$PATH"
aifb_module_failed() { echo "aifbench: 'module load $1' failed on $(hostname); check the name with 'module spider $1'" >&2; exit 1; }
type module >/dev/null 2>&1 || { echo "aifbench: no 'module' command on $(hostname) (it comes with the login shell of the compute nodes)" >&2; exit 1; }
set +u
module purge >/dev/null 2>&1 || true
module load Apptainer/1.2.4 || aifb_module_failed Apptainer/1.2.4
module load CUDA || aifb_module_failed CUDA
set -u
cd /scratch/r/demo-20261129T030000Z
export AIFB_PORT=8000 AIFB_PORT_FILE=/scratch/r/demo-20261129T030000Z/slurm_logs/vllm.port
printf '%s\n' "$AIFB_PORT" > "$AIFB_PORT_FILE"
echo "aifbench: job $SLURM_JOB_ID (vllm) on $(hostname)" >&2
exec apptainer exec --nv --bind /project/home:/data:ro --env AIFB_PORT=8000 --env AIFB_PORT_FILE=/scratch/r/demo-20261129T030000Z/slurm_logs/vllm.port --env AIFB_RESULTS_DIR=/scratch/r/demo-20261129T030000Z --env 'MSG=hello '\''world'\'' $(rm -rf /)' --env 'HF_HOME=/data/hf cache' --cleanenv docker://vllm/vllm-openai:v0.6.3 python3 -m vllm.entrypoints.openai.api_server --model facebook/opt-125m --served-model-name 'it'\''s $model'
"#;
        assert_eq!(got, want, "got:\n{got}");
    }

    #[test]
    fn scripts_start_a_login_shell_and_set_the_environment_before_modules() {
        let got = render_script(&full_request()).expect("renders");
        assert!(got.starts_with("#!/bin/bash -l\n"), "{got}");
        let line = |needle: &str| {
            got.lines()
                .position(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("no line {needle:?} in:\n{got}"))
        };
        let first_module = line("module purge");
        for export in ["export AIFB_RESULTS_DIR=", "export MSG=", "export PATH="] {
            assert!(
                line(export) < first_module,
                "{export} after the modules:\n{got}"
            );
        }
        assert!(
            line("set +u") < first_module && first_module < line("set -u"),
            "{got}"
        );
        assert!(line("module load CUDA || aifb_module_failed CUDA") < line("exec "));
    }

    #[test]
    fn path_is_prepended_with_the_aifbench_folder_only() {
        let got = render_script(&full_request()).expect("renders");
        let exports: Vec<&str> = got
            .lines()
            .filter(|l| l.starts_with("export PATH"))
            .collect();
        assert_eq!(
            exports,
            ["export PATH=/opt/aifbench/bin:\"$PATH\""],
            "{got}"
        );
        assert!(!got.contains("/login/only/bin"), "{got}");
        let mut req = full_request();
        req.env.insert("PATH".into(), "/my bin:/x".into());
        let got = render_script(&req).expect("renders");
        assert!(got.contains("export PATH='/my bin':\"$PATH\"\n"), "{got}");
        for empty in ["", ":/usr/bin"] {
            req.env.insert("PATH".into(), empty.into());
            let got = render_script(&req).expect("renders");
            assert!(!got.contains("PATH="), "{empty:?}: {got}");
        }
    }

    #[test]
    fn path_prepended_in_a_shell_keeps_the_nodes_path() {
        let mut req = full_request();
        req.apptainer = None;
        req.slurm.modules.clear();
        req.port_file = None;
        req.working_dir = "/".into();
        req.argv = vec!["sh".into(), "-c".into(), "printf '%s' \"$PATH\"".into()];
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(body(&req).expect("body"))
            .env("PATH", "/usr/bin:/bin")
            .env("SLURM_JOB_ID", "1")
            .output()
            .expect("runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "/opt/aifbench/bin:/usr/bin:/bin"
        );
    }

    #[test]
    fn the_container_gets_the_components_environment_but_not_path() {
        let req = full_request();
        let argv =
            wrapped_argv_passing_env(&req.argv, req.apptainer.as_ref(), &container_env(&req));
        let envs: Vec<&str> = argv
            .windows(2)
            .filter(|w| w[0] == "--env")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(
            envs,
            [
                "AIFB_PORT=8000",
                "AIFB_PORT_FILE=/scratch/r/demo-20261129T030000Z/slurm_logs/vllm.port",
                "AIFB_RESULTS_DIR=/scratch/r/demo-20261129T030000Z",
                "MSG=hello 'world' $(rm -rf /)",
                "HF_HOME=/data/hf cache",
            ]
        );
        // The container's own setting wins over the component's.
        let mut env = BTreeMap::from([("HF_HOME".to_string(), "/host".to_string())]);
        env.insert("PATH".into(), "/x".into());
        let argv = wrapped_argv_passing_env(&["x".into()], req.apptainer.as_ref(), &env);
        assert_eq!(
            argv.iter().filter(|a| a.starts_with("HF_HOME=")).count(),
            1,
            "{argv:?}"
        );
        assert!(!argv.iter().any(|a| a.starts_with("PATH=")), "{argv:?}");
        // Without a container nothing changes.
        assert_eq!(wrapped_argv_passing_env(&["x".into()], None, &env), ["x"]);
    }

    #[test]
    fn module_failures_name_the_module() {
        let mut req = full_request();
        req.apptainer = None;
        req.port_file = None;
        req.working_dir = "/".into();
        req.slurm.modules = vec!["Good/1".into(), "Bad/2".into()];
        req.argv = vec!["echo".into(), "ran".into()];
        let stub = "module() { [ \"$1\" = purge ] || [ \"$2\" = Good/1 ]; }\n";
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{stub}{}", body(&req).expect("body")))
            .env("SLURM_JOB_ID", "1")
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty(), "the command did not run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("aifbench: 'module load Bad/2' failed on "),
            "{err}"
        );
    }

    #[test]
    fn snapshot_minimal_script() {
        let req = JobRequest {
            name: "aifb-x-r1-c-1".into(),
            component: "c-1".into(),
            argv: vec![
                "/opt/aifbench".into(),
                "loadgen".into(),
                "--config".into(),
                "/r/clients/c-1.config.json".into(),
            ],
            working_dir: "/r".into(),
            log_dir: "/r/slurm_logs".into(),
            ..Default::default()
        };
        let got = render_script(&req).expect("renders");
        let want = "#!/bin/bash
# Generated by aifbench for component c-1
#SBATCH --job-name=aifb-x-r1-c-1
#SBATCH --output=/r/slurm_logs/c-1-%j.out
#SBATCH --error=/r/slurm_logs/c-1-%j.err
set -eu
cd /r
echo \"aifbench: job $SLURM_JOB_ID (c-1) on $(hostname)\" >&2
exec /opt/aifbench loadgen --config /r/clients/c-1.config.json
";
        assert_eq!(got, want, "got:\n{got}");
    }

    #[test]
    fn body_runs_in_a_shell_with_nasty_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut req = full_request();
        req.apptainer = None;
        req.slurm.modules.clear();
        req.working_dir = dir.path().to_path_buf();
        req.port_file = Some((dir.path().join("p o r t"), 4242));
        req.argv = vec![
            "sh".into(),
            "-c".into(),
            "printf '%s|%s' \"$MSG\" \"$1\"".into(),
            "x".into(),
            "a'b $c".into(),
        ];
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(body(&req).expect("body"))
            .env("SLURM_JOB_ID", "1")
            .output()
            .expect("runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello 'world' $(rm -rf /)|a'b $c"
        );
        let port = std::fs::read_to_string(dir.path().join("p o r t")).expect("port file");
        assert_eq!(port.trim(), "4242");
    }

    #[test]
    fn unsafe_directive_values_are_refused() {
        for bad in ["gpu\n#SBATCH --x", "a b", "a'b", "$(x)", "", "a#b"] {
            let mut req = full_request();
            req.slurm.partition = Some(bad.into());
            assert!(
                matches!(
                    render_script(&req),
                    Err(RenderError::UnsafeDirective {
                        field: "partition",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        let mut req = full_request();
        req.slurm.extra_directives = vec!["--x\n rm -rf /".into()];
        assert!(render_script(&req).is_err());
        let mut req = full_request();
        req.slurm.extra_directives = vec!["echo hi".into()];
        assert!(render_script(&req).is_err());
        let mut req = full_request();
        req.env.insert("BAD NAME".into(), "x".into());
        assert_eq!(
            render_script(&req),
            Err(RenderError::BadEnvName("BAD NAME".into()))
        );
    }

    #[test]
    fn ready_watcher_creates_the_ready_file_once_the_service_answers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // A one-shot HTTP server answering 200 to the watcher's probe.
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            if let Ok((mut conn, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
        let ready = dir.path().join("svc ready");
        let req = JobRequest {
            name: "aifb-r-svc".into(),
            component: "svc".into(),
            argv: vec!["sh".into(), "-c".into(), "sleep 3".into()],
            working_dir: dir.path().to_path_buf(),
            log_dir: dir.path().to_path_buf(),
            port_file: Some((dir.path().join("svc.port"), port)),
            ready_probe: Some(ReadyProbe {
                path: "/health".into(),
                ready_file: ready.clone(),
                interval_s: 1,
            }),
            ..Default::default()
        };
        let script = body(&req).expect("body");
        assert!(script.contains("curl -fsS"), "{script}");
        let status = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("SLURM_JOB_ID", "1")
            .status()
            .expect("runs");
        assert!(status.success());
        server.join().expect("server");
        assert!(ready.is_file(), "ready file created");
    }

    #[test]
    fn apptainer_wrapping() {
        let a = ApptainerSpec {
            image: "/images/sim.sif".into(),
            nv: false,
            binds: vec!["/a".into(), "/b:/c".into()],
            env: BTreeMap::new(),
            args: vec![],
        };
        let got = wrapped_argv(&["aifbench".into(), "sim".into()], Some(&a));
        assert_eq!(
            got,
            [
                "apptainer",
                "exec",
                "--bind",
                "/a",
                "--bind",
                "/b:/c",
                "/images/sim.sif",
                "aifbench",
                "sim"
            ]
        );
        assert_eq!(wrapped_argv(&["x".into()], None), ["x"]);
    }
}
