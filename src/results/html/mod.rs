//! `report.html`: one self-contained page per run, written next to
//! `report.md` by the `report` post-action and by `aifbench report DIR`.
//!
//! It holds everything inline (no network): latency distributions as
//! percentile plots on a log axis from the merged histograms; requests,
//! errors, output tokens and in-flight requests per second from the merged
//! client timelines; the server's own metrics over time from the monitors'
//! parsed scrapes (`monitors`), GPU power and utilisation with the energy
//! per token when a monitor scraped GPUs (`gpu`); a sweep's stages side by side; the SLO
//! verdict; errors by class; storage figures; a per-instance table; and
//! `environment.json`. The plot data is computed here (`plots`, `monitors`,
//! pure), the text sections are HTML with every value escaped (`tables`),
//! and this file reads the folder and assembles the page.
//!
//! Plots are drawn in the browser by uPlot 1.6.32 (MIT, vendored unmodified
//! under `vendor/`, 51 KB minified) from the data embedded as JSON, by the
//! small `render.js`. Chosen over a Rust plotting crate (`plotters` with its
//! SVG backend): it adds nothing to the build (two `include_str!`s, no
//! crate), the page carries compact JSON columns instead of one SVG path per
//! series (a 4-hour timeline stays a few hundred KB), and the plots are
//! interactive (values under the cursor, zoom by selection, series toggled
//! from the legend).

mod gpu;
mod monitors;
mod overhead;
mod plots;
mod provenance;
mod tables;

use std::fmt::Write as _;
use std::time::Instant;

use serde::Deserialize;

pub use super::monitor_files::{MonitorFile, read_monitors};
pub use monitors::{MAX_PANELS, MAX_POINTS, monitor_plots};
pub use plots::{MAX_SERIES, Plot, XAxis};
pub use tables::{escape, table};

use super::{ResultsDir, ResultsError};
use crate::api::spec::SloSpec;
use crate::workload::client_result::merged_histograms;
use crate::workload::result::{ClientResult, Summary, merge_timelines};

const UPLOT_JS: &str = include_str!("vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("vendor/uPlot.min.css");
const RENDER_JS: &str = include_str!("render.js");

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1320px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta { color: #666; } .headline { font-size: 1.1em; }
nav a { margin-right: 1em; }
.good { color: #17692a; font-weight: bold; } .bad { color: #b00020; font-weight: bold; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plot { flex: 1 1 600px; min-width: 320px; max-width: 650px; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
thead { background: #f4f4f4; }
";

/// What the report merged, for the page.
#[derive(Debug, Clone, Copy)]
pub struct RunData<'a> {
    /// The benchmark's name.
    pub benchmark: &'a str,
    /// Every instance's result, in `ids` order.
    pub results: &'a [ClientResult],
    /// The instances' ids.
    pub ids: &'a [&'a str],
    /// Each instance's summary, in `ids` order.
    pub clients: &'a [Summary],
    /// All instances merged.
    pub total: &'a Summary,
    /// Instances without a result file.
    pub missing: &'a [String],
}

/// What writing the page produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlReport {
    /// Size of `report.html` in bytes.
    pub bytes: usize,
    /// The ids of its plots, in page order.
    pub plots: Vec<String>,
}

#[derive(Deserialize, Default)]
struct SloOf {
    #[serde(default)]
    spec: SloSpecs,
}

#[derive(Deserialize, Default)]
struct SloSpecs {
    #[serde(default)]
    slo: Vec<SloSpec>,
}

/// The run's folder beyond the client results: its objectives, environment
/// and monitors (each optional: a missing or unreadable file leaves its
/// section saying so).
struct Folder {
    slo: Vec<SloSpec>,
    environment: Option<serde_json::Value>,
    monitors: Vec<MonitorFile>,
    name: String,
}

fn read_folder(dir: &ResultsDir) -> Result<Folder, ResultsError> {
    let slo = std::fs::read_to_string(dir.benchmark_yaml())
        .ok()
        .and_then(|text| serde_norway::from_str::<SloOf>(&text).ok())
        .unwrap_or_default()
        .spec
        .slo;
    let environment = std::fs::read_to_string(dir.environment_json())
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let monitors = read_monitors(&dir.metrics()).map_err(|source| ResultsError::Io {
        path: dir.metrics(),
        source,
    })?;
    let name = dir
        .root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Folder {
        slo,
        environment,
        monitors,
        name,
    })
}

