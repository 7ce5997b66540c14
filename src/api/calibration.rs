//! `spec.clients[k].calibration`: before its measured load each client
//! instance measures its own timing error against an in-process simulator
//! with known timing (`workload::calibration`), and the result says how far
//! the client's TTFT and ITL are from the truth on the machine it ran on.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::Duration;
use super::error::FieldError;
use super::workload::WorkloadType;

/// Shortest calibration accepted.
pub const MIN_CALIBRATION: std::time::Duration = std::time::Duration::from_millis(500);
/// Longest calibration accepted.
pub const MAX_CALIBRATION: std::time::Duration = std::time::Duration::from_secs(300);

/// A short run against an in-process simulator before the measured load
/// (OpenAI workloads), at the client's configured concurrency (a sweep: its
/// last stage), recording the client's own overhead and CPU headroom.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CalibrationSpec {
    /// Run the calibration. Default true when the block is given.
    pub enabled: bool,
    /// How long it runs (after a 0.5 s warm-up), 500ms to 5m. Default 3s.
    pub duration: Duration,
}

impl Default for CalibrationSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            duration: Duration(std::time::Duration::from_secs(3)),
        }
    }
}

/// What is wrong with the calibration `cal` of a client of workload
/// `kind`, with field paths under `at` (`spec.clients[k].calibration`).
pub fn problems(cal: Option<&CalibrationSpec>, kind: WorkloadType, at: &str) -> Vec<FieldError> {
    let Some(cal) = cal.filter(|c| c.enabled) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !kind.calibrates() {
        out.push(FieldError::new(
            at,
            format!(
                "calibration measures TTFT and ITL against a simulated LLM server: only for workload type openai, not {}",
                kind
            ),
        ));
    }
    let d = cal.duration.0;
    if !(MIN_CALIBRATION..=MAX_CALIBRATION).contains(&d) {
        out.push(FieldError::new(
            format!("{at}.duration"),
            format!("{d:?} is out of range: give 500ms to 5m"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::api::load::load_str;

    fn problems_of(client: &str) -> Vec<String> {
        let yaml = format!(
            "apiVersion: aifbench.io/v1alpha1\nkind: Benchmark\nmetadata: {{name: c}}\nspec:\n  clients:\n    - {client}\n"
        );
        match load_str(&yaml, "c.yaml", &|_| None) {
            Ok(l) => crate::api::validate::validate(&l.benchmark)
                .iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect(),
            Err(e) => e
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect(),
        }
    }

    #[test]
    fn calibration_is_checked_with_its_field_paths() {
        let ok = problems_of(
            "{id: a, endpoint: 'http://h:1', workload: {type: openai}, calibration: {}}",
        );
        assert!(ok.is_empty(), "{ok:?}");
        let short = problems_of(
            "{id: a, endpoint: 'http://h:1', workload: {type: openai}, calibration: {duration: 10ms}}",
        );
        assert!(
            short
                .iter()
                .any(|p| p.starts_with("spec.clients[0].calibration.duration:")),
            "{short:?}"
        );
        let s3 = problems_of(
            "{id: a, endpoint: 'http://h:1', workload: {type: s3, s3: {bucket: b}}, calibration: {enabled: true}}",
        );
        assert!(
            s3.iter()
                .any(|p| p.starts_with("spec.clients[0].calibration:") && p.contains("openai")),
            "{s3:?}"
        );
        let off = problems_of(
            "{id: a, endpoint: 'http://h:1', workload: {type: s3, s3: {bucket: b}}, calibration: {enabled: false}}",
        );
        assert!(!off.iter().any(|p| p.contains("calibration")), "{off:?}");
    }
}
