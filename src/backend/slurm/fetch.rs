//! The channel for a job's files when the cluster does not share the
//! driver's results folder (`SlurmConfig::remote_dir`): the run folder is
//! prepared before a job is submitted, and what a job left there is brought
//! back into the results folder once it ends — the one place where the
//! Slurm backend moves files.
//!
//! Which transport brings back what:
//! - `ssh`: every file of the job's [`FetchPlan`] (a client's result,
//!   summary and request log; a monitor's files; the job's `.out`/`.err`),
//!   read through the SSH session;
//! - `cli`: the same files, copied on this machine;
//! - `rest`: slurmrestd cannot read files: only a client's summary comes
//!   back, from its job's comment, into its summary file; the full result
//!   stays on the cluster (`results.s3` is the full path there).

use std::path::{Path, PathBuf};

use super::remote::{FetchPlan, RunFolder, collect_script, parse_collected};
use super::render::JobRequest;
use super::state::JobReport;
use super::{MAX_FETCHES, SlurmBackend, SlurmError, Transport};

impl SlurmBackend {
    /// Remembers what to bring back of a component's job once it ends.
    pub(super) fn set_fetch_plan(&self, id: &str, plan: FetchPlan) {
        if let Some(t) = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(id)
        {
            t.fetch = Some(plan);
        }
    }

    /// Brings back what a component's ended job left in the run folder,
    /// once (a failure is tried again on the next observation, up to
    /// [`MAX_FETCHES`] times). `summary`: what the job posted in its
    /// comment.
    pub(super) async fn bring_back(&self, id: &str, summary: Option<&serde_json::Value>) {
        let (Some(folder), Some(transport)) = (&self.folder, &self.transport) else {
            return;
        };
        let (plan, job_id) = {
            let mut jobs = self
                .jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(t) = jobs.get_mut(id) else { return };
            let Some(plan) = t.fetch.clone() else { return };
            if t.fetches >= MAX_FETCHES {
                return;
            }
            t.fetches += 1;
            (plan, t.job_id.clone())
        };
        match collect(transport, folder, &plan, &job_id, summary).await {
            Ok(files) => {
                tracing::info!(component = %id, job_id = %job_id, files = files.len(), transport = self.transport_name(), "brought the job's files back into the results folder");
                self.done_fetching(id);
            }
            Err(e) => {
                tracing::warn!(component = %id, job_id = %job_id, error = %e, run_folder = %folder.remote.display(), "cannot bring the job's files back");
            }
        }
    }

    fn done_fetching(&self, id: &str) {
        if let Some(t) = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(id)
        {
            t.fetches = MAX_FETCHES;
        }
    }

    /// At cleanup: brings back what no observation of an ended job did
    /// (jobs cancelled at the end, failed attempts), with the summaries
    /// their comments hold.
    pub(super) async fn bring_back_the_rest(&self) {
        if self.folder.is_none() {
            return;
        }
        let pending: Vec<String> = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, t)| t.fetch.is_some() && t.fetches < MAX_FETCHES)
            .map(|(id, _)| id.clone())
            .collect();
        for id in pending {
            let summary = self
                .info(&id)
                .await
                .and_then(|j| j.comment)
                .and_then(|c| JobReport::parse(&c))
                .and_then(|r| r.summary);
            self.bring_back(&id, summary.as_ref()).await;
            self.done_fetching(&id);
        }
    }
}

/// Creates the job's folders on the cluster before it is submitted (its
/// `.out`/`.err` folder must exist when it starts). slurmrestd cannot:
/// there the logs go to the configured folder itself and the job creates
/// the rest; a client is warned about that its full result stays there.
pub async fn prepare(
    transport: &Transport,
    folder: &RunFolder,
    job: &JobRequest,
) -> Result<(), SlurmError> {
    match transport {
        Transport::Cli(c) => {
            let mut argv = vec!["mkdir".to_string(), "-p".to_string()];
            argv.push(folder.log_dir.display().to_string());
            argv.extend(job.make_dirs.iter().map(|d| d.display().to_string()));
            c.run_command(&argv).await.map(|_| ())
        }
        Transport::Rest(_) => {
            if job.summary_file.is_some() {
                tracing::warn!(
                    component = %job.component,
                    run_folder = %folder.remote.display(),
                    "slurmrestd cannot read files: only this client's summary comes back (from its job's comment); its full result stays in the run folder on the cluster (set results.s3 to get it)"
                );
            }
            Ok(())
        }
    }
}

