//! The text `aifbench run` and `aifbench report` print at the end: the
//! totals, the latency table, goodput, open-loop rates, stages, and the
//! run's verdict. Pure: the callers print it (see `console`).

use std::fmt::Write;

use aifbench::api::status::{BenchmarkStatus, condition};
use aifbench::results::report::{Report, stages_table};

/// The summary of a report, one line per fact, newline-terminated.
pub fn summary_text(r: &Report) -> String {
    let t = &r.total;
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(
        s,
        "requests {}  errors {}  duration {:.1}s  throughput {:.2} req/s  output {:.1} tok/s",
        t.requests, t.errors, t.duration_s, t.request_throughput, t.output_token_throughput
    );
    for (class, n) in &t.error_classes {
        let _ = writeln!(s, "  errors[{class}] = {n}");
    }
    let _ = writeln!(
        s,
        "{:<13} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "metric", "count", "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for (name, l) in &t.latency {
        let _ = writeln!(
            s,
            "{:<13} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            name, l.count, l.mean_ms, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        );
    }
    if let Some(g) = t.request_goodput {
        let _ = writeln!(s, "goodput {g:.2} req/s");
    }
    if let (Some(rate), Some(sent)) = (t.rate, t.send_rate) {
        let _ = writeln!(s, "open loop: asked {rate:.2} req/s, sent {sent:.2} req/s");
    }
    if !t.stages.is_empty() {
        let _ = writeln!(s, "\nstages:");
        s.push_str(&stages_table(t));
    }
    s
}

/// `Succeeded (Completed)` or `Failed (Reason: message)`: the phase and the
/// Succeeded condition's reason.
pub fn verdict_line(s: &BenchmarkStatus) -> String {
    let verdict = s
        .condition(condition::SUCCEEDED)
        .map(|c| {
            if c.message.is_empty() {
                c.reason.clone()
            } else {
                format!("{}: {}", c.reason, c.message)
            }
        })
        .unwrap_or_default();
    format!("{} ({verdict})", s.phase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aifbench::api::status::{Condition, Phase};

    fn status(phase: Phase, reason: &str, message: &str) -> BenchmarkStatus {
        BenchmarkStatus {
            phase,
            conditions: vec![Condition {
                type_: condition::SUCCEEDED.to_string(),
                status: "False".to_string(),
                reason: reason.to_string(),
                message: message.to_string(),
                last_transition_time: jiff::Timestamp::UNIX_EPOCH,
                observed_generation: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn verdict_is_the_phase_with_the_reason_and_any_message() {
        assert_eq!(
            verdict_line(&status(Phase::Succeeded, "Completed", "")),
            "Succeeded (Completed)"
        );
        assert_eq!(
            verdict_line(&status(Phase::Failed, "ServiceExited", "sim exited 1")),
            "Failed (ServiceExited: sim exited 1)"
        );
        assert_eq!(
            verdict_line(&BenchmarkStatus::default()),
            format!("{} ()", BenchmarkStatus::default().phase)
        );
    }
}
