//! Runs one `openai` instance for `aifbench loadgen`: resolves the model,
//! drives each load stage with the OpenAI-compatible executor ([`super::openai`]),
//! and combines the stages into one result, with the latencies the
//! executor kept per label (shared-prefix first and later requests,
//! conversation turns with their counts; over all stages). With `trace` set, the single plan is an open loop on the trace's
//! arrival times ([`super::trace`]). With `load.stopAtSaturation` it skips
//! the remaining stages once the last one no longer paid
//! ([`super::saturation`]).

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::WorkloadError;
use super::load::{LiveCounters, LoadOutcome, LoadPlan, RecordSink};
use super::loadgen::progress::{ProgressTicks, drive_with_progress, empty_outcome};
use super::loadgen::request_log::RequestLog;
use super::openai::OpenAiClient;
use super::result::{ClientResult, merge};
use super::runner::{Instance, Workload};
use super::saturation;
use super::stats::Goodput;
use super::trace::{self, Trace};
use crate::api::workload::{
    LoadSpec, OPEN_LOOP_DEFAULT_CONCURRENCY, OpenAiWorkload, TraceSpec, WorkloadType,
};

/// The `openai` workload (OpenAI-compatible inference servers).
pub struct OpenAiRun;

impl Workload for OpenAiRun {
    fn kind(&self) -> WorkloadType {
        WorkloadType::OpenAi
    }

    fn stops_at_saturation(&self) -> bool {
        true
    }

    fn run<'a>(
        &'a self,
        instance: Instance<'a>,
    ) -> BoxFuture<'a, Result<ClientResult, WorkloadError>> {
        Box::pin(run(instance))
    }
}

async fn run(i: Instance<'_>) -> Result<ClientResult, WorkloadError> {
    let Instance {
        config,
        requests_log,
        progress_interval,
        cancel,
        progress,
    } = i;
    let openai = config.workload.openai.clone().unwrap_or_default();
    let mut plans = LoadPlan::stages(&config.load, &config.errors)?;
    let goodput = openai.goodput.as_ref().map(|g| Goodput {
        ttft: g.ttft.map(|d| d.get()),
        tpot: g.tpot.map(|d| d.get()),
        e2el: g.e2el.map(|d| d.get()),
    });
    for p in &mut plans {
        p.goodput.clone_from(&goodput);
    }
    let trace = match &openai.trace {
        Some(spec) => Some(replay(spec, &openai, &config.load, &mut plans)?),
        None => None,
    };
    let max_concurrency = plans.iter().map(|p| p.concurrency).max().unwrap_or(1);
    let client = OpenAiClient::new(&config.base_url, &openai, max_concurrency)?;
    let sink: Option<Arc<dyn RecordSink>> = match requests_log {
        Some(path) => Some(Arc::new(RequestLog::create(path)?)),
        None => None,
    };
    let started_at = jiff::Timestamp::now();
    let t0 = Instant::now();
    tracing::debug!(id = %config.id, stages = plans.len(), "openai load plan");

    let model = tokio::select! {
        model = client.resolve_model() => Some(model?),
        _ = cancel.cancelled() => None,
    };
    let live = Arc::new(LiveCounters::default());
    let mut parts = Vec::new();
    let mut labelled = std::collections::BTreeMap::new();
    let mut turns = std::collections::BTreeMap::new();
    let mut prompt_tokens = None;
    let mut stopped_at_saturation = false;
    match model {
        None => parts.push((plans[0].clone(), empty_outcome(plans[0].seed))),
        Some(model) => {
            let executor = match &trace {
                Some(t) => client.executor_for(&model, &t.entries)?,
                None => client.executor(&model, plans[0].seed).await?,
            };
            let ticks = ProgressTicks {
                id: &config.id,
                t0,
                interval: progress_interval,
            };
            for plan in &plans {
                if cancel.is_cancelled() && !parts.is_empty() {
                    break;
                }
                let outcome = drive_with_progress(
                    plan,
                    executor.clone(),
                    live.clone(),
                    sink.clone(),
                    cancel,
                    &ticks,
                    progress,
                )
                .await;
                let aborted = outcome.aborted.is_some();
                parts.push((plan.clone(), outcome));
                if aborted {
                    break;
                }
                if config.load.stop_at_saturation && parts.len() < plans.len() {
                    let tail = parts.len().saturating_sub(2);
                    if last_stage_stops_paying(&config.id, started_at, &parts[tail..])? {
                        tracing::info!(id = %config.id, stage = parts.len(), skipped = plans.len() - parts.len(), "past saturation: skipping the remaining stages");
                        stopped_at_saturation = true;
                        break;
                    }
                }
            }
            labelled = executor.labelled_histograms()?;
            turns = executor.turn_stats();
            prompt_tokens = executor.prompt_tokens();
        }
    }
    if let Some(sink) = &sink {
        sink.flush();
    }

    let results = parts
        .iter()
        .map(|(plan, outcome)| {
            let mut r = ClientResult::from_outcome(
                &config.id,
                config.workload.kind.as_str(),
                started_at,
                outcome,
            )?;
            r.concurrency = Some(plan.concurrency);
            r.rate = plan.rate;
            Ok(r)
        })
        .collect::<Result<Vec<_>, WorkloadError>>()?;
    let mut result = if plans.len() > 1 {
        ClientResult::combine_stages(results)?
    } else {
        results
            .into_iter()
            .next()
            .ok_or_else(|| WorkloadError::InvalidConfig("no stage ran".to_string()))?
    };
    // Per-label latencies (shared-prefix groups, conversation turns) and
    // per-turn counts over the whole run.
    result.histograms.extend(labelled);
    result.turns = turns;
    result.prompt_tokens = prompt_tokens;
    result.stopped_at_saturation = stopped_at_saturation;
    Ok(result)
}

