//! A monitor run by the driver itself, for both drivers: one task scraping
//! its targets into `metrics/<id>.raw.jsonl` and `.parsed.jsonl` until
//! stopped (with a final scrape), whose state the driver observes like a
//! component's.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::engine::RunState;
use crate::monitor::scrape::{MonitorConfig, run_monitor};

/// A running monitor task.
pub struct MonitorTask {
    cancel: CancellationToken,
    run: Arc<Mutex<RunState>>,
}

impl MonitorTask {
    /// Starts scraping `config`'s targets into `out_dir` (on the current
    /// tokio runtime).
    pub fn spawn(config: MonitorConfig, out_dir: PathBuf) -> Self {
        let cancel = CancellationToken::new();
        let run = Arc::new(Mutex::new(RunState::Running));
        let task = Self {
            cancel: cancel.clone(),
            run: run.clone(),
        };
        tokio::spawn(async move {
            let id = config.id.clone();
            let state = match run_monitor(config, &out_dir, cancel).await {
                Ok(report) => {
                    tracing::debug!(monitor = %id, scrapes = report.scrapes, failures = report.failures, "monitor stopped");
                    RunState::Exited {
                        code: Some(0),
                        reason: None,
                    }
                }
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

    /// Asks it to stop (it scrapes once more first).
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
}
