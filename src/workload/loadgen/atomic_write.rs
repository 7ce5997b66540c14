//! Atomic writes of result files: the results' own writer
//! ([`crate::results::write_atomic`]: a temporary file of this writer's
//! own beside the target, synced, then renamed over it), with the folder
//! made first and the error as the workload's.

use std::path::Path;

use crate::results::ResultsError;
use crate::workload::WorkloadError;

/// Writes `bytes` to `path` atomically, creating its folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WorkloadError> {
    let werr = |source| WorkloadError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(werr)?;
    }
    crate::results::write_atomic(path, bytes).map_err(|e| match e {
        ResultsError::Io { source, .. } => werr(source),
        ResultsError::Format { message, .. } => werr(std::io::Error::other(message)),
    })
}
