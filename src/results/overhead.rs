//! The "Client overhead" section of `report.md`: what each calibrated
//! client instance measured of its own error (`workload::calibration`), and
//! the run's warning when that error is large next to the latencies it
//! reported. Its rows are also `report.html`'s (`results::html::overhead`).

use std::fmt::Write as _;

use crate::workload::result::Summary;

/// One row per calibrated instance: id, TTFT overhead mean and p99, ITL
/// overhead p99, CPU headroom, flagged.
pub(crate) fn rows(ids: &[&str], clients: &[Summary]) -> Vec<Vec<String>> {
    ids.iter()
        .zip(clients)
        .filter_map(|(id, s)| {
            let c = s.calibration.as_ref()?;
            Some(vec![
                (*id).to_string(),
                format!("{:.3}", c.ttft_overhead_mean_ms),
                format!("{:.3}", c.ttft_overhead_p99_ms),
                c.itl_overhead_p99_ms
                    .map_or("-".into(), |v| format!("{v:.3}")),
                format!("{:.0}%", c.cpu_headroom_min * 100.0),
                if c.flagged.is_empty() { "no" } else { "yes" }.to_string(),
            ])
        })
        .collect()
}

/// The table's column headers, in the order of [`rows`].
pub(crate) const HEADERS: [&str; 6] = [
    "instance",
    "TTFT overhead mean ms",
    "TTFT overhead p99 ms",
    "ITL overhead p99 ms",
    "CPU headroom",
    "flagged",
];

/// The Markdown section; empty when no instance calibrated.
pub fn markdown(total: &Summary, ids: &[&str], clients: &[Summary]) -> String {
    let Some(c) = &total.calibration else {
        return String::new();
    };
    let mut md = String::from("\n## Client overhead\n\n");
    if let Some(w) = &c.warning {
        let _ = writeln!(md, "**Warning:** {w}.\n");
    }
    let _ = writeln!(
        md,
        "Measured by each instance against an in-process simulator with known timing before the load (docs/metrics.md, \"Client overhead\").\n"
    );
    md.push('|');
    md.push_str(&HEADERS.join(" | "));
    md.push_str(" |\n|---|---:|---:|---:|---:|---|\n");
    for row in rows(ids, clients) {
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    md
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::workload::calibration::{Calibration, summarize};
    use crate::workload::client_result::ClientResult;

    /// A run of one flagged, calibrated instance `chat-1`: its merged total.
    pub(crate) fn flagged_run() -> Summary {
        let r = ClientResult {
            id: "chat-1".into(),
            calibration: Some(Calibration {
                ttft_overhead_p99_ms: 7.5,
                cpu_headroom: 0.25,
                flagged: Some("too slow".into()),
                ..Calibration::default()
            }),
            ..ClientResult::default()
        };
        let mut total = crate::workload::result::merge(std::slice::from_ref(&r)).expect("merge");
        total.calibration = summarize(&[("chat-1", r.calibration.as_ref().expect("set"))], None);
        total
    }

    #[test]
    fn shows_each_instance_and_the_warning() {
        let mut total = flagged_run();
        let md = markdown(&total, &["chat-1"], std::slice::from_ref(&total));
        assert!(md.contains("## Client overhead"), "{md}");
        assert!(md.contains("**Warning:**"), "{md}");
        assert!(
            md.contains("| chat-1 | 0.000 | 7.500 | - | 25% | yes |"),
            "{md}"
        );
        total.calibration = None;
        assert!(markdown(&total, &[], &[]).is_empty());
    }
}
