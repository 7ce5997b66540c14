//! The `report` post-action: merge every client instance's result into
//! `summary.json`, `summary.csv`, `report.md` and `report.html` (written by
//! [`super::html`]), and the headline numbers the status carries.

use std::fmt::Write as _;

use serde::Serialize;

use super::{ResultsDir, ResultsError};
use crate::api::status::ResultsSummary;
pub use crate::workload::headline::headline;
use crate::workload::result::{ClientResult, Summary, merge_with};
use crate::workload::stats::LatencyStats;

/// `summary.json`.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SummaryFile {
    /// Benchmark name.
    pub benchmark: String,
    /// All instances merged.
    pub total: Summary,
    /// Each instance on its own.
    pub clients: Vec<Summary>,
    /// Instances whose result file is missing (crashed before writing it).
    pub missing_results: Vec<String>,
    /// GPU telemetry over the measured window (and each stage's), when a
    /// monitor scraped GPU series (`super::gpu`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<crate::monitor::gpu::GpuSummary>,
}

/// What the report produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// The merged summary.
    pub total: Summary,
    /// The headline numbers for the status.
    pub headline: ResultsSummary,
    /// Instances without a result file.
    pub missing: Vec<String>,
}

/// Reads `clients/<id>.json` for each expected instance id, merges, and
/// writes summary.json, summary.csv, report.md and report.html.
pub fn write_report(
    dir: &ResultsDir,
    benchmark: &str,
    instances: &[String],
    percentiles: &[f64],
) -> Result<Report, ResultsError> {
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for id in instances {
        let path = dir.client_result(id);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let r: ClientResult =
                    serde_json::from_str(&text).map_err(|e| ResultsError::Format {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                results.push(r);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(id.clone()),
            Err(source) => return Err(ResultsError::Io { path, source }),
        }
    }
    let merge_at = |path: std::path::PathBuf| {
        move |e: crate::workload::WorkloadError| ResultsError::Format {
            path,
            message: e.to_string(),
        }
    };
    let mut total = merge_with(&results, percentiles).map_err(merge_at(dir.clients()))?;
    let result_ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
    super::vllm_export::complete(&mut total.vllm, dir, benchmark, &result_ids);
    let clients = results
        .iter()
        .map(|r| {
            merge_with(std::slice::from_ref(r), percentiles)
                .map_err(merge_at(dir.client_result(&r.id)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let gpu = super::gpu::read_gpu_summary(dir, &results, &total);
    let file = SummaryFile {
        benchmark: benchmark.to_string(),
        total: total.clone(),
        clients: clients.clone(),
        missing_results: missing.clone(),
        gpu: gpu.clone(),
    };
    dir.write_json(&dir.summary_json(), &file)?;
    let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
    super::write_atomic(&dir.summary_csv(), csv(&ids, &clients, &total).as_bytes())?;
    let mut md = markdown(benchmark, &ids, &clients, &total, &missing);
    md.extend(gpu.as_ref().map(super::gpu::gpu_markdown));
    md.push_str(&super::overhead::markdown(&total, &ids, &clients));
    if let Some(w) = total.calibration.as_ref().and_then(|c| c.warning.as_ref()) {
        tracing::warn!(benchmark, "{w}");
    }
    if let Some(p) = super::provenance::read_provenance(dir) {
        md.push_str(&super::provenance::markdown(&p));
    }
    super::write_atomic(&dir.report_md(), md.as_bytes())?;
    super::html::write_html(
        dir,
        &super::html::RunData {
            benchmark,
            results: &results,
            ids: &ids,
            clients: &clients,
            total: &total,
            missing: &missing,
        },
    )?;
    let mut headline = headline(&total);
    headline.gpu = gpu.as_ref().map(super::gpu::gpu_headline);
    Ok(Report {
        headline,
        total,
        missing,
    })
}

const METRICS: [&str; 4] = ["ttft", "itl", "tpot", "e2el"];

fn csv(ids: &[&str], clients: &[Summary], total: &Summary) -> String {
    let mut out = String::from(
        "client,requests,errors,duration_s,request_throughput,output_token_throughput,input_tokens,output_tokens",
    );
    for m in METRICS {
        for s in ["mean", "p50", "p90", "p99"] {
            let _ = write!(out, ",{m}_{s}_ms");
        }
    }
    out.push('\n');
    let rows = ids
        .iter()
        .copied()
        .zip(clients)
        .chain(std::iter::once(("total", total)));
    for (id, s) in rows {
        let _ = write!(
            out,
            "{id},{},{},{:.3},{:.3},{:.3},{},{}",
            s.requests,
            s.errors,
            s.duration_s,
            s.request_throughput,
            s.output_token_throughput,
            s.input_tokens,
            s.output_tokens
        );
        for m in METRICS {
            match s.latency.get(m) {
                Some(l) => {
                    let _ = write!(
                        out,
                        ",{:.3},{:.3},{:.3},{:.3}",
                        l.mean_ms, l.p50_ms, l.p90_ms, l.p99_ms
                    );
                }
                None => out.push_str(",,,,"),
            }
        }
        out.push('\n');
    }
    out
}

fn markdown(
    benchmark: &str,
    ids: &[&str],
    clients: &[Summary],
    total: &Summary,
    missing: &[String],
) -> String {
    let mut md = format!("# {benchmark}\n\n");
    let _ = writeln!(
        md,
        "{} requests, {} errors in {:.1}s: **{:.2} req/s**, {:.1} output tokens/s.\n",
        total.requests,
        total.errors,
        total.duration_s,
        total.request_throughput,
        total.output_token_throughput
    );
    md.push_str(&latency_table(total));
    if !total.stages.is_empty() {
        md.push_str("\n## Stages\n\n");
        md.push_str(&stages_table(total));
    }
    md.push_str(&storage_section(total));
    md.push_str("\n## Per client instance\n\n| instance | requests | errors | req/s | e2el p50 ms | e2el p99 ms |\n|---|---:|---:|---:|---:|---:|\n");
    for (id, s) in ids.iter().zip(clients) {
        let e = s.latency.get("e2el");
        let _ = writeln!(
            md,
            "| {id} | {} | {} | {:.2} | {} | {} |",
            s.requests,
            s.errors,
            s.request_throughput,
            e.map_or("-".into(), |l| format!("{:.2}", l.p50_ms)),
            e.map_or("-".into(), |l| format!("{:.2}", l.p99_ms)),
        );
    }
    if !total.error_classes.is_empty() {
        md.push_str("\n## Errors by class\n\n| class | count |\n|---|---:|\n");
        for (class, n) in &total.error_classes {
            let _ = writeln!(md, "| {class} | {n} |");
        }
    }
    if !missing.is_empty() {
        let _ = writeln!(md, "\nNo result file from: {}.", missing.join(", "));
    }
    md
}

/// A Markdown table with one row per stage of a sweep.
pub fn stages_table(s: &Summary) -> String {
    let mut md = String::from(
        "| stage | concurrency | rate | requests | errors | req/s | goodput/s | tok/s | ttft p50 ms | ttft p99 ms | tpot p50 ms | e2el p99 ms |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let stat = |st: &Summary, name: &str, f: fn(&LatencyStats) -> f64| {
        st.latency
            .get(name)
            .map_or("-".to_string(), |l| format!("{:.2}", f(l)))
    };
    let knee = s
        .saturation
        .as_ref()
        .and_then(|a| a.point.as_ref())
        .map(|p| p.stage);
    for (k, st) in s.stages.iter().enumerate() {
        let mark = if knee == Some(k) { " (saturation)" } else { "" };
        let _ = writeln!(
            md,
            "| {k}{mark} | {} | {} | {} | {} | {:.2} | {} | {:.1} | {} | {} | {} | {} |",
            st.concurrency.map_or("-".to_string(), |c| c.to_string()),
            st.rate.map_or("-".to_string(), |r| format!("{r}")),
            st.requests,
            st.errors,
            st.request_throughput,
            st.request_goodput
                .map_or("-".to_string(), |g| format!("{g:.2}")),
            st.output_token_throughput,
            stat(st, "ttft", |l| l.p50_ms),
            stat(st, "ttft", |l| l.p99_ms),
            stat(st, "tpot", |l| l.p50_ms),
            stat(st, "e2el", |l| l.p99_ms),
        );
    }
    if let Some(a) = &s.saturation {
        let _ = writeln!(md, "\nSweep: {}.", a.reason);
        if let Some(g) = &a.best_goodput {
            let _ = writeln!(
                md,
                "Best goodput: {:.2} good req/s at {} {}.",
                g.goodput.unwrap_or_default(),
                a.load_kind,
                g.load
            );
        }
        if a.stopped_early {
            md.push_str("The stages past saturation were skipped (`load.stopAtSaturation`).\n");
        }
    }
    md
}

/// Storage workloads: bytes, data loss, operations and recall (empty for
/// other workloads).
fn storage_section(s: &Summary) -> String {
    let mut md = String::new();
    if s.data_loss.is_some() || s.bytes_throughput.is_some() {
        let _ = writeln!(
            md,
            "\nBytes read {}, written {} ({:.0} B/s); **data loss: {}**.",
            s.bytes_read,
            s.bytes_written,
            s.bytes_throughput.unwrap_or(0.0),
            s.data_loss.unwrap_or(0)
        );
    }
    if let Some(r) = &s.recall {
        let _ = writeln!(
            md,
            "\n**Recall@{}: {:.4}** (mean of {} sampled queries, lowest {:.2}) against exact search.",
            r.k, r.mean, r.queries, r.min
        );
    }
    if !s.operations.is_empty() {
        md.push_str("\n| operation | requests | errors | bytes |\n|---|---:|---:|---:|\n");
        for (op, o) in &s.operations {
            let _ = writeln!(md, "| {op} | {} | {} | {} |", o.requests, o.errors, o.bytes);
        }
    }
    md
}

/// A Markdown table of the latency metrics of a summary.
pub fn latency_table(s: &Summary) -> String {
    let mut md = String::from(
        "| metric | count | mean ms | p50 ms | p90 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, l) in &s.latency {
        let _ = writeln!(
            md,
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            l.count, l.mean_ms, l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.max_ms
        );
    }
    md
}
