//! The command line without running benchmarks: crd, validate, import, help.

use std::path::Path;
use std::process::{Command, Output};

fn aifbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run aifbench")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn committed_crd_is_current() {
    let out = aifbench(&["crd"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/benchmark.yaml"))
            .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "crds/benchmark.yaml is stale: run `cargo run -- crd > crds/benchmark.yaml`"
    );
}

#[test]
fn crd_has_status_printer_columns_short_name_and_constraints() {
    let crd: serde_json::Value =
        serde_norway::from_str(&aifbench::api::crd_yaml().unwrap()).unwrap();
    assert_eq!(crd["spec"]["group"], "aifbench.io");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "bm");
    let v = &crd["spec"]["versions"][0];
    assert_eq!(v["name"], "v1alpha1");
    assert!(v["subresources"]["status"].is_object());
    let cols: Vec<&str> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for want in ["Phase", "Throughput", "P99", "Age"] {
        assert!(cols.contains(&want), "{cols:?}");
    }
    let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    let client = &spec["clients"]["items"];
    let required: Vec<&str> = client["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        required.contains(&"id") && required.contains(&"workload"),
        "{required:?}"
    );
    assert_eq!(
        client["properties"]["instances"]["minimum"].as_f64(),
        Some(1.0)
    );
    let executors = client["properties"]["executor"]["enum"].as_array().unwrap();
    assert_eq!(executors.len(), 4);
    assert_eq!(
        spec["execution"]["properties"]["duration"]["x-kubernetes-int-or-string"],
        true
    );
}

#[test]
fn every_recipe_validates() {
    let recipes: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .map(|p| p.display().to_string())
            .collect();
    assert!(recipes.len() >= 2);
    // The MeluXina recipes require their site's variables (no fake
    // defaults): give them, as a user there would.
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .arg("validate")
        .args(&recipes)
        .env("MELUXINA_ACCOUNT", "p200123")
        .env("S3_ENDPOINT", "https://s3.example.org")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run aifbench");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        recipes.len()
    );
}

#[test]
fn broken_files_fail_naming_every_field() {
    let out = aifbench(&["validate", "tests/fixtures/broken.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("spec.clients[1].target: \"simulator\" names no service"),
        "{err}"
    );
    assert!(
        err.contains("spec.monitors[0].id: id \"load\" is already used"),
        "{err}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");
}

#[test]
fn type_errors_empty_files_and_syntax_errors_are_reported_not_panics() {
    let out = aifbench(&["validate", "tests/fixtures/bad-type.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("spec.clients[0].load.concurrency"),
        "{}",
        stderr(&out)
    );

    let out = aifbench(&["validate", "tests/fixtures/empty.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the file is empty"),
        "{}",
        stderr(&out)
    );

    let out = aifbench(&["validate", "tests/fixtures/syntax-error.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 6"), "{}", stderr(&out));

    let out = aifbench(&["validate", "tests/fixtures/does-not-exist.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    // No panic anywhere.
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn run_refuses_an_invalid_file_with_exit_2() {
    let out = aifbench(&["run", "tests/fixtures/broken.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("spec.clients[1].target"));
}

#[test]
fn import_converts_a_seed_recipe() {
    let out = aifbench(&["import", "recipes/seed-format.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let b: serde_json::Value = serde_norway::from_slice(&out.stdout).unwrap();
    assert_eq!(b["apiVersion"], "aifbench.io/v1alpha1");
    assert_eq!(b["kind"], "Benchmark");
    assert_eq!(b["spec"]["clients"][0]["load"]["concurrency"], 2);
    assert_eq!(b["spec"]["execution"]["postActions"][0], "collectMetrics");
}

#[test]
fn dry_run_lists_expanded_instances() {
    let out = aifbench(&["run", "--dry-run", "recipes/quickstart.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("chat-1") && text.contains("chat-2"), "{text}");
}

#[test]
fn help_teaches() {
    let out = aifbench(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "run", "validate", "import", "crd", "sim", "loadgen", "scrape", "report", "Examples",
    ] {
        assert!(text.contains(word), "--help lacks {word}");
    }
}

#[test]
fn operator_refuses_a_token_lifespan_under_a_minute_naming_the_flag() {
    let out = aifbench(&["operator", "--slurm-token-lifespan", "30s"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("--slurm-token-lifespan"), "{err}");
    assert!(err.contains("60s or more"), "{err}");
    // A valid lifespan passes parsing: the operator then stops at the
    // missing cluster, not at the flag.
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args([
            "operator",
            "--slurm-token-lifespan",
            "2h",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("--slurm-token-lifespan"), "{err}");
    assert!(err.contains("Kubernetes client"), "{err}");
}

/// A site recipe refuses to load when a site variable is unset, naming it
/// and every field that needs it (no fake account or endpoint).
#[test]
fn unset_site_variables_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["validate", "recipes/meluxina-s3.yaml"])
        .env_remove("MELUXINA_ACCOUNT")
        .env_remove("S3_ENDPOINT")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run aifbench");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(
            "spec.clients[0].slurm.account: environment variable(s) MELUXINA_ACCOUNT not set"
        ),
        "{err}"
    );
    assert!(
        err.contains("spec.clients[0].endpoint: environment variable(s) S3_ENDPOINT not set"),
        "{err}"
    );
}
