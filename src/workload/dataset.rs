//! Request data for the OpenAI workload: synthetic prompts of chosen
//! lengths, a JSON Lines prompts file, or a ShareGPT conversation file (the
//! shared-prefix groups are built in [`super::dataset_shared_prefix`]).
//!
//! Everything here is pure except reading the file; the same seed gives the
//! same prompts, lengths and order.
//!
//! Token counts without a tokenizer: synthetic prompts are made of common
//! short English words, which the usual LLM tokenizers (Llama, GPT, Qwen,
//! SmolLM) encode as one token each, preceded by a space; the server's
//! `usage.prompt_tokens` in the results tells the exact count. ShareGPT
//! reply lengths are estimated as one token per four characters (at least 1).

use std::path::Path;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use rand_distr::{Distribution as _, Normal};
use serde::Deserialize;
use serde_json::Value;

use super::WorkloadError;
use crate::api::workload::{Dataset, DatasetType, LengthDist, LengthDistType};

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
        text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    text
}

/// Estimated tokens of a text: one per four characters, at least 1.
pub fn estimate_tokens(text: &str) -> u32 {
    let chars = text.chars().count();
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX).max(1)
}

/// Parses a JSON Lines prompts file: each non-empty line an object with
/// `prompt` (string) or `messages` (array), and optionally `max_tokens` (or
/// `output_len`).
pub fn parse_jsonl(text: &str, limit: usize) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if out.len() >= limit {
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let prompt = match (v.get("prompt"), v.get("messages")) {
            (Some(Value::String(p)), _) => Prompt::Text(p.clone()),
            (_, Some(m @ Value::Array(_))) => Prompt::Messages(m.clone()),
            _ => {
                return Err(format!(
                    "line {}: needs \"prompt\" (a string) or \"messages\" (an array)",
                    i + 1
                ));
            }
        };
        let max_tokens = v
            .get("max_tokens")
            .or_else(|| v.get("output_len"))
            .and_then(Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX).max(1));
        out.push(Entry { prompt, max_tokens });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Conversation {
    #[serde(default)]
    conversations: Vec<Turn>,
}

#[derive(Deserialize)]
struct Turn {
    #[serde(default)]
    from: String,
    #[serde(default)]
    value: String,
}

/// Parses a ShareGPT file: the first human turn of each conversation with a
/// reply is a prompt; the reply's estimated length is its output length.
pub fn parse_sharegpt(text: &str, limit: usize) -> Result<Vec<Entry>, String> {
    let conversations: Vec<Conversation> =
        serde_json::from_str(text).map_err(|e| format!("not a ShareGPT JSON array: {e}"))?;
    Ok(conversations
        .into_iter()
        .filter_map(|c| {
            let mut turns = c.conversations.into_iter();
            let first = turns.next()?;
            let reply = turns.next()?;
            let human = matches!(first.from.as_str(), "human" | "user");
            (human && !first.value.trim().is_empty()).then(|| Entry {
                max_tokens: Some(estimate_tokens(&reply.value)),
                prompt: Prompt::Text(first.value),
            })
        })
        .take(limit)
        .collect())
}

