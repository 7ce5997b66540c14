//! Ids and names: unique ids across components (and client instances),
//! DNS labels, bucket names.

use std::collections::{BTreeMap, BTreeSet};

use super::Validator;
use crate::api::spec::Benchmark;

impl Validator {
    pub(super) fn check_ids(&mut self, b: &Benchmark) {
        let spec = &b.spec;
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut claim = |this: &mut Self, id: &str, at: String| {
            if let Some(first) = seen.get(id) {
                this.err(at, format!("id {id:?} is already used by {first}; ids must be unique across services, clients (and their instances) and monitors"));
            } else {
                seen.insert(id.to_string(), at);
            }
        };
        for (i, s) in spec.services.iter().enumerate() {
            let at = format!("spec.services[{i}].id");
            self.check_id(&s.id, &at);
            claim(self, &s.id, at);
        }
        for (i, c) in spec.clients.iter().enumerate() {
            let at = format!("spec.clients[{i}].id");
            self.check_id(&c.id, &at);
            claim(self, &c.id, at.clone());
            for n in 1..=c.instances.min(10_000) {
                claim(
                    self,
                    &format!("{}-{n}", c.id),
                    format!("{at} (instance {n})"),
                );
            }
        }
        for (i, m) in spec.monitors.iter().enumerate() {
            let at = format!("spec.monitors[{i}].id");
            self.check_id(&m.id, &at);
            claim(self, &m.id, at);
        }
        let mut loggers = BTreeSet::new();
        for (i, l) in spec.loggers.iter().enumerate() {
            let at = format!("spec.loggers[{i}].id");
            self.check_id(&l.id, &at);
            if !loggers.insert(l.id.as_str()) {
                self.err(at, format!("logger id {:?} is used twice", l.id));
            }
        }
    }

    fn check_id(&mut self, id: &str, at: &str) {
        if !is_dns_label(id) || id.len() > 40 {
            self.err(
                at,
                format!("{id:?} is not a valid id: use 1-40 lowercase letters, digits and '-', starting and ending with a letter or digit"),
            );
        }
    }
}

/// S3 bucket naming rules (the portable subset).
pub(super) fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A DNS label (RFC 1123): 1-63 lowercase letters, digits and '-',
/// starting and ending with a letter or digit.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}
