//! The Kubernetes API server's own validation rules that matter for a run's
//! children (beyond the OpenAPI schema), and the restricted Pod Security
//! Standard — a pure checker of built objects, so a test can prove that
//! whatever `aifbench validate` accepts the API server accepts too.
//!
//! Rules (Kubernetes 1.33, `pkg/apis/core/validation`,
//! `pkg/apis/batch/validation`, `k8s.io/pod-security-admission`):
//! - names: Pods and Jobs DNS-1123 subdomains, Services DNS-1035 labels; a
//!   Job's name is a label value (`job-name`), and an Indexed Job's pods
//!   take the hostname `<job>-<index>`, a DNS-1123 label, for every index;
//! - labels: qualified keys, values of at most 63 characters; annotations
//!   at most 256 KiB in all;
//! - containers: DNS-1123 label names; port names IANA_SVC_NAME, unique in
//!   the pod; port numbers 1-65535, unique per container and protocol; env
//!   names `[-._a-zA-Z][-._a-zA-Z0-9]*`, each set once; volume mounts of
//!   declared volumes, relative sub-paths without `..`; a readiness probe
//!   with one handler, a port 1-65535, scheme HTTP or HTTPS;
//! - Services: ports named (DNS-1123 labels, unique) when more than one,
//!   numbers 1-65535 unique per protocol, target ports valid;
//! - Indexed Jobs: at most 100 000 completions and parallelism;
//! - restricted PSS: not privileged, `allowPrivilegeEscalation: false`,
//!   capabilities drop `ALL` (add at most `NET_BIND_SERVICE`),
//!   `runAsNonRoot: true` and no `runAsUser: 0`, seccomp `RuntimeDefault` or
//!   `Localhost`, no host network, PID or IPC, no host ports, only the
//!   volume types the profile allows (no hostPath).

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Container, Pod, PodSecurityContext, PodSpec, Probe, SecurityContext, Service, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The longest DNS-1123 label (and label value).
pub const MAX_LABEL: usize = 63;
/// The longest DNS-1123 subdomain.
pub const MAX_SUBDOMAIN: usize = 253;
/// The longest IANA service name (a container port's name).
pub const MAX_PORT_NAME: usize = 15;
/// The most bytes of all annotations of an object together.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;
/// The most completions (and parallelism) of an Indexed Job.
pub const MAX_INDEXED_COMPLETIONS: i32 = 100_000;

/// One rule an object breaks: where, and which rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The field path, e.g. `spec.containers[0].ports[1].name`.
    pub path: String,
    /// The rule, with the limit.
    pub rule: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.rule)
    }
}

#[derive(Default)]
struct Checker {
    out: Vec<Violation>,
}

impl Checker {
    fn bad(&mut self, path: impl Into<String>, rule: impl Into<String>) {
        self.out.push(Violation {
            path: path.into(),
            rule: rule.into(),
        });
    }
}

/// What the API server (with the restricted profile enforced) refuses in a Pod.
pub fn check_pod(pod: &Pod) -> Vec<Violation> {
    let mut c = Checker::default();
    c.meta(&pod.metadata, "metadata", NameRule::Subdomain);
    match &pod.spec {
        Some(spec) => c.pod_spec(spec, "spec"),
        None => c.bad("spec", "required"),
    }
    c.out
}

