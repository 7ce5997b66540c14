//! `aifbench compare` on real runs: four short quickstart-like runs against
//! `aifbench sim` — two with different TTFT (per-request records on), two of
//! the same setup with different jitter seeds (histograms only) — and the
//! verdicts, `--json`, `--html` and `--fail-if` exit codes on them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aifbench"))
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a one-instance, 3-second benchmark (about 70 requests at
/// concurrency 4: light enough that a busy test machine adds little noise)
/// against a simulator with this TTFT and seed; returns its results folder.
fn run(root: &Path, name: &str, ttft: &str, seed: u32, records: bool) -> PathBuf {
    let recipe = format!(
        r#"apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata:
  name: {name}
spec:
  services:
    - id: sim
      executor: process
      command: [aifbench, sim, --port, "{{{{port}}}}", --model, sim-model, --ttft, {ttft},
                --itl, 10ms, --output-tokens, "8", --jitter, "0.2", --seed, "{seed}"]
      ports:
        - {{name: http, port: 0}}
      healthcheck:
        path: /health
        interval: 100ms
        timeout: 30s
  clients:
    - id: chat
      target: sim
      recordRequests: {records}
      workload:
        type: openai
        openai:
          api: chat
          stream: true
          maxTokens: 8
      load:
        concurrency: 4
        warmup: 500ms
        duration: 3s
  execution:
    runDeadline: 1m
    postActions: [stopServices, report]
"#
    );
    let file = root.join(format!("{name}.yaml"));
    std::fs::write(&file, recipe).unwrap();
    let workspace = root.join(name);
    let out = bin()
        .args(["run", "--progress", "quiet", "--workspace"])
        .arg(&workspace)
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{name}: {}", text(&out));
    let dir = std::fs::read_dir(&workspace)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    assert!(dir.join("summary.json").is_file(), "{}", dir.display());
    let recorded = std::fs::read_dir(dir.join("clients")).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".requests.jsonl")
    });
    assert_eq!(recorded, records, "{}", dir.display());
    dir
}

fn compare(args: &[&str], runs: &[&Path]) -> Output {
    let mut c = bin();
    c.arg("compare").args(runs).args(args);
    c.output().unwrap()
}

fn json(runs: &[&Path]) -> serde_json::Value {
    let out = compare(&["--json"], runs);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn verdict<'a>(cmp: &'a serde_json::Value, row: &str) -> &'a str {
    cmp["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == row)
        .unwrap_or_else(|| panic!("no row {row} in {cmp:#}"))["others"][0]["verdict"]
        .as_str()
        .unwrap()
}

fn differing(cmp: &serde_json::Value) -> Vec<String> {
    cmp["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["others"][0]["verdict"] == "differs")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn compare_finds_a_ttft_change_and_no_change_between_equal_runs() {
    let root = tempfile::tempdir().unwrap();
    let fast = run(root.path(), "fast", "100ms", 1, true);
    let slow = run(root.path(), "slow", "150ms", 1, true);
    let same_a = run(root.path(), "same-a", "100ms", 1, false);
    let same_b = run(root.path(), "same-b", "100ms", 2, false);

    // Different TTFT: every TTFT statistic differs, for the worse; the
    // inter-token latency, which the simulator kept, does not.
    let cmp = json(&[&fast, &slow]);
    assert_eq!(cmp["runs"][0]["intervalsFrom"], "records", "{cmp:#}");
    for stat in ["mean", "p50", "p90"] {
        let name = format!("ttft.{stat}");
        assert_eq!(verdict(&cmp, &name), "differs", "{name}: {cmp:#}");
    }
    assert_eq!(verdict(&cmp, "e2el.p50"), "differs");
    assert_ne!(verdict(&cmp, "itl.p50"), "differs", "{cmp:#}");
    let p50 = &cmp["rows"].as_array().unwrap()[1];
    assert_eq!(p50["name"], "ttft.p50");
    assert!(
        p50["others"][0]["changePct"].as_f64().unwrap() > 30.0,
        "{p50:#}"
    );
    assert_eq!(p50["others"][0]["worse"], true);

    // The same setup twice: nothing differs beyond noise.
    let cmp = json(&[&same_a, &same_b]);
    assert_eq!(cmp["runs"][0]["intervalsFrom"], "histograms", "{cmp:#}");
    assert_eq!(differing(&cmp), Vec::<String>::new(), "{cmp:#}");

    // The table says so, without colour when piped, and names the rows.
    let out = compare(&[], &[&fast, &slow]);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!table.contains('\x1b'), "{table}");
    assert!(
        table.contains("DIFFERS (worse)") && table.contains("ttft.p50"),
        "{table}"
    );
    let out = compare(&[], &[&same_a, &same_b]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No metric differs beyond noise"),
        "{}",
        text(&out)
    );

    // Gates: a TTFT regression trips, the equal runs pass the same gate.
    let gate = [
        "--fail-if",
        "ttft.p50>+10%",
        "--fail-if",
        "request_throughput<-50%",
    ];
    let out = compare(&gate, &[&fast, &slow]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ttft.p50>+10%") && err.contains("tripped"),
        "{err}"
    );
    assert!(!err.contains("request_throughput<-50%"), "{err}");
    assert_eq!(compare(&gate, &[&same_a, &same_b]).status.code(), Some(0));
    // The other way round it is an improvement: the gate does not trip.
    assert_eq!(compare(&gate[..2], &[&slow, &fast]).status.code(), Some(0));
    let any = compare(&["--fail-if-any-change"], &[&slow, &fast]);
    assert_eq!(any.status.code(), Some(1), "{}", text(&any));

    // Bad gates and folders: exit 2 with what is accepted.
    let out = compare(&["--fail-if", "ttft.p50>=10%"], &[&fast, &slow]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected METRIC>LIMIT"));
    let out = compare(&["--fail-if", "tfft.p50>10%"], &[&fast, &slow]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ttft.p50"));
    // An s3:// run without credentials is refused by name (runs read from
    // a real S3 server: tests/results_s3.rs).
    let out = bin()
        .arg("compare")
        .arg(&fast)
        .arg("s3://bucket/runs/x/")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no access key id and secret key in environment variables AWS_ACCESS_KEY_ID"),
        "{}",
        text(&out)
    );
    let out = compare(&[], &[&fast, root.path()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // HTML: one self-contained page with a CDF per latency metric, all
    // three runs overlaid.
    let html = root.path().join("cmp.html");
    let out = compare(
        &["--html", html.to_str().unwrap()],
        &[&fast, &slow, &same_a],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    for metric in ["ttft", "itl", "tpot", "e2el"] {
        assert!(
            page.contains(&format!("aria-label=\"{metric} CDF\"")),
            "{metric}"
        );
    }
    assert_eq!(
        page.matches("<path d=\"M").count(),
        4 * 3,
        "3 runs x 4 metrics"
    );
    assert!(!page.contains("<script") && !page.contains("src=\"http"));
}
