//! What one request reports: the executor's raw outcome (instants on the
//! monotonic clock) and the per-request record the load layer derives from it
//! (durations counted from the request's actual send time, as `vllm bench
//! serve` counts them, plus the end-to-end latency from the intended send
//! time, which open-loop runs report separately).

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// How the output token count of a request was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// From the `usage` object the server sent.
    Usage,
    /// Counted from the content-bearing stream events.
    Counted,
    /// Unknown (no usage and nothing to count); the count is 0.
    Unknown,
}

/// A successful request as reported by an executor.
#[derive(Clone, Debug, PartialEq)]
pub struct Success {
    /// Arrival of each output event (streaming responses; empty otherwise).
    /// The first one is the first token.
    pub token_times: Vec<Instant>,
    /// Arrival of the first output event with non-empty text (streaming
    /// only); later than the first token when a server first sends an empty
    /// delta (a role header, say).
    pub first_content: Option<Instant>,
    /// When the response was complete: the last output event when streaming.
    pub end: Instant,
    /// Input (prompt) tokens, 0 when unknown.
    pub input_tokens: u64,
    /// Output (generated) tokens.
    pub output_tokens: u64,
    /// Where `output_tokens` comes from.
    pub token_source: TokenSource,
}

/// Class of a failed request, used as the key of `errorClasses`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The connection could not be established.
    Connect,
    /// The request ran past its time limit.
    Timeout,
    /// The server answered with a non-success HTTP status.
    Http(u16),
    /// The response stream broke, was truncated or reported an error.
    Stream,
    /// The response could not be parsed.
    InvalidPayload,
    /// Anything else, with a short snake_case label.
    Other(&'static str),
}

impl fmt::Display for ErrorClass {
    /// The label: `connect`, `timeout`, `http_503`, `stream`, `invalid_payload`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect => f.write_str("connect"),
            Self::Timeout => f.write_str("timeout"),
            Self::Http(status) => write!(f, "http_{status}"),
            Self::Stream => f.write_str("stream"),
            Self::InvalidPayload => f.write_str("invalid_payload"),
            Self::Other(label) => f.write_str(label),
        }
    }
}

/// A failed request as reported by an executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Its class.
    pub class: ErrorClass,
    /// A short human-readable explanation (never contains credentials).
    pub message: String,
}

impl Failure {
    /// A failure of `class` explained by `message`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }
}

/// What an executor returns for one request.
pub type Outcome = Result<Success, Failure>;

/// Latencies and token counts of one successful request.
#[derive(Clone, Debug, PartialEq)]
pub struct Timings {
    /// Time to first token, from the actual send (streaming only).
    pub ttft: Option<Duration>,
    /// Time to first non-empty content, from the actual send (streaming only).
    pub ttfc: Option<Duration>,
    /// Gaps between successive output events (streaming only).
    pub itl: Vec<Duration>,
    /// End-to-end latency from the actual send.
    pub e2el: Duration,
    /// Open loop: end-to-end latency from the intended send time, which
    /// includes any wait for a free slot (no coordinated omission).
    pub e2el_intended: Option<Duration>,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Where `output_tokens` comes from.
    pub token_source: TokenSource,
}

impl Timings {
    /// Derives the timings of `success`, sent at `sent`; `intended` is the
    /// scheduled send time of an open-loop request.
    pub fn from_success(success: &Success, sent: Instant, intended: Option<Instant>) -> Self {
        let ttft = success
            .token_times
            .first()
            .map(|t| t.saturating_duration_since(sent));
        let itl = success
            .token_times
            .windows(2)
            .map(|w| w[1].saturating_duration_since(w[0]))
            .collect();
        Self {
            ttft,
            ttfc: success
                .first_content
                .map(|t| t.saturating_duration_since(sent)),
            itl,
            e2el: success.end.saturating_duration_since(sent),
            e2el_intended: intended.map(|i| success.end.saturating_duration_since(i)),
            input_tokens: success.input_tokens,
            output_tokens: success.output_tokens,
            token_source: success.token_source,
        }
    }

    /// Time per output token after the first: `(e2el - ttft) / (tokens - 1)`,
    /// when there is a first token and more than one output token.
    pub fn tpot(&self) -> Option<Duration> {
        let ttft = self.ttft?;
        if self.output_tokens < 2 {
            return None;
        }
        let decode = self.e2el.saturating_sub(ttft);
        let gaps = u32::try_from(self.output_tokens - 1).unwrap_or(u32::MAX);
        Some(decode / gaps)
    }
}

/// The record of one request, as the load layer hands it to the statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRecord {
    /// Sequence number of the request within the instance, from 0.
    pub index: u64,
    /// Whether it was scheduled in the warm-up window (not counted).
    pub warmup: bool,
    /// Open loop: time from the intended to the actual send.
    pub queue_time: Option<Duration>,
    /// The client's own lag: how late the load generator itself was in
    /// sending (open loop: timer lateness past the intended time, waiting for
    /// a free slot excluded; closed loop: the worker's turnaround from the
    /// previous response to this send).
    pub client_lag: Option<Duration>,
    /// Its timings, or the class of its failure.
    pub outcome: Result<Timings, ErrorClass>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_count_from_the_actual_send() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let success = Success {
            token_times: vec![t0 + ms(30), t0 + ms(35), t0 + ms(45)],
            first_content: Some(t0 + ms(35)),
            end: t0 + ms(50),
            input_tokens: 4,
            output_tokens: 3,
            token_source: TokenSource::Counted,
        };
        // Intended at t0, sent at t0 + 10 ms (it waited for a slot).
        let timings = Timings::from_success(&success, t0 + ms(10), Some(t0));
        assert_eq!(timings.ttft, Some(ms(20)));
        assert_eq!(timings.ttfc, Some(ms(25)));
        assert_eq!(timings.itl, vec![ms(5), ms(10)]);
        assert_eq!(timings.e2el, ms(40));
        assert_eq!(timings.e2el_intended, Some(ms(50)));
        assert_eq!(timings.tpot(), Some(ms(10)));
        let closed = Timings::from_success(&success, t0 + ms(10), None);
        assert_eq!(closed.e2el_intended, None);
    }

    #[test]
    fn tpot_needs_two_tokens_and_a_first_token() {
        let t = Timings {
            ttft: None,
            ttfc: None,
            itl: vec![],
            e2el: Duration::from_millis(10),
            e2el_intended: None,
            input_tokens: 0,
            output_tokens: 5,
            token_source: TokenSource::Usage,
        };
        assert_eq!(t.tpot(), None);
        let t = Timings {
            ttft: Some(Duration::from_millis(3)),
            output_tokens: 1,
            ..t
        };
        assert_eq!(t.tpot(), None);
    }

    #[test]
    fn error_class_labels() {
        assert_eq!(ErrorClass::Http(500).to_string(), "http_500");
        assert_eq!(ErrorClass::InvalidPayload.to_string(), "invalid_payload");
        assert_eq!(ErrorClass::Connect.to_string(), "connect");
        assert_eq!(ErrorClass::Other("dropped").to_string(), "dropped");
    }
}
