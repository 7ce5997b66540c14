//! Components as child processes of the driver.
//!
//! Each child runs in its own process group, so stopping it reaches every
//! process it started (shells, workers). Stop = SIGTERM to the group, then
//! SIGKILL after the grace period. stdout and stderr are streamed, line by
//! line, into `logs/<id>.jsonl` as `{"ts", "stream", "line"}` objects;
//! the last lines of stderr are kept (bounded, secrets redacted: see
//! [`super::stderr_tail`]), and a child that exits non-zero without being
//! asked to stop has them after the reason of its exit, so its failure
//! says why.
//!
//! With a supervisor (the `aifbench` binary, set once by `aifbench run`
//! through [`supervise_by_default`]), each command runs under `aifbench
//! supervise` (see [`super::supervise`]): the supervisor leads the group
//! and the pid recorded is its own, so "the component's group" keeps its
//! meaning, and the component dies with the driver. The program is looked
//! up before the supervisor starts, so a missing one is still a launch
//! error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::{Notify, mpsc};

use futures::future::BoxFuture;

use super::apptainer::wrapped_argv;
use super::stderr_tail::{Redactor, StderrTail, with_tail};
use super::supervise::supervised_argv;
use super::{Backend, BackendError, LaunchRequest, LineHook, Seen};
use crate::api::status::ClientProgress;
use crate::engine::{Placement, RunState};

#[derive(Default)]
struct Shared {
    run: RunState,
    progress: Option<ClientProgress>,
    /// The last lines of stderr.
    stderr: StderrTail,
    /// The backend was asked to stop it (its exit is no failure to explain).
    stopping: bool,
}

impl Shared {
    /// The state the engine sees: a non-zero exit nobody asked for has the
    /// stderr tail after its reason.
    fn seen_run(&self) -> RunState {
        match &self.run {
            RunState::Exited { code, reason } if !self.stopping && *code != Some(0) => {
                RunState::Exited {
                    code: *code,
                    reason: with_tail(reason.clone(), self.stderr.text()),
                }
            }
            other => other.clone(),
        }
    }
}

struct Child {
    pid: u32,
    shared: Arc<Mutex<Shared>>,
    exited: Arc<Notify>,
}

/// The supervisor new backends use (the `aifbench` binary).
static DEFAULT_SUPERVISOR: OnceLock<PathBuf> = OnceLock::new();

/// Makes every process backend created from now on run its commands under
/// `<exe> supervise` (the first call wins). `aifbench run` calls it with
/// its own binary; without it (library users, unit tests) commands run
/// directly, as children of the driver only.
pub fn supervise_by_default(exe: PathBuf) {
    let _ = DEFAULT_SUPERVISOR.set(exe);
}

/// Runs components as local child processes.
#[derive(Default)]
pub struct ProcessBackend {
    children: Mutex<HashMap<String, Child>>,
    /// Wrap every command in `apptainer exec` (`executor: apptainer`).
    apptainer: bool,
    /// Run every command under `<exe> supervise`.
    supervisor: Option<PathBuf>,
}

impl ProcessBackend {
    /// A backend with no children (supervised when
    /// [`supervise_by_default`] was called).
    pub fn new() -> Self {
        Self {
            supervisor: DEFAULT_SUPERVISOR.get().cloned(),
            ..Self::default()
        }
    }

    /// A backend that runs each command inside `apptainer exec` with the
    /// component's `apptainer` settings.
    pub fn apptainer() -> Self {
        Self {
            apptainer: true,
            ..Self::new()
        }
    }

    /// The same backend with commands run under `exe supervise` (Some) or
    /// directly (None).
    pub fn with_supervisor(mut self, exe: Option<PathBuf>) -> Self {
        self.supervisor = exe;
        self
    }

    /// Process ids of every child still running (for tests and last-resort
    /// cleanup).
    pub fn running_pids(&self) -> Vec<u32> {
        let children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        children
            .values()
            .filter(|c| {
                c.shared.lock().unwrap_or_else(PoisonError::into_inner).run == RunState::Running
            })
            .map(|c| c.pid)
            .collect()
    }

    /// Stops every running child (SIGTERM, SIGKILL after `grace`) and waits
    /// until all have exited.
    pub async fn stop_all(&self, grace: Duration) {
        let ids: Vec<String> = {
            let children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
            children.keys().cloned().collect()
        };
        let waits = ids.iter().map(|id| self.stop_and_wait(id, grace));
        futures::future::join_all(waits).await;
    }

    async fn stop_and_wait(&self, id: &str, grace: Duration) {
        let Some((pid, shared, exited)) = self.lookup(id) else {
            return;
        };
        terminate(pid, shared, exited, grace).await;
    }

