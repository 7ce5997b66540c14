//! `aifbench supervise`: the tiny parent the process backend puts between
//! the driver and each local component, so a component dies with its
//! driver — also when the driver is SIGKILLed and cannot clean up.
//!
//! The process backend starts `<aifbench> supervise --grace <s> --driver
//! <pid> -- <argv...>` as the leader of a new process group. The supervisor
//! asks the kernel for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`),
//! checks that the driver is still its parent (it may already be gone),
//! and starts the real command as its child in the same group, stdio
//! inherited (the backend's log capture reads the same pipes). Then:
//!
//! - the command exits: the supervisor exits the same way — the same code,
//!   or killed by the same signal (128+signal where the signal cannot be
//!   reproduced), so the backend reports what it reported before;
//! - the driver is gone (the death signal, or a changed parent noticed by
//!   polling): SIGTERM to the whole group, SIGKILL after the grace period,
//!   and the supervisor exits once nothing else of the group is left;
//! - SIGTERM/SIGINT: sent by the driver they came to the whole group (the
//!   backend only signals groups), so the command has them already;
//!   sent by anyone else to the supervisor alone, they are forwarded.
//!
//! No `unsafe`: the signals are blocked and read from a signalfd (which
//! says who sent them) instead of being caught by handlers. A blocked mask
//! is inherited through exec, so the command is started through the same
//! binary once more (`supervise --exec`), which unblocks them and replaces
//! itself with the command (same pid).

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal, kill, killpg, raise};
use nix::sys::signalfd::SignalFd;
use nix::unistd::{Pid, getpgrp, getpid, getppid};

use super::procfs;

/// Arguments of the hidden `aifbench supervise` command.
#[derive(clap::Args, Debug, Clone)]
pub struct SuperviseArgs {
    /// Seconds between SIGTERM and SIGKILL when the driver is gone.
    #[arg(long, default_value_t = 10.0)]
    pub grace: f64,
    /// The driver's process id: when it is no longer the parent, the
    /// component is stopped.
    #[arg(long)]
    pub driver: i32,
    /// Internal: unblock SIGTERM/SIGINT and exec the command (how the
    /// supervisor starts it with a clean signal mask).
    #[arg(long, hide = true)]
    pub exec: bool,
    /// The component's command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// The arguments that run `argv` under the supervisor `exe` for the
/// current process as driver.
pub fn supervised_argv(exe: &std::path::Path, grace: Duration, argv: &[String]) -> Vec<String> {
    let mut out = vec![
        exe.display().to_string(),
        "supervise".to_string(),
        "--grace".to_string(),
        format!("{}", grace.as_secs_f64()),
        "--driver".to_string(),
        std::process::id().to_string(),
        "--".to_string(),
    ];
    out.extend(argv.iter().cloned());
    out
}

enum Event {
    Signal { signo: i32, from: i32 },
    Exited(std::io::Result<ExitStatus>),
}

/// How often the parent is checked, besides the death signal.
const POLL: Duration = Duration::from_millis(200);

/// Runs the supervisor to its exit code (unless it ends killed by the
/// command's signal). Must run before any other thread exists: the blocked
/// signals are inherited by the threads it starts.
pub fn supervise(args: &SuperviseArgs) -> i32 {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    if args.exec {
        return exec_unblocked(&mask, &args.command);
    }
    let driver = Pid::from_raw(args.driver);
    let grace = Duration::try_from_secs_f64(args.grace).unwrap_or(Duration::ZERO);
    if let Err(e) = mask.thread_block() {
        note(&format!("cannot block SIGTERM/SIGINT: {e}"));
    }
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM) {
        note(&format!("cannot ask for the parent-death signal: {e}"));
    }
    if getppid() != driver {
        note("the driver is gone; not starting the component");
        return 1;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            note(&format!("cannot find the aifbench executable: {e}"));
            return 127;
        }
    };
    // stdio inherited; `--exec` clears the inherited signal mask.
    let mut child = match Command::new(exe)
        .args(["supervise", "--exec", "--driver"])
        .arg(args.driver.to_string())
        .arg("--")
        .args(&args.command)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            note(&format!("cannot start the command: {e}"));
            return 127;
        }
    };
    let child_pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
    let (tx, rx) = mpsc::channel();
    match SignalFd::new(&mask) {
        Ok(fd) => {
            let tx = tx.clone();
            std::thread::spawn(move || {
                while let Ok(info) = fd.read_signal() {
                    let Some(info) = info else { continue };
                    let event = Event::Signal {
                        signo: i32::try_from(info.ssi_signo).unwrap_or(0),
                        from: i32::try_from(info.ssi_pid).unwrap_or(0),
                    };
                    if tx.send(event).is_err() {
                        break;
                    }
                }
            });
        }
        Err(e) => note(&format!(
            "cannot read signals (polling the driver only): {e}"
        )),
    }
    std::thread::spawn(move || {
        let _ = tx.send(Event::Exited(child.wait()));
    });
    run_loop(&rx, driver, child_pid, grace)
}

