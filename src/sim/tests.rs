//! End-to-end tests: a simulator on `127.0.0.1:0`, driven over HTTP by reqwest.

use std::time::Duration;

use clap::Parser;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::*;

struct TestServer {
    base: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), SimError>>,
}

impl TestServer {
    async fn start(config: SimConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(serve(listener, config, async {
            let _ = rx.await;
        }));
        let client = crate::tls::client_builder()
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self {
            base,
            client,
            stop: Some(tx),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn metrics(&self) -> String {
        let resp = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
        resp.text().await.unwrap()
    }

    /// The value of the metric sample `name` (full name with labels).
    async fn metric(&self, name: &str) -> f64 {
        sample(&self.metrics().await, name)
    }

    async fn stop(mut self) -> Result<(), SimError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server did not stop")
            .unwrap()
    }
}

fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name}"))
}

fn m(name: &str) -> String {
    format!("{name}{{model_name=\"sim-model\"}}")
}

fn fast(ttft_ms: u64, itl_ms: u64) -> SimConfig {
    SimConfig {
        ttft: Duration::from_millis(ttft_ms),
        itl: Duration::from_millis(itl_ms),
        output_tokens: 4,
        ..SimConfig::default()
    }
}

/// Reads a whole SSE body: each event's `data:` payload with its arrival time.
async fn read_events(resp: reqwest::Response) -> Vec<(String, Instant)> {
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = body.next().await {
        buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let data = event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not an SSE data line: {event:?}"));
            events.push((data.trim_end_matches('\n').to_owned(), Instant::now()));
        }
    }
    assert!(buf.is_empty(), "trailing bytes {buf:?}");
    events
}