/// What the API server refuses in a Service.
pub fn check_service(svc: &Service) -> Vec<Violation> {
    let mut c = Checker::default();
    c.meta(&svc.metadata, "metadata", NameRule::Dns1035);
    let Some(spec) = &svc.spec else {
        c.bad("spec", "required");
        return c.out;
    };
    if let Some(sel) = &spec.selector {
        c.labels(sel, "spec.selector");
    }
    let ports = spec.ports.as_deref().unwrap_or_default();
    let mut names = BTreeSet::new();
    let mut numbers = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let at = format!("spec.ports[{i}]");
        match &p.name {
            Some(n) => {
                if let Some(why) = dns1123_label_problem(n) {
                    c.bad(format!("{at}.name"), why);
                }
                if !names.insert(n.clone()) {
                    c.bad(format!("{at}.name"), format!("duplicate port name {n:?}"));
                }
            }
            None if ports.len() > 1 => c.bad(
                format!("{at}.name"),
                "required when a Service has more than one port",
            ),
            None => {}
        }
        c.port_number(p.port, &format!("{at}.port"));
        let proto = p.protocol.clone().unwrap_or_else(|| "TCP".to_string());
        if !numbers.insert((p.port, proto)) {
            c.bad(format!("{at}.port"), format!("duplicate port {}", p.port));
        }
        if let Some(t) = &p.target_port {
            c.int_or_name(t, &format!("{at}.targetPort"));
        }
    }
    c.out
}

/// What the API server (with the restricted profile enforced) refuses in a
/// Job, its pod template and the pods its controller will create.
pub fn check_job(job: &Job) -> Vec<Violation> {
    let mut c = Checker::default();
    c.meta(&job.metadata, "metadata", NameRule::Subdomain);
    let name = job.metadata.name.clone().unwrap_or_default();
    if name.len() > MAX_LABEL {
        c.bad(
            "metadata.name",
            format!(
                "{} characters: the Job controller labels its pods job-name={name}, and a label value is at most {MAX_LABEL}",
                name.len()
            ),
        );
    }
    let Some(spec) = &job.spec else {
        c.bad("spec", "required");
        return c.out;
    };
    if spec.completion_mode.as_deref() == Some("Indexed") {
        let completions = spec.completions.unwrap_or(1);
        if !(1..=MAX_INDEXED_COMPLETIONS).contains(&completions) {
            c.bad(
                "spec.completions",
                format!("{completions}: an Indexed Job has 1 to {MAX_INDEXED_COMPLETIONS}"),
            );
        }
        if spec.parallelism.unwrap_or(1) > MAX_INDEXED_COMPLETIONS {
            c.bad(
                "spec.parallelism",
                format!("above {MAX_INDEXED_COMPLETIONS} for an Indexed Job"),
            );
        }
        let host = format!("{name}-{}", completions.saturating_sub(1).max(0));
        if let Some(why) = dns1123_label_problem(&host) {
            c.bad(
                "metadata.name",
                format!(
                    "the pod hostname {host:?} (<job>-<last index>) is not a DNS-1123 label: {why}"
                ),
            );
        }
    }
    if spec.backoff_limit.is_some_and(|b| b < 0) {
        c.bad("spec.backoffLimit", "must be at least 0");
    }
    let t = &spec.template;
    if let Some(m) = &t.metadata {
        if let Some(l) = &m.labels {
            c.labels(l, "spec.template.metadata.labels");
        }
        if let Some(a) = &m.annotations {
            c.annotations(a, "spec.template.metadata.annotations");
        }
    }
    match &t.spec {
        Some(s) => {
            if !matches!(s.restart_policy.as_deref(), Some("Never" | "OnFailure")) {
                c.bad(
                    "spec.template.spec.restartPolicy",
                    "a Job's pods restart Never or OnFailure",
                );
            }
            c.pod_spec(s, "spec.template.spec");
        }
        None => c.bad("spec.template.spec", "required"),
    }
    c.out
}

enum NameRule {
    Subdomain,
    Dns1035,
}

impl Checker {
    fn meta(&mut self, m: &ObjectMeta, at: &str, rule: NameRule) {
        match (&m.name, &m.generate_name) {
            (Some(n), _) => {
                let problem = match rule {
                    NameRule::Subdomain => dns1123_subdomain_problem(n),
                    NameRule::Dns1035 => dns1035_label_problem(n),
                };
                if let Some(why) = problem {
                    self.bad(format!("{at}.name"), why);
                }
            }
            (None, Some(_)) => {}
            (None, None) => self.bad(format!("{at}.name"), "name or generateName is required"),
        }
        if let Some(l) = &m.labels {
            self.labels(l, &format!("{at}.labels"));
        }
        if let Some(a) = &m.annotations {
            self.annotations(a, &format!("{at}.annotations"));
        }
    }

