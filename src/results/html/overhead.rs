//! The "Client overhead" section of `report.html`: the rows of
//! `results::overhead` (the same as `report.md`'s) as an HTML table, with
//! the run's warning.

use std::fmt::Write as _;

use super::{escape, table};
use crate::results::overhead::{HEADERS, rows};
use crate::workload::result::Summary;

/// The HTML section; empty when no instance calibrated.
pub fn overhead_section(total: &Summary, ids: &[&str], clients: &[Summary]) -> String {
    let Some(c) = &total.calibration else {
        return String::new();
    };
    let mut html = String::from("<h2 id=\"client-overhead\">Client overhead</h2>\n");
    if let Some(w) = &c.warning {
        let _ = writeln!(
            html,
            "<p class=\"warning\"><strong>Warning:</strong> {}</p>",
            escape(w)
        );
    }
    html.push_str(&table(&HEADERS, &rows(ids, clients)));
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::overhead::tests::flagged_run;

    #[test]
    fn shows_each_instance_and_the_warning() {
        let mut total = flagged_run();
        let html = overhead_section(&total, &["chat-1"], std::slice::from_ref(&total));
        assert!(
            html.contains("Client overhead") && html.contains("7.500"),
            "{html}"
        );
        assert!(html.contains("<strong>Warning:</strong>"), "{html}");
        total.calibration = None;
        assert!(overhead_section(&total, &[], &[]).is_empty());
    }
}
