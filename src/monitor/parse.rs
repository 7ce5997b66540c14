//! Parser for the Prometheus text exposition format 0.0.4 and the
//! OpenMetrics 1.0 text format.
//!
//! Pure and I/O-free: [`parse`] makes one pass over the text, line by line,
//! without regular expressions. It is lenient where real exporters are sloppy
//! (trailing commas in label sets, blank lines, `\r\n` line ends, repeated
//! identical `HELP`/`TYPE` lines) and never panics: a malformed line becomes a
//! [`ParseError`] carrying its 1-based line number, and parsing goes on with
//! the next line.
//!
//! Samples are grouped into [`MetricFamily`]s by their `# TYPE` line, so
//! `foo_bucket`, `foo_sum` and `foo_count` all land in the histogram family
//! `foo`; a sample whose family has no `TYPE` goes into an
//! [`MetricType::Untyped`] family named after the sample.
//!
//! Timestamps are integer milliseconds in format 0.0.4 and (possibly
//! fractional) seconds in OpenMetrics; both are returned as milliseconds. A
//! document is taken to be OpenMetrics when it contains `# EOF`; a timestamp
//! written with a fraction or an exponent is always read as seconds.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One sample: a metric name, its labels, a value and an optional timestamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The full sample name, suffix included (`foo_bucket`, `foo_total`).
    pub name: String,
    /// Label names to (unescaped) label values; `le` and `quantile` included.
    pub labels: BTreeMap<String, String>,
    /// The value. In JSON, NaN and infinities are written as the strings
    /// `"NaN"`, `"+Inf"` and `"-Inf"`.
    #[serde(with = "float_json")]
    pub value: f64,
    /// The exposed timestamp in milliseconds since the Unix epoch, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// Whether the sample has every `(label, value)` pair in `matchers`.
    pub fn matches(&self, matchers: &[(&str, &str)]) -> bool {
        matchers.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

/// All samples of one metric, with its type and help text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFamily {
    /// The family name as written on the `TYPE` line (or the sample name for
    /// an untyped family).
    pub name: String,
    /// The declared type; [`MetricType::Untyped`] when no `TYPE` line.
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    /// The unescaped `HELP` text, if any.
    pub help: Option<String>,
    /// The samples in exposition order.
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// The samples whose full name is `name` (e.g. `foo_count`).
    pub fn samples_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The sum of the values of the samples named `name` that carry every
    /// label pair in `matchers`; `None` if no sample matched.
    pub fn sum(&self, name: &str, matchers: &[(&str, &str)]) -> Option<f64> {
        let mut found = false;
        let mut total = 0.0;
        for s in self.samples_named(name).filter(|s| s.matches(matchers)) {
            found = true;
            total += s.value;
        }
        found.then_some(total)
    }

    /// The cumulative buckets `(le, count)` of a histogram family, sorted by
    /// `le`, for the `_bucket` samples carrying every label pair in
    /// `matchers`. Series that differ in other labels are added up per `le`
    /// (like PromQL's `sum by (le)`). Buckets whose `le` is not a number are
    /// skipped. Feed the result to [`histogram_quantile`].
    pub fn histogram_buckets(&self, matchers: &[(&str, &str)]) -> Vec<(f64, f64)> {
        let bucket_name = format!("{}_bucket", self.name);
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for s in self.samples_named(&bucket_name) {
            if !s.matches(matchers) {
                continue;
            }
            let Some(le) = s.label("le").and_then(|v| parse_float(v).ok()) else {
                continue;
            };
            if le.is_nan() {
                continue;
            }
            match buckets.iter_mut().find(|(b, _)| *b == le) {
                Some((_, count)) => *count += s.value,
                None => buckets.push((le, s.value)),
            }
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }
}

/// The type of a metric family, as declared on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// A monotonically increasing count (`_total`, `_created`).
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// Cumulative buckets (`_bucket`, `_sum`, `_count`, `_created`).
    Histogram,
    /// Client-side quantiles (`{quantile=..}`, `_sum`, `_count`, `_created`).
    Summary,
    /// Format 0.0.4 `untyped`, and any sample with no `TYPE` line.
    #[default]
    Untyped,
    /// OpenMetrics `info` (`_info`).
    Info,
    /// OpenMetrics `stateset`.
    Stateset,
    /// OpenMetrics `gaugehistogram` (`_bucket`, `_gcount`, `_gsum`).
    GaugeHistogram,
    /// OpenMetrics `unknown`.
    Unknown,
}

