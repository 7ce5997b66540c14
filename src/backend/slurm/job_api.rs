//! The one job API of the Slurm backend ([`JobApi`]): list the jobs, read
//! a forgotten job's final state from accounting, submit
//! a rendered [`JobRequest`], cancel, send SIGTERM, close — object-safe, so
//! [`super::SlurmBackend`] runs over any of them: a [`Transport`] of its
//! own (`aifbench run`: the local CLI, the CLI over SSH, slurmrestd) or the
//! operator's session of one reconcile (an adapter in
//! `operator::slurm_backend`). And the one reading of its listing for
//! both drivers: the newest job of a name ([`find_job`]) and what a job
//! says of its component ([`job_seen`]), pure.

use futures::future::BoxFuture;

use super::SlurmError;
use super::TransportConfig;
use super::cli::{CliTransport, Runner};
use super::render::{JobRequest, render_script};
use super::rest::RestTransport;
use super::state::{JobInfo, JobReport, run_state};
use crate::backend::{Seen, progress_of_summary};

/// What the Slurm backend asks of Slurm. Errors carry no secrets.
pub trait JobApi: Send + Sync {
    /// How Slurm is reached (`cli`, `ssh`, `rest`, `session`), for logs.
    fn name(&self) -> &'static str;
    /// Jobs the controller knows (the user's, for the CLI).
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobInfo>, SlurmError>>;
    /// A job's final state from accounting (`sacct`, slurmrestd's slurmdb
    /// endpoint) for a job the controller no longer lists; None when there
    /// is no record (or no accounting: the default).
    fn accounted<'a>(
        &'a self,
        _job_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<JobInfo>, SlurmError>> {
        Box::pin(async { Ok(None) })
    }
    /// Renders and submits a job; returns its id.
    fn submit<'a>(&'a self, req: &'a JobRequest) -> BoxFuture<'a, Result<String, SlurmError>>;
    /// Cancels jobs.
    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>>;
    /// Sends SIGTERM to every process of the jobs, the batch script
    /// included, without cancelling them (a cancelled job can no longer
    /// update its comment; a client still posts its summary this way).
    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>>;
    /// Releases what the API holds (the SSH master); a borrowed session is
    /// closed by its owner instead.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// One interface over the three transports.
#[derive(Debug)]
pub enum Transport {
    /// CLI, locally or over SSH.
    Cli(CliTransport),
    /// slurmrestd.
    Rest(RestTransport),
}

impl Transport {
    /// Builds the transport for `config`.
    pub fn new(config: &TransportConfig) -> Result<Self, SlurmError> {
        Ok(match config {
            TransportConfig::Cli => Self::Cli(CliTransport {
                runner: Runner::Local,
            }),
            TransportConfig::Ssh(c) => Self::Cli(CliTransport {
                runner: Runner::Ssh(c.clone()),
            }),
            TransportConfig::Rest(c) => Self::Rest(RestTransport::new(c.clone())?),
        })
    }

    /// Submits; returns the job id.
    pub async fn submit(&self, req: &JobRequest) -> Result<String, SlurmError> {
        let script = render_script(req)?;
        match self {
            Self::Cli(c) => c.submit(&script).await,
            Self::Rest(r) => r.submit(req, &script).await,
        }
    }

    /// Jobs the controller knows (the user's, for the CLI).
    pub async fn jobs(&self) -> Result<Vec<JobInfo>, SlurmError> {
        match self {
            Self::Cli(c) => c.jobs().await,
            Self::Rest(r) => r.jobs().await,
        }
    }

    /// A job's final state from accounting.
    pub async fn accounted(&self, job_id: &str) -> Result<Option<JobInfo>, SlurmError> {
        match self {
            Self::Cli(c) => c.accounted(job_id).await,
            Self::Rest(r) => r.accounted(job_id).await,
        }
    }

    /// Cancels jobs.
    pub async fn cancel(&self, ids: &[String]) -> Result<(), SlurmError> {
        match self {
            Self::Cli(c) => c.cancel(ids).await,
            Self::Rest(r) => r.cancel(ids).await,
        }
    }

    /// Sends SIGTERM to every process of the jobs without cancelling them.
    pub async fn terminate(&self, ids: &[String]) -> Result<(), SlurmError> {
        match self {
            Self::Cli(c) => c.terminate(ids).await,
            Self::Rest(r) => r.terminate(ids).await,
        }
    }

    /// Releases connections (the SSH master).
    pub async fn close(&self) {
        if let Self::Cli(c) = self {
            c.close().await;
        }
    }
}

impl JobApi for Transport {
    fn name(&self) -> &'static str {
        match self {
            Self::Cli(CliTransport {
                runner: Runner::Local,
            }) => "cli",
            Self::Cli(_) => "ssh",
            Self::Rest(_) => "rest",
        }
    }
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobInfo>, SlurmError>> {
        Box::pin(Transport::jobs(self))
    }
    fn accounted<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<JobInfo>, SlurmError>> {
        Box::pin(Transport::accounted(self, job_id))
    }
    fn submit<'a>(&'a self, req: &'a JobRequest) -> BoxFuture<'a, Result<String, SlurmError>> {
        Box::pin(Transport::submit(self, req))
    }
    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>> {
        Box::pin(Transport::cancel(self, ids))
    }
    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>> {
        Box::pin(Transport::terminate(self, ids))
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(Transport::close(self))
    }
}

