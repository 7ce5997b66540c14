//! A monitor run by the driver itself, for both drivers: one task scraping
//! its targets into `metrics/<id>.raw.jsonl` and `.parsed.jsonl` until
//! stopped (with a final scrape), or one querying a Prometheus for its
//! window when stopped ([`crate::monitor::promql_task`]), whose state the
//! driver observes like a component's.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::api::monitor::MonitorSpec;
use crate::engine::RunState;
use crate::monitor::promql_task::{PromqlConfig, run_promql_monitor};
use crate::monitor::scrape::{MonitorConfig, ScrapeTarget, run_monitor};

/// What a monitor task does: scrape targets, or query a Prometheus.
#[derive(Debug, Clone)]
pub enum MonitorWork {
    /// Scrape `/metrics` endpoints every interval.
    Scrape(MonitorConfig),
    /// PromQL range queries for the window, when stopped.
    Promql(PromqlConfig),
}

impl MonitorWork {
    /// What monitor `m` does, decided here for both drivers: PromQL range
    /// queries when it names a Prometheus, else scrapes every interval of
    /// the targets `targets` resolves (only the driver knows where its
    /// services answer).
    pub fn for_spec<E>(
        m: &MonitorSpec,
        bearer_token: Option<String>,
        targets: impl FnOnce() -> Result<Vec<ScrapeTarget>, E>,
    ) -> Result<Self, E> {
        if let Some(promql) = PromqlConfig::from_spec(m, bearer_token.clone()) {
            return Ok(promql.into());
        }
        Ok(MonitorConfig {
            id: m.id.clone(),
            targets: targets()?,
            interval: m.interval.get(),
            timeout: m.timeout.get(),
            bearer_token,
        }
        .into())
    }

    /// The monitor's id.
    pub fn id(&self) -> &str {
        match self {
            Self::Scrape(c) => &c.id,
            Self::Promql(c) => &c.id,
        }
    }
}

impl From<MonitorConfig> for MonitorWork {
    fn from(c: MonitorConfig) -> Self {
        Self::Scrape(c)
    }
}

impl From<PromqlConfig> for MonitorWork {
    fn from(c: PromqlConfig) -> Self {
        Self::Promql(c)
    }
}

/// A running monitor task.
pub struct MonitorTask {
    cancel: CancellationToken,
    run: Arc<Mutex<RunState>>,
}

impl MonitorTask {
    /// Starts scraping `work`'s targets (or waiting to query its
    /// Prometheus) into `out_dir`, on the current tokio runtime.
    pub fn spawn(work: impl Into<MonitorWork>, out_dir: PathBuf) -> Self {
        let work = work.into();
        let cancel = CancellationToken::new();
        let run = Arc::new(Mutex::new(RunState::Running));
        let task = Self {
            cancel: cancel.clone(),
            run: run.clone(),
        };
        tokio::spawn(async move {
            let id = work.id().to_string();
            let outcome = match work {
                MonitorWork::Scrape(config) => {
                    run_monitor(config, &out_dir, cancel).await.map(|report| {
                        tracing::debug!(monitor = %id, scrapes = report.scrapes, failures = report.failures, "monitor stopped");
                        None
                    })
                }
                MonitorWork::Promql(config) => run_promql_monitor(config, &out_dir, cancel)
                    .await
                    .map(|report| report.failure_reason()),
            };
            let state = match outcome {
                Ok(None) => RunState::Exited {
                    code: Some(0),
                    reason: None,
                },
                // Recorded in its files; the status says so, the run goes on.
                Ok(Some(reason)) => RunState::Exited {
                    code: Some(1),
                    reason: Some(reason),
                },
                Err(e) => {
                    tracing::error!(monitor = %id, error = %e, "monitor failed");
                    RunState::Exited {
                        code: Some(1),
                        reason: Some(e.to_string()),
                    }
                }
            };
            *run.lock().unwrap_or_else(PoisonError::into_inner) = state;
        });
        task
    }

