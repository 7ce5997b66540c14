//! A toy backend that keeps its "components" in memory: each one follows a
//! scripted [`Plan`] against the clock. It implements the same seam as the
//! process, Slurm and pod backends, so the driver loop runs on it unchanged
//! (registered with one line: `.with(ExecutorKind::Process, backend)`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use aifbench::backend::{Backend, BackendError, LaunchRequest, Seen};
use aifbench::engine::{Placement, RunState};

/// What a component does once launched.
#[derive(Clone, Copy, Debug)]
pub enum Plan {
    /// Runs until stopped; healthy after `ready_after` (never: None);
    /// exits with 1 after `crash_after`.
    Serve {
        ready_after: Option<Duration>,
        crash_after: Option<Duration>,
    },
    /// Exits with `code` after `after`.
    Finish { after: Duration, code: i32 },
    /// Waits in the queue until stopped.
    Queue,
}

struct Entry {
    plan: Plan,
    started: Instant,
    stopped: Option<Instant>,
}

/// The in-memory backend.
pub struct MemoryBackend {
    plans: BTreeMap<String, Plan>,
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Real launches per component (an adopted one is not counted again).
    pub launches: Mutex<BTreeMap<String, u32>>,
}

impl MemoryBackend {
    /// Components follow `plans` (by id; unplanned ones serve, healthy at
    /// once).
    pub fn new(plans: impl IntoIterator<Item = (&'static str, Plan)>) -> Self {
        Self {
            plans: plans.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            entries: Mutex::new(BTreeMap::new()),
            launches: Mutex::new(BTreeMap::new()),
        }
    }

    fn state(e: &Entry) -> (RunState, Option<bool>) {
        let t = e.started.elapsed();
        if e.stopped.is_some() {
            let reason = Some("stopped".to_string());
            return match e.plan {
                Plan::Queue => (RunState::Exited { code: None, reason }, None),
                _ => (
                    RunState::Exited {
                        code: Some(0),
                        reason,
                    },
                    None,
                ),
            };
        }
        match e.plan {
            Plan::Queue => (RunState::Queued("Resources".to_string()), None),
            Plan::Finish { after, code } if t >= after => (
                RunState::Exited {
                    code: Some(code),
                    reason: None,
                },
                None,
            ),
            Plan::Finish { .. } => (RunState::Running, None),
            Plan::Serve {
                crash_after: Some(c),
                ..
            } if t >= c => (
                RunState::Exited {
                    code: Some(1),
                    reason: Some("crashed".to_string()),
                },
                Some(false),
            ),
            Plan::Serve { ready_after, .. } => {
                (RunState::Running, Some(ready_after.is_some_and(|r| t >= r)))
            }
        }
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn reaches_endpoints(&self) -> bool {
        // Health comes from the plan, not from HTTP probes.
        false
    }

    fn launch(&self, req: LaunchRequest) -> BoxFuture<'_, Result<Placement, BackendError>> {
        Box::pin(async move {
            let mut entries = self.entries.lock().unwrap();
            if !entries.contains_key(&req.id) {
                let plan = self.plans.get(&req.id).copied().unwrap_or(Plan::Serve {
                    ready_after: Some(Duration::ZERO),
                    crash_after: None,
                });
                entries.insert(
                    req.id.clone(),
                    Entry {
                        plan,
                        started: Instant::now(),
                        stopped: None,
                    },
                );
                *self
                    .launches
                    .lock()
                    .unwrap()
                    .entry(req.id.clone())
                    .or_default() += 1;
            }
            Ok(Placement {
                node: Some("memory".to_string()),
                ..Placement::default()
            })
        })
    }

    fn observe<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Seen> {
        Box::pin(async move {
            let entries = self.entries.lock().unwrap();
            let Some(e) = entries.get(id) else {
                return Seen::default();
            };
            let (run, ready) = Self::state(e);
            Seen {
                run,
                node: Some("memory".to_string()),
                port: Some(8000),
                ready,
                ..Seen::default()
            }
        })
    }

    fn stop<'a>(&'a self, id: &'a str, _grace: Duration) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(e) = self.entries.lock().unwrap().get_mut(id) {
                e.stopped.get_or_insert_with(Instant::now);
            }
        })
    }

    fn cleanup(&self) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(async move {
            let mut entries = self.entries.lock().unwrap();
            let mut left = Vec::new();
            for (id, e) in entries.iter_mut() {
                if matches!(Self::state(e).0, RunState::Running | RunState::Queued(_)) {
                    e.stopped = Some(Instant::now());
                    left.push(id.clone());
                }
            }
            Ok(left)
        })
    }
}
