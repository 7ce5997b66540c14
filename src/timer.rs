//! Sub-millisecond sleeps: the simulator's token deadlines and the load
//! generator's open-loop send times.
//!
//! tokio's timer wheel has a 1 ms grid: a `sleep_until` fires up to 1 ms
//! late (about 0.5–1 ms on average), which would make the simulator's own
//! TTFT and ITL wrong by that much, and would send open-loop requests up to
//! 1 ms after their intended time (the client's lag). So the last 2 ms of each wait go to one
//! dedicated thread that keeps the pending deadlines in a heap and sleeps
//! with the operating system's high-resolution timer (tens of microseconds
//! late), then wakes the waiting task. Longer waits still use tokio's wheel
//! for everything before those last 2 ms, so the thread only ever holds
//! deadlines that are about to fire.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// Waits shorter than this are left entirely to the precise thread.
const PRECISE_SPAN: Duration = Duration::from_millis(2);

struct Entry {
    at: std::time::Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The timer thread's inbox; `None` when the thread could not be started.
fn inbox() -> Option<&'static mpsc::Sender<Entry>> {
    static INBOX: OnceLock<Option<mpsc::Sender<Entry>>> = OnceLock::new();
    INBOX
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            match std::thread::Builder::new()
                .name("aifb-timer".into())
                .spawn(move || run(&rx))
            {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::warn!(error = %e, "no precise timer thread; timed events may be up to 1 ms late");
                    None
                }
            }
        })
        .as_ref()
}

/// The timer thread: fires due deadlines, sleeps until the next one or a new
/// arrival.
fn run(rx: &mpsc::Receiver<Entry>) {
    let mut heap: BinaryHeap<Reverse<Entry>> = BinaryHeap::new();
    loop {
        let now = std::time::Instant::now();
        while heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
            if let Some(Reverse(e)) = heap.pop() {
                // The waiter may have gone (request dropped): nothing to do.
                let _ = e.wake.send(());
            }
        }
        let next = match heap.peek() {
            Some(Reverse(e)) => rx.recv_timeout(e.at.saturating_duration_since(now)),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(e) => heap.push(Reverse(e)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Sleeps until `deadline`, late by tens of microseconds rather than up to a
/// millisecond.
///
/// Not for tokio's paused test clock: the last 2 ms are waited in real time.
pub async fn sleep_until(deadline: Instant) {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = Instant::now();
    if deadline <= now {
        return;
    }
    if let Some(coarse) = deadline.checked_sub(PRECISE_SPAN)
        && coarse > now
    {
        tokio::time::sleep_until(coarse).await;
    }
    let Some(inbox) = inbox() else {
        tokio::time::sleep_until(deadline).await;
        return;
    };
    let (wake, woken) = oneshot::channel();
    let entry = Entry {
        at: deadline.into_std(),
        seq: SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        wake,
    };
    if inbox.send(entry).is_err() || woken.await.is_err() {
        tokio::time::sleep_until(deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wakes_on_time_and_in_order() {
        let start = Instant::now();
        let mut lateness = Vec::new();
        for ms in [0u64, 1, 3, 7, 12] {
            let at = start + Duration::from_millis(20 + ms);
            sleep_until(at).await;
            let now = Instant::now();
            assert!(now >= at, "woke early");
            lateness.push(now - at);
        }
        // Never early; typically tens of microseconds late. The bound is
        // loose for a busy CI machine but below tokio's 1 ms grid on average.
        let mean = lateness.iter().sum::<Duration>() / lateness.len() as u32;
        assert!(mean < Duration::from_millis(5), "{lateness:?}");
        // Deadlines in the past return at once.
        let t = Instant::now();
        sleep_until(t - Duration::from_millis(5)).await;
        assert!(t.elapsed() < Duration::from_millis(5));
    }
}
