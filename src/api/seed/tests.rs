//! The seed converter end to end: recipes in, Benchmarks (or errors at
//! seed paths) out.

use super::*;

const RECIPE: &str = r#"
meta: {name: "vLLM Bench", description: "opt-125m on A100"}
global: {workspace: /scratch/bench}
services:
  - id: vllm-server
    executor: {type: slurm, partition: gpu, gpus: 1, time: 3600, image: vllm.sif, nv: true}
    command: "vllm serve facebook/opt-125m --port 8000"
    ports: [8000]
    healthcheck: {url: "http://localhost:8000/health", timeout: 600, interval: 5}
clients:
  - name: loadgen
    instances: 2
    executor: {type: workload}
    target: vllm-server
    workload: {type: vllm-inference, model: facebook/opt-125m, threads: 4, max_tokens: 32, duration: 120, colour: blue}
monitors:
  - id: prom
    type: prometheus
    targets: ["localhost:8000"]
    interval: 5
loggers: [{id: main, format: JSON, level: INFO}]
execution: {duration: 120, post_actions: [collect_metrics, stop_services]}
"#;

#[test]
fn converts_every_section() {
    let doc: Value = serde_norway::from_str(RECIPE).unwrap();
    assert!(looks_like_seed(&doc));
    let mut warnings = Vec::new();
    let b = convert(&doc, &mut warnings).unwrap();
    assert_eq!(b["metadata"]["name"], "vllm-bench");
    let svc = &b["spec"]["services"][0];
    assert_eq!(svc["executor"], "slurm");
    assert_eq!(svc["slurm"]["partition"], "gpu");
    assert_eq!(svc["slurm"]["gpus"], "1");
    // Slurm reads a bare number as minutes.
    assert_eq!(svc["slurm"]["time"], "60h");
    assert_eq!(svc["apptainer"]["image"], "vllm.sif");
    assert_eq!(svc["shell"], "vllm serve facebook/opt-125m --port 8000");
    assert_eq!(svc["ports"][0]["port"], 8000);
    let cl = &b["spec"]["clients"][0];
    assert_eq!(cl["id"], "loadgen");
    assert_eq!(cl["executor"], "process");
    assert_eq!(cl["load"]["concurrency"], 4);
    assert_eq!(cl["workload"]["openai"]["maxTokens"], 32);
    assert_eq!(b["spec"]["loggers"][0]["format"], "json");
    assert_eq!(b["spec"]["execution"]["postActions"][0], "collect_metrics");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("colour"));
}

#[test]
fn seed_recipe_loads_as_a_typed_benchmark() {
    // A key the converter does not know is an error, with its seed path.
    let e = super::super::load::load_str(RECIPE, "seed.yaml", &|_| None).unwrap_err();
    assert_eq!(e.errors.len(), 1, "{e}");
    assert_eq!(e.errors[0].path, "clients[0].workload.colour");
    let recipe = RECIPE.replace(", colour: blue", "");
    let loaded = super::super::load::load_str(&recipe, "seed.yaml", &|_| None).unwrap();
    let spec = &loaded.benchmark.spec;
    assert_eq!(
        spec.services[0]
            .healthcheck
            .as_ref()
            .unwrap()
            .timeout
            .get()
            .as_secs(),
        600
    );
    assert_eq!(spec.clients[0].instances, 2);
    assert_eq!(spec.execution.post_actions.len(), 2);
}

#[test]
fn unknown_seed_keys_suggest_the_nearest() {
    let doc: Value = serde_norway::from_str(
        "meta: {name: x}\nclients:\n  - id: c\n    workload: {max_tokns: 3}\n    instnces: 2\n",
    )
    .unwrap();
    let e = convert_checked(&doc).unwrap_err();
    let text: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "clients[0].workload.max_tokns: unknown workload setting; did you mean `max_tokens`?",
            "clients[0].instnces: unknown client setting; did you mean `instances`?",
        ]
    );
}

#[test]
fn missing_name_is_an_error() {
    let doc: Value = serde_norway::from_str("meta: {}\nservices: []").unwrap();
    let e = convert(&doc, &mut Vec::new()).unwrap_err();
    assert_eq!(e[0].path, "meta.name");
}

#[test]
fn slurm_times_convert_and_bad_ones_are_refused_at_their_path() {
    let doc: Value = serde_norway::from_str(
        "meta: {name: x}\nservices:\n  - id: s\n    executor: {type: slurm, time: \"1-02:00:00\"}\n  - id: t\n    executor: {type: slurm, time: forever}\n",
    )
    .unwrap();
    let e = convert_checked(&doc).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].path, "services[1].executor.time");
    let doc: Value = serde_norway::from_str(
        "meta: {name: x}\nservices:\n  - id: s\n    executor: {type: slurm, time: \"1:30:00\"}\n",
    )
    .unwrap();
    let b = convert_checked(&doc).unwrap();
    assert_eq!(b["spec"]["services"][0]["slurm"]["time"], "1h30m");
}

#[test]
fn monitor_and_logger_settings_without_a_home_are_refused() {
    let doc: Value = serde_norway::from_str(
        "meta: {name: x}\nmonitors:\n  - {id: m, type: dcgm, targets: [a]}\nloggers:\n  - {id: l, type: file, file: /tmp/x.log}\n",
    )
    .unwrap();
    let e = convert(&doc, &mut Vec::new()).unwrap_err();
    let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["monitors[0].type", "loggers[0].file"]);
}

#[test]
fn an_s3_recipe_loads_with_its_bucket_size_and_credentials() {
    let recipe = "meta: {name: s3}\nclients:\n  - id: up\n    instances: 4\n    workload: {type: s3-upload, endpoint: \"http://127.0.0.1:3900\", bucket: bench, object_size: 1MiB, access_key: \"${KEY_ID}\", secret_key: \"${SECRET}\", threads: 2, duration: 10}\nexecution: {duration: 300}\n";
    let env = |k: &str| matches!(k, "KEY_ID" | "SECRET").then(|| "x".to_string());
    let loaded = super::super::load::load_str(recipe, "seed.yaml", &env).unwrap();
    let c = &loaded.benchmark.spec.clients[0];
    let s3 = c.workload.s3.as_ref().unwrap();
    assert_eq!(s3.bucket, "bench");
    assert_eq!(s3.object_size.size.get(), 1024 * 1024);
    assert_eq!(s3.access_key_id_env, "KEY_ID");
    assert_eq!(s3.secret_access_key_env, "SECRET");
    assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
}
