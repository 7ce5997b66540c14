//! The per-request JSON Lines file of `aifbench loadgen --requests FILE`.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::workload::WorkloadError;
use crate::workload::load::RecordSink;
use crate::workload::record::RequestRecord;

/// The per-request JSON Lines file (`--requests FILE`): one line per
/// request, warm-up included, written through a buffer.
pub struct RequestLog {
    out: std::sync::Mutex<std::io::BufWriter<std::fs::File>>,
}

/// One line of the per-request file; times in milliseconds.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestLine<'a> {
    index: u64,
    stage: usize,
    warmup: bool,
    /// Send time, seconds since the start of the stage.
    sent_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lag_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttft_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttfc_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e2el_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e2el_intended_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    itl_ms: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl RequestLog {
    /// Creates (truncates) `path`, and its directory.
    pub fn create(path: &Path) -> Result<Self, WorkloadError> {
        let werr = |source| WorkloadError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(werr)?;
        }
        let file = std::fs::File::create(path).map_err(werr)?;
        Ok(Self {
            out: std::sync::Mutex::new(std::io::BufWriter::with_capacity(64 * 1024, file)),
        })
    }
}

impl RecordSink for RequestLog {
    fn record(&self, stage: usize, sent_offset: Duration, rec: &RequestRecord) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let error = rec.outcome.as_ref().err().map(ToString::to_string);
        let t = rec.outcome.as_ref().ok();
        let line = RequestLine {
            index: rec.index,
            stage,
            warmup: rec.warmup,
            sent_s: sent_offset.as_secs_f64(),
            queue_ms: rec.queue_time.map(ms),
            lag_ms: rec.client_lag.map(ms),
            ttft_ms: t.and_then(|t| t.ttft).map(ms),
            ttfc_ms: t.and_then(|t| t.ttfc).map(ms),
            e2el_ms: t.map(|t| ms(t.e2el)),
            e2el_intended_ms: t.and_then(|t| t.e2el_intended).map(ms),
            input_tokens: t.map(|t| t.input_tokens),
            output_tokens: t.map(|t| t.output_tokens),
            itl_ms: t
                .map(|t| t.itl.iter().map(|d| ms(*d)).collect())
                .unwrap_or_default(),
            error: error.as_deref(),
        };
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if serde_json::to_writer(&mut *out, &line).is_ok() {
            let _ = out.write_all(b"\n");
        }
    }

    fn flush(&self) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = out.flush() {
            tracing::warn!(error = %e, "cannot write the per-request file");
        }
    }
}
