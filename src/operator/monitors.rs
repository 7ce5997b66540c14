//! Monitors run by the operator itself (scrapes, or PromQL queries for the
//! window): one [`MonitorTask`] per monitor of a run, writing
//! `metrics/<id>.raw.jsonl` and `.parsed.jsonl` under the operator's
//! results root (`<root>/<namespace>/<results folder>/metrics/`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use crate::engine::RunState;
use crate::monitor::task::{MonitorTask, MonitorWork};

type Key = (String, String, i64, String);

/// The running monitor tasks of every Benchmark.
#[derive(Default)]
pub struct MonitorTasks {
    tasks: Mutex<BTreeMap<Key, MonitorTask>>,
}

impl MonitorTasks {
    /// No tasks.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, MonitorTask>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts scraping, or waiting to query (idempotent).
    pub fn start(
        &self,
        ns: &str,
        name: &str,
        generation: i64,
        config: impl Into<MonitorWork>,
        out_dir: PathBuf,
    ) {
        let config = config.into();
        let key = (
            ns.to_string(),
            name.to_string(),
            generation,
            config.id().to_string(),
        );
        let mut tasks = self.lock();
        if tasks.contains_key(&key) {
            return;
        }
        tasks.insert(key, MonitorTask::spawn(config, out_dir));
    }

    /// Stops one monitor (it does a final scrape first).
    pub fn stop(&self, ns: &str, name: &str, generation: i64, id: &str) {
        let key = (ns.to_string(), name.to_string(), generation, id.to_string());
        if let Some(t) = self.lock().get(&key) {
            t.stop();
        }
    }

    /// What the monitors of a run do, by id.
    pub fn states(&self, ns: &str, name: &str, generation: i64) -> BTreeMap<String, RunState> {
        self.lock()
            .iter()
            .filter(|((n, b, g, _), _)| n == ns && b == name && *g == generation)
            .map(|((_, _, _, id), t)| (id.clone(), t.state()))
            .collect()
    }

    /// Stops and forgets every monitor of a Benchmark.
    pub fn forget(&self, ns: &str, name: &str) {
        self.lock().retain(|(n, b, _, _), t| {
            let keep = !(n == ns && b == name);
            if !keep {
                t.stop();
            }
            keep
        });
    }
}