impl MetricType {
    /// The word used on a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::Summary => "summary",
            Self::Untyped => "untyped",
            Self::Info => "info",
            Self::Stateset => "stateset",
            Self::GaugeHistogram => "gaugehistogram",
            Self::Unknown => "unknown",
        }
    }

    /// The sample-name suffixes that belong to a family of this type.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Self::Counter => &["_total", "_created"],
            Self::Histogram => &["_bucket", "_sum", "_count", "_created"],
            Self::Summary => &["_sum", "_count", "_created"],
            Self::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            Self::Info => &["_info"],
            Self::Gauge | Self::Untyped | Self::Stateset | Self::Unknown => &[],
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The word on a `# TYPE` line was not a known metric type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric type {0:?}")]
pub struct UnknownMetricType(pub String);

impl FromStr for MetricType {
    type Err = UnknownMetricType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const ALL: [MetricType; 9] = [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::Summary,
            MetricType::Untyped,
            MetricType::Info,
            MetricType::Stateset,
            MetricType::GaugeHistogram,
            MetricType::Unknown,
        ];
        ALL.into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownMetricType(s.to_string()))
    }
}

/// A line that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// The 1-based line number.
    pub line: usize,
    /// What was wrong with the line.
    pub message: String,
}

/// The result of [`parse`]: the families found and the lines that failed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// Families in order of first appearance.
    pub families: Vec<MetricFamily>,
    /// One entry per malformed line.
    pub errors: Vec<ParseError>,
}

impl Parsed {
    /// The family called `name`; failing that, the family holding a sample
    /// called `name` (so both `foo` and `foo_total` find an OpenMetrics
    /// counter `foo`).
    pub fn find(&self, name: &str) -> Option<&MetricFamily> {
        self.families.iter().find(|f| f.name == name).or_else(|| {
            self.families
                .iter()
                .find(|f| f.samples.iter().any(|s| s.name == name))
        })
    }
}

/// Parses a Prometheus 0.0.4 or OpenMetrics 1.0 text exposition.
pub fn parse(text: &str) -> Parsed {
    let mut b = Builder::default();
    let mut eof_line: Option<usize> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let lineno = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line = line.trim_start_matches([' ', '\t']);
        if line.trim_end_matches([' ', '\t']).is_empty() {
            continue;
        }
        if let Some(eof) = eof_line {
            b.error(
                lineno,
                format!("content after \"# EOF\" (line {eof}); rest of the document ignored"),
            );
            break;
        }
        let result = if let Some(comment) = line.strip_prefix('#') {
            match b.comment(comment) {
                Ok(Comment::Eof) => {
                    eof_line = Some(lineno);
                    Ok(())
                }
                Ok(Comment::Other) => Ok(()),
                Err(e) => Err(e),
            }
        } else {
            b.sample_line(line)
        };
        if let Err(message) = result {
            b.error(lineno, message);
        }
    }
    b.finish(eof_line.is_some())
}

/// Per-family bookkeeping that is not part of the output.
#[derive(Debug, Default, Clone, Copy)]
struct FamilyMeta {
    /// A `TYPE` line was seen for this family.
    typed: bool,
}

/// Every suffix that some metric type gives its samples.
const ALL_SUFFIXES: [&str; 8] = [
    "_bucket", "_sum", "_count", "_total", "_created", "_gcount", "_gsum", "_info",
];

/// A timestamp as written, resolved to milliseconds once the format is known.
#[derive(Debug, Clone, Copy)]
enum RawTimestamp {
    /// An integer: milliseconds in 0.0.4, seconds in OpenMetrics.
    Integer(i64),
    /// Written with a fraction or exponent: seconds, already in ms.
    Millis(i64),
}

enum Comment {
    Eof,
    Other,
}

#[derive(Default)]
struct Builder {
    families: Vec<MetricFamily>,
    meta: Vec<FamilyMeta>,
    index: HashMap<String, usize>,
    errors: Vec<ParseError>,
    /// Samples with an integer timestamp: (family, sample, raw value).
    int_timestamps: Vec<(usize, usize, i64)>,
}

