//! Errors of the monitor. Failed scrapes are not errors (they are recorded
//! and counted); these are the conditions that stop a monitor or the CLI.

use std::path::PathBuf;

/// Why the monitor (or `aifbench scrape`) could not run or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The configuration cannot work (no targets, zero interval, bad id).
    #[error("invalid monitor configuration: {0}")]
    Config(String),
    /// A URL given to `aifbench scrape` is not a usable http(s) URL.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The output directory could not be created.
    #[error("cannot create output directory {}: {error}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A JSONL file could not be opened or written.
    #[error("cannot write {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A record could not be encoded as JSON.
    #[error("cannot encode a scrape record as JSON: {0}")]
    Encode(#[from] serde_json::Error),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The bearer token file could not be read or is empty.
    #[error("cannot read the bearer token from {}: {reason}", path.display())]
    TokenFile {
        /// The token file.
        path: PathBuf,
        /// What went wrong (never the token itself).
        reason: String,
    },
    /// Writing scrape results to standard output failed.
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
    /// Signal handlers for Ctrl-C / SIGTERM could not be installed.
    #[error("cannot listen for Ctrl-C/SIGTERM: {0}")]
    Signal(std::io::Error),
    /// `aifbench scrape` finished without a single successful scrape.
    #[error("all {scrapes} scrape(s) failed; last error: {last_error}")]
    AllFailed {
        /// How many scrapes were tried.
        scrapes: u64,
        /// The error of the last failed scrape.
        last_error: String,
    },
}
