//! The text `aifbench run` and `aifbench report` print at the end: the
//! totals, the latency table, goodput, open-loop rates, stages, and the
//! run's verdict with why it failed (the failing components and the last
//! lines they wrote). Pure: the callers print it (see `console`).

use std::fmt::Write;

use crate::api::status::{BenchmarkStatus, ComponentState, condition};
use crate::results::report::{Report, stages_table};

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
/// Succeeded condition's reason. A failure's message of several lines (the
/// last lines a failed component wrote) follows on indented lines, and
/// every other failed component is listed with its message, so the
/// terminal says why without opening the logs.
pub fn verdict_line(s: &BenchmarkStatus) -> String {
    let cond = s.condition(condition::SUCCEEDED);
    let message = cond.map(|c| c.message.as_str()).unwrap_or_default();
    let mut lines = message.lines().peekable();
    // `exited with code 1:` introduces the lines below it.
    let first = lines.next().map(|f| {
        if lines.peek().is_some() {
            f.trim_end_matches(':')
        } else {
            f
        }
    });
    let verdict = match (cond, first) {
        (Some(c), Some(first)) if !first.is_empty() => format!("{}: {first}", c.reason),
        (Some(c), _) => c.reason.clone(),
        (None, _) => String::new(),
    };
    let mut out = format!("{} ({verdict})", s.phase);
    for l in lines {
        let _ = write!(out, "\n  | {l}");
    }
    let failed = s.components.iter().filter(|c| {
        c.state == ComponentState::Failed
            && c.message
                .as_deref()
                .is_some_and(|m| !m.is_empty() && !message.contains(m))
    });
    for c in failed {
        let m = c.message.as_deref().unwrap_or_default();
        let mut ls = m.lines();
        let _ = write!(
            out,
            "\n{} {} failed ({}): {}",
            c.kind.as_str(),
            c.id,
            c.reason.as_deref().unwrap_or("Failed"),
            ls.next().unwrap_or_default()
        );
        for l in ls {
            let _ = write!(out, "\n  | {l}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::status::{ComponentKind, ComponentStatus, Condition, Phase};

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

    #[test]
    fn a_failure_shows_the_failing_components_and_their_last_lines() {
        let mut s = status(
            Phase::Failed,
            "ServiceExited",
            "service llm: exited with code 1:\nTraceback:\nNo module named 'llama_cpp'",
        );
        let failed = |id: &str, kind, reason: &str, message: &str| {
            let mut c = ComponentStatus::new(id, kind, "process");
            c.state = ComponentState::Failed;
            c.reason = Some(reason.to_string());
            c.message = Some(message.to_string());
            c
        };
        s.components = vec![
            failed(
                "llm",
                ComponentKind::Service,
                "ServiceExited",
                "exited with code 1:\nTraceback:\nNo module named 'llama_cpp'",
            ),
            failed(
                "chat-1",
                ComponentKind::Client,
                "ClientFailed",
                "exited with code 1 (connection refused)",
            ),
        ];
        assert_eq!(
            verdict_line(&s),
            "Failed (ServiceExited: service llm: exited with code 1)\n  | Traceback:\n  | No module named 'llama_cpp'\nclient chat-1 failed (ClientFailed): exited with code 1 (connection refused)"
        );
    }
}