    fn lookup(&self, id: &str) -> Option<(u32, Arc<Mutex<Shared>>, Arc<Notify>)> {
        let children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        children
            .get(id)
            .map(|c| (c.pid, c.shared.clone(), c.exited.clone()))
    }
}

fn is_running(shared: &Mutex<Shared>) -> bool {
    shared.lock().unwrap_or_else(PoisonError::into_inner).run == RunState::Running
}

/// SIGTERM the group, wait up to `grace`, then SIGKILL and wait for exit.
async fn terminate(pid: u32, shared: Arc<Mutex<Shared>>, exited: Arc<Notify>, grace: Duration) {
    if !is_running(&shared) {
        return;
    }
    shared
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .stopping = true;
    let notified = exited.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    signal_group(pid, Signal::SIGTERM);
    if !is_running(&shared) {
        return;
    }
    if tokio::time::timeout(grace, notified.as_mut())
        .await
        .is_err()
    {
        tracing::warn!(
            pid,
            grace_s = grace.as_secs_f64(),
            "still running after the grace period; sending SIGKILL"
        );
        signal_group(pid, Signal::SIGKILL);
        // SIGKILL cannot be ignored; the exit watcher will see it shortly.
        let _ = tokio::time::timeout(Duration::from_secs(5), notified).await;
    }
}

fn signal_group(pid: u32, sig: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    if let Err(e) = killpg(Pid::from_raw(raw), sig) {
        // ESRCH: the group is already gone, which is what we wanted.
        if e != nix::errno::Errno::ESRCH {
            tracing::warn!(pid, signal = %sig, error = %e, "cannot signal process group");
        }
    }
}

#[derive(Serialize)]
struct LogLine<'a> {
    ts: String,
    stream: &'a str,
    line: &'a str,
}

async fn pump<R: AsyncRead + Unpin>(
    reader: R,
    stream: &'static str,
    tx: mpsc::UnboundedSender<String>,
    hook: Option<LineHook>,
    shared: Arc<Mutex<Shared>>,
    tail: Option<Redactor>,
) {
    let mut lines = BufReader::new(reader).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                if let Some(hook) = &hook
                    && let Some(p) = hook(&line)
                {
                    shared
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .progress = Some(p);
                }
                if let Some(redactor) = &tail {
                    shared
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .stderr
                        .push(&line, redactor);
                }
                let entry = LogLine {
                    ts: jiff::Timestamp::now().to_string(),
                    stream,
                    line: &line,
                };
                if let Ok(json) = serde_json::to_string(&entry) {
                    let _ = tx.send(json);
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(stream, error = %e, "output stream ended with an error");
                break;
            }
        }
    }
}

async fn write_log(path: &Path, mut rx: mpsc::UnboundedReceiver<String>) {
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await;
    let mut file = match file {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot open component log; output is dropped");
            while rx.recv().await.is_some() {}
            return;
        }
    };
    while let Some(mut line) = rx.recv().await {
        line.push('\n');
        if let Err(e) = file.write_all(line.as_bytes()).await {
            tracing::error!(path = %path.display(), error = %e, "cannot write component log");
        }
        // Flush promptly: nothing is lost if the driver dies.
        if rx.is_empty() {
            let _ = file.flush().await;
        }
    }
    let _ = file.flush().await;
}

