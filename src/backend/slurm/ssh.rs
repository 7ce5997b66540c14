//! SSH to a login node: `ssh` with one multiplexed connection (OpenSSH
//! ControlMaster), strict host-key checking against a known_hosts file,
//! key authentication only. A dropped master is re-established by the next
//! command (`ControlMaster=auto`); connection failures (exit 255) are
//! retried.

use std::path::PathBuf;

use super::render::shell_join;

/// Where and how to log in.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SshConfig {
    /// Login node host name or address.
    pub host: String,
    /// Port (default 22).
    pub port: Option<u16>,
    /// Remote user.
    pub user: Option<String>,
    /// Private key file.
    pub key: Option<PathBuf>,
    /// known_hosts file; host keys are checked strictly.
    pub known_hosts: Option<PathBuf>,
    /// Folder for the ControlMaster socket (default: the system temp dir).
    pub control_dir: Option<PathBuf>,
}

impl SshConfig {
    /// The ControlMaster socket path, short enough for a unix socket.
    pub fn control_path(&self) -> PathBuf {
        let dir = self.control_dir.clone().unwrap_or_else(std::env::temp_dir);
        dir.join("aifb-ssh-%C")
    }

    /// `ssh` arguments up to (and including) the destination.
    pub fn base_args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "-o",
            "BatchMode=yes",
            "-o",
            "ControlMaster=auto",
            "-o",
            "ControlPersist=120",
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=3",
            "-o",
            "ConnectTimeout=15",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "LogLevel=ERROR",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push("-o".into());
        a.push(format!("ControlPath={}", self.control_path().display()));
        if let Some(k) = &self.known_hosts {
            a.push("-o".into());
            a.push(format!("UserKnownHostsFile={}", k.display()));
        }
        if let Some(k) = &self.key {
            a.push("-o".into());
            a.push("IdentitiesOnly=yes".into());
            a.push("-i".into());
            a.push(k.display().to_string());
        }
        if let Some(p) = self.port {
            a.push("-p".into());
            a.push(p.to_string());
        }
        match &self.user {
            Some(u) => a.push(format!("{u}@{}", self.host)),
            None => a.push(self.host.clone()),
        }
        a
    }

    /// The full `ssh` argv running `remote` (quoted for the remote shell).
    pub fn command(&self, remote: &[String]) -> Vec<String> {
        let mut a = vec!["ssh".to_string()];
        a.extend(self.base_args());
        a.push("--".into());
        a.push(shell_join(remote));
        a
    }

    /// Closes the master connection (`ssh -O exit`).
    pub fn exit_command(&self) -> Vec<String> {
        let mut a = vec!["ssh".to_string(), "-O".into(), "exit".into()];
        a.extend(self.base_args());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_argv_quotes_the_remote_command() {
        let c = SshConfig {
            host: "login.lxp.lu".into(),
            port: Some(8822),
            user: Some("u100".into()),
            key: Some("/home/u/.ssh/id ed".into()),
            known_hosts: Some("/k/known_hosts".into()),
            control_dir: Some("/run/aifb".into()),
        };
        let argv = c.command(&["scancel".into(), "1".into(), "x; rm -rf /".into()]);
        assert_eq!(argv[0], "ssh");
        assert!(argv.contains(&"ControlPath=/run/aifb/aifb-ssh-%C".to_string()));
        assert!(argv.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert!(argv.contains(&"/home/u/.ssh/id ed".to_string()));
        let dest = argv
            .iter()
            .position(|a| a == "u100@login.lxp.lu")
            .expect("destination");
        assert_eq!(argv[dest + 1], "--");
        assert_eq!(argv[dest + 2], "scancel 1 'x; rm -rf /'");
        assert_eq!(argv.len(), dest + 3);
    }
}
