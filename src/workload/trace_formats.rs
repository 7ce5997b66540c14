//! Parsers of the request-trace formats replayed by the `openai` workload
//! (`workload.openai.trace`). Each turns a file's text into
//! [`TraceEntry`]s: arrival time (as in the file, not yet rebased), input
//! and output length in tokens, and Mooncake's prompt block hashes. Pure.
//!
//! - `aifbench`: JSON Lines, one object per non-empty line: `timestamp`
//!   (seconds, a number) or `timestamp_ms` (milliseconds), `input_tokens`,
//!   `output_tokens` (whole numbers, at least 1). Other keys are ignored.
//! - `burstgpt`: BurstGPT's CSV with a header line; read are `Timestamp`
//!   (seconds), `Request tokens` and `Response tokens` (the columns may come
//!   in any order; `Model`, `Total tokens` and `Log Type` are ignored). Rows
//!   with 0 request or 0 response tokens (requests that failed in the
//!   original service) are skipped, as vLLM's BurstGPT loader does.
//! - `mooncake`: Mooncake's JSON Lines: `timestamp` (milliseconds),
//!   `input_length`, `output_length`, and optional `hash_ids` (one id per
//!   512-token block of the prompt; equal ids are equal blocks).

use std::time::Duration;

use serde_json::Value;

/// Tokens per block of Mooncake's `hash_ids`.
pub const MOONCAKE_BLOCK_TOKENS: u32 = 512;

/// One request of a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEntry {
    /// Arrival time as the file gives it (from the file's own origin).
    pub at: Duration,
    /// Prompt length in tokens.
    pub input_tokens: u32,
    /// Output length in tokens (sent as `max_tokens`).
    pub output_tokens: u32,
    /// Mooncake: ids of the prompt's 512-token blocks (equal ids, equal
    /// text); empty otherwise.
    pub hash_ids: Vec<u64>,
}

/// A whole number of tokens, at least 1, from `v[key]`.
fn tokens(v: &Value, key: &str, line: usize) -> Result<u32, String> {
    let n = v
        .get(key)
        .ok_or_else(|| format!("line {line}: missing \"{key}\" (a whole number of tokens)"))?;
    match n.as_u64() {
        Some(n) if n >= 1 => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        _ => Err(format!(
            "line {line}: \"{key}\" is {n}; expected a whole number of tokens, at least 1"
        )),
    }
}

/// A time from seconds (or milliseconds when `ms`), non-negative and finite.
fn time(x: f64, ms: bool) -> Option<Duration> {
    let secs = if ms { x / 1000.0 } else { x };
    Duration::try_from_secs_f64(secs).ok()
}

/// The JSON object of one line, with the line number (from 1) in errors.
fn json_lines(text: &str) -> impl Iterator<Item = Result<(usize, Value), String>> + '_ {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: Value = serde_json::from_str(l.trim())
                .map_err(|e| format!("line {}: not a JSON object: {e}", i + 1))?;
            if !v.is_object() {
                return Err(format!("line {}: not a JSON object", i + 1));
            }
            Ok((i + 1, v))
        })
}

/// Parses aifbench's JSON Lines trace format.
pub fn parse_aifbench(text: &str) -> Result<Vec<TraceEntry>, String> {
    json_lines(text)
        .map(|line| {
            let (n, v) = line?;
            let at = match (v.get("timestamp"), v.get("timestamp_ms")) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "line {n}: give one of \"timestamp\" (seconds) and \"timestamp_ms\", not both"
                    ));
                }
                (Some(t), None) => (t, false),
                (None, Some(t)) => (t, true),
                (None, None) => {
                    return Err(format!(
                        "line {n}: missing \"timestamp\" (arrival time in seconds) or \"timestamp_ms\""
                    ));
                }
            };
            let at = at.0.as_f64().and_then(|x| time(x, at.1)).ok_or_else(|| {
                format!("line {n}: the arrival time {} is not a number >= 0", at.0)
            })?;
            Ok(TraceEntry {
                at,
                input_tokens: tokens(&v, "input_tokens", n)?,
                output_tokens: tokens(&v, "output_tokens", n)?,
                hash_ids: Vec::new(),
            })
        })
        .collect()
}

