//! The GPU section of the results: the `gpu` part of `summary.json`, its
//! Markdown for `report.md` and its headline for the status, from the
//! monitors' scrapes (`metrics/*.parsed.jsonl`, DCGM names) and the clients'
//! measured windows. The math is [`crate::monitor::gpu`]; this file only
//! finds the windows and the counts and writes the words.

use std::fmt::Write as _;

use crate::api::status::GpuHeadline;
use crate::monitor::ParsedRecord;
use crate::monitor::gpu::{
    GpuSeries, GpuSummary, GpuWindowSummary, Window, Work, gpu_series, summarize,
};
use crate::workload::client_result::ClientResult;
use crate::workload::result::Summary;

/// The clients' measured window: from the earliest measurement start to the
/// latest measurement end (start + measured seconds) over the instances
/// (or stages, by `measuredFromUnixMs`) that have a start; `None` when none
/// has. An instance with stages
/// measured in several spans with warm-ups between them: its span ends with
/// its timeline's last (partial) second, so the window holds those
/// warm-ups too.
pub fn measured_window(results: &[ClientResult]) -> Option<Window> {
    let spans = results.iter().filter_map(|r| {
        let start = if r.timeline.is_empty() {
            // A stage: where its measurement started.
            r.measured_from_unix_ms?
        } else {
            r.timeline.start_unix_ms
        };
        let measured = if r.stages.is_empty() {
            (r.duration_s * 1000.0).round() as i64
        } else {
            i64::try_from(r.timeline.len()).unwrap_or(i64::MAX / 2000) * 1000
        };
        Some((start, start + measured))
    });
    let (start_ms, end_ms) = spans.reduce(|(a0, a1), (b0, b1)| (a0.min(b0), a1.max(b1)))?;
    (end_ms > start_ms).then_some(Window { start_ms, end_ms })
}

/// The stages' windows, when every instance's stages carry a timeline
/// (their measurement start); empty otherwise.
fn stage_windows(results: &[ClientResult], total: &Summary) -> Vec<(Window, Work)> {
    let mut out = Vec::new();
    for (k, st) in total.stages.iter().enumerate() {
        let stages: Option<Vec<ClientResult>> =
            results.iter().map(|r| r.stages.get(k).cloned()).collect();
        let Some(window) = stages.as_deref().and_then(measured_window) else {
            return Vec::new();
        };
        out.push((
            window,
            Work {
                output_tokens: st.output_tokens,
                requests: st.requests,
            },
        ));
    }
    out
}

/// The GPU summary of a run from its monitors' GPU series; `None` when no
/// monitor scraped a GPU or the clients left no measured window.
pub fn gpu_summary(
    series: &[GpuSeries],
    results: &[ClientResult],
    total: &Summary,
) -> Option<GpuSummary> {
    if series.is_empty() {
        return None;
    }
    let window = measured_window(results)?;
    let work = Work {
        output_tokens: total.output_tokens,
        requests: total.requests,
    };
    let summary = summarize(series, window, work)?;
    let stages = stage_windows(results, total)
        .into_iter()
        .filter_map(|(w, work)| summarize(series, w, work))
        .collect();
    Some(GpuSummary {
        total: summary,
        stages,
    })
}

/// [`gpu_summary`] from the scrapes in the results folder's `metrics/`; a
/// folder that cannot be read is logged and gives none (the report goes on).
pub fn read_gpu_summary(
    dir: &super::ResultsDir,
    results: &[ClientResult],
    total: &Summary,
) -> Option<GpuSummary> {
    let monitors = match super::monitor_files::read_monitors(&dir.metrics()) {
        Ok(m) => m,
        Err(error) => {
            tracing::warn!(%error, "cannot read the monitors' scrapes; no GPU summary");
            return None;
        }
    };
    let records: Vec<ParsedRecord> = monitors.into_iter().flat_map(|m| m.records).collect();
    gpu_summary(&gpu_series(&records), results, total)
}

