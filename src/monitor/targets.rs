//! Where a monitor scrapes each of its targets, for both drivers: a URL as
//! written; `host:port` with the monitor's path; or a service id, at the
//! base URL the driver knows for that service and port. The port of a
//! service is the one the monitor names, else the service's port named
//! `metrics`, else its first.

use crate::api::spec::{MonitorSpec, ServiceSpec};
use crate::monitor::scrape::ScrapeTarget;

/// The scrape targets of `m` among `services`; `base(service, port)` is
/// the driver's base URL (`http://host:port`) of a service's port (`None`:
/// its first), or `None` when the service has no such port.
pub fn scrape_targets(
    m: &MonitorSpec,
    services: &[ServiceSpec],
    base: impl Fn(&ServiceSpec, Option<&str>) -> Option<String>,
) -> Result<Vec<ScrapeTarget>, String> {
    m.targets
        .iter()
        .map(|t| {
            let url = if t.contains("://") {
                t.clone()
            } else if t.contains(':') {
                format!("http://{t}{}", m.path)
            } else {
                let s = services
                    .iter()
                    .find(|s| &s.id == t)
                    .ok_or_else(|| format!("monitor {}: unknown service {t}", m.id))?;
                let b = base(s, port_name(m, s)).ok_or_else(|| {
                    format!("monitor {}: service {t} has no port to scrape", m.id)
                })?;
                format!("{}{}", b.trim_end_matches('/'), m.path)
            };
            Ok(ScrapeTarget {
                name: t.clone(),
                url,
            })
        })
        .collect()
}

/// The port of `s` that `m` scrapes: the one it names, else `metrics`
/// when the service has it, else `None` (its first).
pub fn port_name<'a>(m: &'a MonitorSpec, s: &'a ServiceSpec) -> Option<&'a str> {
    m.port.as_deref().or_else(|| {
        s.ports
            .iter()
            .any(|p| p.name == "metrics")
            .then_some("metrics")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::load::load_str;

    const YAML: &str = r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {name: t}
spec:
  services:
    - id: llm
      command: [x]
      ports: [{name: http, port: 8000}, {name: metrics, port: 9000}]
    - id: s3
      command: [x]
      ports: [{name: api, port: 3900}]
  monitors:
    - id: m
      targets: [llm, s3, "10.0.0.1:9100", "https://x.example/m"]
"#;

    fn base(s: &ServiceSpec, port: Option<&str>) -> Option<String> {
        let p = match port {
            Some(n) => s.ports.iter().find(|p| p.name == n)?,
            None => s.ports.first()?,
        };
        Some(format!("http://{}.node:{}/", s.id, p.port))
    }

    #[test]
    fn each_kind_of_target_resolves() {
        let b = load_str(YAML, "t.yaml", &|_| None)
            .expect("loads")
            .benchmark;
        let m = &b.spec.monitors[0];
        let t = scrape_targets(m, &b.spec.services, base).expect("resolves");
        let urls: Vec<&str> = t.iter().map(|t| t.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://llm.node:9000/metrics",
                "http://s3.node:3900/metrics",
                "http://10.0.0.1:9100/metrics",
                "https://x.example/m",
            ]
        );
        assert_eq!(t[0].name, "llm");
    }

    #[test]
    fn a_named_port_wins_and_problems_name_the_monitor() {
        let mut b = load_str(YAML, "t.yaml", &|_| None)
            .expect("loads")
            .benchmark;
        let mut m = b.spec.monitors[0].clone();
        m.port = Some("http".into());
        m.targets = vec!["llm".into()];
        let t = scrape_targets(&m, &b.spec.services, base).expect("resolves");
        assert_eq!(t[0].url, "http://llm.node:8000/metrics");
        m.targets = vec!["nope".into()];
        let e = scrape_targets(&m, &b.spec.services, base).expect_err("unknown");
        assert_eq!(e, "monitor m: unknown service nope");
        m.targets = vec!["s3".into()];
        b.spec.services[1].ports.clear();
        let e = scrape_targets(&m, &b.spec.services, base).expect_err("no port");
        assert_eq!(e, "monitor m: service s3 has no port to scrape");
    }
}
