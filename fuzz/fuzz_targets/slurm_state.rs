//! The Slurm job-state parser: state names, the job report in a job's
//! comment, and job JSON (squeue --json, slurmrestd, sacct).
#![no_main]

use aifbench::backend::slurm::state::{
    JobReport, SlurmState, parse_job, parse_jobs, rest_errors, run_state, submitted_job_id,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let state = SlurmState::parse(&text);
    let _ = (state.as_str().to_string(), state.is_active());
    let _ = JobReport::parse(&text);
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = rest_errors(&doc);
    let _ = submitted_job_id(&doc);
    if let Ok(jobs) = parse_jobs(&doc) {
        for j in &jobs {
            let _ = run_state(j);
        }
    }
    if let Ok(j) = parse_job(&doc) {
        let _ = run_state(&j);
    }
});
