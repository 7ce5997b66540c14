//! A job's final state from Slurm's accounting (slurmdbd), for when the
//! controller has forgotten it (`MinJobAge` after its end), pure: the
//! `sacct` command line and its `--parsable2` lines, and the job document of
//! slurmrestd's slurmdb endpoint (`/slurmdb/<version>/job/<id>`: `state`
//! `{current, reason}` with `current` a string in v0.0.38 and a list in
//! v0.0.40+, `comment` `{job, administrator, system}`).

use serde_json::Value;

use super::state::{JobInfo, SlurmState, exit_code, number, state_of};

/// The fields asked of `sacct`, in this order; `Comment` last, so a `|` in
/// it cannot shift the others.
pub const SACCT_FIELDS: &str = "JobID,JobName,State,ExitCode,NodeList,Reason,Comment";

/// `sacct` for one job's allocation (`-X`: no step lines), one line per
/// record, no header.
pub fn sacct_argv(job_id: &str) -> Vec<String> {
    [
        "sacct",
        "-X",
        "-j",
        job_id,
        "--parsable2",
        "--noheader",
        "-o",
        SACCT_FIELDS,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `3:0` → (Some(3), None); `0:15` → (Some(0), Some(15)).
fn sacct_exit_code(s: &str) -> (Option<i32>, Option<i32>) {
    let mut parts = s.trim().splitn(2, ':');
    let code = parts.next().and_then(|c| c.parse().ok());
    let signal = parts
        .next()
        .and_then(|c| c.parse().ok())
        .filter(|s| *s != 0);
    (code, signal)
}

fn field(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s != "None" && s != "None assigned" && s != "(null)").then(|| s.to_string())
}

/// The record of `job_id` in `sacct --parsable2 --noheader -o`
/// [`SACCT_FIELDS`] output (a requeued job has several records: the last
/// one is the newest). None when accounting has none (yet).
pub fn parse_sacct(out: &str, job_id: &str) -> Option<JobInfo> {
    out.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.splitn(7, '|').collect();
            if f.len() < 6 || f[0].trim() != job_id {
                return None;
            }
            let (exit_code, signal) = sacct_exit_code(f[3]);
            Some(JobInfo {
                job_id: job_id.to_string(),
                name: f[1].trim().to_string(),
                state: SlurmState::parse(f[2]),
                reason: field(f[5]),
                node: field(f[4]),
                exit_code,
                signal,
                comment: f.get(6).and_then(|c| field(c)),
            })
        })
        .next_back()
}

