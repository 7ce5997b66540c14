//! The Prometheus monitor: scrapes `/metrics` endpoints of the services under
//! test while a benchmark runs and records what it saw, or asks an existing
//! Prometheus for the run's window.
//!
//! - [`parse`]: pure parser for the Prometheus 0.0.4 / OpenMetrics text
//!   formats, plus report helpers ([`parse::histogram_quantile`]).
//! - [`scrape`]: the scraper ([`scrape::run_monitor`]) that appends every
//!   scrape to `<id>.raw.jsonl` and `<id>.parsed.jsonl`.
//! - [`cli`]: the `aifbench scrape` subcommand.
//! - [`promql`] (pure) and [`promql_task`]: PromQL range queries against an
//!   existing Prometheus for the run's window, stored as the scrapes are.
//! - [`gpu`]: GPU telemetry (DCGM names) summarised over a window, pure.
//! - [`nvidia_smi`]: `nvidia-smi --query-gpu` CSV lines as DCGM-named
//!   series (pure), served by [`gpu_exporter`] (`aifbench gpu-exporter`)
//!   where no dcgm-exporter runs.

pub mod cli;
mod error;
pub mod gpu;
pub mod gpu_exporter;
pub mod nvidia_smi;
pub mod parse;
pub mod promql;
pub mod promql_task;
pub mod scrape;
pub mod targets;
pub mod task;

pub use cli::{ScrapeArgs, run_cli};
pub use error::MonitorError;
pub use parse::{MetricFamily, MetricType, ParseError, Parsed, Sample, histogram_quantile};
pub use scrape::{
    MonitorConfig, MonitorReport, ParsedRecord, RawRecord, ScrapeTarget, run_monitor, scrape_once,
};
