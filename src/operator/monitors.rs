//! Monitors scraped by the operator itself: one task per monitor of a run,
//! writing `metrics/<id>.raw.jsonl` and `.parsed.jsonl` under the operator's
//! results root (`<root>/<namespace>/<results folder>/metrics/`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::engine::RunState;
use crate::monitor::scrape::{MonitorConfig, run_monitor};

type Key = (String, String, i64, String);

struct Task {
    cancel: CancellationToken,
    run: Arc<Mutex<RunState>>,
}

/// The running monitor tasks of every Benchmark.
#[derive(Default)]
pub struct MonitorTasks {
    tasks: Mutex<BTreeMap<Key, Task>>,
}

impl MonitorTasks {
    /// No tasks.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Task>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts scraping (idempotent).
    pub fn start(
        &self,
        ns: &str,
        name: &str,
        generation: i64,
        config: MonitorConfig,
        out_dir: PathBuf,
    ) {
        let key = (
            ns.to_string(),
            name.to_string(),
            generation,
            config.id.clone(),
        );
        let mut tasks = self.lock();
        if tasks.contains_key(&key) {
            return;
        }
        let cancel = CancellationToken::new();
        let run = Arc::new(Mutex::new(RunState::Running));
        {
            let cancel = cancel.clone();
            let run = run.clone();
            tokio::spawn(async move {
                let id = config.id.clone();
                let state = match run_monitor(config, &out_dir, cancel).await {
                    Ok(_) => RunState::Exited {
                        code: Some(0),
                        reason: None,
                    },
                    Err(e) => {
                        tracing::warn!(monitor = %id, error = %e, "monitor failed");
                        RunState::Exited {
                            code: Some(1),
                            reason: Some(e.to_string()),
                        }
                    }
                };
                *run.lock().unwrap_or_else(PoisonError::into_inner) = state;
            });
        }
        tasks.insert(key, Task { cancel, run });
    }

    /// Stops one monitor (it does a final scrape first).
    pub fn stop(&self, ns: &str, name: &str, generation: i64, id: &str) {
        let key = (ns.to_string(), name.to_string(), generation, id.to_string());
        if let Some(t) = self.lock().get(&key) {
            t.cancel.cancel();
        }
    }

    /// What the monitors of a run do, by id.
    pub fn states(&self, ns: &str, name: &str, generation: i64) -> BTreeMap<String, RunState> {
        self.lock()
            .iter()
            .filter(|((n, b, g, _), _)| n == ns && b == name && *g == generation)
            .map(|((_, _, _, id), t)| {
                (
                    id.clone(),
                    t.run.lock().unwrap_or_else(PoisonError::into_inner).clone(),
                )
            })
            .collect()
    }

    /// Stops and forgets every monitor of a Benchmark.
    pub fn forget(&self, ns: &str, name: &str) {
        self.lock().retain(|(n, b, _, _), t| {
            let keep = !(n == ns && b == name);
            if !keep {
                t.cancel.cancel();
            }
            keep
        });
    }
}
