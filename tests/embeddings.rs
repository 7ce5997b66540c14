//! The embeddings workload end to end: `recipes/embeddings.yaml` against the
//! simulator's `/v1/embeddings` ends Succeeded, inputs/s is the batch size
//! times requests/s, input tokens come from the server's usage counts, and
//! the batch-size sweep (one batch size per stage) embeds more inputs per
//! second with larger batches.

mod common;

use std::process::Command;

use common::{read_json, results_dir};

use serde_json::Value;

/// `a` equals `b` within rounding.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// Checks one result (a client's or a stage's): inputs = batch x requests,
/// inputs/s = batch x requests/s, no errors.
fn check_rates(s: &Value, batch: u64, what: &str) {
    let requests = s["requests"].as_u64().unwrap();
    assert!(requests > 0, "{what}: {s:#}");
    assert_eq!(s["errors"], 0, "{what}: {s:#}");
    assert_eq!(s["inputs"].as_u64(), Some(batch * requests), "{what}");
    let rps = s["requestThroughput"].as_f64().unwrap();
    let ips = s["inputThroughput"].as_f64().unwrap();
    assert!(
        close(ips, batch as f64 * rps),
        "{what}: {ips} vs {batch} x {rps}"
    );
    let tps = s["inputTokenThroughput"].as_f64().unwrap();
    let tokens = s["inputTokens"].as_f64().unwrap();
    assert!(
        close(tps, tokens / s["durationS"].as_f64().unwrap()),
        "{what}"
    );
}

#[test]
fn embeddings_recipe_reports_inputs_and_tokens_per_second() {
    let workspace = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["run", "recipes/embeddings.yaml", "--progress", "plain"])
        .arg("--workspace")
        .arg(workspace.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "aifbench run failed: {stderr}");
    eprintln!("embeddings.yaml: {:.1}s", started.elapsed().as_secs_f64());
    let dir = results_dir(workspace.path());
    let status: Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap();
    assert_eq!(status["phase"], "Succeeded", "{status:#}");

    // Per-client summaries, in the order of the recipe.
    let summary = read_json(&dir.join("summary.json"));
    let clients = summary["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 3, "{summary:#}");
    let (closed, open, sweep) = (&clients[0], &clients[1], &clients[2]);
    check_rates(closed, 8, "closed loop, batch 8");
    check_rates(open, 4, "open loop, batch 4");
    let send_rate = open["sendRate"].as_f64().unwrap();
    assert!(
        (30.0..50.0).contains(&send_rate),
        "open loop at 40/s sent {send_rate}/s"
    );

    // Tokens are the server's usage counts: the simulator counts one token
    // per word, and the inputs of the sweep are 100 words each.
    for id in ["embed", "embed-open", "embed-sweep"] {
        let r = read_json(&dir.join(format!("clients/{id}-1.json")));
        assert_eq!(r["workload"], "embeddings");
        assert_eq!(r["tokenCountSource"], "usage", "{id}");
        assert_eq!(r["outputTokens"], 0, "{id}");
    }
    assert_eq!(
        sweep["inputTokens"].as_u64(),
        Some(100 * sweep["inputs"].as_u64().unwrap())
    );
    let open_r = read_json(&dir.join("clients/embed-open-1.json"));
    assert_eq!(
        open_r["inputTokens"].as_u64(),
        Some(64 * open_r["inputs"].as_u64().unwrap())
    );
    let closed_r = read_json(&dir.join("clients/embed-1.json"));
    let (tokens, inputs) = (
        closed_r["inputTokens"].as_u64().unwrap(),
        closed_r["inputs"].as_u64().unwrap(),
    );
    assert!(
        (32 * inputs..=128 * inputs).contains(&tokens),
        "{tokens} tokens for {inputs} inputs"
    );

    // The sweep: stages at batch sizes 1, 4, 16, each with its own rates;
    // larger batches embed more inputs per second (the simulator's fixed
    // 20 ms per request is shared by more inputs).
    let stages = sweep["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3, "{sweep:#}");
    for (stage, batch) in stages.iter().zip([1, 4, 16]) {
        check_rates(stage, batch, &format!("sweep stage at batch {batch}"));
    }
    let ips: Vec<f64> = stages
        .iter()
        .map(|s| s["inputThroughput"].as_f64().unwrap())
        .collect();
    assert!(
        ips[1] > ips[0] && ips[2] > ips[1],
        "inputs/s by batch size: {ips:?}"
    );
    // The sweep's curve judges what a batch delivers: load = workers x
    // batch, throughput = inputs/s.
    let sat = &sweep["saturation"];
    assert_eq!(sat["loadKind"], "concurrency x batch", "{sat:#}");
    let curve = sat["curve"].as_array().expect("a curve");
    let loads: Vec<f64> = curve.iter().map(|p| p["load"].as_f64().unwrap()).collect();
    assert_eq!(loads, [2.0, 8.0, 32.0], "{sat:#}");
    let tput: Vec<f64> = curve
        .iter()
        .map(|p| p["throughput"].as_f64().unwrap())
        .collect();
    assert_eq!(tput, ips, "{sat:#}");
    eprintln!(
        "closed batch 8: {:.1} req/s, {:.1} inputs/s, {:.0} tokens/s; sweep inputs/s {ips:?}",
        closed["requestThroughput"].as_f64().unwrap(),
        closed["inputThroughput"].as_f64().unwrap(),
        closed["inputTokenThroughput"].as_f64().unwrap(),
    );

    // The total adds the clients' inputs.
    let total = &summary["total"];
    let sum: u64 = clients.iter().map(|c| c["inputs"].as_u64().unwrap()).sum();
    assert_eq!(total["inputs"].as_u64(), Some(sum));
}
