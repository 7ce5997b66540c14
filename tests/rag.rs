//! `aifbench run recipes/rag.yaml` for real: four local services (the CPU
//! LLM server twice — `llm`, and `embed` with mean pooling —, Chroma and
//! Garage) and a `rag` client whose every request embeds a question,
//! queries the collection, fetches the documents from S3 and asks the LLM
//! with them. Bounded: 8 documents, 12 requests, loopback only.
//!
//! Needs scripts/setup-llm.sh, setup-chroma.sh and setup-garage.sh to have
//! been run once; fails (never skips) when they were not.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{llm_env, read_json, results_dir};

const DOCUMENTS: u64 = 8;
const TOP_K: u64 = 2;
const REQUESTS: u64 = 12;
const HOPS: [&str; 4] = ["embed", "search", "fetch", "generate"];

fn dir_var(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn require_tools() {
    let tools = dir_var("AIFB_TOOLS", "/var/tmp/aifbench-tools");
    let garage = dir_var("AIFB_GARAGE_DIR", "/var/tmp/aifbench-garage");
    for (f, script) in [
        (tools.join("chroma-venv/bin/chroma"), "setup-chroma.sh"),
        (tools.join("bin/garage"), "setup-garage.sh"),
        (garage.join("credentials.env"), "setup-garage.sh"),
    ] {
        assert!(
            f.exists(),
            "{} is missing: run scripts/{script} first",
            f.display()
        );
    }
    assert!(
        std::net::TcpListener::bind("127.0.0.1:3900").is_ok(),
        "127.0.0.1:3900 is busy: a Garage is already running (scripts/setup-garage.sh --stop)"
    );
}

fn ms(latency: &serde_json::Value, metric: &str, stat: &str) -> f64 {
    latency[metric][stat]
        .as_f64()
        .unwrap_or_else(|| panic!("no {metric}.{stat} in {latency:#}"))
}

#[test]
fn rag_recipe_measures_every_hop_against_real_services() {
    require_tools();
    let env = llm_env();
    let ws = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args([
            "run",
            "recipes/rag.yaml",
            "--progress",
            "plain",
            "--workspace",
        ])
        .arg(ws.path())
        .envs(env)
        .env("AIFB_RAG_DOCUMENTS", DOCUMENTS.to_string())
        .env("AIFB_RAG_WORDS", "24")
        .env("AIFB_RAG_TOPK", TOP_K.to_string())
        .env("AIFB_RAG_REQUESTS", REQUESTS.to_string())
        .env("AIFB_RAG_MAX_TOKENS", "8")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "aifbench run failed: {stderr}");
    let dir = results_dir(ws.path());
    let status: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap();
    assert_eq!(status["phase"], "Succeeded", "{status:#}");

    let summary = read_json(&dir.join("summary.json"));
    let total = &summary["total"];
    assert_eq!(total["requests"], REQUESTS, "{total:#}");
    assert_eq!(total["errors"], 0, "{total:#}");

    // Every hop ran once per request, with its own latency histogram, in
    // the total and in the client's own summary.
    for s in [total, &summary["clients"][0]] {
        for hop in HOPS {
            assert_eq!(s["operations"][hop]["requests"], REQUESTS, "{hop}: {s:#}");
            assert_eq!(s["operations"][hop]["errors"], 0, "{hop}");
            let l = &s["latency"][format!("{hop}.e2el")];
            assert_eq!(l["count"], REQUESTS, "{hop}: {l:#}");
            assert!(l["p50Ms"].as_f64().unwrap() > 0.0, "{hop}: {l:#}");
            assert!(l["minMs"].as_f64().unwrap() > 0.0, "{hop}: {l:#}");
        }
        assert_eq!(s["latency"]["generate.ttft"]["count"], REQUESTS);
    }
    let latency = &total["latency"];
    // The rule: the hops run one after another inside the chain, so each
    // request's end-to-end latency is at least the sum of its hops; means
    // add up, so the mean e2el is at least the sum of the hops' means
    // (less 1% for the histograms' 3 significant digits), and what the
    // chain adds between hops (building the prompt) stays under 250 ms.
    let hops_mean: f64 = HOPS
        .iter()
        .map(|h| ms(latency, &format!("{h}.e2el"), "meanMs"))
        .sum();
    let e2el_mean = ms(latency, "e2el", "meanMs");
    assert!(
        e2el_mean >= 0.99 * hops_mean,
        "e2el mean {e2el_mean} < sum of hop means {hops_mean}"
    );
    assert!(
        e2el_mean <= hops_mean + 250.0,
        "e2el mean {e2el_mean} much above the hops' {hops_mean}"
    );
    // The medians, roughly: the chain's median is no less than the sum of
    // the hops' medians less a fifth (medians do not add exactly).
    let hops_p50: f64 = HOPS
        .iter()
        .map(|h| ms(latency, &format!("{h}.e2el"), "p50Ms"))
        .sum();
    assert!(
        ms(latency, "e2el", "p50Ms") >= 0.8 * hops_p50,
        "{latency:#}"
    );
    // The chain's TTFT counts from its send, so it includes the retrieval.
    assert!(
        ms(latency, "ttft", "meanMs") >= ms(latency, "generate.ttft", "meanMs"),
        "{latency:#}"
    );

    // The generate hop's prompt held the fetched documents: its tokens
    // (estimated as a quarter of the prompt's characters: llama-cpp-python
    // sends no usage when streaming) cover the fetched bytes.
    let fetched = total["operations"]["fetch"]["bytes"].as_u64().unwrap();
    let input = total["inputTokens"].as_u64().unwrap();
    assert!(fetched > 0, "{total:#}");
    assert!(
        input * 4 >= fetched,
        "prompt tokens {input} for {fetched} fetched bytes"
    );

    // The corpus was seeded, and counted back (the collection's count and
    // the bucket's listing, which the client checks before the load).
    let client = read_json(&dir.join("clients/rag-1.json"));
    let setup = &client["setup"];
    assert_eq!(setup["items"], DOCUMENTS, "{client:#}");
    assert!(
        setup["bytes"].as_u64().unwrap() > DOCUMENTS * 24,
        "{setup:#}"
    );
    // Each request fetched topK of those documents: their mean size times k.
    let per_doc = setup["bytes"].as_f64().unwrap() / DOCUMENTS as f64;
    let per_request = fetched as f64 / REQUESTS as f64;
    assert!(
        (per_request / (per_doc * TOP_K as f64) - 1.0).abs() < 0.5,
        "{per_request} bytes fetched per request, documents of {per_doc} bytes"
    );

    // One line per request in the request log, and the report names the hops.
    let lines = std::fs::read_to_string(dir.join("clients/rag-1.requests.jsonl")).unwrap();
    assert_eq!(lines.lines().count() as u64, REQUESTS);
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for hop in HOPS {
        assert!(report.contains(&format!("| {hop}.e2el |")), "{report}");
    }
}
