//! Slurm from the cluster: credentials from a Secret, the
//! `BackendReachable` condition, JWT refresh, and a session per reconcile
//! over which the operator lists, submits and cancels jobs. The transports
//! themselves (SSH, slurmrestd) live in `backend::slurm`; the operator talks
//! to them through the small [`SlurmConnector`] / [`SlurmSession`] traits so
//! the reconcile is testable without a cluster.
//!
//! - slurmrestd: the Secret's `url`, `token` (JWT) and `user`. When
//!   slurmrestd refuses the token and the Secret also gives SSH access, a
//!   fresh token is minted with `scontrol token lifespan=...` on the login
//!   node and used instead; it is kept in memory only (never in a status,
//!   an event or a log line) and reused, for exactly the credentials that
//!   minted it, until half its lifespan is gone.
//! - SSH: the Secret's `host`, `port`, `user`, `ssh-privatekey` and
//!   `known_hosts`; the key and the known_hosts file are written (0600) to a
//!   private folder (0700) of the operator process for the life of one
//!   session, host keys are checked strictly, and the folder is removed
//!   when the session ends.
//!
//! Secret values are held in [`SecretValue`], whose `Debug` and `Display`
//! print `<redacted>`; every message that reaches a status, an event or a
//! log line goes through [`redact`] first.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;

use crate::backend::slurm::cli::{CliTransport, Runner};
use crate::backend::slurm::render::JobRequest;
use crate::backend::slurm::rest::{RestConfig, Secret as RestSecret};
use crate::backend::slurm::ssh::SshConfig;
use crate::backend::slurm::state::JobInfo;
use crate::backend::slurm::{SlurmError, Transport, TransportConfig};

/// Benchmark annotation naming the Secret (same namespace) with the Slurm
/// credentials.
pub const SLURM_SECRET_ANNOTATION: &str = "aifbench.io/slurm-secret";
/// The condition the operator sets for Benchmarks that use Slurm.
pub const BACKEND_REACHABLE: &str = "BackendReachable";

/// A secret string: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value.
    pub fn new(v: impl Into<String>) -> Self {
        Self(v.into())
    }
    /// The value, for the transport only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to reach Slurm, read from a Secret.
///
/// Keys: `url` (slurmrestd base URL) and `token` (JWT), and/or `host` (SSH
/// login node), `port`, `ssh-privatekey` and `known_hosts`; `user` for
/// both.
#[derive(Clone, Debug, PartialEq)]
pub struct SlurmCredentials {
    /// slurmrestd URL.
    pub url: Option<String>,
    /// SSH login node.
    pub host: Option<String>,
    /// SSH port.
    pub port: Option<u16>,
    /// User name (`X-SLURM-USER-NAME`, and the SSH user).
    pub user: Option<String>,
    /// JWT for slurmrestd.
    pub token: Option<SecretValue>,
    /// SSH private key.
    pub ssh_key: Option<SecretValue>,
    /// known_hosts lines of the login node (host keys are checked
    /// strictly).
    pub known_hosts: Option<String>,
}

impl SlurmCredentials {
    /// Every secret value (for redaction).
    pub fn secrets(&self) -> Vec<&str> {
        [&self.token, &self.ssh_key]
            .into_iter()
            .flatten()
            .map(SecretValue::expose)
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// True when the Secret gives SSH access to a login node.
    pub fn has_ssh(&self) -> bool {
        self.host.is_some() && self.ssh_key.is_some()
    }
}

/// The Secret does not hold usable credentials.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CredentialError {
    /// Neither `url` nor `host`.
    #[error("secret {0} has neither a `url` nor a `host` key")]
    NoEndpoint(String),
    /// Neither `token` nor `ssh-privatekey`.
    #[error("secret {0} has neither a `token` nor an `ssh-privatekey` key")]
    NoCredential(String),
    /// A value is not UTF-8.
    #[error("secret {secret}: key {key} is not UTF-8")]
    NotUtf8 {
        /// The Secret.
        secret: String,
        /// The key.
        key: String,
    },
    /// `port` is not a port number.
    #[error("secret {0}: `port` is not a port number")]
    BadPort(String),
    /// SSH without `known_hosts`: host keys are always checked.
    #[error(
        "secret {0} gives SSH access but no `known_hosts` key: add the login node's host keys (ssh-keyscan -p PORT HOST); aifbench checks host keys strictly"
    )]
    NoKnownHosts(String),
}

