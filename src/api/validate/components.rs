//! Services, clients and monitors: executors, commands, health checks,
//! targets and the templates that reference ports and other services.

use std::collections::{BTreeMap, BTreeSet};

use super::{Validator, list, port_names};
use crate::api::spec::{ClientSpec, ExecutorKind, MonitorSpec, ServiceSpec};
use crate::api::template;

impl Validator {
    pub(super) fn check_client(
        &mut self,
        c: &ClientSpec,
        at: &str,
        services: &BTreeMap<&str, &ServiceSpec>,
    ) {
        self.check_executor(
            c.executor,
            c.apptainer.is_some(),
            c.pod.as_ref().map(|p| p.image.as_str()),
            at,
        );
        match (&c.target, &c.endpoint) {
            (None, None) => self.err(
                format!("{at}.target"),
                format!("missing: name the service to load (one of: {}), or set endpoint to an external URL", list(services.keys())),
            ),
            (Some(_), Some(_)) => self.err(
                format!("{at}.endpoint"),
                "give either target (a service id) or endpoint (a URL), not both",
            ),
            (Some(t), None) => match services.get(t.as_str()) {
                None => self.err(
                    format!("{at}.target"),
                    format!("{t:?} names no service; services are: {}", list(services.keys())),
                ),
                Some(svc) => {
                    if svc.ports.is_empty() {
                        self.err(
                            format!("{at}.target"),
                            format!("service {t:?} declares no ports, so it has no endpoint; add spec.services[].ports"),
                        );
                    }
                    if let Some(p) = &c.target_port
                        && !svc.ports.iter().any(|sp| &sp.name == p) {
                            self.err(
                                format!("{at}.targetPort"),
                                format!("{p:?} is not a port of service {t:?}; its ports are: {}", port_names(&svc.ports)),
                            );
                        }
                }
            },
            (None, Some(url)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    self.err(
                        format!("{at}.endpoint"),
                        format!("{url:?} is not an http(s) URL, e.g. http://gpu-node-7:8000"),
                    );
                }
            }
        }
        self.check_client_workload(c, at);
        self.check_env_templates(&c.env, &format!("{at}.env"), &[], services);
    }

    pub(super) fn check_monitor(
        &mut self,
        m: &MonitorSpec,
        at: &str,
        services: &BTreeMap<&str, &ServiceSpec>,
    ) {
        if let Some(p) = &m.prometheus {
            self.check_prometheus_queries(p, &format!("{at}.prometheus"));
            if !m.targets.is_empty() {
                self.err(
                    format!("{at}.targets"),
                    "a monitor either scrapes targets or queries prometheus, not both: put the targets in a monitor of their own",
                );
            }
        } else if m.targets.is_empty() {
            self.err(
                format!("{at}.targets"),
                "empty: list service ids or host:port addresses to scrape (or query an existing Prometheus with prometheus:)",
            );
        }
        for (j, t) in m.targets.iter().enumerate() {
            if t.contains(':') || t.contains('/') {
                continue;
            }
            match services.get(t.as_str()) {
                None => self.err(
                    format!("{at}.targets[{j}]"),
                    format!("{t:?} names no service (services are: {}); for another server write host:port", list(services.keys())),
                ),
                Some(svc) => {
                    if svc.ports.is_empty() {
                        self.err(format!("{at}.targets[{j}]"), format!("service {t:?} declares no ports to scrape"));
                    } else if let Some(p) = &m.port
                        && !svc.ports.iter().any(|sp| &sp.name == p) {
                            self.err(
                                format!("{at}.port"),
                                format!("{p:?} is not a port of service {t:?}; its ports are: {}", port_names(&svc.ports)),
                            );
                        }
                }
            }
        }
        if !m.path.starts_with('/') {
            self.err(
                format!("{at}.path"),
                format!("{:?} must start with '/'", m.path),
            );
        }
        if m.interval.get().is_zero() {
            self.err(format!("{at}.interval"), "must be longer than 0s");
        }
    }

    fn check_executor(
        &mut self,
        kind: ExecutorKind,
        has_apptainer: bool,
        pod_image: Option<&str>,
        at: &str,
    ) {
        match kind {
            ExecutorKind::Apptainer if !has_apptainer => self.err(
                format!("{at}.apptainer"),
                "executor apptainer needs an apptainer section with at least image (a .sif path or docker:// reference)",
            ),
            ExecutorKind::Pod if pod_image.is_none_or(str::is_empty) => self.err(
                format!("{at}.pod.image"),
                "executor pod needs pod.image (a container image)",
            ),
            _ => {}
        }
    }

    pub(super) fn check_service(
        &mut self,
        s: &ServiceSpec,
        at: &str,
        services: &BTreeMap<&str, &ServiceSpec>,
    ) {
        self.check_executor(
            s.executor,
            s.apptainer.is_some(),
            s.pod.as_ref().map(|p| p.image.as_str()),
            at,
        );
        if let Some(a) = &s.apptainer
            && a.image.trim().is_empty()
        {
            self.err(
                format!("{at}.apptainer.image"),
                "empty: give a .sif path or a docker:// reference",
            );
        }
        match (s.command.is_empty(), &s.shell) {
            (true, None) if s.executor != ExecutorKind::Pod => self.err(
                format!("{at}.command"),
                "missing: give command (a list: [program, arg, ...]) or shell (one shell line)",
            ),
            (false, Some(_)) => self.err(
                format!("{at}.shell"),
                "give either command or shell, not both",
            ),
            _ => {}
        }
        let mut names = BTreeSet::new();
        for (j, p) in s.ports.iter().enumerate() {
            if !names.insert(p.name.as_str()) {
                self.err(
                    format!("{at}.ports[{j}].name"),
                    format!("port name {:?} is used twice", p.name),
                );
            }
        }
        if let Some(h) = &s.healthcheck {
            match (&h.url, &h.port) {
                (Some(u), _) => {
                    if !(u.starts_with("http://") || u.starts_with("https://")) {
                        self.err(
                            format!("{at}.healthcheck.url"),
                            format!("{u:?} is not an http(s) URL"),
                        );
                    }
                }
                (None, Some(p)) => {
                    if !s.ports.iter().any(|sp| &sp.name == p) {
                        self.err(
                            format!("{at}.healthcheck.port"),
                            format!(
                                "{p:?} is not a port of this service; its ports are: {}",
                                port_names(&s.ports)
                            ),
                        );
                    }
                }
                (None, None) => {
                    if s.ports.is_empty() {
                        self.err(
                            format!("{at}.healthcheck"),
                            "needs a port to probe: declare ports, or give healthcheck.url",
                        );
                    }
                }
            }
            if h.interval.get().is_zero() {
                self.err(
                    format!("{at}.healthcheck.interval"),
                    "must be longer than 0s",
                );
            }
        }
        let port_refs: Vec<String> = s
            .ports
            .iter()
            .map(|p| format!("ports.{}", p.name))
            .collect();
        for (j, arg) in s.command.iter().enumerate() {
            self.check_template(
                arg,
                &format!("{at}.command[{j}]"),
                &port_refs,
                !s.ports.is_empty(),
                services,
            );
        }
        if let Some(sh) = &s.shell {
            self.check_template(
                sh,
                &format!("{at}.shell"),
                &port_refs,
                !s.ports.is_empty(),
                services,
            );
        }
        self.check_env_templates(&s.env, &format!("{at}.env"), &port_refs, services);
    }

    fn check_env_templates(
        &mut self,
        env: &BTreeMap<String, String>,
        at: &str,
        port_refs: &[String],
        services: &BTreeMap<&str, &ServiceSpec>,
    ) {
        for (k, v) in env {
            self.check_template(
                v,
                &format!("{at}.{k}"),
                port_refs,
                !port_refs.is_empty(),
                services,
            );
        }
    }

    fn check_template(
        &mut self,
        text: &str,
        at: &str,
        port_refs: &[String],
        has_port: bool,
        services: &BTreeMap<&str, &ServiceSpec>,
    ) {
        let refs = match template::references(text) {
            Ok(r) => r,
            Err(e) => {
                self.err(at, e.to_string());
                return;
            }
        };
        for r in refs {
            let ok = match r.as_str() {
                "resultsDir" | "id" => true,
                "port" => has_port,
                _ if r.starts_with("ports.") => port_refs.contains(&r),
                _ => match r.strip_prefix("services.").and_then(|x| x.rsplit_once('.')) {
                    Some((id, field)) => {
                        services.get(id).is_some_and(|s| !s.ports.is_empty())
                            && matches!(field, "url" | "host" | "port")
                    }
                    None => false,
                },
            };
            if !ok {
                self.err(
                    at,
                    format!("unknown template {{{{{r}}}}}; use {{{{port}}}}, {{{{ports.NAME}}}} (declared ports), {{{{services.ID.url|host|port}}}} (services with ports), {{{{resultsDir}}}} or {{{{id}}}}"),
                );
            }
        }
    }
}
