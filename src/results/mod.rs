//! The results folder of a run, and what goes into it.
//!
//! ```text
//! <workspace>/<benchmark>-<UTC timestamp>/
//!   benchmark.yaml       the resolved spec, as run
//!   environment.json     versions, host, placements
//!   status.yaml          the status, rewritten on every change
//!   logs/<component>.jsonl, logs/<logger>.jsonl|.log
//!   metrics/<monitor>.raw.jsonl, <monitor>.parsed.jsonl
//!   clients/<instance>.json         per-instance results (histograms mergeable)
//!   clients/<instance>.config.json  what the instance was told to do
//!   summary.json, summary.csv, report.md  (with a `gpu` section when a
//!                        monitor scraped GPUs: `gpu`)
//!   report.html          the same with plots, self-contained (`html`)
//! ```

pub mod compare;
pub mod environment;
pub mod gpu;
pub mod html;
pub mod monitor_files;
pub mod overhead;
pub mod provenance;
pub mod provenance_probe;
pub mod report;
pub mod s3;
pub mod vllm_export;

use std::path::{Path, PathBuf};

/// A file or folder of the results could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// File system error, with the path.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Serialization error, with the path.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ResultsError + '_ {
    move |source| ResultsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The paths of one run's results folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultsDir {
    /// The folder itself.
    pub root: PathBuf,
}

impl ResultsDir {
    /// Creates `<workspace>/<name>-<UTC timestamp>/` with its subfolders; a
    /// `-2`, `-3`... suffix keeps two runs in the same second apart.
    pub fn create(
        workspace: &Path,
        name: &str,
        now: jiff::Timestamp,
    ) -> Result<Self, ResultsError> {
        let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
        std::fs::create_dir_all(workspace).map_err(io_err(workspace))?;
        let mut root = workspace.join(format!("{name}-{stamp}"));
        let mut n = 1;
        loop {
            match std::fs::create_dir(&root) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {
                    n += 1;
                    root = workspace.join(format!("{name}-{stamp}-{n}"));
                }
                Err(e) => return Err(io_err(&root)(e)),
            }
        }
        let dir = Self { root };
        for sub in [dir.logs(), dir.metrics(), dir.clients()] {
            std::fs::create_dir_all(&sub).map_err(io_err(&sub))?;
        }
        Ok(dir)
    }

    /// An existing results folder (for `aifbench report`).
    pub fn open(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// `logs/`.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// `metrics/`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics")
    }
    /// `clients/`.
    pub fn clients(&self) -> PathBuf {
        self.root.join("clients")
    }
    /// The instance ids that left a result, `clients/<id>.json` (not the
    /// `.config.json` they started from nor the `.summary.json` they
    /// reported), sorted; none when there is no `clients/`.
    pub fn client_result_ids(&self) -> std::io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(self.clients()) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.ends_with(".config.json") && !n.ends_with(".summary.json"))
            .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
            .collect();
        ids.sort();
        Ok(ids)
    }
    /// `benchmark.yaml`.
    pub fn benchmark_yaml(&self) -> PathBuf {
        self.root.join("benchmark.yaml")
    }
    /// `environment.json`.
    pub fn environment_json(&self) -> PathBuf {
        self.root.join("environment.json")
    }
    /// `status.yaml`.
    pub fn status_yaml(&self) -> PathBuf {
        self.root.join("status.yaml")
    }
    /// `summary.json`.
    pub fn summary_json(&self) -> PathBuf {
        self.root.join("summary.json")
    }
    /// `summary.csv`.
    pub fn summary_csv(&self) -> PathBuf {
        self.root.join("summary.csv")
    }
    /// `report.md`.
    pub fn report_md(&self) -> PathBuf {
        self.root.join("report.md")
    }
    /// `report.html`.
    pub fn report_html(&self) -> PathBuf {
        self.root.join("report.html")
    }
    /// `logs/<id>.jsonl`.
    pub fn component_log(&self, id: &str) -> PathBuf {
        self.logs().join(format!("{id}.jsonl"))
    }
    /// `clients/<id>.json`.
    pub fn client_result(&self, id: &str) -> PathBuf {
        self.clients().join(format!("{id}.json"))
    }
    /// `clients/<id>.config.json`.
    pub fn client_config(&self, id: &str) -> PathBuf {
        self.clients().join(format!("{id}.config.json"))
    }

    /// Writes a value as YAML, atomically.
    pub fn write_yaml<T: serde::Serialize>(
        &self,
        path: &Path,
        value: &T,
    ) -> Result<(), ResultsError> {
        let text = serde_norway::to_string(value).map_err(|e| ResultsError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        write_atomic(path, text.as_bytes())
    }

    /// Writes a value as pretty JSON, atomically.
    pub fn write_json<T: serde::Serialize>(
        &self,
        path: &Path,
        value: &T,
    ) -> Result<(), ResultsError> {
        let mut text = serde_json::to_vec_pretty(value).map_err(|e| ResultsError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        text.push(b'\n');
        write_atomic(path, &text)
    }
}

/// Writes through a temporary file and a rename ([`crate::atomic_file`]),
/// so readers never see a half-written file and a crash never leaves one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ResultsError> {
    crate::atomic_file::write(path, bytes).map_err(|e| ResultsError::Io {
        path: e.path,
        source: e.source,
    })
}

/// This machine's host name.
pub fn hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_unique_folders_with_subdirs() {
        let ws = tempfile::tempdir().unwrap();
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let a = ResultsDir::create(ws.path(), "quick", now).unwrap();
        let b = ResultsDir::create(ws.path(), "quick", now).unwrap();
        assert!(a.root.ends_with("quick-20231114T221320Z"));
        assert!(b.root.ends_with("quick-20231114T221320Z-2"));
        assert!(a.logs().is_dir() && a.metrics().is_dir() && a.clients().is_dir());
        a.write_json(&a.summary_json(), &serde_json::json!({"x": 1}))
            .unwrap();
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(a.summary_json()).unwrap()).unwrap();
        assert_eq!(back["x"], 1);
        let left: Vec<_> = std::fs::read_dir(&a.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }

    /// Writers racing on one file (the driver's last status against
    /// `aifbench cancel` marking it) all succeed, and the file is always one
    /// writer's whole text.
    #[test]
    fn concurrent_writers_of_one_file_all_succeed() {
        let ws = tempfile::tempdir().unwrap();
        let path = ws.path().join("status.yaml");
        std::thread::scope(|s| {
            for w in 0..4u8 {
                let path = &path;
                s.spawn(move || {
                    let text = vec![b'a' + w; 4096];
                    for _ in 0..200 {
                        write_atomic(path, &text).unwrap();
                        let back = std::fs::read(path).unwrap();
                        assert_eq!(back.len(), 4096);
                        assert!(back.iter().all(|b| *b == back[0]), "a torn file");
                    }
                });
            }
        });
        let left = std::fs::read_dir(ws.path()).unwrap().count();
        assert_eq!(left, 1, "only status.yaml is left");
    }
}
