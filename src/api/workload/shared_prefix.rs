//! `workload.openai.dataset.sharedPrefix`: groups of prompts that share a
//! prefix (a system prompt or a document), to measure prefix caching. The
//! type of the custom resource and [`SharedPrefixSpec::problems`], the pure
//! check of the settings (every problem with the field it names).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LengthDist;

/// Groups of synthetic prompts sharing a prefix: every prompt of group `g`
/// starts with the same `prefixTokens`-token text (the same for a given
/// seed), followed by a suffix of its own. With `api: chat` the prefix is the
/// system message and the suffix the user message; with `completions` the
/// prompt is the prefix, a space and the suffix. The first request of each
/// group an instance sends finds no cached prefix (by construction); the
/// results keep its latencies apart from the group's later requests
/// (`prefix_first.ttft`, `prefix_later.ttft`, ...).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SharedPrefixSpec {
    /// Number of groups (distinct prefixes); `numPrompts` prompts are spread
    /// evenly over them. Default 4.
    #[schemars(range(min = 1, max = 100000))]
    pub groups: u32,
    /// Length of each group's shared prefix in tokens (approximately: one
    /// common English word per token). Default 256.
    #[schemars(range(min = 1, max = 1000000))]
    pub prefix_tokens: u32,
    /// Length of each prompt's own suffix in tokens. Default fixed 32.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suffix_tokens: Option<LengthDist>,
}

/// Default number of groups.
pub const DEFAULT_GROUPS: u32 = 4;
/// Default prefix length in tokens.
pub const DEFAULT_PREFIX_TOKENS: u32 = 256;
/// Default suffix length in tokens.
pub const DEFAULT_SUFFIX_TOKENS: u32 = 32;

impl Default for SharedPrefixSpec {
    fn default() -> Self {
        Self {
            groups: DEFAULT_GROUPS,
            prefix_tokens: DEFAULT_PREFIX_TOKENS,
            suffix_tokens: None,
        }
    }
}

impl SharedPrefixSpec {
    /// The suffix length in effect: `suffixTokens`, else fixed 32.
    pub fn suffix(&self) -> LengthDist {
        self.suffix_tokens.clone().unwrap_or(LengthDist {
            kind: super::LengthDistType::Fixed,
            value: Some(DEFAULT_SUFFIX_TOKENS),
            ..LengthDist::default()
        })
    }

    /// What is wrong with these settings, as (field below `at`, problem)
    /// pairs; empty when they are usable. `num_prompts` is the dataset's.
    pub fn problems(&self, at: &str, num_prompts: u32) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.groups == 0 {
            out.push((format!("{at}.groups"), "must be at least 1".to_string()));
        } else if self.groups > num_prompts {
            out.push((
                format!("{at}.groups"),
                format!(
                    "{} groups need at least as many prompts: raise dataset.numPrompts (now {num_prompts})",
                    self.groups
                ),
            ));
        }
        if self.prefix_tokens == 0 {
            out.push((
                format!("{at}.prefixTokens"),
                "must be at least 1".to_string(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_names() {
        let s: SharedPrefixSpec = serde_norway::from_str("groups: 3\nprefixTokens: 300\n").unwrap();
        assert_eq!((s.groups, s.prefix_tokens), (3, 300));
        assert_eq!(s.suffix_tokens, None);
        assert!(s.problems("sp", 10).is_empty());
        let d = SharedPrefixSpec::default();
        assert_eq!((d.groups, d.prefix_tokens), (4, 256));
    }

    #[test]
    fn problems_name_the_field() {
        let s = SharedPrefixSpec {
            groups: 0,
            prefix_tokens: 0,
            suffix_tokens: None,
        };
        let p = s.problems("w.sp", 10);
        let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["w.sp.groups", "w.sp.prefixTokens"]);
        let s = SharedPrefixSpec {
            groups: 20,
            ..SharedPrefixSpec::default()
        };
        let p = s.problems("w.sp", 10);
        assert!(p[0].1.contains("numPrompts"), "{p:?}");
    }
}
