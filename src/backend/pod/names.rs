//! Names of a run's Kubernetes objects — pure. A child is named
//! `<benchmark>-g<generation>-<id>`, shortened with a hash to fit; a client's
//! Indexed Job leaves room for `-<last index>`, since the Job controller
//! names each pod's hostname `<job>-<index>` and a hostname is a 63-character
//! DNS label.

/// The longest DNS-1123 label (Service names, hostnames, label values).
pub const MAX_LABEL: usize = 63;

/// The instance id of a client pod (`<client>-index-<completion index>`);
/// `$(AIFB_INDEX)` in the pod spec, expanded by the kubelet.
pub fn pod_instance_id(client: &str, index: &str) -> String {
    format!("{client}-index-{index}")
}

/// A Kubernetes name (DNS-1035 label, at most 63 characters) for a child:
/// `<benchmark>-g<generation>-<id>`, shortened with a hash when too long.
pub fn child_name(benchmark: &str, generation: i64, id: &str) -> String {
    name_within(benchmark, generation, id, MAX_LABEL)
}

/// The name of a client's Indexed Job with `instances` completions: a
/// [`child_name`] short enough that `<name>-<last index>` (the pods'
/// hostname) is still a DNS label.
pub fn client_job_name(benchmark: &str, generation: i64, id: &str, instances: u32) -> String {
    let last = instances.saturating_sub(1).to_string();
    name_within(benchmark, generation, id, MAX_LABEL - 1 - last.len())
}

/// `<benchmark>-g<generation>-<id>` in at most `max` characters (at least
/// 12): cut and followed by `-<8 hex digits of its hash>` when longer.
fn name_within(benchmark: &str, generation: i64, id: &str, max: usize) -> String {
    let raw = format!("{benchmark}-g{generation}-{id}").to_ascii_lowercase();
    let mut name = if raw.starts_with(|c: char| c.is_ascii_alphabetic()) {
        raw
    } else {
        format!("b-{raw}")
    };
    if name.len() > max {
        let hash = fnv(&name);
        let keep = floor_char_boundary(&name, max.max(12) - 9);
        name.truncate(keep);
        name = format!("{}-{hash:08x}", name.trim_end_matches(['-', '.']));
    }
    name
}

/// A label value (at most 63 characters) for a name.
pub fn label_value(name: &str) -> String {
    if name.len() <= MAX_LABEL {
        return name.to_string();
    }
    let keep = floor_char_boundary(name, MAX_LABEL - 9);
    format!("{}-{:08x}", &name[..keep], fnv(name))
}

/// The largest char boundary of `s` at or below `at`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    (0..=at.min(s.len()))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

fn fnv(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(child_name("bm", 3, "sim"), "bm-g3-sim");
        assert_eq!(child_name("1bm", 1, "x"), "b-1bm-g1-x");
        let long = child_name(&"a".repeat(80), 1, "client");
        assert!(long.len() <= 63, "{long}");
        assert_ne!(long, child_name(&"a".repeat(81), 1, "client"));
        assert!(label_value(&"x".repeat(100)).len() <= 63);
    }

    #[test]
    fn job_names_leave_room_for_the_last_index() {
        assert_eq!(client_job_name("bm", 1, "load", 1000), "bm-g1-load");
        for instances in [1, 9, 10, 11, 100, 1000, u32::MAX] {
            let name = client_job_name(&"b".repeat(63), 12, "load", instances);
            let host = format!("{name}-{}", instances - 1);
            assert!(host.len() <= MAX_LABEL, "{host}: {} characters", host.len());
        }
        // Short enough names are the same as every other child's.
        assert_eq!(client_job_name("bm", 2, "c", 10), child_name("bm", 2, "c"));
    }

    #[test]
    fn cut_names_end_in_their_hash_not_a_dash() {
        let name = child_name(&format!("{}-{}", "a".repeat(53), "x".repeat(20)), 1, "c");
        assert_eq!(name.len(), 62, "{name}");
        assert!(!name.contains("--"), "{name}");
        assert!(label_value(&"é".repeat(40)).len() <= 63);
    }
}