/// The newest job of a name (a name is a component of one run: the
/// adoption key of both drivers).
pub fn find_job<'a>(jobs: &'a [JobInfo], name: &str) -> Option<&'a JobInfo> {
    jobs.iter()
        .filter(|j| j.name == name)
        .max_by_key(|j| j.job_id.parse::<u64>().unwrap_or(0))
}

/// What a listed job says of its component — its state, node, and the
/// port, readiness and summary of its comment (client progress from that
/// summary) — the one reading of a job for both drivers. `checks_inside`:
/// the job runs its own health check (in-allocation), so the readiness it
/// reports counts; otherwise `ready` is None (the driver checks).
pub fn job_seen(j: &JobInfo, checks_inside: bool) -> Seen {
    let report = j.comment.as_deref().and_then(JobReport::parse);
    let summary = report.as_ref().and_then(|r| r.summary.clone());
    let progress = summary.as_ref().and_then(progress_of_summary);
    Seen {
        run: run_state(j),
        progress,
        node: j
            .node
            .as_deref()
            .map(|n| n.split(',').next().unwrap_or(n).to_string()),
        port: report.as_ref().and_then(|r| r.port),
        ready: report.as_ref().map(|r| r.ready).filter(|_| checks_inside),
        summary,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::backend::Backend;
    use crate::backend::slurm::state::SlurmState;
    use crate::backend::slurm::{SlurmBackend, SlurmConfig, job_name};
    use crate::engine::RunState;

    /// A job API listing fixed jobs and recording what it is asked.
    #[derive(Default)]
    struct Fake {
        jobs: Vec<JobInfo>,
        /// What accounting says of any job asked for.
        accounted: Option<JobInfo>,
        asked: Mutex<Vec<String>>,
    }

    impl Fake {
        fn ask(&self, what: String) {
            self.asked.lock().unwrap().push(what);
        }
    }

    impl JobApi for Fake {
        fn name(&self) -> &'static str {
            "fake"
        }
        fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobInfo>, SlurmError>> {
            self.ask("jobs".into());
            Box::pin(async { Ok(self.jobs.clone()) })
        }
        fn accounted<'a>(
            &'a self,
            job_id: &'a str,
        ) -> BoxFuture<'a, Result<Option<JobInfo>, SlurmError>> {
            self.ask(format!("sacct {job_id}"));
            Box::pin(async { Ok(self.accounted.clone()) })
        }
        fn submit<'a>(&'a self, req: &'a JobRequest) -> BoxFuture<'a, Result<String, SlurmError>> {
            self.ask(format!("submit {}", req.name));
            Box::pin(async { Ok("99".to_string()) })
        }
        fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>> {
            self.ask(format!("cancel {}", ids.join(",")));
            Box::pin(async { Ok(()) })
        }
        fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), SlurmError>> {
            self.ask(format!("term {}", ids.join(",")));
            Box::pin(async { Ok(()) })
        }
        fn close(&self) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    fn job(id: &str, component: &str, state: SlurmState, comment: Option<&str>) -> JobInfo {
        JobInfo {
            job_id: id.into(),
            name: job_name("r1", component),
            state,
            reason: None,
            node: Some("n1".into()),
            exit_code: None,
            signal: None,
            comment: comment.map(str::to_string),
        }
    }

    fn backend(api: Arc<Fake>) -> SlurmBackend {
        let config = SlurmConfig {
            in_allocation: true,
            poll_interval: Duration::from_secs(60),
            ..Default::default()
        };
        SlurmBackend::over(api, config, "r1", PathBuf::from("/nowhere"))
            .with_sigterm_on_stop(["chat-1".to_string()])
    }

    #[tokio::test]
    async fn a_backend_without_memory_observes_and_stops_jobs_by_name() {
        let api = Arc::new(Fake {
            jobs: vec![
                job(
                    "5",
                    "sim",
                    SlurmState::Running,
                    Some(r#"aifbench:{"port":8000,"ready":true}"#),
                ),
                job("6", "chat-1", SlurmState::Running, None),
                job("7", "chat-2", SlurmState::Pending, None),
                job("8", "other", SlurmState::Running, None),
            ],
            ..Default::default()
        });
        let b = backend(api.clone());
        let sim = b.observe("sim").await;
        assert_eq!(sim.run, RunState::Running);
        assert_eq!((sim.port, sim.ready), (Some(8000), Some(true)));
        assert_eq!(b.observe("gone").await.run, RunState::Unknown);
        // A running client gets SIGTERM; a queued one and a service are
        // cancelled.
        for id in ["chat-1", "chat-2", "sim", "gone"] {
            b.stop(id, Duration::from_secs(1)).await;
        }
        assert_eq!(
            api.asked.lock().unwrap().as_slice(),
            [
                "jobs", "term 6", "jobs", "cancel 7", "jobs", "cancel 5", "jobs"
            ],
            "each stop lists afresh after the one before"
        );
    }

    #[tokio::test]
    async fn a_listing_handed_in_is_used_for_adoption() {
        let api = Arc::new(Fake::default());
        let b = backend(api.clone()).with_listing(vec![job("5", "sim", SlurmState::Running, None)]);
        let req = crate::backend::LaunchRequest {
            id: "sim".into(),
            ..Default::default()
        };
        let placed = b.submit(&b.job_request(&req)).await.expect("adopted");
        assert_eq!(placed.job_id.as_deref(), Some("5"));
        let placed = b
            .submit(&b.job_request(&crate::backend::LaunchRequest {
                id: "chat-1".into(),
                ..Default::default()
            }))
            .await
            .expect("submitted");
        assert_eq!(placed.job_id.as_deref(), Some("99"));
        assert_eq!(
            api.asked.lock().unwrap().as_slice(),
            [format!("submit {}", job_name("r1", "chat-1"))]
        );
    }

    /// Submits `chat-1` (job 99) and makes its submission older than the
    /// grace a fresh job gets before it must be listed.
    async fn submitted_long_ago(b: &SlurmBackend) {
        let req = crate::backend::LaunchRequest {
            id: "chat-1".into(),
            ..Default::default()
        };
        b.submit(&b.job_request(&req)).await.expect("submitted");
        let mut jobs = b.jobs.lock().unwrap();
        let t = jobs.get_mut("chat-1").expect("tracked");
        t.submitted = std::time::Instant::now()
            .checked_sub(Duration::from_secs(60))
            .expect("an instant a minute ago");
    }

    #[tokio::test]
    async fn a_job_the_controller_forgot_ends_as_accounting_recorded_it() {
        let mut done = job(
            "99",
            "chat-1",
            SlurmState::Failed,
            Some(r#"aifbench:{"summary":{"requests":3}}"#),
        );
        done.exit_code = Some(3);
        let api = Arc::new(Fake {
            accounted: Some(done),
            ..Default::default()
        });
        let b = backend(api.clone());
        submitted_long_ago(&b).await;
        let expected = RunState::Exited {
            code: Some(3),
            reason: Some("slurm FAILED (job 99 on n1)".into()),
        };
        assert_eq!(b.run_state("chat-1").await, expected);
        // Kept: asked once; the comment's summary still reaches the driver.
        assert_eq!(b.run_state("chat-1").await, expected);
        let info = b.info("chat-1").await.expect("from accounting");
        assert_eq!(
            info.comment.as_deref(),
            Some(r#"aifbench:{"summary":{"requests":3}}"#)
        );
        let asked = api.asked.lock().unwrap().clone();
        assert_eq!(
            asked
                .iter()
                .filter(|a| a.starts_with("sacct"))
                .collect::<Vec<_>>(),
            ["sacct 99"]
        );
    }

    #[tokio::test]
    async fn a_job_forgotten_without_accounting_is_no_longer_known() {
        let api = Arc::new(Fake::default());
        let b = backend(api.clone());
        submitted_long_ago(&b).await;
        assert_eq!(
            b.run_state("chat-1").await,
            RunState::Exited {
                code: None,
                reason: Some("slurm job 99 is no longer known to the controller".into())
            }
        );
        assert_eq!(b.info("chat-1").await, None);
    }

    fn listed(state: SlurmState, comment: Option<&str>) -> JobInfo {
        JobInfo {
            job_id: "7".into(),
            name: "aifb-x".into(),
            state,
            reason: None,
            node: Some("n1,n2".into()),
            exit_code: None,
            signal: None,
            comment: comment.map(str::to_string),
        }
    }

    #[test]
    fn a_service_job_reports_port_and_readiness_through_its_comment() {
        let s = job_seen(
            &listed(
                SlurmState::Running,
                Some(r#"aifbench:{"port":8000,"ready":true}"#),
            ),
            true,
        );
        assert_eq!(s.run, RunState::Running);
        assert_eq!(s.node.as_deref(), Some("n1"));
        assert_eq!(s.port, Some(8000));
        assert_eq!(s.ready, Some(true));
        // A driver that checks health itself ignores the job's readiness.
        let s = job_seen(
            &listed(
                SlurmState::Running,
                Some(r#"aifbench:{"port":8000,"ready":true}"#),
            ),
            false,
        );
        assert_eq!((s.port, s.ready), (Some(8000), None));
    }

    #[test]
    fn a_client_job_reports_its_summary() {
        let s = job_seen(
            &listed(
                SlurmState::Completed,
                Some(
                    r#"aifbench:{"summary":{"requests":3,"errors":0,"durationSeconds":1.0,"requestThroughput":3.0}}"#,
                ),
            ),
            true,
        );
        assert_eq!(s.progress.map(|p| p.requests), Some(3));
        assert!(s.summary.is_some());
        assert_eq!(
            job_seen(&listed(SlurmState::Pending, None), true).ready,
            None
        );
    }
}
