//! Signals the commands react to: SIGINT/SIGTERM cancel (the first one
//! gracefully, any further one at once), and SIGHUP — the terminal or SSH
//! session went away — which `aifbench run` survives.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Cancels `cancel` on the first SIGINT or SIGTERM and `force` on every
/// later one.
pub fn spawn_signal_handler(cancel: CancellationToken, force: CancellationToken) {
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        let mut count = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            count += 1;
            if count == 1 {
                cancel.cancel();
            } else {
                force.cancel();
            }
        }
    });
}

/// From now on a SIGHUP no longer ends the process (its default action):
/// it is logged once and otherwise ignored, so the run goes on writing its
/// results folder and status.yaml, and still stops every child at its end.
///
/// Call it from within the runtime; the handler is in place when this
/// returns, so no hang-up after it can kill the process.
pub fn survive_hangup() {
    match signal(SignalKind::hangup()) {
        Ok(hup) => {
            tokio::spawn(log_hangups(hup));
        }
        Err(e) => tracing::warn!(error = %e, "cannot handle SIGHUP: a hang-up will end this run"),
    }
}

async fn log_hangups(mut hup: Signal) {
    let mut count: u64 = 0;
    while hup.recv().await.is_some() {
        count += 1;
        if count == 1 {
            tracing::warn!(
                signal = "SIGHUP",
                "the terminal went away; the run continues: follow it in the results folder (status.yaml, logs/)"
            );
        } else {
            tracing::debug!(signal = "SIGHUP", count, "hang-up ignored");
        }
    }
}
