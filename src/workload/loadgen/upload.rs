//! Uploading an instance's result to S3 (`--upload-url s3://bucket/key`):
//! the target ([`UploadTarget`]) and the put ([`upload_result`]).

use serde::{Deserialize, Serialize};

use crate::workload::result::ClientResult;

/// Where `aifbench loadgen` uploads its full result. The credentials are
/// read from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, never from the
/// configuration or a flag.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadTarget {
    /// `s3://bucket/key`.
    pub url: String,
    /// Endpoint of an S3-compatible server (default: `AWS_ENDPOINT_URL`, else
    /// AWS S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Signing region (default: `AWS_REGION`, else `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style addressing (default: true with an endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
}

/// Puts `result` (the same JSON as `--output`) at `target`; returns the URL.
pub async fn upload_result(
    target: &UploadTarget,
    result: &ClientResult,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, crate::workload::object_store::StoreError> {
    use crate::workload::object_store::{ResultsStore, StoreConfig, StoreError, parse_s3_url};
    let (bucket, key) = parse_s3_url(&target.url)?;
    if key.is_empty() || key.ends_with('/') {
        return Err(StoreError::BadUrl(target.url.clone()));
    }
    let creds = crate::workload::object_store::credentials_from_source(
        &crate::api::spec::S3CredentialsSource::default(),
        env,
    )?;
    let config = StoreConfig::for_bucket(
        bucket,
        target.endpoint.clone(),
        target.region.clone(),
        target.path_style,
        env,
    );
    let body = serde_json::to_vec_pretty(result).map_err(|e| StoreError::Parse {
        bucket: config.bucket.clone(),
        key: key.clone(),
        reason: e.to_string(),
    })?;
    ResultsStore::new(&config, &creds)
        .put(&key, body, "application/json")
        .await?;
    Ok(target.url.clone())
}
