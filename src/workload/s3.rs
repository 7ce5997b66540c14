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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use bytes::Bytes;
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::time::Instant;

use super::WorkloadError;
use super::load::{Executor, RequestContext};
use super::record::{ErrorClass, Failure, Outcome, Success, TokenSource};
use super::result::{OperationStats, SetupStats};
pub use super::s3_credentials::{S3Credentials, load_credentials, parse_env_file};
use super::stats::{add_histogram, encode_histogram, new_histogram};
use crate::api::workload::{
    S3Operation, S3OperationWeight, S3Workload, SizeDistribution, SizeDistributionKind,
};

/// Error class of a data-loss event.
pub const DATA_LOSS: &str = "data_loss";
/// Time to first byte (response headers), all operations.
pub const TTFB: &str = "ttfb";
/// Time to last byte (body complete), all operations.
pub const TTLB: &str = "ttlb";

// ---------------------------------------------------------------------------
// Pure parts: content, checksums, sizes, keys, the operation draw.
// ---------------------------------------------------------------------------

/// SplitMix64: a tiny, fast, well-mixed generator for object contents.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The content of object `object` (`size` bytes) under `seed`.
pub fn object_content(seed: u64, object: u64, size: u64) -> Vec<u8> {
    let len = usize::try_from(size).unwrap_or(usize::MAX);
    let mut state = seed ^ object.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let mut out = Vec::with_capacity(len);
    while out.len() + 8 <= len {
        out.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    let rest = len - out.len();
    out.extend_from_slice(&splitmix64(&mut state).to_le_bytes()[..rest]);
    out
}

/// A streaming 64-bit checksum (not cryptographic: it detects corruption,
/// truncation and mix-ups, not forgery). Chunk boundaries do not matter.
#[derive(Clone, Debug, Default)]
pub struct Checksum {
    h: u64,
    tail: [u8; 8],
    tail_len: usize,
    len: u64,
}

impl Checksum {
    fn mix(&mut self, word: u64) {
        self.h = (self.h ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.h ^= self.h >> 29;
    }

    /// Adds `bytes`.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 8 {
                return;
            }
            let word = u64::from_le_bytes(self.tail);
            self.mix(word);
            self.tail_len = 0;
        }
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// The checksum of everything added.
    pub fn finish(mut self) -> u64 {
        if self.tail_len > 0 {
            let mut w = [0u8; 8];
            w[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
            self.mix(u64::from_le_bytes(w));
        }
        let len = self.len;
        self.mix(len);
        self.h
    }

    /// Checksum of one buffer.
    pub fn of(bytes: &[u8]) -> u64 {
        let mut c = Self::default();
        c.update(bytes);
        c.finish()
    }
}

/// The size of object `object`: drawn from `dist` with a generator seeded
/// by `(seed, object)`, so it is reproducible.
pub fn object_size(dist: &SizeDistribution, seed: u64, object: u64) -> u64 {
    let mut state = seed ^ object.wrapping_mul(0xA076_1D64_78BD_642F) ^ 0x5151;
    let u = (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
    let (min, max) = (dist.min.get().max(1), dist.max.get().max(1));
    match dist.distribution {
        SizeDistributionKind::Fixed => dist.size.get(),
        SizeDistributionKind::Uniform => {
            let span = max.saturating_sub(min) as f64 + 1.0;
            (min + (u * span) as u64).min(max)
        }
        SizeDistributionKind::LogUniform => {
            let (lo, hi) = ((min as f64).ln(), (max as f64).ln());
            ((lo + u * (hi - lo)).exp().round() as u64).clamp(min, max)
        }
    }
}

/// The key of object `object` of instance `instance`.
pub fn object_key(prefix: &str, instance: &str, prefixes: u32, object: u64) -> String {
    let sub = object % u64::from(prefixes.max(1));
    format!("{prefix}/{instance}/{sub:04}/obj-{object:010}")
}

/// Draws operations in proportion to their weights.
#[derive(Clone, Debug)]
pub struct OpPicker {
    cumulative: Vec<(u64, S3Operation)>,
    total: u64,
}

impl OpPicker {
    /// A picker over `ops`; `None` when no weight is above 0.
    pub fn new(ops: &[S3OperationWeight]) -> Option<Self> {
        let mut total = 0u64;
        let mut cumulative = Vec::new();
        for o in ops.iter().filter(|o| o.weight > 0) {
            total += u64::from(o.weight);
            cumulative.push((total, o.op));
        }
        (total > 0).then_some(Self { cumulative, total })
    }

    /// The operation for a uniform draw `r` in `0..total`.
    pub fn pick_at(&self, r: u64) -> S3Operation {
        let r = r % self.total;
        self.cumulative
            .iter()
            .find(|(upto, _)| r < *upto)
            .map(|(_, op)| *op)
            .unwrap_or(S3Operation::Put)
    }

    /// Draws one with `rng`.
    pub fn pick(&self, rng: &mut SmallRng) -> S3Operation {
        self.pick_at(rng.random_range(0..self.total))
    }

    /// Whether any drawn operation needs existing objects.
    pub fn needs_objects(&self) -> bool {
        self.cumulative.iter().any(|(_, op)| {
            matches!(
                op,
                S3Operation::Get | S3Operation::Stat | S3Operation::Delete
            )
        })
    }
}

// ---------------------------------------------------------------------------
// Statistics kept by the executor (the load layer keeps the request counts).
// ---------------------------------------------------------------------------

struct OpAcc {
    stats: OperationStats,
    ttfb: Histogram<u64>,
    ttlb: Histogram<u64>,
}

/// Per-operation counters and histograms of measured requests.
struct StatsAcc {
    ops: BTreeMap<S3Operation, OpAcc>,
    bytes_read: u64,
    bytes_written: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What the executor measured beyond request counts.
#[derive(Debug, Default)]
pub struct S3Report {
    /// Histograms by name (`ttfb`, `ttlb`, `<op>.ttfb`, `<op>.ttlb`), encoded.
    pub histograms: BTreeMap<String, String>,
    /// Requests by operation.
    pub operations: BTreeMap<String, OperationStats>,
    /// Bytes read by measured requests.
    pub bytes_read: u64,
    /// Bytes written by measured requests.
    pub bytes_written: u64,
    /// Data-loss events, warm-up included.
    pub data_loss: u64,
}

// ---------------------------------------------------------------------------
// The executor.
// ---------------------------------------------------------------------------

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

/// Classifies an SDK error; `Http(404)` for a missing object.
fn classify<E>(e: &SdkError<E, HttpResponse>) -> Failure
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::DispatchFailure(d) => {
            let class = if d.is_timeout() {
                ErrorClass::Timeout
            } else if d.is_io() {
                ErrorClass::Connect
            } else {
                ErrorClass::Other("dispatch")
            };
            let text = aws_sdk_s3::error::DisplayErrorContext(e).to_string();
            failure(class, short(&text))
        }
        SdkError::TimeoutError(_) => failure(ErrorClass::Timeout, "timed out"),
        SdkError::ResponseError(r) => failure(
            ErrorClass::Stream,
            format!("unreadable response (HTTP {})", r.raw().status().as_u16()),
        ),
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let code = s.err().code().unwrap_or("unknown");
            failure(ErrorClass::Http(status), format!("HTTP {status} {code}"))
        }
        _ => failure(
            ErrorClass::Other("request"),
            short(&aws_sdk_s3::error::DisplayErrorContext(e).to_string()),
        ),
    }
}