/// Parses Mooncake's JSON Lines trace format.
pub fn parse_mooncake(text: &str) -> Result<Vec<TraceEntry>, String> {
    json_lines(text)
        .map(|line| {
            let (n, v) = line?;
            let t = v.get("timestamp").ok_or_else(|| {
                format!("line {n}: missing \"timestamp\" (arrival time in milliseconds)")
            })?;
            let at = t
                .as_f64()
                .and_then(|x| time(x, true))
                .ok_or_else(|| format!("line {n}: \"timestamp\" {t} is not a number >= 0"))?;
            let hash_ids = match v.get("hash_ids") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(ids)) => ids
                    .iter()
                    .map(|id| {
                        id.as_u64().ok_or_else(|| {
                            format!("line {n}: \"hash_ids\" holds {id}; expected whole numbers")
                        })
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => {
                    return Err(format!(
                        "line {n}: \"hash_ids\" is {other}; expected an array of whole numbers"
                    ));
                }
            };
            Ok(TraceEntry {
                at,
                input_tokens: tokens(&v, "input_length", n)?,
                output_tokens: tokens(&v, "output_length", n)?,
                hash_ids,
            })
        })
        .collect()
}

/// BurstGPT's columns read, as named in its header.
const BURSTGPT_COLUMNS: [&str; 3] = ["Timestamp", "Request tokens", "Response tokens"];

