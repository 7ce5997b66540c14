use super::*;

#[test]
fn reads_cpu_time_from_proc_stat() {
    let line =
        "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1 2 3";
    assert_eq!(parse_proc_stat(line), Some(3.0));
    assert_eq!(parse_proc_stat("garbage"), None);
    assert!(cpu_seconds().is_some_and(|s| s >= 0.0));
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
