//! `aifbench operator`: its flags (each with an `AIFB_*` environment
//! variable, as the Helm chart sets them) and its start-up: logging, the
//! Lease, the Kubernetes client, the shutdown signal, then the controller.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::signals::spawn_signal_handler;

#[derive(clap::Args, Debug)]
pub struct OperatorArgs {
    /// Namespaces to watch (repeat or comma-separate); default: all.
    #[arg(long, env = "AIFB_NAMESPACES", value_delimiter = ',')]
    namespace: Vec<String>,
    /// Image of client pods without their own pod.image (the operator's own).
    #[arg(
        long,
        env = "AIFB_IMAGE",
        default_value = "ghcr.io/aifbench/aifbench:latest"
    )]
    image: String,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "AIFB_LISTEN", default_value = "0.0.0.0:8080")]
    listen: std::net::SocketAddr,
    /// Where monitors write their scrapes.
    #[arg(
        long,
        env = "AIFB_RESULTS_ROOT",
        default_value = "/var/lib/aifbench/results"
    )]
    results_root: PathBuf,
    /// Leader-election Lease as NAMESPACE/NAME; empty disables election.
    #[arg(long, env = "AIFB_LEASE", default_value = "")]
    lease: String,
    /// This replica's identity (Lease holder, Event reportingInstance).
    #[arg(long, env = "POD_NAME", default_value = "aifbench-operator")]
    identity: String,
    /// Requeue interval of active Benchmarks.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    requeue: Duration,
    /// Lifespan of the JWTs the operator mints over SSH (`scontrol token
    /// lifespan=...`) when slurmrestd refuses a Secret's token; at least 60s.
    #[arg(
        long,
        env = "AIFB_SLURM_TOKEN_LIFESPAN",
        default_value = "1h",
        value_parser = parse_token_lifespan
    )]
    slurm_token_lifespan: Duration,
    /// Console logs as JSON lines.
    #[arg(long, env = "AIFB_LOG_JSON")]
    log_json: bool,
}

fn parse_token_lifespan(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(60) {
        return Err(format!(
            "{s} is shorter than scontrol's minimum token lifespan; use 60s or more, e.g. 1h"
        ));
    }
    Ok(d)
}

/// `NAMESPACE/NAME` → the Lease; empty → no election.
fn parse_lease(lease: &str) -> anyhow::Result<Option<(String, String)>> {
    match lease.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
            Ok(Some((ns.to_string(), name.to_string())))
        }
        _ if lease.is_empty() => Ok(None),
        _ => anyhow::bail!("--lease must be NAMESPACE/NAME"),
    }
}

/// Starts the operator and runs it until SIGINT/SIGTERM.
pub async fn operator(args: OperatorArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init("info", args.log_json, &[], None);
    let lease = parse_lease(&args.lease)?;
    let config = crate::operator::OperatorConfig {
        namespaces: args
            .namespace
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect(),
        settings: crate::operator::Settings {
            image: args.image,
            results_root: args.results_root,
            instance: args.identity,
            requeue: args.requeue,
            slurm_token_lifespan: args.slurm_token_lifespan,
        },
        listen: args.listen,
        lease,
        lease_duration: Duration::from_secs(15),
    };
    // rustls' process-wide provider (ring) before kube builds its TLS config.
    crate::tls::install_crypto_provider();
    let client = kube::Client::try_default().await.context(
        "cannot configure the Kubernetes client (no in-cluster config and no KUBECONFIG)",
    )?;
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone(), CancellationToken::new());
    crate::operator::run(client, config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// `"250ms"`, `"1h30m"` or seconds, as in a Benchmark file.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    s.parse::<crate::api::duration::Duration>()
        .map(|d| d.get())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_is_namespace_slash_name_or_empty() {
        assert_eq!(
            parse_lease("ops/aifbench").unwrap(),
            Some(("ops".to_string(), "aifbench".to_string()))
        );
        assert_eq!(parse_lease("").unwrap(), None);
        for bad in ["ops", "ops/", "/aifbench"] {
            assert!(parse_lease(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_lifespan_is_at_least_a_minute() {
        assert_eq!(
            parse_token_lifespan("1h").unwrap(),
            Duration::from_secs(3600)
        );
        assert!(parse_token_lifespan("59s").is_err());
    }
}
