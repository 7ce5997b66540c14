//! The S3 workload: put, get, stat, list, delete and multipart put, alone or
//! as a weighted mix, driven by the shared load model.
//!
//! Every object's content is derived from `(seed, object number)`, and its
//! checksum is recorded when the write is acknowledged; every GET recomputes
//! the checksum of what came back. A mismatch, a wrong size, or a missing
//! object that was acknowledged as written is **data loss**: a failed request
//! of class `data_loss`, never a success.
//!
//! Each instance works under `<keyPrefix>/<instance id>/` and keeps the set
//! of objects it knows to exist. An object is taken out of the set while a
//! get, stat or delete works on it, so a concurrent delete can never make a
//! get fail spuriously. The SDK's own retries are disabled: every failed
//! attempt is counted, by class.
//!
//! This file holds the executor ([`S3Executor`], shared by the request tasks
//! of an instance through [`S3Handle`]) and the object pool; `objects` the
//! pure parts (contents, checksums, sizes, keys), `mix` the operation draw
//! ([`OpPicker`]), `sdk` the SDK client and how its errors are classified,
//! `setup` what runs before the load (waiting for the bucket,
//! pre-population), `ops` the operations themselves, and `stats` what the
//! executor measures beyond request counts ([`S3Report`]).

mod mix;
mod objects;
mod ops;
mod sdk;
mod setup;
mod stats;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_s3::Client;
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::time::Instant;

pub use self::mix::OpPicker;
pub use self::objects::{Checksum, object_content, object_key, object_size};
pub(crate) use self::sdk::{classify, sdk_client};
pub(crate) use self::setup::wait_bucket;
pub use self::stats::S3Report;
use self::stats::StatsAcc;
use super::load::{Executor, RequestContext};
use super::record::{ErrorClass, Failure, Outcome, Success, TokenSource};
pub use super::s3_credentials::{S3Credentials, load_credentials, parse_env_file};
use crate::api::workload::{S3Operation, S3Workload};

/// Error class of a data-loss event.
pub const DATA_LOSS: &str = "data_loss";
/// Time to first byte (response headers), all operations.
pub const TTFB: &str = "ttfb";
/// Time to last byte (body complete), all operations.
pub const TTLB: &str = "ttlb";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An object the instance knows to exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Obj {
    id: u64,
    size: u64,
    checksum: u64,
}

/// Runs S3 operations; shared by all request tasks of an instance.
pub struct S3Executor {
    client: Client,
    w: S3Workload,
    instance: String,
    seed: u64,
    picker: OpPicker,
    pool: Mutex<Vec<Obj>>,
    next_object: AtomicU64,
    data_loss: AtomicU64,
    stats: Mutex<StatsAcc>,
}

/// A handle on the executor, cheap to clone.
#[derive(Clone)]
pub struct S3Handle(pub Arc<S3Executor>);

/// How one operation went: timings or a failure, and bytes moved.
struct OpResult {
    op: S3Operation,
    first_byte: Instant,
    end: Instant,
    bytes: u64,
}

fn failure(class: ErrorClass, message: impl Into<String>) -> Failure {
    Failure::new(class, message)
}

fn data_loss(message: impl Into<String>) -> Failure {
    failure(ErrorClass::Other(DATA_LOSS), message)
}

fn short(s: &str) -> String {
    s.chars().take(300).collect()
}

impl S3Executor {
    /// Objects to write before the run: `prepopulate`, or 64 when the mix
    /// needs existing objects.
    pub fn prepopulate_count(&self) -> u32 {
        self.w
            .prepopulate
            .unwrap_or(if self.picker.needs_objects() { 64 } else { 0 })
    }

    fn key(&self, object: u64) -> String {
        object_key(&self.w.key_prefix, &self.instance, self.w.prefixes, object)
    }

    fn new_object(&self) -> (Obj, Bytes) {
        let id = self.next_object.fetch_add(1, Ordering::Relaxed);
        let size = object_size(&self.w.object_size, self.seed, id);
        let content = object_content(self.seed, id, size);
        let checksum = Checksum::of(&content);
        (Obj { id, size, checksum }, Bytes::from(content))
    }

    fn take(&self, rng: &mut SmallRng) -> Option<Obj> {
        let mut pool = lock(&self.pool);
        if pool.is_empty() {
            return None;
        }
        let i = rng.random_range(0..pool.len());
        Some(pool.swap_remove(i))
    }

    fn give_back(&self, obj: Obj) {
        lock(&self.pool).push(obj);
    }
}

impl Executor for S3Handle {
    async fn execute(&self, ctx: RequestContext) -> Outcome {
        let me = &self.0;
        let mut rng = SmallRng::seed_from_u64(
            me.seed ^ ctx.index.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x0bad_5eed,
        );
        let op = me.picker.pick(&mut rng);
        let timeout = me.w.request_timeout.get();
        let r = match tokio::time::timeout(timeout, me.run_op(op, &mut rng)).await {
            Ok(r) => r,
            Err(_) => Err(failure(
                ErrorClass::Timeout,
                format!("{} took longer than {timeout:?}", op.as_str()),
            )),
        };
        me.record(&ctx, op, &r);
        match r {
            Ok(ok) => Ok(Success {
                token_times: Vec::new(),
                first_content: None,
                end: ok.end,
                input_tokens: 0,
                output_tokens: 0,
                token_source: TokenSource::Unknown,
            }),
            Err(f) => Err(f),
        }
    }
}
