//! `nvidia-smi` readings as DCGM-named series (pure), for sites without a
//! DCGM exporter: `aifbench gpu-exporter` ([`super::gpu_exporter`]) runs
//!
//! ```text
//! nvidia-smi --query-gpu=index,uuid,name,utilization.gpu,memory.used,memory.total,power.draw \
//!            --format=csv,noheader,nounits -lms N
//! ```
//!
//! next to the service, turns each line into a [`Reading`] ([`parse_line`])
//! and serves them under dcgm-exporter's names ([`Readings::render`]), so a
//! monitor scrapes it like a dcgm-exporter and [`super::gpu`] summarises
//! both the same way. nvidia-smi has no energy counter here: the exporter
//! integrates `power.draw` between readings (trapezoids) into
//! `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION` (mJ since the exporter started).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::exposition::{escape_label, header};

/// The `--query-gpu` fields, in the order [`parse_line`] reads them.
pub const QUERY: &str = "index,uuid,name,utilization.gpu,memory.used,memory.total,power.draw";

/// One GPU in one line of `nvidia-smi` output.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// `index`.
    pub index: u32,
    /// `uuid` (`GPU-...`).
    pub uuid: String,
    /// `name` (product).
    pub name: String,
    /// `utilization.gpu` (%); `None` when `[N/A]`.
    pub util: Option<f64>,
    /// `memory.used` (MiB).
    pub memory_used: Option<f64>,
    /// `memory.total` (MiB).
    pub memory_total: Option<f64>,
    /// `power.draw` (W).
    pub power: Option<f64>,
}

/// A number, or `None` for nvidia-smi's `[N/A]`, `[Not Supported]`, ...
fn number(field: &str) -> Result<Option<f64>, String> {
    let f = field.trim();
    if f.starts_with('[') || f.eq_ignore_ascii_case("n/a") {
        return Ok(None);
    }
    f.parse::<f64>()
        .map(Some)
        .map_err(|_| format!("not a number: {f:?}"))
}

/// Parses one line of the query's CSV (no header, no units). The name may
/// contain commas: the fields are taken from both ends.
pub fn parse_line(line: &str) -> Result<Reading, String> {
    let fields: Vec<&str> = line.trim().split(',').collect();
    if fields.len() < 7 {
        return Err(format!(
            "expected 7 fields ({QUERY}), got {}: {line:?}",
            fields.len()
        ));
    }
    let n = fields.len();
    let index = fields[0]
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("GPU index is not a number: {:?}", fields[0].trim()))?;
    Ok(Reading {
        index,
        uuid: fields[1].trim().to_string(),
        name: fields[2..n - 4].join(",").trim().to_string(),
        util: number(fields[n - 4])?,
        memory_used: number(fields[n - 3])?,
        memory_total: number(fields[n - 2])?,
        power: number(fields[n - 1])?,
    })
}

/// One GPU's latest reading and the energy integrated so far.
#[derive(Debug, Clone, PartialEq)]
struct Gpu {
    last: Reading,
    at_ms: i64,
    energy_j: f64,
}

/// A series served: name, type, help, and its value for a GPU.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Gpu) -> Option<f64>,
);

/// The latest reading of every GPU and its integrated energy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Readings {
    gpus: BTreeMap<u32, Gpu>,
}

impl Readings {
    /// Records `r`, read at `at_ms`: the energy grows by the trapezoid
    /// between this GPU's previous power and this one.
    pub fn record(&mut self, r: Reading, at_ms: i64) {
        match self.gpus.get_mut(&r.index) {
            Some(g) => {
                if let (Some(p0), Some(p1)) = (g.last.power, r.power)
                    && at_ms > g.at_ms
                {
                    g.energy_j += (at_ms - g.at_ms) as f64 / 1000.0 * (p0 + p1) / 2.0;
                }
                if at_ms >= g.at_ms {
                    g.at_ms = at_ms;
                    g.last = r;
                }
            }
            None => {
                self.gpus.insert(
                    r.index,
                    Gpu {
                        last: r,
                        at_ms,
                        energy_j: 0.0,
                    },
                );
            }
        }
    }

    /// Whether any GPU was read.
    pub fn is_empty(&self) -> bool {
        self.gpus.is_empty()
    }

