//! Results in an S3 bucket (`spec.results.s3`).
//!
//! - `aifbench loadgen --upload-url s3://bucket/key` puts its full result
//!   (histograms included) there after the run, also when stopped by SIGTERM;
//! - the `uploadResults` post-action of `aifbench run` puts the whole results
//!   folder under `<prefix>/<results folder>/`;
//! - the operator's report fetches every client instance's result from
//!   `<prefix>/<namespace>/<results folder>/clients/` and merges the
//!   histograms exactly ([`fetch_results`] + the same `merge_with` as
//!   `aifbench run`);
//! - `aifbench compare s3://bucket/prefix` copies a run's result files to a
//!   local folder first ([`download_for_compare`]).
//!
//! The bucket client, `s3://` URLs and credentials live in
//! [`crate::workload::object_store`] (re-exported here), so that the load
//! generator uploads without depending on this module. Credentials come from
//! a Secret, a file or the environment, never from the spec or a flag; every
//! error message is stripped of the secret key.

pub use crate::workload::object_store::{
    ResultsStore, StoreConfig, StoreError, credentials_from_source, join_key, parse_s3_url, s3_url,
};
use std::path::{Path, PathBuf};

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

/// The files of a results folder that `aifbench compare` reads, among
/// `keys` listed under `run_prefix`: `summary.json`, `clients/<id>.json`
/// and `clients/<id>.requests.jsonl`, as (key, path relative to the
/// folder). Anything deeper, or a name that is not a plain file name, is
/// left out, so no key can name a path outside the folder it is copied to.
pub fn compare_files(run_prefix: &str, keys: &[String]) -> Vec<(String, PathBuf)> {
    let base = join_key(&[run_prefix]);
    let plain = |name: &str| !name.is_empty() && !name.starts_with('.') && !name.contains('\\');
    keys.iter()
        .filter_map(|key| {
            let rel = if base.is_empty() {
                key.as_str()
            } else {
                key.strip_prefix(&base)?.strip_prefix('/')?
            };
            let parts: Vec<&str> = rel.split('/').collect();
            let keep = match parts.as_slice() {
                ["summary.json"] => true,
                ["clients", name] => {
                    plain(name) && (name.ends_with(".json") || name.ends_with(".requests.jsonl"))
                }
                _ => false,
            };
            keep.then(|| (key.clone(), parts.iter().collect::<PathBuf>()))
        })
        .collect()
}

/// Copies the files [`compare_files`] picks from `s3://<bucket>/<run_prefix>/`
/// into `into` (made if missing); returns how many.
pub async fn download_for_compare(
    store: &ResultsStore,
    run_prefix: &str,
    into: &Path,
) -> Result<usize, StoreError> {
    let prefix = join_key(&[run_prefix]);
    let listed = store
        .list(&if prefix.is_empty() {
            prefix.clone()
        } else {
            format!("{prefix}/")
        })
        .await?;
    let files = compare_files(&prefix, &listed);
    for (key, rel) in &files {
        let Some(body) = store.get(key).await? else {
            continue;
        };
        let path = into.join(rel);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, body).map_err(io)?;
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_reads_only_the_result_files_of_the_run() {
        let keys: Vec<String> = [
            "runs/a/summary.json",
            "runs/a/clients/load-1.json",
            "runs/a/clients/load-1.requests.jsonl",
            "runs/a/clients/load-1.log",
            "runs/a/clients/sub/x.json",
            "runs/a/clients/.hidden.json",
            "runs/a/monitors/sim.prom",
            "runs/ab/summary.json",
            "runs/a/../b/summary.json",
        ]
        .iter()
        .map(|k| k.to_string())
        .collect();
        let got = compare_files("runs/a/", &keys);
        let rels: Vec<String> = got
            .iter()
            .map(|(_, p)| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            rels,
            [
                "summary.json",
                "clients/load-1.json",
                "clients/load-1.requests.jsonl"
            ]
        );
        assert_eq!(got[1].0, "runs/a/clients/load-1.json");
        // A bucket root as the run.
        let root = compare_files(
            "",
            &["summary.json".to_string(), "x/summary.json".to_string()],
        );
        assert_eq!(root.len(), 1);
    }

    #[test]
    fn client_result_keys() {
        assert_eq!(
            client_result_key("runs/ns/bm-1", "load-index-0"),
            "runs/ns/bm-1/clients/load-index-0.json"
        );
    }
}
