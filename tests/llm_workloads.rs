//! The LLM workloads beyond single prompts, against a real LLM on CPU
//! (llama-cpp-python's server with SmolLM2-135M, `scripts/setup-llm.sh`):
//! shared-prefix groups (`recipes/shared-prefix.yaml`), where requests after
//! the first of their group find the prefix cached and answer sooner, and
//! multi-turn conversations (`recipes/multi-turn.yaml`), where every turn
//! carries the whole history.
//!
//! Needs `scripts/setup-llm.sh` (tests/run-all.sh runs it); without it these
//! tests fail and say so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{llm_env, results_dir};

/// Runs `recipe` to the end; returns its results folder (kept in `workspace`).
fn run_recipe(recipe: &str, workspace: &Path) -> PathBuf {
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["run", recipe, "--progress", "plain", "--workspace"])
        .arg(workspace)
        .envs(llm_env())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "aifbench run {recipe} failed: {stderr}"
    );
    eprintln!("{recipe}: {:.1}s", started.elapsed().as_secs_f64());
    let dir = results_dir(workspace);
    let status: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap();
    assert_eq!(status["phase"], "Succeeded", "{status:#}");
    dir
}

/// The merged summary of the run (`summary.json`'s `total`).
fn total(dir: &Path) -> serde_json::Value {
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    s["total"].clone()
}

#[test]
fn shared_prefix_requests_after_the_first_of_their_group_answer_sooner() {
    let workspace = tempfile::tempdir().unwrap();
    let dir = run_recipe("recipes/shared-prefix.yaml", workspace.path());
    let t = total(&dir);
    assert_eq!(t["requests"], 16, "{t:#}");
    assert_eq!(t["errors"], 0, "{t:#}");
    let lat = &t["latency"];
    let first = &lat["prefix_first.ttft"];
    let later = &lat["prefix_later.ttft"];
    // Two groups: two first requests, 14 later ones.
    assert_eq!(first["count"], 2, "{lat:#}");
    assert_eq!(later["count"], 14, "{lat:#}");
    assert_eq!(lat["ttft"]["count"], 16);
    let (f, l) = (
        first["p50Ms"].as_f64().unwrap(),
        later["p50Ms"].as_f64().unwrap(),
    );
    eprintln!("shared prefix TTFT p50: first in group {f:.1} ms, later {l:.1} ms");
    assert!(
        l < f,
        "a cached prefix should answer sooner: later p50 {l} ms, first p50 {f} ms"
    );
    // The same split reaches the status's headline numbers.
    let status: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap();
    let ms = &status["summary"]["latencyMs"];
    assert!(ms["prefix_first.ttft"]["p50"].is_number(), "{ms:#}");
    assert!(ms["prefix_later.ttft"]["p50"].is_number(), "{ms:#}");
}

#[test]
fn multi_turn_conversations_grow_their_prompts_turn_by_turn() {
    let workspace = tempfile::tempdir().unwrap();
    let dir = run_recipe("recipes/multi-turn.yaml", workspace.path());
    let client = |id: &str| -> serde_json::Value {
        let path = dir.join(format!("clients/{id}-1.json"));
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
            .unwrap()
    };
    // Whole responses carry the server's usage: every later turn's prompt
    // is longer than the one before (the history grows).
    let whole = client("chat-whole");
    assert_eq!(
        (whole["requests"].as_u64(), whole["errors"].as_u64()),
        (Some(8), Some(0)),
        "{whole:#}"
    );
    let turns = &whole["turns"];
    let mut last = 0.0;
    for k in 1..=4 {
        let t = &turns[k.to_string()];
        assert_eq!(t["requests"], 2, "turn {k}: {turns:#}");
        let mean = t["inputTokens"].as_f64().unwrap() / 2.0;
        eprintln!("turn {k}: mean prompt tokens {mean} (server usage)");
        assert!(
            mean > last,
            "turn {k}: {mean} prompt tokens, not above {last}: {turns:#}"
        );
        last = mean;
    }
    // The streamed client has TTFT per turn; the merged summary has both.
    let stream = client("chat-stream");
    assert_eq!(stream["requests"], 8, "{stream:#}");
    let t = total(&dir);
    for k in 1..=4 {
        assert_eq!(t["turns"][k.to_string()]["requests"], 4, "{t:#}");
        let ttft = &t["latency"][format!("turn{k}.ttft")];
        assert_eq!(ttft["count"], 2, "turn {k}: {t:#}");
        assert_eq!(t["latency"][format!("turn{k}.e2el")]["count"], 4);
        eprintln!("turn {k}: TTFT p50 {} ms", ttft["p50Ms"]);
    }
}

