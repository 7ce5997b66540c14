//! The runs under a results root and what each one holds.
//!
//! A run is a folder directly under the root (or the root itself) that holds
//! `status.yaml`, `summary.json` or `clients/`. Runs are only ever found by
//! listing the root: a name from a request is compared with the listed
//! names and never joined to a path, and only real folders and regular
//! files are read (symbolic links are skipped), so nothing outside the root
//! is served. Loading a run reads its client results
//! (`clients/<id>.json`), its monitors' scrapes
//! (`metrics/<id>.parsed.jsonl`) and `status.yaml`, and builds the series
//! (`series`) and annotations (`annotations`). The last few runs loaded are
//! kept while their files stay the same (names, sizes, modification times),
//! so the panels of one dashboard refresh read a long run once.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::ServeError;
use super::annotations::{self, Annotation, StatusView};
use super::series::{self, Series, Window};
use crate::results::monitor_files::read_monitors;
use crate::workload::client_result::merged_histograms;
use crate::workload::result::{ClientResult, merge_timelines};

/// Runs kept loaded at most.
const CACHED_RUNS: usize = 4;

/// What a loaded run was read from: each file's path, size and
/// modification time.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// The results root being served.
#[derive(Debug)]
pub struct Index {
    root: PathBuf,
    /// Recently loaded runs, the most recent last.
    cache: Mutex<Vec<(PathBuf, Fingerprint, Arc<Run>)>>,
}

/// One run as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEntry {
    /// The folder's name: how requests name the run.
    pub name: String,
    /// The folder.
    pub path: PathBuf,
    /// When it started (status.yaml `startTime`), Unix milliseconds.
    pub started_ms: Option<i64>,
    /// When it ended (status.yaml `completionTime`), Unix milliseconds.
    pub ended_ms: Option<i64>,
    /// Its phase, when status.yaml says.
    pub phase: Option<String>,
}

/// One loaded run.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The folder's name.
    pub name: String,
    /// Every series, clients first, then latency, then the monitors'.
    pub series: Vec<Series>,
    /// Phase changes, conditions and measurement windows, in time order.
    pub annotations: Vec<Annotation>,
    /// Lines or files that could not be read (counted, not fatal).
    pub unreadable: usize,
}

impl Run {
    /// Its metric names, each once, in series order.
    pub fn metrics(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.series {
            if !out.contains(&s.metric.as_str()) {
                out.push(&s.metric);
            }
        }
        out
    }
}

/// A regular file's text; `None` when it is missing or not a regular file
/// (a symbolic link, a folder).
fn read_regular(path: &Path) -> Result<Option<String>, ServeError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => {
            fs::read_to_string(path)
                .map(Some)
                .map_err(|source| ServeError::Io {
                    path: path.to_path_buf(),
                    source,
                })
        }
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ServeError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_dir())
}

/// The regular files of a real folder whose names end with `suffix`, as
/// (stem, path), sorted; none when the folder is missing.
fn files_ending(dir: &Path, suffix: &str) -> Vec<(String, PathBuf)> {
    if !is_real_dir(dir) {
        return Vec::new();
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(suffix)?.to_string();
            Some((stem, e.path()))
        })
        .collect();
    out.sort();
    out
}

fn is_run(dir: &Path) -> bool {
    ["status.yaml", "summary.json"]
        .iter()
        .any(|f| fs::symlink_metadata(dir.join(f)).is_ok_and(|m| m.file_type().is_file()))
        || is_real_dir(&dir.join("clients"))
}

fn status_of(dir: &Path) -> StatusView {
    read_regular(&dir.join("status.yaml"))
        .ok()
        .flatten()
        .and_then(|text| serde_norway::from_str(&text).ok())
        .unwrap_or_default()
}

