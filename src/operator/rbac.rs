//! The permissions the operator needs — exactly the calls it makes. The
//! chart's Role/ClusterRole must grant these and nothing more
//! (`tests/operator_rbac.rs`), and every request of the mocked API
//! scenarios must be one of them (`tests/operator_mock.rs`).

/// One RBAC rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Resources (with `/subresource`).
    pub resources: &'static [&'static str],
    /// Verbs.
    pub verbs: &'static [&'static str],
}

/// In every watched namespace (a ClusterRole when all are watched).
pub const BENCHMARK_RULES: &[Rule] = &[
    // Controller list+watch; the finalizer is a JSON patch.
    Rule {
        group: "aifbench.io",
        resources: &["benchmarks"],
        verbs: &["list", "watch", "patch"],
    },
    // Status by server-side apply.
    Rule {
        group: "aifbench.io",
        resources: &["benchmarks/status"],
        verbs: &["patch"],
    },
    // Children: listed, watched (owns), applied (server-side apply creates
    // with PATCH), stopped through a merge patch, deleted.
    Rule {
        group: "",
        resources: &["pods", "services"],
        verbs: &["list", "watch", "patch", "delete"],
    },
    Rule {
        group: "batch",
        resources: &["jobs"],
        verbs: &["list", "watch", "patch", "delete"],
    },
    Rule {
        group: "events.k8s.io",
        resources: &["events"],
        verbs: &["create"],
    },
];

/// Slurm credentials and the `results.s3` Secret (chart value
/// `slurm.readSecrets`).
pub const SECRET_RULES: &[Rule] = &[Rule {
    group: "",
    resources: &["secrets"],
    verbs: &["get"],
}];

/// Leader election, in the operator's own namespace.
pub const LEASE_RULES: &[Rule] = &[Rule {
    group: "coordination.k8s.io",
    resources: &["leases"],
    verbs: &["get", "create", "update"],
}];

/// The (group, resource, verb) a request needs, from its method, path and
/// query; None for paths that are not resource requests.
pub fn request_verb(method: &str, path: &str, query: &str) -> Option<(String, String, String)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", _v, rest @ ..] => ("", rest),
        ["apis", g, _v, rest @ ..] => (*g, rest),
        _ => return None,
    };
    let rest = match rest {
        ["namespaces", _ns, r @ ..] if !r.is_empty() => r,
        r => r,
    };
    let (resource, named) = match rest {
        [r] => (r.to_string(), false),
        [r, _name] => (r.to_string(), true),
        [r, _name, sub] => (format!("{r}/{sub}"), true),
        _ => return None,
    };
    let watch = query
        .split('&')
        .any(|q| q == "watch=true" || q == "watch=1");
    let verb = match (method, named) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    };
    Some((group.to_string(), resource, verb.to_string()))
}

/// Whether `rules` allow a (group, resource, verb).
pub fn allows(rules: &[Rule], group: &str, resource: &str, verb: &str) -> bool {
    rules
        .iter()
        .any(|r| r.group == group && r.resources.contains(&resource) && r.verbs.contains(&verb))
}

/// Every (group, resource, verb) the rules grant, sorted.
pub fn triples(rules: &[Rule]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = rules
        .iter()
        .flat_map(|r| {
            r.resources.iter().flat_map(move |res| {
                r.verbs
                    .iter()
                    .map(move |v| (r.group.to_string(), res.to_string(), v.to_string()))
            })
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_verbs() {
        let t = |m, p, q| request_verb(m, p, q).unwrap();
        assert_eq!(
            t(
                "PATCH",
                "/apis/aifbench.io/v1alpha1/namespaces/a/benchmarks/b/status",
                ""
            ),
            (
                "aifbench.io".into(),
                "benchmarks/status".into(),
                "patch".into()
            )
        );
        assert_eq!(
            t("GET", "/api/v1/namespaces/a/pods", "labelSelector=x"),
            ("".into(), "pods".into(), "list".into())
        );
        assert_eq!(
            t("GET", "/api/v1/pods", "watch=true"),
            ("".into(), "pods".into(), "watch".into())
        );
        assert_eq!(
            t("GET", "/api/v1/namespaces/a/secrets/s", ""),
            ("".into(), "secrets".into(), "get".into())
        );
        assert!(allows(BENCHMARK_RULES, "batch", "jobs", "delete"));
        assert!(!allows(BENCHMARK_RULES, "", "pods", "create"));
    }
}