impl Builder {
    fn error(&mut self, line: usize, message: String) {
        self.errors.push(ParseError { line, message });
    }

    fn family_index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.new_family(name.to_string())
    }

    fn new_family(&mut self, name: String) -> usize {
        let i = self.families.len();
        self.index.insert(name.clone(), i);
        self.families.push(MetricFamily {
            name,
            metric_type: MetricType::Untyped,
            help: None,
            samples: Vec::new(),
        });
        self.meta.push(FamilyMeta::default());
        i
    }

    /// The family a sample called `name` belongs to.
    fn family_for_sample(&mut self, name: &str) -> usize {
        let exact = self.index.get(name).copied();
        if let Some(i) = exact
            && self.meta[i].typed
        {
            return i;
        }
        // `name` is `<family><suffix>` for a declared family of a type that
        // has that suffix.
        for suffix in ALL_SUFFIXES {
            let Some(base) = name.strip_suffix(suffix) else {
                continue;
            };
            if let Some(&j) = self.index.get(base)
                && self.meta[j].typed
                && self.families[j].metric_type.suffixes().contains(&suffix)
            {
                return j;
            }
        }
        match exact {
            Some(i) => i,
            None => self.new_family(name.to_string()),
        }
    }

    /// Handles the text after a leading `#`.
    fn comment(&mut self, rest: &str) -> Result<Comment, String> {
        let rest = rest.trim_start_matches([' ', '\t']);
        let (keyword, after) = split_word(rest);
        match keyword {
            "EOF" if after.trim_end_matches([' ', '\t']).is_empty() => Ok(Comment::Eof),
            "HELP" | "TYPE" | "UNIT" if after.starts_with([' ', '\t']) => {
                let after = after.trim_start_matches([' ', '\t']);
                let (name, after) =
                    parse_name_token(after).map_err(|e| format!("{keyword} line: {e}"))?;
                if !after.is_empty() && !after.starts_with([' ', '\t']) {
                    return Err(format!(
                        "{keyword} line: unexpected text after the metric name"
                    ));
                }
                let after = after.strip_prefix([' ', '\t']).unwrap_or(after);
                match keyword {
                    "HELP" => self.help(&name, after),
                    "TYPE" => self.type_line(&name, after),
                    _ => Ok(Comment::Other), // UNIT: validated, not kept.
                }
            }
            _ => Ok(Comment::Other),
        }
    }

    fn help(&mut self, name: &str, text: &str) -> Result<Comment, String> {
        let i = self.family_index(name);
        // Keep the first HELP; a repeated one is tolerated.
        if self.families[i].help.is_none() {
            self.families[i].help = Some(unescape_help(text));
        }
        Ok(Comment::Other)
    }

    fn type_line(&mut self, name: &str, text: &str) -> Result<Comment, String> {
        let (word, rest) = split_word(text.trim_start_matches([' ', '\t']));
        if word.is_empty() {
            return Err(format!("TYPE line for {name:?} has no type"));
        }
        if !rest.trim_matches([' ', '\t']).is_empty() {
            return Err(format!(
                "TYPE line for {name:?}: unexpected text after the type"
            ));
        }
        let metric_type: MetricType = word.parse().map_err(|e| format!("{e}"))?;
        let i = self.family_index(name);
        if self.meta[i].typed {
            let declared = self.families[i].metric_type;
            if declared != metric_type {
                return Err(format!(
                    "second TYPE line for {name:?} says {metric_type}, first said {declared}"
                ));
            }
            return Ok(Comment::Other);
        }
        self.families[i].metric_type = metric_type;
        self.meta[i].typed = true;
        Ok(Comment::Other)
    }

    fn sample_line(&mut self, line: &str) -> Result<(), String> {
        let parsed = parse_sample(line)?;
        let fam = self.family_for_sample(&parsed.name);
        let sample_idx = self.families[fam].samples.len();
        let timestamp_ms = match parsed.timestamp {
            None => None,
            Some(RawTimestamp::Millis(ms)) => Some(ms),
            Some(RawTimestamp::Integer(v)) => {
                self.int_timestamps.push((fam, sample_idx, v));
                Some(v)
            }
        };
        self.families[fam].samples.push(Sample {
            name: parsed.name,
            labels: parsed.labels,
            value: parsed.value,
            timestamp_ms,
        });
        Ok(())
    }

    fn finish(mut self, openmetrics: bool) -> Parsed {
        if openmetrics {
            // Integer timestamps are seconds in OpenMetrics.
            for (f, s, secs) in std::mem::take(&mut self.int_timestamps) {
                if let Some(sample) = self.families.get_mut(f).and_then(|f| f.samples.get_mut(s)) {
                    sample.timestamp_ms = secs.checked_mul(1000);
                }
            }
        }
        Parsed {
            families: self.families,
            errors: self.errors,
        }
    }
}

