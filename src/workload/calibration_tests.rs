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

#[test]
fn reads_cpu_time_from_proc_stat() {
    let line =
        "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1 2 3";
    assert_eq!(parse_proc_stat(line), Some(3.0));
    assert_eq!(parse_proc_stat("garbage"), None);
    assert!(cpu_seconds().is_some_and(|s| s >= 0.0));
}

fn with_calibration(id: &str, p99: f64, flagged: bool) -> ClientResult {
    ClientResult {
        id: id.into(),
        calibration: Some(Calibration {
            ttft_overhead_mean_ms: p99 / 2.0,
            ttft_overhead_p99_ms: p99,
            itl_overhead_p99_ms: Some(p99 / 4.0),
            cpu_headroom: 0.5,
            flagged: flagged.then(|| "x".to_string()),
            ..Calibration::default()
        }),
        ..ClientResult::default()
    }
}

#[test]
fn the_summary_takes_the_worst_instance() {
    let rs = [
        with_calibration("a", 1.0, false),
        with_calibration("b", 4.0, false),
    ];
    let s = summarize(&rs, Some(&ttft(100.0))).expect("summary");
    assert_eq!(s.instances, 2);
    assert_eq!(s.ttft_overhead_p99_ms, 4.0);
    assert_eq!(s.ttft_overhead_mean_ms, 1.25);
    assert_eq!(s.itl_overhead_p99_ms, Some(1.0));
    assert_eq!(s.warning, None);
    let s = summarize(&rs, Some(&ttft(40.0))).expect("summary");
    assert!(s.warning.is_some(), "{s:?}");
    let rs = [with_calibration("a", 1.0, true)];
    let s = summarize(&rs, Some(&ttft(100.0))).expect("summary");
    assert_eq!(s.flagged, vec!["a".to_string()]);
    assert!(s.warning.is_some_and(|w| w.contains('a')));
    assert_eq!(summarize(&[ClientResult::default()], None), None);
}

#[test]
fn the_calibration_runs_the_last_stage_without_caps() {
    let mut c = LoadgenConfig {
        id: "chat-1".into(),
        ..LoadgenConfig::default()
    };
    c.load.concurrency = Some(2);
    c.load.max_requests = Some(10);
    c.load.stages = vec![
        crate::api::workload::StageSpec {
            concurrency: Some(4),
            ..Default::default()
        },
        crate::api::workload::StageSpec {
            concurrency: Some(16),
            ..Default::default()
        },
    ];
    let cal = calibration_config(&c, "http://127.0.0.1:9".into(), Duration::from_secs(2));
    assert_eq!(cal.load.concurrency, Some(16));
    assert!(cal.load.stages.is_empty());
    assert_eq!(cal.load.max_requests, None);
    assert_eq!(cal.load.duration.map(|d| d.0), Some(Duration::from_secs(2)));
    assert_eq!(cal.id, "chat-1-calibration");
}

/// A calibration against the simulator measures a small, non-negative
/// overhead and a CPU headroom in [0, 1].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibration_measures_the_clients_overhead() {
    let mut c = crate::workload::loadgen::testing::config("http://unused", 0, 2);
    c.load.max_requests = None;
    c.workload.openai = Some(crate::api::workload::OpenAiWorkload {
        stream: true,
        max_tokens: 4,
        ..Default::default()
    });
    let cal = calibrate(&c, Duration::from_millis(800), &CancellationToken::new())
        .await
        .expect("calibration");
    assert!(cal.requests > 10, "{cal:?}");
    assert!(cal.ttft_overhead_mean_ms > -1.0, "{cal:?}");
    assert!(
        cal.ttft_overhead_p99_ms >= cal.ttft_overhead_mean_ms - 1.0,
        "{cal:?}"
    );
    assert!(cal.itl_overhead_mean_ms.is_some(), "{cal:?}");
    assert!((0.0..=1.0).contains(&cal.cpu_headroom), "{cal:?}");
    assert_eq!(cal.concurrency, 2);
}
