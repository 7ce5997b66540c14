//! Slurm's `--time` formats, as a seed recipe hands them to `sbatch`,
//! converted to a Benchmark duration (`1h30m`).
//!
//! Slurm accepts `minutes`, `minutes:seconds`, `hours:minutes:seconds`,
//! `days-hours`, `days-hours:minutes` and `days-hours:minutes:seconds`; a
//! bare number is minutes. Durations already written the Benchmark way
//! (`2h`, `90m`) pass through, and so do `${VAR}` references (expanded and
//! checked after the conversion).

use std::time::Duration as StdDuration;

use serde_json::Value;

use crate::api::duration::{Duration, parse_duration};

/// Converts a seed `executor.time` to a Benchmark duration, or says why not.
pub fn convert(v: &Value) -> Result<Value, String> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(minutes) if minutes < 1_000_000_000 => Ok(text(minutes * 60)),
            _ => Err(format!(
                "{n} is not a whole number of minutes (Slurm reads a bare number as minutes)"
            )),
        },
        Value::String(s) if s.contains("${") => Ok(v.clone()),
        Value::String(s) => parse(s.trim()).map(text),
        _ => Err("expected Slurm's time format (e.g. 90, 1:30:00, 2-00:00:00)".to_string()),
    }
}

fn text(secs: u64) -> Value {
    Value::String(Duration(StdDuration::from_secs(secs)).to_string())
}

/// Seconds of a Slurm time string (or of a Benchmark duration).
fn parse(s: &str) -> Result<u64, String> {
    let upper = s.to_ascii_uppercase();
    if upper == "UNLIMITED" || upper == "INFINITE" {
        return Err(format!(
            "{s:?} has no equivalent: a Benchmark's Slurm time limit is finite (leave `time` out \
             for the partition's default)"
        ));
    }
    let bad = || {
        format!(
            "{s:?} is not a Slurm time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS) \
             nor a duration like 2h"
        )
    };
    let number = |part: &str| -> Result<u64, String> {
        if part.is_empty() || part.len() > 9 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    if let Some((days, rest)) = s.split_once('-') {
        let days = number(days)?;
        let parts: Vec<&str> = rest.split(':').collect();
        let [h, m, sec] = match parts.as_slice() {
            [h] => [number(h)?, 0, 0],
            [h, m] => [number(h)?, number(m)?, 0],
            [h, m, sec] => [number(h)?, number(m)?, number(sec)?],
            _ => return Err(bad()),
        };
        return Ok(((days * 24 + h) * 60 + m) * 60 + sec);
    }
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [m] if m.bytes().all(|b| b.is_ascii_digit()) => Ok(number(m)? * 60),
        [m, sec] => Ok(number(m)? * 60 + number(sec)?),
        [h, m, sec] => Ok((number(h)? * 60 + number(m)?) * 60 + number(sec)?),
        [d] => parse_duration(d).map(|d| d.as_secs()).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_slurm_format_converts() {
        let cases = [
            (json!(90), "1h30m"),
            (json!("90"), "1h30m"),
            (json!("5:30"), "5m30s"),
            (json!("01:30:00"), "1h30m"),
            (json!("2-00:00:00"), "48h"),
            (json!("1-12"), "36h"),
            (json!("1-00:30"), "24h30m"),
            (json!("2h"), "2h"),
            (json!("${T}"), "${T}"),
        ];
        for (input, want) in cases {
            assert_eq!(convert(&input), Ok(json!(want)), "{input}");
        }
    }

    #[test]
    fn refuses_what_slurm_would_not_take_or_has_no_equivalent() {
        for bad in [
            json!("1:2:3:4"),
            json!("x-01"),
            json!("1h:30"),
            json!(""),
            json!(1.5),
            json!(true),
        ] {
            assert!(convert(&bad).is_err(), "{bad}");
        }
        let e = convert(&json!("UNLIMITED")).unwrap_err();
        assert!(e.contains("no equivalent"), "{e}");
    }
}
