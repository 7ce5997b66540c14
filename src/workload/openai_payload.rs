//! One JSON payload of an OpenAI-compatible server: a streamed chunk or a
//! whole non-streamed response, read for what the measurements need and
//! nothing more.
//!
//! This is the per-token hot path of a streamed request, so it is read
//! without allocating: token texts are only checked for being non-empty, the
//! `choices` list is only counted, and the short strings it does keep borrow
//! from the payload. Unknown fields are ignored; a field of the wrong type is
//! an invalid payload.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde_json::Value;

use super::record::{ErrorClass, Failure};

/// Longest excerpt of a body or payload kept in a failure message.
const EXCERPT: usize = 200;

/// The token counts a server reports in `usage`.
#[derive(Deserialize, Debug, Default, Clone, Copy)]
pub(super) struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
}

/// What `choices` holds: how many entries, and whether any carries text.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Choices {
    /// Entries in the list.
    pub count: usize,
    /// Whether an entry has non-empty `text`, or a `delta` or `message` with
    /// non-empty `content`, `reasoning_content` or `reasoning`.
    pub any_text: bool,
}

/// One JSON payload, parsed by [`Payload::parse`].
#[derive(Deserialize, Debug, Default)]
pub(super) struct Payload<'a> {
    #[serde(default)]
    choices: Option<Choices>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default, borrow)]
    object: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

impl<'a> Payload<'a> {
    /// Parses `data`; a payload that is not JSON of the expected shape is an
    /// invalid payload, one that reports an error (an `error` field, or
    /// `"object": "error"` as vLLM sends mid-stream) is a stream failure.
    pub fn parse(data: &'a str) -> Result<Self, Failure> {
        let payload: Self = serde_json::from_str(data).map_err(|e| {
            Failure::new(
                ErrorClass::InvalidPayload,
                format!("unparseable JSON: {e}: {}", excerpt(data)),
            )
        })?;
        if let Some(err) = &payload.error
            && !err.is_null()
        {
            return Err(Failure::new(
                ErrorClass::Stream,
                format!("server reported an error: {}", excerpt(&err.to_string())),
            ));
        }
        if payload.object.as_deref() == Some("error") {
            return Err(Failure::new(
                ErrorClass::Stream,
                format!(
                    "server reported an error: {}",
                    excerpt(payload.message.as_deref().unwrap_or(""))
                ),
            ));
        }
        Ok(payload)
    }

    /// The `choices` summary (empty when absent or null).
    pub fn choices(&self) -> Choices {
        self.choices.unwrap_or_default()
    }
}

/// The first [`EXCERPT`] bytes of `text` (cut at a character boundary), with
/// `…` when cut.
pub(super) fn excerpt(text: &str) -> String {
    let mut end = text.len().min(EXCERPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut s = text[..end].to_string();
    if end < text.len() {
        s.push('…');
    }
    s
}

/// A string field that may be absent or null: only whether it is non-empty.
#[derive(Debug, Default, Clone, Copy)]
struct NonEmpty(bool);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Check;
        impl<'de> Visitor<'de> for Check {
            type Value = NonEmpty;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or null")
            }
            fn visit_str<E>(self, v: &str) -> Result<NonEmpty, E> {
                Ok(NonEmpty(!v.is_empty()))
            }
            fn visit_none<E>(self) -> Result<NonEmpty, E> {
                Ok(NonEmpty(false))
            }
            fn visit_unit<E>(self) -> Result<NonEmpty, E> {
                Ok(NonEmpty(false))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NonEmpty, D::Error> {
                d.deserialize_str(Check)
            }
        }
        deserializer.deserialize_option(Check)
    }
}

#[derive(Deserialize, Debug, Default)]
struct Delta {
    #[serde(default)]
    content: NonEmpty,
    #[serde(default)]
    reasoning_content: NonEmpty,
    #[serde(default)]
    reasoning: NonEmpty,
}

impl Delta {
    fn has_text(&self) -> bool {
        self.content.0 || self.reasoning_content.0 || self.reasoning.0
    }
}

#[derive(Deserialize, Debug, Default)]
struct Choice {
    #[serde(default)]
    text: NonEmpty,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    message: Option<Delta>,
}