/// Reads credentials from a Secret's `data` (and `stringData`).
pub fn credentials_from_secret(secret: &Secret) -> Result<SlurmCredentials, CredentialError> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in secret.data.iter().flatten() {
        let s = String::from_utf8(v.0.clone()).map_err(|_| CredentialError::NotUtf8 {
            secret: name.clone(),
            key: k.clone(),
        })?;
        values.insert(k.clone(), s);
    }
    for (k, v) in secret.string_data.iter().flatten() {
        values.insert(k.clone(), v.clone());
    }
    // Single-line values lose a trailing newline (`echo x | base64`); a
    // private key keeps its own (OpenSSH wants the final newline).
    let line = |k: &str| values.get(k).map(|v| v.trim().to_string());
    let port = match line("port") {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| CredentialError::BadPort(name.clone()))?,
        ),
        None => None,
    };
    let creds = SlurmCredentials {
        url: line("url"),
        host: line("host"),
        port,
        user: line("user"),
        token: line("token").map(SecretValue::new),
        ssh_key: values.get("ssh-privatekey").map(|k| {
            let mut k = k.trim_end().to_string();
            k.push('\n');
            SecretValue::new(k)
        }),
        known_hosts: values.get("known_hosts").cloned(),
    };
    if creds.url.is_none() && creds.host.is_none() {
        return Err(CredentialError::NoEndpoint(name));
    }
    if creds.token.is_none() && creds.ssh_key.is_none() {
        return Err(CredentialError::NoCredential(name));
    }
    if creds.has_ssh()
        && creds
            .known_hosts
            .as_deref()
            .is_none_or(|k| k.trim().is_empty())
    {
        return Err(CredentialError::NoKnownHosts(name));
    }
    Ok(creds)
}

/// Replaces every occurrence of a secret value in `msg` by `<redacted>`.
pub fn redact(msg: &str, creds: Option<&SlurmCredentials>) -> String {
    let mut out = msg.to_string();
    if let Some(c) = creds {
        for s in c.secrets() {
            out = out.replace(s, "<redacted>");
        }
        // A key is also redacted line by line (an error may quote a part).
        if let Some(k) = &c.ssh_key {
            for l in k.expose().lines().map(str::trim).filter(|l| l.len() >= 16) {
                out = out.replace(l, "<redacted>");
            }
        }
    }
    out
}

/// Why Slurm could not be used: the `BackendReachable` reason and a
/// message (already redacted).
#[derive(Clone, Debug, PartialEq)]
pub struct SlurmFailure {
    /// `Unreachable`, `TokenRejected` or `InvalidCredentials`.
    pub reason: &'static str,
    /// What went wrong.
    pub message: String,
}

/// An open connection to Slurm for one reconcile. Errors are
/// human-readable and redacted.
pub trait SlurmSession: Send + Sync {
    /// How Slurm is reached (for the condition's message; no secrets).
    fn describe(&self) -> String;
    /// Every job the controller still knows (of the session's user).
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobInfo>, String>>;
    /// Submits a job; returns its id.
    fn submit<'a>(&'a self, req: &'a JobRequest) -> BoxFuture<'a, Result<String, String>>;
    /// Cancels jobs.
    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), String>>;
    /// Asks jobs to stop: SIGTERM to every process, the batch script
    /// included, without cancelling them (a cancelled job can no longer
    /// update its comment; a client still posts its summary this way).
    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), String>>;
    /// Ends the session (closes the SSH master, removes the key files).
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Opens Slurm sessions from credentials.
pub trait SlurmConnector: Send + Sync {
    /// Connects and checks that Slurm answers (this is the
    /// `BackendReachable` probe), refreshing the JWT when it is refused
    /// and the credentials allow it.
    fn connect<'a>(
        &'a self,
        creds: &'a SlurmCredentials,
    ) -> BoxFuture<'a, Result<Box<dyn SlurmSession>, SlurmFailure>>;
}

