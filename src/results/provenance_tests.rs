use super::*;

#[test]
fn this_build_names_a_commit() {
    let p = Provenance::of_this_build();
    assert_eq!(p.aifbench_version, env!("CARGO_PKG_VERSION"));
    assert!(
        p.build_commit == "unknown"
            || (p.build_commit.len() == 40
                && p.build_commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{}",
        p.build_commit
    );
    assert_eq!(p.resolved_benchmark, RESOLVED_BENCHMARK);
}

#[test]
fn reads_version_and_models() {
    assert_eq!(
        parse_version(r#"{"version":"0.6.3"}"#).as_deref(),
        Some("0.6.3")
    );
    assert_eq!(parse_version("not json"), None);
    assert_eq!(parse_version(r#"{"v":"1"}"#), None);
    assert_eq!(
        parse_models(r#"{"object":"list","data":[{"id":"a"},{"id":"b"}]}"#),
        Some(vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(parse_models(r#"{"detail":"Not Found"}"#), None);
}

#[test]
fn reads_slurm_versions() {
    assert_eq!(
        parse_slurm_version("slurm 23.11.4\n").as_deref(),
        Some("23.11.4")
    );
    assert_eq!(
        parse_slurm_version("slurm-wlm 22.05.8").as_deref(),
        Some("22.05.8")
    );
    assert_eq!(parse_slurm_version("command not found"), None);
    assert_eq!(parse_slurm_version(""), None);
}

#[test]
fn reads_the_gpus_of_nvidia_smi() {
    let csv = "NVIDIA H100 80GB HBM3, 550.54.15\nNVIDIA H100 80GB HBM3, 550.54.15\n";
    let banner = "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |";
    let g = parse_gpus(csv, Some(banner)).expect("gpus");
    assert_eq!(g.count, 2);
    assert_eq!(g.models, vec!["NVIDIA H100 80GB HBM3".to_string()]);
    assert_eq!(g.driver_version.as_deref(), Some("550.54.15"));
    assert_eq!(g.cuda_version.as_deref(), Some("12.4"));
    assert_eq!(parse_gpus("", None), None);
    assert_eq!(parse_gpus(csv, None).and_then(|g| g.cuda_version), None);
}

fn benchmark(yaml: &str) -> Benchmark {
    serde_norway::from_str(yaml).expect("benchmark")
}

#[test]
fn the_resolved_benchmark_carries_references_not_secrets() {
    let b = benchmark(
        r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {name: r}
spec:
  services:
    - id: llm
      command: [vllm, serve, --api-key, hunter2-secret-value, --price, "$5"]
      env: {HF_TOKEN: hf_abcdefgh, MODEL: m}
  clients: []
"#,
    );
    let env: BTreeMap<String, String> =
        [("MY_API_KEY".to_string(), "hunter2-secret-value".to_string())]
            .into_iter()
            .collect();
    let text = resolved_benchmark(&b, &env).expect("yaml");
    assert!(!text.contains("hf_abcdefgh"), "{text}");
    assert!(!text.contains("hunter2-secret-value"), "{text}");
    assert!(text.contains("${HF_TOKEN}"), "{text}");
    assert!(text.contains("$$5"), "{text}");
    // Loading it again (with the secret in the environment) gives back
    // the Benchmark that ran, but for what was redacted in arguments.
    let lookup = |k: &str| (k == "HF_TOKEN").then(|| "hf_abcdefgh".to_string());
    let loaded = crate::api::load::load_str(&text, RESOLVED_BENCHMARK, &lookup).expect("loads");
    let svc = &loaded.benchmark.spec.services[0];
    assert_eq!(
        svc.env.get("HF_TOKEN").map(String::as_str),
        Some("hf_abcdefgh")
    );
    assert_eq!(svc.env.get("MODEL").map(String::as_str), Some("m"));
    assert!(svc.command.contains(&"$5".to_string()), "{:?}", svc.command);
}

#[test]
fn the_report_section_names_build_servers_and_jobs() {
    let p = Provenance {
        servers: vec![ServerInfo {
            id: "sim".into(),
            url: "http://127.0.0.1:1".into(),
            version: Some("aifbench-sim 0.1.0".into()),
            models: Some(vec!["sim-model".into()]),
        }],
        slurm: Some(SlurmInfo {
            version: Some("23.11.4".into()),
            jobs: vec![SlurmJob {
                component: "sim".into(),
                job_id: Some("42".into()),
                node: Some("n1".into()),
                partition: Some("gpu".into()),
            }],
        }),
        ..Provenance::of_this_build()
    };
    let md = markdown(&p);
    assert!(md.contains("## Provenance"), "{md}");
    assert!(md.contains(BUILD_COMMIT), "{md}");
    assert!(
        md.contains("| sim | aifbench-sim 0.1.0 | sim-model |"),
        "{md}"
    );
    assert!(md.contains("Slurm 23.11.4"), "{md}");
    assert!(md.contains("| sim | 42 | n1 | gpu |"), "{md}");
    let s = p.summary();
    assert_eq!(s.servers[0].models, vec!["sim-model".to_string()]);
}
