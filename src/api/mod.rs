//! The `Benchmark` resource: spec and status types, parsing and validation.

pub mod duration;