fn short(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Path-style endpoints without the SDK's rule engine: `<base>/<bucket>`.
///
/// The default S3 resolver evaluates the full endpoint rule set (regex
/// matches, URL and IDNA parsing) on every request, twice counting auth
/// scheme resolution, about a sixth of the client's CPU per operation. For
/// a fixed, path-style endpoint the answer is always the same.
#[derive(Debug)]
struct PathStyleEndpoint {
    base: String,
}

impl aws_sdk_s3::config::endpoint::ResolveEndpoint for PathStyleEndpoint {
    fn resolve_endpoint<'a>(
        &'a self,
        params: &'a aws_sdk_s3::config::endpoint::Params,
    ) -> aws_sdk_s3::config::endpoint::EndpointFuture<'a> {
        let url = match params.bucket() {
            Some(bucket) => format!("{}/{bucket}", self.base),
            None => self.base.clone(),
        };
        aws_sdk_s3::config::endpoint::EndpointFuture::ready(Ok(
            aws_sdk_s3::config::endpoint::Endpoint::builder()
                .url(url)
                .build(),
        ))
    }
}

impl S3Executor {
    /// Builds the client for `base_url` (the S3 endpoint).
    pub fn new(
        base_url: &str,
        instance: &str,
        w: &S3Workload,
        credentials: S3Credentials,
        seed: u64,
    ) -> Result<Self, WorkloadError> {
        let picker = OpPicker::new(&w.effective_operations()).ok_or_else(|| {
            WorkloadError::InvalidConfig("s3: no operation has a weight above 0".into())
        })?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let creds = credentials.to_sdk();
        let mut builder = aws_sdk_s3::Config::builder();
        if w.path_style {
            builder = builder.endpoint_resolver(PathStyleEndpoint {
                base: base_url.trim_end_matches('/').to_string(),
            });
        }
        let config = builder
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(w.region.clone()))
            .endpoint_url(base_url.trim_end_matches('/'))
            .force_path_style(w.path_style)
            .credentials_provider(creds)
            .http_client(http)
            // Every failed attempt must be seen and counted.
            .retry_config(RetryConfig::disabled())
            // Integrity is checked end to end by the workload itself.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        let mut ops = BTreeMap::new();
        for o in w.effective_operations() {
            ops.insert(
                o.op,
                OpAcc {
                    stats: OperationStats::default(),
                    ttfb: new_histogram()?,
                    ttlb: new_histogram()?,
                },
            );
        }
        // A get/stat/delete may fall back to a put when no object is there.
        if let std::collections::btree_map::Entry::Vacant(e) = ops.entry(S3Operation::Put) {
            e.insert(OpAcc {
                stats: OperationStats::default(),
                ttfb: new_histogram()?,
                ttlb: new_histogram()?,
            });
        }
        Ok(Self {
            client: Client::from_conf(config),
            w: w.clone(),
            instance: instance.to_string(),
            seed,
            picker,
            pool: Mutex::new(Vec::new()),
            next_object: AtomicU64::new(0),
            data_loss: AtomicU64::new(0),
            stats: Mutex::new(StatsAcc {
                ops,
                bytes_read: 0,
                bytes_written: 0,
            }),
        })
    }

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

    /// Waits until the bucket answers `HeadBucket` (a server that just
    /// passed its health check may still refuse S3 requests for a moment),
    /// for at most `patience`.
    pub async fn wait_ready(&self, patience: Duration) -> Result<(), WorkloadError> {
        let deadline = Instant::now() + patience;
        loop {
            let r = self
                .client
                .head_bucket()
                .bucket(&self.w.bucket)
                .send()
                .await;
            match r {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let f = classify(&e);
                    if Instant::now() >= deadline {
                        return Err(WorkloadError::Setup(format!(
                            "s3: bucket {} not reachable: {}: {}",
                            self.w.bucket, f.class, f.message
                        )));
                    }
                    tracing::debug!(class = %f.class, message = %f.message, "bucket not ready yet");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    /// Writes `n` objects (concurrency `parallel`) so reads have something
    /// to read; a put is tried up to 3 times, then the first failure stops it.
    pub async fn prepopulate(
        self: &Arc<Self>,
        n: u32,
        parallel: u32,
    ) -> Result<SetupStats, WorkloadError> {
        let started = Instant::now();
        let remaining = Arc::new(AtomicU64::new(u64::from(n)));
        let bytes = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..parallel.clamp(1, 64) {
            let me = self.clone();
            let remaining = remaining.clone();
            let bytes = bytes.clone();
            tasks.spawn(async move {
                while remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
                    .is_ok()
                {
                    let (obj, body) = me.new_object();
                    let size = obj.size;
                    let mut attempt = 1;
                    // Not measured: a retry here hides nothing.
                    while let Err(f) = me.put_object(obj, body.clone()).await {
                        if attempt >= 3 {
                            return Err(f);
                        }
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    bytes.fetch_add(size, Ordering::Relaxed);
                }
                Ok::<(), Failure>(())
            });
        }
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(f)) => {
                    first_error.get_or_insert(format!("{}: {}", f.class, f.message));
                    remaining.store(0, Ordering::Relaxed);
                }
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        if let Some(e) = first_error {
            return Err(WorkloadError::Setup(format!(
                "s3: pre-populating bucket {} failed: {e}",
                self.w.bucket
            )));
        }
        let secs = started.elapsed().as_secs_f64();
        Ok(SetupStats {
            items: u64::from(n),
            bytes: bytes.load(Ordering::Relaxed),
            duration_s: secs,
            items_per_second: if secs > 0.0 { f64::from(n) / secs } else { 0.0 },
        })
    }

    /// PUT of `obj`; adds it to the pool once acknowledged.
    async fn put_object(&self, obj: Obj, body: Bytes) -> Result<Instant, Failure> {
        let r = self
            .client
            .put_object()
            .bucket(&self.w.bucket)
            .key(self.key(obj.id))
            .content_length(i64::try_from(obj.size).unwrap_or(i64::MAX))
            .body(ByteStream::from(body))
            .send()
            .await;
        let t = Instant::now();
        r.map_err(|e| classify(&e))?;
        self.give_back(obj);
        Ok(t)
    }

    async fn multipart_put(&self, obj: Obj, body: Bytes) -> Result<Instant, Failure> {
        let key = self.key(obj.id);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.w.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let first = Instant::now();
        let upload_id = created
            .upload_id()
            .ok_or_else(|| failure(ErrorClass::InvalidPayload, "no upload id"))?
            .to_string();
        let part_size = usize::try_from(self.w.part_size.get().max(1)).unwrap_or(usize::MAX);
        let mut parts = Vec::new();
        let mut offset = 0usize;
        let mut number = 1i32;
        let result: Result<(), Failure> = async {
            loop {
                let end = (offset + part_size).min(body.len());
                let r = self
                    .client
                    .upload_part()
                    .bucket(&self.w.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(body.slice(offset..end)))
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(r.e_tag().map(str::to_string))
                        .build(),
                );
                offset = end;
                number += 1;
                if offset >= body.len() {
                    break;
                }
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.w.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| classify(&e))?;
            Ok(())
        }
        .await;
        if let Err(f) = result {
            // Best effort: do not leave the parts behind.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.w.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .send()
                .await;
            return Err(f);
        }
        self.give_back(obj);
        Ok(first)
    }

    async fn get(&self, obj: Obj) -> Result<(Instant, u64), Failure> {
        let key = self.key(obj.id);
        let resp = match self
            .client
            .get_object()
            .bucket(&self.w.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let f = classify(&e);
                if f.class == ErrorClass::Http(404) {
                    return Err(self.lost(format!("object {key} was written but GET says 404")));
                }
                self.give_back(obj);
                return Err(f);
            }
        };
        let first = Instant::now();
        let mut body = resp.body;
        let mut sum = Checksum::default();
        let mut n = 0u64;
        loop {
            match body.next().await {
                None => break,
                Some(Ok(chunk)) => {
                    n += chunk.len() as u64;
                    sum.update(&chunk);
                }
                Some(Err(e)) => {
                    self.give_back(obj);
                    return Err(failure(
                        ErrorClass::Stream,
                        short(&format!("body of {key} broke after {n} bytes: {e}")),
                    ));
                }
            }
        }
        if n != obj.size || sum.finish() != obj.checksum {
            return Err(self.lost(format!(
                "object {key}: read {n} bytes (expected {}), checksum mismatch",
                obj.size
            )));
        }
        self.give_back(obj);
        Ok((first, n))
    }

    async fn stat(&self, obj: Obj) -> Result<Instant, Failure> {
        let key = self.key(obj.id);
        match self
            .client
            .head_object()
            .bucket(&self.w.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(r) => {
                let t = Instant::now();
                let len = r.content_length().and_then(|l| u64::try_from(l).ok());
                if len != Some(obj.size) {
                    return Err(self.lost(format!(
                        "object {key}: HEAD says {len:?} bytes, expected {}",
                        obj.size
                    )));
                }
                self.give_back(obj);
                Ok(t)
            }
            Err(e) => {
                let f = classify(&e);
                if f.class == ErrorClass::Http(404) {
                    return Err(self.lost(format!("object {key} was written but HEAD says 404")));
                }
                self.give_back(obj);
                Err(f)
            }
        }
    }

    /// A delete whose outcome is unknown (failed) leaves the object out of
    /// the pool: it may or may not exist, so it must not be verified later.
    async fn delete(&self, obj: Obj) -> Result<Instant, Failure> {
        self.client
            .delete_object()
            .bucket(&self.w.bucket)
            .key(self.key(obj.id))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(Instant::now())
    }

    async fn list(&self) -> Result<Instant, Failure> {
        let prefix = format!("{}/{}/", self.w.key_prefix, self.instance);
        let max = i32::try_from(self.w.list_max_keys).unwrap_or(i32::MAX);
        self.client
            .list_objects_v2()
            .bucket(&self.w.bucket)
            .prefix(prefix)
            .max_keys(max)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(Instant::now())
    }

    fn lost(&self, message: String) -> Failure {
        self.data_loss.fetch_add(1, Ordering::Relaxed);
        tracing::error!(message = %message, "data loss");
        data_loss(message)
    }

    /// Runs the drawn operation (a get, stat or delete with no object to
    /// work on becomes a put).
    async fn run_op(&self, op: S3Operation, rng: &mut SmallRng) -> Result<OpResult, Failure> {
        let needs_obj = matches!(
            op,
            S3Operation::Get | S3Operation::Stat | S3Operation::Delete
        );
        let obj = if needs_obj { self.take(rng) } else { None };
        let op = if needs_obj && obj.is_none() {
            S3Operation::Put
        } else {
            op
        };
        match (op, obj) {
            (S3Operation::Get, Some(o)) => {
                let (first, n) = self.get(o).await?;
                Ok(OpResult {
                    op,
                    first_byte: first,
                    end: Instant::now(),
                    bytes: n,
                })
            }
            (S3Operation::Stat, Some(o)) => {
                let t = self.stat(o).await?;
                Ok(OpResult {
                    op,
                    first_byte: t,
                    end: t,
                    bytes: 0,
                })
            }
            (S3Operation::Delete, Some(o)) => {
                let t = self.delete(o).await?;
                Ok(OpResult {
                    op,
                    first_byte: t,
                    end: t,
                    bytes: 0,
                })
            }
            (S3Operation::List, _) => {
                let t = self.list().await?;
                Ok(OpResult {
                    op,
                    first_byte: t,
                    end: t,
                    bytes: 0,
                })
            }
            (S3Operation::MultipartPut, _) => {
                let (obj, body) = self.new_object();
                let size = obj.size;
                let first = self.multipart_put(obj, body).await?;
                Ok(OpResult {
                    op,
                    first_byte: first,
                    end: Instant::now(),
                    bytes: size,
                })
            }
            _ => {
                let (obj, body) = self.new_object();
                let size = obj.size;
                let t = self.put_object(obj, body).await?;
                Ok(OpResult {
                    op: S3Operation::Put,
                    first_byte: t,
                    end: t,
                    bytes: size,
                })
            }
        }
    }

    fn record(&self, ctx: &RequestContext, op: S3Operation, r: &Result<OpResult, Failure>) {
        if ctx.warmup {
            return;
        }
        let mut s = lock(&self.stats);
        let acc = match r {
            Ok(ok) => ok.op,
            Err(_) => op,
        };
        let Some(entry) = s.ops.get_mut(&acc) else {
            return;
        };
        match r {
            Ok(ok) => {
                entry.stats.requests += 1;
                entry.stats.bytes += ok.bytes;
                let _ = entry.ttfb.record(micros(
                    ok.first_byte.saturating_duration_since(ctx.intended),
                ));
                let _ = entry
                    .ttlb
                    .record(micros(ok.end.saturating_duration_since(ctx.intended)));
                match ok.op {
                    S3Operation::Get => s.bytes_read += ok.bytes,
                    S3Operation::Put | S3Operation::MultipartPut => s.bytes_written += ok.bytes,
                    _ => {}
                }
            }
            Err(_) => entry.stats.errors += 1,
        }
    }

    /// What was measured beyond the request counts.
    pub fn report(&self) -> Result<S3Report, WorkloadError> {
        let s = lock(&self.stats);
        let mut report = S3Report {
            bytes_read: s.bytes_read,
            bytes_written: s.bytes_written,
            data_loss: self.data_loss.load(Ordering::Relaxed),
            ..S3Report::default()
        };
        let mut all_ttfb = new_histogram()?;
        let mut all_ttlb = new_histogram()?;
        for (op, acc) in &s.ops {
            if acc.stats.requests + acc.stats.errors == 0 {
                continue;
            }
            report
                .operations
                .insert(op.as_str().to_string(), acc.stats.clone());
            if acc.ttfb.is_empty() {
                continue;
            }
            add_histogram(TTFB, &mut all_ttfb, &acc.ttfb)?;
            add_histogram(TTLB, &mut all_ttlb, &acc.ttlb)?;
            for (suffix, h) in [(TTFB, &acc.ttfb), (TTLB, &acc.ttlb)] {
                let name = format!("{}.{suffix}", op.as_str());
                let enc = encode_histogram(&name, h)?;
                report.histograms.insert(name, enc);
            }
        }
        if !all_ttfb.is_empty() {
            report
                .histograms
                .insert(TTFB.to_string(), encode_histogram(TTFB, &all_ttfb)?);
            report
                .histograms
                .insert(TTLB.to_string(), encode_histogram(TTLB, &all_ttlb)?);
        }
        Ok(report)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::bytesize::ByteSize;

    #[test]
    fn content_is_deterministic_and_checksums_ignore_chunking() {
        let a = object_content(7, 3, 1001);
        assert_eq!(a.len(), 1001);
        assert_eq!(a, object_content(7, 3, 1001));
        assert_ne!(a, object_content(7, 4, 1001));
        assert_ne!(a, object_content(8, 3, 1001));
        let whole = Checksum::of(&a);
        for split in [1, 3, 8, 9, 500] {
            let mut c = Checksum::default();
            for chunk in a.chunks(split) {
                c.update(chunk);
            }
            assert_eq!(c.finish(), whole, "chunks of {split}");
        }
        let mut flipped = a.clone();
        flipped[500] ^= 1;
        assert_ne!(Checksum::of(&flipped), whole);
        assert_ne!(Checksum::of(&a[..1000]), whole);
        let mut zero_padded = a[..1000].to_vec();
        zero_padded.push(0);
        assert_ne!(Checksum::of(&zero_padded), Checksum::of(&a[..1000]));
    }

    #[test]
    fn sizes_follow_the_distribution() {
        let fixed = SizeDistribution::default();
        assert_eq!(object_size(&fixed, 1, 2), 65536);
        let uni = SizeDistribution {
            distribution: SizeDistributionKind::Uniform,
            min: ByteSize(100),
            max: ByteSize(200),
            ..Default::default()
        };
        let sizes: Vec<u64> = (0..2000).map(|i| object_size(&uni, 9, i)).collect();
        assert!(sizes.iter().all(|s| (100..=200).contains(s)));
        let mean = sizes.iter().sum::<u64>() as f64 / sizes.len() as f64;
        assert!((mean - 150.0).abs() < 5.0, "{mean}");
        let log = SizeDistribution {
            distribution: SizeDistributionKind::LogUniform,
            min: ByteSize(1000),
            max: ByteSize(1_000_000),
            ..Default::default()
        };
        let small = (0..3000)
            .filter(|i| object_size(&log, 9, *i) < 31_623)
            .count();
        assert!((1300..1700).contains(&small), "{small}");
        assert_eq!(object_size(&uni, 9, 5), object_size(&uni, 9, 5));
    }

    #[test]
    fn warp_mix_is_drawn_in_proportion() {
        let w = S3Workload {
            preset: Some(crate::api::workload::S3Preset::WarpMixed),
            ..Default::default()
        };
        let p = OpPicker::new(&w.effective_operations()).unwrap();
        assert!(p.needs_objects());
        let mut counts = BTreeMap::new();
        for r in 0..100 {
            *counts.entry(p.pick_at(r)).or_insert(0) += 1;
        }
        assert_eq!(counts[&S3Operation::Get], 45);
        assert_eq!(counts[&S3Operation::Stat], 30);
        assert_eq!(counts[&S3Operation::Put], 15);
        assert_eq!(counts[&S3Operation::Delete], 10);
        let put_only = OpPicker::new(&S3Workload::default().effective_operations()).unwrap();
        assert!(!put_only.needs_objects());
        assert!(
            OpPicker::new(&[S3OperationWeight {
                op: S3Operation::Get,
                weight: 0
            }])
            .is_none()
        );
    }

    #[test]
    fn keys_spread_over_prefixes() {
        assert_eq!(object_key("p", "c-1", 1, 42), "p/c-1/0000/obj-0000000042");
        assert_eq!(object_key("p", "c-1", 4, 42), "p/c-1/0002/obj-0000000042");
    }
}
