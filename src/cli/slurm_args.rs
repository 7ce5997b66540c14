//! The Slurm transport flags of `aifbench run` (each with an `AIFB_*`
//! environment variable) and their translation into a `SlurmConfig`:
//! which transport, where it connects, and where the JWT comes from.

use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;

/// How Slurm components are submitted (executor: slurm).
#[derive(clap::Args, Debug, Clone)]
pub struct SlurmArgs {
    /// cli: sbatch/squeue/scancel here; ssh: the same on a login node;
    /// rest: slurmrestd.
    #[arg(long, value_enum, env = "AIFB_SLURM_TRANSPORT", default_value_t = TransportArg::Cli)]
    slurm_transport: TransportArg,
    /// SSH login node (transport ssh).
    #[arg(long, env = "AIFB_SSH_HOST")]
    ssh_host: Option<String>,
    /// SSH port.
    #[arg(long, env = "AIFB_SSH_PORT")]
    ssh_port: Option<u16>,
    /// SSH user.
    #[arg(long, env = "AIFB_SSH_USER")]
    ssh_user: Option<String>,
    /// SSH private key file.
    #[arg(long, env = "AIFB_SSH_KEY")]
    ssh_key: Option<PathBuf>,
    /// known_hosts file (host keys are checked strictly).
    #[arg(long, env = "AIFB_SSH_KNOWN_HOSTS")]
    ssh_known_hosts: Option<PathBuf>,
    /// slurmrestd base URL, e.g. http://127.0.0.1:6820 (transport rest).
    #[arg(long, env = "AIFB_SLURM_REST_URL")]
    slurm_rest_url: Option<String>,
    /// slurmrestd unix socket (local authentication), instead of the URL.
    #[arg(long, env = "AIFB_SLURM_REST_SOCKET")]
    slurm_rest_socket: Option<PathBuf>,
    /// File holding the JWT for slurmrestd (else $SLURM_JWT is used).
    #[arg(long, env = "AIFB_SLURM_JWT_FILE")]
    slurm_jwt_file: Option<PathBuf>,
    /// User name sent to slurmrestd with the token.
    #[arg(long, env = "AIFB_SLURM_USER")]
    slurm_user: Option<String>,
    /// Force a slurmrestd API version (v0.0.38, v0.0.40..v0.0.43) instead
    /// of asking the server.
    #[arg(long, env = "AIFB_SLURM_API_VERSION")]
    slurm_api_version: Option<String>,
    /// The driver cannot reach compute nodes: health checks run inside
    /// each service's job (a ready file in the results folder) and
    /// monitors run as `aifbench scrape` jobs.
    #[arg(long, env = "AIFB_SLURM_IN_ALLOCATION")]
    slurm_in_allocation: bool,
    /// A folder on the cluster for jobs to work in when the cluster does
    /// not share the results folder (a laptop driving a login node over
    /// ssh, slurmrestd): each job works in DIR/<run>/ and what it leaves
    /// there comes back into the results folder when it ends (ssh: over
    /// the session; cli: copied; rest: only a client's summary — use
    /// results.s3 for full results there).
    #[arg(long, value_name = "DIR", env = "AIFB_SLURM_REMOTE_DIR")]
    slurm_remote_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum TransportArg {
    Cli,
    Ssh,
    Rest,
}

impl SlurmArgs {
    /// The Slurm settings these flags describe; a transport missing its
    /// address or an unreadable JWT file is an error naming the flag.
    pub fn config(&self) -> anyhow::Result<crate::backend::slurm::SlurmConfig> {
        use crate::backend::slurm::rest::{ApiVersion, RestConfig, Secret};
        use crate::backend::slurm::ssh::SshConfig;
        use crate::backend::slurm::{SlurmConfig, TransportConfig};
        let transport = match self.slurm_transport {
            TransportArg::Cli => TransportConfig::Cli,
            TransportArg::Ssh => TransportConfig::Ssh(SshConfig {
                host: self
                    .ssh_host
                    .clone()
                    .context("--slurm-transport ssh needs --ssh-host (or AIFB_SSH_HOST)")?,
                port: self.ssh_port,
                user: self.ssh_user.clone(),
                key: self.ssh_key.clone(),
                known_hosts: self.ssh_known_hosts.clone(),
                control_dir: None,
            }),
            TransportArg::Rest => {
                let token = match &self.slurm_jwt_file {
                    Some(f) => Some(
                        std::fs::read_to_string(f)
                            .with_context(|| format!("cannot read the JWT file {}", f.display()))?
                            .trim()
                            .to_string(),
                    ),
                    None => std::env::var("SLURM_JWT").ok(),
                };
                let version = match &self.slurm_api_version {
                    Some(v) => Some(ApiVersion::parse(v).with_context(|| {
                        format!("unknown slurmrestd API version {v:?} (v0.0.38, v0.0.40..v0.0.43)")
                    })?),
                    None => None,
                };
                if self.slurm_rest_url.is_none() && self.slurm_rest_socket.is_none() {
                    anyhow::bail!(
                        "--slurm-transport rest needs --slurm-rest-url or --slurm-rest-socket"
                    );
                }
                TransportConfig::Rest(RestConfig {
                    url: self.slurm_rest_url.clone(),
                    socket: self.slurm_rest_socket.clone(),
                    // Local auth on the socket needs no token.
                    token: if self.slurm_rest_url.is_none() {
                        None
                    } else {
                        token.map(Secret::new)
                    },
                    user: self.slurm_user.clone(),
                    version,
                })
            }
        };
        Ok(SlurmConfig {
            transport,
            in_allocation: self.slurm_in_allocation,
            remote_dir: self.slurm_remote_dir.clone(),
            ..Default::default()
        })
    }
}
