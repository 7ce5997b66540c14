//! Prompt token counts from the served model's own tokenizer
//! (`dataset.tokenizer: server`).
//!
//! Before the load, [`ServerTokenizer::probe`] finds the server's tokenize
//! endpoint (vLLM's and llama.cpp's `POST /tokenize`, llama-cpp-python's
//! `POST /extras/tokenize`) and [`count_entries`] counts every text prompt
//! of the dataset with it; a synthetic prompt is first grown or trimmed a
//! word at a time ([`fit`]) until it counts exactly the length drawn for it.
//! During the load, [`PromptCheck`] compares each answer's
//! `usage.prompt_tokens` with the count of the prompt it was sent, and the
//! result carries the comparison ([`PromptTokens`]). With the default
//! `tokenizer: words` the same check runs on the estimates
//! ([`estimate_entries`]), so every dataset run says how far they were off.
//!
//! The counts are of the prompt text alone: a chat endpoint adds its chat
//! template's tokens, which show as `usageMinusCounted` (docs/metrics.md).

use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use rand::SeedableRng as _;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::WorkloadError;
use super::openai_http::{describe, post_json};
use super::prompt::{Entry, Prompt, random_word};

/// Tokenize requests in flight while a dataset is counted.
const COUNT_CONCURRENCY: usize = 8;

/// Rounds of grow-or-trim before a synthetic prompt is left at its closest.
const MAX_FIT_ROUNDS: usize = 6;

/// A tokenize endpoint a server may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /tokenize`: vLLM (`{"model", "prompt"}` → `{"count", "tokens"}`)
    /// and llama.cpp's server (`{"content", "add_special"}` → `{"tokens"}`);
    /// one body carries both sets of fields, each server ignores the other's.
    Tokenize,
    /// `POST /extras/tokenize` of llama-cpp-python (`{"input", "model"}` →
    /// `{"tokens"}`).
    ExtrasTokenize,
}

impl Endpoint {
    /// Tried in this order.
    const ALL: [Self; 2] = [Self::Tokenize, Self::ExtrasTokenize];

    fn path(self) -> &'static str {
        match self {
            Self::Tokenize => "/tokenize",
            Self::ExtrasTokenize => "/extras/tokenize",
        }
    }

    /// The request body counting `text` for `model`, special tokens (such as
    /// a BOS token) included, as the server counts a completion's prompt.
    pub fn body(self, model: &str, text: &str) -> Value {
        match self {
            Self::Tokenize => json!({
                "model": model,
                "prompt": text,
                "add_special_tokens": true,
                "content": text,
                "add_special": true,
            }),
            Self::ExtrasTokenize => json!({"model": model, "input": text}),
        }
    }

    /// What the results name as the count's source.
    pub fn source(self) -> &'static str {
        match self {
            Self::Tokenize => "server POST /tokenize",
            Self::ExtrasTokenize => "server POST /extras/tokenize",
        }
    }
}

/// The token count in a tokenize answer: its `count` (vLLM), else the length
/// of its `tokens` array; `None` for any other shape.
pub fn parse_count(body: &[u8]) -> Option<u32> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if let Some(n) = v.get("count").and_then(Value::as_u64) {
        return u32::try_from(n).ok();
    }
    let tokens = v.get("tokens")?.as_array()?;
    u32::try_from(tokens.len()).ok()
}

/// The next word count for a prompt of `words` words that counted `counted`
/// tokens, aiming at `target` (each common word is about one token); `None`
/// when it is there, or when it cannot move (one word, still too long).
pub fn next_words(words: usize, counted: u32, target: u32) -> Option<usize> {
    let next = if counted > target {
        words.saturating_sub((counted - target) as usize).max(1)
    } else {
        words + (target - counted) as usize
    };
    (next != words).then_some(next)
}

