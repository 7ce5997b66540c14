//! The open loop's intended send times: constant spacing, Poisson arrivals
//! or gamma-distributed gaps from a seeded generator, stretched by a linear
//! ramp-up; or the given offsets of a replayed trace.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use rand_distr::{Distribution as _, Gamma};

use crate::api::workload::Arrival;

/// Maps an offset `s` on the full-rate time line to wall time when the rate
/// ramps up linearly from 0 over `ramp` seconds: the expected number of
/// arrivals by wall time `t` is `rate * t^2 / (2 ramp)` during the ramp and
/// `rate * (t - ramp/2)` after it.
pub fn ramp_warp(s: f64, ramp: f64) -> f64 {
    if ramp <= 0.0 {
        s
    } else if s < ramp / 2.0 {
        (2.0 * ramp * s).sqrt()
    } else {
        s + ramp / 2.0
    }
}

/// Intended send times of an open loop, as offsets from its start: the first
/// request at 0, then gaps of `1/rate` (constant), exponentially distributed
/// with mean `1/rate` (Poisson), or gamma-distributed with mean `1/rate` and
/// shape `burstiness` (gamma); stretched by the ramp-up. Deterministic for a
/// given seed. A trace schedule ([`ArrivalSchedule::trace`]) yields its
/// offsets as given and then ends.
#[derive(Clone, Debug)]
pub struct ArrivalSchedule {
    trace: Option<Arc<[Duration]>>,
    rate: f64,
    arrival: Arrival,
    gamma: Option<Gamma<f64>>,
    ramp_s: f64,
    rng: SmallRng,
    index: u64,
    offset_s: f64,
}

impl ArrivalSchedule {
    /// A schedule of `rate` requests per second (must be positive).
    pub fn new(rate: f64, arrival: Arrival, seed: u64) -> Self {
        Self::with_shape(rate, arrival, 1.0, Duration::ZERO, seed)
    }

    /// A schedule with a gamma shape (`burstiness`) and a ramp-up.
    pub fn with_shape(
        rate: f64,
        arrival: Arrival,
        burstiness: f64,
        ramp_up: Duration,
        seed: u64,
    ) -> Self {
        let gamma = match arrival {
            Arrival::Gamma => Gamma::new(burstiness, 1.0 / (rate * burstiness)).ok(),
            _ => None,
        };
        Self {
            trace: None,
            rate,
            arrival,
            gamma,
            ramp_s: ramp_up.as_secs_f64(),
            rng: SmallRng::seed_from_u64(seed),
            index: 0,
            offset_s: 0.0,
        }
    }
}

impl ArrivalSchedule {
    /// The send offsets of a replayed trace (non-decreasing, from the start
    /// of the run), one request each; the schedule ends after the last.
    pub fn trace(offsets: Arc<[Duration]>) -> Self {
        Self {
            trace: Some(offsets),
            ..Self::new(1.0, Arrival::Constant, 0)
        }
    }
}

impl Iterator for ArrivalSchedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if let Some(offsets) = &self.trace {
            let at = usize::try_from(self.index)
                .ok()
                .and_then(|i| offsets.get(i).copied());
            self.index += 1;
            return at;
        }
        let offset = match self.arrival {
            // Computed from the index, so rounding errors do not accumulate.
            Arrival::Constant => self.index as f64 / self.rate,
            Arrival::Poisson | Arrival::Gamma => {
                if self.index > 0 {
                    self.offset_s += match &self.gamma {
                        Some(g) => g.sample(&mut self.rng),
                        None => {
                            let u: f64 = self.rng.random(); // [0, 1)
                            -(1.0 - u).ln() / self.rate
                        }
                    };
                }
                self.offset_s
            }
        };
        self.index += 1;
        Duration::try_from_secs_f64(ramp_warp(offset, self.ramp_s)).ok()
    }
}
