//! The largest sizes a Benchmark may ask for. Each is named in the field's
//! doc comment (so `kubectl explain` shows it), published as the schema's
//! `maximum`/`maxItems`, and checked by `api::validate` with the limit in
//! the message.

/// Client instances per client (processes, Slurm jobs or Indexed Job pods).
pub const MAX_INSTANCES: u32 = 1000;
/// Concurrent workers (or open-loop requests in flight) per instance.
pub const MAX_CONCURRENCY: u32 = 100_000;
/// Open-loop request rate per instance, requests per second.
pub const MAX_RATE: f64 = 1_000_000.0;
/// Measured requests per instance (`maxRequests`).
pub const MAX_REQUESTS: u64 = 1_000_000_000;
/// Stages of one client's sweep.
pub const MAX_STAGES: usize = 100;
