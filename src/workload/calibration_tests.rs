use super::*;
use crate::workload::stats::LatencyStats;

fn stats(count: u64, p50_ms: f64) -> LatencyStats {
    LatencyStats {
        count,
        mean_ms: p50_ms,
        std_ms: 0.0,
        min_ms: p50_ms,
        p50_ms,
        p90_ms: p50_ms,
        p95_ms: p50_ms,
        p99_ms: p50_ms,
        max_ms: p50_ms,
        percentiles: Default::default(),
    }
}

fn ttft(p50_ms: f64) -> LatencyStats {
    stats(100, p50_ms)
}

#[test]
fn the_flag_is_raised_above_five_percent_of_the_measured_ttft() {
    assert_eq!(flag(2.0, Some(&ttft(50.0))), None);
    let why = flag(3.0, Some(&ttft(50.0))).expect("flagged");
    assert!(why.contains("3.00 ms") && why.contains("50.00 ms"), "{why}");
    assert_eq!(flag(100.0, None), None);
    assert_eq!(flag(100.0, Some(&stats(0, 1.0))), None);
}

fn with_calibration(p99: f64, flagged: bool) -> Calibration {
    Calibration {
        ttft_overhead_mean_ms: p99 / 2.0,
        ttft_overhead_p99_ms: p99,
        itl_overhead_p99_ms: Some(p99 / 4.0),
        cpu_headroom: 0.5,
        flagged: flagged.then(|| "x".to_string()),
        ..Calibration::default()
    }
}

#[test]
fn the_summary_takes_the_worst_instance() {
    let (a, b) = (with_calibration(1.0, false), with_calibration(4.0, false));
    let rs = [("a", &a), ("b", &b)];
    let s = summarize(&rs, Some(&ttft(100.0))).expect("summary");
    assert_eq!(s.instances, 2);
    assert_eq!(s.ttft_overhead_p99_ms, 4.0);
    assert_eq!(s.ttft_overhead_mean_ms, 1.25);
    assert_eq!(s.itl_overhead_p99_ms, Some(1.0));
    assert_eq!(s.warning, None);
    let s = summarize(&rs, Some(&ttft(40.0))).expect("summary");
    assert!(s.warning.is_some(), "{s:?}");
    let a = with_calibration(1.0, true);
    let rs = [("a", &a)];
    let s = summarize(&rs, Some(&ttft(100.0))).expect("summary");
    assert_eq!(s.flagged, vec!["a".to_string()]);
    assert!(s.warning.is_some_and(|w| w.contains('a')));
    assert_eq!(summarize(&[], None), None);
}
