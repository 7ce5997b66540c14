//! `aifbench serve RESULTS_ROOT`: the results folders under a root, served
//! to Grafana through the protocol of its JSON datasource plugin
//! (simpod-json-datasource 0.6.x; see docs/grafana.md).
//!
//! Reading results is pure logic over files: `index` lists the runs and
//! loads one (never reading outside the root), `series` and `annotations`
//! build what Grafana plots from the client results, the monitors' scrapes
//! and `status.yaml`; `protocol` answers each endpoint's request over the
//! index; `http` is the thin axum layer.

pub mod annotations;
pub mod http;
pub mod index;
pub mod protocol;
pub mod series;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

pub use index::{Index, Run, RunEntry};

/// What serving results can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The root is not a folder.
    #[error("{0} is not a folder")]
    NotAFolder(PathBuf),
    /// No run under the root.
    #[error("no results folder under the results root")]
    NoRuns,
    /// A request named a run that is not under the root.
    #[error("no run named {0:?} under the results root")]
    NoSuchRun(String),
    /// The server could not run.
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

impl ServeError {
    /// Whether the request is at fault (an answer 400), not the server.
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::NoSuchRun(_) | Self::NoRuns)
    }
}

/// Serves `index` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    index: Index,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = http::router(Arc::new(index));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)
}