/// `supervise --exec`: unblocks the signals the supervisor blocked and
/// becomes the command; returns only when it cannot be started.
fn exec_unblocked(mask: &SigSet, command: &[String]) -> i32 {
    use std::os::unix::process::CommandExt;
    if let Err(e) = mask.thread_unblock() {
        note(&format!("cannot unblock SIGTERM/SIGINT: {e}"));
    }
    let Some((program, rest)) = command.split_first() else {
        note("no command to run");
        return 2;
    };
    let e = Command::new(program).args(rest).exec();
    note(&format!("cannot start {program:?}: {e}"));
    127
}

fn run_loop(rx: &mpsc::Receiver<Event>, driver: Pid, child: Pid, grace: Duration) -> i32 {
    let me = getpid();
    let group = getpgrp();
    let mut kill_at: Option<Instant> = None;
    let mut exited: Option<ExitStatus> = None;
    loop {
        if kill_at.is_none() && getppid() != driver {
            note(&format!(
                "the driver (pid {driver}) is gone: stopping the component (SIGTERM, SIGKILL after {}s)",
                grace.as_secs_f64()
            ));
            signal_group(group, Signal::SIGTERM);
            kill_at = Some(Instant::now() + grace);
        }
        if let Some(status) = exited {
            let others = kill_at.is_some()
                && procfs::group_members(group.as_raw())
                    .iter()
                    .any(|p| *p != me.as_raw());
            if !others {
                return exit_like(status);
            }
        }
        if kill_at.is_some_and(|at| Instant::now() >= at) {
            // Ends the supervisor too.
            signal_group(group, Signal::SIGKILL);
        }
        let wait = if kill_at.is_some() {
            Duration::from_millis(50)
        } else {
            POLL
        };
        match rx.recv_timeout(wait) {
            Ok(Event::Exited(Ok(status))) => exited = Some(status),
            Ok(Event::Exited(Err(e))) => {
                note(&format!("cannot wait for the command: {e}"));
                return 1;
            }
            Ok(Event::Signal { signo, from }) => {
                let by_group = from == driver.as_raw() || from == me.as_raw();
                if exited.is_none()
                    && !by_group
                    && getppid() == driver
                    && let Ok(sig) = Signal::try_from(signo)
                {
                    let _ = kill(child, sig);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return 1,
        }
    }
}

fn signal_group(group: Pid, sig: Signal) {
    if let Err(e) = killpg(group, sig)
        && e != nix::errno::Errno::ESRCH
    {
        note(&format!("cannot send {sig} to the group: {e}"));
    }
}

/// Exits the way the command did: its code, or killed by its signal.
fn exit_like(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    let Some(signo) = status.signal() else {
        return 1;
    };
    if let Ok(sig) = Signal::try_from(signo) {
        let mut only = SigSet::empty();
        only.add(sig);
        let _ = only.thread_unblock();
        // Default action: the supervisor ends killed by the same signal.
        // Twice: the Rust runtime's SIGSEGV/SIGBUS handler restores the
        // default on the first one and returns. Still here: the signal is
        // ignored (SIGPIPE) and the code says it.
        for _ in 0..2 {
            let _ = raise(sig);
        }
    }
    128 + signo
}

/// One line on stderr (the component's log while the driver lives); a
/// write to a pipe nobody reads any more is dropped.
fn note(msg: &str) {
    let _ = writeln!(std::io::stderr(), "aifbench supervise: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_the_command_after_a_double_dash() {
        let argv = supervised_argv(
            std::path::Path::new("/bin/aifbench"),
            Duration::from_millis(2500),
            &["sh".to_string(), "-c".to_string(), "exit 3".to_string()],
        );
        let pid = std::process::id().to_string();
        assert_eq!(
            argv,
            [
                "/bin/aifbench",
                "supervise",
                "--grace",
                "2.5",
                "--driver",
                &pid,
                "--",
                "sh",
                "-c",
                "exit 3"
            ]
        );
    }
}
