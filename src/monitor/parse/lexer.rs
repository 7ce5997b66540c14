//! Reads one line of a document without regular expressions: metric and
//! label names, label sets (lenient about trailing commas), quoted strings
//! and their escapes, values, and timestamps.

use std::collections::BTreeMap;

/// A timestamp as written, resolved to milliseconds once the format is known.
#[derive(Debug, Clone, Copy)]
pub(super) enum RawTimestamp {
    /// An integer: milliseconds in 0.0.4, seconds in OpenMetrics.
    Integer(i64),
    /// Written with a fraction or exponent: seconds, already in ms.
    Millis(i64),
}

/// A sample line, parsed but not yet assigned to a family.
pub(super) struct RawSample {
    pub(super) name: String,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) value: f64,
    pub(super) timestamp: Option<RawTimestamp>,
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits off the first blank-delimited word.
pub(super) fn split_word(s: &str) -> (&str, &str) {
    match s.find([' ', '\t']) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    }
}

/// Skips blanks from `pos`.
fn skip_blanks(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos).copied().is_some_and(is_blank) {
        pos += 1;
    }
    pos
}

/// Reads a bare name (`pred_start` then `pred_rest`*) at `pos`; returns its end.
fn scan_name(bytes: &[u8], pos: usize, start: fn(u8) -> bool, rest: fn(u8) -> bool) -> usize {
    if !bytes.get(pos).copied().is_some_and(start) {
        return pos;
    }
    let mut end = pos + 1;
    while bytes.get(end).copied().is_some_and(rest) {
        end += 1;
    }
    end
}

/// A metric name at the start of `s`: bare (`vllm:foo_total`) or quoted
/// (`"my.metric"`, Prometheus 3 UTF-8 names). Returns it and the rest.
pub(super) fn parse_name_token(s: &str) -> Result<(String, &str), String> {
    let bytes = s.as_bytes();
    if bytes.first() == Some(&b'"') {
        let (name, end) = parse_quoted(s, 1)?;
        if name.is_empty() {
            return Err("empty metric name".to_string());
        }
        return Ok((name, &s[end..]));
    }
    let end = scan_name(bytes, 0, is_name_start, is_name_char);
    if end == 0 {
        return Err(match s.chars().next() {
            Some(c) => format!("expected a metric name, found {c:?}"),
            None => "expected a metric name".to_string(),
        });
    }
    Ok((s[..end].to_string(), &s[end..]))
}

/// Reads a quoted string whose opening `"` is just before `pos`, unescaping
/// `\\`, `\"` and `\n` (any other escape is kept as written). Returns the
/// text and the position after the closing quote.
fn parse_quoted(s: &str, mut pos: usize) -> Result<(String, usize), String> {
    let bytes = s.as_bytes();
    let mut out = String::new();
    let mut seg = pos;
    loop {
        match bytes.get(pos) {
            None => return Err("unterminated quoted string".to_string()),
            Some(b'"') => {
                out.push_str(&s[seg..pos]);
                return Ok((out, pos + 1));
            }
            Some(b'\\') => {
                out.push_str(&s[seg..pos]);
                match bytes.get(pos + 1) {
                    Some(b'n') => out.push('\n'),
                    Some(b'\\') => out.push('\\'),
                    Some(b'"') => out.push('"'),
                    Some(_) => {
                        // Unknown escape: keep the backslash, the next
                        // character is copied as part of the next segment.
                        out.push('\\');
                        pos += 1;
                        seg = pos;
                        continue;
                    }
                    None => return Err("unterminated quoted string".to_string()),
                }
                pos += 2;
                seg = pos;
            }
            Some(_) => pos += 1,
        }
    }
}

