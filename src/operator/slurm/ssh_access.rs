//! SSH access to a login node from a Secret's credentials: the key and
//! known_hosts written (0600) into a private folder (0700) of the operator
//! process for the life of one session, strict host-key checking, the
//! master connection closed and the folder removed when the session ends;
//! and minting a slurmrestd JWT over that access.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::slurm::cli::{CliTransport, Runner};
use crate::backend::slurm::ssh::SshConfig;

use super::credentials::{SecretValue, SlurmCredentials};

/// A private folder of the operator process (mode 0700), removed with
/// everything in it when dropped.
#[derive(Debug)]
pub struct PrivateDir(PathBuf);

impl PrivateDir {
    /// Creates `aifb-<pid>-<random>` in the system temp folder.
    pub fn new() -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt as _;
        let base = std::env::temp_dir();
        for _ in 0..8 {
            let path = base.join(format!(
                "aifb-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("cannot create a private folder"))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a file readable by this user only (0600), created new.
    pub fn write_private(&self, name: &str, content: &str) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.0.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(dir = %self.0.display(), error = %e, "cannot remove the private folder");
        }
    }
}

/// SSH access from a Secret: the key and known_hosts in a private folder,
/// and the `ssh` settings that use them.
#[derive(Debug)]
pub struct SshAccess {
    dir: Option<PrivateDir>,
    config: SshConfig,
}

impl SshAccess {
    /// Writes the key and known_hosts of `creds` into a fresh private
    /// folder.
    pub fn new(creds: &SlurmCredentials) -> Result<Self, String> {
        let (Some(host), Some(key)) = (&creds.host, &creds.ssh_key) else {
            return Err("the Secret gives no SSH access (host and ssh-privatekey)".to_string());
        };
        let dir = PrivateDir::new().map_err(|e| format!("cannot create a private folder: {e}"))?;
        let key = dir
            .write_private("id", key.expose())
            .map_err(|e| format!("cannot write the SSH key: {e}"))?;
        let known_hosts = dir
            .write_private(
                "known_hosts",
                creds.known_hosts.as_deref().unwrap_or_default(),
            )
            .map_err(|e| format!("cannot write known_hosts: {e}"))?;
        let config = SshConfig {
            host: host.clone(),
            port: creds.port,
            user: creds.user.clone(),
            key: Some(key),
            known_hosts: Some(known_hosts),
            control_dir: Some(dir.path().to_path_buf()),
        };
        Ok(Self {
            dir: Some(dir),
            config,
        })
    }

    /// The `ssh` settings.
    pub fn config(&self) -> &SshConfig {
        &self.config
    }

    /// `user@host:port` (for messages).
    pub fn destination(&self) -> String {
        let c = &self.config;
        format!(
            "{}{}:{}",
            c.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default(),
            c.host,
            c.port.unwrap_or(22)
        )
    }

    fn control_sockets(&self) -> bool {
        self.dir.as_ref().is_some_and(|d| {
            std::fs::read_dir(d.path()).is_ok_and(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("aifb-ssh-"))
            })
        })
    }

    /// Closes the master connection and removes the folder.
    pub async fn close(mut self) {
        if self.control_sockets() {
            CliTransport {
                runner: Runner::Ssh(self.config.clone()),
            }
            .close()
            .await;
        }
        self.dir.take();
    }
}

impl Drop for SshAccess {
    fn drop(&mut self) {
        // Not closed (an error path): end the master connection before the
        // folder with its socket and key goes.
        if self.dir.is_some() && self.control_sockets() {
            let argv = self.config.exit_command();
            if let Some((prog, args)) = argv.split_first() {
                let _ = std::process::Command::new(prog)
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
}

/// Mints a JWT on the login node (`scontrol token lifespan=N`, for the SSH
/// user).
pub async fn mint_token(ssh: &SshAccess, lifespan: Duration) -> Result<SecretValue, String> {
    let cli = CliTransport {
        runner: Runner::Ssh(ssh.config().clone()),
    };
    cli.token(lifespan.as_secs().max(60))
        .await
        .map(SecretValue::new)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::credentials::{CredentialError, credentials_from_secret};
    use super::*;
    use k8s_openapi::api::core::v1::Secret;

    #[test]
    fn ssh_credentials_need_known_hosts_and_keep_the_key_newline() {
        let secret = |kh: Option<&str>| Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("ssh".into()),
                ..Default::default()
            },
            string_data: Some(
                [
                    Some(("host", "login")),
                    Some(("port", "2222\n")),
                    Some((
                        "ssh-privatekey",
                        "-----BEGIN KEY-----\nAAAA\n-----END KEY-----",
                    )),
                    kh.map(|k| ("known_hosts", k)),
                ]
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ),
            ..Default::default()
        };
        assert!(matches!(
            credentials_from_secret(&secret(None)),
            Err(CredentialError::NoKnownHosts(_))
        ));
        let c = credentials_from_secret(&secret(Some("[login]:2222 ssh-ed25519 AAAA"))).unwrap();
        assert_eq!(c.port, Some(2222));
        assert!(
            c.ssh_key
                .as_ref()
                .unwrap()
                .expose()
                .ends_with("-----END KEY-----\n")
        );
        assert!(c.has_ssh());
        let access = SshAccess::new(&c).unwrap();
        let dir = access.dir.as_ref().unwrap().path().to_path_buf();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("id")), 0o600);
        assert_eq!(mode(&dir.join("known_hosts")), 0o600);
        let argv = access.config().command(&["squeue".into()]);
        assert!(argv.contains(&"IdentitiesOnly=yes".to_string()));
        assert!(argv.contains(&"StrictHostKeyChecking=yes".to_string()));
        drop(access);
        assert!(!dir.exists(), "the key folder is removed");
    }
}
