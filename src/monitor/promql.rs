//! PromQL range queries against an existing Prometheus, the pure part: the
//! `/api/v1/query_range` URL of a query, the window split into requests
//! Prometheus accepts, its JSON answer read, and answers turned into the
//! monitors' parsed records.
//!
//! An answer is `{"status": "success", "data": {"resultType": "matrix",
//! "result": [{"metric": {...}, "values": [[<unix s>, "<value>"], ...]}]}}`
//! or `{"status": "error", "errorType": ..., "error": ...}`; values are
//! strings and may be `NaN`, `+Inf` or `-Inf`.
//!
//! In the results the answers are records of `metrics/<id>.parsed.jsonl`
//! like a scrape's (see [`to_records`]): one record per evaluation time,
//! one gauge family per query, named as the query, one sample per series
//! with the series' labels, so whatever reads the scrapes (the HTML report)
//! reads these too.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::parse::{MetricFamily, MetricType, Sample};
use super::scrape::ParsedRecord;

/// Points per series and request at most: Prometheus refuses more than
/// 11,000; longer windows are asked for in several requests.
pub const MAX_POINTS_PER_REQUEST: i64 = 10_000;

/// One series of a range answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// Its labels (`__name__` included when the expression keeps it).
    pub metric: BTreeMap<String, String>,
    /// `(milliseconds since the Unix epoch, value)`, in time order.
    pub values: Vec<(i64, f64)>,
}

/// A successful range answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RangeAnswer {
    /// The series (none when nothing matched).
    pub series: Vec<RangeSeries>,
    /// Warnings Prometheus sent with the answer.
    pub warnings: Vec<String>,
}

/// Why an answer holds no series.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnswerError {
    /// Prometheus answered with an error (a bad query, a timeout, ...).
    #[error("Prometheus answered {error_type}: {error}")]
    Prometheus {
        /// `bad_data`, `timeout`, `execution`, ...
        error_type: String,
        /// Its message.
        error: String,
    },
    /// The body is not a Prometheus API answer.
    #[error("not a Prometheus API answer: {0}")]
    Malformed(String),
    /// A successful answer of another type than a range query's matrix.
    #[error("expected a matrix, got resultType {0:?}")]
    NotMatrix(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    status: String,
    data: Option<Data>,
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct MatrixEntry {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// Reads the body of a `/api/v1/query_range` answer.
pub fn parse_range_answer(body: &str) -> Result<RangeAnswer, AnswerError> {
    let env: Envelope =
        serde_json::from_str(body).map_err(|e| AnswerError::Malformed(e.to_string()))?;
    if env.status != "success" {
        return Err(AnswerError::Prometheus {
            error_type: env.error_type.unwrap_or_else(|| env.status.clone()),
            error: env.error.unwrap_or_default(),
        });
    }
    let data = env
        .data
        .ok_or_else(|| AnswerError::Malformed("status success without data".to_string()))?;
    if data.result_type != "matrix" {
        return Err(AnswerError::NotMatrix(data.result_type));
    }
    let entries: Vec<MatrixEntry> =
        serde_json::from_value(data.result).map_err(|e| AnswerError::Malformed(e.to_string()))?;
    let series = entries
        .into_iter()
        .map(|e| {
            let values = e
                .values
                .into_iter()
                .map(|(t, v)| Ok(((t * 1000.0).round() as i64, parse_value(&v)?)))
                .collect::<Result<Vec<_>, AnswerError>>()?;
            Ok(RangeSeries {
                metric: e.metric,
                values,
            })
        })
        .collect::<Result<Vec<_>, AnswerError>>()?;
    Ok(RangeAnswer {
        series,
        warnings: env.warnings,
    })
}

/// A sample value as Prometheus writes it: a float, `NaN`, `+Inf`, `-Inf`.
fn parse_value(v: &str) -> Result<f64, AnswerError> {
    match v {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => v
            .parse()
            .map_err(|_| AnswerError::Malformed(format!("sample value {v:?} is not a number"))),
    }
}

/// The URL of one range query: `base` (path prefix kept) +
/// `/api/v1/query_range` with `query`, `start`, `end` (Unix seconds) and
/// `step` (seconds).
pub fn query_url(
    base: &str,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step: Duration,
) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(&format!(
        "{}/api/v1/query_range",
        base.trim_end_matches('/')
    ))
    .map_err(|e| format!("invalid Prometheus URL {base:?}: {e}"))?;
    url.query_pairs_mut()
        .append_pair("query", query)
        .append_pair("start", &unix_seconds(start_ms))
        .append_pair("end", &unix_seconds(end_ms))
        .append_pair("step", &format!("{}", step.as_secs_f64()));
    Ok(url)
}

fn unix_seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// The window `[start_ms, end_ms]` split into requests of at most
/// [`MAX_POINTS_PER_REQUEST`] steps each, on one grid (`start + k·step`);
/// empty when the window is empty or `step` is zero.
pub fn windows(start_ms: i64, end_ms: i64, step: Duration) -> Vec<(i64, i64)> {
    let step_ms = step.as_millis() as i64;
    if step_ms <= 0 || end_ms < start_ms {
        return Vec::new();
    }
    let span = (MAX_POINTS_PER_REQUEST - 1) * step_ms;
    let mut out = Vec::new();
    let mut s = start_ms;
    while s <= end_ms {
        let e = (s + span).min(end_ms);
        out.push((s, e));
        s = s + span + step_ms;
    }
    out
}

/// One query's answer with its name and expression.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedAnswer {
    /// The query's name: the family name in the records.
    pub name: String,
    /// The PromQL expression: the family's help text.
    pub query: String,
    /// Its series.
    pub series: Vec<RangeSeries>,
}

/// The answers as parsed records of `target`: one per evaluation time (in
/// time order, `ts` that time), holding one gauge family per query with a
/// sample per series that has a point then (its labels, its value, its
/// time in `timestamp_ms`). NaN and infinities are kept.
pub fn to_records(target: &str, answers: &[NamedAnswer]) -> Vec<ParsedRecord> {
    let mut at: BTreeMap<i64, Vec<MetricFamily>> = BTreeMap::new();
    for a in answers {
        for s in &a.series {
            for &(ms, value) in &s.values {
                let families = at.entry(ms).or_default();
                let family = match families.iter().position(|f| f.name == a.name) {
                    Some(i) => &mut families[i],
                    None => {
                        families.push(MetricFamily {
                            name: a.name.clone(),
                            metric_type: MetricType::Gauge,
                            help: Some(a.query.clone()),
                            samples: Vec::new(),
                        });
                        let last = families.len() - 1;
                        &mut families[last]
                    }
                };
                family.samples.push(Sample {
                    name: a.name.clone(),
                    labels: s.metric.clone(),
                    value,
                    timestamp_ms: Some(ms),
                });
            }
        }
    }
    at.into_iter()
        .map(|(ms, families)| ParsedRecord {
            ts: jiff::Timestamp::from_millisecond(ms)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            target: target.to_string(),
            families,
            parse_errors: Vec::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