/// Grows or trims `text` (words separated by single spaces) a word at a
/// time, new words drawn from `rng`, until `count` says it has `target`
/// tokens; after [`MAX_FIT_ROUNDS`] rounds, the closest text tried. Returns
/// the text and its count.
pub async fn fit<F, Fut>(
    text: &str,
    target: u32,
    rng: &mut SmallRng,
    mut count: F,
) -> Result<(String, u32), WorkloadError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<u32, WorkloadError>>,
{
    let mut words: Vec<&str> = text.split(' ').collect();
    let mut best: Option<(String, u32)> = None;
    for _ in 0..MAX_FIT_ROUNDS {
        let candidate = words.join(" ");
        let counted = count(candidate.clone()).await?;
        let closer = best
            .as_ref()
            .is_none_or(|(_, b)| counted.abs_diff(target) < b.abs_diff(target));
        if closer {
            best = Some((candidate, counted));
        }
        let Some(next) = next_words(words.len(), counted, target) else {
            break;
        };
        if next < words.len() {
            words.truncate(next);
        } else {
            while words.len() < next {
                words.push(random_word(rng));
            }
        }
    }
    best.ok_or_else(|| WorkloadError::InvalidConfig("dataset.tokenizer: nothing to fit".into()))
}

/// A server's tokenize endpoint, found by [`ServerTokenizer::probe`].
#[derive(Clone, Debug)]
pub struct ServerTokenizer {
    http: reqwest::Client,
    url: reqwest::Url,
    endpoint: Endpoint,
    model: String,
    timeout: Duration,
}

impl ServerTokenizer {
    /// The first endpoint of [`Endpoint::ALL`] under `root` that counts a
    /// probe text for `model`; an error naming every one tried otherwise.
    pub async fn probe(
        http: &reqwest::Client,
        root: &str,
        model: &str,
        timeout: Duration,
    ) -> Result<Self, WorkloadError> {
        let mut tried = Vec::new();
        for endpoint in Endpoint::ALL {
            let url = reqwest::Url::parse(&format!("{root}{}", endpoint.path())).map_err(|e| {
                WorkloadError::InvalidConfig(format!("baseUrl gives an invalid URL: {e}"))
            })?;
            let t = Self {
                http: http.clone(),
                url,
                endpoint,
                model: model.to_string(),
                timeout,
            };
            match t.count("Hello world").await {
                Ok(_) => {
                    tracing::info!(
                        endpoint = endpoint.path(),
                        "prompt tokens counted by the server"
                    );
                    return Ok(t);
                }
                Err(e) => tried.push(format!("POST {}: {e}", endpoint.path())),
            }
        }
        Err(WorkloadError::InvalidConfig(format!(
            "dataset.tokenizer: server: {root} has no tokenize endpoint aifbench knows ({}); set tokenizer: words",
            tried.join("; ")
        )))
    }

    /// Where the counts come from, for the results.
    pub fn source(&self) -> &'static str {
        self.endpoint.source()
    }

    /// Tokens of `text` by the server's tokenizer.
    pub async fn count(&self, text: &str) -> Result<u32, WorkloadError> {
        let body = serde_json::to_vec(&self.endpoint.body(&self.model, text))?;
        let ask = async {
            let resp = post_json(&self.http, &self.url, Bytes::from(body))
                .await
                .map_err(|f| f.message)?;
            let bytes = resp.bytes().await.map_err(|e| describe(&e))?;
            parse_count(&bytes).ok_or_else(|| {
                format!(
                    "answer is not a token list: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                )
            })
        };
        match tokio::time::timeout(self.timeout, ask).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(reason)) => Err(WorkloadError::InvalidConfig(reason)),
            Err(_) => Err(WorkloadError::InvalidConfig(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        }
    }
}

/// Counts every text prompt of `entries` with `tokenizer`; with `fit`
/// (synthetic datasets) each is first fitted to its own word count, the
/// length drawn for it. Returns the counts by entry (`None` for chat
/// message lists, which are not counted) and how many prompts missed their
/// length.
pub async fn count_entries(
    tokenizer: &ServerTokenizer,
    entries: &mut [Entry],
    fit_lengths: bool,
    seed: u64,
) -> Result<(Vec<Option<u32>>, usize), WorkloadError> {
    let texts: Vec<Option<String>> = entries
        .iter()
        .map(|e| match &e.prompt {
            Prompt::Text(t) => Some(t.clone()),
            Prompt::Messages(_) => None,
        })
        .collect();
    let jobs = texts.into_iter().enumerate().map(|(i, text)| async move {
        let Some(text) = text else {
            return Ok::<_, WorkloadError>(None);
        };
        if !fit_lengths {
            let n = tokenizer.count(&text).await?;
            return Ok(Some((None, n, true)));
        }
        let target = u32::try_from(text.split(' ').count()).unwrap_or(u32::MAX);
        let mut rng =
            SmallRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (fitted, n) = fit(&text, target, &mut rng, |t| async move {
            tokenizer.count(&t).await
        })
        .await?;
        Ok(Some((Some(fitted), n, n == target)))
    });
    let counted: Vec<_> = futures::stream::iter(jobs)
        .buffered(COUNT_CONCURRENCY)
        .collect()
        .await;
    let mut counts = Vec::with_capacity(entries.len());
    let mut missed = 0;
    for (entry, c) in entries.iter_mut().zip(counted) {
        match c? {
            None => counts.push(None),
            Some((fitted, n, on_target)) => {
                if let Some(text) = fitted {
                    entry.prompt = Prompt::Text(text);
                }
                if !on_target {
                    missed += 1;
                }
                counts.push(Some(n));
            }
        }
    }
    Ok((counts, missed))
}

