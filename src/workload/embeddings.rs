//! The embeddings workload's executor: `POST /v1/embeddings` with a batch of
//! `batchSize` synthetic inputs per request.
//!
//! The inputs are prepared once ([`build_inputs`]: `numInputs` texts of
//! common words, lengths drawn from `inputTokens`, seeded); request `i`
//! takes the `i`-th consecutive batch of them, cycling. A response counts as
//! a success only when it is well formed ([`check_response`]): one vector
//! per input (`data` as long as the batch), every vector non-empty and of
//! the same dimension, numbers for `encoding_format: float` or base64 of
//! little-endian 32-bit floats for `base64`; anything else is an
//! `invalid_payload` failure. Input tokens come from `usage.prompt_tokens`
//! when the server sends it (token source `usage`), else from the estimate
//! of the prepared inputs (token source `counted`, reported as `estimated`
//! by the runner). No output tokens.
//!
//! [`vectors`] decodes the vectors of such a response and
//! [`EmbeddingsClient::embed`] embeds given texts with one request (the RAG
//! workload's embed hop, [`super::rag_run`]).
//!
//! The endpoint pieces (API key, HTTP client, model discovery, error
//! classification) are the OpenAI workload's ([`super::openai`]).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use rand::SeedableRng as _;
use rand::rngs::SmallRng;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::WorkloadError;
use super::load::{Executor, RequestContext};
use super::openai_http::{
    checked_root, classify_transport, describe, discover_model, http_client, load_key, post_json,
};
use super::openai_payload::excerpt;
use super::prompt::{sample_len, synthetic_prompt};
use super::record::{ErrorClass, Failure, Outcome, Success, TokenSource};
use crate::api::workload::{EmbeddingsWorkload, EncodingFormat};

/// The prepared inputs: texts and their estimated token counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    /// The texts.
    pub texts: Vec<String>,
    /// Estimated tokens of each text (one per word).
    pub tokens: Vec<u32>,
}

/// `numInputs` synthetic inputs with lengths drawn from `inputTokens`,
/// the same for a given `seed`.
pub fn build_inputs(cfg: &EmbeddingsWorkload, seed: u64) -> Result<Inputs, WorkloadError> {
    let dist = cfg.input_len();
    let mut rng = SmallRng::seed_from_u64(seed);
    let n = cfg.num_inputs.max(1) as usize;
    let mut texts = Vec::with_capacity(n);
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        let len = sample_len(&dist, &mut rng)
            .map_err(|e| WorkloadError::InvalidConfig(format!("embeddings.inputTokens: {e}")))?;
        texts.push(synthetic_prompt(len, &mut rng));
        tokens.push(len);
    }
    Ok(Inputs { texts, tokens })
}

/// The body of one request: `model`, `input` (the texts) and
/// `encoding_format`.
pub fn request_body(model: &str, input: &[&str], format: EncodingFormat) -> Value {
    json!({"model": model, "input": input, "encoding_format": format.as_str()})
}

/// What a well-formed response said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// Dimension of the vectors.
    pub dimension: usize,
    /// `usage.prompt_tokens`, when sent.
    pub prompt_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Value,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
}

fn invalid(message: String) -> Failure {
    Failure::new(ErrorClass::InvalidPayload, message)
}

/// The dimension of one vector as `format` encodes it.
fn dimension(v: &Value, format: EncodingFormat) -> Result<usize, String> {
    match (format, v) {
        (EncodingFormat::Float, Value::Array(xs)) => {
            if let Some(x) = xs.iter().find(|x| !x.is_number()) {
                let kind = if x.is_array() {
                    "an array (one vector per token?)"
                } else {
                    "not a number"
                };
                return Err(format!("a vector element is {kind}"));
            }
            Ok(xs.len())
        }
        (EncodingFormat::Base64, Value::String(text)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("a vector is not base64: {e}"))?;
            if bytes.len() % 4 != 0 {
                return Err(format!(
                    "a base64 vector has {} bytes, not a whole number of 32-bit floats",
                    bytes.len()
                ));
            }
            Ok(bytes.len() / 4)
        }
        (EncodingFormat::Float, _) => Err("a vector is not an array of numbers".to_string()),
        (EncodingFormat::Base64, _) => Err("a vector is not a base64 string".to_string()),
    }
}