/// The entries of `dataset` (or of the single configured prompt when
/// `dataset` is absent), in a seeded random order, with output lengths
/// resolved (`default_max_tokens` when neither the file nor the dataset
/// sets one).
pub fn build(
    dataset: Option<&Dataset>,
    prompt: &str,
    default_max_tokens: u32,
    seed: u64,
) -> Result<Vec<Entry>, WorkloadError> {
    let invalid = |m: String| WorkloadError::InvalidConfig(format!("openai.dataset: {m}"));
    let Some(d) = dataset else {
        return Ok(vec![Entry {
            prompt: Prompt::Text(prompt.to_string()),
            max_tokens: Some(default_max_tokens),
        }]);
    };
    let n = d.num_prompts.max(1) as usize;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut entries = match d.kind {
        DatasetType::Synthetic => {
            let input = d.input_tokens.clone().unwrap_or(LengthDist {
                kind: LengthDistType::Fixed,
                value: Some(DEFAULT_INPUT_TOKENS),
                ..LengthDist::default()
            });
            (0..n)
                .map(|_| {
                    let len = sample_len(&input, &mut rng)
                        .map_err(|e| invalid(format!("inputTokens: {e}")))?;
                    Ok(Entry {
                        prompt: Prompt::Text(synthetic_prompt(len, &mut rng)),
                        max_tokens: None,
                    })
                })
                .collect::<Result<Vec<_>, WorkloadError>>()?
        }
        DatasetType::Jsonl | DatasetType::Sharegpt => {
            let path = d
                .path
                .as_deref()
                .ok_or_else(|| invalid(format!("type {:?} needs path", d.kind).to_lowercase()))?;
            let text = std::fs::read_to_string(Path::new(path))
                .map_err(|e| invalid(format!("cannot read {path}: {e}")))?;
            let parsed = if d.kind == DatasetType::Jsonl {
                parse_jsonl(&text, n)
            } else {
                parse_sharegpt(&text, n)
            };
            let entries = parsed.map_err(|e| invalid(format!("{path}: {e}")))?;
            if entries.is_empty() {
                return Err(invalid(format!("{path} holds no usable prompt")));
            }
            entries
        }
        // Text prompts here; the executor builds the grouped form itself
        // (a system message for chat, the group of each prompt).
        DatasetType::SharedPrefix => {
            return Ok(super::dataset_shared_prefix::build(
                d,
                crate::api::workload::OpenAiApi::Completions,
                default_max_tokens,
                seed,
            )?
            .entries);
        }
    };
    for e in &mut entries {
        if let Some(out) = &d.output_tokens {
            e.max_tokens =
                Some(sample_len(out, &mut rng).map_err(|m| invalid(format!("outputTokens: {m}")))?);
        } else if e.max_tokens.is_none() {
            e.max_tokens = Some(default_max_tokens);
        }
    }
    entries.shuffle(&mut rng);
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(v: u32) -> LengthDist {
        LengthDist {
            kind: LengthDistType::Fixed,
            value: Some(v),
            ..LengthDist::default()
        }
    }

    #[test]
    fn lengths_follow_their_distribution() {
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(sample_len(&fixed(7), &mut rng), Ok(7));
        let uniform = LengthDist {
            kind: LengthDistType::Uniform,
            min: Some(10),
            max: Some(20),
            ..LengthDist::default()
        };
        let xs: Vec<u32> = (0..2000)
            .map(|_| sample_len(&uniform, &mut rng).unwrap())
            .collect();
        assert!(xs.iter().all(|x| (10..=20).contains(x)));
        assert!(xs.contains(&10) && xs.contains(&20));
        let normal = LengthDist {
            kind: LengthDistType::Normal,
            mean: Some(100.0),
            std: Some(10.0),
            ..LengthDist::default()
        };
        let xs: Vec<f64> = (0..5000)
            .map(|_| f64::from(sample_len(&normal, &mut rng).unwrap()))
            .collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 100.0).abs() < 1.0, "{mean}");
        let bad = LengthDist {
            kind: LengthDistType::Uniform,
            min: Some(5),
            max: Some(1),
            ..LengthDist::default()
        };
        assert!(
            sample_len(&bad, &mut rng)
                .unwrap_err()
                .contains("above max")
        );
        assert!(sample_len(&LengthDist::default(), &mut rng).is_err());
    }

    #[test]
    fn synthetic_prompts_have_the_asked_word_count_and_are_seeded() {
        let d = Dataset {
            input_tokens: Some(fixed(50)),
            output_tokens: Some(fixed(9)),
            num_prompts: 20,
            ..Dataset::default()
        };
        let a = build(Some(&d), "", 64, 3).unwrap();
        let b = build(Some(&d), "", 64, 3).unwrap();
        let c = build(Some(&d), "", 64, 4).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 20);
        for e in &a {
            let Prompt::Text(t) = &e.prompt else {
                panic!("text expected")
            };
            assert_eq!(t.split(' ').count(), 50);
            assert_eq!(e.max_tokens, Some(9));
        }
    }

    #[test]
    fn no_dataset_is_the_single_prompt() {
        let e = build(None, "hello", 12, 0).unwrap();
        assert_eq!(
            e,
            vec![Entry {
                prompt: Prompt::Text("hello".into()),
                max_tokens: Some(12)
            }]
        );
    }

    #[test]
    fn jsonl_prompts_and_messages() {
        let text = "{\"prompt\": \"a\", \"max_tokens\": 5}\n\n{\"messages\": [{\"role\": \"user\", \"content\": \"b\"}]}\n";
        let e = parse_jsonl(text, 10).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].prompt, Prompt::Text("a".into()));
        assert_eq!(e[0].max_tokens, Some(5));
        assert!(matches!(e[1].prompt, Prompt::Messages(_)));
        assert_eq!(parse_jsonl(text, 1).unwrap().len(), 1);
        let err = parse_jsonl("{\"text\": 1}\n", 10).unwrap_err();
        assert!(err.contains("line 1") && err.contains("prompt"), "{err}");
        assert!(parse_jsonl("{oops", 10).unwrap_err().contains("line 1"));
    }

    #[test]
    fn sharegpt_first_human_turn_and_reply_length() {
        let text = r#"[
          {"conversations": [{"from": "human", "value": "Why is the sky blue?"},
                             {"from": "gpt", "value": "Rayleigh scattering of sunlight."}]},
          {"conversations": [{"from": "human", "value": "lonely"}]},
          {"conversations": [{"from": "gpt", "value": "starts with the model"},
                             {"from": "human", "value": "x"}]}
        ]"#;
        let e = parse_sharegpt(text, 10).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].prompt, Prompt::Text("Why is the sky blue?".into()));
        assert_eq!(e[0].max_tokens, Some(8)); // 32 chars / 4
        assert!(parse_sharegpt("{}", 10).is_err());
    }

    #[test]
    fn file_datasets_report_missing_files_and_paths() {
        let d = Dataset {
            kind: DatasetType::Jsonl,
            ..Dataset::default()
        };
        let err = build(Some(&d), "", 1, 0).unwrap_err().to_string();
        assert!(err.contains("needs path"), "{err}");
        let d = Dataset {
            kind: DatasetType::Sharegpt,
            path: Some("/nonexistent/sharegpt.json".into()),
            ..Dataset::default()
        };
        let err = build(Some(&d), "", 1, 0).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/sharegpt.json"), "{err}");
    }
}
