//! Pure checks of the storage workloads' settings: `(field, message)` pairs.

use crate::api::workload::{ChromaWorkload, S3Workload, SizeDistributionKind};

/// Problems of an `s3` workload.
pub fn s3(s: &S3Workload) -> Vec<(&'static str, String)> {
    let mut p = Vec::new();
    if s.bucket.is_empty() {
        p.push(("bucket", "must not be empty".to_string()));
    }
    if s.region.is_empty() {
        p.push(("region", "must not be empty".to_string()));
    }
    if s.effective_operations().iter().all(|o| o.weight == 0) {
        p.push((
            "operations",
            "at least one operation needs a weight above 0".to_string(),
        ));
    }
    let d = &s.object_size;
    match d.distribution {
        SizeDistributionKind::Fixed => {
            if d.size.get() == 0 {
                p.push(("objectSize", "size must be at least 1 byte".to_string()));
            }
        }
        SizeDistributionKind::Uniform | SizeDistributionKind::LogUniform => {
            if d.min.get() == 0 || d.min > d.max {
                p.push((
                    "objectSize",
                    format!("needs 0 < min <= max (min {}, max {})", d.min, d.max),
                ));
            }
        }
    }
    if s.key_prefix.is_empty()
        || !s
            .key_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
    {
        p.push((
            "keyPrefix",
            format!(
                "{:?} must be non-empty and use only letters, digits, '/', '.', '_' or '-'",
                s.key_prefix
            ),
        ));
    }
    if s.prefixes == 0 {
        p.push(("prefixes", "must be at least 1".to_string()));
    }
    if s.part_size.get() == 0 {
        p.push(("partSize", "must be at least 1 byte".to_string()));
    }
    if s.list_max_keys == 0 {
        p.push(("listMaxKeys", "must be at least 1".to_string()));
    }
    if s.request_timeout.get().is_zero() {
        p.push(("requestTimeout", "must be longer than 0s".to_string()));
    }
    p
}

/// Problems of a `chroma` workload.
pub fn chroma(c: &ChromaWorkload) -> Vec<(&'static str, String)> {
    let mut p = Vec::new();
    let name_ok = c.collection.len() >= 3
        && c.collection.len() <= 40
        && c.collection
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
        && c.collection
            .starts_with(|ch: char| ch.is_ascii_alphanumeric());
    if !name_ok {
        p.push((
            "collection",
            format!(
                "{:?} must be 3-40 characters of letters, digits, '-', '_' or '.', starting with a letter or digit",
                c.collection
            ),
        ));
    }
    for (field, v) in [
        ("dimension", c.dimension),
        ("count", c.count),
        ("batchSize", c.batch_size),
        ("topK", c.top_k),
        ("groups", c.groups),
    ] {
        if v == 0 {
            p.push((field, "must be at least 1".to_string()));
        }
    }
    if c.top_k > c.count {
        p.push(("topK", format!("must not exceed count ({})", c.count)));
    }
    if c.request_timeout.get().is_zero() {
        p.push(("requestTimeout", "must be longer than 0s".to_string()));
    }
    p
}
