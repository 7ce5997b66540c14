//! Atomic writes of result files ([`crate::atomic_file`]), with the folder
//! made first and the error as the workload's.

use std::path::Path;

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
    crate::atomic_file::write(path, bytes).map_err(|e| werr(e.source))
}
