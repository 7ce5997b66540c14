//! HTTP health checks: GET a URL at an interval until it answers 2xx.
//!
//! The prober only reports; how long a service may take is the engine's
//! decision (`HealthcheckTimeout`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// One probe: true when `url` answers with a 2xx status within `timeout`.
pub async fn probe(client: &reqwest::Client, url: &str, timeout: Duration) -> bool {
    match client.get(url).timeout(timeout).send().await {
        Ok(resp) => resp.status().is_success(),
        Err(_) => false,
    }
}

/// Probes `url` every `interval` until it is healthy (then sets `healthy`
/// and returns) or `cancel` fires.
pub fn spawn_prober(
    client: reqwest::Client,
    id: String,
    url: String,
    interval: Duration,
    timeout: Duration,
    healthy: Arc<AtomicBool>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut attempts = 0u64;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
            attempts += 1;
            if probe(&client, &url, timeout).await {
                tracing::info!(component = %id, url = %url, attempts, "health check passed");
                healthy.store(true, Ordering::SeqCst);
                return;
            }
            tracing::debug!(component = %id, url = %url, attempts, "health check not passing yet");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn becomes_healthy_once_the_server_answers() {
        // Reserve a port, start probing before anything listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let healthy = Arc::new(AtomicBool::new(false));
        let cancel = CancellationToken::new();
        let task = spawn_prober(
            crate::tls::client(),
            "svc".into(),
            format!("http://{addr}/health"),
            Duration::from_millis(50),
            Duration::from_millis(200),
            healthy.clone(),
            cancel.clone(),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!healthy.load(Ordering::SeqCst));
        let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert!(healthy.load(Ordering::SeqCst));
        server.abort();
    }

    #[tokio::test]
    async fn non_2xx_is_not_healthy() {
        let app = axum::Router::new().route(
            "/health",
            axum::routing::get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "no") }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let ok = probe(
            &crate::tls::client(),
            &format!("http://{addr}/health"),
            Duration::from_secs(1),
        )
        .await;
        assert!(!ok);
        server.abort();
    }
}
