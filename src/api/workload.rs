//! PLACEHOLDER replaced by the workload branch merge.
use super::duration::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    #[serde(rename = "type")]
    pub kind: WorkloadType,
    pub openai: Option<OpenAiWorkload>,
}
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Default)]
pub enum WorkloadType {
    #[default]
    #[serde(rename = "openai", alias = "vllm-inference")]
    OpenAi,
    #[serde(rename = "s3", alias = "s3-upload")]
    S3,
    #[serde(rename = "chroma")]
    Chroma,
}
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct OpenAiWorkload {
    pub model: Option<String>,
    pub stream: bool,
    pub max_tokens: u32,
    pub prompt: String,
    pub api_key_env: Option<String>,
    pub api_key_file: Option<String>,
    pub request_timeout: Duration,
}
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadSpec {
    pub concurrency: u32,
    pub rate: Option<f64>,
    pub warmup: Option<Duration>,
    pub duration: Option<Duration>,
    pub max_requests: Option<u64>,
    pub seed: Option<u64>,
}
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorPolicy {
    pub backoff: Duration,
    pub max_consecutive: u32,
}
impl Default for LoadSpec {
    fn default() -> Self {
        Self {
            concurrency: 1,
            rate: None,
            warmup: None,
            duration: None,
            max_requests: None,
            seed: None,
        }
    }
}
