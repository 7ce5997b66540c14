//! aifbench: benchmarks the services of an AI factory — LLM inference servers,
//! S3 object stores, vector databases — locally, on Slurm and on Kubernetes.
//!
//! See `docs/ARCHITECTURE.md` for the map of modules.

pub mod api;
pub mod atomic_file;
pub mod backend;
/// The command line (clap) behind `main.rs`: the binary's edge, compiled into
/// the library so the binary does not instantiate the library's generics a
/// second time (the binary's unit took 46–52 s of a clean release build).
/// The only module that uses anyhow.
pub mod cli;
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
