//! The post-actions of a run (`spec.execution.postActions`): shared by the
//! spec, which lists them, and the status, which reports how each ended.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A step after the clients finish, in the order listed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub enum PostAction {
    /// Final scrape of every monitor, then stop them.
    #[serde(alias = "collect_metrics")]
    CollectMetrics,
    /// Stop every service (always done before completion; listing it
    /// chooses when).
    #[serde(alias = "stop_services")]
    StopServices,
    /// Merge client results into summary.json / summary.csv / report.md.
    Report,
    /// Upload the results to `results.s3`: the whole results folder
    /// (`aifbench run`) or the merged summary (operator; the clients upload
    /// their own results). Always runs after `report`.
    #[serde(alias = "upload_results")]
    UploadResults,
}

impl PostAction {
    /// The name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CollectMetrics => "collectMetrics",
            Self::StopServices => "stopServices",
            Self::Report => "report",
            Self::UploadResults => "uploadResults",
        }
    }
}

impl JsonSchema for PostAction {
    fn schema_name() -> Cow<'static, str> {
        "PostAction".into()
    }

    fn inline_schema() -> bool {
        true
    }

    /// Lists the seed's snake_case aliases too, so the API server (and the
    /// strict check of `aifbench validate`) accepts every name serde does.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "enum": [
                "collectMetrics", "collect_metrics",
                "stopServices", "stop_services",
                "report",
                "uploadResults", "upload_results"
            ],
            "description": "A step after the clients finish: collectMetrics, stopServices, report or uploadResults."
        })
    }
}
