//! The simulator's `POST /v1/embeddings`: parsing a request into an
//! [`EmbeddingJob`], its latency (a fixed time plus a time per input token,
//! [`EmbeddingJob::latency`]) and the response body ([`response`]) with one
//! vector of the configured dimension per input and `usage.prompt_tokens`.
//! Pure functions; the handler in `server` waits and answers.
//!
//! Inputs: a string, an array of strings, an array of token ids, or an array
//! of arrays of token ids (one token per whitespace-separated word or per
//! id, as the completion endpoints count). Vectors are deterministic (the
//! same input index and dimension give the same numbers), as JSON numbers or,
//! with `encoding_format: base64`, base64 of little-endian 32-bit floats.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::openai::{ApiError, count_words};

/// A parsed embeddings request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EmbeddingJob {
    /// Tokens of each input.
    pub(crate) tokens: Vec<u64>,
    /// Vectors as base64 instead of numbers.
    pub(crate) base64: bool,
}

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    model: Option<String>,
    input: Value,
    #[serde(default)]
    encoding_format: Option<String>,
}

impl EmbeddingJob {
    /// Tokens of all inputs.
    pub(crate) fn prompt_tokens(&self) -> u64 {
        self.tokens.iter().sum()
    }

    /// `fixed` plus `per_token` for each input token.
    pub(crate) fn latency(&self, fixed: Duration, per_token: Duration) -> Duration {
        let tokens = u32::try_from(self.prompt_tokens()).unwrap_or(u32::MAX);
        fixed.saturating_add(per_token.saturating_mul(tokens))
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// Tokens of one input: a string (words) or an array of token ids.
fn input_tokens(v: &Value) -> Result<u64, ApiError> {
    match v {
        Value::String(s) => Ok(count_words(s)),
        Value::Array(ids) if ids.iter().all(Value::is_u64) => Ok(ids.len() as u64),
        _ => Err(bad(
            "input must be a string, an array of strings or arrays of token ids",
        )),
    }
}

/// Parses a `/v1/embeddings` body for a server of `model`.
pub(crate) fn parse(body: &[u8], model: &str) -> Result<EmbeddingJob, ApiError> {
    let req: Request =
        serde_json::from_slice(body).map_err(|e| bad(format!("Invalid request body: {e}")))?;
    if let Some(m) = req.model.as_deref().filter(|m| *m != model) {
        return Err(ApiError::NotFound(format!(
            "The model `{m}` does not exist."
        )));
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(bad(format!(
                "encoding_format must be float or base64, got {other:?}"
            )));
        }
    };
    let tokens = match &req.input {
        Value::String(_) => vec![input_tokens(&req.input)?],
        Value::Array(items) if items.is_empty() => return Err(bad("input must not be empty")),
        Value::Array(items) if items.iter().all(Value::is_u64) => vec![items.len() as u64],
        Value::Array(items) => items.iter().map(input_tokens).collect::<Result<_, _>>()?,
        _ => return Err(bad("input must be a string or an array")),
    };
    Ok(EmbeddingJob { tokens, base64 })
}

/// Element `j` of the vector of input `i`: deterministic, in `[-0.5, 0.5)`.
fn element(i: usize, j: usize) -> f32 {
    let x = (i.wrapping_mul(7919).wrapping_add(j.wrapping_mul(104_729))) % 1000;
    x as f32 / 1000.0 - 0.5
}

/// The response to `job` from `model` with vectors of `dimension`.
pub(crate) fn response(job: &EmbeddingJob, model: &str, dimension: usize) -> Value {
    let data: Vec<Value> = (0..job.tokens.len())
        .map(|i| {
            let v = (0..dimension).map(|j| element(i, j));
            let embedding = if job.base64 {
                let bytes: Vec<u8> = v.flat_map(f32::to_le_bytes).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v.collect::<Vec<f32>>())
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let tokens = job.prompt_tokens();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_forms_count_tokens() {
        let job = parse(br#"{"input": "a b c"}"#, "m").unwrap();
        assert_eq!(job.tokens, [3]);
        let job = parse(br#"{"model": "m", "input": ["a b", "c"]}"#, "m").unwrap();
        assert_eq!(job.tokens, [2, 1]);
        assert!(!job.base64);
        let job = parse(br#"{"input": [1, 2, 3, 4]}"#, "m").unwrap();
        assert_eq!(job.tokens, [4]);
        let job = parse(
            br#"{"input": [[1, 2], [3]], "encoding_format": "base64"}"#,
            "m",
        )
        .unwrap();
        assert_eq!(job.tokens, [2, 1]);
        assert!(job.base64);
        assert_eq!(
            parse(br#"{"model": "x", "input": "a"}"#, "m")
                .unwrap_err()
                .status(),
            404
        );
        for body in [
            &br#"{"input": []}"#[..],
            br#"{"input": 3}"#,
            br#"{"input": [{"a": 1}]}"#,
            br#"{"input": "a", "encoding_format": "int8"}"#,
            br#"{}"#,
        ] {
            assert_eq!(parse(body, "m").unwrap_err().status(), 400);
        }
    }

    #[test]
    fn latency_is_fixed_plus_per_token() {
        let job = parse(br#"{"input": ["a b c", "d"]}"#, "m").unwrap();
        let ms = Duration::from_millis;
        assert_eq!(job.latency(ms(5), ms(2)), ms(13));
        assert_eq!(job.latency(ms(5), Duration::ZERO), ms(5));
    }

    #[test]
    fn responses_carry_one_vector_per_input_and_usage() {
        let job = parse(br#"{"input": ["a b c", "d"]}"#, "m").unwrap();
        let r = response(&job, "m", 8);
        assert_eq!(r["data"].as_array().unwrap().len(), 2);
        assert_eq!(r["data"][1]["index"], 1);
        assert_eq!(r["data"][0]["embedding"].as_array().unwrap().len(), 8);
        assert_eq!(r["usage"]["prompt_tokens"], 4);
        let job = EmbeddingJob {
            base64: true,
            ..job
        };
        let r = response(&job, "m", 8);
        let text = r["data"][0]["embedding"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        assert_eq!(bytes.len(), 32);
        assert_eq!(
            f32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            element(0, 1)
        );
    }
}
