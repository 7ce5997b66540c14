//! `run.json` in a results folder: what the driver of the run launched, so
//! that what it leaves behind can be found when it is gone (`aifbench
//! cancel DIR`, `aifbench run --resume DIR`). The driver writes it
//! atomically at its start and after every launch: its own pid and start
//! time, the stop grace period, and per component its process group (pid,
//! pgid, start time from `/proc`) or its Slurm job id (a job step's
//! `<job>.<step>` inside `aifbench submit`'s allocation, which is recorded
//! too).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::procfs;
use crate::engine::Placement;
use crate::results::{ResultsDir, ResultsError};

/// A process named by its pid and its start time (clock ticks since boot,
/// `/proc/<pid>/stat`): a pid may be reused, the pair is not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedProcess {
    /// Process id.
    pub pid: i32,
    /// Start time, when /proc could tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
}

impl RecordedProcess {
    /// The process as /proc sees it now.
    pub fn of(pid: i32) -> Self {
        Self {
            pid,
            start_time: procfs::stat(pid).map(|s| s.start_time),
        }
    }
}

/// One launched component.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Launched {
    /// The backend that runs it (`process`, `slurm`, ...).
    pub backend: String,
    /// Its process (the leader of its process group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<RecordedProcess>,
    /// Its process group (every process it started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid: Option<i32>,
    /// Its Slurm job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// The content of `run.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFile {
    /// The driver (`aifbench run`) of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<RecordedProcess>,
    /// Seconds between SIGTERM and SIGKILL (`execution.stopGracePeriod`).
    #[serde(default)]
    pub stop_grace_seconds: f64,
    /// What was launched, by component id.
    #[serde(default)]
    pub components: BTreeMap<String, Launched>,
    /// The Slurm allocation the driver ran in (`aifbench submit`), its
    /// components being job steps of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<RecordedAllocation>,
}

/// The Slurm job a driver ran in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedAllocation {
    /// Its job id (`$SLURM_JOB_ID`).
    pub job_id: String,
    /// Its nodes.
    pub nodes: Vec<String>,
}

impl RunFile {
    /// The file of a results folder.
    pub fn path(dir: &ResultsDir) -> PathBuf {
        dir.root.join("run.json")
    }

    /// A record for this process as the driver.
    pub fn for_this_driver(grace: Duration) -> Self {
        Self {
            driver: i32::try_from(std::process::id())
                .ok()
                .map(RecordedProcess::of),
            stop_grace_seconds: grace.as_secs_f64(),
            components: BTreeMap::new(),
            allocation: None,
        }
    }

    /// The stop grace period.
    pub fn grace(&self) -> Duration {
        Duration::try_from_secs_f64(self.stop_grace_seconds).unwrap_or(Duration::ZERO)
    }

    /// Notes a launch: its process group (the backends start each
    /// component as the leader of its own group) or its job.
    pub fn launched(&mut self, id: &str, backend: &str, placement: &Placement) {
        let pid = placement.pid.and_then(|p| i32::try_from(p).ok());
        self.components.insert(
            id.to_string(),
            Launched {
                backend: backend.to_string(),
                process: pid.map(RecordedProcess::of),
                pgid: pid,
                job_id: placement.job_id.clone(),
            },
        );
    }

    /// The record of a results folder; None when there is none.
    pub fn load(dir: &ResultsDir) -> Result<Option<Self>, ResultsError> {
        let path = Self::path(dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ResultsError::Io { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ResultsError::Format {
                path,
                message: e.to_string(),
            })
    }

    /// Writes the record (atomically).
    pub fn save(&self, dir: &ResultsDir) -> Result<(), ResultsError> {
        dir.write_json(&Self::path(dir), self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_processes_and_jobs_and_reads_them_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ResultsDir::open(tmp.path());
        assert_eq!(RunFile::load(&dir).unwrap(), None);
        let mut r = RunFile::for_this_driver(Duration::from_millis(1500));
        let me = std::process::id();
        r.launched(
            "sim",
            "process",
            &Placement {
                pid: Some(me),
                ..Default::default()
            },
        );
        r.launched(
            "chat-1",
            "slurm",
            &Placement {
                job_id: Some("42".to_string()),
                ..Default::default()
            },
        );
        r.save(&dir).unwrap();
        let back = RunFile::load(&dir).unwrap().unwrap();
        assert_eq!(back, r);
        assert_eq!(back.grace(), Duration::from_millis(1500));
        let sim = &back.components["sim"];
        assert_eq!(sim.pgid, Some(me as i32));
        assert!(sim.process.as_ref().unwrap().start_time.is_some());
        assert_eq!(back.components["chat-1"].job_id.as_deref(), Some("42"));
        assert_eq!(back.driver.as_ref().unwrap().pid, me as i32);
    }
}
