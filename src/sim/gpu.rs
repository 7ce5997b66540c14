//! Simulated GPUs: DCGM-exporter-named gauges driven by the simulator's own
//! load, so the whole GPU pipeline (scrape, summary, energy per token,
//! report) can be tested without a GPU. **Nothing here is measured.**
//!
//! The power model, per simulated GPU (the model is taken to be served
//! tensor-parallel, so every GPU works on every running request):
//!
//! ```text
//! power(n) = min(idle_watts + watts_per_active_request × n, max_watts)
//! ```
//!
//! with `n` the requests generating (`vllm:num_requests_running`). The
//! energy counter is the exact integral of that power over time: it is
//! brought up to date on every change of `n` and at every scrape, so with a
//! known `n` over a window the expected energy is `power(n) × seconds`.
//! Utilisation is the power's place between idle and maximum (0 % idle,
//! 100 % at `max_watts`); memory used is a fixed share of the GPU's memory,
//! as vLLM allocates its KV cache up front.
//!
//! Series and labels follow dcgm-exporter's defaults
//! (`default-counters.csv`): `DCGM_FI_DEV_GPU_UTIL` (%),
//! `DCGM_FI_DEV_FB_USED` / `DCGM_FI_DEV_FB_FREE` (MiB),
//! `DCGM_FI_DEV_POWER_USAGE` (W) and `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`
//! (mJ, a counter), labelled `gpu`, `UUID`, `device`, `modelName`,
//! `Hostname`.

use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use crate::exposition::{escape_label, format_value};

/// Share of the memory a simulated GPU shows as used (vLLM's default
/// `--gpu-memory-utilization`).
pub const MEMORY_USED_FRACTION: f64 = 0.9;

/// The power model and inventory of the simulated GPUs.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuConfig {
    /// How many GPUs; 0 exposes no GPU metrics.
    pub count: u32,
    /// Product name (`modelName`).
    pub model_name: String,
    /// Power of one GPU with no request running (W).
    pub idle_watts: f64,
    /// Power added per running request (W, per GPU).
    pub watts_per_active_request: f64,
    /// Power cap of one GPU (W).
    pub max_watts: f64,
    /// Memory of one GPU (MiB).
    pub memory_mib: u64,
}

impl Default for GpuConfig {
    fn default() -> Self {
        Self {
            count: 0,
            model_name: "NVIDIA H100 80GB HBM3 (simulated)".to_owned(),
            idle_watts: 70.0,
            watts_per_active_request: 30.0,
            max_watts: 700.0,
            memory_mib: 81_559,
        }
    }
}

impl GpuConfig {
    /// Power of one GPU with `running` requests generating (W).
    pub fn power_watts(&self, running: u64) -> f64 {
        (self.idle_watts + self.watts_per_active_request * running as f64).min(self.max_watts)
    }

    /// Utilisation (%) of one GPU at `power` watts.
    pub fn utilisation_percent(&self, power: f64) -> f64 {
        let span = self.max_watts - self.idle_watts;
        if span <= 0.0 {
            return if power > self.idle_watts { 100.0 } else { 0.0 };
        }
        ((power - self.idle_watts) / span * 100.0).clamp(0.0, 100.0)
    }

    /// Checks the model: finite, non-negative watts, idle at most the cap.
    pub fn validate(&self) -> Result<(), String> {
        let watts = [
            ("idle watts", self.idle_watts),
            ("watts per active request", self.watts_per_active_request),
            ("max watts", self.max_watts),
        ];
        for (what, v) in watts {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("GPU {what} must be a number >= 0, got {v}"));
            }
        }
        if self.idle_watts > self.max_watts {
            return Err(format!(
                "GPU idle watts ({}) above max watts ({})",
                self.idle_watts, self.max_watts
            ));
        }
        if self.count > 64 {
            return Err(format!("at most 64 simulated GPUs, got {}", self.count));
        }
        Ok(())
    }
}

/// What changes over time: the running requests and the energy so far.
#[derive(Debug)]
struct State {
    running: u64,
    since: Instant,
    /// Energy of one GPU up to `since` (J).
    energy_j: f64,
}

/// The simulated GPUs of one server.
#[derive(Debug)]
pub struct GpuSim {
    config: GpuConfig,
    hostname: String,
    state: Mutex<State>,
}

impl GpuSim {
    /// GPUs that start idle now.
    pub fn new(config: GpuConfig, hostname: String) -> Self {
        Self::starting_at(config, hostname, Instant::now())
    }

    fn starting_at(config: GpuConfig, hostname: String, at: Instant) -> Self {
        Self {
            config,
            hostname,
            state: Mutex::new(State {
                running: 0,
                since: at,
                energy_j: 0.0,
            }),
        }
    }

