//! Request data for the OpenAI workload: synthetic prompts of chosen
//! lengths, a JSON Lines prompts file, or a ShareGPT conversation file (the
//! shared-prefix groups are built in [`super::dataset_shared_prefix`]).
//!
//! Everything here is pure except reading the file; the same seed gives the
//! same prompts, lengths and order.
//!
//! The shared pieces (entries, length draws, synthetic prompts, the token
//! estimate) live in the leaf [`super::prompt`] and are re-exported here.

use std::path::Path;

use rand::SeedableRng as _;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom as _;
use serde::Deserialize;
use serde_json::Value;

use super::WorkloadError;
use crate::api::workload::{Dataset, DatasetType, LengthDist, LengthDistType};

pub use super::prompt::{
    DEFAULT_INPUT_TOKENS, Entry, Prompt, estimate_tokens, sample_len, synthetic_prompt,
};

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
