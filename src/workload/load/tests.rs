//! The load model under tokio's paused clock: schedules, plan validation,
//! closed and open loops, warm-up, the error policy, cancellation, stages,
//! and ramp-up, and the per-second timeline.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::time::sleep;
use tokio_util::sync::CancellationToken;

use super::drive::lock;
use super::*;
use crate::api::duration::Duration as SpecDuration;
use crate::api::workload::{Arrival, ErrorPolicy, LoadSpec};
use crate::workload::record::{ErrorClass, Failure, Success, TokenSource};
use crate::workload::stats::{CLIENT_LAG, E2EL, E2EL_INTENDED, QUEUE_TIME, TTFT};

/// Sleeps `latency`, then succeeds (or fails when `fail` is set).
struct Fake {
    latency: Duration,
    fail: bool,
    calls: AtomicU64,
}

impl Fake {
    fn new(latency_ms: u64, fail: bool) -> Self {
        Self {
            latency: Duration::from_millis(latency_ms),
            fail,
            calls: AtomicU64::new(0),
        }
    }
}

impl Executor for Arc<Fake> {
    async fn execute(&self, _ctx: RequestContext) -> Outcome {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let first = Instant::now();
        sleep(self.latency).await;
        if self.fail {
            return Err(Failure::new(ErrorClass::Http(503), "unavailable"));
        }
        Ok(Success {
            token_times: vec![first],
            first_content: Some(first),
            end: Instant::now(),
            input_tokens: 1,
            output_tokens: 1,
            token_source: TokenSource::Usage,
        })
    }
}

/// A plan for tokio's paused clock (see [`SendTimer::Tokio`]).
fn plan(load: LoadSpec, errors: ErrorPolicy) -> LoadPlan {
    LoadPlan {
        send_timer: SendTimer::Tokio,
        ..LoadPlan::new(&load, &errors).unwrap()
    }
}

fn secs(s: f64) -> Option<SpecDuration> {
    Some(SpecDuration(Duration::from_secs_f64(s)))
}

#[test]
fn constant_schedule_is_evenly_spaced() {
    let offsets: Vec<_> = ArrivalSchedule::new(4.0, Arrival::Constant, 0)
        .take(5)
        .collect();
    let ms = Duration::from_millis;
    assert_eq!(offsets, [ms(0), ms(250), ms(500), ms(750), ms(1000)]);
}

#[test]
fn poisson_schedule_is_seeded_and_has_the_right_mean() {
    let a: Vec<_> = ArrivalSchedule::new(100.0, Arrival::Poisson, 7)
        .take(20_000)
        .collect();
    let b: Vec<_> = ArrivalSchedule::new(100.0, Arrival::Poisson, 7)
        .take(20_000)
        .collect();
    let c: Vec<_> = ArrivalSchedule::new(100.0, Arrival::Poisson, 8)
        .take(20_000)
        .collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a[0], Duration::ZERO);
    assert!(a.windows(2).all(|w| w[1] >= w[0]));
    let mean_gap = a[a.len() - 1].as_secs_f64() / (a.len() - 1) as f64;
    assert!((mean_gap - 0.01).abs() < 0.0005, "mean gap {mean_gap}");
    // Exponential gaps: the coefficient of variation is about 1.
    let gaps: Vec<f64> = a.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    let var = gaps.iter().map(|g| (g - mean_gap).powi(2)).sum::<f64>() / gaps.len() as f64;
    let cv = var.sqrt() / mean_gap;
    assert!((cv - 1.0).abs() < 0.05, "cv {cv}");
}

#[test]
fn plan_validation() {
    let bad_rate = LoadSpec {
        rate: Some(0.0),
        ..Default::default()
    };
    assert!(LoadPlan::new(&bad_rate, &ErrorPolicy::default()).is_err());
    let bad_conc = LoadSpec {
        concurrency: Some(0),
        ..Default::default()
    };
    assert!(LoadPlan::new(&bad_conc, &ErrorPolicy::default()).is_err());
    let p = plan(
        LoadSpec {
            seed: Some(3),
            ..Default::default()
        },
        ErrorPolicy::default(),
    );
    assert_eq!(p.concurrency, 1);
    assert_eq!(p.seed, 3);
    assert_eq!(p.max_consecutive_errors, 10);
}