    /// Asks it to stop (it scrapes once more first, or runs its queries).
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Running, or how it ended.
    pub fn state(&self) -> RunState {
        self.run
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_monitor_naming_a_prometheus_queries_it_and_any_other_scrapes_what_the_driver_resolves() {
        let promql: MonitorSpec = serde_norway::from_str(
            "id: p\nprometheus: {url: 'http://prom:9090', queries: [{name: up, query: up}]}\n",
        )
        .expect("a PromQL monitor");
        let work = MonitorWork::for_spec(&promql, Some("t".into()), || {
            Err::<Vec<ScrapeTarget>, _>("targets resolved for a PromQL monitor")
        })
        .expect("no targets needed");
        match work {
            MonitorWork::Promql(c) => {
                assert_eq!((c.id.as_str(), c.url.as_str()), ("p", "http://prom:9090"));
                assert_eq!(c.bearer_token.as_deref(), Some("t"));
            }
            other => panic!("expected PromQL, got {other:?}"),
        }

        let scrape: MonitorSpec =
            serde_norway::from_str("id: s\ntargets: [llm]\ninterval: 2s\ntimeout: 1s\n")
                .expect("a scrape monitor");
        let resolved = || {
            Ok::<_, String>(vec![ScrapeTarget {
                name: "llm".into(),
                url: "http://n1:8000/metrics".into(),
            }])
        };
        match MonitorWork::for_spec(&scrape, None, resolved).expect("resolved") {
            MonitorWork::Scrape(c) => {
                assert_eq!(c.id, "s");
                assert_eq!(c.targets.len(), 1);
                assert_eq!(
                    (c.interval, c.timeout),
                    (Duration::from_secs(2), Duration::from_secs(1))
                );
            }
            other => panic!("expected a scrape, got {other:?}"),
        }
        let unresolved = MonitorWork::for_spec(&scrape, None, || {
            Err::<Vec<ScrapeTarget>, _>("llm has no endpoint yet")
        });
        assert_eq!(unresolved.err(), Some("llm has no endpoint yet"));
    }

    #[tokio::test]
    async fn a_stopped_task_ends_and_says_so() {
        let dir = std::env::temp_dir().join(format!("aifb-monitor-task-{}", std::process::id()));
        let config = MonitorConfig {
            id: "m".into(),
            targets: Vec::new(),
            interval: Duration::from_millis(50),
            timeout: Duration::from_millis(50),
            bearer_token: None,
        };
        let t = MonitorTask::spawn(config, dir.clone());
        assert_eq!(t.state(), RunState::Running);
        t.stop();
        let mut state = t.state();
        for _ in 0..100 {
            if state != RunState::Running {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            state = t.state();
        }
        assert!(
            matches!(state, RunState::Exited { .. }),
            "still {state:?} after stop"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_promql_task_whose_queries_fail_ends_with_code_1_and_says_why() {
        let dir = std::env::temp_dir().join(format!("aifb-promql-task-{}", std::process::id()));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = PromqlConfig {
            id: "p".into(),
            url: format!("http://127.0.0.1:{port}"),
            queries: vec![crate::monitor::promql_task::PromqlQuery {
                name: "up".into(),
                query: "up".into(),
            }],
            step: Duration::from_secs(1),
            delay: Duration::ZERO,
            timeout: Duration::from_secs(1),
            bearer_token: None,
        };
        let t = MonitorTask::spawn(config, dir.clone());
        assert_eq!(t.state(), RunState::Running);
        t.stop();
        let mut state = t.state();
        for _ in 0..200 {
            if state != RunState::Running {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            state = t.state();
        }
        match state {
            RunState::Exited {
                code: Some(1),
                reason: Some(r),
            } => assert!(r.starts_with("1 of 1 PromQL request(s) failed"), "{r}"),
            other => panic!("expected code 1 with a reason, got {other:?}"),
        }
        assert!(dir.join("p.raw.jsonl").exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