    fn labels(&mut self, labels: &std::collections::BTreeMap<String, String>, at: &str) {
        for (k, v) in labels {
            if let Some(why) = qualified_name_problem(k) {
                self.bad(format!("{at}[{k}]"), format!("key: {why}"));
            }
            if let Some(why) = label_value_problem(v) {
                self.bad(format!("{at}[{k}]"), format!("value {v:?}: {why}"));
            }
        }
    }

    fn annotations(&mut self, a: &std::collections::BTreeMap<String, String>, at: &str) {
        let total: usize = a.iter().map(|(k, v)| k.len() + v.len()).sum();
        if total > MAX_ANNOTATIONS_BYTES {
            self.bad(
                at,
                format!("{total} bytes, above the limit of {MAX_ANNOTATIONS_BYTES}"),
            );
        }
        for k in a.keys() {
            if let Some(why) = qualified_name_problem(k) {
                self.bad(format!("{at}[{k}]"), format!("key: {why}"));
            }
        }
    }

    fn port_number(&mut self, p: i32, at: &str) {
        if !(1..=65535).contains(&p) {
            self.bad(at, format!("{p} is not a port number 1-65535"));
        }
    }

    fn int_or_name(&mut self, p: &IntOrString, at: &str) {
        match p {
            IntOrString::Int(n) => self.port_number(*n, at),
            IntOrString::String(s) => {
                if let Some(why) = port_name_problem(s) {
                    self.bad(at, why);
                }
            }
        }
    }

    fn pod_spec(&mut self, s: &PodSpec, at: &str) {
        let volumes: Vec<&Volume> = s.volumes.iter().flatten().collect();
        let mut vnames = BTreeSet::new();
        for (i, v) in volumes.iter().enumerate() {
            let vat = format!("{at}.volumes[{i}]");
            if let Some(why) = dns1123_label_problem(&v.name) {
                self.bad(format!("{vat}.name"), why);
            }
            if !vnames.insert(v.name.as_str()) {
                self.bad(
                    format!("{vat}.name"),
                    format!("duplicate volume {:?}", v.name),
                );
            }
            if !restricted_volume_type(v) {
                self.bad(
                    vat,
                    "restricted Pod Security Standard: only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected and secret volumes",
                );
            }
        }
        if s.containers.is_empty() {
            self.bad(format!("{at}.containers"), "at least one container");
        }
        let mut port_names = BTreeSet::new();
        let mut container_names = BTreeSet::new();
        for (i, c) in s.containers.iter().enumerate() {
            let cat = format!("{at}.containers[{i}]");
            if !container_names.insert(c.name.as_str()) {
                self.bad(format!("{cat}.name"), "duplicate container name");
            }
            self.container(c, &cat, &vnames, &mut port_names);
            self.restricted_container(
                c.security_context.as_ref(),
                s.security_context.as_ref(),
                &cat,
            );
        }
        self.restricted_pod(s, at);
    }

