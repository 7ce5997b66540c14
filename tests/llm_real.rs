//! A real LLM server end to end: `recipes/local-llm.yaml` runs
//! llama-cpp-python's OpenAI-compatible server with SmolLM2-135M on CPU and
//! drives it with chat and completions clients, streamed and not.
//!
//! Needs `scripts/setup-llm.sh` (tests/run-all.sh runs it); without it this
//! test fails and says so.

mod common;

use std::path::Path;
use std::process::Command;

use common::{llm_env, results_dir};

fn client(dir: &Path, id: &str) -> serde_json::Value {
    let path = dir.join(format!("clients/{id}-1.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .unwrap()
}

#[test]
fn local_llm_recipe_succeeds_with_server_token_counts() {
    let env = llm_env();
    let workspace = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args([
            "run",
            "recipes/local-llm.yaml",
            "--progress",
            "plain",
            "--workspace",
        ])
        .arg(workspace.path())
        .envs(env)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "aifbench run failed: {stderr}");
    let dir = results_dir(workspace.path());
    let status: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap();
    assert_eq!(status["phase"], "Succeeded", "{status:#}");

    for (id, n) in [
        ("chat-stream", 6),
        ("chat-whole", 4),
        ("completions-stream", 6),
        ("completions-whole", 4),
    ] {
        let r = client(&dir, id);
        assert_eq!(r["requests"], n, "{id}: {r:#}");
        assert_eq!(r["errors"], 0, "{id}: {r:#}");
        assert!(r["outputTokens"].as_u64().unwrap() > 0, "{id}");
    }
    // Whole responses carry the server's own usage counts.
    for id in ["chat-whole", "completions-whole"] {
        let r = client(&dir, id);
        assert_eq!(r["tokenCountSource"], "usage", "{id}");
        assert!(r["inputTokens"].as_u64().unwrap() > 0, "{id}");
    }
    // llama-cpp-python sends no usage when streaming: tokens are counted
    // from the stream, and must equal the server's usage for the same
    // deterministic (temperature 0) request sent whole.
    for api in ["chat", "completions"] {
        let stream = client(&dir, &format!("{api}-stream"));
        let whole = client(&dir, &format!("{api}-whole"));
        let per = |r: &serde_json::Value| {
            r["outputTokens"].as_f64().unwrap() / r["requests"].as_f64().unwrap()
        };
        assert_eq!(per(&stream), per(&whole), "{api}: {stream:#} vs {whole:#}");
        assert_eq!(stream["tokenCountSource"], "counted", "{api}");
        assert!(stream["histograms"]["ttft"].is_string(), "{api}: no TTFT");
        assert!(stream["histograms"]["itl"].is_string(), "{api}: no ITL");
    }
    // Per-request lines were written for the streamed clients.
    let lines = std::fs::read_to_string(dir.join("clients/chat-stream-1.requests.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 6);
    assert!(lines.lines().all(|l| l.contains("\"ttftMs\"")), "{lines}");
}