impl Index {
    /// The root, which must be a folder.
    pub fn open(root: &Path) -> Result<Self, ServeError> {
        let root = root.canonicalize().map_err(|source| ServeError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        if !root.is_dir() {
            return Err(ServeError::NotAFolder(root));
        }
        Ok(Self {
            root,
            cache: Mutex::new(Vec::new()),
        })
    }

    /// The root (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every run, newest first (by start time, then name).
    pub fn runs(&self) -> Result<Vec<RunEntry>, ServeError> {
        let mut dirs: Vec<(String, PathBuf)> = Vec::new();
        if is_run(&self.root) {
            let name = self
                .root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".to_string());
            dirs.push((name, self.root.clone()));
        } else {
            let entries = fs::read_dir(&self.root).map_err(|source| ServeError::Io {
                path: self.root.clone(),
                source,
            })?;
            for e in entries.filter_map(Result::ok) {
                if !e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let Ok(name) = e.file_name().into_string() else {
                    continue;
                };
                if name.starts_with('.') || !is_run(&e.path()) {
                    continue;
                }
                dirs.push((name, e.path()));
            }
        }
        let mut runs: Vec<RunEntry> = dirs
            .into_iter()
            .map(|(name, path)| {
                let status = status_of(&path);
                RunEntry {
                    name,
                    started_ms: status.start_ms(),
                    ended_ms: status
                        .completion_time
                        .as_deref()
                        .and_then(annotations::unix_ms),
                    phase: status.phase,
                    path,
                }
            })
            .collect();
        runs.sort_by(|a, b| {
            b.started_ms
                .cmp(&a.started_ms)
                .then_with(|| b.name.cmp(&a.name))
        });
        Ok(runs)
    }

    /// The run named `name` (exactly one of the listed names), or the newest
    /// when `None`.
    pub fn find(&self, name: Option<&str>) -> Result<RunEntry, ServeError> {
        let runs = self.runs()?;
        match name {
            None => runs.into_iter().next().ok_or(ServeError::NoRuns),
            Some(n) => runs
                .into_iter()
                .find(|r| r.name == n)
                .ok_or_else(|| ServeError::NoSuchRun(n.to_string())),
        }
    }

    /// A listed run's series and annotations: kept from an earlier load
    /// while its files are unchanged, else read from its folder.
    pub fn load(&self, entry: &RunEntry) -> Result<Arc<Run>, ServeError> {
        let dir = &entry.path;
        if !dir.starts_with(&self.root) || !is_real_dir(dir) {
            return Err(ServeError::NoSuchRun(entry.name.clone()));
        }
        let fingerprint = fingerprint(dir);
        if let Ok(mut cache) = self.cache.lock()
            && let Some(k) = cache
                .iter()
                .position(|(p, f, _)| p == dir && *f == fingerprint)
        {
            let hit = cache.remove(k);
            let run = Arc::clone(&hit.2);
            cache.push(hit);
            return Ok(run);
        }
        let run = Arc::new(self.read(entry)?);
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|(p, _, _)| p != dir);
            cache.push((dir.clone(), fingerprint, Arc::clone(&run)));
            let excess = cache.len().saturating_sub(CACHED_RUNS);
            cache.drain(..excess);
        }
        Ok(run)
    }

    /// Reads a listed run's folder into its series and annotations.
    fn read(&self, entry: &RunEntry) -> Result<Run, ServeError> {
        let dir = &entry.path;
        let mut run = Run {
            name: entry.name.clone(),
            ..Run::default()
        };
        let mut results = Vec::new();
        for (stem, path) in files_ending(&dir.join("clients"), ".json") {
            if stem.ends_with(".config") || stem.ends_with(".summary") {
                continue;
            }
            let parsed = read_regular(&path)?
                .and_then(|text| serde_json::from_str::<ClientResult>(&text).ok());
            match parsed {
                Some(r) => results.push(r),
                None => run.unreadable += 1,
            }
        }
        run.series
            .extend(series::timeline_series(&merge_timelines(&results)));
        let windows = windows(&results);
        let staged = results.iter().any(|r| !r.stages.is_empty());
        let mut with_histograms = Vec::new();
        for (k, w) in windows.iter().enumerate() {
            let stage = staged.then_some(k);
            match merged_histograms(&results, stage).map_err(|_| ()) {
                Ok(h) => with_histograms.push((w.clone(), h)),
                Err(()) => run.unreadable += 1,
            }
        }
        run.series.extend(series::latency_series(&with_histograms));
        let metrics = dir.join("metrics");
        let monitors = read_monitors(&metrics).map_err(|source| ServeError::Io {
            path: metrics.clone(),
            source,
        })?;
        for m in monitors {
            run.unreadable += m.unreadable;
            run.series.extend(series::monitor_series(&m.records));
        }
        let mut notes = annotations::status_annotations(&status_of(dir));
        notes.extend(annotations::window_annotations(&windows));
        notes.sort_by_key(|a| a.time_ms);
        run.annotations = notes;
        Ok(run)
    }
}

/// The files a load reads, with their sizes and modification times.
fn fingerprint(dir: &Path) -> Fingerprint {
    let mut files = vec![dir.join("status.yaml")];
    files.extend(
        files_ending(&dir.join("clients"), ".json")
            .into_iter()
            .map(|(_, p)| p),
    );
    files.extend(
        files_ending(&dir.join("metrics"), ".parsed.jsonl")
            .into_iter()
            .map(|(_, p)| p),
    );
    files
        .into_iter()
        .map(|p| {
            let meta = fs::symlink_metadata(&p).ok();
            let len = meta.as_ref().map_or(0, fs::Metadata::len);
            let modified = meta.and_then(|m| m.modified().ok());
            (p, len, modified)
        })
        .collect()
}

/// The measurement windows: each stage (earliest start to latest end over
/// the instances), or the whole measurement.
fn windows(results: &[ClientResult]) -> Vec<Window> {
    let stages = results.iter().map(|r| r.stages.len()).max().unwrap_or(0);
    if stages == 0 {
        let start = results
            .iter()
            .filter_map(|r| {
                (!r.timeline.is_empty())
                    .then_some(r.timeline.start_unix_ms)
                    .or_else(|| annotations::unix_ms(&r.started_at))
            })
            .min();
        let end = results
            .iter()
            .filter_map(|r| {
                let start = (!r.timeline.is_empty())
                    .then_some(r.timeline.start_unix_ms)
                    .or_else(|| annotations::unix_ms(&r.started_at))?;
                Some(start + (r.duration_s * 1000.0) as i64)
            })
            .max();
        return match (start, end) {
            (Some(start_ms), Some(end_ms)) => vec![Window {
                start_ms,
                end_ms,
                label: "measurement".to_string(),
            }],
            _ => Vec::new(),
        };
    }
    (0..stages)
        .filter_map(|k| {
            let parts: Vec<&ClientResult> =
                results.iter().filter_map(|r| r.stages.get(k)).collect();
            let starts = parts.iter().filter_map(|s| {
                s.measured_from_unix_ms
                    .or_else(|| annotations::unix_ms(&s.started_at))
                    .map(|st| (st, st + (s.duration_s * 1000.0) as i64))
            });
            let (start_ms, end_ms) = starts.fold(None, |acc: Option<(i64, i64)>, (s, e)| {
                Some(acc.map_or((s, e), |(a, b)| (a.min(s), b.max(e))))
            })?;
            let first = parts.first()?;
            let label = match (first.concurrency, first.rate) {
                (_, Some(r)) => format!("stage {} (rate {r})", k + 1),
                (Some(c), None) => format!("stage {} (concurrency {c})", k + 1),
                _ => format!("stage {}", k + 1),
            };
            Some(Window {
                start_ms,
                end_ms,
                label,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
