//! What `aifbench run` shows while it works: a live status line on a
//! terminal, or plain log lines (CI, pipes). Writes to a terminal that is
//! gone (EIO after a hang-up, EPIPE on a closed pipe) are dropped, never a
//! panic: after the first failure the display stops drawing.

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
    /// A write to stderr failed: the terminal is gone, draw nothing more.
    gone: bool,
}

impl Display {
    pub(super) fn new(mode: ProgressMode) -> Self {
        Self {
            mode,
            started: Instant::now(),
            last: None,
            drawn: false,
            gone: false,
        }
    }

    /// Writes `text` to stderr unless it is known to be gone; a failed
    /// write marks it gone. True if written.
    fn draw(&mut self, text: std::fmt::Arguments) -> bool {
        self.draw_on(&mut std::io::stderr().lock(), text)
    }

    fn draw_on(&mut self, w: &mut impl Write, text: std::fmt::Arguments) -> bool {
        if self.gone {
            return false;
        }
        if w.write_fmt(text).and_then(|()| w.flush()).is_ok() {
            return true;
        }
        self.gone = true;
        self.drawn = false;
        false
    }

    pub(super) fn phase_changed(&mut self, s: &BenchmarkStatus) {
        self.clear();
        let msg = s.message.clone().unwrap_or_default();
        tracing::info!(phase = %s.phase, message = %msg, "phase");
        if self.mode == ProgressMode::Live {
            let elapsed = self.started.elapsed().as_secs_f64();
            self.draw(format_args!(
                "{elapsed:>7.1}s  {:<12} {msg}\n",
                s.phase.as_str()
            ));
        }
    }

    pub(super) fn note(&mut self, text: &str) {
        self.clear();
        tracing::warn!("{text}");
        if self.mode == ProgressMode::Live {
            self.draw(format_args!("{text}\n"));
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
                let elapsed = self.started.elapsed().as_secs_f64();
                if self.draw(format_args!("\r\x1b[2K{elapsed:>7.1}s  {line}")) {
                    self.drawn = true;
                }
            }
            _ => tracing::info!(progress = %line, "progress"),
        }
    }

    pub(super) fn clear(&mut self) {
        if self.drawn {
            self.draw(format_args!("\r\x1b[2K"));
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

    /// A terminal that hung up.
    struct Gone;

    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(5)) // EIO
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(5))
        }
    }

    #[test]
    fn a_gone_terminal_stops_the_display_without_a_panic() {
        let mut d = Display::new(ProgressMode::Live);
        let mut ok = Vec::new();
        assert!(d.draw_on(&mut ok, format_args!("Running\n")));
        assert_eq!(ok, b"Running\n");
        assert!(!d.draw_on(&mut Gone, format_args!("Running\n")));
        assert!(d.gone);
        // Nothing more is attempted, even where writing would work again.
        assert!(!d.draw_on(&mut ok, format_args!("Collecting\n")));
        assert_eq!(ok, b"Running\n");
    }
}
