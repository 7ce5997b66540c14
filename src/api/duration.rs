//! Human-friendly durations used throughout the spec: `"250ms"`, `"30s"`,
//! `"5m"`, `"1h30m"`, or a bare number of seconds (`30`, `0.5`).
//!
//! In the CRD schema a duration is `x-kubernetes-int-or-string`, so both
//! `duration: 30` and `duration: "30s"` are accepted by the API server; the
//! string form is what aifbench writes back.

use std::fmt;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a duration string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: {reason} (expected e.g. \"250ms\", \"30s\", \"5m\", \"1h30m\" or a number of seconds)"
)]
pub struct DurationError {
    /// The text that was given.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

/// A non-negative span of time, written as in Go and Kubernetes (`1m30s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub StdDuration);

impl Duration {
    /// A duration of `secs` whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(StdDuration::from_secs(secs))
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(StdDuration::from_millis(ms))
    }

    /// The standard-library duration.
    pub const fn get(self) -> StdDuration {
        self.0
    }

    /// Seconds as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }
}

impl From<StdDuration> for Duration {
    fn from(d: StdDuration) -> Self {
        Self(d)
    }
}

impl From<Duration> for StdDuration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

/// Parses `"250ms"`, `"1.5s"`, `"2m"`, `"1h30m"`, `"100us"`, or a bare number
/// of seconds.
pub fn parse_duration(input: &str) -> Result<StdDuration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs_to_duration(secs).ok_or_else(|| err("must be a finite, non-negative number"));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("a number needs a unit (ms, s, m, h)"))?;
        if num_len == 0 {
            return Err(err("expected a number before the unit"));
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| err("not a number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(err("unknown unit (use ns, us, ms, s, m, h or d)")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    secs_to_duration(total).ok_or_else(|| err("out of range"))
}

fn secs_to_duration(secs: f64) -> Option<StdDuration> {
    if (0.0..1e12).contains(&secs) {
        Some(StdDuration::from_secs_f64(secs))
    } else {
        None
    }
}

impl FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(Duration)
    }
}

impl fmt::Display for Duration {
    /// Writes the shortest exact form: `1h30m`, `45s`, `250ms`, `1500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        let nanos = d.as_nanos();
        if !nanos.is_multiple_of(1_000_000_000) {
            if nanos.is_multiple_of(1_000_000) {
                return write!(f, "{}ms", nanos / 1_000_000);
            }
            if nanos.is_multiple_of(1_000) {
                return write!(f, "{}us", nanos / 1_000);
            }
            return write!(f, "{nanos}ns");
        }
        let mut secs = d.as_secs();
        let h = secs / 3600;
        secs %= 3600;
        let m = secs / 60;
        secs %= 60;
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if secs > 0 {
            write!(f, "{secs}s")?;
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => secs_to_duration(n).map(Duration).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid duration {n}: must be a finite, non-negative number of seconds"
                ))
            }),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        int_or_string_schema(
            "A duration: \"250ms\", \"30s\", \"5m\", \"1h30m\", or a number of seconds.",
        )
    }
}

/// The schema of a field written as a number or a string with a unit
/// (Kubernetes' int-or-string).
pub(crate) fn int_or_string_schema(description: &str) -> Schema {
    json_schema!({
        "x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "description": description
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(
            parse_duration("250ms").unwrap(),
            StdDuration::from_millis(250)
        );
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            StdDuration::from_secs(5400)
        );
        assert_eq!(
            parse_duration("1.5s").unwrap(),
            StdDuration::from_millis(1500)
        );
        assert_eq!(parse_duration("30").unwrap(), StdDuration::from_secs(30));
        assert_eq!(
            parse_duration("100us").unwrap(),
            StdDuration::from_micros(100)
        );
    }

    #[test]
    fn rejects_garbage_with_reason() {
        for bad in ["", "ms", "5x", "-3s", "1.2.3s", "10 s"] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e.input, bad);
        }
        assert!(
            parse_duration("5x")
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
    }

    #[test]
    fn display_round_trips() {
        for s in ["0s", "250ms", "1h30m", "45s", "2m5s", "100us"] {
            let d: Duration = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
        let d: Duration = "1.5s".parse().unwrap();
        assert_eq!(d.to_string(), "1500ms");
    }

    #[test]
    fn deserializes_numbers_and_strings() {
        let d: Duration = serde_json::from_str("2.5").unwrap();
        assert_eq!(d.get(), StdDuration::from_millis(2500));
        let d: Duration = serde_json::from_str("\"3m\"").unwrap();
        assert_eq!(d.get(), StdDuration::from_secs(180));
        assert!(serde_json::from_str::<Duration>("\"soon\"").is_err());
    }
}
