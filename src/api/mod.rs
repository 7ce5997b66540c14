//! The `Benchmark` resource: spec and status types, loading, `${VAR}`
//! expansion, strict schema checking with "did you mean" suggestions, size
//! limits, the seed recipe importer, templates and validation.

pub mod bytesize;
pub mod calibration;
pub mod duration;
pub mod error;
pub mod expand;
pub mod limits;
pub mod load;
pub mod monitor;
pub mod post_action;
pub mod schema_check;
pub mod seed;
pub mod spec;
pub mod status;
pub mod suggest;
pub mod template;
pub mod validate;
pub mod workload;

pub use spec::{Benchmark, BenchmarkSpec};
pub use status::BenchmarkStatus;

use kube::CustomResourceExt;

/// The CustomResourceDefinition of `Benchmark`, as YAML (what
/// `aifbench crd` prints and `crds/benchmark.yaml` holds).
pub fn crd_yaml() -> Result<String, serde_norway::Error> {
    serde_norway::to_string(&Benchmark::crd())
}
