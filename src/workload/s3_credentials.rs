//! S3 credentials: an access key id and its secret (never printed), read
//! from a `NAME=value` file or from environment variables. Shared by the S3
//! workload, the results bucket client ([`super::object_store`]) and the
//! operator.

use std::collections::BTreeMap;
use std::path::Path;

use super::WorkloadError;
use crate::api::workload::S3Workload;

/// Parses a credentials file of `NAME=value` lines (`export ` prefixes,
/// quotes, comments and blank lines allowed).
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim().trim_matches('"').trim_matches('\'');
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// Access key id and secret key. `Debug` never shows the secret.
#[derive(Clone)]
pub struct S3Credentials {
    /// Access key id.
    pub access_key_id: String,
    secret: String,
}

impl S3Credentials {
    /// The same credentials for the AWS SDK's client configuration.
    pub fn to_sdk(&self) -> aws_sdk_s3::config::Credentials {
        aws_sdk_s3::config::Credentials::new(
            self.access_key_id.clone(),
            self.secret.clone(),
            None,
            None,
            "aifbench",
        )
    }

    /// Credentials from an access key id and its secret.
    pub fn new(access_key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret: secret.into(),
        }
    }

    /// The secret key, for signing and for redacting messages.
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Loads the credentials: from `credentialsFile` when set, else from the
/// environment variables named in the workload.
pub fn load_credentials(
    w: &S3Workload,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<S3Credentials, WorkloadError> {
    let (id, secret) = match &w.credentials_file {
        Some(path) => {
            let text = std::fs::read_to_string(Path::new(path))
                .map_err(|e| WorkloadError::ApiKey(format!("credentials file {path}: {e}")))?;
            let vars = parse_env_file(&text);
            (
                vars.get("AWS_ACCESS_KEY_ID").cloned(),
                vars.get("AWS_SECRET_ACCESS_KEY").cloned(),
            )
        }
        None => (env(&w.access_key_id_env), env(&w.secret_access_key_env)),
    };
    let where_ = w.credentials_file.clone().unwrap_or_else(|| {
        format!(
            "environment variables {} and {}",
            w.access_key_id_env, w.secret_access_key_env
        )
    });
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok(S3Credentials {
            access_key_id: id,
            secret,
        }),
        _ => Err(WorkloadError::ApiKey(format!(
            "no S3 access key id and secret in {where_}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_file_or_env_and_never_debug_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.env");
        std::fs::write(
            &path,
            "# garage\nexport AWS_ACCESS_KEY_ID=GK123\nAWS_SECRET_ACCESS_KEY=\"s3cr3t\"\n",
        )
        .unwrap();
        let w = S3Workload {
            credentials_file: Some(path.display().to_string()),
            ..Default::default()
        };
        let c = load_credentials(&w, &|_| None).unwrap();
        assert_eq!(c.access_key_id, "GK123");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("A".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("B".to_string()),
            _ => None,
        };
        assert_eq!(
            load_credentials(&S3Workload::default(), &env)
                .unwrap()
                .access_key_id,
            "A"
        );
        let err = load_credentials(&S3Workload::default(), &|_| None).unwrap_err();
        assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    }
}
