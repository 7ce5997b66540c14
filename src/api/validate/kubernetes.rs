//! Kubernetes' own naming rules, checked before anything is created: object
//! names (benchmark name + component id + instance index) fit a 63-character
//! DNS label, port names are IANA service names unique per service, port
//! numbers are unique per service, environment variable names are C
//! identifiers, and the variables aifbench sets itself (`AIFB_*`) are not
//! the user's to set. For the pod executor also what only the API server
//! would refuse: a health check URL the readiness probe cannot take, and a
//! client configuration too large for the pod annotation it travels in.

use std::collections::BTreeMap;

use super::Validator;
use crate::api::spec::{ApptainerSpec, Benchmark, ClientSpec, ExecutorKind, PortSpec, ServiceSpec};

/// The longest Kubernetes object name (a DNS label).
pub const MAX_OBJECT_NAME: usize = 63;

/// The longest port name (IANA_SVC_NAME).
pub const MAX_PORT_NAME: usize = 15;

/// The most bytes of a pod client's configuration as JSON: it travels as a
/// pod annotation, and the API server allows 256 KiB of annotations per
/// object (4 KiB are left for the id, the URL and the annotation's key).
pub const MAX_POD_CONFIG_BYTES: usize = 256 * 1024 - 4096;

/// The prefix of the environment variables aifbench sets for the programs
/// it launches (`AIFB_INDEX`, `AIFB_PORT`, `AIFB_PORT_FILE`,
/// `AIFB_RESULTS_DIR`) and reads itself (`AIFB_SLURM_*`, `AIFB_SSH_*`, ...).
pub const RESERVED_ENV_PREFIX: &str = "AIFB_";

impl Validator {
    pub(super) fn check_kubernetes(&mut self, b: &Benchmark) {
        let name = b.metadata.name.as_deref().unwrap_or_default();
        let spec = &b.spec;
        for (i, s) in spec.services.iter().enumerate() {
            let at = format!("spec.services[{i}]");
            self.check_object_name(&format!("{name}-{}", s.id), &format!("{at}.id"));
            self.check_ports(&s.ports, &at);
            self.check_env_names(&s.env, &format!("{at}.env"));
            self.check_apptainer_env(s.apptainer.as_ref(), &at);
            if s.executor == ExecutorKind::Pod {
                self.check_probe_url(s, &at);
            }
        }
        for (i, c) in spec.clients.iter().enumerate() {
            let at = format!("spec.clients[{i}]");
            self.check_object_name(
                &format!("{name}-{}-{}", c.id, c.instances),
                &format!("{at}.id"),
            );
            self.check_env_names(&c.env, &format!("{at}.env"));
            self.check_apptainer_env(c.apptainer.as_ref(), &at);
            if c.executor == ExecutorKind::Pod {
                self.check_pod_config_size(c, &at);
            }
        }
        for (i, m) in spec.monitors.iter().enumerate() {
            self.check_object_name(
                &format!("{name}-{}", m.id),
                &format!("spec.monitors[{i}].id"),
            );
        }
    }

    fn check_object_name(&mut self, full: &str, at: &str) {
        if full.len() > MAX_OBJECT_NAME {
            self.err(
                at,
                format!(
                    "the object name {full:?} (benchmark name, id and instance index) is {} characters, above Kubernetes' limit of {MAX_OBJECT_NAME}; shorten metadata.name or this id",
                    full.len()
                ),
            );
        }
    }

    fn check_ports(&mut self, ports: &[PortSpec], at: &str) {
        let mut numbers: BTreeMap<u16, usize> = BTreeMap::new();
        for (j, p) in ports.iter().enumerate() {
            if let Some(problem) = port_name_problem(&p.name) {
                self.err(
                    format!("{at}.ports[{j}].name"),
                    format!("{:?} is not a valid port name: {problem}", p.name),
                );
            }
            if p.port != 0 {
                if let Some(first) = numbers.get(&p.port) {
                    self.err(
                        format!("{at}.ports[{j}].port"),
                        format!("port {} is already used by {at}.ports[{first}]", p.port),
                    );
                } else {
                    numbers.insert(p.port, j);
                }
            }
        }
    }

    /// A readiness probe takes the scheme, host, port and path of the URL.
    fn check_probe_url(&mut self, s: &ServiceSpec, at: &str) {
        let Some(url) = s.healthcheck.as_ref().and_then(|h| h.url.as_deref()) else {
            return;
        };
        if url.contains("{{") {
            return;
        }
        let problem = match reqwest::Url::parse(url) {
            Err(e) => Some(e.to_string()),
            Ok(u) if u.port_or_known_default().is_none_or(|p| p == 0) => {
                Some("it needs a port from 1 to 65535".to_string())
            }
            Ok(_) => None,
        };
        if let Some(why) = problem {
            self.err(
                format!("{at}.healthcheck.url"),
                format!("{url:?} is not a URL a readiness probe can take: {why}"),
            );
        }
    }

    fn check_pod_config_size(&mut self, c: &ClientSpec, at: &str) {
        let size = serde_json::to_string(&(&c.workload, &c.load, &c.errors)).map_or(0, |j| j.len());
        if size > MAX_POD_CONFIG_BYTES {
            self.err(
                format!("{at}.workload"),
                format!("the client's configuration is {size} bytes as JSON; under executor pod it travels as a pod annotation, at most {MAX_POD_CONFIG_BYTES} bytes (the API server's 256 KiB for all annotations): move large inline data into a dataset file"),
            );
        }
    }

    fn check_apptainer_env(&mut self, a: Option<&ApptainerSpec>, at: &str) {
        if let Some(a) = a {
            self.check_env_names(&a.env, &format!("{at}.apptainer.env"));
        }
    }

    fn check_env_names(&mut self, env: &BTreeMap<String, String>, at: &str) {
        for k in env.keys() {
            let here = format!("{at}.{k}");
            if !is_env_name(k) {
                self.err(
                    here,
                    format!("{k:?} is not a valid environment variable name: use letters, digits and '_', not starting with a digit"),
                );
            } else if k.starts_with(RESERVED_ENV_PREFIX) {
                self.err(
                    here,
                    format!("{k} is reserved: aifbench sets the {RESERVED_ENV_PREFIX}* variables itself (AIFB_INDEX, AIFB_PORT, AIFB_PORT_FILE, AIFB_RESULTS_DIR); choose another name"),
                );
            }
        }
    }
}

/// Why `name` is not an IANA service name (RFC 6335: at most 15 lowercase
/// letters, digits and '-', at least one letter, no '-' at either end or
/// twice in a row), or `None` when it is one.
pub fn port_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".to_string());
    }
    if name.len() > MAX_PORT_NAME {
        return Some(format!(
            "{} characters, above the limit of {MAX_PORT_NAME}",
            name.len()
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some("use lowercase letters, digits and '-' only".to_string());
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        return Some("it needs at least one letter".to_string());
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Some("'-' may not start or end it, nor appear twice in a row".to_string());
    }
    None
}

/// A C identifier: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names_follow_iana() {
        for good in ["http", "metrics", "grpc-2", "a1", "x-y-z"] {
            assert_eq!(port_name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "Metrics_Port",
            "http-",
            "-http",
            "a--b",
            "8080",
            "a-very-long-port-name",
        ] {
            assert!(port_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn env_names_are_c_identifiers() {
        for good in ["HF_HOME", "_x", "a1"] {
            assert!(is_env_name(good), "{good}");
        }
        for bad in ["", "1A", "MY-VAR", "A B", "a.b"] {
            assert!(!is_env_name(bad), "{bad}");
        }
    }
}
