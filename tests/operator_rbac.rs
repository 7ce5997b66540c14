//! The chart grants exactly the permissions of `operator::rbac` — nothing
//! more, nothing less — in both of its shapes (ClusterRole for all
//! namespaces, Roles for a list), and the CRD in the chart is the
//! generated one.

use std::path::Path;

use aifbench::operator::rbac::{self, BENCHMARK_RULES, LEASE_RULES, SECRET_RULES};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChartRule {
    api_groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
}

#[derive(Deserialize)]
struct RoleDoc {
    rules: Vec<ChartRule>,
}

fn chart(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("charts/aifbench")
            .join(path),
    )
    .unwrap()
}

/// The rules of the role document that follows `marker`, template lines
/// (`{{ ... }}`) dropped — they only toggle the Secret rule, checked below.
fn rules_after(text: &str, marker: &str) -> Vec<(String, String, String)> {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not found"));
    let doc: String = text[start..]
        .lines()
        .skip(1)
        .take_while(|l| *l != "---")
        .filter(|l| !l.contains("{{"))
        .map(|l| format!("{l}\n"))
        .collect();
    let role: RoleDoc = serde_norway::from_str(&doc).unwrap_or_else(|e| panic!("{e}: {doc}"));
    let mut v = Vec::new();
    for r in role.rules {
        for g in &r.api_groups {
            for res in &r.resources {
                for verb in &r.verbs {
                    v.push((g.clone(), res.clone(), verb.clone()));
                }
            }
        }
    }
    v.sort();
    v.dedup();
    v
}

#[test]
fn chart_rbac_is_exactly_what_the_operator_calls() {
    let text = chart("templates/rbac.yaml");
    let want = rbac::triples(&[BENCHMARK_RULES, SECRET_RULES].concat());
    assert_eq!(
        rules_after(&text, "kind: ClusterRole\n"),
        want,
        "ClusterRole"
    );
    assert_eq!(
        rules_after(&text, "kind: Role\n"),
        want,
        "Role per namespace"
    );
    // The Secret rule is the only toggled one.
    let toggled: Vec<&str> = text.lines().filter(|l| l.contains("{{- if")).collect();
    assert!(
        toggled.iter().any(|l| l.contains("slurm.readSecrets")),
        "{toggled:?}"
    );
    let lease = chart("templates/leader-election.yaml");
    assert_eq!(
        rules_after(&lease, "kind: Role\n"),
        rbac::triples(LEASE_RULES),
        "lease Role"
    );
}

#[test]
fn chart_crd_is_the_generated_one() {
    assert_eq!(
        chart("crds/benchmark.yaml"),
        aifbench::api::crd_yaml().unwrap(),
        "charts/aifbench/crds/benchmark.yaml is stale: run `cargo run -- crd > charts/aifbench/crds/benchmark.yaml`"
    );
}

#[test]
fn kind_quickstart_is_valid_and_builds_children() {
    use aifbench::operator::children;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/kind-quickstart.yaml");
    let loaded = aifbench::api::load::load_file(&path, &|_| None).expect("loads");
    let mut b = loaded.benchmark;
    let errors = aifbench::api::validate::validate(&b);
    assert!(errors.is_empty(), "{errors:?}");
    b.metadata.uid = Some("u-1".into());
    let pod = children::service_pod(&b, 1, &b.spec.services[0], "kind-quickstart-x").expect("pod");
    let args = pod.spec.unwrap().containers[0].command.clone().unwrap();
    assert!(args.contains(&"8000".to_string()), "{args:?}");
    let job = children::client_job(
        &b,
        1,
        &b.spec.clients[0],
        "aifbench:dev",
        "kind-quickstart-x",
        None,
    )
    .expect("job");
    assert_eq!(job.spec.unwrap().completions, Some(2));
}