    fn container(
        &mut self,
        c: &Container,
        at: &str,
        volumes: &BTreeSet<&str>,
        port_names: &mut BTreeSet<String>,
    ) {
        if let Some(why) = dns1123_label_problem(&c.name) {
            self.bad(format!("{at}.name"), why);
        }
        let mut numbers = BTreeSet::new();
        for (j, p) in c.ports.iter().flatten().enumerate() {
            let pat = format!("{at}.ports[{j}]");
            if let Some(n) = &p.name {
                if let Some(why) = port_name_problem(n) {
                    self.bad(format!("{pat}.name"), why);
                }
                if !port_names.insert(n.clone()) {
                    self.bad(
                        format!("{pat}.name"),
                        format!("duplicate port name {n:?} in the pod"),
                    );
                }
            }
            self.port_number(p.container_port, &format!("{pat}.containerPort"));
            let proto = p.protocol.clone().unwrap_or_else(|| "TCP".to_string());
            if !numbers.insert((p.container_port, proto)) {
                self.bad(
                    format!("{pat}.containerPort"),
                    format!("duplicate port {} in the container", p.container_port),
                );
            }
            if p.host_port.is_some_and(|h| h != 0) {
                self.bad(
                    format!("{pat}.hostPort"),
                    "restricted Pod Security Standard: no host ports",
                );
            }
        }
        let mut env_names = BTreeSet::new();
        for (j, e) in c.env.iter().flatten().enumerate() {
            let eat = format!("{at}.env[{j}].name");
            if let Some(why) = env_name_problem(&e.name) {
                self.bad(&eat, why);
            }
            if !env_names.insert(e.name.as_str()) {
                self.bad(eat, format!("{} is set twice; the later one wins", e.name));
            }
            if e.value.is_some() && e.value_from.is_some() {
                self.bad(
                    format!("{at}.env[{j}]"),
                    "value and valueFrom are exclusive",
                );
            }
        }
        let mut mounts = BTreeSet::new();
        for (j, m) in c.volume_mounts.iter().flatten().enumerate() {
            let mat = format!("{at}.volumeMounts[{j}]");
            if !volumes.contains(m.name.as_str()) {
                self.bad(
                    format!("{mat}.name"),
                    format!("no volume {:?} in the pod", m.name),
                );
            }
            if !mounts.insert(m.mount_path.as_str()) {
                self.bad(format!("{mat}.mountPath"), "mounted twice");
            }
            if let Some(sp) = &m.sub_path
                && (sp.starts_with('/') || sp.split('/').any(|p| p == ".."))
            {
                self.bad(format!("{mat}.subPath"), "a relative path without '..'");
            }
        }
        for (probe, name) in [
            (&c.readiness_probe, "readinessProbe"),
            (&c.liveness_probe, "livenessProbe"),
            (&c.startup_probe, "startupProbe"),
        ] {
            if let Some(p) = probe {
                self.probe(p, &format!("{at}.{name}"), name != "readinessProbe");
            }
        }
    }

    fn probe(&mut self, p: &Probe, at: &str, single_success: bool) {
        let handlers = usize::from(p.http_get.is_some())
            + usize::from(p.tcp_socket.is_some())
            + usize::from(p.exec.is_some())
            + usize::from(p.grpc.is_some());
        if handlers != 1 {
            self.bad(at, format!("exactly one handler, not {handlers}"));
        }
        if let Some(h) = &p.http_get {
            self.int_or_name(&h.port, &format!("{at}.httpGet.port"));
            if let Some(s) = &h.scheme
                && !matches!(s.as_str(), "HTTP" | "HTTPS")
            {
                self.bad(format!("{at}.httpGet.scheme"), "HTTP or HTTPS");
            }
        }
        for (v, name, min) in [
            (p.period_seconds, "periodSeconds", 1),
            (p.timeout_seconds, "timeoutSeconds", 1),
            (p.success_threshold, "successThreshold", 1),
            (p.failure_threshold, "failureThreshold", 1),
        ] {
            if v.is_some_and(|v| v < min) {
                self.bad(format!("{at}.{name}"), format!("at least {min}"));
            }
        }
        if single_success && p.success_threshold.is_some_and(|s| s != 1) {
            self.bad(format!("{at}.successThreshold"), "must be 1");
        }
    }

    fn restricted_pod(&mut self, s: &PodSpec, at: &str) {
        for (on, field) in [
            (s.host_network, "hostNetwork"),
            (s.host_pid, "hostPID"),
            (s.host_ipc, "hostIPC"),
        ] {
            if on == Some(true) {
                self.bad(
                    format!("{at}.{field}"),
                    "restricted Pod Security Standard: no host namespaces",
                );
            }
        }
    }