impl Choice {
    fn has_text(&self) -> bool {
        self.text.0
            || self.delta.as_ref().is_some_and(Delta::has_text)
            || self.message.as_ref().is_some_and(Delta::has_text)
    }
}

impl<'de> Deserialize<'de> for Choices {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Count;
        impl<'de> Visitor<'de> for Count {
            type Value = Choices;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of choices")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Choices, A::Error> {
                let mut choices = Choices::default();
                while let Some(choice) = seq.next_element::<Choice>()? {
                    choices.count += 1;
                    choices.any_text |= choice.has_text();
                }
                Ok(choices)
            }
        }
        deserializer.deserialize_seq(Count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choices(data: &str) -> Choices {
        Payload::parse(data).unwrap().choices()
    }

    #[test]
    fn text_in_any_field_counts_and_empty_or_null_does_not() {
        for (data, want) in [
            (r#"{"choices":[{"text":"a"}]}"#, true),
            (r#"{"choices":[{"text":""}]}"#, false),
            (r#"{"choices":[{"text":null}]}"#, false),
            (r#"{"choices":[{"delta":{"content":"x"}}]}"#, true),
            (
                r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
                false,
            ),
            (r#"{"choices":[{"delta":{"reasoning_content":"r"}}]}"#, true),
            (r#"{"choices":[{"delta":{"reasoning":"r"}}]}"#, true),
            (r#"{"choices":[{"message":{"content":"\u00e9"}}]}"#, true),
            (
                r#"{"choices":[{"message":{"content":null,"tool_calls":[]}}]}"#,
                false,
            ),
            (r#"{"choices":[{"text":""},{"text":"b"}]}"#, true),
        ] {
            assert_eq!(choices(data).any_text, want, "{data}");
            assert!(choices(data).count >= 1, "{data}");
        }
    }

    #[test]
    fn choices_are_counted_and_absent_or_null_is_empty() {
        assert_eq!(choices(r#"{"choices":[{},{},{}]}"#).count, 3);
        assert_eq!(choices(r#"{"choices":[]}"#), Choices::default());
        assert_eq!(
            choices(r#"{"choices":null,"usage":{}}"#),
            Choices::default()
        );
        assert_eq!(choices(r#"{"id":"x"}"#), Choices::default());
    }

    #[test]
    fn usage_is_read_beside_choices() {
        let p = Payload::parse(
            r#"{"choices":[{"index":0,"text":"hi","logprobs":null,"finish_reason":"length"}],
                "usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#,
        )
        .unwrap();
        let usage = p.usage.unwrap();
        assert_eq!(
            (usage.prompt_tokens, usage.completion_tokens),
            (Some(7), Some(3))
        );
        assert_eq!(
            p.choices(),
            Choices {
                count: 1,
                any_text: true
            }
        );
    }

    #[test]
    fn wrong_types_and_reported_errors_fail_with_their_class() {
        for data in [
            r#"{"choices":[{"text":5}]}"#,
            r#"{"choices":{"text":"a"}}"#,
            r#"{"choices":[{"delta":"a"}]}"#,
            "not json",
        ] {
            let f = Payload::parse(data).unwrap_err();
            assert_eq!(f.class, ErrorClass::InvalidPayload, "{data}");
        }
        let f = Payload::parse(r#"{"error":{"message":"overloaded"}}"#).unwrap_err();
        assert_eq!(f.class, ErrorClass::Stream);
        assert!(f.message.contains("overloaded"), "{}", f.message);
        let f = Payload::parse(r#"{"object":"error","message":"too long \"x\""}"#).unwrap_err();
        assert_eq!(f.class, ErrorClass::Stream);
        assert!(f.message.contains(r#"too long "x""#), "{}", f.message);
        assert!(Payload::parse(r#"{"error":null,"choices":[]}"#).is_ok());
    }

    #[test]
    fn excerpt_cuts_at_a_character_boundary() {
        let long = "é".repeat(150);
        let e = excerpt(&long);
        assert!(e.ends_with('…'));
        assert!(e.len() <= EXCERPT + '…'.len_utf8());
        assert_eq!(excerpt("short"), "short");
    }
}
