//! The noise rule of `aifbench compare`: 95% confidence intervals of each
//! statistic, and the verdict on a difference. Pure functions.
//!
//! - a percentile: the order-statistic interval — the ranks
//!   `n·q ± z·√(n·q·(1−q))` (the binomial spread of how many values fall
//!   below the true quantile) read back from the sorted per-request values,
//!   or from the histogram (widened to the edges of its buckets);
//! - a mean: `mean ± z·sd/√n`;
//! - inter-token latency: its gaps are not independent (one request's gaps
//!   move together), so its intervals count requests, not gaps (`n_eff`);
//! - a rate (requests per second): Poisson on the count, `(k ± z·√k)/T`;
//! - a proportion (error rate): the Wilson score interval.
//!
//! A difference is beyond noise when the two intervals do not overlap and
//! it is at least the noise threshold (in percent of the baseline): the
//! intervals see only sampling noise inside a run, the threshold stands for
//! the drift between runs that sampling cannot see (machine load, clocks,
//! caches), as criterion's noise threshold does.

use hdrhistogram::Histogram;
use serde::Serialize;

/// z of a two-sided 95% interval.
pub const Z95: f64 = 1.959_964;

/// A closed interval.
#[derive(Serialize, Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

impl Interval {
    /// Whether the two intervals share a point.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.lo <= other.hi && other.lo <= self.hi
    }

    /// `hi - lo`.
    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }
}

/// A statistic of one run: its value, its 95% interval when one can be
/// given, and how many values it stands on.
#[derive(Serialize, Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The value.
    pub value: f64,
    /// The 95% confidence interval.
    pub ci: Option<Interval>,
    /// Values (or events) behind it.
    pub n: u64,
}

/// Whether a difference is beyond noise.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The intervals are apart and the change is at least the threshold.
    Differs,
    /// The intervals overlap, or the change is below the threshold.
    WithinNoise,
    /// No interval for one side (a metric missing, or no data to bound it).
    Unknown,
}

impl Verdict {
    /// The word shown in tables.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Differs => "DIFFERS",
            Verdict::WithinNoise => "within noise",
            Verdict::Unknown => "no interval",
        }
    }
}

