//! `workload.openai.trace`: replay a timestamped request trace (aifbench's
//! own JSON Lines, BurstGPT's CSV, Mooncake's JSON Lines) open loop, at real
//! or scaled speed. The types of the custom resource and [`TraceSpec::problems`],
//! the pure check of the settings (every problem with the field it names).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::duration::Duration;

/// A request trace to replay: each line one request with its arrival time,
/// input length and output length. The run is an open loop whose intended
/// send times are the trace's arrival times divided by `speed`, counted from
/// the first request replayed; prompts are synthetic text of the trace's
/// input length and `max_tokens` is its output length.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TraceSpec {
    /// The trace file, read by the client (an absolute path, or relative to
    /// the client's working directory: the results folder under `aifbench
    /// run`).
    pub path: String,
    /// `aifbench` (default): JSON Lines `{"timestamp": seconds, "input_tokens":
    /// N, "output_tokens": M}` (or `timestamp_ms` in milliseconds);
    /// `burstgpt`: BurstGPT's CSV (columns `Timestamp` in seconds, `Request
    /// tokens`, `Response tokens`); `mooncake`: Mooncake's JSON Lines
    /// (`timestamp` in milliseconds, `input_length`, `output_length`,
    /// optional `hash_ids` of 512-token prompt blocks).
    pub format: TraceFormat,
    /// Replay speed: 1 is the trace's own pace, 2 twice as fast (every gap
    /// halved), 0.5 half as fast. Above 0. Default 1.
    pub speed: f64,
    /// Skip this much of the trace (trace time, from its first request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_offset: Option<Duration>,
    /// Replay at most this much of the trace (trace time after
    /// `startOffset`; the wall time is this divided by `speed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Duration>,
    /// Replay at most this many requests of the trace (warm-up included).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = crate::api::limits::MAX_REQUESTS))]
    pub max_requests: Option<u64>,
}

impl Default for TraceSpec {
    fn default() -> Self {
        Self {
            path: String::new(),
            format: TraceFormat::default(),
            speed: 1.0,
            start_offset: None,
            max_duration: None,
            max_requests: None,
        }
    }
}

/// Layout of a trace file.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    /// aifbench's JSON Lines: `timestamp` (seconds) or `timestamp_ms`,
    /// `input_tokens`, `output_tokens`.
    #[default]
    Aifbench,
    /// BurstGPT's CSV: `Timestamp`, `Model`, `Request tokens`, `Response
    /// tokens`, `Total tokens`, `Log Type`.
    Burstgpt,
    /// Mooncake's JSON Lines: `timestamp` (ms), `input_length`,
    /// `output_length`, `hash_ids`.
    Mooncake,
}

impl TraceFormat {
    /// The name as written in the spec.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Aifbench => "aifbench",
            Self::Burstgpt => "burstgpt",
            Self::Mooncake => "mooncake",
        }
    }
}

impl TraceSpec {
    /// What is wrong with these settings, as (field below `at`, problem)
    /// pairs; empty when they are usable. Does not read the file.
    pub fn problems(&self, at: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.path.trim().is_empty() {
            out.push((
                format!("{at}.path"),
                "required: the trace file to replay".to_string(),
            ));
        }
        if !(self.speed.is_finite() && self.speed > 0.0) {
            out.push((
                format!("{at}.speed"),
                format!(
                    "{} is not a replay speed: give a number above 0 (1 = the trace's own pace, 2 = twice as fast)",
                    self.speed
                ),
            ));
        }
        if self.max_requests == Some(0) {
            out.push((
                format!("{at}.maxRequests"),
                "must be at least 1".to_string(),
            ));
        }
        if self.max_duration.is_some_and(|d| d.get().is_zero()) {
            out.push((
                format!("{at}.maxDuration"),
                "must be longer than 0s".to_string(),
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
        let t: TraceSpec = serde_norway::from_str("path: /t.csv\nformat: burstgpt\n").unwrap();
        assert_eq!(t.format, TraceFormat::Burstgpt);
        assert_eq!(t.speed, 1.0);
        assert!(t.problems("trace").is_empty());
        let t: TraceSpec =
            serde_norway::from_str("path: /t\nspeed: 2\nstartOffset: 5s\nmaxDuration: 1m\n")
                .unwrap();
        assert_eq!(t.format, TraceFormat::Aifbench);
        assert_eq!(t.speed, 2.0);
        assert_eq!(t.max_duration.unwrap().get().as_secs(), 60);
        assert!(serde_norway::from_str::<TraceSpec>("format: csv\n").is_err());
    }

    #[test]
    fn problems_name_the_field_and_what_is_right() {
        let t = TraceSpec {
            speed: 0.0,
            max_requests: Some(0),
            ..TraceSpec::default()
        };
        let p = t.problems("w.trace");
        let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["w.trace.path", "w.trace.speed", "w.trace.maxRequests"]
        );
        assert!(p[1].1.contains("above 0"), "{p:?}");
        let t = TraceSpec {
            path: "/x".into(),
            speed: f64::NAN,
            ..TraceSpec::default()
        };
        assert_eq!(t.problems("t").len(), 1);
    }
}