/// A sample line, parsed but not yet assigned to a family.
struct RawSample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
    timestamp: Option<RawTimestamp>,
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
fn split_word(s: &str) -> (&str, &str) {
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
fn parse_name_token(s: &str) -> Result<(String, &str), String> {
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
fn unescape_help(text: &str) -> String {
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
fn parse_float(s: &str) -> Result<f64, String> {
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
fn parse_sample(line: &str) -> Result<RawSample, String> {
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

/// Computes the `q`-quantile from cumulative histogram buckets
/// `(upper bound "le", cumulative count)`, with the semantics of PromQL's
/// `histogram_quantile`: buckets are sorted by `le` and those with the same
/// `le` merged; the highest bucket must be `+Inf`; counts are made monotonic;
/// the value is interpolated linearly inside the bucket holding the rank
/// (from 0 for the lowest bucket if its bound is positive); a rank in the
/// `+Inf` bucket yields the second-highest bound.
///
/// Returns `Some(-Inf)` for `q < 0` and `Some(+Inf)` for `q > 1`, and `None`
/// where PromQL yields NaN: `q` is NaN, fewer than two buckets, no `+Inf`
/// bucket, no observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if q.is_nan() {
        return None;
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    let mut b: Vec<(f64, f64)> = buckets
        .iter()
        .copied()
        .filter(|(le, _)| !le.is_nan())
        .collect();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
        return None;
    }
    // Merge buckets with the same bound.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for (le, count) in b {
        match merged.last_mut() {
            Some((last_le, last_count)) if *last_le == le => *last_count += count,
            _ => merged.push((le, count)),
        }
    }
    let b = merged;
    // Correct float precision errors, then force monotonicity.
    let mut b = b;
    let mut prev = b[0].1;
    for bucket in b.iter_mut().skip(1) {
        let delta = (bucket.1 - prev).abs();
        if delta == 0.0 {
            continue;
        }
        if delta / bucket.1 <= 1e-12 {
            bucket.1 = prev;
        } else {
            prev = bucket.1;
        }
    }
    let mut max = b[0].1;
    for bucket in b.iter_mut().skip(1) {
        if bucket.1 > max {
            max = bucket.1;
        } else if bucket.1 < max {
            bucket.1 = max;
        }
    }
    if b.len() < 2 {
        return None;
    }
    let observations = b[b.len() - 1].1;
    if observations == 0.0 || observations.is_nan() {
        return None;
    }
    let mut rank = q * observations;
    // First bucket (excluding +Inf) whose count reaches the rank.
    let idx = b[..b.len() - 1]
        .iter()
        .position(|(_, c)| *c >= rank)
        .unwrap_or(b.len() - 1);
    if idx == b.len() - 1 {
        return Some(b[b.len() - 2].0);
    }
    if idx == 0 && b[0].0 <= 0.0 {
        return Some(b[0].0);
    }
    let bucket_end = b[idx].0;
    let mut count = b[idx].1;
    let mut bucket_start = 0.0;
    if idx > 0 {
        bucket_start = b[idx - 1].0;
        count -= b[idx - 1].1;
        rank -= b[idx - 1].1;
    }
    let v = bucket_start + (bucket_end - bucket_start) * (rank / count);
    (!v.is_nan()).then_some(v)
}

/// Serde helper writing non-finite floats as `"NaN"`, `"+Inf"`, `"-Inf"`
/// (JSON has no such numbers) and reading numbers or those strings back.
pub mod float_json {
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
            super::parse_float(v.trim()).map_err(E::custom)
        }
    }
}

#[cfg(test)]
mod tests;