/// Checks that Slurm answers with these credentials.
pub async fn probe(
    connector: &dyn SlurmConnector,
    creds: &SlurmCredentials,
) -> Result<String, SlurmFailure> {
    let session = connector.connect(creds).await?;
    let how = session.describe();
    session.close().await;
    Ok(how)
}

/// Cancels every pending or running job whose name starts with `prefix`
/// and not with `keep` (when given); returns the ids cancelled.
pub async fn cancel_matching(
    session: &dyn SlurmSession,
    prefix: &str,
    keep: Option<&str>,
) -> Result<Vec<String>, String> {
    let ids: Vec<String> = session
        .jobs()
        .await?
        .into_iter()
        .filter(|j| {
            j.name.starts_with(prefix)
                && keep.is_none_or(|k| !j.name.starts_with(k))
                && j.state.is_active()
        })
        .map(|j| j.job_id)
        .collect();
    if !ids.is_empty() {
        session.cancel(&ids).await?;
    }
    Ok(ids)
}

/// The connector of a build without a Slurm transport: Slurm is reported
/// unreachable, with that reason.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSlurm;

impl SlurmConnector for NoSlurm {
    fn connect<'a>(
        &'a self,
        _creds: &'a SlurmCredentials,
    ) -> BoxFuture<'a, Result<Box<dyn SlurmSession>, SlurmFailure>> {
        Box::pin(async {
            Err(SlurmFailure {
                reason: "Unreachable",
                message: "this operator build has no Slurm transport".to_string(),
            })
        })
    }
}

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

#[derive(Clone)]
struct Minted {
    token: SecretValue,
    at: Instant,
}

/// The operator's Slurm connector: slurmrestd with a JWT (refreshed over
/// SSH when refused), or the Slurm commands over SSH.
pub struct ClusterSlurm {
    lifespan: Duration,
    minted: Mutex<HashMap<String, Minted>>,
}

impl Default for ClusterSlurm {
    fn default() -> Self {
        Self::new(Duration::from_secs(3600))
    }
}

impl fmt::Debug for ClusterSlurm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSlurm")
            .field("lifespan", &self.lifespan)
            .finish_non_exhaustive()
    }
}

fn fingerprint(s: Option<&SecretValue>) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.map(SecretValue::expose).hash(&mut h);
    h.finish()
}

struct ClusterSession {
    transport: Transport,
    ssh: Option<SshAccess>,
    how: String,
    secrets: Vec<SecretValue>,
}

impl ClusterSession {
    fn clean(&self, e: &SlurmError) -> String {
        let mut msg = e.to_string();
        for s in &self.secrets {
            if !s.expose().is_empty() {
                msg = msg.replace(s.expose(), "<redacted>");
            }
        }
        msg
    }
}

impl SlurmSession for ClusterSession {
    fn describe(&self) -> String {
        self.how.clone()
    }
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobInfo>, String>> {
        Box::pin(async move { self.transport.jobs().await.map_err(|e| self.clean(&e)) })
    }
    fn submit<'a>(&'a self, req: &'a JobRequest) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { self.transport.submit(req).await.map_err(|e| self.clean(&e)) })
    }
    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.transport.cancel(ids).await.map_err(|e| self.clean(&e)) })
    }
    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.transport
                .terminate(ids)
                .await
                .map_err(|e| self.clean(&e))
        })
    }
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let this = *self;
            this.transport.close().await;
            if let Some(ssh) = this.ssh {
                ssh.close().await;
            }
        })
    }
}

impl ClusterSlurm {
    /// A connector minting tokens of `lifespan` when refreshing.
    pub fn new(lifespan: Duration) -> Self {
        Self {
            lifespan,
            minted: Mutex::new(HashMap::new()),
        }
    }