/// The values of one distribution, ordered.
#[derive(Clone, Copy, Debug)]
pub enum Sample<'a> {
    /// Per-request values, sorted ascending (any unit).
    Sorted(&'a [f64]),
    /// An HDR histogram; values are scaled by `scale` (1e-3: µs → ms).
    Histogram(&'a Histogram<u64>, f64),
}

impl Sample<'_> {
    /// Number of values.
    pub fn len(&self) -> u64 {
        match self {
            Sample::Sorted(v) => v.len() as u64,
            Sample::Histogram(h, _) => h.len(),
        }
    }

    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of 1-based `rank` as an interval: exact for sorted values,
    /// the bucket's lowest and highest equivalent values for a histogram.
    fn at_rank(&self, rank: u64) -> Option<Interval> {
        match self {
            Sample::Sorted(v) => {
                let i = usize::try_from(rank.checked_sub(1)?).ok()?;
                v.get(i).map(|x| Interval { lo: *x, hi: *x })
            }
            Sample::Histogram(h, scale) => {
                let mut seen = 0u64;
                for it in h.iter_recorded() {
                    seen += it.count_at_value();
                    if seen >= rank {
                        let v = it.value_iterated_to();
                        return Some(Interval {
                            lo: h.lowest_equivalent(v) as f64 * scale,
                            hi: h.highest_equivalent(v) as f64 * scale,
                        });
                    }
                }
                None
            }
        }
    }

    /// The quantile `q` (0..1) with its order-statistic 95% interval; the
    /// value is that of rank `⌈n·q⌉`, as HdrHistogram reports it. An end
    /// whose rank falls outside `1..=n` is unbounded (±∞): five values say
    /// nothing about how high the p99 may be.
    pub fn quantile(&self, q: f64) -> Option<Estimate> {
        self.quantile_eff(q, self.len())
    }

    /// [`Self::quantile`] when only `n_eff` of the values are independent
    /// (inter-token gaps: one request's gaps move together): the interval's
    /// ranks are those of `n_eff` values, `q ± z·√(q·(1−q)/n_eff)` as
    /// fractions of the sample.
    pub fn quantile_eff(&self, q: f64, n_eff: u64) -> Option<Estimate> {
        let n = self.len();
        if n == 0 || n_eff == 0 {
            return None;
        }
        let (nf, ne) = (n as f64, n_eff.min(n) as f64);
        let value = match self {
            Sample::Histogram(h, scale) => h.value_at_quantile(q) as f64 * scale,
            Sample::Sorted(_) => self.at_rank(((nf * q).ceil().max(1.0)) as u64)?.lo,
        };
        let spread = Z95 * (ne * q * (1.0 - q)).sqrt();
        let (lo_eff, hi_eff) = (ne * q - spread, ne * q + spread);
        let lo = if lo_eff.floor() < 1.0 {
            f64::NEG_INFINITY
        } else {
            let rank = (lo_eff / ne * nf).floor().max(1.0);
            self.at_rank(rank as u64)?.lo.min(value)
        };
        let hi = if hi_eff.ceil() > ne {
            f64::INFINITY
        } else {
            let rank = (hi_eff / ne * nf).ceil().min(nf);
            self.at_rank(rank as u64)?.hi.max(value)
        };
        Some(Estimate {
            value,
            ci: Some(Interval { lo, hi }),
            n,
        })
    }

    /// The mean with `mean ± z·sd/√n`.
    pub fn mean(&self) -> Option<Estimate> {
        self.mean_eff(self.len())
    }

    /// [`Self::mean`] with `n_eff` independent values: `mean ± z·sd/√n_eff`.
    pub fn mean_eff(&self, n_eff: u64) -> Option<Estimate> {
        let n = n_eff.min(self.len());
        let (mean, sd) = match self {
            Sample::Sorted(v) if !v.is_empty() => {
                let nf = v.len() as f64;
                let mean = v.iter().sum::<f64>() / nf;
                let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / nf;
                (mean, var.sqrt())
            }
            Sample::Histogram(h, scale) if !h.is_empty() => (h.mean() * scale, h.stdev() * scale),
            _ => return None,
        };
        Some(mean_estimate(mean, sd, n))
    }
}

/// `mean ± z·sd/√n`.
pub fn mean_estimate(mean: f64, sd: f64, n: u64) -> Estimate {
    let half = if n == 0 {
        f64::INFINITY
    } else {
        Z95 * sd / (n as f64).sqrt()
    };
    Estimate {
        value: mean,
        ci: Some(Interval {
            lo: mean - half,
            hi: mean + half,
        }),
        n,
    }
}

/// `count` events in `duration_s` seconds as a rate, with the Poisson
/// interval `(k ± z·√k)/T` (at zero events, `[0, z²/T]`); `scale` turns the
/// rate into a derived one (tokens or bytes per request), `None` without a
/// duration.
pub fn rate(count: u64, duration_s: f64, scale: f64) -> Option<Estimate> {
    if duration_s.is_nan() || duration_s <= 0.0 {
        return None;
    }
    let k = count as f64;
    let (lo, hi) = if count == 0 {
        (0.0, Z95 * Z95)
    } else {
        ((k - Z95 * k.sqrt()).max(0.0), k + Z95 * k.sqrt())
    };
    let per = |x: f64| x / duration_s * scale;
    Some(Estimate {
        value: per(k),
        ci: Some(Interval {
            lo: per(lo),
            hi: per(hi),
        }),
        n: count,
    })
}

/// `k` of `n` as a percentage with the Wilson score interval.
pub fn proportion_pct(k: u64, n: u64) -> Option<Estimate> {
    if n == 0 {
        return None;
    }
    let (kf, nf, z2) = (k as f64, n as f64, Z95 * Z95);
    let p = kf / nf;
    let centre = (p + z2 / (2.0 * nf)) / (1.0 + z2 / nf);
    let half = Z95 / (1.0 + z2 / nf) * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    Some(Estimate {
        value: p * 100.0,
        ci: Some(Interval {
            lo: (centre - half).max(0.0) * 100.0,
            hi: (centre + half).min(1.0) * 100.0,
        }),
        n,
    })
}

