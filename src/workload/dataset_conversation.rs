//! The scripts of multi-turn conversations (`workload.openai.conversation`):
//! what the user says at each turn and how long an answer to ask for.
//! Synthetic conversations (`turns` messages of `userTokens` words), or
//! every human turn of a ShareGPT file (vLLM's loader keeps only the first).
//! Pure except reading the file; the same seed gives the same scripts and
//! order. The answers are the server's own, added while the run goes
//! ([`super::openai_conversation`]).

use std::path::Path;

use rand::SeedableRng as _;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom as _;
use serde::Deserialize;

use super::WorkloadError;
use super::prompt::{estimate_tokens, sample_len, synthetic_prompt};
use crate::api::workload::{ConversationSpec, DEFAULT_NUM_PROMPTS, Dataset, DatasetType};

/// One user turn: the message and the `max_tokens` of its answer.
#[derive(Clone, Debug, PartialEq)]
pub struct UserTurn {
    /// The user's message.
    pub text: String,
    /// `max_tokens` of the answer.
    pub max_tokens: u32,
}

/// The user side of one conversation, turn by turn.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// The user's turns in order; never empty.
    pub turns: Vec<UserTurn>,
}

#[derive(Deserialize)]
struct Conversation {
    #[serde(default)]
    conversations: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    from: String,
    #[serde(default)]
    value: String,
}

fn is_human(from: &str) -> bool {
    matches!(from, "human" | "user")
}

/// Parses a ShareGPT file into scripts: every human turn of a conversation
/// that starts with one, each asking for the estimated length of the reply
/// that followed it (`default_max_tokens` after the last human turn without
/// a reply); at most `max_turns` turns and `limit` conversations.
pub fn parse_sharegpt(
    text: &str,
    limit: usize,
    max_turns: Option<u32>,
    default_max_tokens: u32,
) -> Result<Vec<Script>, String> {
    let conversations: Vec<Conversation> =
        serde_json::from_str(text).map_err(|e| format!("not a ShareGPT JSON array: {e}"))?;
    let cap = max_turns.map_or(usize::MAX, |n| n as usize);
    Ok(conversations
        .into_iter()
        .filter_map(|c| {
            let msgs = c.conversations;
            if !msgs.first().is_some_and(|m| is_human(&m.from)) {
                return None;
            }
            let mut turns = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                if !is_human(&m.from) || m.value.trim().is_empty() {
                    continue;
                }
                let reply = msgs.get(i + 1).filter(|r| !is_human(&r.from));
                turns.push(UserTurn {
                    text: m.value.clone(),
                    max_tokens: reply.map_or(default_max_tokens, |r| estimate_tokens(&r.value)),
                });
                if turns.len() >= cap {
                    break;
                }
            }
            (!turns.is_empty()).then_some(Script { turns })
        })
        .take(limit)
        .collect())
}

