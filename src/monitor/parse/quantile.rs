//! PromQL's `histogram_quantile` over cumulative buckets, for reports.

/// Computes the `q`-quantile from cumulative histogram buckets
/// `(upper bound "le", cumulative count)`, with the semantics of PromQL's
/// `histogram_quantile`: buckets are sorted by `le` and those with the same
/// `le` merged; the highest bucket must be `+Inf`; counts are made monotonic;
/// the value is interpolated linearly inside the bucket holding the rank
/// (from 0 for the lowest bucket if its bound is positive); a rank in the
/// `+Inf` bucket yields the second-highest bound.
///
/// Returns `Some(-Inf)` for `q < 0` and `Some(+Inf)` for `q > 1`, and `None`
/// where PromQL yields NaN: `q` is NaN, fewer than two buckets, no `+Inf`
/// bucket, no observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if q.is_nan() {
        return None;
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    let mut b: Vec<(f64, f64)> = buckets
        .iter()
        .copied()
        .filter(|(le, _)| !le.is_nan())
        .collect();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
        return None;
    }
    // Merge buckets with the same bound.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for (le, count) in b {
        match merged.last_mut() {
            Some((last_le, last_count)) if *last_le == le => *last_count += count,
            _ => merged.push((le, count)),
        }
    }
    let b = merged;
    // Correct float precision errors, then force monotonicity.
    let mut b = b;
    let mut prev = b[0].1;
    for bucket in b.iter_mut().skip(1) {
        let delta = (bucket.1 - prev).abs();
        if delta == 0.0 {
            continue;
        }
        if delta / bucket.1 <= 1e-12 {
            bucket.1 = prev;
        } else {
            prev = bucket.1;
        }
    }
    let mut max = b[0].1;
    for bucket in b.iter_mut().skip(1) {
        if bucket.1 > max {
            max = bucket.1;
        } else if bucket.1 < max {
            bucket.1 = max;
        }
    }
    if b.len() < 2 {
        return None;
    }
    let observations = b[b.len() - 1].1;
    if observations == 0.0 || observations.is_nan() {
        return None;
    }
    let mut rank = q * observations;
    // First bucket (excluding +Inf) whose count reaches the rank.
    let idx = b[..b.len() - 1]
        .iter()
        .position(|(_, c)| *c >= rank)
        .unwrap_or(b.len() - 1);
    if idx == b.len() - 1 {
        return Some(b[b.len() - 2].0);
    }
    if idx == 0 && b[0].0 <= 0.0 {
        return Some(b[0].0);
    }
    let bucket_end = b[idx].0;
    let mut count = b[idx].1;
    let mut bucket_start = 0.0;
    if idx > 0 {
        bucket_start = b[idx - 1].0;
        count -= b[idx - 1].1;
        rank -= b[idx - 1].1;
    }
    let v = bucket_start + (bucket_end - bucket_start) * (rank / count);
    (!v.is_nan()).then_some(v)
}