/// Brings back what the job `job_id` of `plan` left in the run folder;
/// returns the files written into the results folder. `summary` is what
/// the job posted in its comment (written where files cannot be read).
pub async fn collect(
    transport: &Transport,
    folder: &RunFolder,
    plan: &FetchPlan,
    job_id: &str,
    summary: Option<&serde_json::Value>,
) -> Result<Vec<PathBuf>, SlurmError> {
    let files = match transport {
        Transport::Cli(c) => {
            let out = c
                .run_script(&collect_script(&folder.remote, plan, job_id))
                .await?;
            parse_collected(&out).map_err(|e| SlurmError::Parse(e.to_string()))?
        }
        Transport::Rest(_) => match (&plan.summary, summary) {
            (Some(rel), Some(s)) => vec![(rel.clone(), s.to_string().into_bytes())],
            _ => Vec::new(),
        },
    };
    let mut written = Vec::new();
    for (rel, bytes) in files {
        let path = folder.local.join(&rel);
        write(&path, &bytes).await?;
        written.push(path);
    }
    Ok(written)
}

/// Writes through a temporary file and a rename, so the driver never reads
/// a half-written result.
async fn write(path: &Path, bytes: &[u8]) -> Result<(), SlurmError> {
    let io = |e: std::io::Error| SlurmError::Command {
        command: format!("write {}", path.display()),
        message: e.to_string(),
    };
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".fetch.tmp");
    tokio::fs::write(&tmp, bytes).await.map_err(io)?;
    tokio::fs::rename(&tmp, path).await.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::slurm::TransportConfig;

    #[tokio::test]
    async fn the_cli_copies_a_jobs_files_into_the_results_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = dir.path().join("results/bm-1");
        let folder = RunFolder::new(&local, &dir.path().join("cluster"), "bm-1", false);
        let job = JobRequest {
            component: "c-1".into(),
            argv: vec![
                "loadgen".into(),
                local.join("clients/c-1.json").display().to_string(),
            ],
            ..Default::default()
        };
        let transport = Transport::new(&TransportConfig::Cli).expect("cli");
        let remote_job = folder.job(job.clone());
        prepare(&transport, &folder, &remote_job)
            .await
            .expect("prepared");
        assert!(folder.log_dir.is_dir());
        assert!(folder.remote.join("clients").is_dir());
        std::fs::write(folder.remote.join("clients/c-1.json"), "{}").expect("w");
        std::fs::write(folder.log_dir.join("c-1-9.out"), "out").expect("w");
        let plan = folder.plan(&job, &local.join("slurm_logs"));
        let got = collect(&transport, &folder, &plan, "9", None)
            .await
            .expect("collected");
        assert_eq!(
            got,
            [
                local.join("slurm_logs/c-1-9.out"),
                local.join("clients/c-1.json")
            ]
        );
        assert_eq!(
            std::fs::read_to_string(local.join("clients/c-1.json")).expect("r"),
            "{}"
        );
    }

    #[tokio::test]
    async fn slurmrestd_brings_back_only_the_summary_of_the_comment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = dir.path().join("results/bm-1");
        let folder = RunFolder::new(&local, Path::new("/cluster/scratch"), "bm-1", true);
        let summary_file = local.join("clients/c-1.summary.json");
        let job = JobRequest {
            component: "c-1".into(),
            argv: vec![
                "loadgen".into(),
                local.join("clients/c-1.json").display().to_string(),
                summary_file.display().to_string(),
            ],
            summary_file: Some(summary_file.clone()),
            ..Default::default()
        };
        let transport = Transport::new(&TransportConfig::Rest(
            crate::backend::slurm::rest::RestConfig {
                url: Some("http://127.0.0.1:9".into()),
                ..Default::default()
            },
        ))
        .expect("rest");
        // Nothing to create (and nothing reachable): the job creates its
        // folders, its logs go to the configured folder itself.
        prepare(&transport, &folder, &folder.job(job.clone()))
            .await
            .expect("prepared");
        assert_eq!(folder.log_dir, Path::new("/cluster/scratch"));
        let plan = folder.plan(&job, &local.join("slurm_logs"));
        let none = collect(&transport, &folder, &plan, "9", None)
            .await
            .expect("nothing to write");
        assert!(none.is_empty());
        let summary = serde_json::json!({"requests": 7});
        let got = collect(&transport, &folder, &plan, "9", Some(&summary))
            .await
            .expect("summary written");
        assert_eq!(got, std::slice::from_ref(&summary_file));
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary_file).expect("r")).expect("j");
        assert_eq!(back, summary);
        assert!(!local.join("clients/c-1.json").exists());
    }
}
