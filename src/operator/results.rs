//! The report under the operator: every client instance's full result
//! fetched from `results.s3` and merged exactly (the histogram merge of
//! `aifbench run`), or — when one that ran is missing there, or the bucket
//! cannot be read — the summaries the pods left as termination messages,
//! merged approximately and marked `approximate`.

use crate::api::status::ResultsSummary;
use crate::results::report::headline;
use crate::results::s3::{ResultsStore, client_result_key, fetch_results, join_key};
use crate::workload::result::{Summary, merge_with};

use super::observe::merge_summaries;

/// What the report found of the clients' results.
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    /// The headline numbers for the status.
    pub summary: Option<ResultsSummary>,
    /// The exact merge, when every instance's full result was fetched.
    pub total: Option<Summary>,
    /// Instances whose full result is missing although they ran (they left
    /// a termination message).
    pub missing: Vec<String>,
    /// Why the summary is approximate although `results.s3` is set.
    pub warning: Option<String>,
}

/// Fetches `<run prefix>/clients/<instance>.json` of every instance from
/// `store` and merges them exactly. `instances` pairs each instance id with
/// the summary its pod left as termination message, if any: an instance
/// with neither never measured anything; one with only the termination
/// message makes the whole summary the approximate merge of the
/// termination messages, with a warning naming it.
pub async fn collect_results(
    store: Result<&ResultsStore, String>,
    run_prefix: &str,
    instances: &[(String, Option<ResultsSummary>)],
    percentiles: &[f64],
) -> Gathered {
    let parts: Vec<ResultsSummary> = instances.iter().filter_map(|(_, s)| s.clone()).collect();
    let approximate = |warning: String, missing: Vec<String>| {
        let mut summary = merge_summaries(&parts);
        if let Some(s) = summary.as_mut() {
            s.approximate = true;
        }
        Gathered {
            summary,
            total: None,
            missing,
            warning: Some(warning),
        }
    };
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            return approximate(
                format!(
                    "cannot fetch the full results: {e}; merged the termination messages instead"
                ),
                Vec::new(),
            );
        }
    };
    let wanted: Vec<(String, String)> = instances
        .iter()
        .map(|(id, _)| (id.clone(), client_result_key(run_prefix, id)))
        .collect();
    let fetched = match fetch_results(store, &wanted).await {
        Ok(f) => f,
        Err(e) => {
            return approximate(
                format!(
                    "cannot fetch the full results: {e}; merged the termination messages instead"
                ),
                Vec::new(),
            );
        }
    };
    let lost: Vec<String> = fetched
        .missing
        .iter()
        .filter(|id| instances.iter().any(|(i, s)| i == *id && s.is_some()))
        .cloned()
        .collect();
    if !lost.is_empty() {
        return approximate(
            format!(
                "no full result in s3://{}/{} for {}; merged the termination messages instead",
                store.bucket(),
                join_key(&[run_prefix, "clients"]),
                lost.join(", ")
            ),
            lost,
        );
    }
    if fetched.results.is_empty() {
        return Gathered::default();
    }
    match merge_with(&fetched.results, percentiles) {
        Ok(total) => Gathered {
            summary: Some(headline(&total)),
            total: Some(total),
            missing: fetched.missing,
            warning: None,
        },
        Err(e) => approximate(
            format!("cannot merge the full results: {e}; merged the termination messages instead"),
            Vec::new(),
        ),
    }
}
