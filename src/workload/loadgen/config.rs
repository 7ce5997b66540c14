//! What one load-generator instance is told to do ([`LoadgenConfig`]): the
//! file `aifbench run` and the operator write for each client instance, and
//! its reading from YAML or JSON.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::upload::UploadTarget;
use crate::api::calibration::CalibrationSpec;
use crate::api::workload::{ErrorPolicy, LoadSpec, WorkloadSpec};
use crate::workload::WorkloadError;

/// Everything one load-generator instance needs.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LoadgenConfig {
    /// Instance id, copied into the result.
    pub id: String,
    /// Base URL of the service, e.g. `http://10.0.0.5:8000`.
    pub base_url: String,
    /// What to send.
    pub workload: WorkloadSpec,
    /// How hard to push.
    pub load: LoadSpec,
    /// How to react to failures.
    pub errors: ErrorPolicy,
    /// Also put the full result into an S3 bucket after the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadTarget>,
    /// Measure the client's own overhead first (`workload::calibration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationSpec>,
}

impl Default for LoadgenConfig {
    fn default() -> Self {
        Self {
            id: "loadgen".to_string(),
            base_url: String::new(),
            workload: WorkloadSpec::default(),
            load: LoadSpec::default(),
            errors: ErrorPolicy::default(),
            upload: None,
            calibration: None,
        }
    }
}

impl LoadgenConfig {
    /// The configuration of instance `id` of client `c`, sending to
    /// `base_url`. Without its own duration or request cap the client runs
    /// for `execution.duration` (and is stopped then in any case).
    pub fn for_client(
        spec: &crate::api::spec::BenchmarkSpec,
        c: &crate::api::spec::ClientSpec,
        id: &str,
        base_url: String,
    ) -> Self {
        let mut load = c.load.clone();
        if load.duration.is_none() && load.max_requests.is_none() {
            load.duration = spec.execution.duration;
        }
        Self {
            id: id.to_string(),
            base_url,
            workload: c.workload.clone(),
            load,
            errors: c.errors.clone(),
            upload: None,
            calibration: c.calibration.clone().filter(|c| c.enabled),
        }
    }
}

/// Reads a [`LoadgenConfig`] from a YAML or JSON file.
pub fn load_config(path: &Path) -> Result<LoadgenConfig, WorkloadError> {
    let err = |reason: String| WorkloadError::ConfigFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    } else {
        serde_norway::from_str(&text).map_err(|e| err(e.to_string()))
    }
}
