//! The GPU summary's math on hand-made scrapes.

use super::*;
use crate::monitor::parse::parse;

/// A scrape at `t_ms` of `gpus` GPUs, each with `(util, fb_used, power,
/// energy_mj)`; `None` leaves a series out.
fn record(target: &str, t_ms: i64, gpus: &[(f64, f64, f64, Option<f64>)]) -> ParsedRecord {
    let mut text = String::new();
    let names = [
        (UTIL, "gauge"),
        (FB_USED, "gauge"),
        (POWER, "gauge"),
        (ENERGY, "counter"),
    ];
    for (k, (name, kind)) in names.iter().enumerate() {
        text.push_str(&format!("# TYPE {name} {kind}\n"));
        for (i, g) in gpus.iter().enumerate() {
            let v = match k {
                0 => Some(g.0),
                1 => Some(g.1),
                2 => Some(g.2),
                _ => g.3,
            };
            if let Some(v) = v {
                text.push_str(&format!(
                    "{name}{{gpu=\"{i}\",UUID=\"GPU-{i}\",modelName=\"H100\",Hostname=\"n1\"}} {v}\n"
                ));
            }
        }
    }
    let parsed = parse(&text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    ParsedRecord {
        ts: jiff::Timestamp::from_millisecond(t_ms).unwrap().to_string(),
        target: target.to_string(),
        families: parsed.families,
        parse_errors: Vec::new(),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6 * b.abs().max(1.0)
}

const T0: i64 = 1_700_000_000_000;

#[test]
fn series_are_per_target_and_uuid_in_time_order() {
    let records = vec![
        record("sim", T0 + 1000, &[(10.0, 5.0, 100.0, Some(7.0))]),
        record(
            "sim",
            T0,
            &[(0.0, 5.0, 70.0, Some(0.0)), (1.0, 2.0, 3.0, Some(4.0))],
        ),
        record("other", T0, &[(0.0, 5.0, 70.0, None)]),
    ];
    let s = gpu_series(&records);
    assert_eq!(s.len(), 3);
    let sim0 = s
        .iter()
        .find(|g| g.target == "sim" && g.gpu == "0")
        .unwrap();
    assert_eq!(sim0.uuid.as_deref(), Some("GPU-0"));
    assert_eq!(sim0.model_name.as_deref(), Some("H100"));
    assert_eq!(
        sim0.points.iter().map(|p| p.t_ms).collect::<Vec<_>>(),
        vec![T0, T0 + 1000]
    );
    assert_eq!(sim0.points[1].power, Some(100.0));
    assert_eq!(sim0.points[1].energy_mj, Some(7.0));
    let other = s.iter().find(|g| g.target == "other").unwrap();
    assert_eq!(other.points[0].energy_mj, None);
}

#[test]
fn counter_energy_is_interpolated_at_the_window_ends() {
    // 100 W for the first second, 200 W for the next.
    let records = vec![
        record("sim", T0, &[(0.0, 1.0, 100.0, Some(0.0))]),
        record("sim", T0 + 1000, &[(50.0, 2.0, 200.0, Some(100_000.0))]),
        record("sim", T0 + 2000, &[(50.0, 3.0, 200.0, Some(300_000.0))]),
    ];
    let w = Window {
        start_ms: T0 + 500,
        end_ms: T0 + 1500,
    };
    let work = Work {
        output_tokens: 300,
        requests: 3,
    };
    let s = summarize(&gpu_series(&records), w, work).unwrap();
    // 50 J from the first half second, 100 J from the second.
    assert!(close(s.energy_joules.unwrap(), 150.0), "{s:?}");
    assert_eq!(s.energy_source, Some(EnergySource::EnergyCounter));
    assert!(close(s.mean_power_watts.unwrap(), 150.0));
    assert!(close(s.energy_per_output_token_joules.unwrap(), 0.5));
    assert!(close(s.energy_per_request_joules.unwrap(), 50.0));
    // Only the scrape at 1000 lies inside.
    assert_eq!(s.per_gpu[0].samples, 1);
    assert_eq!(s.max_power_watts, Some(200.0));
    assert_eq!(s.max_memory_used_mib, Some(2.0));
    assert_eq!(s.mean_utilization_percent, Some(50.0));
    assert!(close(s.duration_seconds, 1.0));
}

#[test]
fn power_integral_when_the_counter_is_missing_or_resets() {
    let no_counter = vec![
        record("x", T0, &[(0.0, 1.0, 100.0, None)]),
        record("x", T0 + 1000, &[(0.0, 1.0, 200.0, None)]),
        record("x", T0 + 2000, &[(0.0, 1.0, 200.0, None)]),
    ];
    let w = Window {
        start_ms: T0 + 500,
        end_ms: T0 + 1500,
    };
    let s = summarize(&gpu_series(&no_counter), w, Work::default()).unwrap();
    // Power 150 W at 500 ms rising to 200 W at 1000, flat after:
    // 0.5 s × 175 W + 0.5 s × 200 W.
    assert!(close(s.energy_joules.unwrap(), 187.5), "{s:?}");
    assert_eq!(s.energy_source, Some(EnergySource::PowerIntegral));
    assert_eq!(s.energy_per_output_token_joules, None);
    assert_eq!(s.energy_per_request_joules, None);

    let reset = vec![
        record("x", T0, &[(0.0, 1.0, 100.0, Some(500.0))]),
        record("x", T0 + 1000, &[(0.0, 1.0, 100.0, Some(10.0))]),
    ];
    let w = Window {
        start_ms: T0,
        end_ms: T0 + 1000,
    };
    let s = summarize(&gpu_series(&reset), w, Work::default()).unwrap();
    assert!(close(s.energy_joules.unwrap(), 100.0));
    assert_eq!(s.energy_source, Some(EnergySource::PowerIntegral));
}

#[test]
fn gpus_add_up_and_a_window_outside_the_scrapes_has_no_energy() {
    let two = |t: i64, e: f64| {
        record(
            "sim",
            t,
            &[
                (20.0, 10.0, 100.0, Some(e)),
                (60.0, 30.0, 300.0, Some(3.0 * e)),
            ],
        )
    };
    let records = vec![two(T0, 0.0), two(T0 + 2000, 200_000.0)];
    let series = gpu_series(&records);
    let w = Window {
        start_ms: T0,
        end_ms: T0 + 2000,
    };
    let s = summarize(
        &series,
        w,
        Work {
            output_tokens: 1000,
            requests: 10,
        },
    )
    .unwrap();
    assert_eq!(s.gpus, 2);
    assert!(close(s.energy_joules.unwrap(), 800.0));
    assert!(close(s.mean_power_watts.unwrap(), 400.0));
    assert!(close(s.energy_per_output_token_joules.unwrap(), 0.8));
    assert_eq!(s.max_utilization_percent, Some(60.0));
    assert_eq!(s.mean_utilization_percent, Some(40.0));
    assert_eq!(s.max_memory_used_mib, Some(30.0));
    assert_eq!(s.max_power_watts, Some(300.0));

    // A window reaching past the last scrape: no energy can be claimed.
    let late = Window {
        start_ms: T0 + 1000,
        end_ms: T0 + 3000,
    };
    let s = summarize(&series, late, Work::default()).unwrap();
    assert_eq!(s.energy_joules, None);
    assert_eq!(s.per_gpu[0].samples, 1);
    // Nothing at all in or around the window.
    let far = Window {
        start_ms: T0 + 10_000,
        end_ms: T0 + 11_000,
    };
    assert_eq!(summarize(&series, far, Work::default()), None);
    assert_eq!(summarize(&[], w, Work::default()), None);
}