/// Whether the last of two stages (`parts`, as they ran) no longer paid,
/// by the sweep rule of [`super::saturation`]; false with fewer than two.
fn last_stage_stops_paying(
    id: &str,
    started_at: jiff::Timestamp,
    parts: &[(LoadPlan, LoadOutcome)],
) -> Result<bool, WorkloadError> {
    let [(prev_plan, prev), (cur_plan, cur)] = parts else {
        return Ok(false);
    };
    let summary = |plan: &LoadPlan, outcome: &LoadOutcome| -> Result<_, WorkloadError> {
        let mut r = ClientResult::from_outcome(id, "openai", started_at, outcome)?;
        r.concurrency = Some(plan.concurrency);
        r.rate = plan.rate;
        merge(&[r])
    };
    let (a, b) = (summary(prev_plan, prev)?, summary(cur_plan, cur)?);
    let metric = a.sweep_metric().map(str::to_string);
    Ok(saturation::stops_paying(
        &a.sweep_point(0, metric.as_deref()),
        &b.sweep_point(1, metric.as_deref()),
    ))
}

/// Loads the trace of `spec` and makes `plans` (one, without stages) replay
/// it: an open loop on its offsets, at most `load.concurrency` (default
/// 1024) in flight. Settings that would set other arrival times are errors.
fn replay(
    spec: &TraceSpec,
    openai: &OpenAiWorkload,
    load: &LoadSpec,
    plans: &mut [LoadPlan],
) -> Result<Trace, WorkloadError> {
    let conflict = |field: &str, why: &str| {
        Err(WorkloadError::InvalidConfig(format!(
            "{field}: not with workload.openai.trace ({why})"
        )))
    };
    if openai.dataset.is_some() {
        return conflict(
            "workload.openai.dataset",
            "the trace gives each request's input and output length",
        );
    }
    if load.rate.is_some() {
        return conflict(
            "load.rate",
            "the trace gives the arrival times; set trace.speed to replay faster or slower",
        );
    }
    if !load.stages.is_empty() {
        return conflict("load.stages", "a trace is replayed once");
    }
    if load.ramp_up.is_some() || load.burstiness.is_some() {
        return conflict(
            "load.rampUp and load.burstiness",
            "the trace gives the arrival times",
        );
    }
    let [plan] = plans else {
        return conflict("load.stages", "a trace is replayed once");
    };
    let trace = trace::load(spec, plan.seed)?;
    plan.trace = Some(trace.offsets.clone());
    if load.concurrency.is_none() {
        plan.concurrency = OPEN_LOOP_DEFAULT_CONCURRENCY;
    }
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::api::duration::Duration as SpecDuration;
    use crate::api::workload::{Arrival, LoadSpec, OpenAiApi, OpenAiWorkload, TraceSpec};
    use crate::workload::loadgen::ProgressEvent;
    use crate::workload::loadgen::testing::{config, run_collect};
    use crate::workload::result::merge;
    use crate::workload::stats::{E2EL, ITL, QUEUE_TIME, TPOT, TTFT};
    use crate::workload::testserver::{Behavior, TestServer};

    /// A test server answering two tokens a millisecond apart.
    async fn fast_server() -> TestServer {
        TestServer::start(Behavior {
            first_token: Duration::from_millis(1),
            gap: Duration::from_millis(1),
            tokens: 2,
            ..Behavior::default()
        })
        .await
    }

    #[tokio::test]
    async fn streaming_with_usage_measures_ttft_itl_and_tokens() {
        let server = TestServer::start(Behavior {
            usage_completion_tokens: Some(11),
            api_key: Some("sk-test".into()),
            ..Behavior::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "sk-test\n").unwrap();
        let out = dir.path().join("sub/result.json");
        let mut c = config(&server.url, 6, 2);
        c.workload.openai = Some(OpenAiWorkload {
            api_key_file: Some(key.to_string_lossy().into_owned()),
            ..Default::default()
        });
        let (r, events) = run_collect(c, Some(&out), CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!(r.requests, 6, "{r:?}");
        assert_eq!(r.errors, 0);
        assert_eq!(r.output_tokens, 66);
        assert_eq!(r.input_tokens, 42);
        assert_eq!(r.token_count_source, "usage");
        assert_eq!(r.workload, "openai");
        let on_disk: ClientResult = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(on_disk, r);

        let s = merge(&[r]).unwrap();
        let ttft = &s.latency[TTFT];
        let itl = &s.latency[ITL];
        assert_eq!(ttft.count, 6);
        // Lower bounds are the server's delays; upper bounds leave room for a
        // loaded CI machine.
        assert!((29.0..120.0).contains(&ttft.p50_ms), "ttft {ttft:?}");
        assert_eq!(itl.count, 6 * 7);
        assert!((4.5..60.0).contains(&itl.p50_ms), "itl {itl:?}");
        let e2el = &s.latency[E2EL];
        assert!((64.0..300.0).contains(&e2el.p50_ms), "e2el {e2el:?}");
        // tpot = (e2el - ttft) / (11 - 1) with the usage count.
        assert!((3.0..30.0).contains(&s.latency[TPOT].p50_ms));
        assert!(!s.latency.contains_key(QUEUE_TIME));

        // The model came from /v1/models; the body asked for usage.
        let body = server.last_body();
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert!(body["messages"].is_array());
        assert!(matches!(
            events.last(),
            Some(ProgressEvent::Done { requests: 6, .. })
        ));
        assert!(events.len() >= 2, "{events:?}");
    }

    #[tokio::test]
    async fn streaming_without_usage_counts_events() {
        let server = TestServer::start(Behavior::default()).await;
        let mut c = config(&server.url, 3, 3);
        c.workload.openai = Some(OpenAiWorkload {
            api: OpenAiApi::Completions,
            model: Some("test-model".into()),
            ..Default::default()
        });
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!(r.requests, 3);
        assert_eq!(r.output_tokens, 24);
        assert_eq!(r.token_count_source, "counted");
        assert!(server.last_body()["prompt"].is_string());
    }

    #[tokio::test]
    async fn non_streaming_measures_e2el_only() {
        let server = TestServer::start(Behavior {
            usage_completion_tokens: Some(8),
            ..Behavior::default()
        })
        .await;
        let mut c = config(&server.url, 2, 1);
        c.workload.openai = Some(OpenAiWorkload {
            stream: false,
            ..Default::default()
        });
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!(r.requests, 2);
        assert_eq!(r.output_tokens, 16);
        assert!(r.histograms.contains_key(E2EL));
        assert!(!r.histograms.contains_key(TTFT));
        let e2el = merge(&[r]).unwrap().latency[E2EL].p50_ms;
        assert!((64.0..300.0).contains(&e2el), "{e2el}");
    }

    /// Runs `requests` requests, one at a time and never aborting, against
    /// a server that answers each with `status`; returns the result and the
    /// server's hit count.
    async fn run_against_status(status: u16, requests: u64) -> (ClientResult, u64) {
        let server = TestServer::start(Behavior {
            status,
            ..Behavior::default()
        })
        .await;
        let mut c = config(&server.url, requests, 1);
        c.workload.openai = Some(OpenAiWorkload {
            model: Some("m".into()),
            ..Default::default()
        });
        c.errors.max_consecutive = 0;
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        (r.unwrap(), server.hits())
    }

    #[tokio::test]
    async fn server_errors_are_never_successes() {
        let (r, _) = run_against_status(500, 5).await;
        assert_eq!(r.requests, 0);
        assert_eq!(r.errors, 5);
        assert_eq!(r.error_classes.get("http_500"), Some(&5));
        assert!(r.aborted.is_none());
        // No latency of a failed request is recorded (only the client's lag).
        assert!(
            !r.histograms.contains_key(E2EL),
            "{:?}",
            r.histograms.keys()
        );
        assert!(!r.histograms.contains_key(TTFT));
    }

    #[tokio::test]
    async fn redirects_are_counted_as_failures_not_followed() {
        let (r, hits) = run_against_status(307, 4).await;
        assert_eq!((r.requests, r.errors), (0, 4));
        assert_eq!(r.error_classes.get("http_307"), Some(&4));
        // One hit per request: neither a redirect nor a retry was followed.
        assert_eq!(hits, 4);
    }

    #[tokio::test]
    async fn truncated_streams_are_stream_errors() {
        let server = TestServer::start(Behavior {
            truncate: true,
            ..Behavior::default()
        })
        .await;
        let mut c = config(&server.url, 2, 1);
        c.errors.max_consecutive = 0;
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!(r.requests, 0);
        assert_eq!(r.error_classes.get("stream"), Some(&2), "{r:?}");
    }

    #[tokio::test]
    async fn open_loop_achieves_the_rate() {
        let server = TestServer::start(Behavior {
            first_token: Duration::from_millis(1),
            gap: Duration::from_millis(1),
            tokens: 2,
            usage_completion_tokens: Some(2),
            ..Behavior::default()
        })
        .await;
        let mut c = config(&server.url, 1_000, 1);
        c.load = LoadSpec {
            rate: Some(80.0),
            arrival: Arrival::Constant,
            duration: Some(SpecDuration::from_secs(1)),
            ..Default::default()
        };
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!(r.requests, 80, "{r:?}");
        let s = merge(&[r]).unwrap();
        let achieved = s.request_throughput;
        assert!(
            (achieved - 80.0).abs() / 80.0 < 0.04,
            "achieved {achieved}/s"
        );
        // Sends follow the schedule: the achieved send rate is within 1 %.
        let sent = s.send_rate.unwrap();
        assert!((sent - 80.0).abs() / 80.0 < 0.01, "sent {sent}/s");
        assert_eq!(s.latency[QUEUE_TIME].count, 80);
        // A fast server leaves no backlog: sends go out about on time (the
        // bound leaves room for a busy CI machine).
        assert!(
            s.latency[QUEUE_TIME].p50_ms < 10.0,
            "{:?}",
            s.latency[QUEUE_TIME]
        );
    }

    #[tokio::test]
    async fn cancel_mid_run_still_writes_the_result() {
        let server = TestServer::start(Behavior::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.json");
        let mut c = config(&server.url, 1, 2);
        c.load.max_requests = None;
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            trigger.cancel();
        });
        let started = Instant::now();
        let (r, events) = run_collect(c, Some(&out), cancel).await;
        let r = r.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        // ~65 ms per request, 2 workers, 250 ms: about 6 completed.
        assert!((4..=10).contains(&r.requests), "{r:?}");
        assert_eq!(r.errors, 0);
        assert!(r.aborted.is_none());
        assert!((0.15..0.5).contains(&r.duration_s), "{}", r.duration_s);
        let on_disk: ClientResult = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(on_disk, r);
        assert!(matches!(events.last(), Some(ProgressEvent::Done { .. })));
    }

    #[tokio::test]
    async fn shared_prefix_keeps_first_and_later_requests_of_a_group_apart() {
        use crate::api::workload::{Dataset, DatasetType, SharedPrefixSpec};
        let server = fast_server().await;
        let mut c = config(&server.url, 9, 1);
        c.workload.openai = Some(OpenAiWorkload {
            model: Some("m".into()),
            dataset: Some(Dataset {
                kind: DatasetType::SharedPrefix,
                num_prompts: 6,
                shared_prefix: Some(SharedPrefixSpec {
                    groups: 3,
                    prefix_tokens: 20,
                    suffix_tokens: None,
                }),
                ..Dataset::default()
            }),
            ..Default::default()
        });
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!((r.requests, r.errors), (9, 0), "{r:?}");
        // Three groups: three first requests, the other six later ones.
        let s = merge(&[r]).unwrap();
        assert_eq!(s.latency["prefix_first.ttft"].count, 3, "{:?}", s.latency);
        assert_eq!(s.latency["prefix_later.ttft"].count, 6);
        assert_eq!(s.latency["prefix_later.e2el"].count, 6);
        assert_eq!(s.latency[TTFT].count, 9);
        // Chat: the group's prefix is the system message.
        let body = server.last_body();
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(
            body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .split(' ')
                .count(),
            20
        );
    }

    #[tokio::test]
    async fn conversations_carry_their_history_and_keep_turns_apart() {
        use crate::api::workload::ConversationSpec;
        let server = TestServer::start(Behavior {
            first_token: Duration::from_millis(1),
            gap: Duration::from_millis(1),
            tokens: 2,
            usage_completion_tokens: Some(2),
            ..Behavior::default()
        })
        .await;
        let mut c = config(&server.url, 6, 1);
        c.workload.openai = Some(OpenAiWorkload {
            model: Some("m".into()),
            conversation: Some(ConversationSpec {
                turns: Some(3),
                think_time: Some(SpecDuration::from_millis(300)),
                ..ConversationSpec::default()
            }),
            ..Default::default()
        });
        let started = Instant::now();
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!((r.requests, r.errors), (6, 0), "{r:?}");
        // Two conversations of three turns; the last request was a third
        // turn with the whole history, the server's answers included.
        let body = server.last_body();
        let msgs = body["messages"].as_array().unwrap();
        let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["user", "assistant", "user", "assistant", "user"]);
        assert_eq!(msgs[1]["content"], "toktok");
        assert_eq!(r.turns.len(), 3);
        for k in 1..=3 {
            assert_eq!(r.turns[&k].requests, 2, "{:?}", r.turns);
        }
        let s = merge(&[r]).unwrap();
        assert_eq!(s.turns[&2].requests, 2);
        assert_eq!(s.latency["turn1.ttft"].count, 2, "{:?}", s.latency);
        assert_eq!(s.latency["turn3.e2el"].count, 2);
        // Think time between turns (2 x 2 waits of 300 ms) is not latency.
        assert!(started.elapsed() >= Duration::from_millis(1200));
        for k in [2, 3] {
            let l = &s.latency[&format!("turn{k}.e2el")];
            assert!(l.max_ms < 250.0, "turn {k}: {l:?}");
        }
    }

    #[tokio::test]
    async fn wrong_api_key_is_http_401() {
        let server = TestServer::start(Behavior {
            api_key: Some("right".into()),
            ..Behavior::default()
        })
        .await;
        let mut c = config(&server.url, 1, 1);
        c.workload.openai = Some(OpenAiWorkload {
            model: Some("m".into()),
            ..Default::default()
        });
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        assert_eq!(r.unwrap().error_classes.get("http_401"), Some(&1));
    }

    #[tokio::test]
    async fn trace_replay_sends_every_line_at_its_time_with_its_lengths() {
        let server = fast_server().await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.jsonl");
        // 20 requests over 380 ms of trace time; the last asks for 99 tokens.
        let lines: Vec<String> = (0..20)
            .map(|i| {
                let out = if i == 19 { 99 } else { 5 };
                format!(
                    "{{\"timestamp_ms\": {}, \"input_tokens\": {}, \"output_tokens\": {out}}}",
                    i * 20,
                    3 + i
                )
            })
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        let mut c = config(&server.url, 1, 1);
        c.load = LoadSpec::default();
        c.workload.openai = Some(OpenAiWorkload {
            model: Some("m".into()),
            api: OpenAiApi::Completions,
            trace: Some(TraceSpec {
                path: path.display().to_string(),
                speed: 2.0,
                ..TraceSpec::default()
            }),
            ..Default::default()
        });
        let started = Instant::now();
        let (r, _) = run_collect(c.clone(), None, CancellationToken::new()).await;
        let r = r.unwrap();
        assert_eq!((r.requests, r.errors), (20, 0), "{r:?}");
        assert_eq!(server.hits(), 20);
        // The last line was sent last, with its lengths.
        let body = server.last_body();
        assert_eq!(body["max_tokens"], 99);
        assert_eq!(body["prompt"].as_str().unwrap().split(' ').count(), 22);
        // 380 ms of trace at 2x: 190 ms of sending, an open loop.
        let s = merge(&[r]).unwrap();
        let rate = s.send_rate.unwrap();
        assert!((rate - 100.0).abs() < 10.0, "send rate {rate}/s");
        assert_eq!(s.latency[QUEUE_TIME].count, 20);
        assert!(started.elapsed() < Duration::from_secs(5));

        // Settings that would set other arrival times are refused by name.
        c.load.rate = Some(5.0);
        let (r, _) = run_collect(c.clone(), None, CancellationToken::new()).await;
        let e = r.unwrap_err().to_string();
        assert!(e.contains("load.rate") && e.contains("trace.speed"), "{e}");
        c.load.rate = None;
        if let Some(o) = c.workload.openai.as_mut() {
            o.trace.as_mut().unwrap().path = "/nonexistent/t.jsonl".into();
        }
        let (r, _) = run_collect(c, None, CancellationToken::new()).await;
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("trace.path") && e.contains("/nonexistent/t.jsonl"),
            "{e}"
        );
    }
}
