//! Slurm job states and their JSON, pure.
//!
//! One tolerant parser reads the job lists of `squeue --json` (22.05+),
//! slurmrestd v0.0.38 (`job_state` a string, `exit_code` a raw wait status)
//! and v0.0.40..v0.0.43 (`job_state` a list, numbers as
//! `{set, infinite, number}`, `exit_code` an object).

use serde_json::Value;

use crate::engine::RunState;

/// A Slurm job state (the base state; flags such as `COMPLETING` are kept
/// apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlurmState {
    /// Waiting for resources; the reason says why.
    Pending,
    /// Resources allocated, nodes booting.
    Configuring,
    /// Running.
    Running,
    /// Suspended.
    Suspended,
    /// Finished with exit code 0.
    Completed,
    /// Finished with a non-zero exit code.
    Failed,
    /// Cancelled (scancel, or by an administrator).
    Cancelled,
    /// Ran past its time limit.
    Timeout,
    /// Killed for exceeding its memory.
    OutOfMemory,
    /// A node failed.
    NodeFail,
    /// Preempted by a higher-priority job.
    Preempted,
    /// A node failed to boot.
    BootFail,
    /// Missed its deadline.
    Deadline,
    /// Anything else, as Slurm spells it.
    Other(String),
}

impl SlurmState {
    /// Parses Slurm's spelling (`PENDING`, `CANCELLED by 0`, `OUT_OF_MEMORY`).
    pub fn parse(s: &str) -> Self {
        let word = s
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match word.as_str() {
            "PENDING" | "PD" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" => {
                Self::Pending
            }
            "CONFIGURING" | "CF" => Self::Configuring,
            "RUNNING" | "R" | "COMPLETING" | "CG" | "STAGE_OUT" | "SIGNALING" => Self::Running,
            "SUSPENDED" | "S" | "STOPPED" => Self::Suspended,
            "COMPLETED" | "CD" => Self::Completed,
            "FAILED" | "F" => Self::Failed,
            "CANCELLED" | "CA" => Self::Cancelled,
            "TIMEOUT" | "TO" => Self::Timeout,
            "OUT_OF_MEMORY" | "OOM" => Self::OutOfMemory,
            "NODE_FAIL" | "NF" => Self::NodeFail,
            "PREEMPTED" | "PR" => Self::Preempted,
            "BOOT_FAIL" | "BF" => Self::BootFail,
            "DEADLINE" | "DL" => Self::Deadline,
            _ => Self::Other(word),
        }
    }

    /// Slurm's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "PENDING",
            Self::Configuring => "CONFIGURING",
            Self::Running => "RUNNING",
            Self::Suspended => "SUSPENDED",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Timeout => "TIMEOUT",
            Self::OutOfMemory => "OUT_OF_MEMORY",
            Self::NodeFail => "NODE_FAIL",
            Self::Preempted => "PREEMPTED",
            Self::BootFail => "BOOT_FAIL",
            Self::Deadline => "DEADLINE",
            Self::Other(s) => s,
        }
    }

    /// True while the job still holds (or waits for) resources.
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Configuring | Self::Running | Self::Suspended
        )
    }
}

/// What a job listing says about one job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobInfo {
    /// Job id.
    pub job_id: String,
    /// Job name.
    pub name: String,
    /// Base state.
    pub state: SlurmState,
    /// Why it is pending (or why it ended), when Slurm says.
    pub reason: Option<String>,
    /// Node list (or the batch host).
    pub node: Option<String>,
    /// Exit code of the batch script, when finished.
    pub exit_code: Option<i32>,
    /// Signal that ended it, when one did.
    pub signal: Option<i32>,
    /// The job's comment (aifbench jobs report through it; see
    /// [`JobReport`]).
    pub comment: Option<String>,
}

/// What an aifbench job reported through its comment
/// (`aifbench:{"port":8000,"ready":true}` or `aifbench:{"summary":{...}}`,
/// set by the job itself with `scontrol update`).
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct JobReport {
    /// The port the service listens on.
    #[serde(default)]
    pub port: Option<u16>,
    /// The service's health check passed inside the allocation.
    #[serde(default)]
    pub ready: bool,
    /// A client's headline numbers (`loadgen --summary-file`).
    #[serde(default)]
    pub summary: Option<Value>,
}

