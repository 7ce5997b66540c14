//! The parts of a batch script that run inside the allocation on behalf of
//! a driver that can reach neither the compute nodes nor the cluster's
//! filesystem: the `aifb_report` function that posts JSON into the job's
//! own comment, the ready watcher that probes the service from its node,
//! and the waited-for command whose summary is posted before the job
//! exits.

use std::fmt::Write as _;
use std::path::Path;

use super::ReadyProbe;
use super::quote::{shell_join, shell_quote};

/// Defines `aifb_report JSON`: `scontrol update JobId=$SLURM_JOB_ID
/// Comment=aifbench:JSON`, a warning on stderr when Slurm refuses.
pub(super) fn report_function(b: &mut String) {
    let _ = writeln!(
        b,
        "aifb_report() {{ scontrol update JobId=\"$SLURM_JOB_ID\" Comment=\"aifbench:$1\" >/dev/null 2>&1 || echo \"aifbench: cannot set the comment of job $SLURM_JOB_ID\" >&2; }}"
    );
}

/// Posts the port in `$AIFB_PORT_FILE` (`{"port":N}`).
pub(super) fn port_report(b: &mut String) {
    let _ = writeln!(
        b,
        "aifb_report \"{{\\\"port\\\":$(cat \"$AIFB_PORT_FILE\")}}\""
    );
}

/// A background loop that probes `http://127.0.0.1:$PORT<path>` (curl,
/// else wget) every `interval_s` and creates the ready file once it
/// answers, posting `{"port":N,"ready":true}` too when `report_comment`.
pub(super) fn ready_watcher(b: &mut String, p: &ReadyProbe, report_comment: bool) {
    let url_tail = shell_quote(&p.path);
    let ready = shell_quote(&p.ready_file.display().to_string());
    let report = if report_comment {
        " aifb_report \"{\\\"port\\\":$(cat \"$AIFB_PORT_FILE\"),\\\"ready\\\":true}\";"
    } else {
        ""
    };
    let _ = writeln!(b, "rm -f {ready}");
    let _ = writeln!(
        b,
        "( while :; do u=\"http://127.0.0.1:$(cat \"$AIFB_PORT_FILE\")\"{url_tail}; \
if curl -fsS -o /dev/null --max-time 2 \"$u\" 2>/dev/null || wget -q -O /dev/null -T 2 \"$u\" 2>/dev/null; \
then : > {ready};{report} break; fi; sleep {}; done ) &",
        p.interval_s.max(1)
    );
}

/// Runs `argv` waited for, not exec'ed, so that the summary it leaves in
/// `summary` is posted (`{"summary":...}`) before the job exits with the
/// command's status. scancel's SIGTERM is forwarded (SIGKILL after
/// `stop_grace_s` when that is not 0); the second wait collects the
/// command's own status once it has written its results.
pub(super) fn waited_command(b: &mut String, argv: &[String], summary: &Path, stop_grace_s: u64) {
    let summary = shell_quote(&summary.display().to_string());
    let _ = writeln!(b, "set +e");
    let _ = writeln!(b, "{} &", shell_join(argv));
    let _ = writeln!(b, "aifb_pid=$!");
    let kill_later = if stop_grace_s > 0 {
        format!("; (sleep {stop_grace_s}; kill -KILL \"$aifb_pid\" 2>/dev/null) &")
    } else {
        String::new()
    };
    let _ = writeln!(
        b,
        "trap 'kill -TERM \"$aifb_pid\" 2>/dev/null{kill_later}' TERM INT"
    );
    let _ = writeln!(b, "wait \"$aifb_pid\"; aifb_rc=$?");
    let _ = writeln!(
        b,
        "if kill -0 \"$aifb_pid\" 2>/dev/null; then wait \"$aifb_pid\"; aifb_rc=$?; fi"
    );
    let _ = writeln!(
        b,
        "if [ -s {summary} ]; then aifb_report \"{{\\\"summary\\\":$(cat {summary})}}\"; fi"
    );
    let _ = writeln!(b, "exit \"$aifb_rc\"");
}
