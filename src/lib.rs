//! aifbench: benchmarks the services of an AI factory — LLM inference servers,
//! S3 object stores, vector databases — locally, on Slurm and on Kubernetes.
//!
//! See `docs/ARCHITECTURE.md` for the map of modules.

pub mod api;
pub mod backend;
pub mod driver;
pub mod engine;
pub mod exposition;
pub mod local;
pub mod logging;
pub mod monitor;
pub mod operator;
pub mod results;
pub mod serve;
pub mod sim;
pub mod timer;
pub mod tls;
pub mod workload;