#[tokio::test(start_paused = true)]
async fn closed_loop_stops_at_max_requests() {
    let fake = Arc::new(Fake::new(2, false));
    let p = plan(
        LoadSpec {
            concurrency: Some(4),
            max_requests: Some(25),
            ..Default::default()
        },
        ErrorPolicy::default(),
    );
    let live = Arc::new(LiveCounters::default());
    let out = drive(
        &p,
        fake.clone(),
        live.clone(),
        &CancellationToken::new(),
        None,
    )
    .await;
    assert_eq!(out.recorder.requests, 25);
    assert_eq!(out.recorder.errors, 0);
    assert_eq!(fake.calls.load(Ordering::Relaxed), 25);
    assert_eq!(live.requests.load(Ordering::Relaxed), 25);
    assert_eq!(live.in_flight.load(Ordering::Relaxed), 0);
    assert!(out.recorder.histogram(QUEUE_TIME).is_none());
    assert_eq!(out.recorder.histogram(E2EL).map(|h| h.len()), Some(25));
}

#[tokio::test(start_paused = true)]
async fn closed_loop_excludes_warmup() {
    let fake = Arc::new(Fake::new(10, false));
    let p = plan(
        LoadSpec {
            concurrency: Some(2),
            warmup: secs(0.1),
            duration: secs(0.2),
            ..Default::default()
        },
        ErrorPolicy::default(),
    );
    let out = drive(
        &p,
        fake.clone(),
        Arc::new(LiveCounters::default()),
        &CancellationToken::new(),
        None,
    )
    .await;
    let total = fake.calls.load(Ordering::Relaxed);
    let measured = out.recorder.requests;
    // 2 workers x ~10 ms per request: ~20 warm-up and ~40 measured requests.
    assert!(total >= measured + 10, "total {total} measured {measured}");
    assert!((25..=42).contains(&measured), "measured {measured}");
    let m = out.measurement.as_secs_f64();
    assert!((0.19..0.26).contains(&m), "measurement {m}");
}

#[tokio::test(start_paused = true)]
async fn open_loop_latency_counts_from_intended_time() {
    // One slot, 50 ms requests, 100 requests/s: a backlog builds up, and
    // the latencies must grow with it instead of staying at 50 ms.
    let fake = Arc::new(Fake::new(50, false));
    let p = plan(
        LoadSpec {
            concurrency: Some(1),
            rate: Some(100.0),
            arrival: Arrival::Constant,
            max_requests: Some(6),
            ..Default::default()
        },
        ErrorPolicy::default(),
    );
    let out = drive(
        &p,
        fake,
        Arc::new(LiveCounters::default()),
        &CancellationToken::new(),
        None,
    )
    .await;
    assert_eq!(out.recorder.requests, 6);
    // Paused time: intended at 0, 10, .., 50 ms; sent at 0, 50, .., 250 ms.
    let ms = |m: u64| m * 1000;
    let e2el = out.recorder.histogram(E2EL).unwrap();
    let intended = out.recorder.histogram(E2EL_INTENDED).unwrap();
    let queue = out.recorder.histogram(QUEUE_TIME).unwrap();
    // From the actual send (vLLM's definition) each request takes 50 ms ..
    assert!(
        e2el.min() >= ms(49) && e2el.max() < ms(51),
        "{:?}",
        (e2el.min(), e2el.max())
    );
    // .. but counted from the schedule the backlog shows: the 6th request
    // was intended at 50 ms and done at 300 ms.
    assert!(
        intended.max() >= ms(249) && intended.max() < ms(252),
        "{}",
        intended.max()
    );
    assert!(
        queue.max() >= ms(199) && queue.max() < ms(202),
        "{}",
        queue.max()
    );
    // Sends were held back by the single slot: 6 sends in 250 ms.
    assert!(
        (out.send_rate.unwrap() - 20.0).abs() < 0.1,
        "{:?}",
        out.send_rate
    );
    // The timer fired on time: the wait was for the slot, not client lag.
    let lag = out.recorder.histogram(CLIENT_LAG).unwrap();
    assert!(lag.max() < ms(2), "lag {}", lag.max());
    let ttft = out.recorder.histogram(TTFT).unwrap();
    assert!(ttft.max() < ms(1));
}