    /// Every credential of the Secret is part of the key: a minted token is
    /// only ever reused with exactly the credentials that minted it (another
    /// Secret naming the same slurmrestd and user, but not holding the same
    /// key and token, never gets it), and a rotated token or key starts
    /// afresh.
    fn cache_key(creds: &SlurmCredentials) -> String {
        format!(
            "{}|{}|{}|{}|{:x}|{:x}",
            creds.url.as_deref().unwrap_or_default(),
            creds.user.as_deref().unwrap_or_default(),
            creds.host.as_deref().unwrap_or_default(),
            creds.port.unwrap_or(22),
            fingerprint(creds.token.as_ref()),
            fingerprint(creds.ssh_key.as_ref())
        )
    }

    fn cached(&self, creds: &SlurmCredentials) -> Option<SecretValue> {
        let map = self
            .minted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&Self::cache_key(creds))
            .filter(|m| m.at.elapsed() < self.lifespan / 2)
            .map(|m| m.token.clone())
    }

    fn remember(&self, creds: &SlurmCredentials, token: &SecretValue) {
        let mut map = self
            .minted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let half = self.lifespan / 2;
        map.retain(|_, m| m.at.elapsed() < half);
        map.insert(
            Self::cache_key(creds),
            Minted {
                token: token.clone(),
                at: Instant::now(),
            },
        );
    }

    fn forget(&self, creds: &SlurmCredentials) {
        let mut map = self
            .minted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(&Self::cache_key(creds));
    }

    fn rest(
        url: &str,
        token: &SecretValue,
        user: Option<&String>,
    ) -> Result<Transport, SlurmError> {
        Transport::new(&TransportConfig::Rest(RestConfig {
            url: Some(url.to_string()),
            socket: None,
            token: Some(RestSecret::new(token.expose())),
            user: user.cloned(),
            version: None,
        }))
    }

    async fn connect_rest(
        &self,
        creds: &SlurmCredentials,
        url: &str,
    ) -> Result<ClusterSession, SlurmFailure> {
        let clean = |msg: String, extra: Option<&SecretValue>| {
            let mut m = redact(&msg, Some(creds));
            if let Some(t) = extra {
                m = m.replace(t.expose(), "<redacted>");
            }
            m
        };
        let unreachable = |message: String| SlurmFailure {
            reason: "Unreachable",
            message,
        };
        let mut secrets: Vec<SecretValue> = creds.token.iter().cloned().collect();
        // A token minted earlier (the Secret's was refused) first.
        let first = self.cached(creds).or_else(|| creds.token.clone());
        let refused = match &first {
            Some(token) => {
                secrets.push(token.clone());
                let t = Self::rest(url, token, creds.user.as_ref())
                    .map_err(|e| unreachable(clean(e.to_string(), Some(token))))?;
                match t.jobs().await {
                    Ok(_) => {
                        let minted = Some(token) != creds.token.as_ref();
                        return Ok(ClusterSession {
                            transport: t,
                            ssh: None,
                            how: if minted {
                                format!("slurmrestd at {url} with a JWT minted over SSH")
                            } else {
                                format!("slurmrestd at {url}")
                            },
                            secrets,
                        });
                    }
                    Err(SlurmError::Unauthorized(m)) => clean(m, Some(token)),
                    Err(e) => return Err(unreachable(clean(e.to_string(), Some(token)))),
                }
            }
            None => "the Secret has a url but no token".to_string(),
        };
        self.forget(creds);
        if !creds.has_ssh() {
            return Err(SlurmFailure {
                reason: "TokenRejected",
                message: format!(
                    "slurmrestd at {url} refused the token: {refused}; update the Secret's token, or add SSH access (host, ssh-privatekey, known_hosts) so the operator can mint fresh ones"
                ),
            });
        }
        let ssh = SshAccess::new(creds).map_err(|e| SlurmFailure {
            reason: "InvalidCredentials",
            message: clean(e, None),
        })?;
        let fresh = match mint_token(&ssh, self.lifespan).await {
            Ok(t) => t,
            Err(e) => {
                let e = clean(e, None);
                ssh.close().await;
                return Err(SlurmFailure {
                    reason: "TokenRejected",
                    message: format!(
                        "slurmrestd at {url} refused the token ({refused}) and minting a fresh one over SSH failed: {e}"
                    ),
                });
            }
        };
        ssh.close().await;
        secrets.push(fresh.clone());
        let t = Self::rest(url, &fresh, creds.user.as_ref())
            .map_err(|e| unreachable(clean(e.to_string(), Some(&fresh))))?;
        match t.jobs().await {
            Ok(_) => {
                tracing::info!(url = %url, lifespan_s = self.lifespan.as_secs(), "slurmrestd refused the Secret's token; using a fresh one minted over SSH");
                self.remember(creds, &fresh);
                Ok(ClusterSession {
                    transport: t,
                    ssh: None,
                    how: format!("slurmrestd at {url} with a JWT minted over SSH"),
                    secrets,
                })
            }
            Err(SlurmError::Unauthorized(m)) => Err(SlurmFailure {
                reason: "TokenRejected",
                message: format!(
                    "slurmrestd at {url} refused the Secret's token and a fresh one minted over SSH: {}",
                    clean(m, Some(&fresh))
                ),
            }),
            Err(e) => Err(unreachable(clean(e.to_string(), Some(&fresh)))),
        }
    }

    async fn connect_ssh(&self, creds: &SlurmCredentials) -> Result<ClusterSession, SlurmFailure> {
        let ssh = SshAccess::new(creds).map_err(|e| SlurmFailure {
            reason: "InvalidCredentials",
            message: redact(&e, Some(creds)),
        })?;
        let transport =
            Transport::new(&TransportConfig::Ssh(ssh.config().clone())).map_err(|e| {
                SlurmFailure {
                    reason: "Unreachable",
                    message: redact(&e.to_string(), Some(creds)),
                }
            })?;
        let how = format!("ssh to {}", ssh.destination());
        match transport.jobs().await {
            Ok(_) => Ok(ClusterSession {
                transport,
                ssh: Some(ssh),
                how,
                secrets: creds.ssh_key.iter().cloned().collect(),
            }),
            Err(e) => {
                ssh.close().await;
                Err(SlurmFailure {
                    reason: "Unreachable",
                    message: format!("{how}: {}", redact(&e.to_string(), Some(creds))),
                })
            }
        }
    }
}

