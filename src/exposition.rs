//! Writing Prometheus' text exposition format: the `# HELP`/`# TYPE`
//! header of a series, sample values and escaped label values. Shared by
//! everything that serves `/metrics`: the simulator (`crate::sim`), the
//! operator (`crate::operator::metrics`) and `aifbench gpu-exporter`
//! (`crate::monitor::nvidia_smi`). Reading the format is
//! `crate::monitor::parse`.

use std::fmt::Write as _;

/// Appends the `# HELP` and `# TYPE` lines of series `name`.
pub fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Formats a sample value as Python's `prometheus_client` does (`1.0`,
/// `0.25`, `+Inf`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Escapes a label value (`\`, `"` and newline).
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_labels_are_written_as_prometheus_reads_them() {
        assert_eq!(format_value(1.0), "1.0");
        assert_eq!(format_value(0.025), "0.025");
        assert_eq!(format_value(100000.0), "100000.0");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut out = String::new();
        header(&mut out, "x_total", "Things.", "counter");
        assert_eq!(out, "# HELP x_total Things.\n# TYPE x_total counter\n");
    }
}