impl JobReport {
    /// The prefix of every aifbench comment.
    pub const PREFIX: &'static str = "aifbench:";

    /// Reads a job comment; None when it is not an aifbench report.
    pub fn parse(comment: &str) -> Option<Self> {
        let json = comment.trim().strip_prefix(Self::PREFIX)?;
        serde_json::from_str(json).ok()
    }
}

/// The job list could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StateError {
    /// Not the expected JSON.
    #[error("unexpected job list JSON: {0}")]
    Shape(String),
}

/// A number that may be plain or `{set, infinite, number}`.
pub(super) fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::Object(o) => {
            if o.get("set").and_then(Value::as_bool) == Some(false)
                || o.get("infinite").and_then(Value::as_bool) == Some(true)
            {
                return None;
            }
            o.get("number").and_then(number)
        }
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Exit code and signal: a raw wait status (v0.0.38, squeue 22.05), or
/// `{status, return_code, signal: {id, name}}` (v0.0.40+).
pub(super) fn exit_code(v: Option<&Value>) -> (Option<i32>, Option<i32>) {
    match v {
        Some(Value::Object(o)) => {
            let code = o
                .get("return_code")
                .and_then(number)
                .and_then(|n| i32::try_from(n).ok());
            let sig = o
                .get("signal")
                .and_then(|s| s.get("id").or(Some(s)))
                .and_then(number)
                .and_then(|n| i32::try_from(n).ok())
                .filter(|s| *s != 0);
            (code, sig)
        }
        Some(v) => match number(v).and_then(|n| i32::try_from(n).ok()) {
            Some(raw) => {
                let sig = raw & 0x7f;
                if sig != 0 {
                    (None, Some(sig))
                } else {
                    (Some((raw >> 8) & 0xff), None)
                }
            }
            None => (None, None),
        },
        None => (None, None),
    }
}

/// A state: a string (v0.0.38) or a list of base state and flags
/// (v0.0.40+).
pub(super) fn state_of(v: Option<&Value>) -> SlurmState {
    match v {
        Some(Value::String(s)) => SlurmState::parse(s),
        Some(Value::Array(a)) => {
            // v0.0.40+: ["RUNNING", "COMPLETING"]; the base state comes
            // first, but be tolerant of flag-only entries.
            let states: Vec<SlurmState> = a
                .iter()
                .filter_map(Value::as_str)
                .map(SlurmState::parse)
                .collect();
            states
                .iter()
                .find(|s| !matches!(s, SlurmState::Other(_)))
                .or(states.first())
                .cloned()
                .unwrap_or(SlurmState::Other(String::new()))
        }
        _ => SlurmState::Other(String::new()),
    }
}

/// One job object of any supported version.
pub fn parse_job(j: &Value) -> Result<JobInfo, StateError> {
    let job_id = j
        .get("job_id")
        .and_then(number)
        .map(|n| n.to_string())
        .ok_or_else(|| StateError::Shape("a job without job_id".into()))?;
    let (exit_code, signal) = exit_code(j.get("exit_code"));
    let reason = string(j.get("state_reason")).filter(|r| r != "None");
    let node = string(j.get("nodes")).or_else(|| string(j.get("batch_host")));
    Ok(JobInfo {
        job_id,
        name: string(j.get("name")).unwrap_or_default(),
        state: state_of(j.get("job_state")),
        reason,
        node,
        exit_code,
        signal,
        comment: string(j.get("comment")),
    })
}

/// A `{"jobs": [...]}` document (squeue --json, slurmrestd GET jobs).
pub fn parse_jobs(doc: &Value) -> Result<Vec<JobInfo>, StateError> {
    let jobs = doc
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or_else(|| StateError::Shape("no \"jobs\" array".into()))?;
    jobs.iter().map(parse_job).collect()
}

/// Error messages of a slurmrestd answer (`errors[].error` or
/// `.description`), joined.
pub fn rest_errors(doc: &Value) -> Option<String> {
    let errs: Vec<String> = doc
        .get("errors")?
        .as_array()?
        .iter()
        .filter_map(|e| {
            let msg = string(e.get("error")).or_else(|| string(e.get("description")));
            let code = e
                .get("error_number")
                .or(e.get("error_code"))
                .and_then(number);
            match (msg, code) {
                (Some(m), _) => Some(m),
                (None, Some(c)) if c != 0 => Some(format!("error {c}")),
                _ => None,
            }
        })
        .collect();
    (!errs.is_empty()).then(|| errs.join("; "))
}

