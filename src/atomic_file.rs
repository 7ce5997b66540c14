//! Writing a whole file atomically: through a temporary file of this
//! writer's own beside it, synced, then renamed over it. Readers never see
//! a half-written file and a crash never leaves one. Used by the results
//! folder and by the load generator's result files.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A write that failed, with the file it failed on (the temporary file while
/// writing, the target when renaming).
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct AtomicWriteError {
    /// The file the failed call was about.
    pub path: PathBuf,
    /// What the system said.
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` atomically. The temporary name is this writer's
/// own (`.NAME.PID.N.tmp`): two processes writing the same file at once —
/// `aifbench cancel` marking status.yaml while the driver it stopped writes
/// its last status — each rename a whole file, and the last rename wins,
/// instead of one renaming the other's half-written file away and failing
/// with "No such file or directory". The temporary file is removed on error.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), AtomicWriteError> {
    let tmp = temporary_name(path);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(AtomicWriteError { path: tmp, source });
    }
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        AtomicWriteError {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// The temporary file `write` writes `path` through: hidden, in the same
/// folder (so the rename stays on one file system), unique to this process
/// and call.
fn temporary_name(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}
