//! What the parser returns: samples grouped into metric families, their
//! types, and the errors of malformed lines.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::float_json;
use super::lexer::parse_float;

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
    pub(super) fn suffixes(self) -> &'static [&'static str] {
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
