//! `aifbench serve RESULTS_ROOT`: the results folders under a root, served
//! to Grafana's JSON datasource until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::serve::{self, Index};

use super::console;
use super::signals::spawn_signal_handler;

/// What `aifbench serve --help` adds after the flags.
pub const SERVE_AFTER_HELP: &str = "\
What it serves (each run is a folder directly under RESULTS_ROOT, or the
root itself when it is one results folder):
  requests_per_second, errors_per_second, output_tokens_per_second,
  in_flight                 the clients' per-second timeline, all instances
  latency:<m>:<p50|p90|p99|mean>
                            client latency (ms) per stage, e.g. latency:ttft:p99
  server:<family>           the monitors' gauges (GPU: server:DCGM_FI_DEV_*)
  server:<family>:rate      counters as increase per second
  server:<family>:mean      histograms as the mean observed between scrapes
  annotations               phase changes, conditions, stages (a table)
  runs                      every run with its start, phase and range (a table)
A query picks its run with its payload {\"run\": \"$run\"}; without one it gets
the newest run. /variable lists the runs for a dashboard variable $run.

In Grafana (plugin \"JSON\" by SimPod, simpod-json-datasource 0.6.x):
  grafana-cli plugins install simpod-json-datasource
  Connections > Data sources > Add > JSON; URL http://HOST:3100; Save & test.
  Dashboards > Import deploy/grafana/aifbench-runs.json, pick that datasource.
  Grafana must reach the listen address: use --listen 0.0.0.0:3100 when it
  runs elsewhere (no authentication: keep it on a trusted network).

Examples:
  aifbench serve results/
  aifbench serve results/ --listen 0.0.0.0:3100
  curl -s -XPOST localhost:3100/variable -d '{}'
See docs/grafana.md.";

// No doc comment here: the `Serve` variant's text is the subcommand's help.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The folder holding results folders (a workspace such as ./results),
    /// or one results folder.
    #[arg(value_name = "RESULTS_ROOT")]
    pub root: PathBuf,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:3100")]
    pub listen: SocketAddr,
    /// Console log level (trace, debug, info, warn, error); RUST_LOG
    /// overrides it.
    #[arg(long, default_value = "info")]
    pub log_level: String,
}

/// Runs `aifbench serve` until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init(&args.log_level, false, &[], None);
    let index =
        Index::open(&args.root).with_context(|| format!("cannot serve {}", args.root.display()))?;
    let runs = index.runs().context("cannot list the runs")?.len();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("no local address")?;
    console::out(&format!(
        "serving {runs} run(s) from {} to Grafana's JSON datasource at http://{addr}\n",
        index.root().display()
    ));
    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone(), CancellationToken::new());
    serve::serve(listener, index, async move { cancel.cancelled().await }).await?;
    Ok(ExitCode::SUCCESS)
}