/// The status's short form of a GPU summary.
pub fn gpu_headline(g: &GpuSummary) -> GpuHeadline {
    let t = &g.total;
    GpuHeadline {
        gpus: u32::try_from(t.gpus).unwrap_or(u32::MAX),
        energy_joules: t.energy_joules.map(round6),
        energy_per_output_token_joules: t.energy_per_output_token_joules.map(round6),
        energy_per_request_joules: t.energy_per_request_joules.map(round6),
        mean_power_watts: t.mean_power_watts.map(round6),
        mean_utilization_percent: t.mean_utilization_percent.map(round6),
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

/// The `## GPU` section of `report.md`.
pub fn gpu_markdown(g: &GpuSummary) -> String {
    let t = &g.total;
    let mut md = String::from("\n## GPU\n\n");
    let _ = writeln!(
        md,
        "{} GPU(s) over the {:.1} s measured window: energy **{} J** ({}), **{} J per output token**, {} J per request; mean power {} W (all GPUs), max {} W (one GPU); utilisation mean {} %, max {} %; memory used max {} MiB.\n",
        t.gpus,
        t.duration_seconds,
        opt(t.energy_joules, 1),
        t.energy_source.map_or("no energy data", |s| match s {
            crate::monitor::gpu::EnergySource::EnergyCounter => "from the energy counter",
            crate::monitor::gpu::EnergySource::PowerIntegral => "integrated from power",
            crate::monitor::gpu::EnergySource::Mixed => "counter and power integral",
        }),
        opt(t.energy_per_output_token_joules, 4),
        opt(t.energy_per_request_joules, 2),
        opt(t.mean_power_watts, 1),
        opt(t.max_power_watts, 1),
        opt(t.mean_utilization_percent, 1),
        opt(t.max_utilization_percent, 1),
        opt(t.max_memory_used_mib, 0),
    );
    md.push_str(&gpu_table(t));
    if !g.stages.is_empty() {
        md.push_str("\n| stage | energy J | J/output token | J/request | mean W | util mean % |\n|---:|---:|---:|---:|---:|---:|\n");
        for (k, s) in g.stages.iter().enumerate() {
            let _ = writeln!(
                md,
                "| {k} | {} | {} | {} | {} | {} |",
                opt(s.energy_joules, 1),
                opt(s.energy_per_output_token_joules, 4),
                opt(s.energy_per_request_joules, 2),
                opt(s.mean_power_watts, 1),
                opt(s.mean_utilization_percent, 1),
            );
        }
    }
    md
}

fn gpu_table(t: &GpuWindowSummary) -> String {
    let mut md = String::from(
        "| target | gpu | model | energy J | mean W | max W | util mean % | mem max MiB |\n|---|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for g in &t.per_gpu {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            g.target,
            g.gpu,
            g.model_name.as_deref().unwrap_or("-"),
            opt(g.energy_joules, 1),
            opt(g.mean_power_watts, 1),
            opt(g.max_power_watts, 1),
            opt(g.mean_utilization_percent, 1),
            opt(g.max_memory_used_mib, 0),
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::load::Timeline;

    fn result(start: i64, duration_s: f64) -> ClientResult {
        ClientResult {
            duration_s,
            timeline: Timeline {
                start_unix_ms: start,
                completed: vec![1],
                errors: vec![0],
                output_tokens: vec![1],
                in_flight: vec![0],
                truncated: false,
            },
            ..Default::default()
        }
    }

    #[test]
    fn the_window_spans_every_instance() {
        let w = measured_window(&[result(1000, 2.0), result(1500, 2.0)]).unwrap();
        assert_eq!(
            w,
            Window {
                start_ms: 1000,
                end_ms: 3500
            }
        );
        // No timeline: no window.
        assert_eq!(measured_window(&[ClientResult::default()]), None);
    }

    #[test]
    fn stages_of_a_combined_result_keep_their_own_windows() {
        let total =
            ClientResult::combine_stages(vec![result(10_000, 2.0), result(14_000, 3.0)]).unwrap();
        assert!(total.stages.iter().all(|s| s.timeline.is_empty()));
        let second = measured_window(std::slice::from_ref(&total.stages[1])).unwrap();
        assert_eq!((second.start_ms, second.end_ms), (14_000, 17_000));
        // Written and read back, a stage keeps its start.
        let back: ClientResult =
            serde_json::from_str(&serde_json::to_string(&total).unwrap()).unwrap();
        assert_eq!(back.stages[0].measured_from_unix_ms, Some(10_000));
        let w = stage_windows(
            std::slice::from_ref(&back),
            &crate::workload::result::merge(std::slice::from_ref(&back)).unwrap(),
        );
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].0.start_ms, w[0].0.end_ms), (10_000, 12_000));
    }
}
