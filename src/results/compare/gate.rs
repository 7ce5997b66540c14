//! `--fail-if` gates of `aifbench compare`: `METRIC>+N%`, `METRIC<-N%`
//! (relative change), `METRIC>N`, `METRIC<-N` (change in the metric's own
//! unit). A gate trips on a run when its change passes the limit AND the
//! difference is beyond noise (see [`super::noise`]), so that a CI job does
//! not fail on run-to-run jitter. Pure.

use serde::Serialize;

use super::{Comparison, Verdict};

/// A gate expression that does not parse.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "invalid --fail-if {expr:?}: {reason}; expected METRIC>LIMIT or METRIC<LIMIT with LIMIT a change such as +10%, -5%, or 20 (in the metric's unit), e.g. 'ttft.p99>+10%', 'request_throughput<-5%', 'e2el.mean>20'"
)]
pub struct GateError {
    /// The expression.
    pub expr: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Which way the change must go to trip the gate.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// `>`: trips when the change is above the limit.
    Above,
    /// `<`: trips when the change is below the limit.
    Below,
}

/// One parsed gate.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Gate {
    /// The expression as given.
    pub expr: String,
    /// The row name (`ttft.p99`, `request_throughput`, ...).
    pub metric: String,
    /// `>` or `<`.
    pub direction: Direction,
    /// The limit of the change.
    pub limit: f64,
    /// Whether the limit is in percent of the baseline.
    pub relative: bool,
}

/// Parses `METRIC>LIMIT` / `METRIC<LIMIT`.
pub fn parse_gate(expr: &str) -> Result<Gate, GateError> {
    let err = |reason: &str| GateError {
        expr: expr.to_string(),
        reason: reason.to_string(),
    };
    let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let (at, direction) = match (compact.find('>'), compact.find('<')) {
        (Some(i), None) => (i, Direction::Above),
        (None, Some(i)) => (i, Direction::Below),
        (None, None) => return Err(err("no '>' or '<'")),
        (Some(_), Some(_)) => return Err(err("both '>' and '<'")),
    };
    let metric = &compact[..at];
    let mut limit = &compact[at + 1..];
    if metric.is_empty() {
        return Err(err("no metric before the operator"));
    }
    if limit.starts_with(['=', '>', '<']) {
        return Err(err("only '>' and '<' are accepted"));
    }
    let relative = limit.ends_with('%');
    if relative {
        limit = &limit[..limit.len() - 1];
    }
    let value: f64 = limit
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| err(&format!("{limit:?} is not a number")))?;
    Ok(Gate {
        expr: expr.to_string(),
        metric: metric.to_string(),
        direction,
        limit: value,
        relative,
    })
}

/// A gate that tripped on a run.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Tripped {
    /// The expression.
    pub gate: String,
    /// The run's label.
    pub run: String,
    /// The change, in percent or in the metric's unit as the gate is.
    pub change: f64,
}

/// Every gate names a row of the comparison; the error lists the names.
pub fn check_names(gates: &[Gate], cmp: &Comparison) -> Result<(), GateError> {
    for g in gates {
        if !cmp.rows.iter().any(|r| r.name == g.metric) {
            let names: Vec<&str> = cmp.rows.iter().map(|r| r.name.as_str()).collect();
            return Err(GateError {
                expr: g.expr.clone(),
                reason: format!(
                    "no metric {:?} in these runs (they have: {})",
                    g.metric,
                    names.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The gates that trip: for each run after the baseline, a change past the
/// limit that is also beyond noise.
pub fn evaluate(gates: &[Gate], cmp: &Comparison) -> Vec<Tripped> {
    let mut out = Vec::new();
    for g in gates {
        let Some(row) = cmp.rows.iter().find(|r| r.name == g.metric) else {
            continue;
        };
        for cell in &row.others {
            if cell.verdict != Verdict::Differs {
                continue;
            }
            let change = if g.relative {
                cell.change_pct
            } else {
                cell.change_abs
            };
            let Some(change) = change else { continue };
            let trips = match g.direction {
                Direction::Above => change > g.limit,
                Direction::Below => change < g.limit,
            };
            if trips {
                out.push(Tripped {
                    gate: g.expr.clone(),
                    run: cmp.runs[cell.run].label.clone(),
                    change,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_relative_and_absolute_gates() {
        let g = parse_gate("ttft.p99>+10%").unwrap();
        assert_eq!(
            (g.metric.as_str(), g.direction, g.limit, g.relative),
            ("ttft.p99", Direction::Above, 10.0, true)
        );
        let g = parse_gate(" request_throughput < -5% ").unwrap();
        assert_eq!(
            (g.metric.as_str(), g.direction, g.limit, g.relative),
            ("request_throughput", Direction::Below, -5.0, true)
        );
        let g = parse_gate("get.ttfb.p50>20").unwrap();
        assert_eq!(
            (g.metric.as_str(), g.limit, g.relative),
            ("get.ttfb.p50", 20.0, false)
        );
    }

    #[test]
    fn bad_expressions_say_what_is_accepted() {
        for bad in [
            "ttft.p99",
            ">10%",
            "ttft.p99>=10%",
            "ttft.p99>ten",
            "a>1<2",
            "x>inf",
        ] {
            let e = parse_gate(bad).unwrap_err();
            let text = e.to_string();
            assert!(text.contains("expected METRIC>LIMIT"), "{text}");
            assert!(text.contains(bad), "{text}");
        }
    }
}
