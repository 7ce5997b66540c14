//! The pieces every dataset builder shares: a prepared request ([`Entry`],
//! [`Prompt`]), output/input lengths drawn from a distribution
//! ([`sample_len`]), synthetic prompts of common words
//! ([`synthetic_prompt`]) and a tokenizer-free token estimate
//! ([`estimate_tokens`]). A leaf: the builders ([`super::dataset`],
//! [`super::dataset_shared_prefix`], [`super::dataset_conversation`]) use
//! it, it uses none of them.
//!
//! Token counts without a tokenizer: synthetic prompts are made of common
//! short English words, which the usual LLM tokenizers (Llama, GPT, Qwen,
//! SmolLM) encode as one token each, preceded by a space; the server's
//! `usage.prompt_tokens` in the results tells the exact count. Other text is
//! estimated as one token per four characters (at least 1).

use rand::Rng as _;
use rand::rngs::SmallRng;
use rand_distr::{Distribution as _, Normal};
use serde_json::Value;

use crate::api::workload::{LengthDist, LengthDistType};

/// Synthetic prompts are this long unless configured.
pub const DEFAULT_INPUT_TOKENS: u32 = 128;

/// Common English words that are one token each in the usual tokenizers.
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are",
    "as", "with", "his", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by",
    "word", "but", "not", "what", "all", "were", "we", "when", "your", "can", "said", "there",
    "use", "an", "each", "which", "she", "do", "how", "their", "if", "will", "up", "other",
    "about", "out", "many", "then", "them", "these", "so", "some", "her", "would", "make", "like",
    "him", "into", "time", "has", "look", "two", "more", "write", "go", "see", "number", "no",
    "way", "could", "people", "my", "than", "first", "water", "been", "call", "who", "its", "now",
    "find", "long", "down", "day", "did", "get", "come", "made", "may", "part",
];

/// A prompt: plain text (completions, or one user message for chat) or a
/// whole chat message list from a file.
#[derive(Clone, Debug, PartialEq)]
pub enum Prompt {
    /// Plain text.
    Text(String),
    /// Chat messages as given in the file (sent as-is to chat endpoints).
    Messages(Value),
}

/// One prepared request: its prompt and the output length to ask for.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// What to send.
    pub prompt: Prompt,
    /// `max_tokens`, when the dataset fixes it.
    pub max_tokens: Option<u32>,
}

/// Draws one length from `dist`; at least 1.
pub fn sample_len(dist: &LengthDist, rng: &mut SmallRng) -> Result<u32, String> {
    let n = match dist.kind {
        LengthDistType::Fixed => dist.value.ok_or("type fixed needs value")?,
        LengthDistType::Uniform => {
            let (lo, hi) = match (dist.min, dist.max) {
                (Some(lo), Some(hi)) if lo <= hi => (lo, hi),
                (Some(lo), Some(hi)) => return Err(format!("min {lo} is above max {hi}")),
                _ => return Err("type uniform needs min and max".to_string()),
            };
            rng.random_range(lo..=hi)
        }
        LengthDistType::Normal => {
            let (mean, std) = match (dist.mean, dist.std) {
                (Some(m), Some(s)) => (m, s),
                _ => return Err("type normal needs mean and std".to_string()),
            };
            let normal = Normal::new(mean, std).map_err(|e| format!("invalid normal: {e}"))?;
            let v = normal.sample(rng).round();
            if v.is_finite() && v >= 1.0 {
                v.min(f64::from(u32::MAX)) as u32
            } else {
                1
            }
        }
    };
    Ok(n.max(1))
}

/// A prompt of about `tokens` tokens made of random common words.
pub fn synthetic_prompt(tokens: u32, rng: &mut SmallRng) -> String {
    let mut text = String::with_capacity(tokens as usize * 5);
    for i in 0..tokens {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(random_word(rng));
    }
    text
}

/// One of the common words synthetic prompts are made of.
pub fn random_word(rng: &mut SmallRng) -> &'static str {
    WORDS[rng.random_range(0..WORDS.len())]
}

/// Estimated tokens of a text: one per four characters, at least 1.
pub fn estimate_tokens(text: &str) -> u32 {
    let chars = text.chars().count();
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX).max(1)
}
