//! Reading a results folder for `aifbench compare`: the client results
//! (`clients/<id>.json`, merged exactly as the report merges them, histograms
//! kept), the per-request records (`clients/<id>.requests.jsonl`, used only
//! when every instance has them), and `summary.json` when there are no
//! client results. A run in S3 is read from a local copy of those files
//! (`results::s3::download_for_compare`, called by the command).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::RunData;
use crate::results::ResultsDir;
use crate::workload::client_result::merged_histograms;
use crate::workload::result::{ClientResult, Summary, merge};

/// A run that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Neither client results nor summary.json.
    #[error("{0}: not a results folder (no clients/*.json and no summary.json)")]
    NotResults(PathBuf),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file did not parse.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn format_err(path: &Path, reason: impl ToString) -> LoadError {
    LoadError::Format {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The label of a run: the last part of its folder or URL.
pub fn run_label(source: &str) -> String {
    Path::new(source.trim_end_matches('/'))
        .file_name()
        .map_or_else(|| source.to_string(), |n| n.to_string_lossy().into_owned())
}

/// Loads the run in the results folder `source`.
pub fn load_run(source: &str) -> Result<RunData, LoadError> {
    load_folder(Path::new(source), run_label(source), source)
}

/// Loads the run in `folder`, named `label` and shown as read from `source`
/// (the folder itself, or the `s3://` URL its files were copied from).
pub fn load_folder(folder: &Path, label: String, source: &str) -> Result<RunData, LoadError> {
    let dir = ResultsDir::open(folder);
    let ids = client_ids(&dir)?;
    if ids.is_empty() {
        return from_summary(&dir, label, source);
    }
    let mut results = Vec::new();
    for id in &ids {
        let path = dir.client_result(id);
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let r: ClientResult = serde_json::from_str(&text).map_err(|e| format_err(&path, e))?;
        results.push(r);
    }
    let summary = merge(&results).map_err(|e| format_err(&dir.clients(), e))?;
    let mut histograms =
        merged_histograms(&results, None).map_err(|e| format_err(&dir.clients(), e))?;
    histograms.retain(|_, h| !h.is_empty());
    let records = read_records(&dir, &ids)?;
    Ok(RunData {
        label,
        source: source.to_string(),
        summary,
        histograms,
        records,
    })
}

/// The ids of `clients/<id>.json`.
fn client_ids(dir: &ResultsDir) -> Result<Vec<String>, LoadError> {
    dir.client_result_ids().map_err(io(&dir.clients()))
}

/// A folder with only `summary.json` (its `total`): no histograms.
fn from_summary(dir: &ResultsDir, label: String, source: &str) -> Result<RunData, LoadError> {
    let path = dir.summary_json();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LoadError::NotResults(dir.root.clone()));
        }
        Err(e) => return Err(io(&path)(e)),
    };
    #[derive(Deserialize)]
    struct File {
        total: Summary,
    }
    let file: File = serde_json::from_str(&text).map_err(|e| format_err(&path, e))?;
    Ok(RunData {
        label,
        source: source.to_string(),
        summary: file.total,
        histograms: BTreeMap::new(),
        records: BTreeMap::new(),
    })
}

/// One line of `clients/<id>.requests.jsonl`, the fields compare reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordLine {
    #[serde(default)]
    warmup: bool,
    ttft_ms: Option<f64>,
    e2el_ms: Option<f64>,
    output_tokens: Option<u64>,
    #[serde(default)]
    itl_ms: Vec<f64>,
    error: Option<String>,
}

/// Per-request values of the measured, successful requests, by metric,
/// sorted; empty unless every instance wrote its records.
fn read_records(dir: &ResultsDir, ids: &[String]) -> Result<BTreeMap<String, Vec<f64>>, LoadError> {
    let paths: Vec<PathBuf> = ids
        .iter()
        .map(|id| dir.clients().join(format!("{id}.requests.jsonl")))
        .collect();
    if !paths.iter().all(|p| p.is_file()) {
        return Ok(BTreeMap::new());
    }
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let rec: RecordLine = serde_json::from_str(line)
                .map_err(|e| format_err(path, format!("line {}: {e}", n + 1)))?;
            add_record(&mut out, &rec);
        }
    }
    for v in out.values_mut() {
        v.sort_by(f64::total_cmp);
    }
    Ok(out)
}

/// Adds one record's values (TPOT as the recorder computes it).
fn add_record(out: &mut BTreeMap<String, Vec<f64>>, rec: &RecordLine) {
    if rec.warmup || rec.error.is_some() {
        return;
    }
    let Some(e2el) = rec.e2el_ms else { return };
    let mut push = |name: &str, v: f64| out.entry(name.to_string()).or_default().push(v);
    push("e2el", e2el);
    if let Some(ttft) = rec.ttft_ms {
        push("ttft", ttft);
        if let Some(tokens) = rec.output_tokens.filter(|t| *t >= 2) {
            push("tpot", (e2el - ttft).max(0.0) / (tokens - 1) as f64);
        }
    }
    for gap in &rec.itl_ms {
        push("itl", *gap);
    }
}
