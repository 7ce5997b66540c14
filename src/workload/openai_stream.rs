//! Reading an OpenAI-compatible response for the measurements: the events
//! of a streamed response ([`StreamAccumulator`], pure: the caller supplies
//! each event's arrival instant) and a whole non-streamed response
//! ([`parse_response`]), and the answer's text for conversations
//! ([`append_delta`], [`whole_answer`]). Re-exported by [`super::openai`].

use serde_json::Value;
use tokio::time::Instant;

use super::openai_payload::{Payload, excerpt};
use super::record::{ErrorClass, Failure, Outcome, Success, TokenSource};

/// Follows the events of one streamed response. Pure: the caller supplies
/// each event's arrival instant.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    token_times: Vec<Instant>,
    first_content: Option<Instant>,
    text_events: u64,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    last_event: Option<Instant>,
    done: bool,
}

impl StreamAccumulator {
    /// A fresh accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `data: [DONE]` was seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Takes the data of one event that arrived at `at`.
    pub fn on_event(&mut self, data: &str, at: Instant) -> Result<(), Failure> {
        if self.done {
            return Ok(());
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let payload = Payload::parse(data)?;
        let choices = payload.choices();
        if choices.count > 0 {
            self.token_times.push(at);
            if choices.any_text {
                self.text_events += 1;
                self.first_content.get_or_insert(at);
            }
        }
        if let Some(usage) = payload.usage {
            self.prompt_tokens = usage.prompt_tokens.or(self.prompt_tokens);
            self.completion_tokens = usage.completion_tokens.or(self.completion_tokens);
        }
        self.last_event = Some(at);
        Ok(())
    }

    /// The outcome once the stream ended at `ended`: a failure when it ended
    /// without `[DONE]`.
    pub fn finish(self, ended: Instant) -> Outcome {
        if !self.done {
            return Err(Failure::new(
                ErrorClass::Stream,
                format!(
                    "stream ended without [DONE] after {} token events",
                    self.token_times.len()
                ),
            ));
        }
        let (output_tokens, token_source) = match self.completion_tokens {
            Some(n) => (n, TokenSource::Usage),
            None => (self.text_events, TokenSource::Counted),
        };
        // As `vllm bench serve`: the request ends at its last event with
        // `choices` (a trailing usage-only event does not count).
        let end = self
            .token_times
            .last()
            .copied()
            .or(self.last_event)
            .unwrap_or(ended);
        Ok(Success {
            end,
            first_content: self.first_content,
            token_times: self.token_times,
            input_tokens: self.prompt_tokens.unwrap_or(0),
            output_tokens,
            token_source,
        })
    }
}

/// Interprets a whole non-streamed response body received at `end`.
pub fn parse_response(body: &[u8], end: Instant) -> Outcome {
    let text = String::from_utf8_lossy(body);
    let payload = Payload::parse(&text)?;
    if payload.choices().count == 0 {
        return Err(Failure::new(
            ErrorClass::InvalidPayload,
            format!("response has no choices: {}", excerpt(&text)),
        ));
    }
    let usage = payload.usage.unwrap_or_default();
    let (output_tokens, token_source) = match usage.completion_tokens {
        Some(n) => (n, TokenSource::Usage),
        None => (0, TokenSource::Unknown),
    };
    Ok(Success {
        token_times: Vec::new(),
        first_content: None,
        end,
        input_tokens: usage.prompt_tokens.unwrap_or(0),
        output_tokens,
        token_source,
    })
}

/// The text of one streamed chunk's first choice (`delta.content`, or
/// `text` from completions), appended to `answer`.
pub fn append_delta(data: &str, answer: &mut String) {
    let Ok(v) = serde_json::from_str::<Value>(data) else {
        return;
    };
    let choice = &v["choices"][0];
    if let Some(t) = choice["delta"]["content"]
        .as_str()
        .or_else(|| choice["text"].as_str())
    {
        answer.push_str(t);
    }
}

/// The answer of a whole response: its first choice's `message.content`.
pub fn whole_answer(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v["choices"][0]["message"]["content"]
                .as_str()
                .map(String::from)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn stream_with_usage_chunk() {
        let t0 = Instant::now();
        let mut acc = StreamAccumulator::new();
        let events = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}],"usage":null}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}"#,
            "[DONE]",
        ];
        for (i, e) in events.iter().enumerate() {
            acc.on_event(e, t0 + ms(10 * (i as u64 + 1))).unwrap();
        }
        assert!(acc.is_done());
        let s = acc.finish(t0 + ms(100)).unwrap();
        // Events with non-empty choices are token events; the request ends at
        // the last of them, not at the usage-only chunk (as vLLM's bench).
        assert_eq!(s.token_times, vec![t0 + ms(10), t0 + ms(20), t0 + ms(30)]);
        assert_eq!(s.end, t0 + ms(30));
        // The first event's content is empty: first content comes later.
        assert_eq!(s.first_content, Some(t0 + ms(20)));
        assert_eq!(s.output_tokens, 3);
        assert_eq!(s.input_tokens, 9);
        assert_eq!(s.token_source, TokenSource::Usage);
    }

    #[test]
    fn stream_without_usage_counts_text_events() {
        let t0 = Instant::now();
        let mut acc = StreamAccumulator::new();
        for (i, text) in ["a", "b", "c", ""].iter().enumerate() {
            let e = json!({"choices":[{"index":0,"text":text}]}).to_string();
            acc.on_event(&e, t0 + ms(i as u64)).unwrap();
        }
        acc.on_event("[DONE]", t0 + ms(9)).unwrap();
        let s = acc.finish(t0 + ms(10)).unwrap();
        assert_eq!(s.output_tokens, 3);
        assert_eq!(s.token_source, TokenSource::Counted);
        assert_eq!(s.input_tokens, 0);
        assert_eq!(s.token_times.len(), 4);
    }

    #[test]
    fn truncated_stream_is_a_stream_error() {
        let t0 = Instant::now();
        let mut acc = StreamAccumulator::new();
        acc.on_event(r#"{"choices":[{"text":"a"}]}"#, t0).unwrap();
        let f = acc.finish(t0).unwrap_err();
        assert_eq!(f.class, ErrorClass::Stream);
    }

    #[test]
    fn bad_payloads_are_classified() {
        let t0 = Instant::now();
        let f = StreamAccumulator::new()
            .on_event("{not json", t0)
            .unwrap_err();
        assert_eq!(f.class, ErrorClass::InvalidPayload);
        let f = StreamAccumulator::new()
            .on_event(r#"{"error":{"message":"boom","code":500}}"#, t0)
            .unwrap_err();
        assert_eq!(f.class, ErrorClass::Stream);
        assert!(f.message.contains("boom"));
        let f = StreamAccumulator::new()
            .on_event(r#"{"object":"error","message":"overloaded"}"#, t0)
            .unwrap_err();
        assert_eq!(f.class, ErrorClass::Stream);
        let f = parse_response(b"<html>", t0).unwrap_err();
        assert_eq!(f.class, ErrorClass::InvalidPayload);
        let f = parse_response(br#"{"choices":[]}"#, t0).unwrap_err();
        assert_eq!(f.class, ErrorClass::InvalidPayload);
    }

    #[test]
    fn non_streamed_response_uses_usage() {
        let t0 = Instant::now();
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#;
        let s = parse_response(body, t0).unwrap();
        assert_eq!((s.input_tokens, s.output_tokens), (5, 2));
        assert_eq!(s.token_source, TokenSource::Usage);
        assert!(s.token_times.is_empty());
        let s = parse_response(br#"{"choices":[{"text":"hi"}]}"#, t0).unwrap();
        assert_eq!(s.token_source, TokenSource::Unknown);
    }
}