    fn restricted_container(
        &mut self,
        sc: Option<&SecurityContext>,
        pod: Option<&PodSecurityContext>,
        at: &str,
    ) {
        let pss = "restricted Pod Security Standard";
        let at = format!("{at}.securityContext");
        if sc.and_then(|s| s.privileged) == Some(true) {
            self.bad(format!("{at}.privileged"), format!("{pss}: not privileged"));
        }
        if sc.and_then(|s| s.allow_privilege_escalation) != Some(false) {
            self.bad(
                format!("{at}.allowPrivilegeEscalation"),
                format!("{pss}: must be false"),
            );
        }
        let caps = sc.and_then(|s| s.capabilities.as_ref());
        if !caps
            .and_then(|c| c.drop.as_ref())
            .is_some_and(|d| d.iter().any(|c| c == "ALL"))
        {
            self.bad(
                format!("{at}.capabilities.drop"),
                format!("{pss}: must drop ALL"),
            );
        }
        if caps
            .and_then(|c| c.add.as_ref())
            .is_some_and(|a| a.iter().any(|c| c != "NET_BIND_SERVICE"))
        {
            self.bad(
                format!("{at}.capabilities.add"),
                format!("{pss}: only NET_BIND_SERVICE may be added"),
            );
        }
        let non_root = sc
            .and_then(|s| s.run_as_non_root)
            .or_else(|| pod.and_then(|p| p.run_as_non_root));
        if non_root != Some(true) {
            self.bad(format!("{at}.runAsNonRoot"), format!("{pss}: must be true"));
        }
        if sc.and_then(|s| s.run_as_user) == Some(0) || pod.and_then(|p| p.run_as_user) == Some(0) {
            self.bad(format!("{at}.runAsUser"), format!("{pss}: not 0"));
        }
        let seccomp = sc
            .and_then(|s| s.seccomp_profile.as_ref())
            .or_else(|| pod.and_then(|p| p.seccomp_profile.as_ref()));
        if !seccomp.is_some_and(|p| matches!(p.type_.as_str(), "RuntimeDefault" | "Localhost")) {
            self.bad(
                format!("{at}.seccompProfile.type"),
                format!("{pss}: RuntimeDefault or Localhost"),
            );
        }
    }
}

fn restricted_volume_type(v: &Volume) -> bool {
    v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.persistent_volume_claim.is_some()
        || v.projected.is_some()
        || v.secret.is_some()
}

fn label_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Why `s` is not a DNS-1123 label (1-63 lowercase letters, digits, '-',
/// alphanumeric at both ends).
pub fn dns1123_label_problem(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > MAX_LABEL {
        return Some(format!(
            "{} characters; a DNS-1123 label has 1 to {MAX_LABEL}",
            s.len()
        ));
    }
    (!label_chars(s)).then(|| {
        format!("{s:?}: a DNS-1123 label is lowercase letters, digits and '-', alphanumeric at both ends")
    })
}

/// Why `s` is not a DNS-1035 label (a DNS-1123 label starting with a letter).
pub fn dns1035_label_problem(s: &str) -> Option<String> {
    dns1123_label_problem(s).or_else(|| {
        (!s.starts_with(|c: char| c.is_ascii_lowercase()))
            .then(|| format!("{s:?}: a DNS-1035 label starts with a letter"))
    })
}

/// Why `s` is not a DNS-1123 subdomain (at most 253 characters, DNS-1123
/// labels joined by '.').
pub fn dns1123_subdomain_problem(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > MAX_SUBDOMAIN {
        return Some(format!(
            "{} characters; a DNS-1123 subdomain has 1 to {MAX_SUBDOMAIN}",
            s.len()
        ));
    }
    s.split('.').find_map(|part| {
        (part.is_empty() || !label_chars(part)).then(|| {
            format!("{s:?}: a DNS-1123 subdomain is lowercase letters, digits, '-' and '.', alphanumeric at both ends")
        })
    })
}

/// Why `s` is not an IANA service name (RFC 6335: 1-15 lowercase letters,
/// digits and '-', at least one letter, no '-' at either end or twice in a
/// row), the rule of a container port's name.
pub fn port_name_problem(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > MAX_PORT_NAME {
        return Some(format!(
            "{s:?} is {} characters; an IANA service name has 1 to {MAX_PORT_NAME}",
            s.len()
        ));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some(format!("{s:?}: lowercase letters, digits and '-' only"));
    }
    if !s.chars().any(|c| c.is_ascii_lowercase()) {
        return Some(format!("{s:?}: at least one letter"));
    }
    if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
        return Some(format!("{s:?}: no '-' at either end or twice in a row"));
    }
    None
}

