//! Slurm credentials from a Kubernetes Secret, and keeping them out of
//! every message: secret values are held in [`SecretValue`], whose `Debug`
//! and `Display` print `<redacted>`, and [`redact`] removes them from any
//! text bound for a status, an event or a log line.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Secret;

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

#[cfg(test)]
mod tests {
    use super::super::job_prefix;
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
        let run = crate::backend::slurm::operator_run_id("1234-5678-9abc", 7);
        assert!(crate::backend::slurm::run_prefix(&run).starts_with(&job_prefix("1234-5678-9abc")));
    }
}