    /// Integrates the power up to `at` and applies `delta` to the running
    /// requests; returns the energy of one GPU so far (J) and the power from
    /// `at` on (W).
    fn advance(&self, at: Instant, delta: i64) -> (f64, f64) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = at.saturating_duration_since(s.since).as_secs_f64();
        s.energy_j += self.config.power_watts(s.running) * elapsed;
        s.since = s.since.max(at);
        s.running = s.running.saturating_add_signed(delta);
        (s.energy_j, self.config.power_watts(s.running))
    }

    /// The running requests changed by `delta` now.
    pub fn running_changed(&self, delta: i64) {
        self.advance(Instant::now(), delta);
    }

    /// The DCGM series, in the Prometheus text format, as of now.
    pub fn render(&self, out: &mut String) {
        self.render_at(out, Instant::now());
    }

    fn render_at(&self, out: &mut String, at: Instant) {
        if self.config.count == 0 {
            return;
        }
        let (energy_j, power) = self.advance(at, 0);
        let c = &self.config;
        let used = (c.memory_mib as f64 * MEMORY_USED_FRACTION).round();
        let free = c.memory_mib as f64 - used;
        let series = [
            (
                "DCGM_FI_DEV_GPU_UTIL",
                "gauge",
                "GPU utilization (in %).",
                c.utilisation_percent(power).round(),
            ),
            (
                "DCGM_FI_DEV_FB_FREE",
                "gauge",
                "Framebuffer memory free (in MiB).",
                free,
            ),
            (
                "DCGM_FI_DEV_FB_USED",
                "gauge",
                "Framebuffer memory used (in MiB).",
                used,
            ),
            (
                "DCGM_FI_DEV_POWER_USAGE",
                "gauge",
                "Power draw (in W).",
                power,
            ),
            (
                "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
                "counter",
                "Total energy consumption since boot (in mJ).",
                (energy_j * 1000.0).round(),
            ),
        ];
        for (name, kind, help, value) in series {
            let _ = writeln!(out, "# HELP {name} {help} Simulated by aifbench sim.");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for gpu in 0..c.count {
                let _ = writeln!(
                    out,
                    "{name}{{gpu=\"{gpu}\",UUID=\"{}\",device=\"nvidia{gpu}\",modelName=\"{}\",Hostname=\"{}\"}} {}",
                    uuid(gpu),
                    escape_label(&c.model_name),
                    escape_label(&self.hostname),
                    format_value(value)
                );
            }
        }
    }
}

/// A stable, obviously fake UUID for simulated GPU `index`.
pub fn uuid(index: u32) -> String {
    format!("GPU-00000000-0000-0000-0000-{index:012x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> GpuConfig {
        GpuConfig {
            count: 2,
            idle_watts: 100.0,
            watts_per_active_request: 50.0,
            max_watts: 250.0,
            ..GpuConfig::default()
        }
    }

    fn value(text: &str, prefix: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    }

    #[test]
    fn power_rises_with_load_and_is_capped() {
        let c = config();
        assert_eq!(c.power_watts(0), 100.0);
        assert_eq!(c.power_watts(2), 200.0);
        assert_eq!(c.power_watts(10), 250.0);
        assert_eq!(c.utilisation_percent(100.0), 0.0);
        assert!((c.utilisation_percent(175.0) - 50.0).abs() < 1e-9);
        assert_eq!(c.utilisation_percent(250.0), 100.0);
        assert!(
            GpuConfig {
                idle_watts: 300.0,
                ..config()
            }
            .validate()
            .is_err()
        );
        assert!(config().validate().is_ok());
    }

    #[test]
    fn energy_is_the_exact_integral_of_power() {
        let t0 = Instant::now();
        let g = GpuSim::starting_at(config(), "node-1".into(), t0);
        // 1 s idle (100 J), 2 s with one request (300 J), 0.5 s with five
        // (capped at 250 W: 125 J), then idle again for 1 s (100 J).
        g.advance(t0 + Duration::from_secs(1), 1);
        g.advance(t0 + Duration::from_secs(3), 4);
        g.advance(t0 + Duration::from_millis(3500), -5);
        let mut text = String::new();
        g.render_at(&mut text, t0 + Duration::from_millis(4500));
        let energy = value(&text, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu=\"1\"");
        assert_eq!(energy, 625_000.0);
        assert_eq!(value(&text, "DCGM_FI_DEV_POWER_USAGE{gpu=\"0\""), 100.0);
        assert_eq!(value(&text, "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\""), 0.0);
        assert_eq!(value(&text, "DCGM_FI_DEV_FB_USED{gpu=\"0\""), 73_403.0);
        assert_eq!(value(&text, "DCGM_FI_DEV_FB_FREE{gpu=\"0\""), 8_156.0);
        assert!(text.contains("# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n"));
        assert!(text.contains(
            "UUID=\"GPU-00000000-0000-0000-0000-000000000001\",device=\"nvidia1\",modelName=\"NVIDIA H100 80GB HBM3 (simulated)\",Hostname=\"node-1\"}"
        ));
        // What the monitor's parser reads back.
        let parsed = crate::monitor::parse::parse(&text);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let energy = parsed
            .families
            .iter()
            .find(|f| f.name == "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
            .expect("energy family");
        assert_eq!(
            energy.metric_type,
            crate::monitor::parse::MetricType::Counter
        );
        assert_eq!(energy.samples.len(), 2);
    }

    #[test]
    fn no_gpus_no_series() {
        let g = GpuSim::new(GpuConfig::default(), "h".into());
        let mut text = String::new();
        g.render(&mut text);
        assert!(text.is_empty());
    }
}
