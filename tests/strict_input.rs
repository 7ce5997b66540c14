//! Strict input: `aifbench validate` refuses every unknown field, type
//! mistake and out-of-bounds size with its path, several problems at once;
//! shipped recipes expand fully; the CRD keeps unknown fields out.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn aifbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run aifbench")
}

/// A valid Benchmark; each case replaces one line of it.
const BASE: &str = "apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {name: strict}
spec:
  services:
    - id: sim
      command: [aifbench, sim, --port, \"{{port}}\"]
      ports: [{name: http, port: 0}]
  clients:
    - id: load
      instances: 2
      target: sim
      workload: {type: openai, openai: {maxTokens: 8}}
      load: {concurrency: 2, maxRequests: 10}
  execution: {duration: 30s}
";

/// Runs `aifbench validate` on `text`; returns (success, stderr).
fn validate(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.yaml");
    std::fs::write(&path, text).unwrap();
    let out = aifbench(&["validate", path.to_str().unwrap()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_base_is_valid() {
    let (ok, err) = validate(BASE);
    assert!(ok, "{err}");
}

#[test]
fn every_mistake_is_refused_with_its_path() {
    // (line of BASE, replacement, expected "path: message" fragment)
    let cases: &[(&str, &str, &str)] = &[
        // Unknown fields, with the nearest known name.
        (
            "  services:",
            "  servces: []\n  services:",
            "spec.servces: unknown field; did you mean `services`?",
        ),
        (
            "{maxTokens: 8}",
            "{maxTokns: 8}",
            "spec.clients[0].workload.openai.maxTokns: unknown field; did you mean `maxTokens`?",
        ),
        (
            "{concurrency: 2, maxRequests: 10}",
            "{concurency: 2, maxRequests: 10}",
            "spec.clients[0].load.concurency: unknown field; did you mean `concurrency`?",
        ),
        (
            "{duration: 30s}",
            "{duraton: 30s}",
            "spec.execution.duraton: unknown field; did you mean `duration`?",
        ),
        (
            "{name: strict}",
            "{name: strict, lables: {}}",
            "metadata.lables: unknown field; did you mean `labels`?",
        ),
        (
            "[{name: http, port: 0}]",
            "[{name: http, prot: 0}]",
            "spec.services[0].ports[0].prot: unknown field; did you mean `port`?",
        ),
        // Types and enums.
        (
            "instances: 2",
            "instances: two",
            "spec.clients[0].instances: invalid type: a string, expected a whole number",
        ),
        (
            "{type: openai,",
            "{type: opnai,",
            "spec.clients[0].workload.type: \"opnai\" is not one of",
        ),
        (
            "{concurrency: 2, maxRequests: 10}",
            "{concurrency: 2, maxRequests: 10, arrival: poison, rate: 1}",
            "did you mean `poisson`?",
        ),
        (
            "{duration: 30s}",
            "{duration: 30 parsecs}",
            "spec.execution.duration",
        ),
        // Bounds, with the limit named.
        (
            "instances: 2",
            "instances: 1000000000",
            "spec.clients[0].instances: 1000000000 is above the limit of 1000",
        ),
        (
            "{concurrency: 2, maxRequests: 10}",
            "{concurrency: 200000, maxRequests: 10}",
            "spec.clients[0].load.concurrency: 200000 is above the limit of 100000",
        ),
        (
            "{concurrency: 2, maxRequests: 10}",
            "{rate: 5000000, maxRequests: 10}",
            "spec.clients[0].load.rate: 5000000 is above the limit of 1000000",
        ),
        (
            "{concurrency: 2, maxRequests: 10}",
            "{maxRequests: 5000000000}",
            "spec.clients[0].load.maxRequests: 5000000000 is above the limit of 1000000000",
        ),
        (
            "instances: 2",
            "instances: 0",
            "spec.clients[0].instances: 0 is below the minimum of 1",
        ),
        // Kubernetes' rules.
        (
            "[{name: http, port: 0}]",
            "[{name: Metrics_Port, port: 0}]",
            "spec.services[0].ports[0].name: \"Metrics_Port\" is not a valid port name",
        ),
        (
            "[{name: http, port: 0}]",
            "[{name: http-, port: 0}]",
            "spec.services[0].ports[0].name: \"http-\" is not a valid port name",
        ),
        (
            "[{name: http, port: 0}]",
            "[{name: http, port: 80}, {name: web, port: 80}]",
            "spec.services[0].ports[1].port: port 80 is already used",
        ),
        (
            "      target: sim",
            "      target: sim\n      env: {AIFB_INDEX: \"7\"}",
            "spec.clients[0].env.AIFB_INDEX: AIFB_INDEX is reserved",
        ),
        (
            "      target: sim",
            "      target: sim\n      env: {MY-VAR: x}",
            "spec.clients[0].env.MY-VAR: \"MY-VAR\" is not a valid environment variable name",
        ),
        (
            "{name: strict}\n",
            "{name: strict-benchmark-with-a-rather-long-name-for-kubernetes-xy}\n",
            "spec.clients[0].id: the object name \"strict-benchmark-with-a-rather-long-name-for-kubernetes-xy-load-2\" (benchmark name, id and instance index) is 65 characters, above Kubernetes' limit of 63",
        ),
    ];
    for (from, to, want) in cases {
        assert!(BASE.contains(from), "{from}");
        let (ok, err) = validate(&BASE.replacen(from, to, 1));
        assert!(!ok, "{to}: accepted");
        assert!(err.contains(want), "{to}: want {want:?} in\n{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn several_problems_come_out_together() {
    let text = BASE
        .replace("{maxTokens: 8}", "{maxTokns: 8}")
        .replace("instances: 2", "instances: lots")
        .replace("target: sim", "target: simm")
        .replace("{concurrency: 2,", "{concurrency: 999999999,")
        .replace("  execution:", "  sevices: []\n  execution:");
    let (ok, err) = validate(&text);
    assert!(!ok);
    for want in [
        "spec.clients[0].workload.openai.maxTokns: unknown field",
        "spec.clients[0].instances: invalid type",
        "spec.clients[0].load.concurrency: 999999999 is above the limit of 100000",
        "spec.sevices: unknown field; did you mean `services`?",
        // The semantic error still comes out beside the structural ones.
        "spec.clients[0].target: \"simm\" names no service",
    ] {
        assert!(err.contains(want), "want {want:?} in\n{err}");
    }
    assert!(err.contains("5 problem(s)"), "{err}");
}

#[test]
fn a_missing_required_field_hides_no_other_error() {
    let text = BASE
        .replace("    - id: load\n", "    - instances: 2\n")
        .replacen("      instances: 2\n", "", 1)
        .replace("target: sim", "target: nowhere");
    let (ok, err) = validate(&text);
    assert!(!ok);
    assert!(err.contains("spec.clients[0].id: missing"), "{err}");
    assert!(err.contains("spec.clients[0].target: \"nowhere\""), "{err}");
}

#[test]
fn seed_recipes_refuse_unknown_keys() {
    let text = "meta: {name: s}\nservices:\n  - id: sim\n    command: \"aifbench sim --port 18080\"\n    ports: [18080]\nclients:\n  - id: c\n    target: sim\n    workload: {type: vllm-inference, max_tokns: 4}\n";
    let (ok, err) = validate(text);
    assert!(!ok);
    assert!(
        err.contains(
            "clients[0].workload.max_tokns: unknown workload setting; did you mean `max_tokens`?"
        ),
        "{err}"
    );
}

/// A fixed environment for the recipes: every variable they reference
/// unset but these.
fn fake_env() -> BTreeMap<String, String> {
    [
        ("HOME", "/home/test"),
        ("MELUXINA_ACCOUNT", "p201234"),
        ("S3_ENDPOINT", "https://s3.test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn shipped_recipes_expand_fully_and_validate() {
    let env = fake_env();
    let lookup = aifbench::api::load::map_env(&env);
    let mut seen = 0;
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        seen += 1;
        let loaded = aifbench::api::load::load_file(&path, &lookup)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let text = serde_norway::to_string(&loaded.benchmark).unwrap();
        assert!(
            !text.contains("${"),
            "{}: a literal ${{ survives:\n{text}",
            path.display()
        );
        let errors = aifbench::api::validate::validate(&loaded.benchmark);
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    assert!(seen >= 2);
    // The nested default of meluxina-vllm picks the account up.
    let vllm = aifbench::api::load::load_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/meluxina-vllm.yaml"),
        &lookup,
    )
    .unwrap();
    let text = serde_norway::to_string(&vllm.benchmark).unwrap();
    assert!(text.contains("/project/home/p201234/hf-cache"), "{text}");
}

#[test]
fn the_crd_preserves_no_unknown_fields_and_publishes_the_limits() {
    let crd: serde_json::Value =
        serde_norway::from_str(&aifbench::api::crd_yaml().unwrap()).unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert!(
        !schema["properties"]["spec"]
            .to_string()
            .contains("x-kubernetes-preserve-unknown-fields"),
        "spec must be fully structural"
    );
    let client = &schema["properties"]["spec"]["properties"]["clients"]["items"]["properties"];
    assert_eq!(client["instances"]["maximum"].as_f64(), Some(1000.0));
    assert_eq!(
        client["load"]["properties"]["concurrency"]["maximum"].as_f64(),
        Some(100_000.0)
    );
    assert_eq!(client["load"]["properties"]["stages"]["maxItems"], 100);
    assert!(
        client["instances"]["description"]
            .as_str()
            .unwrap()
            .contains("1000")
    );
}
