//! A run's events as Grafana annotations (pure): from `status.yaml` the
//! start, the measurement start, every condition's transition and the end
//! with the terminal phase; from the client results the measurement window
//! and each stage as a region.

use serde::Deserialize;

use super::series::Window;

/// One annotation.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// Unix milliseconds.
    pub time_ms: i64,
    /// End of a region (Unix milliseconds); `None` for a point in time.
    pub end_ms: Option<i64>,
    /// Short title (the tooltip's heading).
    pub title: String,
    /// The text.
    pub text: String,
    /// Tags: `phase`, `condition`, `stage`, and the condition's type.
    pub tags: Vec<String>,
}

/// The part of `status.yaml` the annotations read (tolerant: any field may
/// be missing; unknown fields are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StatusView {
    /// The phase.
    pub phase: Option<String>,
    /// Its message.
    pub message: Option<String>,
    /// When the driver started the run.
    pub start_time: Option<String>,
    /// When every service was healthy and every client out of the queue.
    pub run_start_time: Option<String>,
    /// When the run ended.
    pub completion_time: Option<String>,
    /// The conditions.
    pub conditions: Vec<ConditionView>,
}

/// One condition of [`StatusView`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConditionView {
    /// `ServicesReady`, `Succeeded`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    pub reason: String,
    /// Human message.
    pub message: String,
    /// When the status last changed.
    pub last_transition_time: Option<String>,
}

impl StatusView {
    /// When the run started, Unix milliseconds.
    pub fn start_ms(&self) -> Option<i64> {
        self.start_time.as_deref().and_then(unix_ms)
    }
}

/// RFC 3339 → Unix milliseconds.
pub fn unix_ms(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

fn point(time_ms: i64, title: &str, text: String, tags: &[&str]) -> Annotation {
    Annotation {
        time_ms,
        end_ms: None,
        title: title.to_string(),
        text,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

/// The status's events, in time order.
pub fn status_annotations(s: &StatusView) -> Vec<Annotation> {
    let mut out = Vec::new();
    if let Some(ms) = s.start_time.as_deref().and_then(unix_ms) {
        out.push(point(
            ms,
            "run started",
            "the driver started the run (phase Pending)".into(),
            &["phase"],
        ));
    }
    if let Some(ms) = s.run_start_time.as_deref().and_then(unix_ms) {
        out.push(point(
            ms,
            "Running",
            "every service healthy, clients launched (runStartTime)".into(),
            &["phase"],
        ));
    }
    for c in &s.conditions {
        let Some(ms) = c.last_transition_time.as_deref().and_then(unix_ms) else {
            continue;
        };
        let mut text = format!("{}={}", c.type_, c.status);
        if !c.reason.is_empty() {
            text.push_str(&format!(" ({})", c.reason));
        }
        if !c.message.is_empty() {
            text.push_str(&format!(": {}", c.message));
        }
        out.push(point(ms, &c.type_, text, &["condition", &c.type_]));
    }
    if let (Some(ms), Some(phase)) = (
        s.completion_time.as_deref().and_then(unix_ms),
        s.phase.as_deref(),
    ) {
        let text = match s.message.as_deref() {
            Some(m) if !m.is_empty() => format!("phase {phase}: {m}"),
            _ => format!("phase {phase}"),
        };
        out.push(point(ms, phase, text, &["phase"]));
    }
    out.sort_by_key(|a| a.time_ms);
    out
}

/// The measurement windows (stages, or the whole measurement) as regions.
pub fn window_annotations(windows: &[Window]) -> Vec<Annotation> {
    windows
        .iter()
        .map(|w| Annotation {
            time_ms: w.start_ms,
            end_ms: Some(w.end_ms.max(w.start_ms)),
            title: w.label.clone(),
            text: format!("{} (after the warm-up)", w.label),
            tags: vec![if w.label.starts_with("stage") {
                "stage".to_string()
            } else {
                "measurement".to_string()
            }],
        })
        .collect()
}

/// Whether `a` touches `[from, to]` (either bound open when `None`).
pub fn in_range(a: &Annotation, from: Option<i64>, to: Option<i64>) -> bool {
    let end = a.end_ms.unwrap_or(a.time_ms);
    from.is_none_or(|f| end >= f) && to.is_none_or(|t| a.time_ms <= t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "
phase: Succeeded
message: Completed
startTime: 2026-12-04T06:41:47.728Z
runStartTime: 2026-12-04T06:41:48.405Z
completionTime: 2026-12-04T06:42:00.298Z
conditions:
- type: ServicesReady
  status: 'True'
  reason: Healthy
  message: ''
  lastTransitionTime: 2026-12-04T06:41:48.150Z
- type: Succeeded
  status: 'True'
  reason: Completed
  lastTransitionTime: 2026-12-04T06:42:00.298Z
components: []
";

    #[test]
    fn phases_and_conditions_in_time_order() {
        let s: StatusView = serde_norway::from_str(STATUS).unwrap();
        let a = status_annotations(&s);
        let titles: Vec<&str> = a.iter().map(|a| a.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "run started",
                "ServicesReady",
                "Running",
                "Succeeded",
                "Succeeded"
            ]
        );
        assert_eq!(a[1].text, "ServicesReady=True (Healthy)");
        assert_eq!(a[1].tags, ["condition", "ServicesReady"]);
        assert_eq!(a[4].text, "phase Succeeded: Completed");
        assert_eq!(Some(a[0].time_ms), s.start_ms());
        assert!(in_range(&a[0], Some(a[0].time_ms), None));
        assert!(!in_range(&a[0], Some(a[0].time_ms + 1), None));
    }

    #[test]
    fn stages_are_regions() {
        let w = [Window {
            start_ms: 1000,
            end_ms: 5000,
            label: "stage 1 (concurrency 4)".into(),
        }];
        let a = window_annotations(&w);
        assert_eq!(a[0].end_ms, Some(5000));
        assert_eq!(a[0].tags, ["stage"]);
        assert!(in_range(&a[0], Some(4000), Some(4500)));
        assert!(!in_range(&a[0], Some(6000), None));
        assert!(status_annotations(&StatusView::default()).is_empty());
    }
}
