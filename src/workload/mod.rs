//! Load generation: drives requests against a service and measures them.
//!
//! Layers, each usable without the ones above it:
//! - [`load`]: the protocol-independent load model (closed and open loop,
//!   warm-up, stop conditions, error policy) driving any [`load::Executor`];
//! - [`record`]: the per-request record every executor produces;
//! - [`openai`] (with [`openai_body`] for request bodies, [`sse`] and its
//!   response reader `openai_stream`,
//!   [`dataset`], [`dataset_shared_prefix`] and [`dataset_conversation`]
//!   over their shared leaf [`prompt`],
//!   [`trace`] with [`trace_formats`] for trace replay,
//!   [`openai_conversation`] for multi-turn conversations, and
//!   [`openai_labels`] for per-group and per-turn latencies), [`embeddings`],
//!   [`s3`] and [`chroma`]: the protocol executors (inference, embeddings,
//!   object store, vector database);
//! - [`openai_run`], [`embeddings_run`], [`s3_run`], [`chroma_run`]: one instance of each
//!   workload (setup, stages, pre-population, recall), each a
//!   [`runner::Workload`] listed in [`registry`]; [`rag_run`] chains four of
//!   those protocols per request (embed, search, fetch, generate:
//!   [`rag_chain`], over its data [`rag_corpus`]);
//! - [`stats`]: mergeable HDR histograms fed by the records, and
//!   [`timeline`]: per-second counts;
//! - [`client_result`]: the per-instance result file; [`result`]: the
//!   merged summary and its headline numbers; [`saturation`]: where a sweep of stages saturates;
//! - [`s3_credentials`] and [`object_store`]: S3 credentials and the bucket
//!   client for results, shared with [`crate::results`] (which sits above);
//! - [`loadgen`]: the `aifbench loadgen` entry point tying them together.
//!
//! Adding a workload (say Redis), with its settings type in `crate::api::workload`:
//! 1. write `src/workload/redis.rs`: an [`load::Executor`] for the protocol, and
//!    a unit struct implementing [`runner::Workload`] (`kind`, and `run` that
//!    prepares, drives the plan with `loadgen::progress`, returns the result);
//! 2. declare it here (`pub mod redis;`) and add it to `registry::WORKLOADS`.

pub mod calibration;
pub mod calibration_run;
pub mod chroma;
pub mod chroma_run;
pub mod client_result;
pub mod dataset;
pub mod dataset_conversation;
pub mod dataset_shared_prefix;
pub mod embeddings;
pub mod embeddings_run;
pub mod headline;
pub mod load;
pub mod loadgen;
pub mod object_store;
pub mod openai;
pub mod openai_body;
pub mod openai_conversation;
pub mod openai_http;
pub mod openai_labels;
mod openai_payload;
pub mod openai_run;
mod openai_stream;
pub mod prompt;
pub mod rag_chain;
pub mod rag_corpus;
pub mod rag_run;
pub mod record;
pub mod registry;
pub mod result;
pub mod runner;
pub mod s3;
pub mod s3_credentials;
pub mod s3_run;
pub mod saturation;
pub mod sse;
pub mod stats;
#[cfg(test)]
mod testserver;
pub mod timeline;
pub mod tokenize;
pub mod trace;
pub mod trace_formats;

use std::path::PathBuf;

/// Why a load generator could not start, run or report.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The configuration is inconsistent or out of range.
    #[error("invalid load generator configuration: {0}")]
    InvalidConfig(String),
    /// The workload type exists in the spec but has no implementation yet.
    #[error("workload type {kind} is not implemented yet")]
    NotImplemented {
        /// Canonical name of the workload type.
        kind: String,
    },
    /// The API key could not be loaded (the message never contains the key).
    #[error("cannot load the API key: {0}")]
    ApiKey(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// No model was configured and none could be discovered.
    #[error("cannot determine the model from {url}: {reason}")]
    ModelDiscovery {
        /// The models endpoint that was queried.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A configuration file could not be read or parsed.
    #[error("cannot read configuration {path}: {reason}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A storage workload could not prepare its run (pre-populating objects,
    /// creating a collection, adding vectors).
    #[error("setup failed: {0}")]
    Setup(String),
    /// A request before the run failed (never contains credentials).
    #[error("{0}")]
    Request(String),
    /// A result could not be serialized.
    #[error("cannot serialize the result: {0}")]
    Serialize(#[from] serde_json::Error),
    /// A histogram could not be encoded, decoded or added.
    #[error("histogram {name}: {reason}")]
    Histogram {
        /// Histogram name (`ttft`, `e2el`, ...).
        name: String,
        /// What went wrong.
        reason: String,
    },
}
