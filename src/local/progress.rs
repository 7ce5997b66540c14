//! What `aifbench run` shows while it works: a live status line on a
//! terminal, or plain log lines (CI, pipes).

use std::io::Write;
use std::time::{Duration, Instant};

use crate::api::status::{BenchmarkStatus, ComponentKind};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A status line redrawn in place on stderr (terminals).
    Live,
    /// A log line every few seconds.
    Plain,
    /// Nothing but phase changes in the log.
    Quiet,
}

pub(super) struct Display {
    mode: ProgressMode,
    started: Instant,
    last: Option<Instant>,
    drawn: bool,
}

impl Display {
    pub(super) fn new(mode: ProgressMode) -> Self {
        Self {
            mode,
            started: Instant::now(),
            last: None,
            drawn: false,
        }
    }

    pub(super) fn phase_changed(&mut self, s: &BenchmarkStatus) {
        self.clear();
        let msg = s.message.clone().unwrap_or_default();
        tracing::info!(phase = %s.phase, message = %msg, "phase");
        if self.mode == ProgressMode::Live {
            eprintln!(
                "{:>7.1}s  {:<12} {msg}",
                self.started.elapsed().as_secs_f64(),
                s.phase.as_str()
            );
        }
    }

    pub(super) fn note(&mut self, text: &str) {
        self.clear();
        tracing::warn!("{text}");
        if self.mode == ProgressMode::Live {
            eprintln!("{text}");
        }
    }

    pub(super) fn tick(&mut self, s: &BenchmarkStatus) {
        let every = match self.mode {
            ProgressMode::Live => Duration::from_millis(250),
            ProgressMode::Plain => Duration::from_secs(5),
            ProgressMode::Quiet => return,
        };
        if self.last.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        let line = progress_line(s);
        match self.mode {
            ProgressMode::Live => {
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2K{:>7.1}s  {line}",
                    self.started.elapsed().as_secs_f64()
                );
                let _ = err.flush();
                self.drawn = true;
            }
            _ => tracing::info!(progress = %line, "progress"),
        }
    }

    pub(super) fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

/// `Running | load-1 120 ok 0 err | load-2 118 ok 0 err | 47.6 req/s`.
pub(super) fn progress_line(s: &BenchmarkStatus) -> String {
    let mut parts = vec![s.phase.as_str().to_string()];
    let mut total = 0u64;
    let mut errors = 0u64;
    let mut elapsed = 0f64;
    for c in s
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::Client)
    {
        if let Some(p) = &c.progress {
            parts.push(format!("{} {} ok {} err", c.id, p.requests, p.errors));
            total += p.requests;
            errors += p.errors;
            elapsed = elapsed.max(p.elapsed_seconds);
        }
    }
    if elapsed > 0.0 {
        parts.push(format!(
            "{:.1} req/s, {errors} errors",
            total as f64 / elapsed
        ));
    } else if let Some(m) = &s.message {
        parts.push(m.clone());
    }
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::status::{ClientProgress, ComponentStatus, Phase};

    #[test]
    fn line_sums_client_progress() {
        let mut s = BenchmarkStatus {
            phase: Phase::Running,
            ..Default::default()
        };
        for (id, n) in [("c-1", 100), ("c-2", 50)] {
            let mut c = ComponentStatus::new(id, ComponentKind::Client, "process");
            c.progress = Some(ClientProgress {
                requests: n,
                errors: 1,
                elapsed_seconds: 10.0,
            });
            s.components.push(c);
        }
        let line = progress_line(&s);
        assert_eq!(
            line,
            "Running | c-1 100 ok 1 err | c-2 50 ok 1 err | 15.0 req/s, 2 errors"
        );
    }
}
