//! The operator's Slurm connector for real clusters ([`ClusterSlurm`]):
//! slurmrestd with the Secret's JWT, or a fresh one minted over SSH when
//! slurmrestd refuses it (kept in memory only and reused, for exactly the
//! credentials that minted it, until half its lifespan is gone); or the
//! Slurm commands over SSH. Each connection is a session whose errors are
//! redacted.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::backend::slurm::render::JobRequest;
use crate::backend::slurm::rest::{RestConfig, Secret as RestSecret};
use crate::backend::slurm::state::JobInfo;
use crate::backend::slurm::{SlurmError, Transport, TransportConfig};

use super::credentials::{SecretValue, SlurmCredentials, redact};
use super::ssh_access::{SshAccess, mint_token};
use super::{SlurmConnector, SlurmFailure, SlurmSession};

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