/// Writes `report.html` into `dir` (atomically) and says how big it is.
pub fn write_html(dir: &ResultsDir, run: &RunData<'_>) -> Result<HtmlReport, ResultsError> {
    let started = Instant::now();
    let folder = read_folder(dir)?;
    let (html, plots) = render(run, &folder).map_err(|message| ResultsError::Format {
        path: dir.report_html(),
        message,
    })?;
    super::write_atomic(&dir.report_html(), html.as_bytes())?;
    tracing::info!(
        path = %dir.report_html().display(),
        bytes = html.len(),
        plots = plots.len(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "report.html written"
    );
    Ok(HtmlReport {
        bytes: html.len(),
        plots,
    })
}

/// One `<div>` per plot, in a flex row.
fn plot_row(plots: &[Plot]) -> String {
    let mut html = String::from("<div class=\"plots\">\n");
    for p in plots {
        let _ = writeln!(
            html,
            "<div class=\"plot\" id=\"{}\" data-title=\"{}\"></div>",
            escape(&p.id),
            escape(&p.title)
        );
    }
    html.push_str("</div>\n");
    html
}

/// JSON safe inside a `<script>` element: `<`, `>` and `&` as `\u` escapes
/// (they only occur inside JSON strings, where the escape is equivalent).
fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The page and its plot ids (pure apart from the clock for the "written
/// at" line).
fn render(run: &RunData<'_>, folder: &Folder) -> Result<(String, Vec<String>), String> {
    let total = run.total;
    let histograms = merged_histograms(run.results, None).map_err(|e| e.to_string())?;
    let mut latency = plots::latency_plots(&histograms);
    let timeline = merge_timelines(run.results);
    let mut over_time = plots::timeline_plots(&timeline);
    let mut stages = plots::stage_plots(total);
    if !total.stages.is_empty() {
        let metric = ["ttft", "e2el", "ttlb"]
            .into_iter()
            .find(|m| histograms.contains_key(*m));
        if let Some(metric) = metric {
            let mut per_stage = Vec::new();
            for (k, s) in total.stages.iter().enumerate() {
                let mut merged =
                    merged_histograms(run.results, Some(k)).map_err(|e| e.to_string())?;
                if let Some(h) = merged.remove(metric) {
                    let load = match (s.concurrency, s.rate) {
                        (_, Some(r)) => format!("stage {} (rate {r})", k + 1),
                        (Some(c), None) => format!("stage {} (concurrency {c})", k + 1),
                        _ => format!("stage {}", k + 1),
                    };
                    per_stage.push((load, h));
                }
            }
            stages.extend(plots::stage_distribution_plot(metric, &per_stage));
        }
    }
    let origin = (!timeline.is_empty()).then_some(timeline.start_unix_ms);
    let mut server: Vec<Plot> = folder
        .monitors
        .iter()
        .flat_map(|m| monitor_plots(m, origin))
        .collect();
    let gpus = gpu::series(&folder.monitors);
    let mut gpu_plots = gpu::gpu_plots(&gpus, origin);

    // Unique ids, in page order.
    let mut seen = std::collections::BTreeSet::new();
    let all = latency
        .iter_mut()
        .chain(&mut over_time)
        .chain(&mut stages)
        .chain(&mut server)
        .chain(&mut gpu_plots);
    for p in all {
        let base = p.id.clone();
        let mut n = 1;
        while !seen.insert(p.id.clone()) {
            n += 1;
            p.id = format!("{base}-{n}");
        }
    }

    let title = format!("{} — aifbench report", run.benchmark);
    let mut body = String::new();
    let _ = writeln!(body, "<h1>{}</h1>", escape(run.benchmark));
    let _ = writeln!(
        body,
        "<p class=\"meta\">Results folder <code>{}</code>; {} client instance(s); report written {}.</p>",
        escape(&folder.name),
        total.instances,
        escape(
            &jiff::Timestamp::now()
                .strftime("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        )
    );
    body.push_str(&tables::headline_section(total));
    body.push_str(
        "<nav><a href=\"#slo\">SLO</a><a href=\"#latency\">Latency</a><a href=\"#over-time\">Over time</a>\
         <a href=\"#stages\">Stages</a><a href=\"#server\">Server metrics</a><a href=\"#errors\">Errors</a>\
         <a href=\"#instances\">Instances</a><a href=\"#environment\">Environment</a></nav>\n",
    );
    body.push_str(&tables::slo_section(&folder.slo, total));

    body.push_str("<h2 id=\"latency\">Latency</h2>\n");
    body.push_str(&plot_row(&latency));
    body.push_str(&tables::latency_table(total));

    body.push_str("<h2 id=\"over-time\">Over time</h2>\n");
    if over_time.is_empty() {
        body.push_str("<p>No per-second timeline in the client results.</p>\n");
    } else {
        let _ = writeln!(
            body,
            "<p class=\"meta\">All instances summed per second, aligned on their wall-clock start; second 0 is the end of the warm-up.{}</p>",
            if timeline.truncated {
                " The timeline is capped: later seconds were not kept."
            } else {
                ""
            }
        );
        body.push_str(&plot_row(&over_time));
    }

    if !total.stages.is_empty() {
        body.push_str("<h2 id=\"stages\">Stages</h2>\n");
        body.push_str(&plot_row(&stages));
        body.push_str(&tables::stages_table(total));
    }

    body.push_str("<h2 id=\"server\">Server metrics</h2>\n");
    if folder.monitors.is_empty() {
        body.push_str("<p>No monitor in this run.</p>\n");
    } else {
        let _ = writeln!(
            body,
            "<p class=\"meta\">From the monitors' scrapes: gauges, and counters as rates per second; at most {MAX_PANELS} panels per monitor.</p>"
        );
        body.push_str(&plot_row(&server));
        body.push_str(&tables::monitors_table(&folder.monitors));
    }
    if !gpus.is_empty() {
        let summary = super::gpu::gpu_summary(&gpus, run.results, total);
        body.push_str(&gpu::gpu_section(summary.as_ref(), &plot_row(&gpu_plots)));
    }

    body.push_str(&tables::errors_section(total));
    body.push_str(&tables::storage_section(total));
    body.push_str(&tables::instances_section(
        run.ids,
        run.clients,
        run.missing,
    ));
    body.push_str(&overhead::overhead_section(total, run.ids, run.clients));
    body.push_str(&provenance::provenance_section(folder.environment.as_ref()));
    body.push_str(&tables::environment_section(folder.environment.as_ref()));

    let plots: Vec<&Plot> = latency
        .iter()
        .chain(&over_time)
        .chain(&stages)
        .chain(&server)
        .chain(&gpu_plots)
        .collect();
    let ids = plots.iter().map(|p| p.id.clone()).collect();
    let data = serde_json::json!({ "plots": plots });
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{UPLOT_CSS}</style>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\
         <script type=\"application/json\" id=\"aifb-data\">{}</script>\n\
         <script>{UPLOT_JS}</script>\n<script>{RENDER_JS}</script>\n</body>\n</html>\n",
        escape(&title),
        script_json(&data)
    );
    Ok((html, ids))
}

#[cfg(test)]
mod tests;
