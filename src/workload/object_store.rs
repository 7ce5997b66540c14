//! An S3 bucket client for result files (aws-sdk-s3, rustls on ring, three
//! attempts per request, messages stripped of the secret key): put a body or
//! a file, get an object, list keys, upload a folder. `aifbench loadgen --upload-url`
//! puts its result with it; [`crate::results::s3`] builds on it for the
//! results folder and the operator's fetch. Also: `s3://` URLs and keys, and
//! credentials from `spec.results.s3` ([`credentials_from_source`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use super::s3_credentials::{S3Credentials, parse_env_file};
use crate::api::spec::{S3CredentialsSource, S3ResultsSpec};

/// A results upload or download failed (messages never hold the secret key).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not an `s3://bucket/key` URL.
    #[error("{0:?} is not an s3://bucket/key URL")]
    BadUrl(String),
    /// No usable credentials.
    #[error("S3 credentials: {0}")]
    Credentials(String),
    /// A request failed.
    #[error("s3://{bucket}/{key}: {reason}")]
    Request {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
        /// What went wrong.
        reason: String,
    },
    /// A downloaded object is not a client result.
    #[error("s3://{bucket}/{key}: not a client result: {reason}")]
    Parse {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
        /// The JSON error.
        reason: String,
    },
    /// A local file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Where the bucket is and how to talk to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Endpoint URL (None: AWS S3 of the region).
    pub endpoint: Option<String>,
    /// Signing region.
    pub region: String,
    /// Path-style addressing.
    pub path_style: bool,
    /// Bucket.
    pub bucket: String,
}

impl StoreConfig {
    /// The settings of `spec.results.s3`.
    pub fn from_spec(s: &S3ResultsSpec) -> Self {
        Self {
            endpoint: s.endpoint.clone(),
            region: s.region.clone(),
            path_style: s.path_style(),
            bucket: s.bucket.clone(),
        }
    }

    /// The settings for a bucket named on the command line: the endpoint,
    /// region and addressing given, else `AWS_ENDPOINT_URL` and `AWS_REGION`
    /// from `env`, else AWS S3 in `us-east-1`; path-style by default when
    /// there is an endpoint (S3-compatible servers such as Garage or MinIO).
    pub fn for_bucket(
        bucket: String,
        endpoint: Option<String>,
        region: Option<String>,
        path_style: Option<bool>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let endpoint = endpoint
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .filter(|e| !e.is_empty());
        Self {
            path_style: path_style.unwrap_or(endpoint.is_some()),
            endpoint,
            region: region
                .or_else(|| env("AWS_REGION"))
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "us-east-1".to_string()),
            bucket,
        }
    }
}

/// Splits `s3://bucket/key` into bucket and key (the key may be empty).
pub fn parse_s3_url(url: &str) -> Result<(String, String), StoreError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| StoreError::BadUrl(url.to_string()))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(StoreError::BadUrl(url.to_string()));
    }
    Ok((bucket.to_string(), key.to_string()))
}

/// `s3://bucket/key`.
pub fn s3_url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Joins key parts with `/`, dropping empty parts and stray slashes.
pub fn join_key(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// Credentials for `aifbench run`: the file when given, else the two
/// environment variables.
pub fn credentials_from_source(
    src: &S3CredentialsSource,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<S3Credentials, StoreError> {
    let (id, secret, from) = match &src.file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| StoreError::Credentials(format!("file {path}: {e}")))?;
            let vars = parse_env_file(&text);
            (
                vars.get("AWS_ACCESS_KEY_ID").cloned(),
                vars.get("AWS_SECRET_ACCESS_KEY").cloned(),
                format!("file {path}"),
            )
        }
        None => (
            env(&src.access_key_id_env),
            env(&src.secret_access_key_env),
            format!(
                "environment variables {} and {}",
                src.access_key_id_env, src.secret_access_key_env
            ),
        ),
    };
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok(S3Credentials::new(id, secret))
        }
        _ => Err(StoreError::Credentials(format!(
            "no access key id and secret key in {from}"
        ))),
    }
}

/// A bucket to put results into and fetch them from.
pub struct ResultsStore {
    client: Client,
    bucket: String,
    /// Only to strip it from error messages.
    secret: String,
}

