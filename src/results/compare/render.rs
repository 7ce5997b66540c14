//! How a [`Comparison`] is shown: a plain-text table for the terminal
//! (colour only when asked, i.e. on a terminal) and one self-contained HTML
//! page with the table and the runs' latency CDFs overlaid in inline SVG.
//! Pure: strings in, strings out.

use std::fmt::Write as _;

use super::noise::Sample;
use super::{Cell, Comparison, Estimate, Row, RunData, Verdict, latency_metrics, sample};

/// A number as tables show it: 4 significant digits or so, `∞` when
/// unbounded.
pub fn num(v: f64) -> String {
    if v == f64::INFINITY {
        "∞".to_string()
    } else if v == f64::NEG_INFINITY {
        "-∞".to_string()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn estimate_text(e: Option<&Estimate>) -> String {
    match e {
        None => "-".to_string(),
        Some(e) => match e.ci {
            Some(ci) => format!("{} [{}, {}]", num(e.value), num(ci.lo), num(ci.hi)),
            None => format!("{} [no interval]", num(e.value)),
        },
    }
}

fn change_text(c: &Cell) -> String {
    match (c.change_pct, c.change_abs) {
        (Some(p), _) => format!("{p:+.1}%"),
        (None, Some(a)) => format!("{a:+.3}"),
        _ => "-".to_string(),
    }
}

fn verdict_text(c: &Cell) -> String {
    match (c.verdict, c.worse) {
        (Verdict::Differs, Some(true)) => "DIFFERS (worse)".to_string(),
        (Verdict::Differs, Some(false)) => "DIFFERS (better)".to_string(),
        (v, _) => v.label().to_string(),
    }
}

/// The closing line: which metrics differ, or that none does.
pub fn verdict_line(cmp: &Comparison) -> String {
    let differing: Vec<&str> = cmp.differing().map(|r| r.name.as_str()).collect();
    let rule = format!(
        "{:.0}% intervals apart and change >= {}%",
        cmp.confidence * 100.0,
        cmp.noise_threshold_pct
    );
    if differing.is_empty() {
        format!("No metric differs beyond noise ({rule}).")
    } else {
        format!(
            "{} metric(s) differ beyond noise ({rule}): {}.",
            differing.len(),
            differing.join(", ")
        )
    }
}

/// The terminal table; `color` adds ANSI colour to the verdicts.
pub fn table(cmp: &Comparison, color: bool) -> String {
    let mut out = String::new();
    for (k, r) in cmp.runs.iter().enumerate() {
        let role = if k == 0 {
            "baseline".to_string()
        } else {
            format!("run {}", k + 1)
        };
        let _ = writeln!(
            out,
            "{role:>8}: {} ({} requests, {} errors, {:.1}s; intervals from {})",
            r.label, r.requests, r.errors, r.duration_s, r.intervals_from
        );
        if let Some(sweep) = &r.sweep {
            let _ = writeln!(out, "{:>8}  sweep: {sweep}", "");
        }
    }
    out.push('\n');
    let mut header = vec![
        "metric".to_string(),
        "unit".to_string(),
        format!(
            "{} (95% CI)",
            cmp.runs.first().map_or("", |r| r.label.as_str())
        ),
    ];
    for r in cmp.runs.iter().skip(1) {
        header.push(format!("{} (95% CI)", r.label));
        header.push("change".to_string());
        header.push("verdict".to_string());
    }
    let mut lines: Vec<(Vec<String>, Vec<Option<&Cell>>)> = vec![(header, Vec::new())];
    for row in &cmp.rows {
        let mut cols = vec![
            row.name.clone(),
            row.unit.clone(),
            estimate_text(row.baseline.as_ref()),
        ];
        let mut cells = vec![None, None, None];
        for c in &row.others {
            cols.push(estimate_text(c.estimate.as_ref()));
            cols.push(change_text(c));
            cols.push(verdict_text(c));
            cells.extend([None, None, Some(c)]);
        }
        lines.push((cols, cells));
    }
    let ncols = lines.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..ncols)
        .map(|i| {
            lines
                .iter()
                .filter_map(|(c, _)| c.get(i))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (cols, cells) in &lines {
        let mut line = String::new();
        for (i, text) in cols.iter().enumerate() {
            let pad = widths[i].saturating_sub(text.chars().count());
            let padded = if i == 0 || i == 1 {
                format!("{text}{}", " ".repeat(pad))
            } else {
                format!("{}{text}", " ".repeat(pad))
            };
            let painted = match (color, cells.get(i).copied().flatten()) {
                (true, Some(c)) => paint(c, &padded),
                _ => padded,
            };
            line.push_str(&painted);
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&verdict_line(cmp));
    out.push('\n');
    out
}

fn paint(c: &Cell, text: &str) -> String {
    let code = match (c.verdict, c.worse) {
        (Verdict::Differs, Some(true)) => "31;1",
        (Verdict::Differs, _) => "32;1",
        (Verdict::WithinNoise, _) => "2",
        (Verdict::Unknown, _) => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Line colours of the runs, in order (repeating).
const PALETTE: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// The points of a sample's empirical CDF `(value, fraction ≤ value)`, at
/// most about `max_points` of them.
pub fn cdf_points(s: &Sample<'_>, max_points: usize) -> Vec<(f64, f64)> {
    let n = s.len();
    if n == 0 {
        return Vec::new();
    }
    let nf = n as f64;
    let mut pts = Vec::new();
    match s {
        Sample::Sorted(v) => {
            let step = (v.len() / max_points.max(1)).max(1);
            for (i, x) in v.iter().enumerate() {
                if i % step == 0 || i + 1 == v.len() {
                    pts.push((*x, (i + 1) as f64 / nf));
                }
            }
        }
        Sample::Histogram(h, scale) => {
            let mut seen = 0u64;
            for it in h.iter_recorded() {
                seen += it.count_at_value();
                pts.push((
                    h.highest_equivalent(it.value_iterated_to()) as f64 * scale,
                    seen as f64 / nf,
                ));
            }
            let step = (pts.len() / max_points.max(1)).max(1);
            let last = pts.len().saturating_sub(1);
            pts = pts
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % step == 0 || *i == last)
                .map(|(_, p)| p)
                .collect();
        }
    }
    pts
}

/// Ticks of a log axis between `lo` and `hi`: 1, 2, 5 times powers of ten.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            if t >= lo && t <= hi {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// One SVG chart: the CDF of each run's `metric`, log x axis in ms.
pub fn cdf_svg(metric: &str, labels: &[&str], curves: &[Vec<(f64, f64)>]) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 300.0, 56.0, 16.0, 24.0, 40.0);
    let positive = curves.iter().flatten().map(|p| p.0).filter(|v| *v > 0.0);
    let lo = positive.clone().fold(f64::INFINITY, f64::min);
    let hi = positive.fold(0.0, f64::max);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{m} CDF">"#,
        m = escape(metric)
    );
    if !(lo.is_finite() && hi > 0.0) {
        svg.push_str("<text x=\"20\" y=\"40\">no values</text></svg>");
        return svg;
    }
    let (lo, hi) = if hi / lo < 1.5 {
        (lo / 1.25, hi * 1.25)
    } else {
        (lo, hi)
    };
    let (pw, ph) = (w - left - right, h - top - bottom);
    let x = |v: f64| left + (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) * pw;
    let y = |f: f64| top + (1.0 - f) * ph;
    let _ = write!(
        svg,
        r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##
    );
    for f in [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0] {
        let yy = y(f);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{f}</text>"##,
            left + pw,
            left - 4.0,
            yy + 4.0
        );
    }
    for t in log_ticks(lo, hi) {
        let xx = x(t);
        let _ = write!(
            svg,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{top}" y2="{}" stroke="#eee"/><text x="{xx:.1}" y="{}" font-size="11" text-anchor="middle">{}</text>"##,
            top + ph,
            top + ph + 14.0,
            num(t)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">{} (ms, log scale)</text><text x="{left}" y="16" font-size="12">fraction of values ≤ x</text>"#,
        left + pw / 2.0,
        h - 6.0,
        escape(metric)
    );
    for (k, pts) in curves.iter().enumerate() {
        if pts.is_empty() {
            continue;
        }
        let color = PALETTE[k % PALETTE.len()];
        // A step line: each value holds its fraction until the next one.
        let mut d = format!("M{:.1},{:.1}", x(pts[0].0), y(0.0));
        let mut prev = 0.0;
        for (v, f) in pts {
            let _ = write!(
                d,
                " L{:.1},{:.1} L{:.1},{:.1}",
                x(*v),
                y(prev),
                x(*v),
                y(*f)
            );
            prev = *f;
        }
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.5"/>"#
        );
        let label = labels.get(k).copied().unwrap_or("");
        let ly = top + 14.0 + 14.0 * k as f64;
        let _ = write!(
            svg,
            r#"<line x1="{}" x2="{}" y1="{ly:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="3"/><text x="{}" y="{:.1}" font-size="11">{}</text>"#,
            left + 10.0,
            left + 28.0,
            left + 32.0,
            ly + 4.0,
            escape(label)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn html_row(row: &Row) -> String {
    let mut tr = format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td>",
        escape(&row.name),
        escape(&row.unit),
        escape(&estimate_text(row.baseline.as_ref()))
    );
    for c in &row.others {
        let class = match (c.verdict, c.worse) {
            (Verdict::Differs, Some(true)) => "worse",
            (Verdict::Differs, _) => "better",
            (Verdict::WithinNoise, _) => "same",
            (Verdict::Unknown, _) => "unknown",
        };
        let _ = write!(
            tr,
            "<td>{}</td><td>{}</td><td class=\"{class}\">{}</td>",
            escape(&estimate_text(c.estimate.as_ref())),
            escape(&change_text(c)),
            escape(&verdict_text(c))
        );
    }
    tr.push_str("</tr>\n");
    tr
}

/// The HTML page: runs, the table, one CDF chart per latency metric.
pub fn html(cmp: &Comparison, runs: &[RunData]) -> String {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>aifbench compare</title><style>\
body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}\
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\
.worse{color:#b00;font-weight:bold}.better{color:#070;font-weight:bold}.same{color:#777}.unknown{color:#a60}\
figure{margin:1em 0}</style></head><body>\n<h1>aifbench compare</h1>\n<ul>\n",
    );
    for (k, r) in cmp.runs.iter().enumerate() {
        let _ = writeln!(
            page,
            "<li><b style=\"color:{}\">{}</b>{}: {} — {} requests, {} errors, {:.1}s; intervals from {}</li>",
            PALETTE[k % PALETTE.len()],
            escape(&r.label),
            if k == 0 { " (baseline)" } else { "" },
            escape(&r.source),
            r.requests,
            r.errors,
            r.duration_s,
            escape(&r.intervals_from)
        );
        if let Some(sweep) = &r.sweep {
            let _ = writeln!(
                page,
                "<li>{}: sweep {}</li>",
                escape(&r.label),
                escape(sweep)
            );
        }
    }
    let _ = writeln!(page, "</ul>\n<p>{}</p>", escape(&verdict_line(cmp)));
    page.push_str("<table>\n<tr><th>metric</th><th>unit</th>");
    for (k, r) in cmp.runs.iter().enumerate() {
        let _ = write!(page, "<th>{} (95% CI)</th>", escape(&r.label));
        if k > 0 {
            page.push_str("<th>change</th><th>verdict</th>");
        }
    }
    page.push_str("</tr>\n");
    for row in &cmp.rows {
        page.push_str(&html_row(row));
    }
    page.push_str("</table>\n<h2>Latency distributions</h2>\n");
    let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
    for metric in latency_metrics(runs) {
        let curves: Vec<Vec<(f64, f64)>> = runs
            .iter()
            .map(|r| sample(r, &metric).map_or_else(Vec::new, |s| cdf_points(&s, 400)))
            .collect();
        if curves.iter().all(Vec::is_empty) {
            continue;
        }
        let _ = writeln!(
            page,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            cdf_svg(&metric, &labels, &curves),
            escape(&metric)
        );
    }
    page.push_str("</body></html>\n");
    page
}
