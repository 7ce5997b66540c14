//! The `sharedPrefix` dataset of the OpenAI workload: `groups` groups of
//! synthetic prompts, every prompt of a group starting with the group's own
//! prefix of `prefixTokens` tokens, then a suffix of its own. Pure; the same
//! seed gives the same prefixes, suffixes and order.
//!
//! Each entry keeps its group, so the executor can tell the first request of
//! a group (which finds no cached prefix) from the later ones ([`Groups`]).

use std::collections::HashSet;
use std::sync::Mutex;

use rand::SeedableRng as _;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom as _;
use serde_json::json;

use super::WorkloadError;
use super::openai_labels::{PREFIX_FIRST, PREFIX_LATER};
use super::prompt::{Entry, Prompt, sample_len, synthetic_prompt};
use crate::api::workload::{Dataset, OpenAiApi};

/// The prompts of a shared-prefix dataset and the group of each.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouped {
    /// The requests, in a seeded random order.
    pub entries: Vec<Entry>,
    /// `groups[i]` is the group of `entries[i]`.
    pub groups: Vec<u32>,
}

/// The prefix of group `group`: the same text for the same `seed`, a
/// different one for each group.
pub fn group_prefix(seed: u64, group: u32, tokens: u32) -> String {
    let mut rng =
        SmallRng::seed_from_u64(seed ^ (u64::from(group) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    synthetic_prompt(tokens, &mut rng)
}

/// Builds `dataset.numPrompts` prompts spread evenly over the groups of
/// `dataset.sharedPrefix` (defaults when absent): with `api: chat` the
/// prefix is a system message and the suffix the user message, else one
/// text. Output lengths as the other datasets: `outputTokens`, else
/// `default_max_tokens`.
pub fn build(
    dataset: &Dataset,
    api: OpenAiApi,
    default_max_tokens: u32,
    seed: u64,
) -> Result<Grouped, WorkloadError> {
    let invalid = |m: String| WorkloadError::InvalidConfig(format!("openai.dataset: {m}"));
    let spec = dataset.shared_prefix.clone().unwrap_or_default();
    if let Some((field, problem)) = spec
        .problems("sharedPrefix", dataset.num_prompts.max(1))
        .into_iter()
        .next()
    {
        return Err(invalid(format!("{field}: {problem}")));
    }
    let suffix = spec.suffix();
    let prefixes: Vec<String> = (0..spec.groups)
        .map(|g| group_prefix(seed, g, spec.prefix_tokens))
        .collect();
    let mut rng = SmallRng::seed_from_u64(seed);
    let n = dataset.num_prompts.max(1);
    let mut items = Vec::with_capacity(n as usize);
    for i in 0..n {
        let group = i % spec.groups;
        let len = sample_len(&suffix, &mut rng)
            .map_err(|e| invalid(format!("sharedPrefix.suffixTokens: {e}")))?;
        // A number first, so no two suffixes of a group are alike even
        // when they are short.
        let text = format!("{i}: {}", synthetic_prompt(len, &mut rng));
        let prefix = &prefixes[group as usize];
        let prompt = match api {
            OpenAiApi::Chat => Prompt::Messages(json!([
                {"role": "system", "content": prefix},
                {"role": "user", "content": text},
            ])),
            OpenAiApi::Completions => Prompt::Text(format!("{prefix} {text}")),
        };
        let max_tokens = match &dataset.output_tokens {
            Some(out) => {
                sample_len(out, &mut rng).map_err(|m| invalid(format!("outputTokens: {m}")))?
            }
            None => default_max_tokens,
        };
        items.push((
            Entry {
                prompt,
                max_tokens: Some(max_tokens),
            },
            group,
        ));
    }
    items.shuffle(&mut rng);
    let (entries, groups) = items.into_iter().unzip();
    Ok(Grouped { entries, groups })
}

/// Which groups an instance has sent a request of: the first request of a
/// group is the one that finds no cached prefix.
#[derive(Debug, Default)]
pub struct GroupTracker {
    seen: HashSet<u32>,
}

impl GroupTracker {
    /// Marks a request of `group` as sent; true when it is the group's first.
    pub fn first_send(&mut self, group: u32) -> bool {
        self.seen.insert(group)
    }
}

/// The group of each prepared request and which groups were sent: labels
/// each request first or later of its group.
#[derive(Debug)]
pub struct Groups {
    of_entry: Vec<u32>,
    tracker: Mutex<GroupTracker>,
}

impl Groups {
    /// `of_entry[i]` is the group of prepared request `i`.
    pub fn new(of_entry: Vec<u32>) -> Self {
        Self {
            of_entry,
            tracker: Mutex::new(GroupTracker::default()),
        }
    }

    /// The label of request `index` (cycling over the prepared requests),
    /// marking its group as sent: `prefix_first` or `prefix_later`.
    pub fn label(&self, index: u64) -> Option<&'static str> {
        let n = self.of_entry.len() as u64;
        let group = *self.of_entry.get(usize::try_from(index % n.max(1)).ok()?)?;
        let mut tracker = self
            .tracker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(if tracker.first_send(group) {
            PREFIX_FIRST
        } else {
            PREFIX_LATER
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::workload::{DatasetType, LengthDist, LengthDistType, SharedPrefixSpec};

    fn dataset(groups: u32, prefix: u32, n: u32) -> Dataset {
        Dataset {
            kind: DatasetType::SharedPrefix,
            num_prompts: n,
            shared_prefix: Some(SharedPrefixSpec {
                groups,
                prefix_tokens: prefix,
                suffix_tokens: Some(LengthDist {
                    kind: LengthDistType::Fixed,
                    value: Some(5),
                    ..LengthDist::default()
                }),
            }),
            ..Dataset::default()
        }
    }

    #[test]
    fn prompts_of_a_group_share_its_prefix_and_differ_after_it() {
        let d = dataset(3, 40, 12);
        let g = build(&d, OpenAiApi::Completions, 7, 9).unwrap();
        assert_eq!(g.entries.len(), 12);
        assert_eq!(g.groups.len(), 12);
        for k in 0..3 {
            assert_eq!(g.groups.iter().filter(|x| **x == k).count(), 4);
        }
        let mut texts = HashSet::new();
        for (e, group) in g.entries.iter().zip(&g.groups) {
            let Prompt::Text(t) = &e.prompt else {
                panic!("text expected")
            };
            let prefix = group_prefix(9, *group, 40);
            assert!(t.starts_with(&prefix), "{t}");
            assert_eq!(prefix.split(' ').count(), 40);
            // the suffix: "<n>:" and 5 words
            assert_eq!(t[prefix.len()..].split_whitespace().count(), 6, "{t}");
            assert_eq!(e.max_tokens, Some(7));
            assert!(texts.insert(t.clone()), "duplicate prompt {t}");
        }
        assert_ne!(group_prefix(9, 0, 40), group_prefix(9, 1, 40));
        // Seeded: the same seed, the same dataset.
        assert_eq!(g, build(&d, OpenAiApi::Completions, 7, 9).unwrap());
        assert_ne!(g, build(&d, OpenAiApi::Completions, 7, 10).unwrap());
    }

    #[test]
    fn chat_sends_the_prefix_as_the_system_message() {
        let g = build(&dataset(2, 10, 4), OpenAiApi::Chat, 7, 1).unwrap();
        let Prompt::Messages(m) = &g.entries[0].prompt else {
            panic!("messages expected")
        };
        assert_eq!(m[0]["role"], "system");
        assert_eq!(m[0]["content"], group_prefix(1, g.groups[0], 10));
        assert_eq!(m[1]["role"], "user");
    }

    #[test]
    fn more_groups_than_prompts_is_refused() {
        let e = build(&dataset(5, 10, 4), OpenAiApi::Chat, 7, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sharedPrefix.groups"), "{e}");
    }

    #[test]
    fn only_the_first_send_of_a_group_is_first() {
        let mut t = GroupTracker::default();
        assert!(t.first_send(2));
        assert!(!t.first_send(2));
        assert!(t.first_send(0));
        let g = Groups::new(vec![0, 1, 0]);
        let labels: Vec<_> = (0..4).map(|i| g.label(i).unwrap()).collect();
        assert_eq!(
            labels,
            [PREFIX_FIRST, PREFIX_FIRST, PREFIX_LATER, PREFIX_LATER]
        );
    }
}