#[tokio::test(start_paused = true)]
async fn open_loop_excludes_warmup_by_intended_time() {
    let fake = Arc::new(Fake::new(1, false));
    let p = plan(
        LoadSpec {
            rate: Some(200.0),
            arrival: Arrival::Constant,
            warmup: secs(0.1),
            duration: secs(0.1),
            ..Default::default()
        },
        ErrorPolicy::default(),
    );
    let out = drive(
        &p,
        fake.clone(),
        Arc::new(LiveCounters::default()),
        &CancellationToken::new(),
        None,
    )
    .await;
    // Intended times 0, 5, ..., 195 ms: 20 in warm-up, 20 measured.
    assert_eq!(fake.calls.load(Ordering::Relaxed), 40);
    assert_eq!(out.recorder.requests, 20);
}

#[tokio::test(start_paused = true)]
async fn consecutive_errors_abort() {
    let fake = Arc::new(Fake::new(1, true));
    let p = plan(
        LoadSpec {
            concurrency: Some(2),
            ..Default::default()
        },
        ErrorPolicy {
            max_consecutive: 5,
            backoff: SpecDuration::from_millis(1),
        },
    );
    let out = drive(
        &p,
        fake,
        Arc::new(LiveCounters::default()),
        &CancellationToken::new(),
        None,
    )
    .await;
    let reason = out.aborted.expect("aborted");
    assert!(reason.contains("5 consecutive errors"), "{reason}");
    assert!(reason.contains("http_503"), "{reason}");
    assert_eq!(out.recorder.requests, 0);
    assert!((5..=6).contains(&out.recorder.errors));
    assert_eq!(
        out.recorder.error_classes.get("http_503"),
        Some(&out.recorder.errors)
    );
    assert!(!out.cancelled);
}

async fn cancelled_run(latency_ms: u64, cancel_ms: u64, grace_ms: u64) -> LoadOutcome {
    let fake = Arc::new(Fake::new(latency_ms, false));
    let mut p = plan(
        LoadSpec {
            concurrency: Some(3),
            ..Default::default()
        },
        ErrorPolicy::default(),
    );
    p.cancel_grace = Duration::from_millis(grace_ms);
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        sleep(Duration::from_millis(cancel_ms)).await;
        c.cancel();
    });
    drive(&p, fake, Arc::new(LiveCounters::default()), &cancel, None).await
}

#[tokio::test(start_paused = true)]
async fn cancel_lets_in_flight_finish_within_grace() {
    let started = Instant::now();
    let out = cancelled_run(100, 30, 2000).await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(out.cancelled);
    assert_eq!(out.recorder.requests, 3);
    assert_eq!(out.dropped, 0);
    assert_eq!(out.issued, 3);
}

#[tokio::test(start_paused = true)]
async fn cancel_drops_in_flight_after_grace() {
    let started = Instant::now();
    let out = cancelled_run(10_000, 30, 20).await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(out.cancelled);
    assert!(out.aborted.is_none());
    assert_eq!(out.recorder.requests, 0);
    assert_eq!(out.recorder.errors, 0);
    assert_eq!(out.dropped, 3);
}

fn cv(offsets: &[Duration]) -> (f64, f64) {
    let gaps: Vec<f64> = offsets
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
    (mean, var.sqrt() / mean)
}

#[test]
fn gamma_schedule_keeps_the_rate_and_shapes_burstiness() {
    let sched = |k: f64| -> Vec<Duration> {
        ArrivalSchedule::with_shape(100.0, Arrival::Gamma, k, Duration::ZERO, 11)
            .take(20_000)
            .collect()
    };
    // Shape k: mean gap 1/rate, coefficient of variation 1/sqrt(k).
    for (k, want_cv) in [(0.25, 2.0), (1.0, 1.0), (4.0, 0.5)] {
        let (mean, c) = cv(&sched(k));
        assert!((mean - 0.01).abs() < 0.0006, "k {k}: mean {mean}");
        assert!((c - want_cv).abs() < 0.08 * want_cv, "k {k}: cv {c}");
    }
}