impl ProcessBackend {
    /// Starts a child in its own process group, its output streamed into
    /// `req.log_path`.
    pub async fn launch(&self, req: LaunchRequest) -> Result<Placement, BackendError> {
        let argv = if self.apptainer {
            wrapped_argv(&req.argv, req.apptainer.as_ref())
        } else {
            req.argv.clone()
        };
        let program = argv.first().ok_or(BackendError::EmptyCommand)?;
        let argv = match &self.supervisor {
            Some(exe) => {
                find_program(program, &req).map_err(|source| BackendError::Spawn {
                    program: program.clone(),
                    source,
                })?;
                supervised_argv(exe, req.stop_grace, &argv)
            }
            None => argv,
        };
        let (program, args) = argv.split_first().ok_or(BackendError::EmptyCommand)?;
        for (path, content) in &req.files {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| BackendError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            std::fs::write(path, content).map_err(|source| BackendError::Io {
                path: path.clone(),
                source,
            })?;
        }
        if let Some(dir) = req.log_path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| BackendError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::create_dir_all(&req.working_dir).map_err(|source| BackendError::Io {
            path: req.working_dir.clone(),
            source,
        })?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(&req.env)
            .current_dir(&req.working_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd.spawn().map_err(|source| BackendError::Spawn {
            program: program.clone(),
            source,
        })?;
        let pid = child.id().unwrap_or_default();
        let shared = Arc::new(Mutex::new(Shared {
            run: RunState::Running,
            ..Shared::default()
        }));
        let exited = Arc::new(Notify::new());
        let (tx, rx) = mpsc::unbounded_channel();
        let mut pumps = Vec::new();
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(
                out,
                "stdout",
                tx.clone(),
                req.progress_hook.clone(),
                shared.clone(),
                None,
            )));
        }
        if let Some(err) = child.stderr.take() {
            let redactor = Redactor::for_component(&req.env);
            pumps.push(tokio::spawn(pump(
                err,
                "stderr",
                tx,
                None,
                shared.clone(),
                Some(redactor),
            )));
        }
        let log_path = req.log_path.clone();
        tokio::spawn(write_log_owned(log_path, rx));
        {
            let shared = shared.clone();
            let exited = exited.clone();
            let id = req.id.clone();
            tokio::spawn(async move {
                let status = child.wait().await;
                // Let the output drain so the log is complete before anyone
                // reads the exit.
                for p in pumps {
                    let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
                }
                let run = match status {
                    Ok(s) => {
                        use std::os::unix::process::ExitStatusExt;
                        let reason = s.signal().map(|sig| {
                            Signal::try_from(sig)
                                .map(|s| format!("killed by {s}"))
                                .unwrap_or_else(|_| format!("killed by signal {sig}"))
                        });
                        let code = s.code().or_else(|| s.signal().map(|sig| 128 + sig));
                        tracing::info!(component = %id, pid, code, "process exited");
                        RunState::Exited { code, reason }
                    }
                    Err(e) => RunState::Exited {
                        code: None,
                        reason: Some(format!("cannot wait for the process: {e}")),
                    },
                };
                shared.lock().unwrap_or_else(PoisonError::into_inner).run = run;
                exited.notify_waiters();
            });
        }
        tracing::info!(component = %req.id, pid, program = %program, "process started");
        self.children
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                req.id.clone(),
                Child {
                    pid,
                    shared,
                    exited,
                },
            );
        Ok(Placement {
            pid: Some(pid),
            node: crate::results::hostname(),
            endpoint: req.endpoint,
            ..Default::default()
        })
    }

    /// A child's state as the OS reported it and its last progress (what
    /// the engine sees, with the stderr tail of a failure: [`Self::seen`]).
    pub fn observe(&self, id: &str) -> (RunState, Option<ClientProgress>) {
        let children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        match children.get(id) {
            Some(c) => {
                let s = c.shared.lock().unwrap_or_else(PoisonError::into_inner);
                (s.run.clone(), s.progress.clone())
            }
            None => (RunState::Unknown, None),
        }
    }

    /// What the engine is told of a child: its state (a non-zero exit it
    /// was not asked for with the last lines of its stderr after the
    /// reason) and its last progress.
    pub fn seen(&self, id: &str) -> Seen {
        let children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        match children.get(id) {
            Some(c) => {
                let s = c.shared.lock().unwrap_or_else(PoisonError::into_inner);
                Seen {
                    run: s.seen_run(),
                    progress: s.progress.clone(),
                    ..Seen::default()
                }
            }
            None => Seen::default(),
        }
    }

    /// SIGTERM to the child's group, SIGKILL after `grace`; returns at once.
    pub fn stop(&self, id: &str, grace: Duration) {
        if let Some((pid, shared, exited)) = self.lookup(id) {
            tokio::spawn(terminate(pid, shared, exited, grace));
        }
    }

    /// Ids of the children still running.
    fn running_ids(&self) -> Vec<String> {
        let children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        children
            .iter()
            .filter(|(_, c)| is_running(&c.shared))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    fn reaches_endpoints(&self) -> bool {
        true
    }

    fn launch(&self, req: LaunchRequest) -> BoxFuture<'_, Result<Placement, BackendError>> {
        Box::pin(ProcessBackend::launch(self, req))
    }

    fn observe<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Seen> {
        let seen = self.seen(id);
        Box::pin(async move { seen })
    }

    fn stop<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFuture<'a, ()> {
        ProcessBackend::stop(self, id, grace);
        Box::pin(async {})
    }

    fn cleanup(&self) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(async move {
            let left = self.running_ids();
            self.stop_all(Duration::ZERO).await;
            Ok(left)
        })
    }
}

/// Finds `program` as `execvp` would (a path, or a name on the PATH the
/// command gets): the supervisor would only find out after the launch.
fn find_program(program: &str, req: &LaunchRequest) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let candidates: Vec<PathBuf> = if program.contains('/') {
        let p = PathBuf::from(program);
        if p.is_absolute() {
            vec![p]
        } else {
            vec![req.working_dir.join(&p), p]
        }
    } else {
        let path = req
            .env
            .get("PATH")
            .cloned()
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_default();
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(program))
            .collect()
    };
    candidates
        .into_iter()
        .find(|p| executable(p))
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such executable file (or not on the PATH)",
            )
        })
}

async fn write_log_owned(path: std::path::PathBuf, rx: mpsc::UnboundedReceiver<String>) {
    write_log(&path, rx).await;
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
