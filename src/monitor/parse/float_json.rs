//! Serde helper writing non-finite floats as `"NaN"`, `"+Inf"`, `"-Inf"`
//! (JSON has no such numbers) and reading numbers or those strings back.

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

/// Writes a finite float as a number, otherwise as a string.
pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_nan() {
        s.serialize_str("NaN")
    } else if *v == f64::INFINITY {
        s.serialize_str("+Inf")
    } else if *v == f64::NEG_INFINITY {
        s.serialize_str("-Inf")
    } else {
        s.serialize_f64(*v)
    }
}

/// Reads a number, or a string such as `"NaN"`, `"+Inf"`, `"-Inf"`, `"1.5"`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(FloatVisitor)
}

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or one of \"NaN\", \"+Inf\", \"-Inf\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        super::lexer::parse_float(v.trim()).map_err(E::custom)
    }
}