#[tokio::test]
async fn health_and_models() {
    let s = TestServer::start(fast(1, 1)).await;
    let resp = s.client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let models: Value = s
        .client
        .get(s.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"].as_array().unwrap().len(), 1);
    assert_eq!(models["data"][0]["id"], "sim-model");
    assert_eq!(models["data"][0]["object"], "model");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn non_streaming_completion_returns_n_tokens_and_usage() {
    let s = TestServer::start(fast(20, 5)).await;
    let started = Instant::now();
    let resp = s
        .post(
            "/v1/completions",
            &json!({"model": "sim-model", "prompt": "hello simulated  world", "max_tokens": 5}),
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(elapsed >= Duration::from_millis(20 + 4 * 5), "{elapsed:?}");
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["model"], "sim-model");
    assert!(body["id"].as_str().unwrap().starts_with("cmpl-"));
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    let choice = &body["choices"][0];
    assert_eq!(
        choice["text"].as_str().unwrap().split_whitespace().count(),
        5
    );
    assert_eq!(choice["finish_reason"], "length");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8})
    );

    // Without max_tokens the configured output length applies; chat works alike.
    let body: Value = s
        .post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(text.split_whitespace().count(), 4);
    assert_eq!(body["usage"]["completion_tokens"], 4);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn streaming_chat_sends_n_chunks_then_usage_then_done() {
    let ttft = Duration::from_millis(30);
    let itl = Duration::from_millis(5);
    let s = TestServer::start(fast(30, 5)).await;
    let sent = Instant::now();
    let resp = s
        .post(
            "/v1/chat/completions",
            &json!({
                "model": "sim-model",
                "messages": [{"role": "user", "content": "one two three"}],
                "max_tokens": 6,
                "stream": true,
                "stream_options": {"include_usage": true},
            }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap();
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    let events = read_events(resp).await;
    assert_eq!(events.len(), 6 + 2, "{events:?}");
    for (i, (data, at)) in events[..6].iter().enumerate() {
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk");
        let choices = chunk["choices"].as_array().unwrap();
        assert_eq!(choices.len(), 1);
        assert_eq!(choices[0]["delta"]["content"], " tok");
        let due = ttft + itl * u32::try_from(i).unwrap();
        assert!(
            *at - sent >= due,
            "chunk {i} after {:?}, due {due:?}",
            *at - sent
        );
        let finish = &choices[0]["finish_reason"];
        if i == 5 {
            assert_eq!(finish, "length");
        } else {
            assert!(finish.is_null());
        }
    }
    let first: Value = serde_json::from_str(&events[0].0).unwrap();
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    let usage: Value = serde_json::from_str(&events[6].0).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9})
    );
    assert_eq!(events[7].0, "[DONE]");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn streaming_completion_without_usage() {
    let s = TestServer::start(fast(1, 1)).await;
    let resp = s
        .post(
            "/v1/completions",
            &json!({"prompt": ["a b", "c"], "max_tokens": 3, "stream": true}),
        )
        .await;
    let events = read_events(resp).await;
    // Two prompts: one chunk per choice per token, then [DONE].
    assert_eq!(events.len(), 2 * 3 + 1);
    let mut per_choice = [0; 2];
    for (data, _) in &events[..6] {
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert_eq!(chunk["object"], "text_completion");
        assert!(chunk.get("usage").is_none());
        let index = chunk["choices"][0]["index"].as_u64().unwrap() as usize;
        assert_eq!(chunk["choices"][0]["text"], " tok");
        per_choice[index] += 1;
    }
    assert_eq!(per_choice, [3, 3]);
    assert_eq!(events[6].0, "[DONE]");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_expose_vllm_names_and_count_requests() {
    let s = TestServer::start(fast(1, 1)).await;
    let before = s.metrics().await;
    for name in [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:request_success_total",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:time_to_first_token_seconds",
        "vllm:inter_token_latency_seconds",
        "vllm:time_per_output_token_seconds",
        "vllm:e2e_request_latency_seconds",
        "vllm:request_queue_time_seconds",
        "vllm:request_prompt_tokens",
        "vllm:request_generation_tokens",
    ] {
        assert!(before.contains(&format!("# HELP {name} ")), "{name}");
        assert!(before.contains(&format!("# TYPE {name} ")), "{name}");
    }
    let success = "vllm:request_success_total{model_name=\"sim-model\",finished_reason=\"length\"}";
    assert_eq!(sample(&before, success), 0.0);

    s.post(
        "/v1/completions",
        &json!({"prompt": "a b c", "max_tokens": 2}),
    )
    .await
    .bytes()
    .await
    .unwrap();
    let resp = s
        .post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "d e"}], "max_tokens": 3, "stream": true}),
        )
        .await;
    read_events(resp).await;

    let after = s.metrics().await;
    assert_eq!(sample(&after, success), 2.0);
    assert_eq!(sample(&after, &m("vllm:prompt_tokens_total")), 5.0);
    assert_eq!(sample(&after, &m("vllm:generation_tokens_total")), 5.0);
    assert_eq!(
        sample(&after, &m("vllm:time_to_first_token_seconds_count")),
        2.0
    );
    assert_eq!(
        sample(&after, &m("vllm:inter_token_latency_seconds_count")),
        3.0
    );
    assert_eq!(
        sample(&after, &m("vllm:e2e_request_latency_seconds_count")),
        2.0
    );
    assert_eq!(
        sample(&after, &m("vllm:request_generation_tokens_sum")),
        5.0
    );
    assert!(sample(&after, &m("vllm:e2e_request_latency_seconds_sum")) > 0.0);
    assert_eq!(sample(&after, &m("vllm:num_requests_running")), 0.0);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn max_concurrency_queues_the_second_request() {
    // One request takes ttft + 4 * itl = 60 ms.
    let single = Duration::from_millis(40 + 4 * 5);
    let s = TestServer::start(SimConfig {
        max_concurrency: 1,
        ..fast(40, 5)
    })
    .await;
    let body = json!({"prompt": "x", "max_tokens": 5});
    let one = || async {
        let t = Instant::now();
        let resp = s.post("/v1/completions", &body).await;
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
        t.elapsed()
    };
    let watch = async {
        // While both are in flight: one running, one waiting, cache "full".
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = s.metrics().await;
            if sample(&text, &m("vllm:num_requests_waiting")) == 1.0 {
                assert_eq!(sample(&text, &m("vllm:num_requests_running")), 1.0);
                assert_eq!(sample(&text, &m("vllm:kv_cache_usage_perc")), 1.0);
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let (a, b, saw_waiting) = tokio::join!(one(), one(), watch);
    assert!(saw_waiting, "never saw a waiting request");
    let (fast_one, slow_one) = if a < b { (a, b) } else { (b, a) };
    assert!(fast_one >= single, "{fast_one:?}");
    assert!(slow_one >= single * 9 / 5, "second took {slow_one:?}");
    assert!(
        slow_one < single * 2 + Duration::from_secs(2),
        "{slow_one:?}"
    );
    let text = s.metrics().await;
    assert_eq!(
        sample(&text, &m("vllm:request_queue_time_seconds_count")),
        2.0
    );
    assert!(sample(&text, &m("vllm:request_queue_time_seconds_sum")) >= 0.04);
    assert_eq!(sample(&text, &m("vllm:num_requests_waiting")), 0.0);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn bad_requests_get_openai_errors() {
    let s = TestServer::start(fast(1, 1)).await;
    let resp = s
        .post(
            "/v1/chat/completions",
            &json!({"model": "gpt-nope", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 404);
    assert_eq!(body["error"]["type"], "NotFoundError");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gpt-nope")
    );

    let resp = s
        .client
        .post(s.url("/v1/completions"))
        .header("content-type", "application/json")
        .body("{\"prompt\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 400);
    assert!(body["error"]["message"].is_string());

    let resp = s.post("/v1/completions", &json!({"max_tokens": 3})).await;
    assert_eq!(resp.status(), 400);
    let resp = s
        .post("/v1/chat/completions", &json!({"model": "sim-model"}))
        .await;
    assert_eq!(resp.status(), 400);
    let resp = s.client.get(s.url("/v2/nothing")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 404);
    // Rejected requests are not counted.
    let success = "vllm:request_success_total{model_name=\"sim-model\",finished_reason=\"length\"}";
    assert_eq!(s.metric(success).await, 0.0);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn disconnect_mid_stream_releases_running_gauge() {
    let s = TestServer::start(fast(2, 2)).await;
    let resp = s
        .post(
            "/v1/completions",
            &json!({"prompt": "x", "max_tokens": 100000, "stream": true}),
        )
        .await;
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: {"));
    assert_eq!(s.metric(&m("vllm:num_requests_running")).await, 1.0);
    drop(body);

    let abort = "vllm:request_success_total{model_name=\"sim-model\",finished_reason=\"abort\"}";
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = s.metrics().await;
        if sample(&text, &m("vllm:num_requests_running")) == 0.0 {
            assert_eq!(sample(&text, abort), 1.0);
            break;
        }
        assert!(Instant::now() < deadline, "running gauge stuck at 1");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.stop().await.unwrap();
}

#[tokio::test]
async fn invalid_config_is_rejected() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = SimConfig {
        jitter: 1.5,
        ..SimConfig::default()
    };
    let err = serve(listener, config, async {}).await.unwrap_err();
    assert!(matches!(err, SimError::InvalidConfig(_)), "{err}");
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
}

#[test]
fn args_defaults_match_config_defaults() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
    let cli = Cli::try_parse_from(["sim"]).unwrap();
    assert_eq!(cli.sim.host, "127.0.0.1");
    assert_eq!(cli.sim.port, 8000);
    let got = cli.sim.config();
    let want = SimConfig::default();
    assert_eq!(
        (
            got.model,
            got.ttft,
            got.itl,
            got.output_tokens,
            got.jitter,
            got.max_concurrency,
            got.seed
        ),
        (
            want.model,
            want.ttft,
            want.itl,
            want.output_tokens,
            want.jitter,
            want.max_concurrency,
            want.seed
        )
    );
}

#[test]
fn args_parse_durations_and_reject_bad_values() {
    let cli = Cli::try_parse_from([
        "sim",
        "--ttft",
        "1.5s",
        "--itl",
        "7ms",
        "--jitter",
        "0.25",
        "--max-concurrency",
        "3",
        "--output-tokens",
        "9",
        "--model",
        "m",
        "--seed",
        "5",
    ])
    .unwrap();
    let c = cli.sim.config();
    assert_eq!(c.ttft, Duration::from_millis(1500));
    assert_eq!(c.itl, Duration::from_millis(7));
    assert_eq!(c.jitter, 0.25);
    assert_eq!(c.max_concurrency, 3);
    assert_eq!(c.output_tokens, 9);
    assert_eq!(c.model, "m");
    assert_eq!(c.seed, 5);
    assert!(Cli::try_parse_from(["sim", "--jitter", "1.5"]).is_err());
    assert!(Cli::try_parse_from(["sim", "--ttft", "soon"]).is_err());
    assert!(Cli::try_parse_from(["sim", "--output-tokens", "0"]).is_err());
}

#[test]
fn latency_model_adds_prefill_and_slows_down_under_load() {
    let ms = Duration::from_millis;
    let c = SimConfig {
        ttft: ms(50),
        itl: ms(10),
        prefill_per_token: Duration::from_micros(100),
        load_factor: 3.0,
        max_concurrency: 5,
        ..SimConfig::default()
    };
    // Alone: 50 ms + 1000 prompt tokens x 0.1 ms.
    assert_eq!(c.latencies(1000, 1), (ms(150), ms(10)));
    // Half-way to full load: factor 2; at (and beyond) full load: 3.
    assert_eq!(c.latencies(0, 3), (ms(100), ms(20)));
    assert_eq!(c.latencies(0, 5), (ms(150), ms(30)));
    assert_eq!(c.latencies(0, 50), (ms(150), ms(30)));
    // Without a concurrency limit there is no load to scale by.
    let unlimited = SimConfig {
        max_concurrency: 0,
        ..c
    };
    assert_eq!(unlimited.factor(100), 1.0);
}

#[tokio::test]
async fn embeddings_answer_after_fixed_plus_per_token_time() {
    let s = TestServer::start(SimConfig {
        embedding_latency: Duration::from_millis(20),
        embedding_per_token: Duration::from_millis(2),
        embedding_dim: 16,
        ..SimConfig::default()
    })
    .await;
    // 3 + 2 + 5 = 10 tokens: 20 ms + 10 x 2 ms = 40 ms.
    let body = json!({"model": "sim-model", "input": ["a b c", "d e", "f g h i j"]});
    let t = Instant::now();
    let resp = s.post("/v1/embeddings", &body).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(40), "{took:?}");
    assert!(took < Duration::from_millis(400), "{took:?}");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert!(
        data.iter()
            .all(|d| d["embedding"].as_array().unwrap().len() == 16)
    );
    assert_eq!(v["usage"]["prompt_tokens"], 10);
    let resp = s.post("/v1/embeddings", &json!({"input": 7})).await;
    assert_eq!(resp.status(), 400);
    s.stop().await.unwrap();
}