#[test]
fn prompt_token_counts_from_the_servers_tokenizer_match_its_usage_exactly() {
    let workspace = tempfile::tempdir().unwrap();
    let dir = run_recipe("recipes/token-counts.yaml", workspace.path());
    let client = |id: &str| -> serde_json::Value {
        let path = dir.join(format!("clients/{id}-1.json"));
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
            .unwrap()
    };
    // Completions, synthetic and from a file: every answer's usage equals
    // the count of the prompt it was sent.
    for (id, n) in [("synthetic", 6), ("file", 4)] {
        let c = client(id);
        assert_eq!(
            (c["requests"].as_u64(), c["errors"].as_u64()),
            (Some(n), Some(0)),
            "{c:#}"
        );
        let p = &c["promptTokens"];
        eprintln!("{id}: {p}");
        assert_eq!(p["source"], "server POST /extras/tokenize", "{c:#}");
        assert_eq!(p["checked"], n, "{id}: every answer compared: {c:#}");
        assert_eq!(p["mismatched"], 0, "{id}: {c:#}");
        assert_eq!(p["usageMinusCounted"], 0, "{id}: {c:#}");
    }
    // Synthetic prompts were fitted to lengths drawn in 20..=60: the
    // server's own count of each request lies there.
    let log = std::fs::read_to_string(dir.join("clients/synthetic-1.requests.jsonl")).unwrap();
    let lengths: Vec<u64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["inputTokens"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(lengths.len(), 6, "{log}");
    assert!(lengths.iter().all(|n| (20..=60).contains(n)), "{lengths:?}");
    // summary.json's vllm section: `vllm bench serve --save-result`'s key
    // set, with the per-request arrays of the recorded client.
    let v = &total(&dir)["vllm"];
    for key in [
        "date",
        "backend",
        "endpoint_type",
        "label",
        "model_id",
        "tokenizer_id",
        "num_prompts",
        "request_rate",
        "max_concurrency",
        "duration",
        "completed",
        "failed",
        "total_input_tokens",
        "total_output_tokens",
        "request_throughput",
        "request_goodput",
        "output_throughput",
        "total_token_throughput",
        "max_output_tokens_per_s",
        "max_concurrent_requests",
        "mean_e2el_ms",
        "median_e2el_ms",
        "p99_e2el_ms",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v:#}");
    }
    assert_eq!(v["backend"], "mixed", "{v:#}");
    assert_eq!(v["label"], "token-counts", "{v:#}");
    assert_eq!(v["num_prompts"], 16, "{v:#}");
    let lens: Vec<u64> = v["input_lens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(lens, lengths, "{v:#}");
    assert_eq!(v["latencies"].as_array().unwrap().len(), 6, "{v:#}");
    assert!(v["latencies"][0].as_f64().unwrap() > 0.0, "{v:#}");
    // Chat: the template's tokens are not in the text's count, and show.
    let chat = client("chat");
    let p = &chat["promptTokens"];
    eprintln!("chat: {p}");
    assert_eq!(p["checked"], 2, "{chat:#}");
    assert!(p["usageMinusCounted"].as_i64().unwrap() > 0, "{chat:#}");
    // The estimate of the same file prompts misses the server's counts.
    let est = client("estimated");
    let p = &est["promptTokens"];
    eprintln!("estimated: {p}");
    assert_eq!(p["source"], "words (estimate)", "{est:#}");
    assert_eq!(p["checked"], 4, "{est:#}");
    let missed = p["mismatched"].as_u64().unwrap();
    assert!(missed > 0, "{est:#}");
    // The merged summary sums the four.
    let t = total(&dir);
    assert_eq!(t["promptTokens"]["source"], "mixed", "{t:#}");
    assert_eq!(t["promptTokens"]["checked"], 16, "{t:#}");
    assert_eq!(t["promptTokens"]["mismatched"], 2 + missed, "{t:#}");
}