/// What the results name as the source of estimated counts.
pub const ESTIMATE_SOURCE: &str = "words (estimate)";

/// The tokenizer-free counts of `entries` (`dataset.tokenizer: words`): the
/// word count of a synthetic prompt, else one token per four characters
/// ([`super::prompt::estimate_tokens`]); `None` for chat message lists.
pub fn estimate_entries(entries: &[Entry], synthetic: bool) -> Vec<Option<u32>> {
    entries
        .iter()
        .map(|e| match &e.prompt {
            Prompt::Text(t) if synthetic => {
                Some(u32::try_from(t.split(' ').count()).unwrap_or(u32::MAX))
            }
            Prompt::Text(t) => Some(super::prompt::estimate_tokens(t)),
            Prompt::Messages(_) => None,
        })
        .collect()
}

/// How the prompts' counted tokens compare with what the server reported
/// using (`promptTokens` of a client result and of the summary).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PromptTokens {
    /// Where the counts come from, e.g. `server POST /tokenize`.
    pub source: String,
    /// Measured answers whose `usage.prompt_tokens` was compared.
    pub checked: u64,
    /// Of those, answers whose usage differs from the count.
    pub mismatched: u64,
    /// Sum over the checked answers of usage minus count (a chat template's
    /// tokens show here; divide by `checked` for the mean).
    pub usage_minus_counted: i64,
}

impl PromptTokens {
    /// Adds `other`'s counts; sources that differ become `mixed`.
    pub fn add(&mut self, other: &Self) {
        if self.source.is_empty() {
            self.source.clone_from(&other.source);
        } else if self.source != other.source {
            self.source = "mixed".to_string();
        }
        self.checked += other.checked;
        self.mismatched += other.mismatched;
        self.usage_minus_counted += other.usage_minus_counted;
    }
}

/// The comparison of counted and used prompt tokens while the load runs:
/// one count per prepared request, cycled as the bodies are.
#[derive(Debug)]
pub struct PromptCheck {
    source: &'static str,
    counts: Vec<Option<u32>>,
    checked: AtomicU64,
    mismatched: AtomicU64,
    difference: AtomicI64,
}

impl PromptCheck {
    /// A check of the answers to requests prepared with `counts`.
    pub fn new(source: &'static str, counts: Vec<Option<u32>>) -> Self {
        Self {
            source,
            counts,
            checked: AtomicU64::new(0),
            mismatched: AtomicU64::new(0),
            difference: AtomicI64::new(0),
        }
    }

    /// Compares the answer to request `index`, whose usage reported
    /// `used` prompt tokens (0: not reported, not compared).
    pub fn record(&self, index: u64, used: u64) {
        if used == 0 || self.counts.is_empty() {
            return;
        }
        let at = (index % self.counts.len() as u64) as usize;
        let Some(Some(counted)) = self.counts.get(at) else {
            return;
        };
        let diff = i64::try_from(used).unwrap_or(i64::MAX) - i64::from(*counted);
        self.checked.fetch_add(1, Ordering::Relaxed);
        if diff != 0 {
            self.mismatched.fetch_add(1, Ordering::Relaxed);
        }
        self.difference.fetch_add(diff, Ordering::Relaxed);
    }