/// Checks a response body to a batch of `inputs` inputs: one vector per
/// input, all of one non-zero dimension, encoded as `format` says.
pub fn check_response(
    body: &[u8],
    inputs: usize,
    format: EncodingFormat,
) -> Result<Checked, Failure> {
    let r: Response = serde_json::from_slice(body).map_err(|e| {
        invalid(format!(
            "not an embeddings response ({e}): {}",
            excerpt(&String::from_utf8_lossy(body))
        ))
    })?;
    if r.data.len() != inputs {
        return Err(invalid(format!(
            "{} vectors for {inputs} inputs",
            r.data.len()
        )));
    }
    let mut dim = None;
    for (k, item) in r.data.iter().enumerate() {
        let d =
            dimension(&item.embedding, format).map_err(|e| invalid(format!("data[{k}]: {e}")))?;
        if d == 0 {
            return Err(invalid(format!("data[{k}]: an empty vector")));
        }
        match dim {
            None => dim = Some(d),
            Some(first) if first != d => {
                return Err(invalid(format!(
                    "vectors of different dimensions: {first} and {d} (data[{k}])"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(Checked {
        dimension: dim.unwrap_or(0),
        prompt_tokens: r.usage.and_then(|u| u.prompt_tokens),
    })
}

/// The vectors of a well-formed response to a batch of `inputs` inputs
/// (checked by [`check_response`] first), in input order, with
/// `usage.prompt_tokens` when sent.
pub fn vectors(
    body: &[u8],
    inputs: usize,
    format: EncodingFormat,
) -> Result<(Vec<Vec<f32>>, Option<u64>), Failure> {
    let checked = check_response(body, inputs, format)?;
    let r: Response = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("not an embeddings response: {e}")))?;
    let decode = |v: &Value| -> Vec<f32> {
        match v {
            Value::Array(xs) => xs
                .iter()
                .map(|x| x.as_f64().unwrap_or_default() as f32)
                .collect(),
            Value::String(text) => base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_default()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            _ => Vec::new(),
        }
    };
    let out = r.data.iter().map(|item| decode(&item.embedding)).collect();
    Ok((out, checked.prompt_tokens))
}

/// An HTTP client for one embeddings endpoint.
#[derive(Clone, Debug)]
pub struct EmbeddingsClient {
    http: reqwest::Client,
    root: String,
    cfg: EmbeddingsWorkload,
}

impl EmbeddingsClient {
    /// A client for `base_url` (with or without `/v1`) keeping up to
    /// `connections` idle connections; loads the API key.
    pub fn new(
        base_url: &str,
        cfg: &EmbeddingsWorkload,
        connections: u32,
    ) -> Result<Self, WorkloadError> {
        let root = checked_root(base_url)?;
        if cfg.request_timeout.get().is_zero() {
            return Err(WorkloadError::InvalidConfig(
                "embeddings.requestTimeout must be longer than 0s".to_string(),
            ));
        }
        let key = load_key(cfg.api_key_env.as_deref(), cfg.api_key_file.as_deref())?;
        let http = http_client(key, cfg.request_timeout.get(), connections)?;
        Ok(Self {
            http,
            root: root.to_string(),
            cfg: cfg.clone(),
        })
    }

    /// The configured model, or the first one `GET /v1/models` lists.
    pub async fn resolve_model(&self) -> Result<String, WorkloadError> {
        match &self.cfg.model {
            Some(m) => Ok(m.clone()),
            None => discover_model(&self.http, &self.root, self.cfg.request_timeout.get()).await,
        }
    }

    /// Embeds `texts` with `model` in one request, within the request
    /// timeout: one vector per text ([`vectors`]) and the server's prompt
    /// token count, when sent. (The RAG workload's embed hop and corpus
    /// seeding.)
    pub async fn embed(
        &self,
        model: &str,
        texts: &[&str],
    ) -> Result<(Vec<Vec<f32>>, Option<u64>), Failure> {
        let url = format!("{}/v1/embeddings", self.root);
        let url = reqwest::Url::parse(&url)
            .map_err(|e| Failure::new(ErrorClass::Other("request"), format!("{url:?}: {e}")))?;
        let body = serde_json::to_vec(&request_body(model, texts, self.cfg.encoding_format))
            .map_err(|e| Failure::new(ErrorClass::Other("request"), e.to_string()))?;
        let format = self.cfg.encoding_format;
        let timeout = self.cfg.request_timeout.get();
        let send = async {
            let resp = post_json(&self.http, &url, Bytes::from(body)).await?;
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| Failure::new(classify_transport(&e, true), describe(&e)))?;
            vectors(&bytes, texts.len(), format)
        };
        match tokio::time::timeout(timeout, send).await {
            Ok(r) => r,
            Err(_) => Err(Failure::new(
                ErrorClass::Timeout,
                format!("no complete response within {timeout:?}"),
            )),
        }
    }

    /// The executor sending batches of `batch` of `inputs` for `model`.
    pub fn executor(
        &self,
        model: &str,
        inputs: &Inputs,
        batch: u32,
    ) -> Result<EmbeddingsExecutor, WorkloadError> {
        let n = inputs.texts.len();
        let b = batch.max(1) as usize;
        if n == 0 {
            return Err(WorkloadError::InvalidConfig(
                "embeddings: no inputs".to_string(),
            ));
        }
        // Batch k starts at k*b mod n: the starts repeat after n / gcd(n, b).
        let distinct = n / gcd(n, b);
        let bodies = (0..distinct)
            .map(|k| {
                let at = |j: usize| (k * b + j) % n;
                let texts: Vec<&str> = (0..b).map(|j| inputs.texts[at(j)].as_str()).collect();
                let tokens: u64 = (0..b).map(|j| u64::from(inputs.tokens[at(j)])).sum();
                let body =
                    serde_json::to_vec(&request_body(model, &texts, self.cfg.encoding_format))?;
                Ok((Bytes::from(body), tokens))
            })
            .collect::<Result<Vec<_>, WorkloadError>>()?;
        let url = format!("{}/v1/embeddings", self.root);
        let url = reqwest::Url::parse(&url).map_err(|e| {
            WorkloadError::InvalidConfig(format!("baseUrl gives an invalid URL {url:?}: {e}"))
        })?;
        Ok(EmbeddingsExecutor {
            http: self.http.clone(),
            url,
            bodies: Arc::new(bodies),
            batch: b,
            format: self.cfg.encoding_format,
            timeout: self.cfg.request_timeout.get(),
        })
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// Sends one prepared batch per call; see the module documentation.
#[derive(Clone, Debug)]
pub struct EmbeddingsExecutor {
    http: reqwest::Client,
    url: reqwest::Url,
    /// Each body with the estimated tokens of its inputs.
    bodies: Arc<Vec<(Bytes, u64)>>,
    batch: usize,
    format: EncodingFormat,
    timeout: Duration,
}

impl EmbeddingsExecutor {
    /// Inputs per request.
    pub fn batch(&self) -> usize {
        self.batch
    }

    async fn send(&self, body: Bytes, estimated: u64) -> Outcome {
        let resp = post_json(&self.http, &self.url, body).await?;
        let bytes = resp.bytes().await;
        let end = Instant::now();
        let body = bytes.map_err(|e| Failure::new(classify_transport(&e, true), describe(&e)))?;
        let checked = check_response(&body, self.batch, self.format)?;
        let (input_tokens, token_source) = match checked.prompt_tokens {
            Some(n) => (n, TokenSource::Usage),
            None => (estimated, TokenSource::Counted),
        };
        Ok(Success {
            token_times: Vec::new(),
            first_content: None,
            end,
            input_tokens,
            output_tokens: 0,
            token_source,
        })
    }
}

impl Executor for EmbeddingsExecutor {
    async fn execute(&self, ctx: RequestContext) -> Outcome {
        let n = self.bodies.len().max(1) as u64;
        let Some((body, estimated)) = self.bodies.get((ctx.index % n) as usize) else {
            return Err(Failure::new(ErrorClass::Other("no_input"), "no inputs"));
        };
        match tokio::time::timeout(self.timeout, self.send(body.clone(), *estimated)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::new(
                ErrorClass::Timeout,
                format!("no complete response within {:?}", self.timeout),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(vectors: &[&[f64]], usage: Option<u64>) -> Vec<u8> {
        let data: Vec<Value> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
            .collect();
        let mut r = json!({"object": "list", "data": data, "model": "m"});
        if let Some(n) = usage {
            r["usage"] = json!({"prompt_tokens": n, "total_tokens": n});
        }
        serde_json::to_vec(&r).unwrap()
    }

    #[test]
    fn well_formed_float_and_base64_responses_pass() {
        let body = floats(&[&[0.1, 0.2, 0.3], &[1.0, 2.0, 3.0]], Some(7));
        let c = check_response(&body, 2, EncodingFormat::Float).unwrap();
        assert_eq!(
            c,
            Checked {
                dimension: 3,
                prompt_tokens: Some(7)
            }
        );
        let c = check_response(&floats(&[&[0.5]], None), 1, EncodingFormat::Float).unwrap();
        assert_eq!(c.prompt_tokens, None);
        let raw: Vec<u8> = [1.0f32, -2.0, 0.25, 4.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let body = serde_json::to_vec(&json!({"data": [{"embedding": b64}, {"embedding": b64}],
            "usage": {"prompt_tokens": 3}}))
        .unwrap();
        let c = check_response(&body, 2, EncodingFormat::Base64).unwrap();
        assert_eq!(c.dimension, 4);
        assert_eq!(c.prompt_tokens, Some(3));
        let (v, tokens) = vectors(&body, 2, EncodingFormat::Base64).unwrap();
        assert_eq!(v, vec![vec![1.0, -2.0, 0.25, 4.0]; 2]);
        assert_eq!(tokens, Some(3));
        let body = floats(&[&[0.5, 1.5], &[2.0, -1.0]], None);
        let (v, _) = vectors(&body, 2, EncodingFormat::Float).unwrap();
        assert_eq!(v, vec![vec![0.5, 1.5], vec![2.0, -1.0]]);
        assert!(vectors(&body, 3, EncodingFormat::Float).is_err());
    }

    #[test]
    fn malformed_responses_are_invalid_payload() {
        let fails = |body: &[u8], n: usize, f: EncodingFormat| {
            let e = check_response(body, n, f).unwrap_err();
            assert_eq!(e.class, ErrorClass::InvalidPayload, "{e:?}");
            e.message
        };
        // Fewer or more vectors than inputs.
        let m = fails(&floats(&[&[0.1, 0.2]], Some(1)), 2, EncodingFormat::Float);
        assert!(m.contains("1 vectors for 2 inputs"), "{m}");
        fails(
            &floats(&[&[0.1], &[0.2], &[0.3]], None),
            2,
            EncodingFormat::Float,
        );
        // Inconsistent dimension.
        let m = fails(
            &floats(&[&[0.1, 0.2], &[0.3]], None),
            2,
            EncodingFormat::Float,
        );
        assert!(m.contains("different dimensions: 2 and 1"), "{m}");
        // Empty vector, per-token vectors (llama-cpp-python without pooling),
        // strings where numbers belong, no data, not JSON.
        fails(&floats(&[&[]], None), 1, EncodingFormat::Float);
        let nested = br#"{"data":[{"embedding":[[0.1,0.2],[0.3,0.4]]}]}"#;
        let m = fails(nested, 1, EncodingFormat::Float);
        assert!(m.contains("one vector per token"), "{m}");
        fails(
            br#"{"data":[{"embedding":"AAAA"}]}"#,
            1,
            EncodingFormat::Float,
        );
        fails(br#"{"object":"list"}"#, 1, EncodingFormat::Float);
        fails(b"<html>", 1, EncodingFormat::Float);
        // Base64 that is not base64, or not whole floats, or floats given.
        fails(
            br#"{"data":[{"embedding":"!!"}]}"#,
            1,
            EncodingFormat::Base64,
        );
        fails(
            br#"{"data":[{"embedding":"AAAAAAA="}]}"#,
            1,
            EncodingFormat::Base64,
        );
        fails(&floats(&[&[0.1]], None), 1, EncodingFormat::Base64);
    }

    #[test]
    fn inputs_are_seeded_and_batches_cycle() {
        let cfg = EmbeddingsWorkload {
            num_inputs: 6,
            input_tokens: Some(crate::api::workload::LengthDist {
                kind: crate::api::workload::LengthDistType::Uniform,
                min: Some(2),
                max: Some(5),
                ..Default::default()
            }),
            model: Some("m".into()),
            ..EmbeddingsWorkload::default()
        };
        let a = build_inputs(&cfg, 3).unwrap();
        assert_eq!(a, build_inputs(&cfg, 3).unwrap());
        assert_eq!(a.texts.len(), 6);
        for (t, n) in a.texts.iter().zip(&a.tokens) {
            assert_eq!(t.split_whitespace().count(), *n as usize);
            assert!((2..=5).contains(n));
        }
        let client = EmbeddingsClient::new("http://127.0.0.1:9/v1", &cfg, 1).unwrap();
        let ex = client.executor("m", &a, 4).unwrap();
        // Starts 0, 4, 2 (mod 6), then again: three distinct bodies.
        assert_eq!(ex.bodies.len(), 3);
        assert_eq!(ex.batch(), 4);
        let body: Value = serde_json::from_slice(&ex.bodies[1].0).unwrap();
        assert_eq!(body["input"][0], a.texts[4].as_str());
        assert_eq!(body["input"][2], a.texts[0].as_str());
        assert_eq!(body["encoding_format"], "float");
        let want: u64 = [4, 5, 0, 1].iter().map(|&i| u64::from(a.tokens[i])).sum();
        assert_eq!(ex.bodies[1].1, want);
    }

    #[test]
    fn api_key_never_shows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-embed-secret\n").unwrap();
        let cfg = EmbeddingsWorkload {
            api_key_file: Some(path.to_string_lossy().into_owned()),
            ..EmbeddingsWorkload::default()
        };
        let client = EmbeddingsClient::new("http://127.0.0.1:9", &cfg, 1).unwrap();
        assert!(!format!("{client:?}").contains("sk-embed-secret"));
        assert!(EmbeddingsClient::new("ftp://x", &cfg, 1).is_err());
    }
}