/// The change from `base` to `other` in percent of `base` (None when the
/// base is 0).
pub fn change_pct(base: f64, other: f64) -> Option<f64> {
    (base != 0.0).then(|| (other - base) / base.abs() * 100.0)
}

/// The verdict on `other` against `base`: beyond noise when the intervals
/// are apart and the change is at least `threshold_pct` of the baseline (a
/// baseline of 0 has no relative change: the intervals decide).
pub fn verdict(base: &Estimate, other: &Estimate, threshold_pct: f64) -> Verdict {
    let (Some(a), Some(b)) = (base.ci, other.ci) else {
        return Verdict::Unknown;
    };
    if a.overlaps(&b) {
        return Verdict::WithinNoise;
    }
    match change_pct(base.value, other.value) {
        Some(c) if c.abs() < threshold_pct => Verdict::WithinNoise,
        _ => Verdict::Differs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random values in [0, 1) (xorshift).
    fn uniform(seed: u64, n: usize) -> Vec<f64> {
        let mut x = seed.max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    /// `n` latencies of 45..55 ms, shifted by `shift` ms, sorted.
    fn latencies(seed: u64, n: usize, shift: f64) -> Vec<f64> {
        let mut v: Vec<f64> = uniform(seed, n)
            .iter()
            .map(|u| 45.0 + 10.0 * u + shift)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    fn histogram_ms(values: &[f64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in values {
            h.record((v * 1000.0) as u64).unwrap();
        }
        h
    }

    fn verdicts(a: &[f64], b: &[f64]) -> Vec<Verdict> {
        let (sa, sb) = (Sample::Sorted(a), Sample::Sorted(b));
        let mut out = Vec::new();
        for q in [0.5, 0.9, 0.99] {
            let (x, y) = (sa.quantile(q).unwrap(), sb.quantile(q).unwrap());
            out.push(verdict(&x, &y, 1.0));
        }
        out.push(verdict(&sa.mean().unwrap(), &sb.mean().unwrap(), 1.0));
        out
    }

    #[test]
    fn identical_samples_are_within_noise() {
        let a = latencies(1, 1000, 0.0);
        assert!(
            verdicts(&a, &a).iter().all(|v| *v == Verdict::WithinNoise),
            "{:?}",
            verdicts(&a, &a)
        );
        // Two draws of the same distribution, too.
        let b = latencies(2, 1000, 0.0);
        assert!(verdicts(&a, &b).iter().all(|v| *v == Verdict::WithinNoise));
    }

    #[test]
    fn shifted_distributions_differ() {
        let a = latencies(1, 1000, 0.0);
        let b = latencies(2, 1000, 5.0);
        assert!(
            verdicts(&a, &b).iter().all(|v| *v == Verdict::Differs),
            "{:?}",
            verdicts(&a, &b)
        );
        // ... but not when the threshold is larger than the shift (~10%).
        let (x, y) = (
            Sample::Sorted(&a).quantile(0.5).unwrap(),
            Sample::Sorted(&b).quantile(0.5).unwrap(),
        );
        assert_eq!(verdict(&x, &y, 20.0), Verdict::WithinNoise);
    }

    #[test]
    fn tiny_samples_are_within_noise_with_a_wide_interval() {
        let a = latencies(1, 5, 0.0);
        let b = latencies(2, 5, 5.0);
        for q in [0.5, 0.9, 0.99] {
            let (x, y) = (
                Sample::Sorted(&a).quantile(q).unwrap(),
                Sample::Sorted(&b).quantile(q).unwrap(),
            );
            assert_eq!(verdict(&x, &y, 1.0), Verdict::WithinNoise, "{q}");
        }
        // Five values bound no percentile: p50's rank interval 0.3..4.7
        // leaves the lowest end open; p99's has no upper end.
        let p50 = Sample::Sorted(&a).quantile(0.5).unwrap().ci.unwrap();
        assert_eq!((p50.lo, p50.hi), (f64::NEG_INFINITY, a[4]));
        let p99 = Sample::Sorted(&a).quantile(0.99).unwrap().ci.unwrap();
        assert_eq!((p99.lo, p99.hi), (a[3], f64::INFINITY));
        assert!(p99.width().is_infinite());
        // 30 values bound the median on both sides, widely.
        let m = latencies(1, 30, 0.0);
        let p50 = Sample::Sorted(&m).quantile(0.5).unwrap();
        let ci = p50.ci.unwrap();
        assert!(ci.width().is_finite() && ci.width() > 1.0, "{ci:?}");
        assert!(ci.lo <= p50.value && p50.value <= ci.hi);
    }

    #[test]
    fn histogram_intervals_match_the_sorted_values() {
        let a = latencies(3, 2000, 0.0);
        let h = histogram_ms(&a);
        for q in [0.5, 0.9, 0.99] {
            let s = Sample::Sorted(&a).quantile(q).unwrap();
            let hs = Sample::Histogram(&h, 1e-3).quantile(q).unwrap();
            let (si, hi) = (s.ci.unwrap(), hs.ci.unwrap());
            // The histogram's interval holds the exact one, and is at most
            // a bucket (0.1%) wider on each side.
            assert!(
                hi.lo <= si.lo + 1e-9 && hi.hi >= si.hi - 1e-9,
                "{q}: {si:?} {hi:?}"
            );
            assert!(
                hi.lo >= si.lo * 0.998 && hi.hi <= si.hi * 1.002,
                "{q}: {si:?} {hi:?}"
            );
            assert!((hs.value - s.value).abs() <= s.value * 0.002, "{q}");
            assert_eq!(hs.n, 2000);
        }
        let m = Sample::Histogram(&h, 1e-3).mean().unwrap();
        assert!((m.value - 50.0).abs() < 0.5, "{m:?}");
        assert!(
            Sample::Histogram(&Histogram::new(3).unwrap(), 1e-3)
                .quantile(0.5)
                .is_none()
        );
    }

    #[test]
    fn fewer_independent_values_widen_the_interval() {
        let a = latencies(4, 4000, 0.0);
        let s = Sample::Sorted(&a);
        let all = s.quantile(0.9).unwrap().ci.unwrap();
        let eff = s.quantile_eff(0.9, 100).unwrap().ci.unwrap();
        assert!(eff.width() > 4.0 * all.width(), "{all:?} {eff:?}");
        assert_eq!(s.quantile_eff(0.9, 4000), s.quantile(0.9));
        assert_eq!(s.quantile_eff(0.9, 9999), s.quantile(0.9));
        let m = s.mean_eff(100).unwrap().ci.unwrap();
        let w = s.mean().unwrap().ci.unwrap().width();
        assert!((m.width() - w * 40f64.sqrt()).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn rates_and_proportions() {
        let a = rate(400, 4.0, 1.0).unwrap();
        assert_eq!(a.value, 100.0);
        let ci = a.ci.unwrap();
        assert!((ci.hi - 100.0 - Z95 * 20.0 / 4.0).abs() < 1e-9, "{ci:?}");
        let b = rate(500, 4.0, 1.0).unwrap();
        assert_eq!(verdict(&a, &b, 1.0), Verdict::Differs);
        let c = rate(410, 4.0, 1.0).unwrap();
        assert_eq!(verdict(&a, &c, 1.0), Verdict::WithinNoise);
        assert!(rate(1, 0.0, 1.0).is_none());
        assert_eq!(rate(0, 2.0, 1.0).unwrap().ci.unwrap().lo, 0.0);

        let none = proportion_pct(0, 500).unwrap();
        assert_eq!(none.value, 0.0);
        assert!(none.ci.unwrap().hi > 0.0 && none.ci.unwrap().hi < 1.0);
        let few = proportion_pct(3, 500).unwrap();
        assert_eq!(verdict(&none, &few, 1.0), Verdict::WithinNoise);
        let many = proportion_pct(50, 500).unwrap();
        assert_eq!(verdict(&none, &many, 1.0), Verdict::Differs);
        assert!(proportion_pct(0, 0).is_none());
    }

    #[test]
    fn no_interval_is_unknown_and_changes_are_relative() {
        let a = Estimate {
            value: 1.0,
            ci: None,
            n: 0,
        };
        assert_eq!(verdict(&a, &a, 1.0), Verdict::Unknown);
        assert_eq!(change_pct(50.0, 55.0), Some(10.0));
        assert_eq!(change_pct(0.0, 5.0), None);
    }
}
