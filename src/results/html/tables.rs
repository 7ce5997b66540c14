//! The report's text sections as HTML (pure): headline, SLO verdict,
//! latency, errors by class, stages, storage, per-instance table,
//! environment and provenance, monitors. Every piece of text from the
//! results goes through [`escape`].

use std::fmt::Write as _;

use crate::api::spec::SloSpec;
use crate::engine::evaluate_slo;
use crate::results::monitor_files::MonitorFile;
use crate::workload::headline::headline;
use crate::workload::result::Summary;
use crate::workload::stats::LatencyStats;

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table with a header row; every cell is escaped, numeric ones aligned
/// right.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut html = String::from("<table><thead><tr>");
    for h in headers {
        let _ = write!(html, "<th>{}</th>", escape(h));
    }
    html.push_str("</tr></thead><tbody>\n");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let numeric = cell == "-" || cell.replace(['%', ','], "").parse::<f64>().is_ok();
            let class = if numeric { " class=\"num\"" } else { "" };
            let _ = write!(html, "<td{class}>{}</td>", escape(cell));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table>\n");
    html
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

fn ms(v: f64) -> String {
    format!("{v:.2}")
}

/// The one-paragraph summary under the title.
pub fn headline_section(total: &Summary) -> String {
    let mut text = format!(
        "{} requests, {} errors in {:.1} s: {:.2} requests/s",
        total.requests, total.errors, total.duration_s, total.request_throughput
    );
    if total.output_tokens > 0 {
        let _ = write!(
            text,
            ", {:.1} output tokens/s",
            total.output_token_throughput
        );
    }
    if let Some(g) = total.request_goodput {
        let _ = write!(text, ", goodput {g:.2} requests/s");
    }
    if let Some(c) = total.concurrency {
        let _ = write!(text, "; concurrency {c}");
    }
    if let Some(r) = total.rate {
        let _ = write!(text, "; rate {r} requests/s");
    }
    text.push('.');
    let mut html = format!("<p class=\"headline\">{}</p>\n", escape(&text));
    for a in &total.aborted {
        let _ = writeln!(html, "<p class=\"bad\">Aborted: {}</p>", escape(a));
    }
    html
}

/// Each objective of `spec.slo` with its verdict against the summary (the
/// engine's own check, one objective at a time), and the overall verdict.
pub fn slo_section(slo: &[SloSpec], total: &Summary) -> String {
    let mut html = String::from("<h2 id=\"slo\">SLO verdict</h2>\n");
    if slo.is_empty() {
        html.push_str("<p>No objectives declared (<code>spec.slo</code>).</p>\n");
        return html;
    }
    let summary = headline(total);
    let mut rows = Vec::new();
    let mut all_met = true;
    for o in slo {
        let objective = match (o.metric, o.max, o.max_error_rate) {
            (Some(m), Some(max), rate) => {
                let mut s = format!("{} {:?} ≤ {max}", m.as_str(), o.stat).to_lowercase();
                if let Some(r) = rate {
                    let _ = write!(s, "; error rate ≤ {r}");
                }
                s
            }
            (_, _, Some(r)) => format!("error rate ≤ {r}"),
            _ => "(empty objective)".to_string(),
        };
        let missed = evaluate_slo(std::slice::from_ref(o), &summary);
        all_met &= missed.is_empty();
        let verdict = if missed.is_empty() {
            "met".to_string()
        } else {
            format!("missed: {}", missed.join("; "))
        };
        rows.push(vec![objective, verdict]);
    }
    let (class, word) = if all_met {
        ("good", "All objectives met.")
    } else {
        ("bad", "Objectives missed.")
    };
    let _ = writeln!(html, "<p class=\"{class}\">{word}</p>");
    html.push_str(&table(&["objective", "verdict"], &rows));
    html
}