/// The conversation scripts of `spec` with `dataset` (absent or synthetic:
/// synthetic conversations, `numPrompts` of them; sharegpt: the file's), in
/// a seeded random order. Answers ask for `outputTokens` when the dataset
/// sets it, else `default_max_tokens` (ShareGPT: the reply's length).
pub fn build(
    spec: &ConversationSpec,
    dataset: Option<&Dataset>,
    default_max_tokens: u32,
    seed: u64,
) -> Result<Vec<Script>, WorkloadError> {
    let invalid = |m: String| WorkloadError::InvalidConfig(format!("openai.conversation: {m}"));
    let n = dataset
        .map_or(DEFAULT_NUM_PROMPTS, |d| d.num_prompts)
        .max(1) as usize;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut scripts = match dataset.map(|d| d.kind) {
        None | Some(DatasetType::Synthetic) => {
            let turns = spec.synthetic_turns();
            let user = spec.user_tokens();
            (0..n)
                .map(|_| {
                    let turns = (0..turns)
                        .map(|_| {
                            let len = sample_len(&user, &mut rng)
                                .map_err(|e| invalid(format!("userTokens: {e}")))?;
                            Ok(UserTurn {
                                text: synthetic_prompt(len, &mut rng),
                                max_tokens: default_max_tokens,
                            })
                        })
                        .collect::<Result<Vec<_>, WorkloadError>>()?;
                    Ok(Script { turns })
                })
                .collect::<Result<Vec<_>, WorkloadError>>()?
        }
        Some(DatasetType::Sharegpt) => {
            let path = dataset
                .and_then(|d| d.path.as_deref())
                .ok_or_else(|| invalid("a sharegpt dataset needs path".to_string()))?;
            let text = std::fs::read_to_string(Path::new(path))
                .map_err(|e| invalid(format!("cannot read {path}: {e}")))?;
            let scripts = parse_sharegpt(&text, n, spec.turns, default_max_tokens)
                .map_err(|e| invalid(format!("{path}: {e}")))?;
            if scripts.is_empty() {
                return Err(invalid(format!(
                    "{path} holds no conversation starting with a human turn"
                )));
            }
            scripts
        }
        Some(other) => {
            return Err(invalid(format!(
                "dataset type {other:?} has no conversations: use synthetic (or no dataset) or sharegpt"
            )));
        }
    };
    if let Some(out) = dataset.and_then(|d| d.output_tokens.as_ref()) {
        for turn in scripts.iter_mut().flat_map(|s| s.turns.iter_mut()) {
            turn.max_tokens =
                sample_len(out, &mut rng).map_err(|m| invalid(format!("outputTokens: {m}")))?;
        }
    }
    scripts.shuffle(&mut rng);
    Ok(scripts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::workload::{LengthDist, LengthDistType};

    #[test]
    fn synthetic_conversations_have_the_asked_turns_and_lengths() {
        let spec = ConversationSpec {
            turns: Some(4),
            user_tokens: Some(LengthDist {
                kind: LengthDistType::Fixed,
                value: Some(6),
                ..LengthDist::default()
            }),
            think_time: None,
        };
        let d = Dataset {
            num_prompts: 5,
            ..Dataset::default()
        };
        let s = build(&spec, Some(&d), 9, 1).unwrap();
        assert_eq!(s.len(), 5);
        for script in &s {
            assert_eq!(script.turns.len(), 4);
            for t in &script.turns {
                assert_eq!(t.text.split(' ').count(), 6);
                assert_eq!(t.max_tokens, 9);
            }
        }
        assert_eq!(s, build(&spec, Some(&d), 9, 1).unwrap());
        // No dataset: the default count of conversations, 3 turns each.
        let s = build(&ConversationSpec::default(), None, 9, 1).unwrap();
        assert_eq!(s.len(), DEFAULT_NUM_PROMPTS as usize);
        assert_eq!(s[0].turns.len(), 3);
    }

    #[test]
    fn sharegpt_keeps_every_human_turn_with_its_reply_length() {
        let text = r#"[
          {"conversations": [{"from": "human", "value": "Hi there"},
                             {"from": "gpt", "value": "Hello! How can I help?"},
                             {"from": "human", "value": "Tell me a joke"},
                             {"from": "gpt", "value": "Why did the chicken cross the road?"},
                             {"from": "human", "value": "Why?"}]},
          {"conversations": [{"from": "gpt", "value": "starts with the model"}]},
          {"conversations": [{"from": "human", "value": "one"}, {"from": "gpt", "value": "1234"}]}
        ]"#;
        let s = parse_sharegpt(text, 10, None, 50).unwrap();
        assert_eq!(s.len(), 2);
        let texts: Vec<&str> = s[0].turns.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["Hi there", "Tell me a joke", "Why?"]);
        let lens: Vec<u32> = s[0].turns.iter().map(|t| t.max_tokens).collect();
        assert_eq!(lens, [6, 9, 50]); // 22 and 35 characters / 4, then none
        assert_eq!(s[1].turns.len(), 1);
        // Cut to two turns.
        assert_eq!(
            parse_sharegpt(text, 10, Some(2), 50).unwrap()[0]
                .turns
                .len(),
            2
        );
        assert!(parse_sharegpt("{}", 10, None, 1).is_err());
    }

    #[test]
    fn other_datasets_are_refused_by_name() {
        let d = Dataset {
            kind: DatasetType::Jsonl,
            ..Dataset::default()
        };
        let e = build(&ConversationSpec::default(), Some(&d), 9, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Jsonl") && e.contains("sharegpt"), "{e}");
    }
}
