//! `workload.embeddings`: settings of the embeddings workload
//! (`POST /v1/embeddings`, batches of synthetic inputs). The type of the
//! custom resource and [`EmbeddingsWorkload::problems`], the pure check of
//! the settings (every problem with the field it names).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LengthDist, LengthDistType};
use crate::api::duration::Duration;

/// Settings of the embeddings workload: each request sends `batchSize`
/// synthetic inputs to `POST /v1/embeddings`; a response must carry one
/// vector per input, all of one dimension, or the request fails with
/// `invalid_payload`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EmbeddingsWorkload {
    /// Model name sent with each request. Default: the first model listed by
    /// `GET /v1/models`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Inputs per request. Default 1.
    #[schemars(range(min = 1, max = 100000))]
    pub batch_size: u32,
    /// With `load.stages`: the batch size of each stage, one per stage, in
    /// order (a sweep of batch sizes); overrides `batchSize`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stage_batch_sizes: Vec<u32>,
    /// Length of each input in tokens (approximately: one common English
    /// word per token), as the openai dataset's `inputTokens`. Default fixed
    /// 128.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<LengthDist>,
    /// Number of distinct inputs prepared; requests take consecutive batches
    /// of them, cycling. Default 1000.
    #[schemars(range(min = 1, max = 10000000))]
    pub num_inputs: u32,
    /// Name of an environment variable holding the API key, sent as
    /// `Authorization: Bearer`. The key is never logged or written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Path of a file holding the API key (surrounding whitespace is ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<String>,
    /// `float` (default: vectors as JSON numbers) or `base64` (little-endian
    /// 32-bit floats), sent as `encoding_format`.
    pub encoding_format: EncodingFormat,
    /// Time limit of one request, from send to last byte. Default 60s.
    pub request_timeout: Duration,
}

/// How the server encodes the vectors.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    /// A JSON array of numbers.
    #[default]
    Float,
    /// Base64 of little-endian 32-bit floats.
    Base64,
}

impl EncodingFormat {
    /// The value of `encoding_format` in a request.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Float => "float",
            Self::Base64 => "base64",
        }
    }
}

/// Default number of prepared inputs.
pub const DEFAULT_NUM_INPUTS: u32 = 1000;
/// Default input length in tokens.
pub const DEFAULT_INPUT_TOKENS: u32 = 128;

impl Default for EmbeddingsWorkload {
    fn default() -> Self {
        Self {
            model: None,
            batch_size: 1,
            stage_batch_sizes: Vec::new(),
            input_tokens: None,
            num_inputs: DEFAULT_NUM_INPUTS,
            api_key_env: None,
            api_key_file: None,
            encoding_format: EncodingFormat::default(),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl EmbeddingsWorkload {
    /// The input length in effect: `inputTokens`, else fixed 128.
    pub fn input_len(&self) -> LengthDist {
        self.input_tokens.clone().unwrap_or(LengthDist {
            kind: LengthDistType::Fixed,
            value: Some(DEFAULT_INPUT_TOKENS),
            ..LengthDist::default()
        })
    }

    /// The batch size of stage `k` (0 without stages).
    pub fn batch_size_of_stage(&self, k: usize) -> u32 {
        self.stage_batch_sizes
            .get(k)
            .copied()
            .unwrap_or(self.batch_size)
    }

    /// What is wrong with these settings, as `(field, message)`; `stages`
    /// is the number of `load.stages`. (`inputTokens` is checked by the
    /// validator as every length distribution is.)
    pub fn problems(&self, stages: usize) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.batch_size == 0 {
            out.push(("batchSize", "must be at least 1".to_string()));
        }
        if self.num_inputs == 0 {
            out.push(("numInputs", "must be at least 1".to_string()));
        }
        if self.stage_batch_sizes.contains(&0) {
            out.push((
                "stageBatchSizes",
                "every batch size must be at least 1".to_string(),
            ));
        }
        if !self.stage_batch_sizes.is_empty() && self.stage_batch_sizes.len() != stages {
            out.push((
                "stageBatchSizes",
                format!(
                    "gives {} batch sizes for {stages} load stages: give one per stage",
                    self.stage_batch_sizes.len()
                ),
            ));
        }
        if self.api_key_env.is_some() && self.api_key_file.is_some() {
            out.push((
                "apiKeyFile",
                "set only one of apiKeyEnv and apiKeyFile".to_string(),
            ));
        }
        if self.request_timeout.get().is_zero() {
            out.push(("requestTimeout", "must be longer than 0s".to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_problems() {
        let w: EmbeddingsWorkload = serde_json::from_str("{}").unwrap();
        assert_eq!(w, EmbeddingsWorkload::default());
        assert_eq!(w.batch_size, 1);
        assert_eq!(w.input_len().value, Some(128));
        assert!(w.problems(0).is_empty());
        let w = EmbeddingsWorkload {
            batch_size: 0,
            stage_batch_sizes: vec![1, 0],
            api_key_env: Some("A".into()),
            api_key_file: Some("f".into()),
            ..EmbeddingsWorkload::default()
        };
        let fields: Vec<_> = w.problems(3).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "batchSize",
                "stageBatchSizes",
                "stageBatchSizes",
                "apiKeyFile"
            ]
        );
        let w = EmbeddingsWorkload {
            stage_batch_sizes: vec![1, 4, 16],
            ..EmbeddingsWorkload::default()
        };
        assert!(w.problems(3).is_empty());
        assert_eq!(w.batch_size_of_stage(2), 16);
        assert_eq!(w.batch_size_of_stage(3), 1);
        let f: EncodingFormat = serde_json::from_str("\"base64\"").unwrap();
        assert_eq!(f.as_str(), "base64");
    }
}