/// Every latency metric of the summary, with its percentiles.
pub fn latency_table(total: &Summary) -> String {
    let rows: Vec<Vec<String>> = total
        .latency
        .iter()
        .map(|(name, l): (&String, &LatencyStats)| {
            vec![
                name.clone(),
                l.count.to_string(),
                ms(l.mean_ms),
                ms(l.p50_ms),
                ms(l.p90_ms),
                ms(l.p95_ms),
                ms(l.p99_ms),
                ms(l.max_ms),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "<p>No latency recorded.</p>\n".to_string();
    }
    table(
        &[
            "metric", "count", "mean ms", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms",
        ],
        &rows,
    )
}

/// Failed requests by class.
pub fn errors_section(total: &Summary) -> String {
    let mut html = String::from("<h2 id=\"errors\">Errors by class</h2>\n");
    if total.error_classes.is_empty() {
        html.push_str("<p>No failed request.</p>\n");
        return html;
    }
    let all = total.requests + total.errors;
    let rows: Vec<Vec<String>> = total
        .error_classes
        .iter()
        .map(|(class, n)| {
            let share = if all == 0 {
                0.0
            } else {
                100.0 * *n as f64 / all as f64
            };
            vec![class.clone(), n.to_string(), format!("{share:.2}%")]
        })
        .collect();
    html.push_str(&table(&["class", "count", "of all requests"], &rows));
    html
}

/// A sweep's stages, one row each.
pub fn stages_table(total: &Summary) -> String {
    let stat = |s: &Summary, m: &str, p99: bool| {
        s.latency.get(m).map_or("-".to_string(), |l| {
            ms(if p99 { l.p99_ms } else { l.p50_ms })
        })
    };
    let rows: Vec<Vec<String>> = total
        .stages
        .iter()
        .enumerate()
        .map(|(k, s)| {
            vec![
                (k + 1).to_string(),
                opt(s.concurrency),
                opt(s.rate),
                s.requests.to_string(),
                s.errors.to_string(),
                format!("{:.2}", s.request_throughput),
                opt(s.request_goodput.map(|g| format!("{g:.2}"))),
                format!("{:.1}", s.output_token_throughput),
                stat(s, "ttft", false),
                stat(s, "ttft", true),
                stat(s, "tpot", false),
                stat(s, "e2el", false),
                stat(s, "e2el", true),
            ]
        })
        .collect();
    table(
        &[
            "stage",
            "concurrency",
            "rate",
            "requests",
            "errors",
            "req/s",
            "goodput/s",
            "tok/s",
            "ttft p50 ms",
            "ttft p99 ms",
            "tpot p50 ms",
            "e2el p50 ms",
            "e2el p99 ms",
        ],
        &rows,
    )
}

/// Storage workloads: bytes, data loss, recall and operations (empty for
/// other workloads).
pub fn storage_section(total: &Summary) -> String {
    let mut html = String::new();
    if total.data_loss.is_some() || total.bytes_throughput.is_some() {
        let loss = total.data_loss.unwrap_or(0);
        let class = if loss == 0 { "good" } else { "bad" };
        let _ = writeln!(
            html,
            "<p>Bytes read {}, written {} ({:.0} B/s); <span class=\"{class}\">data loss: {loss}</span>.</p>",
            total.bytes_read,
            total.bytes_written,
            total.bytes_throughput.unwrap_or(0.0)
        );
    }
    if let Some(r) = &total.recall {
        let _ = writeln!(
            html,
            "<p>Recall@{}: {:.4} (mean of {} sampled queries, lowest {:.2}) against exact search.</p>",
            r.k, r.mean, r.queries, r.min
        );
    }
    if !total.operations.is_empty() {
        let rows: Vec<Vec<String>> = total
            .operations
            .iter()
            .map(|(op, o)| {
                vec![
                    op.clone(),
                    o.requests.to_string(),
                    o.errors.to_string(),
                    o.bytes.to_string(),
                ]
            })
            .collect();
        html.push_str(&table(&["operation", "requests", "errors", "bytes"], &rows));
    }
    if html.is_empty() {
        return html;
    }
    format!("<h2 id=\"storage\">Storage</h2>\n{html}")
}

/// One row per client instance, and the instances without a result.
pub fn instances_section(ids: &[&str], clients: &[Summary], missing: &[String]) -> String {
    let mut html = String::from("<h2 id=\"instances\">Per client instance</h2>\n");
    let main = clients
        .iter()
        .flat_map(|c| c.latency.keys())
        .find(|k| *k == "e2el" || k.ends_with("ttlb"))
        .cloned()
        .unwrap_or_else(|| "e2el".to_string());
    let rows: Vec<Vec<String>> = ids
        .iter()
        .zip(clients)
        .map(|(id, s)| {
            let l = s.latency.get(&main);
            vec![
                (*id).to_string(),
                s.requests.to_string(),
                s.errors.to_string(),
                format!("{:.1}", s.duration_s),
                format!("{:.2}", s.request_throughput),
                format!("{:.1}", s.output_token_throughput),
                opt(l.map(|l| ms(l.p50_ms))),
                opt(l.map(|l| ms(l.p99_ms))),
                s.aborted.join("; "),
            ]
        })
        .collect();
    let p50 = format!("{main} p50 ms");
    let p99 = format!("{main} p99 ms");
    html.push_str(&table(
        &[
            "instance",
            "requests",
            "errors",
            "duration s",
            "req/s",
            "tok/s",
            &p50,
            &p99,
            "aborted",
        ],
        &rows,
    ));
    if !missing.is_empty() {
        let _ = writeln!(
            html,
            "<p class=\"bad\">No result file from: {}.</p>",
            escape(&missing.join(", "))
        );
    }
    html
}

fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.iter().map(compact).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// `environment.json`: versions, host, command line, where each component
/// ran.
pub fn environment_section(env: Option<&serde_json::Value>) -> String {
    let mut html = String::from("<h2 id=\"environment\">Environment and provenance</h2>\n");
    let Some(serde_json::Value::Object(env)) = env else {
        html.push_str("<p>No <code>environment.json</code> in the results folder.</p>\n");
        return html;
    };
    let rows: Vec<Vec<String>> = env
        .iter()
        .filter(|(k, _)| *k != "components" && *k != "provenance")
        .map(|(k, v)| vec![k.clone(), compact(v)])
        .collect();
    html.push_str(&table(&["", "value"], &rows));
    if let Some(serde_json::Value::Object(components)) = env.get("components") {
        let fields = ["kind", "backend", "node", "endpoint", "pid", "jobId"];
        let rows: Vec<Vec<String>> = components
            .iter()
            .map(|(id, c)| {
                std::iter::once(id.clone())
                    .chain(fields.iter().map(|f| c.get(*f).map_or("-".into(), compact)))
                    .collect()
            })
            .collect();
        let mut headers = vec!["component"];
        headers.extend(fields);
        html.push_str(&table(&headers, &rows));
    }
    html
}

/// What each monitor scraped.
pub fn monitors_table(files: &[MonitorFile]) -> String {
    let rows: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            let mut targets: Vec<&str> = f.records.iter().map(|r| r.target.as_str()).collect();
            targets.sort_unstable();
            targets.dedup();
            let parse_errors: usize = f.records.iter().map(|r| r.parse_errors.len()).sum();
            vec![
                f.id.clone(),
                targets.join(", "),
                f.records.len().to_string(),
                parse_errors.to_string(),
                f.unreadable.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "monitor",
            "targets",
            "scrapes",
            "parse errors",
            "unreadable lines",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_cells() {
        assert_eq!(
            escape("<script>a&b\"c'</script>"),
            "&lt;script&gt;a&amp;b&quot;c&#39;&lt;/script&gt;"
        );
        let t = table(
            &["<h>"],
            &[vec!["<img src=x>".to_string()], vec!["1.5".to_string()]],
        );
        assert!(t.contains("<th>&lt;h&gt;</th>"), "{t}");
        assert!(t.contains("<td>&lt;img src=x&gt;</td>"), "{t}");
        assert!(t.contains("<td class=\"num\">1.5</td>"), "{t}");
        assert!(!t.contains("<img"), "{t}");
    }

    #[test]
    fn environment_is_escaped() {
        let env = serde_json::json!({
            "hostname": "<b>h</b>",
            "commandLine": ["aifbench", "run", "x.yaml"],
            "components": {"sim": {"kind": "service", "node": "n<1>"}}
        });
        let html = environment_section(Some(&env));
        assert!(html.contains("&lt;b&gt;h&lt;/b&gt;"), "{html}");
        assert!(html.contains("aifbench run x.yaml"), "{html}");
        assert!(html.contains("n&lt;1&gt;"), "{html}");
        assert!(environment_section(None).contains("No <code>environment.json</code>"));
    }
}
