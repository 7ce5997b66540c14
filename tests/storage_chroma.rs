//! `aifbench run recipes/chroma.yaml` against a real Chroma server started by
//! the recipe. Needs `scripts/setup-chroma.sh` to have been run once; fails
//! (never skips) when it was not.

mod common;

use common::results_dir;
use std::path::PathBuf;
use std::process::Command;

fn tools() -> PathBuf {
    std::env::var_os("AIFB_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/aifbench-tools"))
}

#[test]
fn chroma_recipe_reports_qps_latency_and_recall() {
    let chroma = tools().join("chroma-venv/bin/chroma");
    assert!(
        chroma.exists(),
        "{} is missing: run scripts/setup-chroma.sh first (installs chromadb into a venv, ~150 s)",
        chroma.display()
    );
    let ws = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args([
            "run",
            "recipes/chroma.yaml",
            "--progress",
            "plain",
            "--workspace",
        ])
        .arg(ws.path())
        .env("AIFB_CHROMA_DURATION", "4s")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "aifbench run failed: {stderr}");
    let dir = results_dir(ws.path());
    let status: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap();
    assert_eq!(status["phase"], "Succeeded", "{status:#}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let total = &summary["total"];
    assert!(total["requests"].as_u64().unwrap() > 20, "{total:#}");
    assert_eq!(total["errors"], 0, "{total:#}");
    assert!(
        total["requestThroughput"].as_f64().unwrap() > 1.0,
        "{total:#}"
    );
    assert!(total["latency"]["e2el"]["p99Ms"].as_f64().unwrap() > 0.0);
    let recall = &total["recall"];
    assert_eq!(recall["k"], 10, "{total:#}");
    assert!(recall["queries"].as_u64().unwrap() >= 20, "{recall:#}");
    let mean = recall["mean"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&mean), "recall {mean}");
    // Each client reports its own recall and load phase.
    for c in ["knn-1", "knn-filtered-1"] {
        let r: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("clients").join(format!("{c}.json"))).unwrap(),
        )
        .unwrap();
        assert!(r["recall"]["queries"].as_u64().unwrap() > 0, "{r:#}");
        assert_eq!(r["setup"]["items"], 5000, "{r:#}");
    }
}