impl std::fmt::Debug for ResultsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultsStore")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl ResultsStore {
    /// A client for `config` (rustls on ring, three attempts per request,
    /// 30 s per attempt).
    pub fn new(config: &StoreConfig, credentials: &S3Credentials) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let creds = credentials.to_sdk();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .force_path_style(config.path_style)
            .credentials_provider(creds)
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            )
            // S3-compatible servers differ in their support of trailing
            // checksums; send them only where the API requires them.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(e) = &config.endpoint {
            builder = builder.endpoint_url(e.trim_end_matches('/'));
        }
        Self {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
            secret: credentials.secret().to_string(),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn request_error<E, R>(&self, key: &str, e: &SdkError<E, R>) -> StoreError
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let mut reason = DisplayErrorContext(e).to_string();
        if !self.secret.is_empty() {
            reason = reason.replace(&self.secret, "<redacted>");
        }
        let reason: String = reason.chars().take(500).collect();
        StoreError::Request {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            reason,
        }
    }

    /// Puts `body` at `key`.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.request_error(key, &e))?;
        Ok(())
    }

    /// Puts the file at `path` at `key`, streaming it (per-request log
    /// files can be large: up to 10 minutes per attempt).
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<(), StoreError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| StoreError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type(path))
            .body(body)
            .customize()
            .config_override(
                aws_sdk_s3::Config::builder().timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(5))
                        .operation_attempt_timeout(Duration::from_secs(600))
                        .build(),
                ),
            )
            .send()
            .await
            .map_err(|e| self.request_error(key, &e))?;
        Ok(())
    }

    /// The object at `key`; None when there is none (404).
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => {
                return Ok(None);
            }
            Err(e) => return Err(self.request_error(key, &e)),
        };
        let bytes = out.body.collect().await.map_err(|e| StoreError::Request {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            reason: format!("reading the body: {e}"),
        })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    /// The keys under `prefix`, in the order the server lists them (every
    /// page).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.request_error(prefix, &e))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(keys),
            }
        }
    }

    /// Uploads every file under `dir` (recursively; temporary `*.tmp` files
    /// left out) to `<prefix>/<relative path>`; returns how many.
    pub async fn upload_dir(&self, dir: &Path, prefix: &str) -> Result<usize, StoreError> {
        let mut files = Vec::new();
        list_files(dir, &mut files)?;
        files.sort();
        for path in &files {
            let rel = path.strip_prefix(dir).unwrap_or(path);
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            self.put_file(&join_key(&[prefix, &rel]), path).await?;
        }
        Ok(files.len())
    }
}

fn list_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            list_files(&path, out)?;
        } else if kind.is_file() && path.extension().is_none_or(|e| e != "tmp") {
            out.push(path);
        }
    }
    Ok(())
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("jsonl") => "application/x-ndjson",
        Some("yaml") => "application/yaml",
        Some("md") => "text/markdown",
        Some("csv") => "text/csv",
        Some("log" | "txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_keys() {
        assert_eq!(
            parse_s3_url("s3://b/runs/x.json").unwrap(),
            ("b".to_string(), "runs/x.json".to_string())
        );
        assert_eq!(
            parse_s3_url("s3://b").unwrap(),
            ("b".to_string(), String::new())
        );
        assert!(parse_s3_url("http://b/x").is_err());
        assert!(parse_s3_url("s3:///x").is_err());
        assert_eq!(join_key(&["", "/runs/", "ns", "f"]), "runs/ns/f");
    }

    #[test]
    fn credentials_come_from_a_file_or_the_environment() {
        let src = S3CredentialsSource::default();
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("id".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("CANARY-sec".to_string()),
            _ => None,
        };
        let c = credentials_from_source(&src, &env).unwrap();
        assert_eq!(c.access_key_id, "id");
        assert!(!format!("{c:?}").contains("CANARY"));
        let err = credentials_from_source(&src, &|_| None).unwrap_err();
        assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("creds.env");
        std::fs::write(&file, "AWS_ACCESS_KEY_ID=fid\nAWS_SECRET_ACCESS_KEY=fsec\n").unwrap();
        let src = S3CredentialsSource {
            file: Some(file.display().to_string()),
            ..Default::default()
        };
        assert_eq!(
            credentials_from_source(&src, &env).unwrap().access_key_id,
            "fid"
        );
    }
}
