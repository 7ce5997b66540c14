//! When each simulated token is due: pure arithmetic over offsets from the
//! moment a request was admitted, so timing can be tested without sleeping.
//!
//! Token `i` (0-based) is due at `ttft' + itl'_1 + … + itl'_i`, where each
//! primed value is the configured one scaled by a uniform factor in
//! `[1 - jitter, 1 + jitter]`. The caller sleeps until `start + offset`, an
//! absolute deadline, so scheduling overhead never accumulates as drift.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Scales `base` by `1 + jitter * u`, where `u` lies in `[-1, 1]`; never negative.
pub(crate) fn jittered(base: Duration, jitter: f64, u: f64) -> Duration {
    let factor = 1.0 + jitter * u.clamp(-1.0, 1.0);
    if factor <= 0.0 {
        return Duration::ZERO;
    }
    let nanos = (base.as_nanos() as f64 * factor).round();
    if nanos >= u64::MAX as f64 {
        Duration::from_nanos(u64::MAX)
    } else {
        Duration::from_nanos(nanos as u64)
    }
}

/// The offsets, from admission, at which the tokens of one request are due.
#[derive(Debug)]
pub(crate) struct Schedule {
    ttft: Duration,
    itl: Duration,
    jitter: f64,
    rng: SmallRng,
    /// Offset of the last token handed out, `None` before the first.
    last: Option<Duration>,
    remaining: u32,
}

impl Schedule {
    /// A schedule for `tokens` tokens; `seed` makes the jitter reproducible.
    pub(crate) fn new(ttft: Duration, itl: Duration, jitter: f64, tokens: u32, seed: u64) -> Self {
        Self {
            ttft,
            itl,
            jitter,
            rng: SmallRng::seed_from_u64(seed),
            last: None,
            remaining: tokens,
        }
    }

    fn draw(&mut self, base: Duration) -> Duration {
        if self.jitter == 0.0 {
            return base;
        }
        let u: f64 = self.rng.random_range(-1.0..=1.0);
        jittered(base, self.jitter, u)
    }

    /// The offset of the next token, or `None` once all are handed out.
    pub(crate) fn next_offset(&mut self) -> Option<Duration> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let offset = match self.last {
            None => self.draw(self.ttft),
            Some(prev) => {
                let gap = self.draw(self.itl);
                prev.saturating_add(gap)
            }
        };
        self.last = Some(offset);
        Some(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(ttft_ms: u64, itl_ms: u64, jitter: f64, n: u32, seed: u64) -> Vec<Duration> {
        let mut s = Schedule::new(
            Duration::from_millis(ttft_ms),
            Duration::from_millis(itl_ms),
            jitter,
            n,
            seed,
        );
        std::iter::from_fn(|| s.next_offset()).collect()
    }

    #[test]
    fn without_jitter_offsets_are_exact() {
        let got = offsets(50, 10, 0.0, 4, 1);
        let want: Vec<Duration> = [50, 60, 70, 80].map(Duration::from_millis).to_vec();
        assert_eq!(got, want);
    }

    #[test]
    fn yields_exactly_n_offsets() {
        assert_eq!(offsets(1, 1, 0.0, 0, 0).len(), 0);
        assert_eq!(offsets(1, 1, 0.3, 17, 0).len(), 17);
    }

    #[test]
    fn jitter_stays_in_bounds_and_is_monotonic() {
        let got = offsets(100, 20, 0.25, 200, 7);
        let first = got[0].as_secs_f64();
        assert!((0.075..=0.125).contains(&first), "ttft {first}");
        for pair in got.windows(2) {
            let gap = (pair[1] - pair[0]).as_secs_f64();
            assert!((0.015 - 1e-9..=0.025 + 1e-9).contains(&gap), "gap {gap}");
        }
        // Not every gap may be the nominal one.
        assert!(
            got.windows(2)
                .any(|p| p[1] - p[0] != Duration::from_millis(20))
        );
    }

    #[test]
    fn same_seed_same_schedule() {
        assert_eq!(offsets(10, 5, 0.5, 50, 42), offsets(10, 5, 0.5, 50, 42));
        assert_ne!(offsets(10, 5, 0.5, 50, 42), offsets(10, 5, 0.5, 50, 43));
    }

    #[test]
    fn jittered_scales_and_clamps() {
        let base = Duration::from_millis(100);
        assert_eq!(jittered(base, 0.5, 1.0), Duration::from_millis(150));
        assert_eq!(jittered(base, 0.5, -1.0), Duration::from_millis(50));
        assert_eq!(jittered(base, 1.0, -1.0), Duration::ZERO);
        assert_eq!(jittered(base, 0.5, 5.0), Duration::from_millis(150));
    }
}
