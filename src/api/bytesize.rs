//! Byte sizes in the spec: a bare number of bytes (`65536`) or a number with
//! a unit (`64KiB`, `1MiB`, `5MB`, `4k`). Binary units (`KiB`, `MiB`, `GiB`,
//! and the shorthands `k`, `m`, `g`) are powers of 1024; `KB`, `MB`, `GB`
//! are powers of 1000. In the CRD schema a size is
//! `x-kubernetes-int-or-string`.

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::api::duration::int_or_string_schema;

/// Why a size string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size {input:?}: {reason} (expected e.g. 65536, \"64KiB\", \"1MiB\", \"5MB\")")]
pub struct ByteSizeError {
    /// The text that was given.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

/// A number of bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` KiB.
    pub const fn kib(n: u64) -> Self {
        Self(n * 1024)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        Self(n * 1024 * 1024)
    }

    /// The number of bytes.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// Parses a size: a bare number of bytes or a number followed by a unit.
pub fn parse_byte_size(input: &str) -> Result<u64, ByteSizeError> {
    let err = |reason| ByteSizeError {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    if number.is_empty() {
        return Err(err("no number"));
    }
    let value: f64 = number.parse().map_err(|_| err("not a number"))?;
    let factor: f64 = match unit.trim() {
        "" | "B" | "b" => 1.0,
        "k" | "K" | "Ki" | "KiB" => 1024.0,
        "m" | "M" | "Mi" | "MiB" => 1024.0 * 1024.0,
        "g" | "G" | "Gi" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => return Err(err("unknown unit")),
    };
    let bytes = (value * factor).round();
    if !(bytes.is_finite() && bytes >= 0.0 && bytes <= u64::MAX as f64) {
        return Err(err("out of range"));
    }
    Ok(bytes as u64)
}

impl FromStr for ByteSize {
    type Err = ByteSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_byte_size(s).map(Self)
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly (`64KiB`), else
    /// bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, factor) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n > 0 && n.is_multiple_of(factor) {
                return write!(f, "{}{unit}", n / factor);
            }
        }
        write!(f, "{n}")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Self(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteSize".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        int_or_string_schema(
            "A size in bytes: a number, or a number with a unit (\"64KiB\", \"1MiB\", \"5MB\").",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_round_trips() {
        assert_eq!(parse_byte_size("65536").unwrap(), 65536);
        assert_eq!(parse_byte_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_byte_size("4k").unwrap(), 4096);
        assert_eq!(parse_byte_size("1.5MiB").unwrap(), 1_572_864);
        assert_eq!(parse_byte_size("5MB").unwrap(), 5_000_000);
        assert!(parse_byte_size("x").is_err());
        assert!(parse_byte_size("3 parsecs").is_err());
        let s: ByteSize = serde_json::from_value(serde_json::json!("1MiB")).unwrap();
        assert_eq!(s, ByteSize::mib(1));
        let n: ByteSize = serde_json::from_value(serde_json::json!(1000)).unwrap();
        assert_eq!(n.to_string(), "1000");
        assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!("1MiB"));
    }
}
