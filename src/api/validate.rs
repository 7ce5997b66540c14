//! Checks beyond the schema: ids, references between components,
//! executor-specific settings, templates. Every problem is reported (not
//! just the first), each at its field path.

use std::collections::{BTreeMap, BTreeSet};

use super::load::FieldError;
use super::spec::{Benchmark, ExecutorKind, PortSpec, PostAction, ServiceSpec};
use super::template;
use super::workload::WorkloadType;

/// Validates a Benchmark; an empty list means it is valid.
pub fn validate(b: &Benchmark) -> Vec<FieldError> {
    let mut v = Validator::default();
    v.check(b);
    v.errors
}

#[derive(Default)]
struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    fn check(&mut self, b: &Benchmark) {
        let name = b.metadata.name.as_deref().unwrap_or_default();
        if !is_dns_label(name) {
            self.err(
                "metadata.name",
                format!("{name:?} is not a valid name: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit"),
            );
        }
        let spec = &b.spec;
        if spec.services.is_empty() && spec.clients.is_empty() {
            self.err(
                "spec",
                "nothing to run: add at least one entry under spec.services or spec.clients",
            );
        }

        let services: BTreeMap<&str, &ServiceSpec> =
            spec.services.iter().map(|s| (s.id.as_str(), s)).collect();
        self.check_ids(b);
        for (i, s) in spec.services.iter().enumerate() {
            self.check_service(s, &format!("spec.services[{i}]"), &services);
        }
        for (i, c) in spec.clients.iter().enumerate() {
            let at = format!("spec.clients[{i}]");
            self.check_executor(
                c.executor,
                c.apptainer.is_some(),
                c.pod.as_ref().map(|p| p.image.as_str()),
                &at,
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
            match c.workload.kind {
                WorkloadType::OpenAi => {}
                WorkloadType::S3 => {
                    let s3 = c.workload.s3.clone().unwrap_or_default();
                    for (field, message) in storage_problems::s3(&s3) {
                        self.err(format!("{at}.workload.s3.{field}"), message);
                    }
                }
                WorkloadType::Chroma => {
                    let chroma = c.workload.chroma.clone().unwrap_or_default();
                    for (field, message) in storage_problems::chroma(&chroma) {
                        self.err(format!("{at}.workload.chroma.{field}"), message);
                    }
                }
            }
            if c.load.concurrency == Some(0) {
                self.err(format!("{at}.load.concurrency"), "must be at least 1");
            }
            if let Some(r) = c.load.rate
                && !(r.is_finite() && r > 0.0)
            {
                self.err(
                    format!("{at}.load.rate"),
                    format!("{r} is not a positive request rate (requests/s)"),
                );
            }
            if c.load.duration.is_some_and(|d| d.get().is_zero()) {
                self.err(format!("{at}.load.duration"), "must be longer than 0s");
            }
            if c.load.max_requests == Some(0) {
                self.err(
                    format!("{at}.load.maxRequests"),
                    "must be at least 1 (or omitted)",
                );
            }
            if c.instances == 0 {
                self.err(format!("{at}.instances"), "must be at least 1");
            }
            self.check_load_extras(&c.load, &format!("{at}.load"));
            if let Some(o) = &c.workload.openai {
                self.check_openai(o, &format!("{at}.workload.openai"));
            }
            self.check_env_templates(&c.env, &format!("{at}.env"), &[], &services);
        }
        for (i, m) in spec.monitors.iter().enumerate() {
            let at = format!("spec.monitors[{i}]");
            if m.targets.is_empty() {
                self.err(
                    format!("{at}.targets"),
                    "empty: list service ids or host:port addresses to scrape",
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
        let ex = &spec.execution;
        let mut seen = BTreeSet::new();
        for (i, a) in ex.post_actions.iter().enumerate() {
            if !seen.insert(*a) {
                self.err(
                    format!("spec.execution.postActions[{i}]"),
                    format!("{} is listed twice", a.as_str()),
                );
            }
        }
        for (field, d) in [
            ("duration", ex.duration),
            ("runDeadline", ex.run_deadline),
            ("queueDeadline", ex.queue_deadline),
        ] {
            if d.is_some_and(|d| d.get().is_zero()) {
                self.err(
                    format!("spec.execution.{field}"),
                    "must be longer than 0s (or omitted)",
                );
            }
        }
        self.check_results(b);
        for (i, s) in spec.slo.iter().enumerate() {
            let at = format!("spec.slo[{i}]");
            match (s.metric, s.max, s.max_error_rate) {
                (Some(_), Some(_), None) | (None, None, Some(_)) => {}
                (Some(_), None, _) => self.err(
                    format!("{at}.max"),
                    "a latency objective needs max (e.g. 200ms)",
                ),
                (None, Some(_), _) => self.err(
                    format!("{at}.metric"),
                    "max needs a metric: ttft, itl, tpot or e2el",
                ),
                _ => self.err(at, "give either metric+max or maxErrorRate"),
            }
            if let Some(r) = s.max_error_rate
                && !(0.0..=1.0).contains(&r)
            {
                self.err(
                    format!("spec.slo[{i}].maxErrorRate"),
                    format!("{r} is not a fraction between 0 and 1"),
                );
            }
        }
    }

    fn check_results(&mut self, b: &Benchmark) {
        let spec = &b.spec;
        let s3 = spec.results.as_ref().and_then(|r| r.s3.as_ref());
        if let Some(i) = spec
            .execution
            .post_actions
            .iter()
            .position(|a| *a == PostAction::UploadResults)
            && s3.is_none()
        {
            self.err(
                format!("spec.execution.postActions[{i}]"),
                "uploadResults needs spec.results.s3 (bucket, endpoint, credentials)",
            );
        }
        let Some(s3) = s3 else {
            return;
        };
        let at = "spec.results.s3";
        if s3.bucket.is_empty() {
            self.err(
                format!("{at}.bucket"),
                "missing: name the bucket to upload to",
            );
        } else if !is_bucket_name(&s3.bucket) {
            self.err(
                format!("{at}.bucket"),
                format!("{:?} is not a valid bucket name: 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit", s3.bucket),
            );
        }
        if let Some(e) = &s3.endpoint {
            match reqwest::Url::parse(e) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                    if !u.username().is_empty() || u.password().is_some() {
                        self.err(
                            format!("{at}.endpoint"),
                            "must not contain credentials; use credentials.secretName, file or the environment",
                        );
                    }
                }
                Ok(_) => self.err(
                    format!("{at}.endpoint"),
                    format!("{e:?} is not an http:// or https:// URL with a host"),
                ),
                Err(err) => self.err(
                    format!("{at}.endpoint"),
                    format!("{e:?} is not a URL: {err}"),
                ),
            }
        }
        if s3.region.is_empty() {
            self.err(
                format!("{at}.region"),
                "must not be empty (e.g. us-east-1, garage)",
            );
        }
        let c = &s3.credentials;
        if c.secret_name.as_deref() == Some("") {
            self.err(format!("{at}.credentials.secretName"), "must not be empty");
        }
        if c.access_key_id_env.is_empty() || c.secret_access_key_env.is_empty() {
            self.err(
                format!("{at}.credentials"),
                "accessKeyIdEnv and secretAccessKeyEnv must not be empty",
            );
        }
        let pods = spec.clients.iter().any(|c| c.executor == ExecutorKind::Pod);
        if pods && c.secret_name.is_none() {
            self.err(
                format!("{at}.credentials.secretName"),
                "pod clients upload their results with the keys of a Secret: name it here (keys accessKeyId, secretAccessKey)",
            );
        }
    }

    fn check_ids(&mut self, b: &Benchmark) {
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

    fn check_service(
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

    fn check_load_extras(&mut self, load: &crate::api::workload::LoadSpec, at: &str) {
        use crate::api::workload::Arrival;
        if let Some(b) = load.burstiness {
            if !(b.is_finite() && b > 0.0) {
                self.err(
                    format!("{at}.burstiness"),
                    format!("{b} is not positive (1 = Poisson)"),
                );
            } else if load.arrival != Arrival::Gamma {
                self.err(
                    format!("{at}.burstiness"),
                    "only applies to arrival: gamma; set arrival: gamma or remove it",
                );
            }
        }
        if load.arrival != Arrival::Poisson
            && load.rate.is_none()
            && load.stages.iter().all(|s| s.rate.is_none())
        {
            self.err(
                format!("{at}.arrival"),
                "arrivals shape an open loop: also set rate (requests/s)",
            );
        }
        for (k, st) in load.stages.iter().enumerate() {
            let sat = format!("{at}.stages[{k}]");
            if st.concurrency == Some(0) {
                self.err(format!("{sat}.concurrency"), "must be at least 1");
            }
            if let Some(r) = st.rate
                && !(r.is_finite() && r > 0.0)
            {
                self.err(
                    format!("{sat}.rate"),
                    format!("{r} is not a positive request rate"),
                );
            }
            if st.duration.or(load.duration).is_none()
                && st.max_requests.or(load.max_requests).is_none()
            {
                self.err(
                    sat.clone(),
                    "needs a duration or maxRequests (here or in load), else it never ends",
                );
            }
        }
    }

    fn check_openai(&mut self, o: &crate::api::workload::OpenAiWorkload, at: &str) {
        use crate::api::workload::{DatasetType, LengthDist, LengthDistType};
        if o.max_tokens == 0 {
            self.err(format!("{at}.maxTokens"), "must be at least 1");
        }
        let check_len = |v: &mut Self, d: &LengthDist, at: String| {
            let problem = match d.kind {
                LengthDistType::Fixed if d.value.is_none_or(|x| x == 0) => {
                    Some("type fixed needs value >= 1".to_string())
                }
                LengthDistType::Uniform => match (d.min, d.max) {
                    (Some(lo), Some(hi)) if lo <= hi && hi > 0 => None,
                    (Some(lo), Some(hi)) => Some(format!("min {lo} must not exceed max {hi}")),
                    _ => Some("type uniform needs min and max".to_string()),
                },
                LengthDistType::Normal => match (d.mean, d.std) {
                    (Some(m), Some(sd)) if m.is_finite() && sd.is_finite() && sd >= 0.0 => None,
                    _ => Some("type normal needs mean and std >= 0".to_string()),
                },
                _ => None,
            };
            if let Some(p) = problem {
                v.err(at, p);
            }
        };
        if let Some(d) = &o.dataset {
            if d.num_prompts == 0 {
                self.err(format!("{at}.dataset.numPrompts"), "must be at least 1");
            }
            match d.kind {
                DatasetType::Synthetic => {
                    if d.path.is_some() {
                        self.err(
                            format!("{at}.dataset.path"),
                            "a synthetic dataset reads no file; set type: jsonl or sharegpt",
                        );
                    }
                }
                DatasetType::Jsonl | DatasetType::Sharegpt => {
                    if d.path.as_deref().is_none_or(|p| p.trim().is_empty()) {
                        self.err(
                            format!("{at}.dataset.path"),
                            "required for a jsonl or sharegpt dataset",
                        );
                    }
                    if d.input_tokens.is_some() {
                        self.err(
                            format!("{at}.dataset.inputTokens"),
                            "only for type synthetic; file prompts keep their length",
                        );
                    }
                }
            }
            if let Some(l) = &d.input_tokens {
                check_len(self, l, format!("{at}.dataset.inputTokens"));
            }
            if let Some(l) = &d.output_tokens {
                check_len(self, l, format!("{at}.dataset.outputTokens"));
            }
        }
        if let Some(g) = &o.goodput
            && g.ttft.is_none()
            && g.tpot.is_none()
            && g.e2el.is_none()
        {
            self.err(
                format!("{at}.goodput"),
                "give at least one of ttft, tpot, e2el",
            );
        }
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

/// S3 bucket naming rules (the portable subset).
fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn list<'a>(names: impl Iterator<Item = &'a &'a str>) -> String {
    let v: Vec<&str> = names.copied().collect();
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

fn port_names(ports: &[PortSpec]) -> String {
    if ports.is_empty() {
        "(none)".to_string()
    } else {
        ports
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::load::load_str;

    const GOOD: &str = r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {name: good}
spec:
  services:
    - id: sim
      command: [aifbench, sim, --port, "{{port}}"]
      ports: [{name: http, port: 0}]
      healthcheck: {path: /health}
  clients:
    - id: load
      instances: 2
      target: sim
      workload: {type: openai}
  monitors:
    - id: prom
      targets: [sim, "localhost:9100"]
"#;

    fn errors_of(text: &str) -> Vec<FieldError> {
        let b = load_str(text, "t.yaml", &|_| None).unwrap().benchmark;
        validate(&b)
    }

    #[test]
    fn load_and_dataset_extras_are_checked() {
        let text = GOOD.replace(
            "      workload: {type: openai}\n",
            "      workload:\n        type: openai\n        openai:\n          dataset: {type: sharegpt, inputTokens: {type: uniform, min: 9, max: 3}}\n          goodput: {}\n      load:\n        burstiness: 0.5\n        stages: [{rate: 5}, {rate: -1, duration: 10s}]\n",
        );
        let errs = errors_of(&text);
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        for want in [
            "spec.clients[0].workload.openai.dataset.path",
            "spec.clients[0].workload.openai.dataset.inputTokens",
            "spec.clients[0].workload.openai.goodput",
            "spec.clients[0].load.burstiness",
            "spec.clients[0].load.stages[0]",
            "spec.clients[0].load.stages[1].rate",
        ] {
            assert!(paths.contains(&want), "{want} missing in {errs:?}");
        }
        assert!(
            errs.iter()
                .any(|e| e.message.contains("min 9 must not exceed max 3")),
            "{errs:?}"
        );
    }

    #[test]
    fn results_s3_is_checked_with_field_paths() {
        let with = |s3: &str, post: &str| {
            format!("{GOOD}  results:\n    s3: {s3}\n  execution:\n    postActions: [{post}]\n")
        };
        // A good one: Garage on loopback, credentials from the environment.
        let good = with(
            "{bucket: aifbench, prefix: runs/, endpoint: \"http://127.0.0.1:3900\", region: garage}",
            "report, uploadResults",
        );
        assert_eq!(errors_of(&good), vec![]);
        let b = load_str(&good, "t.yaml", &|_| None).unwrap().benchmark;
        let s3 = b.spec.results.unwrap().s3.unwrap();
        assert!(s3.path_style(), "path-style by default with an endpoint");
        assert_eq!(s3.key_prefix(), "runs");
        assert_eq!(s3.credentials.access_key_id_env, "AWS_ACCESS_KEY_ID");

        // A missing bucket is a parse error at the field's path.
        let missing = with("{endpoint: \"http://127.0.0.1:3900\"}", "report");
        let err = load_str(&missing, "t.yaml", &|_| None).unwrap_err();
        assert!(
            err.to_string().contains("spec.results.s3") && err.to_string().contains("bucket"),
            "{err}"
        );
        for (s3, path, words) in [
            ("{bucket: \"\"}", "spec.results.s3.bucket", "missing"),
            (
                "{bucket: My_Bucket}",
                "spec.results.s3.bucket",
                "not a valid bucket name",
            ),
            (
                "{bucket: b42, endpoint: \"garage:3900\"}",
                "spec.results.s3.endpoint",
                "not an http",
            ),
            (
                "{bucket: b42, endpoint: \"http//nohost\"}",
                "spec.results.s3.endpoint",
                "not a URL",
            ),
            (
                "{bucket: b42, endpoint: \"http://key:secret@h:1\"}",
                "spec.results.s3.endpoint",
                "must not contain credentials",
            ),
            (
                "{bucket: b42, region: \"\"}",
                "spec.results.s3.region",
                "must not be empty",
            ),
        ] {
            let errs = errors_of(&with(s3, "report"));
            assert!(
                errs.iter()
                    .any(|e| e.path == path && e.message.contains(words)),
                "{s3}: want {path} ({words}) in {errs:?}"
            );
            assert!(
                !errs.iter().any(|e| e.message.contains("secret@")),
                "{errs:?}"
            );
        }
        // uploadResults without a bucket.
        let errs = errors_of(&format!(
            "{GOOD}  execution:\n    postActions: [report, uploadResults]\n"
        ));
        assert!(
            errs.iter()
                .any(|e| e.path == "spec.execution.postActions[1]"
                    && e.message.contains("spec.results.s3")),
            "{errs:?}"
        );
        // Pod clients need the Secret.
        let pods = with("{bucket: b42}", "report").replace(
            "      workload: {type: openai}\n",
            "      executor: pod\n      workload: {type: openai}\n",
        );
        let errs = errors_of(&pods);
        assert!(
            errs.iter()
                .any(|e| e.path == "spec.results.s3.credentials.secretName"),
            "{errs:?}"
        );
    }

    #[test]
    fn a_good_benchmark_has_no_errors() {
        assert_eq!(errors_of(GOOD), vec![]);
    }

    #[test]
    fn bad_references_are_all_reported_with_paths() {
        let text = GOOD
            .replace("target: sim", "target: simm")
            .replace("[sim, \"localhost:9100\"]", "[nosuch]")
            .replace("\"{{port}}\"", "\"{{ports.grpc}}\"");
        let errs = errors_of(&text);
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"spec.clients[0].target"), "{errs:?}");
        assert!(paths.contains(&"spec.monitors[0].targets[0]"), "{errs:?}");
        assert!(paths.contains(&"spec.services[0].command[3]"), "{errs:?}");
        let target = errs
            .iter()
            .find(|e| e.path == "spec.clients[0].target")
            .unwrap();
        assert!(target.message.contains("\"simm\"") && target.message.contains("sim"));
    }

    #[test]
    fn duplicate_ids_including_instances_collide() {
        let text = GOOD.replace("id: prom", "id: load-2");
        let errs = errors_of(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("already used"));
    }

    #[test]
    fn executor_specific_fields_are_required() {
        let text = GOOD.replace(
            "    - id: sim\n",
            "    - id: sim\n      executor: apptainer\n",
        );
        let errs = errors_of(&text);
        assert_eq!(errs[0].path, "spec.services[0].apptainer");
    }

    #[test]
    fn missing_command_and_bad_health_port() {
        let text = GOOD
            .replace("      command: [aifbench, sim, --port, \"{{port}}\"]\n", "")
            .replace("{path: /health}", "{path: /health, port: admin}");
        let paths: Vec<_> = errors_of(&text).into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "spec.services[0].command",
                "spec.services[0].healthcheck.port"
            ]
        );
    }

    #[test]
    fn storage_workloads_validate_their_settings() {
        let ok = GOOD.replace("{type: openai}", "{type: s3}");
        assert!(errors_of(&ok).is_empty());
        let ok = GOOD.replace("{type: openai}", "{type: chroma}");
        assert!(errors_of(&ok).is_empty());
        let bad = GOOD.replace(
            "{type: openai}",
            "{type: s3, s3: {bucket: '', objectSize: {distribution: uniform, min: 2KiB, max: 1KiB}}}",
        );
        let paths: Vec<_> = errors_of(&bad).into_iter().map(|e| e.path).collect();
        assert!(
            paths.contains(&"spec.clients[0].workload.s3.bucket".to_string()),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"spec.clients[0].workload.s3.objectSize".to_string()),
            "{paths:?}"
        );
        let bad = GOOD.replace(
            "{type: openai}",
            "{type: chroma, chroma: {dimension: 0, collection: x}}",
        );
        let paths: Vec<_> = errors_of(&bad).into_iter().map(|e| e.path).collect();
        assert!(
            paths.contains(&"spec.clients[0].workload.chroma.dimension".to_string()),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"spec.clients[0].workload.chroma.collection".to_string()),
            "{paths:?}"
        );
    }
}

/// Pure checks of the storage workloads' settings: `(field, message)` pairs.
mod storage_problems {
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
}