impl SlurmConnector for ClusterSlurm {
    fn connect<'a>(
        &'a self,
        creds: &'a SlurmCredentials,
    ) -> BoxFuture<'a, Result<Box<dyn SlurmSession>, SlurmFailure>> {
        Box::pin(async move {
            let session = match (&creds.url, creds.has_ssh()) {
                (Some(url), _) => self.connect_rest(creds, url).await?,
                (None, true) => self.connect_ssh(creds).await?,
                (None, false) => {
                    return Err(SlurmFailure {
                        reason: "InvalidCredentials",
                        message: "the Secret has a host but no ssh-privatekey (SSH), and no url (slurmrestd)".to_string(),
                    });
                }
            };
            Ok(Box::new(session) as Box<dyn SlurmSession>)
        })
    }
}

/// The Slurm job-name prefix of a Benchmark (`aifb-<uid prefix>-`): the
/// start of [`crate::backend::slurm::run_prefix`] of every run id
/// [`crate::backend::slurm::operator_run_id`] gives it, whatever the
/// generation.
pub fn job_prefix(uid: &str) -> String {
    let short: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    format!("aifb-{short}-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

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

    #[test]
    fn credentials_are_read_and_never_printed() {
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("slurm".into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([
                ("url".to_string(), ByteString(b"http://slurm:6820".to_vec())),
                ("token".to_string(), ByteString(b"CANARY-123\n".to_vec())),
            ])),
            ..Default::default()
        };
        let c = credentials_from_secret(&secret).unwrap();
        assert_eq!(c.token.as_ref().unwrap().expose(), "CANARY-123");
        assert!(!format!("{c:?}").contains("CANARY"));
        assert_eq!(
            redact("bad token CANARY-123!", Some(&c)),
            "bad token <redacted>!"
        );
        let empty = Secret::default();
        assert!(credentials_from_secret(&empty).is_err());
        assert_eq!(job_prefix("1234-5678-9abc"), "aifb-12345678-");
        let run = crate::backend::slurm::operator_run_id("1234-5678-9abc", 7);
        assert!(crate::backend::slurm::run_prefix(&run).starts_with(&job_prefix("1234-5678-9abc")));
    }
}
