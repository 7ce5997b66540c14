//! `workload.openai.conversation`: multi-turn conversations, each virtual
//! user carrying its history across turns. The type of the custom resource
//! and [`ConversationSpec::problems`], the pure check of the settings (every
//! problem with the field it names).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LengthDist;
use crate::api::duration::Duration;

/// Multi-turn conversations over `/v1/chat/completions`: each closed-loop
/// worker is a virtual user holding one conversation at a time; turn `k` is
/// sent with the whole history (every earlier user message and the server's
/// actual answers), then the user thinks for `thinkTime` before the next
/// turn. A finished conversation is followed by a new one. Conversations are
/// synthetic (`turns` user messages of `userTokens` words each), or with
/// `dataset.type: sharegpt` every human turn of the file's conversations.
/// The results keep each turn's latencies and token counts apart (`turn1.ttft`,
/// `turn2.ttft`, ...; `turns`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ConversationSpec {
    /// Turns per conversation: synthetic conversations have exactly this
    /// many (default 3); ShareGPT conversations are cut to this many (default:
    /// all their turns). At most 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub turns: Option<u32>,
    /// Synthetic conversations: length of each user message in tokens
    /// (approximately: one common English word per token). Default fixed 32.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_tokens: Option<LengthDist>,
    /// Pause between receiving an answer and sending the conversation's next
    /// turn (not counted in any latency). Default 0s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub think_time: Option<Duration>,
}

/// Default turns of a synthetic conversation.
pub const DEFAULT_TURNS: u32 = 3;
/// Default length of a synthetic user message in tokens.
pub const DEFAULT_USER_TOKENS: u32 = 32;

impl ConversationSpec {
    /// Turns of a synthetic conversation: `turns`, else 3.
    pub fn synthetic_turns(&self) -> u32 {
        self.turns.unwrap_or(DEFAULT_TURNS).max(1)
    }

    /// The user-message length in effect: `userTokens`, else fixed 32.
    pub fn user_tokens(&self) -> LengthDist {
        self.user_tokens.clone().unwrap_or(LengthDist {
            kind: super::LengthDistType::Fixed,
            value: Some(DEFAULT_USER_TOKENS),
            ..LengthDist::default()
        })
    }

    /// What is wrong with these settings, as (field below `at`, problem)
    /// pairs; empty when they are usable.
    pub fn problems(&self, at: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(n) = self.turns
            && !(1..=1000).contains(&n)
        {
            out.push((format!("{at}.turns"), format!("{n} turns: give 1 to 1000")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_names() {
        let c: ConversationSpec = serde_norway::from_str(
            "turns: 4\nthinkTime: 250ms\nuserTokens: {type: fixed, value: 8}\n",
        )
        .unwrap();
        assert_eq!(c.turns, Some(4));
        assert_eq!(
            c.think_time.unwrap().get(),
            std::time::Duration::from_millis(250)
        );
        assert_eq!(c.user_tokens().value, Some(8));
        assert_eq!(ConversationSpec::default().user_tokens().value, Some(32));
        assert!(c.problems("c").is_empty());
        let bad = ConversationSpec {
            turns: Some(0),
            ..ConversationSpec::default()
        };
        assert_eq!(bad.problems("w.c")[0].0, "w.c.turns");
    }
}
