//! Results in an S3 bucket (`spec.results.s3`).
//!
//! - `aifbench loadgen --upload-url s3://bucket/key` puts its full result
//!   (histograms included) there after the run, also when stopped by SIGTERM;
//! - the `uploadResults` post-action of `aifbench run` puts the whole results
//!   folder under `<prefix>/<results folder>/`;
//! - the operator's report fetches every client instance's result from
//!   `<prefix>/<namespace>/<results folder>/clients/` and merges the
//!   histograms exactly ([`fetch_results`] + the same `merge_with` as
//!   `aifbench run`).
//!
//! The bucket client, `s3://` URLs and credentials live in
//! [`crate::workload::object_store`] (re-exported here), so that the load
//! generator uploads without depending on this module. Credentials come from
//! a Secret, a file or the environment, never from the spec or a flag; every
//! error message is stripped of the secret key.

pub use crate::workload::object_store::{
    ResultsStore, StoreConfig, StoreError, credentials_from_source, join_key, parse_s3_url, s3_url,
};
use crate::workload::result::ClientResult;

/// The key of a client instance's result under a run's prefix, as the
/// operator's client pods write it: `<run prefix>/clients/<instance>.json`.
pub fn client_result_key(run_prefix: &str, instance: &str) -> String {
    join_key(&[run_prefix, "clients", &format!("{instance}.json")])
}

/// What [`fetch_results`] found.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// The results found, in the order asked.
    pub results: Vec<ClientResult>,
    /// Instances whose object is missing.
    pub missing: Vec<String>,
}

/// Fetches the result of each `(instance, key)`; a missing object is listed
/// in `missing`, any other failure is an error.
pub async fn fetch_results(
    store: &ResultsStore,
    wanted: &[(String, String)],
) -> Result<Fetched, StoreError> {
    let mut out = Fetched::default();
    for (instance, key) in wanted {
        match store.get(key).await? {
            Some(bytes) => {
                let r: ClientResult =
                    serde_json::from_slice(&bytes).map_err(|e| StoreError::Parse {
                        bucket: store.bucket().to_string(),
                        key: key.clone(),
                        reason: e.to_string(),
                    })?;
                out.results.push(r);
            }
            None => out.missing.push(instance.clone()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_result_keys() {
        assert_eq!(
            client_result_key("runs/ns/bm-1", "load-index-0"),
            "runs/ns/bm-1/clients/load-index-0.json"
        );
    }
}