/// The job `job_id` of a slurmdb job document (`{"jobs": [...]}`); None
/// when accounting does not know it (slurmrestd answers "Nothing found"
/// with an empty list).
pub fn parse_slurmdb_job(doc: &Value, job_id: &str) -> Option<JobInfo> {
    let j = doc.get("jobs")?.as_array()?.iter().rfind(|j| {
        j.get("job_id").and_then(number).map(|n| n.to_string()) == Some(job_id.into())
    })?;
    let state = j.get("state");
    let (exit_code, signal) = exit_code(j.get("exit_code"));
    let text = |v: Option<&Value>| v.and_then(Value::as_str).and_then(field);
    Some(JobInfo {
        job_id: job_id.to_string(),
        name: text(j.get("name")).unwrap_or_default(),
        state: state_of(state.and_then(|s| s.get("current"))),
        reason: text(state.and_then(|s| s.get("reason"))),
        node: text(j.get("nodes")),
        exit_code,
        signal,
        comment: text(j.get("comment").and_then(|c| c.get("job"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::slurm::state::run_state;
    use crate::engine::RunState;

    #[test]
    fn sacct_asks_for_the_allocation_only() {
        assert_eq!(
            sacct_argv("42").join(" "),
            "sacct -X -j 42 --parsable2 --noheader -o JobID,JobName,State,ExitCode,NodeList,Reason,Comment"
        );
    }

    /// Recorded from sacct of Slurm 22.05.8 with slurmdbd.
    #[test]
    fn sacct_lines_parse() {
        let out = "1003|aifb-r-x|FAILED|3:0|vm|None|\n\
                   1004|aifb-r-c|COMPLETED|0:0|vm|None|aifbench:{\"summary\":{\"a|b\":1}}\n\
                   1005|aifb-r-t|CANCELLED by 0|0:15|vm|None|\n\
                   1006|aifb-r-p|PENDING|0:0|None assigned|Resources|\n";
        let failed = parse_sacct(out, "1003").expect("1003");
        assert_eq!(failed.state, SlurmState::Failed);
        assert_eq!((failed.exit_code, failed.signal), (Some(3), None));
        assert_eq!(failed.node.as_deref(), Some("vm"));
        assert_eq!(failed.reason, None);
        assert_eq!(
            run_state(&failed),
            RunState::Exited {
                code: Some(3),
                reason: Some("slurm FAILED (job 1003 on vm)".into())
            }
        );
        let done = parse_sacct(out, "1004").expect("1004");
        assert_eq!(
            done.comment.as_deref(),
            Some("aifbench:{\"summary\":{\"a|b\":1}}")
        );
        assert_eq!(
            run_state(&done),
            RunState::Exited {
                code: Some(0),
                reason: None
            }
        );
        let cancelled = parse_sacct(out, "1005").expect("1005");
        assert_eq!(cancelled.state, SlurmState::Cancelled);
        assert_eq!(cancelled.signal, Some(15));
        let pending = parse_sacct(out, "1006").expect("1006");
        assert_eq!(pending.node, None);
        assert_eq!(pending.reason.as_deref(), Some("Resources"));
        assert_eq!(parse_sacct(out, "100"), None);
        assert_eq!(parse_sacct("", "1003"), None);
        // A requeued job: the newest record wins.
        let requeued = "7|j|NODE_FAIL|0:0|vm|None|\n7|j|COMPLETED|0:0|vm|None|\n";
        assert_eq!(
            parse_sacct(requeued, "7").map(|j| j.state),
            Some(SlurmState::Completed)
        );
    }

    /// Recorded from slurmrestd 22.05.8 (`openapi/dbv0.0.38`), trimmed.
    const DB38: &str = r#"{"meta":{"plugin":{"type":"openapi\/dbv0.0.38"}},"errors":[],"jobs":[
      {"account":"root","comment":{"administrator":null,"job":"aifbench:{\"port\":8000}","system":null},"cluster":"aifb",
       "exit_code":{"status":"SUCCESS","return_code":0},"job_id":1004,"name":"aifb-r-sim","nodes":"vm",
       "state":{"current":"COMPLETED","reason":"None"},"steps":[]}
    ]}"#;

    /// Hand-written after the v0.0.40..v0.0.42 slurmdb schemas.
    const DB41: &str = r#"{"meta":{"plugin":{"type":"openapi/slurmdbd","data_parser":"data_parser/v0.0.41"}},"errors":[],"warnings":[],"jobs":[
      {"job_id":2001,"name":"aifb-r-chat-1","nodes":"node-7","comment":{"administrator":"","job":"","system":""},
       "state":{"current":["FAILED"],"reason":"NonZeroExitCode"},
       "exit_code":{"status":["ERROR"],"return_code":{"set":true,"infinite":false,"number":2},"signal":{"id":{"set":false,"infinite":false,"number":0},"name":""}}},
      {"job_id":2002,"name":"aifb-r-sim","nodes":"node-7",
       "state":{"current":["TIMEOUT"],"reason":"None"},
       "exit_code":{"status":["SIGNALED"],"return_code":{"set":true,"infinite":false,"number":0},"signal":{"id":{"set":true,"infinite":false,"number":15},"name":"TERM"}}}
    ]}"#;

    #[test]
    fn slurmdb_documents_parse() {
        let v38: Value = serde_json::from_str(DB38).expect("json");
        let j = parse_slurmdb_job(&v38, "1004").expect("1004");
        assert_eq!(j.state, SlurmState::Completed);
        assert_eq!(j.exit_code, Some(0));
        assert_eq!(j.comment.as_deref(), Some("aifbench:{\"port\":8000}"));
        assert_eq!(j.name, "aifb-r-sim");
        assert_eq!(parse_slurmdb_job(&v38, "1"), None);

        let v41: Value = serde_json::from_str(DB41).expect("json");
        let failed = parse_slurmdb_job(&v41, "2001").expect("2001");
        assert_eq!(failed.state, SlurmState::Failed);
        assert_eq!((failed.exit_code, failed.signal), (Some(2), None));
        assert_eq!(failed.comment, None);
        assert_eq!(
            run_state(&failed),
            RunState::Exited {
                code: Some(2),
                reason: Some("slurm FAILED (job 2001 on node-7, NonZeroExitCode)".into())
            }
        );
        let timeout = parse_slurmdb_job(&v41, "2002").expect("2002");
        assert_eq!(timeout.state, SlurmState::Timeout);
        assert_eq!(timeout.signal, Some(15));

        let nothing: Value = serde_json::json!({"errors": [{"error": "Nothing found with query", "error_number": 9003}], "jobs": []});
        assert_eq!(parse_slurmdb_job(&nothing, "5"), None);
    }
}
