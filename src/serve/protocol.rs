//! The requests of Grafana's JSON datasource (simpod-json-datasource 0.6.x,
//! "JSON" by SimPod, the successor of SimpleJSON) and their answers, over
//! an [`Index`]: what each endpoint reads from the body and returns. The
//! HTTP layer (`http`) only decodes bodies and encodes these values.
//!
//! A query chooses its run with its payload, `{"run": "<folder>"}` (a
//! string, or a list from a multi-value `$run`); without one it gets the
//! newest run. `/variable` lists the runs for a `$run` variable, newest
//! first; `/metrics` lists the selected run's metrics with a `run` payload
//! selector; `/query` answers time series (`target`, `datapoints`) clipped to
//! the range and thinned to `maxDataPoints`, the `annotations` target as a
//! table (time, timeEnd, title, text, tags) that Grafana turns into
//! annotations, and the `runs` target as a table of every run with the
//! range that shows it; `/annotations` answers SimpleJSON's annotation
//! request.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::ServeError;
use super::annotations::{self, Annotation};
use super::index::{Index, Run};
use super::series::{Point, Series};

/// The target that answers the run's annotations as a table.
pub const ANNOTATIONS: &str = "annotations";
/// The target that answers the runs as a table (name, phase, start, and
/// the range to open each over: `from_ms`, `to_ms`).
pub const RUNS: &str = "runs";
/// Margin around a run's start and end in the `runs` table's range.
const RUN_MARGIN_MS: i64 = 10_000;

/// `range` of a request: RFC 3339 instants.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Range {
    /// Start of the panel's time range.
    pub from: Option<String>,
    /// End of it.
    pub to: Option<String>,
}

impl Range {
    /// The bounds as Unix milliseconds (`None`: open).
    pub fn bounds(range: Option<&Range>) -> (Option<i64>, Option<i64>) {
        match range {
            Some(r) => (
                r.from.as_deref().and_then(annotations::unix_ms),
                r.to.as_deref().and_then(annotations::unix_ms),
            ),
            None => (None, None),
        }
    }
}

/// One query of `/query`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Target {
    /// The metric.
    pub target: Option<String>,
    /// Grafana's id of the query.
    pub ref_id: Option<String>,
    /// `{"run": ...}`.
    pub payload: Value,
    /// Hidden queries are skipped.
    pub hide: bool,
}

/// An ad hoc filter (`run = <folder>` selects the run).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AdhocFilter {
    /// The key.
    pub key: String,
    /// The operator.
    pub operator: String,
    /// The value.
    pub value: String,
}

/// The body of `/query`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QueryRequest {
    /// The panel's time range.
    pub range: Option<Range>,
    /// Grafana's interval between points.
    pub interval_ms: Option<f64>,
    /// Points per series at most.
    pub max_data_points: Option<f64>,
    /// The queries.
    pub targets: Vec<Target>,
    /// Ad hoc filters.
    pub adhoc_filters: Vec<AdhocFilter>,
}

/// The body of `/metrics` and `/metric-payload-options`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MetricsRequest {
    /// The metric selected so far.
    pub metric: Option<String>,
    /// The payload entered so far.
    pub payload: Value,
    /// `/metric-payload-options`: the payload whose options are wanted.
    pub name: Option<String>,
}

/// The body of `/variable`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VariableRequest {
    /// What the variable's query field holds: a string, or JSON.
    pub payload: Value,
}

/// The body of SimpleJSON's `/annotations`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AnnotationsRequest {
    /// The dashboard's time range.
    pub range: Option<Range>,
    /// The annotation query: `query` names the run.
    pub annotation: Value,
}

/// The body of `/tag-values`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TagValuesRequest {
    /// The key.
    pub key: String,
}