    /// The readings under dcgm-exporter's names and labels, in the
    /// Prometheus text format.
    pub fn render(&self, hostname: &str) -> String {
        let mut out = String::new();
        let series: [Series; 5] = [
            (super::gpu::UTIL, "gauge", "GPU utilization (in %).", |g| {
                g.last.util
            }),
            (
                super::gpu::FB_FREE,
                "gauge",
                "Framebuffer memory free (in MiB).",
                |g| Some(g.last.memory_total? - g.last.memory_used?),
            ),
            (
                super::gpu::FB_USED,
                "gauge",
                "Framebuffer memory used (in MiB).",
                |g| g.last.memory_used,
            ),
            (super::gpu::POWER, "gauge", "Power draw (in W).", |g| {
                g.last.power
            }),
            (
                super::gpu::ENERGY,
                "counter",
                "Energy since the exporter started (in mJ), integrated from nvidia-smi power.draw.",
                |g| Some((g.energy_j * 1000.0).round()),
            ),
        ];
        for (name, kind, help, value) in series {
            header(&mut out, name, help, kind);
            for g in self.gpus.values() {
                let Some(v) = value(g) else {
                    continue;
                };
                let _ = writeln!(
                    out,
                    "{name}{{gpu=\"{}\",UUID=\"{}\",device=\"nvidia{}\",modelName=\"{}\",Hostname=\"{}\"}} {v}",
                    g.last.index,
                    escape_label(&g.last.uuid),
                    g.last.index,
                    escape_label(&g.last.name),
                    escape_label(hostname),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::gpu::{Window, Work, gpu_series, summarize};
    use crate::monitor::scrape::ParsedRecord;

    /// What `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`
    /// prints on a two-GPU node.
    const OUTPUT: &str = "\
0, GPU-5e6f1a2b-3c4d-5e6f-7a8b-9c0d1e2f3a4b, NVIDIA A100-SXM4-40GB, 87, 35112, 40960, 312.45
1, GPU-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d, NVIDIA A100-SXM4-40GB, 0, 4, 40960, [N/A]
";

    #[test]
    fn parses_real_looking_lines() {
        let r: Vec<Reading> = OUTPUT.lines().map(|l| parse_line(l).unwrap()).collect();
        assert_eq!(r[0].index, 0);
        assert_eq!(r[0].uuid, "GPU-5e6f1a2b-3c4d-5e6f-7a8b-9c0d1e2f3a4b");
        assert_eq!(r[0].name, "NVIDIA A100-SXM4-40GB");
        assert_eq!(r[0].util, Some(87.0));
        assert_eq!(r[0].memory_used, Some(35112.0));
        assert_eq!(r[0].memory_total, Some(40960.0));
        assert_eq!(r[0].power, Some(312.45));
        assert_eq!(r[1].power, None);
        // A name with a comma, [Not Supported] and malformed lines.
        let odd = parse_line("2, GPU-x, Tesla V100, PCIe, [Not Supported], 1, 2, 50").unwrap();
        assert_eq!(odd.name, "Tesla V100, PCIe");
        assert_eq!(odd.util, None);
        assert!(parse_line("0, GPU-x, A100, 1, 2").is_err());
        assert!(parse_line("zero, GPU-x, A100, 1, 2, 3, 4").is_err());
        assert!(parse_line("0, GPU-x, A100, 1, lots, 3, 4").is_err());
    }

    #[test]
    fn readings_render_dcgm_series_the_summary_reads() {
        let mut readings = Readings::default();
        let at = |s: i64| 1_700_000_000_000 + s * 1000;
        for (s, power) in [(0, 100.0), (1, 200.0), (2, 200.0)] {
            let line = format!("0, GPU-a, NVIDIA H100 80GB HBM3, 50, 1000, 81559, {power}");
            readings.record(parse_line(&line).unwrap(), at(s));
        }
        let text = readings.render("node-7");
        assert!(text.contains(
            "DCGM_FI_DEV_POWER_USAGE{gpu=\"0\",UUID=\"GPU-a\",device=\"nvidia0\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"node-7\"} 200\n"
        ));
        assert!(text.contains("DCGM_FI_DEV_FB_FREE{gpu=\"0\""));
        // 1 s at 100→200 W (150 J) + 1 s at 200 W (200 J).
        assert!(text.contains("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu=\"0\",UUID=\"GPU-a\",device=\"nvidia0\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"node-7\"} 350000\n"), "{text}");
        let parsed = crate::monitor::parse::parse(&text);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let record = ParsedRecord {
            ts: jiff::Timestamp::from_millisecond(at(2))
                .unwrap()
                .to_string(),
            target: "vllm".to_string(),
            families: parsed.families,
            parse_errors: Vec::new(),
        };
        let series = gpu_series(&[record]);
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].points[0].power, Some(200.0));
        assert_eq!(series[0].points[0].fb_used, Some(1000.0));
        assert_eq!(series[0].points[0].energy_mj, Some(350_000.0));
        let s = summarize(
            &series,
            Window {
                start_ms: at(2),
                end_ms: at(3),
            },
            Work::default(),
        )
        .unwrap();
        assert_eq!(
            s.per_gpu[0].model_name.as_deref(),
            Some("NVIDIA H100 80GB HBM3")
        );
    }
}
