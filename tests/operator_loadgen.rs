//! The client side of the pod backend: `aifbench loadgen --summary-file`
//! writes the headline numbers the operator reads back as the container's
//! termination message (small enough for Kubernetes' 4 KiB limit), against
//! the real simulator.

use clap::Parser;
use tokio_util::sync::CancellationToken;

use aifbench::api::status::ResultsSummary;
use aifbench::operator::observe::merge_summaries;
use aifbench::workload::loadgen::{LoadgenArgs, LoadgenExit, run_cli};

mod common;
use common::start_sim;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: LoadgenArgs,
}

#[tokio::test]
async fn summary_file_is_a_termination_message() {
    let (url, stop, server) = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("termination-log");
    let output = dir.path().join("clients/c-index-0.json");
    let cli = Cli::try_parse_from([
        "loadgen",
        "--url",
        &url,
        "--id",
        "c-index-0",
        "--max-requests",
        "8",
        "--concurrency",
        "2",
        "--progress-interval",
        "0",
        "--output",
        output.to_str().unwrap(),
        "--summary-file",
        summary.to_str().unwrap(),
    ])
    .unwrap();
    let exit = run_cli(cli.args, CancellationToken::new()).await.unwrap();
    assert!(matches!(exit, LoadgenExit::Completed));
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.len() < 4096,
        "termination messages are limited to 4 KiB: {}",
        text.len()
    );
    let s: ResultsSummary = serde_json::from_str(&text).unwrap();
    assert_eq!(s.requests, 8);
    assert_eq!(s.errors, 0);
    assert!(s.request_throughput > 0.0);
    assert!(s.ttft_p99_ms.is_some(), "{text}");
    assert!(output.exists(), "the full result is written too");
    let merged = merge_summaries(&[s.clone(), s]).unwrap();
    assert_eq!(merged.requests, 16);
    stop.cancel();
    server.await.unwrap().unwrap();
}
