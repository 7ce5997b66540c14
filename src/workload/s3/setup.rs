//! What runs before the S3 load: waiting until the bucket answers, and
//! pre-populating it so reads have something to read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::S3Executor;
use super::sdk::classify;
use crate::workload::WorkloadError;
use crate::workload::record::Failure;
use crate::workload::result::SetupStats;

/// Waits until `bucket` answers `HeadBucket` through `client`, for at most
/// `patience` (shared with the RAG workload's seeding).
pub(crate) async fn wait_bucket(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    patience: Duration,
) -> Result<(), WorkloadError> {
    let deadline = Instant::now() + patience;
    loop {
        match client.head_bucket().bucket(bucket).send().await {
            Ok(_) => return Ok(()),
            Err(e) => {
                let f = classify(&e);
                if Instant::now() >= deadline {
                    return Err(WorkloadError::Setup(format!(
                        "s3: bucket {bucket} not reachable: {}: {}",
                        f.class, f.message
                    )));
                }
                tracing::debug!(class = %f.class, message = %f.message, "bucket not ready yet");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

impl S3Executor {
    /// Waits until the bucket answers `HeadBucket` (a server that just
    /// passed its health check may still refuse S3 requests for a moment),
    /// for at most `patience`.
    pub async fn wait_ready(&self, patience: Duration) -> Result<(), WorkloadError> {
        wait_bucket(&self.client, &self.w.bucket, patience).await
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
}