#[test]
fn ramp_up_raises_the_rate_linearly() {
    assert_eq!(ramp_warp(3.0, 0.0), 3.0);
    // Over a 10 s ramp to 10/s, the first 25 arrivals take 10 s (half
    // the full-rate count), the rest follow at full rate.
    let offsets: Vec<f64> =
        ArrivalSchedule::with_shape(10.0, Arrival::Constant, 1.0, Duration::from_secs(10), 0)
            .take(200)
            .map(|d| d.as_secs_f64())
            .collect();
    let before = |t: f64| offsets.iter().filter(|o| **o < t).count();
    assert_eq!(before(10.0 + 1e-9), 51); // 0..=50 full-rate offsets 0..5 s
    assert!((before(5.0) as f64 - 12.5).abs() <= 1.0, "{}", before(5.0));
    assert!((offsets[150] - offsets[149] - 0.1).abs() < 1e-9);
}

#[test]
fn stages_inherit_and_override() {
    let load = LoadSpec {
        concurrency: Some(4),
        duration: secs(5.0),
        seed: Some(9),
        stages: vec![
            crate::api::workload::StageSpec {
                concurrency: Some(1),
                ..Default::default()
            },
            crate::api::workload::StageSpec {
                rate: Some(20.0),
                duration: secs(2.0),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let plans = LoadPlan::stages(&load, &ErrorPolicy::default()).unwrap();
    assert_eq!(plans.len(), 2);
    assert_eq!(
        (plans[0].stage, plans[0].concurrency, plans[0].rate),
        (0, 1, None)
    );
    assert_eq!(plans[0].duration, Some(Duration::from_secs(5)));
    assert_eq!(
        (plans[1].stage, plans[1].concurrency, plans[1].rate),
        (1, 4, Some(20.0))
    );
    assert_eq!(plans[1].duration, Some(Duration::from_secs(2)));
    assert_ne!(plans[0].seed, plans[1].seed);
    let endless = LoadSpec {
        stages: vec![crate::api::workload::StageSpec::default()],
        ..Default::default()
    };
    let err = LoadPlan::stages(&endless, &ErrorPolicy::default()).unwrap_err();
    assert!(err.to_string().contains("stages[0]"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn closed_loop_ramp_up_spreads_worker_starts() {
    struct Recording(Mutex<Vec<Duration>>);
    impl RecordSink for Recording {
        fn record(&self, _stage: usize, sent: Duration, _r: &RequestRecord) {
            lock(&self.0).push(sent);
        }
    }
    let fake = Arc::new(Fake::new(5000, false));
    let p = plan(
        LoadSpec {
            concurrency: Some(4),
            ramp_up: secs(2.0),
            max_requests: Some(4),
            ..Default::default()
        },
        ErrorPolicy::default(),
    );
    let sink = Arc::new(Recording(Mutex::new(Vec::new())));
    let out = drive(
        &p,
        fake,
        Arc::new(LiveCounters::default()),
        &CancellationToken::new(),
        Some(sink.clone()),
    )
    .await;
    assert_eq!(out.recorder.requests, 4);
    let mut sent = lock(&sink.0).clone();
    sent.sort();
    let ms: Vec<u128> = sent.iter().map(|d| d.as_millis()).collect();
    assert_eq!(ms, vec![0, 500, 1000, 1500]);
}

#[test]
fn trace_schedule_yields_its_offsets_then_ends() {
    let offsets: Arc<[Duration]> = vec![
        Duration::ZERO,
        Duration::from_millis(5),
        Duration::from_millis(5),
        Duration::from_millis(900),
    ]
    .into();
    let s: Vec<Duration> = ArrivalSchedule::trace(offsets.clone()).collect();
    assert_eq!(&s[..], &offsets[..]);
    // A plan with a trace schedules it, whatever its rate.
    let mut p = plan(
        LoadSpec {
            rate: Some(1000.0),
            ..Default::default()
        },
        ErrorPolicy::default(),
    );
    p.trace = Some(offsets.clone());
    assert_eq!(p.schedule().unwrap().count(), 4);
    p.trace = None;
    assert!(p.schedule().is_some());
    p.rate = None;
    assert!(p.schedule().is_none());
}

#[tokio::test(start_paused = true)]
async fn trace_replay_sends_request_i_at_offset_i_in_order() {
    struct Recording(Mutex<Vec<(u64, Duration)>>);
    impl RecordSink for Recording {
        fn record(&self, _stage: usize, sent: Duration, r: &RequestRecord) {
            lock(&self.0).push((r.index, sent));
        }
    }
    // A burst of three equal times, then gaps; 30 ms requests overlap.
    let offsets_ms = [0u64, 10, 10, 10, 40, 200, 210];
    let offsets: Arc<[Duration]> = offsets_ms
        .iter()
        .map(|&m| Duration::from_millis(m))
        .collect();
    let fake = Arc::new(Fake::new(30, false));
    let mut p = plan(
        LoadSpec {
            concurrency: Some(100),
            ..Default::default()
        },
        ErrorPolicy::default(),
    );
    p.trace = Some(offsets);
    let sink = Arc::new(Recording(Mutex::new(Vec::new())));
    let out = drive(
        &p,
        fake,
        Arc::new(LiveCounters::default()),
        &CancellationToken::new(),
        Some(sink.clone()),
    )
    .await;
    assert_eq!(out.recorder.requests, 7);
    assert_eq!(out.issued, 7);
    let mut sent = lock(&sink.0).clone();
    sent.sort();
    // Request i (line i of the trace) went out at offset i.
    let got: Vec<(u64, u128)> = sent.iter().map(|(i, d)| (*i, d.as_millis())).collect();
    let want: Vec<(u64, u128)> = offsets_ms
        .iter()
        .enumerate()
        .map(|(i, &m)| (i as u64, u128::from(m)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(out.recorder.histogram(QUEUE_TIME).unwrap().len(), 7);
}

#[tokio::test(start_paused = true)]
async fn the_timeline_counts_each_second_of_the_measurement() {
    // 4 workers, 250 ms per request, 1 s warm-up, 3 s measured: 16 requests
    // complete per second, 4 in flight at the end of each full second. A
    // completion on a second's boundary counts in the second it opens: the
    // first measured ones end at 1.25 s (those ending at 1.0 s are warm-up),
    // the last four at 4.0 s, in second 3.
    let fake = Arc::new(Fake::new(250, false));
    let p = plan(
        LoadSpec {
            concurrency: Some(4),
            warmup: secs(1.0),
            duration: secs(3.0),
            ..Default::default()
        },
        ErrorPolicy::default(),
    );
    let out = drive(
        &p,
        fake,
        Arc::new(LiveCounters::default()),
        &CancellationToken::new(),
        None,
    )
    .await;
    let t = &out.recorder.timeline;
    assert_eq!(t.completed.iter().sum::<u64>(), out.recorder.requests);
    assert_eq!(
        t.output_tokens.iter().sum::<u64>(),
        out.recorder.output_tokens
    );
    assert_eq!(t.errors.iter().sum::<u64>(), 0);
    assert_eq!(t.completed, vec![12, 16, 16, 4], "{t:?}");
    assert_eq!(t.in_flight, vec![4, 4, 4, 0], "{t:?}");
    assert!(!t.truncated);
}

#[tokio::test(start_paused = true)]
async fn the_timeline_counts_failures_and_dropped_requests_leave_it() {
    let fake = Arc::new(Fake::new(100, true));
    let p = plan(
        LoadSpec {
            concurrency: Some(1),
            duration: secs(0.5),
            ..Default::default()
        },
        ErrorPolicy::default(),
    );
    let out = drive(
        &p,
        fake,
        Arc::new(LiveCounters::default()),
        &CancellationToken::new(),
        None,
    )
    .await;
    let t = &out.recorder.timeline;
    assert_eq!(t.errors.iter().sum::<u64>(), out.recorder.errors);
    assert!(out.recorder.errors > 0);
    assert_eq!(t.completed.iter().sum::<u64>(), 0);

    let dropped = cancelled_run(10_000, 30, 20).await;
    assert_eq!(dropped.dropped, 3);
    assert_eq!(
        dropped.recorder.timeline.in_flight,
        vec![0],
        "{:?}",
        dropped.recorder.timeline
    );
}
