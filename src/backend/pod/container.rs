//! The container parts of a run's pods — pure: the ports of a service
//! (port 0 becomes a free port of its own), the readiness probe built from
//! a health check (the path, host, port and scheme of `healthcheck.url`, or
//! `path` on the named port), and the restricted Pod Security Standard's
//! container `securityContext` that every container of a run carries.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Capabilities, HTTPGetAction, Probe, SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::spec::{HealthcheckSpec, ServiceSpec};

/// The first port given to a port 0 (pick one): `8000 + its index`, or the
/// next one no other port of the service uses.
pub const FIRST_PICKED_PORT: u16 = 8000;

/// The ports of a service; port 0 (pick one) becomes 8000 + its index, or
/// the next free number when another port of the service already has that
/// one (every pod has its own network namespace).
pub fn service_ports(s: &ServiceSpec) -> Vec<(String, u16)> {
    let mut used: BTreeSet<u16> = s.ports.iter().map(|p| p.port).filter(|p| *p != 0).collect();
    s.ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let port = if p.port == 0 {
                let mut c = FIRST_PICKED_PORT.saturating_add(u16::try_from(i).unwrap_or(0));
                while used.contains(&c) {
                    c = c.checked_add(1).unwrap_or(1);
                }
                used.insert(c);
                c
            } else {
                p.port
            };
            (p.name.clone(), port)
        })
        .collect()
}

/// Port names must be IANA service names (at most 15 characters); validation
/// refuses the others, this only keeps an unvalidated spec from producing an
/// empty or over-long one.
pub fn port_name(n: &str) -> String {
    let mut s: String = n.to_ascii_lowercase().chars().take(15).collect();
    if s.is_empty() {
        s = "http".to_string();
    }
    s
}

/// Where a readiness probe goes: the `HTTPGetAction` parts.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeTarget {
    /// `HTTP` or `HTTPS`.
    pub scheme: String,
    /// The host, when not the pod itself (`None`: the pod's IP).
    pub host: Option<String>,
    /// The port number.
    pub port: u16,
    /// Path and query.
    pub path: String,
}

/// Where the health check of a service probes: its (rendered) `url`, or
/// `path` on the named port (default: the first). `None` without a port to
/// probe; an error (the reason) for a URL that is not an http(s) URL.
pub fn probe_target(
    h: &HealthcheckSpec,
    rendered_url: Option<&str>,
    ports: &[(String, u16)],
) -> Result<Option<ProbeTarget>, String> {
    if let Some(url) = rendered_url {
        return url_target(url).map(Some);
    }
    let port = match &h.port {
        Some(name) => ports.iter().find(|(n, _)| n == name),
        None => ports.first(),
    };
    Ok(port.map(|(_, p)| ProbeTarget {
        scheme: "HTTP".to_string(),
        host: None,
        port: *p,
        path: h.path.clone(),
    }))
}

fn url_target(url: &str) -> Result<ProbeTarget, String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("healthcheck.url {url:?}: {e}"))?;
    let scheme = match u.scheme() {
        "http" => "HTTP",
        "https" => "HTTPS",
        other => {
            return Err(format!(
                "healthcheck.url {url:?}: scheme {other:?} is not http or https"
            ));
        }
    };
    let host = match u.host_str() {
        None | Some("localhost" | "127.0.0.1" | "[::1]" | "::1" | "0.0.0.0") => None,
        Some(h) => Some(h.trim_start_matches('[').trim_end_matches(']').to_string()),
    };
    let port = u
        .port_or_known_default()
        .ok_or_else(|| format!("healthcheck.url {url:?} has no port"))?;
    let mut path = u.path().to_string();
    if let Some(q) = u.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok(ProbeTarget {
        scheme: scheme.to_string(),
        host,
        port,
        path,
    })
}

/// The readiness probe of a health check: every `interval`, one failure
/// makes the pod unready.
pub fn readiness_probe(h: &HealthcheckSpec, t: ProbeTarget) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(t.path),
            port: IntOrString::Int(i32::from(t.port)),
            host: t.host,
            scheme: Some(t.scheme),
            ..Default::default()
        }),
        period_seconds: Some(secs(h.interval.get())),
        timeout_seconds: Some(secs(h.probe_timeout.get())),
        failure_threshold: Some(1),
        success_threshold: Some(1),
        ..Default::default()
    }
}

fn secs(d: std::time::Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// A container `securityContext` meeting the restricted Pod Security
/// Standard: not root, no privilege escalation, every capability dropped,
/// the runtime's default seccomp profile. `read_only_root` also makes the
/// root filesystem read-only (client pods, which write only to `/results`).
pub fn restricted_security_context(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        run_as_non_root: Some(true),
        read_only_root_filesystem: read_only_root.then_some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_string(),
            localhost_profile: None,
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::spec::PortSpec;

    fn service(ports: &[(&str, u16)]) -> ServiceSpec {
        ServiceSpec {
            id: "s".into(),
            ports: ports
                .iter()
                .map(|(n, p)| PortSpec {
                    name: n.to_string(),
                    port: *p,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn port_zero_never_takes_a_number_another_port_has() {
        let s = service(&[("a", 0), ("b", 8000), ("c", 0), ("d", 8003)]);
        let ports: Vec<u16> = service_ports(&s).into_iter().map(|(_, p)| p).collect();
        assert_eq!(ports, vec![8001, 8000, 8002, 8003]);
        let s = service(&[("a", 0), ("b", 0)]);
        let ports: Vec<u16> = service_ports(&s).into_iter().map(|(_, p)| p).collect();
        assert_eq!(ports, vec![8000, 8001], "unchanged without collisions");
    }

    #[test]
    fn the_probe_follows_the_url() {
        let h = HealthcheckSpec::default();
        let ports = vec![("http".to_string(), 8000)];
        let t = probe_target(&h, Some("https://10.0.0.5:9443/ready?x=1"), &ports)
            .unwrap()
            .unwrap();
        assert_eq!(
            t,
            ProbeTarget {
                scheme: "HTTPS".into(),
                host: Some("10.0.0.5".into()),
                port: 9443,
                path: "/ready?x=1".into()
            }
        );
        let t = probe_target(&h, Some("http://127.0.0.1:18080/health"), &ports)
            .unwrap()
            .unwrap();
        assert_eq!((t.host, t.port, t.scheme.as_str()), (None, 18080, "HTTP"));
        let t = probe_target(&h, Some("http://localhost/"), &ports)
            .unwrap()
            .unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        assert!(probe_target(&h, Some("ftp://x/"), &ports).is_err());
        assert!(probe_target(&h, Some("not a url"), &ports).is_err());
        let t = probe_target(&h, None, &ports).unwrap().unwrap();
        assert_eq!((t.port, t.path.as_str(), t.host), (8000, "/health", None));
        assert_eq!(probe_target(&h, None, &[]).unwrap(), None);
        let path = |url: &str| probe_target(&h, Some(url), &ports).unwrap().unwrap().path;
        assert_eq!(path("http://h:1/health"), "/health");
        assert_eq!(path("http://h:1"), "/");
    }
}