/// The runs a payload names: `run` as a string or a list; none (the newest)
/// when absent, empty, or a variable Grafana did not replace (`$run`).
pub fn runs_of(payload: &Value) -> Vec<String> {
    let named = |v: &Value| -> Option<String> {
        let s = v.as_str()?.trim();
        (!s.is_empty() && !s.starts_with('$')).then(|| s.to_string())
    };
    match payload.get("run") {
        Some(Value::Array(list)) => list.iter().filter_map(named).collect(),
        Some(v) => named(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn load(index: &Index, name: Option<&str>) -> Result<Arc<Run>, ServeError> {
    let entry = index.find(name)?;
    index.load(&entry)
}

/// The runs to answer a query with: those its payload names, else those
/// of a `run` ad hoc filter, else the newest.
fn selected(
    index: &Index,
    target: &Target,
    filters: &[AdhocFilter],
) -> Result<Vec<Arc<Run>>, ServeError> {
    let mut names = runs_of(&target.payload);
    if names.is_empty() {
        names = filters
            .iter()
            .filter(|f| f.key == "run" && f.operator == "=")
            .map(|f| f.value.clone())
            .collect();
    }
    if names.is_empty() {
        return Ok(vec![load(index, None)?]);
    }
    names.iter().map(|n| load(index, Some(n))).collect()
}

/// Points within `[from, to]`, at most `max` (consecutive groups averaged,
/// stamped at the group's last point, so a per-second value stays per
/// second).
pub fn clip_and_thin(
    points: &[Point],
    from: Option<i64>,
    to: Option<i64>,
    max: usize,
) -> Vec<Point> {
    let inside: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| from.is_none_or(|f| p.ms >= f) && to.is_none_or(|t| p.ms <= t))
        .collect();
    let max = max.max(1);
    if inside.len() <= max {
        return inside;
    }
    let group = inside.len().div_ceil(max);
    inside
        .chunks(group)
        .filter_map(|c| {
            let last = c.last()?;
            Some(Point {
                ms: last.ms,
                value: c.iter().map(|p| p.value).sum::<f64>() / c.len() as f64,
            })
        })
        .collect()
}

fn series_json(s: &Series, prefix: &str, from: Option<i64>, to: Option<i64>, max: usize) -> Value {
    let points: Vec<Value> = clip_and_thin(&s.points, from, to, max)
        .iter()
        .map(|p| json!([p.value, p.ms]))
        .collect();
    json!({ "target": format!("{prefix}{}", s.label), "datapoints": points })
}

fn annotations_table(notes: &[&Annotation], run_prefix: &str) -> Value {
    let rows: Vec<Value> = notes
        .iter()
        .map(|a| {
            json!([
                a.time_ms,
                a.end_ms.unwrap_or(a.time_ms),
                format!("{run_prefix}{}", a.title),
                a.text,
                a.tags.join(",")
            ])
        })
        .collect();
    json!({
        "type": "table",
        "columns": [
            {"text": "time", "type": "time"},
            {"text": "timeEnd", "type": "time"},
            {"text": "title", "type": "string"},
            {"text": "text", "type": "string"},
            {"text": "tags", "type": "string"},
        ],
        "rows": rows,
    })
}

/// Every run: its name, phase, start, and the range that shows it whole.
fn runs_table(index: &Index) -> Result<Value, ServeError> {
    let now = jiff::Timestamp::now().as_millisecond();
    let rows: Vec<Value> = index
        .runs()?
        .iter()
        .map(|r| {
            let start = r.started_ms.unwrap_or(now);
            let end = r.ended_ms.unwrap_or(now).max(start);
            json!([
                start,
                r.name,
                r.phase.as_deref().unwrap_or("unknown"),
                (end - start) as f64 / 1000.0,
                start - RUN_MARGIN_MS,
                end + RUN_MARGIN_MS
            ])
        })
        .collect();
    Ok(json!({
        "type": "table",
        "columns": [
            {"text": "started", "type": "time"},
            {"text": "run", "type": "string"},
            {"text": "phase", "type": "string"},
            {"text": "seconds", "type": "number"},
            {"text": "from_ms", "type": "number"},
            {"text": "to_ms", "type": "number"},
        ],
        "rows": rows,
    }))
}

/// `POST /query`: each target's series (or the annotations table) of the
/// runs it selects.
pub fn query(index: &Index, req: &QueryRequest) -> Result<Value, ServeError> {
    let (from, to) = Range::bounds(req.range.as_ref());
    let max = req
        .max_data_points
        .filter(|m| m.is_finite() && *m >= 1.0)
        .map_or(usize::MAX, |m| m as usize);
    let mut out = Vec::new();
    for t in req.targets.iter().filter(|t| !t.hide) {
        let Some(metric) = t.target.as_deref().filter(|m| !m.is_empty()) else {
            continue;
        };
        if metric == RUNS {
            out.push(runs_table(index)?);
            continue;
        }
        let runs = selected(index, t, &req.adhoc_filters)?;
        let several = runs.len() > 1;
        for run in &runs {
            let prefix = if several {
                format!("{}: ", run.name)
            } else {
                String::new()
            };
            if metric == ANNOTATIONS {
                let notes: Vec<&Annotation> = run
                    .annotations
                    .iter()
                    .filter(|a| annotations::in_range(a, from, to))
                    .collect();
                out.push(annotations_table(&notes, &prefix));
                continue;
            }
            out.extend(
                run.series
                    .iter()
                    .filter(|s| s.metric == metric)
                    .map(|s| series_json(s, &prefix, from, to, max)),
            );
        }
    }
    Ok(Value::Array(out))
}

fn run_payload(index: &Index) -> Result<Value, ServeError> {
    let options: Vec<Value> = index
        .runs()?
        .iter()
        .map(|r| json!({"label": r.name, "value": r.name}))
        .collect();
    Ok(json!({
        "name": "run",
        "label": "Run",
        "type": "select",
        "placeholder": "newest run",
        "reloadMetric": true,
        "width": 40,
        "options": options,
    }))
}

fn describe(metric: &str) -> String {
    match metric {
        ANNOTATIONS => "annotations: phase changes, conditions, stages (table)".to_string(),
        RUNS => "runs: every run with its time range (table)".to_string(),
        m if m.starts_with(super::series::LATENCY_PREFIX) => format!("{m} (ms, per stage)"),
        m => m.to_string(),
    }
}

/// `POST /metrics`: the selected run's metrics (the newest run's without a
/// `run` payload), each with the `run` payload selector.
pub fn metrics(index: &Index, req: &MetricsRequest) -> Result<Value, ServeError> {
    let names = runs_of(&req.payload);
    let run = load(index, names.first().map(String::as_str))?;
    let payload = run_payload(index)?;
    let list: Vec<Value> = run
        .metrics()
        .into_iter()
        .chain([ANNOTATIONS, RUNS])
        .map(|m| json!({"label": describe(m), "value": m, "payloads": [payload.clone()]}))
        .collect();
    Ok(Value::Array(list))
}

/// `POST /metric-payload-options`: the runs for the `run` payload, nothing
/// for any other.
pub fn payload_options(index: &Index, req: &MetricsRequest) -> Result<Value, ServeError> {
    if req.name.as_deref() != Some("run") {
        return Ok(json!([]));
    }
    Ok(Value::Array(
        index
            .runs()?
            .iter()
            .map(|r| json!({"label": r.name, "value": r.name}))
            .collect(),
    ))
}

/// `POST /variable`: the runs, newest first (`{"target": "metrics"}` with a
/// `run`: that run's metrics instead).
pub fn variable(index: &Index, req: &VariableRequest) -> Result<Value, ServeError> {
    let wants_metrics = match &req.payload {
        Value::String(s) => s.trim() == "metrics",
        v => v.get("target").and_then(Value::as_str) == Some("metrics"),
    };
    if wants_metrics {
        let names = runs_of(&req.payload);
        let run = load(index, names.first().map(String::as_str))?;
        return Ok(Value::Array(
            run.metrics()
                .into_iter()
                .map(|m| json!({"__text": m, "__value": m}))
                .collect(),
        ));
    }
    Ok(Value::Array(
        index
            .runs()?
            .iter()
            .map(|r| json!({"__text": r.name, "__value": r.name}))
            .collect(),
    ))
}

/// `POST /annotations` (SimpleJSON): the annotations of the run that the
/// annotation's `query` names (the newest when empty) within the range.
pub fn annotations(index: &Index, req: &AnnotationsRequest) -> Result<Value, ServeError> {
    let query = req
        .annotation
        .get("query")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|q| !q.is_empty() && !q.starts_with('$'));
    let run = load(index, query)?;
    let (from, to) = Range::bounds(req.range.as_ref());
    Ok(Value::Array(
        run.annotations
            .iter()
            .filter(|a| annotations::in_range(a, from, to))
            .map(|a| {
                json!({
                    "annotation": req.annotation,
                    "time": a.time_ms,
                    "timeEnd": a.end_ms.unwrap_or(a.time_ms),
                    "isRegion": a.end_ms.is_some(),
                    "title": a.title,
                    "text": a.text,
                    "tags": a.tags,
                })
            })
            .collect(),
    ))
}

/// `POST /tag-keys`: one ad hoc filter key, `run`.
pub fn tag_keys() -> Value {
    json!([{"type": "string", "text": "run"}])
}

/// `POST /tag-values`: the runs for `run`, nothing for other keys.
pub fn tag_values(index: &Index, req: &TagValuesRequest) -> Result<Value, ServeError> {
    if req.key != "run" {
        return Ok(json!([]));
    }
    Ok(Value::Array(
        index
            .runs()?
            .iter()
            .map(|r| json!({"text": r.name}))
            .collect(),
    ))
}

/// SimpleJSON's `POST /search`: the newest run's metric names.
pub fn search(index: &Index) -> Result<Value, ServeError> {
    let run = load(index, None)?;
    Ok(json!(run.metrics()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_from_payloads() {
        assert_eq!(runs_of(&json!({"run": "a"})), ["a"]);
        assert_eq!(runs_of(&json!({"run": ["a", "b"]})), ["a", "b"]);
        assert!(runs_of(&json!({"run": "$run"})).is_empty());
        assert!(runs_of(&json!({"run": " "})).is_empty());
        assert!(runs_of(&json!("x")).is_empty());
        assert!(runs_of(&Value::Null).is_empty());
    }

    #[test]
    fn clipped_to_the_range_and_thinned_by_averaging() {
        let points: Vec<Point> = (0..10)
            .map(|k| Point {
                ms: k * 1000,
                value: k as f64,
            })
            .collect();
        let inside = clip_and_thin(&points, Some(2000), Some(5000), 100);
        assert_eq!(inside.len(), 4);
        assert_eq!(inside[0].ms, 2000);
        let thin = clip_and_thin(&points, None, None, 5);
        assert_eq!(thin.len(), 5);
        assert_eq!(
            thin[0],
            Point {
                ms: 1000,
                value: 0.5
            }
        );
        let sum: f64 = thin.iter().map(|p| p.value * 2.0).sum();
        assert_eq!(sum, 45.0);
        assert_eq!(clip_and_thin(&points, None, None, 0).len(), 1);
    }
}