/// The job id of a slurmrestd submit answer (`job_id`, or
/// `result.job_id` in v0.0.40+).
pub fn submitted_job_id(doc: &Value) -> Option<String> {
    doc.get("job_id")
        .or_else(|| doc.get("result").and_then(|r| r.get("job_id")))
        .and_then(number)
        .map(|n| n.to_string())
}

/// The engine's view of a job: pending → `Queued(reason)`, running →
/// `Running`, every end state → `Exited` with its exit code and the Slurm
/// state as the reason.
pub fn run_state(j: &JobInfo) -> RunState {
    match &j.state {
        SlurmState::Pending => RunState::Queued(format!(
            "slurm job {} PENDING ({})",
            j.job_id,
            j.reason.as_deref().unwrap_or("no reason given")
        )),
        SlurmState::Configuring => RunState::Queued(format!(
            "slurm job {} CONFIGURING (nodes booting)",
            j.job_id
        )),
        SlurmState::Running | SlurmState::Suspended => RunState::Running,
        SlurmState::Completed => RunState::Exited {
            code: Some(j.exit_code.unwrap_or(0)),
            reason: None,
        },
        other => {
            let mut reason = format!("slurm {} (job {}", other.as_str(), j.job_id);
            if let Some(n) = &j.node {
                reason.push_str(&format!(" on {n}"));
            }
            if let Some(s) = j.signal {
                reason.push_str(&format!(", signal {s}"));
            }
            if let Some(r) = &j.reason {
                reason.push_str(&format!(", {r}"));
            }
            reason.push(')');
            let code = match other {
                SlurmState::Failed | SlurmState::OutOfMemory => j.exit_code.filter(|c| *c != 0),
                _ => None,
            };
            RunState::Exited {
                code,
                reason: Some(reason),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_reports_parse() {
        assert_eq!(
            JobReport::parse("aifbench:{\"port\":8123,\"ready\":true}"),
            Some(JobReport {
                port: Some(8123),
                ready: true,
                summary: None
            })
        );
        let s = JobReport::parse("aifbench:{\"summary\":{\"requests\":3}}").unwrap();
        assert_eq!(s.summary.unwrap()["requests"], 3);
        assert_eq!(JobReport::parse("aifbench:{\"port\":}"), None);
        assert_eq!(JobReport::parse("someone else's comment"), None);
        let j = parse_job(
            &json!({"job_id": 5, "job_state": "RUNNING", "comment": "aifbench:{\"port\":1}"}),
        )
        .unwrap();
        assert_eq!(j.comment.as_deref(), Some("aifbench:{\"port\":1}"));
    }

    #[test]
    fn states_parse() {
        assert_eq!(SlurmState::parse("CANCELLED by 0"), SlurmState::Cancelled);
        assert_eq!(SlurmState::parse("OUT_OF_MEMORY"), SlurmState::OutOfMemory);
        assert_eq!(SlurmState::parse("PD"), SlurmState::Pending);
        assert_eq!(SlurmState::parse("NODE_FAIL"), SlurmState::NodeFail);
        assert_eq!(SlurmState::parse("PREEMPTED"), SlurmState::Preempted);
        assert_eq!(
            SlurmState::parse("WEIRD"),
            SlurmState::Other("WEIRD".into())
        );
        assert!(SlurmState::Pending.is_active());
        assert!(!SlurmState::Timeout.is_active());
    }

    /// Recorded from `squeue --json` / slurmrestd v0.0.38 (Slurm 22.05.8),
    /// trimmed.
    const V38: &str = r#"{"meta":{"plugin":{"type":"openapi\/v0.0.38"}},"errors":[],"jobs":[
      {"job_id":1,"name":"aifb-x","job_state":"FAILED","state_reason":"NonZeroExitCode","nodes":"vm","batch_host":"vm","exit_code":1024,"derived_exit_code":0},
      {"job_id":2,"name":"aifb-rest","job_state":"RUNNING","state_reason":"None","nodes":"vm","exit_code":0},
      {"job_id":3,"name":"aifb-p","job_state":"PENDING","state_reason":"Resources","nodes":"","batch_host":"","exit_code":0},
      {"job_id":4,"name":"aifb-c","job_state":"CANCELLED","state_reason":"None","nodes":"vm","exit_code":15}
    ]}"#;

    /// Hand-written after the v0.0.40..v0.0.43 schemas.
    const V43: &str = r#"{"meta":{"plugin":{"type":"openapi/slurmctld","data_parser":"data_parser/v0.0.43"}},"errors":[],"warnings":[],"jobs":[
      {"job_id":101,"name":"aifb-svc","job_state":["RUNNING"],"state_reason":"None","nodes":"gpu-0042","exit_code":{"status":["SUCCESS"],"return_code":{"set":true,"infinite":false,"number":0},"signal":{"id":{"set":false,"infinite":false,"number":0},"name":""}}},
      {"job_id":102,"name":"aifb-t","job_state":["TIMEOUT"],"state_reason":"TimeLimit","nodes":"gpu-0042","exit_code":{"status":["SIGNALED"],"return_code":{"set":true,"infinite":false,"number":0},"signal":{"id":{"set":true,"infinite":false,"number":15},"name":"TERM"}}},
      {"job_id":103,"name":"aifb-q","job_state":["PENDING"],"state_reason":"Priority","nodes":"","exit_code":{"status":["PENDING"],"return_code":{"set":false,"infinite":false,"number":0}}},
      {"job_id":104,"name":"aifb-d","job_state":["COMPLETED","COMPLETING"],"state_reason":"None","nodes":"gpu-0042","exit_code":{"status":["SUCCESS"],"return_code":{"set":true,"infinite":false,"number":0}}},
      {"job_id":105,"name":"aifb-f","job_state":["FAILED"],"state_reason":"NonZeroExitCode","nodes":"gpu-0042","exit_code":{"status":["ERROR"],"return_code":{"set":true,"infinite":false,"number":3}}},
      {"job_id":106,"name":"aifb-o","job_state":["OUT_OF_MEMORY"],"state_reason":"OutOfMemory","nodes":"gpu-0042","exit_code":{"return_code":{"set":true,"infinite":false,"number":137}}},
      {"job_id":107,"name":"aifb-n","job_state":["NODE_FAIL"],"state_reason":"NodeDown","nodes":"gpu-0042"},
      {"job_id":108,"name":"aifb-pr","job_state":["PREEMPTED"],"state_reason":"None","nodes":"gpu-0042"}
    ]}"#;

    #[test]
    fn parses_v0_0_38() {
        let jobs = parse_jobs(&serde_json::from_str(V38).expect("json")).expect("parses");
        assert_eq!(jobs.len(), 4);
        assert_eq!(jobs[0].state, SlurmState::Failed);
        assert_eq!(jobs[0].exit_code, Some(4));
        assert_eq!(jobs[0].node.as_deref(), Some("vm"));
        assert_eq!(jobs[1].reason, None);
        assert_eq!(jobs[2].reason.as_deref(), Some("Resources"));
        assert_eq!(jobs[2].node, None);
        assert_eq!(jobs[3].signal, Some(15));
        assert_eq!(
            run_state(&jobs[0]),
            RunState::Exited {
                code: Some(4),
                reason: Some("slurm FAILED (job 1 on vm, NonZeroExitCode)".into())
            }
        );
        assert_eq!(run_state(&jobs[1]), RunState::Running);
        assert_eq!(
            run_state(&jobs[2]),
            RunState::Queued("slurm job 3 PENDING (Resources)".into())
        );
    }

    #[test]
    fn parses_v0_0_43() {
        let jobs = parse_jobs(&serde_json::from_str(V43).expect("json")).expect("parses");
        let by = |id: &str| jobs.iter().find(|j| j.job_id == id).expect("job").clone();
        assert_eq!(run_state(&by("101")), RunState::Running);
        assert_eq!(
            run_state(&by("102")),
            RunState::Exited {
                code: None,
                reason: Some("slurm TIMEOUT (job 102 on gpu-0042, signal 15, TimeLimit)".into())
            }
        );
        assert_eq!(
            run_state(&by("103")),
            RunState::Queued("slurm job 103 PENDING (Priority)".into())
        );
        assert_eq!(
            run_state(&by("104")),
            RunState::Exited {
                code: Some(0),
                reason: None
            }
        );
        assert_eq!(by("105").exit_code, Some(3));
        assert_eq!(
            run_state(&by("105")),
            RunState::Exited {
                code: Some(3),
                reason: Some("slurm FAILED (job 105 on gpu-0042, NonZeroExitCode)".into())
            }
        );
        assert!(
            matches!(run_state(&by("106")), RunState::Exited { code: Some(137), reason: Some(r) } if r.starts_with("slurm OUT_OF_MEMORY"))
        );
        assert!(
            matches!(run_state(&by("107")), RunState::Exited { code: None, reason: Some(r) } if r.starts_with("slurm NODE_FAIL"))
        );
        assert!(
            matches!(run_state(&by("108")), RunState::Exited { code: None, reason: Some(r) } if r.starts_with("slurm PREEMPTED"))
        );
    }

    /// Recorded from slurmrestd 24.11.5 (Debian trixie, `GET
    /// /slurm/v0.0.42/jobs`) after recipes/slurm-local.yaml; trimmed to the
    /// fields read and a shorter summary.
    const V42_RECORDED: &str = r#"{"meta":{"plugin":{"type":"openapi/slurmctld","name":"Slurm OpenAPI slurmctld","data_parser":"data_parser/v0.0.42","accounting_storage":""}},"errors":[],"jobs":[
      {"job_id":1,"name":"aifb-slurm-local-20261204t033723z-sim","job_state":["CANCELLED"],"state_reason":"None","nodes":"vm","batch_host":"vm","exit_code":{"status":["SUCCESS"],"return_code":{"set":true,"infinite":false,"number":0},"signal":{"id":{"set":false,"infinite":false,"number":0},"name":""}},"comment":"aifbench:{\"port\":42775}"},
      {"job_id":2,"name":"aifb-slurm-local-20261204t033723z-chat-1","job_state":["COMPLETED"],"state_reason":"None","nodes":"vm","batch_host":"vm","exit_code":{"status":["SUCCESS"],"return_code":{"set":true,"infinite":false,"number":0},"signal":{"id":{"set":false,"infinite":false,"number":0},"name":""}},"comment":"aifbench:{\"summary\":{\"requests\":28,\"errors\":0,\"durationSeconds\":5.195,\"requestThroughput\":5.39}}"}
    ]}"#;

    #[test]
    fn parses_recorded_v0_0_42() {
        let jobs = parse_jobs(&serde_json::from_str(V42_RECORDED).expect("json")).expect("parses");
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].state, SlurmState::Cancelled);
        assert_eq!((jobs[0].exit_code, jobs[0].signal), (Some(0), None));
        assert_eq!(
            JobReport::parse(jobs[0].comment.as_deref().expect("comment")).and_then(|r| r.port),
            Some(42775)
        );
        assert_eq!(
            run_state(&jobs[0]),
            RunState::Exited {
                code: None,
                reason: Some("slurm CANCELLED (job 1 on vm)".into())
            }
        );
        assert_eq!(
            run_state(&jobs[1]),
            RunState::Exited {
                code: Some(0),
                reason: None
            }
        );
        let report =
            JobReport::parse(jobs[1].comment.as_deref().expect("comment")).expect("report");
        assert_eq!(report.summary.expect("summary")["requests"], 28);
    }

    #[test]
    fn submit_answers() {
        let v38 = json!({"errors": [], "job_id": 7, "step_id": "BATCH"});
        assert_eq!(submitted_job_id(&v38).as_deref(), Some("7"));
        assert_eq!(rest_errors(&v38), None);
        let v41 = json!({"result": {"job_id": 8}, "job_id": 8, "errors": [], "warnings": []});
        assert_eq!(submitted_job_id(&v41).as_deref(), Some("8"));
        let err38 =
            json!({"errors": [{"error_code": 2000, "error": "Invalid partition name specified"}]});
        assert_eq!(
            rest_errors(&err38).as_deref(),
            Some("Invalid partition name specified")
        );
        let err43 = json!({"errors": [{"description": "Batch job submission failed", "error_number": 2000, "error": "Invalid partition name specified", "source": "slurm_submit_batch_job()"}]});
        assert_eq!(
            rest_errors(&err43).as_deref(),
            Some("Invalid partition name specified")
        );
        assert!(parse_jobs(&json!({"nope": 1})).is_err());
    }
}
