//! Ending what a gone driver left of a run's local processes, from the
//! run's `run.json` (see [`super::run_file`]): used by `aifbench cancel
//! DIR` and before `aifbench run --resume DIR`.
//!
//! A recorded process group is signalled only while it is still the one
//! the driver started: its leader alive with the recorded start time, or
//! the leader gone while members of its group live on (a pid is not
//! reused while a group of that id exists). Each group gets SIGTERM, then
//! SIGKILL after the run's stop grace period.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::run_file::{Launched, RunFile};
use crate::backend::procfs;
use crate::results::{ResultsDir, ResultsError};

/// Why nothing was reaped.
#[derive(Debug, thiserror::Error)]
pub enum ReapError {
    /// The driver of the run still runs: it is the one to stop its run.
    #[error(
        "the driver of this run (aifbench, pid {0}) is still running: press Ctrl-C in its terminal or `kill -TERM {0}` (it then stops everything itself)"
    )]
    DriverAlive(i32),
    /// `run.json` could not be read.
    #[error("{0}")]
    Results(#[from] ResultsError),
}

/// One process group that was ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// The component.
    pub id: String,
    /// Its process group.
    pub pgid: i32,
    /// The processes that were alive in it.
    pub pids: Vec<i32>,
    /// SIGTERM was not enough: it got SIGKILL.
    pub killed: bool,
}

/// The recorded driver's pid while it still runs: the same process (pid
/// and start time) or, without a recorded start time, a live process
/// named aifbench.
pub fn live_driver(record: &RunFile) -> Option<i32> {
    let d = record.driver.as_ref()?;
    let alive = match d.start_time {
        Some(t) => procfs::is_same_live_process(d.pid, t),
        None => {
            procfs::stat(d.pid).is_some_and(|s| !s.is_zombie())
                && procfs::comm(d.pid).is_some_and(|c| c.contains("aifbench"))
        }
    };
    alive.then_some(d.pid)
}

/// The recorded group of a component while it still holds live processes
/// of this run.
fn live_group(c: &Launched) -> Option<i32> {
    let pgid = c.pgid?;
    let leader = c.process.as_ref().map_or(pgid, |p| p.pid);
    let started = c.process.as_ref().and_then(|p| p.start_time);
    match procfs::stat(leader) {
        // The leader lives: ours only with the recorded start time.
        Some(s) if !s.is_zombie() => {
            let ours = started.is_none_or(|t| t == s.start_time) && s.pgrp == pgid;
            ours.then_some(pgid)
        }
        // The leader is gone: what lives on in its group is ours.
        _ => (!procfs::group_members(pgid).is_empty()).then_some(pgid),
    }
}

/// Ends every live process group of `record` (SIGTERM, SIGKILL after
/// `grace`) and returns what it ended.
pub async fn end_groups(record: &RunFile, grace: Duration) -> Vec<Ended> {
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let mut ended: Vec<Ended> = Vec::new();
    for (id, c) in &record.components {
        let Some(pgid) = live_group(c) else { continue };
        let pids = procfs::group_members(pgid);
        if pids.contains(&me) {
            continue;
        }
        tracing::info!(component = %id, pgid, pids = ?pids, "stopping what the driver left (SIGTERM)");
        signal(pgid, Signal::SIGTERM);
        ended.push(Ended {
            id: id.clone(),
            pgid,
            pids,
            killed: false,
        });
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && ended.iter().any(|e| group_alive(e.pgid)) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for e in &mut ended {
        if group_alive(e.pgid) {
            tracing::warn!(component = %e.id, pgid = e.pgid, "still running after the grace period; sending SIGKILL");
            signal(e.pgid, Signal::SIGKILL);
            e.killed = true;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && ended.iter().any(|e| group_alive(e.pgid)) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ended
}

/// Reads the record of `dir` and ends what its driver left running;
/// refuses while that driver still runs unless `force`. Nothing recorded:
/// nothing to do.
pub async fn reap(dir: &ResultsDir, force: bool) -> Result<Vec<Ended>, ReapError> {
    let Some(record) = RunFile::load(dir)? else {
        return Ok(Vec::new());
    };
    if !force && let Some(pid) = live_driver(&record) {
        return Err(ReapError::DriverAlive(pid));
    }
    Ok(end_groups(&record, record.grace()).await)
}

fn group_alive(pgid: i32) -> bool {
    !procfs::group_members(pgid).is_empty()
}

fn signal(pgid: i32, sig: Signal) {
    if let Err(e) = killpg(Pid::from_raw(pgid), sig)
        && e != nix::errno::Errno::ESRCH
    {
        tracing::warn!(pgid, signal = %sig, error = %e, "cannot signal process group");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Placement;

    #[tokio::test]
    async fn ends_recorded_groups_and_spares_reused_pids() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ResultsDir::open(tmp.path());
        // A component that ignores SIGTERM, in its own group.
        let mut child = tokio::process::Command::new("sh")
            .args(["-c", "trap '' TERM; while true; do sleep 0.1; done"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let mut record = RunFile::for_this_driver(Duration::from_millis(200));
        // The driver is this test: pretend it is gone.
        record.driver = None;
        record.launched(
            "svc",
            "process",
            &Placement {
                pid: Some(pid),
                ..Default::default()
            },
        );
        // A pid that was reused: same pid, another start time.
        let mut reused = record.components["svc"].clone();
        if let Some(p) = reused.process.as_mut() {
            p.start_time = p.start_time.map(|t| t + 1);
        }
        assert_eq!(live_group(&reused), None);
        record.save(&dir).unwrap();

        let ended = reap(&dir, false).await.unwrap();
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(ended[0].id, "svc");
        assert!(ended[0].killed, "{ended:?}");
        let status = child.wait().await.unwrap();
        assert!(!status.success());
        assert!(!group_alive(pid as i32));
        // Nothing left: a second reap ends nothing.
        assert!(reap(&dir, false).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn refuses_while_the_driver_lives() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ResultsDir::open(tmp.path());
        RunFile::for_this_driver(Duration::ZERO).save(&dir).unwrap();
        let me = std::process::id() as i32;
        match reap(&dir, false).await {
            Err(ReapError::DriverAlive(pid)) => assert_eq!(pid, me),
            other => panic!("{other:?}"),
        }
        assert!(reap(&dir, true).await.unwrap().is_empty());
    }
}
