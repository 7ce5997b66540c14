//! The report's GPU panel (pure): power and utilisation of each GPU over
//! time from the monitors' scrapes (DCGM names: a dcgm-exporter, the
//! simulator's `--gpus`, the `nvidia-smi` sampler), and a table of the GPU
//! summary (energy, energy per output token and per request).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::monitors::MAX_POINTS;
use super::plots::{MAX_SERIES, Plot, XAxis};
use super::tables::{escape, table};
use crate::monitor::gpu::{GpuPoint, GpuSeries, GpuSummary, gpu_series};
use crate::results::monitor_files::MonitorFile;

/// The GPUs' series of every monitor.
pub fn series(monitors: &[MonitorFile]) -> Vec<GpuSeries> {
    gpu_series(monitors.iter().flat_map(|m| &m.records))
}

/// Power (W) and utilisation (%) per GPU over time, seconds from `origin`
/// (the measurement start; else the first scrape); none without GPUs.
pub fn gpu_plots(series: &[GpuSeries], origin_unix_ms: Option<i64>) -> Vec<Plot> {
    let times: BTreeSet<i64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.t_ms))
        .collect();
    let Some(first) = times.first().copied() else {
        return Vec::new();
    };
    let origin = origin_unix_ms.unwrap_or(first);
    let mut times: Vec<i64> = times.into_iter().collect();
    if times.len() > MAX_POINTS {
        let step = times.len().div_ceil(MAX_POINTS);
        times = times.into_iter().step_by(step).collect();
    }
    let shown: Vec<&GpuSeries> = series.iter().take(MAX_SERIES).collect();
    let targets: BTreeSet<&str> = shown.iter().map(|s| s.target.as_str()).collect();
    let name = |s: &GpuSeries| {
        if targets.len() > 1 {
            format!("{} gpu {}", s.target, s.gpu)
        } else {
            format!("gpu {}", s.gpu)
        }
    };
    let column = |s: &GpuSeries, f: fn(&GpuPoint) -> Option<f64>| -> Vec<Option<f64>> {
        times
            .iter()
            .map(|t| {
                s.points
                    .binary_search_by_key(t, |p| p.t_ms)
                    .ok()
                    .and_then(|i| f(&s.points[i]))
            })
            .collect()
    };
    let x: Vec<f64> = times.iter().map(|t| (t - origin) as f64 / 1000.0).collect();
    let plot = |id: &str, title: &str, y_label: &str, f: fn(&GpuPoint) -> Option<f64>| Plot {
        id: id.to_string(),
        title: title.to_string(),
        x_axis: XAxis::Seconds,
        x_label: "seconds since the measurement start".to_string(),
        y_label: y_label.to_string(),
        series: shown.iter().map(|s| name(s)).collect(),
        x: x.clone(),
        y: shown.iter().map(|s| column(s, f)).collect(),
    };
    [
        plot("plot-gpu-power", "GPU power", "W", |p| p.power),
        plot("plot-gpu-util", "GPU utilisation", "%", |p| p.util),
    ]
    .into_iter()
    .filter(Plot::has_points)
    .collect()
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

/// The GPU section: the plots' row (`plots_html`), the summary and one row
/// per GPU; a line saying there is no GPU data otherwise.
pub fn gpu_section(summary: Option<&GpuSummary>, plots_html: &str) -> String {
    let mut html = String::from("<h2 id=\"gpu\">GPU</h2>\n");
    let Some(g) = summary else {
        html.push_str(
            "<p>No GPU telemetry: no monitor scraped DCGM series over the measured window.</p>\n",
        );
        return html;
    };
    let t = &g.total;
    let _ = writeln!(
        html,
        "<p class=\"meta\">{} GPU(s) over the {:.1} s measured window; energy {} (see docs/metrics.md, GPU).</p>",
        t.gpus,
        t.duration_seconds,
        escape(match t.energy_source {
            Some(crate::monitor::gpu::EnergySource::EnergyCounter) => "from the energy counter",
            Some(crate::monitor::gpu::EnergySource::PowerIntegral) => "integrated from power",
            Some(crate::monitor::gpu::EnergySource::Mixed) =>
                "from the counter where present, else integrated from power",
            None => "unknown (the scrapes do not cover the window)",
        })
    );
    html.push_str(plots_html);
    html.push_str(&table(
        &[
            "energy J",
            "J / output token",
            "J / request",
            "mean power W",
            "max power W (one GPU)",
            "util mean %",
            "util max %",
            "memory max MiB",
        ],
        &[vec![
            opt(t.energy_joules, 1),
            opt(t.energy_per_output_token_joules, 4),
            opt(t.energy_per_request_joules, 2),
            opt(t.mean_power_watts, 1),
            opt(t.max_power_watts, 1),
            opt(t.mean_utilization_percent, 1),
            opt(t.max_utilization_percent, 1),
            opt(t.max_memory_used_mib, 0),
        ]],
    ));
    let rows: Vec<Vec<String>> = t
        .per_gpu
        .iter()
        .map(|g| {
            vec![
                g.target.clone(),
                g.gpu.clone(),
                g.model_name.clone().unwrap_or_else(|| "-".to_string()),
                opt(g.energy_joules, 1),
                opt(g.mean_power_watts, 1),
                opt(g.mean_utilization_percent, 1),
            ]
        })
        .collect();
    html.push_str(&table(
        &[
            "target",
            "gpu",
            "model",
            "energy J",
            "mean W",
            "util mean %",
        ],
        &rows,
    ));
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(target: &str, gpu: &str, points: &[(i64, f64, f64)]) -> GpuSeries {
        GpuSeries {
            target: target.to_string(),
            gpu: gpu.to_string(),
            uuid: None,
            model_name: None,
            points: points
                .iter()
                .map(|&(t_ms, power, util)| GpuPoint {
                    t_ms,
                    power: Some(power),
                    util: Some(util),
                    ..GpuPoint::default()
                })
                .collect(),
        }
    }

    #[test]
    fn power_and_utilisation_per_gpu_on_one_clock() {
        let s = [
            series("a", "0", &[(1000, 100.0, 10.0), (2000, 200.0, 20.0)]),
            series("b", "0", &[(1500, 300.0, 30.0)]),
        ];
        let plots = gpu_plots(&s, Some(1000));
        assert_eq!(plots.len(), 2);
        assert_eq!(plots[0].id, "plot-gpu-power");
        assert_eq!(plots[0].x, vec![0.0, 0.5, 1.0]);
        assert_eq!(plots[0].series, ["a gpu 0", "b gpu 0"]);
        assert_eq!(plots[0].y[0], vec![Some(100.0), None, Some(200.0)]);
        assert_eq!(plots[1].y[1], vec![None, Some(30.0), None]);
        assert!(gpu_plots(&[], None).is_empty());
        assert!(gpu_section(None, "").contains("No GPU telemetry"));
    }
}