/// Parses BurstGPT's CSV trace format (unquoted fields, as the published
/// files are). Returns the entries and the number of rows skipped for 0
/// tokens.
pub fn parse_burstgpt(text: &str) -> Result<(Vec<TraceEntry>, u64), String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or("the file is empty; expected a CSV header line")?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut cols = [0usize; 3];
    for (slot, want) in cols.iter_mut().zip(BURSTGPT_COLUMNS) {
        *slot = names.iter().position(|n| *n == want).ok_or_else(|| {
            format!(
                "line 1: no column \"{want}\" in the header {names:?}; BurstGPT files have Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type"
            )
        })?;
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    for (i, line) in lines {
        let n = i + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let field = |k: usize| {
            fields.get(cols[k]).copied().ok_or_else(|| {
                format!(
                    "line {n}: {} fields, no \"{}\" (column {})",
                    fields.len(),
                    BURSTGPT_COLUMNS[k],
                    cols[k] + 1
                )
            })
        };
        let ts = field(0)?;
        let at = ts
            .parse::<f64>()
            .ok()
            .and_then(|x| time(x, false))
            .ok_or_else(|| format!("line {n}: Timestamp {ts:?} is not a number of seconds >= 0"))?;
        let count = |k: usize| -> Result<u64, String> {
            let s = field(k)?;
            // Some exports write counts as floats ("12.0").
            s.parse::<u64>()
                .ok()
                .or_else(|| {
                    s.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite() && *x >= 0.0 && x.fract() == 0.0)
                        .map(|x| x as u64)
                })
                .ok_or_else(|| {
                    format!(
                        "line {n}: {} {s:?} is not a whole number of tokens",
                        BURSTGPT_COLUMNS[k]
                    )
                })
        };
        let (input, output) = (count(1)?, count(2)?);
        if input == 0 || output == 0 {
            skipped += 1;
            continue;
        }
        out.push(TraceEntry {
            at,
            input_tokens: u32::try_from(input).unwrap_or(u32::MAX),
            output_tokens: u32::try_from(output).unwrap_or(u32::MAX),
            hash_ids: Vec::new(),
        });
    }
    Ok((out, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    #[test]
    fn aifbench_seconds_or_milliseconds() {
        let text = "{\"timestamp\": 0.5, \"input_tokens\": 10, \"output_tokens\": 3}\n\n\
                    {\"timestamp_ms\": 1250, \"input_tokens\": 1, \"output_tokens\": 1, \"note\": \"x\"}\n";
        let e = parse_aifbench(text).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].at, e[0].input_tokens, e[0].output_tokens),
            (ms(500), 10, 3)
        );
        assert_eq!(e[1].at, ms(1250));
        assert!(e[1].hash_ids.is_empty());
    }

    #[test]
    fn aifbench_errors_name_the_line_and_the_key() {
        let err = |t: &str| parse_aifbench(t).unwrap_err();
        let e = err("{\"input_tokens\": 1, \"output_tokens\": 1}");
        assert!(e.contains("line 1") && e.contains("\"timestamp\""), "{e}");
        let e = err(
            "{\"timestamp\": 0, \"input_tokens\": 1, \"output_tokens\": 1}\n{\"timestamp\": 1, \"input_tokens\": 1}",
        );
        assert!(e.contains("line 2") && e.contains("output_tokens"), "{e}");
        let e = err("{\"timestamp\": -1, \"input_tokens\": 1, \"output_tokens\": 1}");
        assert!(e.contains(">= 0"), "{e}");
        let e = err("{\"timestamp\": 0, \"input_tokens\": 0, \"output_tokens\": 1}");
        assert!(e.contains("at least 1"), "{e}");
        let e = err(
            "{\"timestamp\": 0, \"timestamp_ms\": 0, \"input_tokens\": 1, \"output_tokens\": 1}",
        );
        assert!(e.contains("not both"), "{e}");
        assert!(err("[1]").contains("not a JSON object"));
        assert!(err("{oops").contains("line 1"));
    }

    #[test]
    fn mooncake_reads_milliseconds_lengths_and_hash_ids() {
        let text = r#"{"timestamp": 0, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47, 48]}
{"timestamp": 27482, "input_length": 6472, "output_length": 26, "hash_ids": [46, 47, 49]}
{"timestamp": 30535, "input_length": 100, "output_length": 1}"#;
        let e = parse_mooncake(text).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].at, ms(27_482));
        assert_eq!((e[0].input_tokens, e[0].output_tokens), (6955, 52));
        assert_eq!(e[1].hash_ids, vec![46, 47, 49]);
        assert!(e[2].hash_ids.is_empty());
        let bad = parse_mooncake(r#"{"timestamp": 1, "input_length": 5}"#).unwrap_err();
        assert!(bad.contains("output_length"), "{bad}");
        let bad = parse_mooncake(
            r#"{"timestamp": 1, "input_length": 5, "output_length": 2, "hash_ids": "a"}"#,
        )
        .unwrap_err();
        assert!(bad.contains("hash_ids"), "{bad}");
        // Seconds are not milliseconds: aifbench's key is not Mooncake's.
        let bad = parse_mooncake(r#"{"timestamp_ms": 1, "input_length": 5, "output_length": 2}"#)
            .unwrap_err();
        assert!(bad.contains("milliseconds"), "{bad}");
    }

    #[test]
    fn burstgpt_reads_its_columns_and_skips_failed_rows() {
        let text = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
                    5,ChatGPT,472,18,490,Conversation log\n\
                    45,ChatGPT,1087,0,1087,Conversation log\n\
                    118.5,GPT-4,417,276,693,API log\n";
        let (e, skipped) = parse_burstgpt(text).unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].at, e[0].input_tokens, e[0].output_tokens),
            (ms(5000), 472, 18)
        );
        assert_eq!(e[1].at, ms(118_500));
        // Columns found by name, in any order.
        let (e, _) = parse_burstgpt("Response tokens,Timestamp,Request tokens\n7,1,9\n").unwrap();
        assert_eq!(
            (e[0].at, e[0].input_tokens, e[0].output_tokens),
            (ms(1000), 9, 7)
        );
    }

    #[test]
    fn burstgpt_errors_name_the_column() {
        let e = parse_burstgpt("Time,Model,Request tokens,Response tokens\n").unwrap_err();
        assert!(e.contains("\"Timestamp\"") && e.contains("Log Type"), "{e}");
        let e = parse_burstgpt("Timestamp,Request tokens,Response tokens\n1,x,2\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("Request tokens"), "{e}");
        let e = parse_burstgpt("Timestamp,Request tokens,Response tokens\n1,2\n").unwrap_err();
        assert!(e.contains("Response tokens"), "{e}");
        assert!(parse_burstgpt("").unwrap_err().contains("header"));
    }
}
