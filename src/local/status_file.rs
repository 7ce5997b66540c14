//! The status store of `aifbench run`: the status in memory, written to the
//! results folder's `status.yaml` — at once when the phase or a condition
//! changes, otherwise at most once a second (progress counters change every
//! tick), and a change not written yet is written on a later tick even when
//! nothing changes any more.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use crate::api::status::BenchmarkStatus;
use crate::driver::StatusStore;
use crate::results::ResultsDir;

/// How often a status that changed only in its counters is written.
const THROTTLE: Duration = Duration::from_secs(1);

/// `status.yaml` of a results folder.
pub(super) struct StatusFile {
    dir: ResultsDir,
    /// The status last recorded.
    pub(super) status: BenchmarkStatus,
    last_write: Instant,
    unwritten: bool,
}

impl StatusFile {
    /// A store starting from the default status.
    pub(super) fn new(dir: ResultsDir) -> Self {
        Self {
            dir,
            status: BenchmarkStatus::default(),
            last_write: Instant::now(),
            unwritten: false,
        }
    }

    fn write(&self) {
        if let Err(e) = self.dir.write_yaml(&self.dir.status_yaml(), &self.status) {
            tracing::error!(error = %e, "cannot write status.yaml");
        }
    }
}

/// A failed write is logged, never fatal: the run goes on and the final
/// status is written once more at its end.
impl StatusStore for StatusFile {
    type Error = Infallible;

    async fn load(&mut self) -> Result<BenchmarkStatus, Infallible> {
        Ok(self.status.clone())
    }

    async fn record(&mut self, status: &BenchmarkStatus) -> Result<(), Infallible> {
        let important =
            status.phase != self.status.phase || status.conditions != self.status.conditions;
        self.unwritten |= *status != self.status;
        self.status = status.clone();
        if important || (self.unwritten && self.last_write.elapsed() >= THROTTLE) {
            self.write();
            self.last_write = Instant::now();
            self.unwritten = false;
        }
        Ok(())
    }
}