/// Unescapes HELP text: `\\`, `\n` (and OpenMetrics' `\"`).
pub(super) fn unescape_help(text: &str) -> String {
    if !text.contains('\\') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Parses a sample value or `le`/`quantile` label: a float, `NaN`, `+Inf`,
/// `-Inf` (case-insensitive, as Go's `ParseFloat`).
pub(super) fn parse_float(s: &str) -> Result<f64, String> {
    // Rust accepts "inf", "infinity" and "nan" in any case, with a sign.
    s.parse::<f64>().map_err(|_| format!("invalid value {s:?}"))
}

fn parse_timestamp(s: &str) -> Result<RawTimestamp, String> {
    if s.bytes()
        .all(|b| b.is_ascii_digit() || b == b'-' || b == b'+')
    {
        return s
            .parse::<i64>()
            .map(RawTimestamp::Integer)
            .map_err(|_| format!("invalid timestamp {s:?}"));
    }
    let secs: f64 = s.parse().map_err(|_| format!("invalid timestamp {s:?}"))?;
    let ms = (secs * 1000.0).round();
    // i64::MAX as f64 rounds up to 2^63, so compare with strict bounds.
    if !ms.is_finite() || ms >= 9.2e18 || ms <= -9.2e18 {
        return Err(format!("timestamp {s:?} out of range"));
    }
    Ok(RawTimestamp::Millis(ms as i64))
}

/// Parses `name{labels} value [timestamp] [# exemplar]`.
pub(super) fn parse_sample(line: &str) -> Result<RawSample, String> {
    let bytes = line.as_bytes();
    let mut labels = BTreeMap::new();
    let mut pos;
    let name: Option<String>;
    if bytes.first() == Some(&b'{') {
        // Prometheus 3 form: {"metric.name", label="value"}.
        let (n, end) = parse_label_set(line, 1, &mut labels, true)?;
        name = n;
        pos = end;
    } else {
        let end = scan_name(bytes, 0, is_name_start, is_name_char);
        if end == 0 {
            let c = line.chars().next().unwrap_or(' ');
            return Err(format!("expected a metric name, found {c:?}"));
        }
        name = Some(line[..end].to_string());
        pos = skip_blanks(bytes, end);
        if bytes.get(pos) == Some(&b'{') {
            let (_, end) = parse_label_set(line, pos + 1, &mut labels, false)?;
            pos = end;
        } else if pos == end {
            return match line[end..].chars().next() {
                Some(c) => Err(format!("unexpected character {c:?} after the metric name")),
                None => Err("missing value".to_string()),
            };
        }
    }
    let Some(name) = name else {
        return Err("label set without a metric name".to_string());
    };
    pos = skip_blanks(bytes, pos);
    let value_start = pos;
    while bytes.get(pos).is_some_and(|&b| !is_blank(b)) {
        pos += 1;
    }
    if pos == value_start {
        return Err(format!("missing value for {name:?}"));
    }
    let value = parse_float(&line[value_start..pos])?;
    pos = skip_blanks(bytes, pos);
    let mut timestamp = None;
    if pos < bytes.len() && bytes[pos] != b'#' {
        let ts_start = pos;
        while bytes.get(pos).is_some_and(|&b| !is_blank(b)) {
            pos += 1;
        }
        timestamp = Some(parse_timestamp(&line[ts_start..pos])?);
        pos = skip_blanks(bytes, pos);
    }
    // Anything left must be an exemplar (` # {...} value [ts]`), ignored.
    if pos < bytes.len() && bytes[pos] != b'#' {
        return Err(format!(
            "unexpected text {:?} after the sample",
            truncate(&line[pos..], 40)
        ));
    }
    Ok(RawSample {
        name,
        labels,
        value,
        timestamp,
    })
}

/// Parses the inside of `{...}` starting at `pos` (just after `{`) into
/// `labels`. If `name_allowed`, a lone quoted string is the metric name.
/// Returns that name (if any) and the position after `}`.
fn parse_label_set(
    line: &str,
    mut pos: usize,
    labels: &mut BTreeMap<String, String>,
    name_allowed: bool,
) -> Result<(Option<String>, usize), String> {
    let bytes = line.as_bytes();
    let mut name = None;
    loop {
        pos = skip_blanks(bytes, pos);
        match bytes.get(pos) {
            None => return Err("unterminated label set".to_string()),
            Some(b'}') => return Ok((name, pos + 1)),
            _ => {}
        }
        let label: String;
        if bytes[pos] == b'"' {
            let (text, end) = parse_quoted(line, pos + 1)?;
            pos = skip_blanks(bytes, end);
            if name_allowed && name.is_none() && matches!(bytes.get(pos), Some(b',' | b'}')) {
                if text.is_empty() {
                    return Err("empty metric name".to_string());
                }
                name = Some(text);
                if bytes.get(pos) == Some(&b',') {
                    pos += 1;
                }
                continue;
            }
            label = text;
        } else {
            let end = scan_name(bytes, pos, is_label_start, is_label_char);
            if end == pos {
                let c = line[pos..].chars().next().unwrap_or(' ');
                return Err(format!("expected a label name, found {c:?}"));
            }
            label = line[pos..end].to_string();
            pos = skip_blanks(bytes, end);
        }
        if bytes.get(pos) != Some(&b'=') {
            return Err(format!("expected '=' after label name {label:?}"));
        }
        pos = skip_blanks(bytes, pos + 1);
        if bytes.get(pos) != Some(&b'"') {
            return Err(format!(
                "expected '\"' to open the value of label {label:?}"
            ));
        }
        let (value, end) =
            parse_quoted(line, pos + 1).map_err(|e| format!("value of label {label:?}: {e}"))?;
        if labels.contains_key(&label) {
            return Err(format!("duplicate label {label:?}"));
        }
        labels.insert(label, value);
        pos = skip_blanks(bytes, end);
        match bytes.get(pos) {
            Some(b',') => pos += 1,
            Some(b'}') => {}
            None => return Err("unterminated label set".to_string()),
            Some(_) => {
                let c = line[pos..].chars().next().unwrap_or(' ');
                return Err(format!("expected ',' or '}}' in label set, found {c:?}"));
            }
        }
    }
}

/// At most `max` characters of `s`, for error messages.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
