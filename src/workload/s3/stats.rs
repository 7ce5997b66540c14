//! What the S3 executor measures beyond the request counts the load layer
//! keeps: per-operation counters, time to first and last byte, bytes moved,
//! data-loss events.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{OpResult, S3Executor, TTFB, TTLB, lock};
use crate::api::workload::S3Operation;
use crate::workload::WorkloadError;
use crate::workload::load::RequestContext;
use crate::workload::record::Failure;
use crate::workload::result::OperationStats;
use crate::workload::stats::{add_histogram, encode_histogram, new_histogram};

pub(super) struct OpAcc {
    pub(super) stats: OperationStats,
    pub(super) ttfb: Histogram<u64>,
    pub(super) ttlb: Histogram<u64>,
}

/// Per-operation counters and histograms of measured requests.
pub(super) struct StatsAcc {
    pub(super) ops: BTreeMap<S3Operation, OpAcc>,
    pub(super) bytes_read: u64,
    pub(super) bytes_written: u64,
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

impl S3Executor {
    pub(super) fn record(
        &self,
        ctx: &RequestContext,
        op: S3Operation,
        r: &Result<OpResult, Failure>,
    ) {
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
