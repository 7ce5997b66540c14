//! `environment.json`: what the run ran on, for reproducibility: the
//! driver host and command line, where each component ran, and the
//! provenance (aifbench's build, servers, Slurm, images, GPUs:
//! `provenance`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::provenance::Provenance;

/// Versions, host and placement of a run.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// aifbench's version.
    pub aifbench_version: String,
    /// The commit aifbench was built from (also in `provenance`).
    pub build_commit: String,
    /// Git commit of the directory the run was started in, when it is a git
    /// checkout (the benchmark files' repository, not aifbench's build).
    pub working_dir_git_sha: Option<String>,
    /// Driver host name.
    pub hostname: Option<String>,
    /// Operating system and architecture.
    pub os: String,
    /// Logical CPUs of the driver host.
    pub cpus: usize,
    /// The command line that started the run.
    pub command_line: Vec<String>,
    /// Where each component ran: id -> {backend, node, pid, jobId, endpoint}.
    pub components: BTreeMap<String, serde_json::Value>,
    /// What exactly was measured.
    pub provenance: Provenance,
}

impl Environment {
    /// Reads what can be read of this host.
    pub fn capture() -> Self {
        Self {
            aifbench_version: env!("CARGO_PKG_VERSION").to_string(),
            build_commit: super::provenance::BUILD_COMMIT.to_string(),
            working_dir_git_sha: git_sha(),
            hostname: super::hostname(),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            command_line: std::env::args().collect(),
            components: BTreeMap::new(),
            provenance: Provenance::of_this_build(),
        }
    }
}

fn git_sha() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