/// Why `s` is not an environment variable name as the API server checks it
/// (`[-._a-zA-Z][-._a-zA-Z0-9]*`).
pub fn env_name_problem(s: &str) -> Option<String> {
    let ok_first = |c: char| c.is_ascii_alphabetic() || matches!(c, '-' | '.' | '_');
    let mut chars = s.chars();
    let good =
        chars.next().is_some_and(ok_first) && chars.all(|c| ok_first(c) || c.is_ascii_digit());
    (!good).then(|| format!("{s:?}: an environment variable name is [-._a-zA-Z][-._a-zA-Z0-9]*"))
}

/// Why `s` is not a label value (at most 63 characters of alphanumerics,
/// '-', '_' and '.', alphanumeric at both ends; or empty).
pub fn label_value_problem(s: &str) -> Option<String> {
    if s.len() > MAX_LABEL {
        return Some(format!(
            "{} characters, above the limit of {MAX_LABEL}",
            s.len()
        ));
    }
    let good = s.is_empty()
        || (s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()));
    (!good).then(|| "alphanumerics, '-', '_' and '.', alphanumeric at both ends".to_string())
}

/// Why `s` is not a qualified name (`[prefix/]name`: a DNS-1123 subdomain
/// prefix, a name like a non-empty label value).
pub fn qualified_name_problem(s: &str) -> Option<String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix
        && let Some(why) = dns1123_subdomain_problem(p)
    {
        return Some(format!("prefix: {why}"));
    }
    if name.is_empty() {
        return Some("the name part is empty".to_string());
    }
    label_value_problem(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert_eq!(dns1123_label_problem("bm-g1-load-999"), None);
        assert!(dns1123_label_problem(&"a".repeat(64)).is_some());
        assert!(dns1123_label_problem("Bm").is_some());
        assert!(dns1123_label_problem("bm-").is_some());
        assert!(dns1035_label_problem("1bm").is_some());
        assert_eq!(dns1123_subdomain_problem("a.b-c"), None);
        assert!(dns1123_subdomain_problem("a..b").is_some());
        assert_eq!(qualified_name_problem("aifbench.io/role"), None);
        assert!(qualified_name_problem("Bad_Prefix/x").is_some());
        assert!(label_value_problem(&"x".repeat(64)).is_some());
        assert_eq!(label_value_problem(""), None);
    }

    #[test]
    fn port_and_env_rules() {
        for good in ["http", "metrics", "grpc-2"] {
            assert_eq!(port_name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "Metrics_Port",
            "http-",
            "a--b",
            "8080",
            "a-very-long-port-name",
        ] {
            assert!(port_name_problem(bad).is_some(), "{bad}");
        }
        for good in ["HF_HOME", "_x", "my.var", "-x"] {
            assert_eq!(env_name_problem(good), None, "{good}");
        }
        for bad in ["", "1A", "A B", "A=B"] {
            assert!(env_name_problem(bad).is_some(), "{bad}");
        }
    }
}
