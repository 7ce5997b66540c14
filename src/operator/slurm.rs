//! Slurm from the cluster: credentials from a Secret and the
//! `BackendReachable` condition. The transport itself (CLI, SSH, slurmrestd)
//! lives in `backend::slurm`; the operator talks to it through the small
//! [`SlurmConnector`] trait so this plumbing is testable on its own.
//!
//! Secret values are held in [`SecretValue`], whose `Debug` and `Display`
//! print `<redacted>`; every message that reaches a status, an event or a
//! log line goes through [`redact`] first.

use std::collections::BTreeMap;
use std::fmt;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;

use crate::backend::slurm::rest::{RestConfig, Secret as RestSecret};
use crate::backend::slurm::state::SlurmState;
use crate::backend::slurm::{Transport, TransportConfig};

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
/// Keys: `url` (slurmrestd base URL) or `host` (SSH login node), `user`,
/// and one of `token` (slurmrestd JWT) or `ssh-privatekey`.
#[derive(Clone, Debug, PartialEq)]
pub struct SlurmCredentials {
    /// slurmrestd URL.
    pub url: Option<String>,
    /// SSH login node.
    pub host: Option<String>,
    /// User name.
    pub user: Option<String>,
    /// JWT for slurmrestd.
    pub token: Option<SecretValue>,
    /// SSH private key.
    pub ssh_key: Option<SecretValue>,
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
        values.insert(k.clone(), s.trim_end_matches('\n').to_string());
    }
    for (k, v) in secret.string_data.iter().flatten() {
        values.insert(k.clone(), v.clone());
    }
    let creds = SlurmCredentials {
        url: values.get("url").cloned(),
        host: values.get("host").cloned(),
        user: values.get("user").cloned(),
        token: values.get("token").map(SecretValue::new),
        ssh_key: values.get("ssh-privatekey").map(SecretValue::new),
    };
    if creds.url.is_none() && creds.host.is_none() {
        return Err(CredentialError::NoEndpoint(name));
    }
    if creds.token.is_none() && creds.ssh_key.is_none() {
        return Err(CredentialError::NoCredential(name));
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
    }
    out
}

/// What the operator needs from a Slurm transport.
pub trait SlurmConnector: Send + Sync {
    /// Checks that Slurm answers with these credentials. Errors are
    /// human-readable and are redacted again before use.
    fn probe<'a>(&'a self, creds: &'a SlurmCredentials) -> BoxFuture<'a, Result<(), String>>;
    /// Cancels every job whose name starts with `job_prefix`
    /// (`aifb-<uid prefix>-`); returns how many were cancelled.
    fn cancel_jobs<'a>(
        &'a self,
        creds: &'a SlurmCredentials,
        job_prefix: &'a str,
    ) -> BoxFuture<'a, Result<u32, String>>;
}

/// The connector of a build without a Slurm transport: Slurm is reported
/// unreachable, with that reason.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSlurm;

impl SlurmConnector for NoSlurm {
    fn probe<'a>(&'a self, _creds: &'a SlurmCredentials) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Err("this operator build has no Slurm transport".to_string()) })
    }
    fn cancel_jobs<'a>(
        &'a self,
        _creds: &'a SlurmCredentials,
        _job_prefix: &'a str,
    ) -> BoxFuture<'a, Result<u32, String>> {
        Box::pin(async { Ok(0) })
    }
}

/// The connector over aifbench's own Slurm backend, through slurmrestd: the
/// Secret's `url` and `token` (JWT), and `user` when the token is not bound
/// to one. SSH credentials (`host`, `ssh-privatekey`) are read and redacted
/// but not yet used to connect: such a Secret is reported unreachable, with
/// that reason.
#[derive(Clone, Copy, Debug, Default)]
pub struct RestSlurm;

impl RestSlurm {
    fn transport(creds: &SlurmCredentials) -> Result<Transport, String> {
        let url = creds.url.clone().ok_or_else(|| {
            "the operator reaches Slurm through slurmrestd: give the Secret a url and a token"
                .to_string()
        })?;
        let token = creds
            .token
            .as_ref()
            .ok_or_else(|| "the Secret has a url but no token".to_string())?;
        Transport::new(&TransportConfig::Rest(RestConfig {
            url: Some(url),
            socket: None,
            token: Some(RestSecret::new(token.expose())),
            user: creds.user.clone(),
            version: None,
        }))
        .map_err(|e| e.to_string())
    }
}

impl SlurmConnector for RestSlurm {
    fn probe<'a>(&'a self, creds: &'a SlurmCredentials) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let t = Self::transport(creds)?;
            t.jobs().await.map(|_| ()).map_err(|e| e.to_string())
        })
    }

    fn cancel_jobs<'a>(
        &'a self,
        creds: &'a SlurmCredentials,
        job_prefix: &'a str,
    ) -> BoxFuture<'a, Result<u32, String>> {
        Box::pin(async move {
            let t = Self::transport(creds)?;
            let ids: Vec<String> = t
                .jobs()
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|j| {
                    j.name.starts_with(job_prefix)
                        && matches!(
                            j.state,
                            SlurmState::Pending
                                | SlurmState::Configuring
                                | SlurmState::Running
                                | SlurmState::Suspended
                        )
                })
                .map(|j| j.job_id)
                .collect();
            if !ids.is_empty() {
                t.cancel(&ids).await.map_err(|e| e.to_string())?;
            }
            Ok(u32::try_from(ids.len()).unwrap_or(u32::MAX))
        })
    }
}

/// The Slurm job-name prefix of a Benchmark (`aifb-<uid prefix>-`), as the
/// Slurm backend names its jobs.
pub fn job_prefix(uid: &str) -> String {
    let short: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    format!("aifb-{short}-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

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
    }
}