    /// The comparison so far.
    pub fn result(&self) -> PromptTokens {
        PromptTokens {
            source: self.source.to_string(),
            checked: self.checked.load(Ordering::Relaxed),
            mismatched: self.mismatched.load(Ordering::Relaxed),
            usage_minus_counted: self.difference.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_read_from_vllm_llama_cpp_and_llama_cpp_python_answers() {
        assert_eq!(
            parse_count(br#"{"count":5,"max_model_len":4096,"tokens":[1,2,3,4,5]}"#),
            Some(5)
        );
        assert_eq!(parse_count(br#"{"tokens":[1195,282,284]}"#), Some(3));
        assert_eq!(parse_count(br#"{"tokens":[]}"#), Some(0));
        assert_eq!(parse_count(br#"{"detail":"Not Found"}"#), None);
        assert_eq!(parse_count(b"not json"), None);
    }

    #[test]
    fn one_body_speaks_to_vllm_and_llama_cpp() {
        let b = Endpoint::Tokenize.body("m", "hi there");
        assert_eq!(b["prompt"], "hi there");
        assert_eq!(b["content"], "hi there");
        assert_eq!(b["add_special"], true);
        assert_eq!(b["model"], "m");
        let b = Endpoint::ExtrasTokenize.body("m", "hi");
        assert_eq!(b["input"], "hi");
    }

    #[test]
    fn next_words_moves_toward_the_target() {
        assert_eq!(next_words(10, 11, 10), Some(9));
        assert_eq!(next_words(10, 8, 10), Some(12));
        assert_eq!(next_words(10, 10, 10), None);
        assert_eq!(next_words(1, 3, 1), None);
        assert_eq!(next_words(3, 40, 2), Some(1));
    }

    /// A tokenizer that adds a BOS token and splits one word in two.
    async fn bos_and_a_long_word(text: String) -> Result<u32, WorkloadError> {
        let words = text.split(' ').count() as u32;
        let long = text
            .split(' ')
            .filter(|w| *w == "antidisestablishment")
            .count() as u32;
        Ok(1 + words + long)
    }

    #[tokio::test]
    async fn fit_reaches_the_target_count_exactly() {
        let mut rng = SmallRng::seed_from_u64(7);
        let text = "the of and to in is you that it he";
        let (fitted, n) = fit(text, 10, &mut rng, bos_and_a_long_word).await.unwrap();
        assert_eq!(n, 10);
        assert_eq!(fitted.split(' ').count(), 9, "{fitted}");
        let text = "antidisestablishment of and";
        let (fitted, n) = fit(text, 12, &mut rng, bos_and_a_long_word).await.unwrap();
        assert_eq!(n, 12);
        assert_eq!(fitted.split(' ').count(), 10, "{fitted}");
        assert!(fitted.starts_with("antidisestablishment of and "));
    }

    #[tokio::test]
    async fn fit_keeps_the_closest_when_the_target_is_out_of_reach() {
        let mut rng = SmallRng::seed_from_u64(7);
        // One word already counts two tokens: a target of 1 is unreachable.
        let (fitted, n) = fit("the of", 1, &mut rng, bos_and_a_long_word)
            .await
            .unwrap();
        assert_eq!((fitted.as_str(), n), ("the", 2));
    }

    #[test]
    fn estimates_count_words_of_synthetic_prompts_and_characters_of_others() {
        let e = |t: &str| Entry {
            prompt: Prompt::Text(t.to_string()),
            max_tokens: None,
        };
        let entries = [e("the of and"), e("abcdefghi")];
        assert_eq!(estimate_entries(&entries, true), [Some(3), Some(1)]);
        assert_eq!(estimate_entries(&entries, false), [Some(3), Some(3)]);
    }

    #[test]
    fn the_check_compares_usage_with_the_count_of_each_request() {
        let check = PromptCheck::new("server POST /tokenize", vec![Some(10), None, Some(7)]);
        check.record(0, 10);
        check.record(1, 99); // not counted (a message list)
        check.record(2, 9);
        check.record(3, 10); // cycles back to the first prompt
        check.record(5, 0); // usage not reported
        let r = check.result();
        assert_eq!((r.checked, r.mismatched, r.usage_minus_counted), (3, 1, 2));
        let mut total = PromptTokens::default();
        total.add(&r);
        total.add(&r);
        assert_eq!(
            (total.checked, total.source.as_str()),
            (6, "server POST /tokenize")
        );
        total.add(&PromptTokens {
            source: "other".into(),
            ..PromptTokens::default()
        });
        assert_eq!(total.source, "mixed");
    }
}
