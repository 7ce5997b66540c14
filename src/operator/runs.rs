//! Runs and generations — the GitOps policy, pure:
//!
//! - a Benchmark runs once per spec generation (`metadata.generation`);
//! - a spec edited after its run finished starts a new run (new results
//!   folder, children named and labelled with the new generation); the
//!   finished run is kept as a [`RunRecord`] in `status.runs` (newest first,
//!   at most [`HISTORY`]);
//! - a spec edited while a run is in progress cancels that run (the engine
//!   stops everything and collects partial results, phase `Cancelled`), after
//!   which the new generation starts;
//! - status-only or metadata-only changes do not bump the generation and
//!   start nothing.

use jiff::Timestamp;

use crate::api::status::{BenchmarkStatus, ResultsLocation, RunRecord, condition};

/// How many earlier runs `status.runs` keeps.
pub const HISTORY: usize = 5;

/// What to do with the current status given the spec's generation.
#[derive(Clone, Debug, PartialEq)]
pub enum RunStep {
    /// Continue the run of the status (or start the first one).
    Continue,
    /// The spec changed under a run in progress: cancel it first.
    CancelForEdit,
    /// The run finished and the spec changed: start afresh from this status.
    Restart(Box<BenchmarkStatus>),
}

/// The generation a status's run belongs to (the spec's one before the
/// first run started).
pub fn run_generation(status: &BenchmarkStatus, spec_generation: i64) -> i64 {
    status.observed_generation.unwrap_or(spec_generation)
}

/// Decides, from the status and the spec's generation, whether the run goes
/// on, must be cancelled, or is replaced by a fresh one.
pub fn step(status: &BenchmarkStatus, spec_generation: i64) -> RunStep {
    let Some(observed) = status.observed_generation else {
        return RunStep::Continue;
    };
    if observed == spec_generation {
        return RunStep::Continue;
    }
    if !status.phase.is_terminal() {
        return RunStep::CancelForEdit;
    }
    let mut runs = vec![record(status)];
    runs.extend(status.runs.iter().cloned());
    runs.truncate(HISTORY);
    RunStep::Restart(Box::new(BenchmarkStatus {
        runs,
        ..Default::default()
    }))
}

/// The record of a finished run.
pub fn record(status: &BenchmarkStatus) -> RunRecord {
    RunRecord {
        generation: status.observed_generation,
        phase: status.phase,
        reason: status
            .condition(condition::SUCCEEDED)
            .map(|c| c.reason.clone()),
        start_time: status.start_time,
        completion_time: status.completion_time,
        request_throughput: status.summary.as_ref().map(|s| s.request_throughput),
        latency_p99_ms: status.summary.as_ref().and_then(|s| s.latency_p99_ms),
        results: status.results.clone(),
    }
}

/// The results folder name of a run: `<name>-<UTC start time>` as the local
/// driver names it (a new run gets a new folder).
pub fn results_folder(name: &str, start: Option<Timestamp>, generation: i64) -> String {
    match start {
        Some(t) => format!("{name}-{}", t.strftime("%Y%m%dT%H%M%SZ")),
        None => format!("{name}-g{generation}"),
    }
}

/// Where a run's results are: the claim's folder, or the pods' own volumes.
pub fn results_location(claim: Option<&str>, folder: &str) -> ResultsLocation {
    ResultsLocation {
        path: Some(match claim {
            Some(c) => format!("pvc://{c}/{folder}"),
            None => format!("emptyDir://{folder} (per client pod; summaries in status)"),
        }),
        url: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::status::Phase;

    #[test]
    fn generation_policy() {
        let mut s = BenchmarkStatus::default();
        assert_eq!(step(&s, 1), RunStep::Continue);
        s.observed_generation = Some(1);
        s.phase = Phase::Running;
        assert_eq!(step(&s, 1), RunStep::Continue);
        assert_eq!(step(&s, 2), RunStep::CancelForEdit);
        s.phase = Phase::Succeeded;
        let RunStep::Restart(fresh) = step(&s, 2) else {
            panic!("expected restart")
        };
        assert_eq!(fresh.phase, Phase::Pending);
        assert_eq!(fresh.observed_generation, None);
        assert_eq!(fresh.runs.len(), 1);
        assert_eq!(fresh.runs[0].generation, Some(1));
        assert_eq!(fresh.runs[0].phase, Phase::Succeeded);
        let mut s = (*fresh).clone();
        for g in 2..10 {
            s.observed_generation = Some(g);
            s.phase = Phase::Failed;
            let RunStep::Restart(next) = step(&s, g + 1) else {
                panic!()
            };
            s = *next;
        }
        assert_eq!(s.runs.len(), HISTORY);
        assert_eq!(s.runs[0].generation, Some(9));
    }

    #[test]
    fn folders() {
        let t: Timestamp = "2026-11-29T03:04:05Z".parse().unwrap();
        assert_eq!(results_folder("bm", Some(t), 2), "bm-20261129T030405Z");
        assert_eq!(results_folder("bm", None, 2), "bm-g2");
    }
}
