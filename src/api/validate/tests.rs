//! Unit tests of validation: each concern, through `load_str` and
//! `validate`.

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

/// Every problem of a document: those `load_str` finds (it validates what
/// parsed when the schema check fails), else those of `validate`.
fn errors_of(text: &str) -> Vec<FieldError> {
    match load_str(text, "t.yaml", &|_| None) {
        Ok(l) => validate(&l.benchmark),
        Err(e) => e.errors,
    }
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
fn stop_at_saturation_needs_a_sweep() {
    let with = |load: &str| {
        GOOD.replace(
            "      workload: {type: openai}\n",
            &format!("      workload: {{type: openai}}\n      load: {load}\n"),
        )
    };
    let errs = errors_of(&with(
        "{duration: 5s, stopAtSaturation: true, stages: [{concurrency: 4}]}",
    ));
    let e = errs
        .iter()
        .find(|e| e.path == "spec.clients[0].load.stopAtSaturation")
        .unwrap_or_else(|| panic!("{errs:?}"));
    assert!(e.message.contains("two or more load.stages"), "{e:?}");
    assert!(e.message.contains("found 1"), "{e:?}");
    let ok = with(
        "{duration: 5s, stopAtSaturation: true, stages: [{concurrency: 1}, {concurrency: 4}]}",
    );
    assert!(errors_of(&ok).is_empty(), "{:?}", errors_of(&ok));
    // Only the openai workload applies it: elsewhere it would be ignored.
    let s3 = ok.replace("workload: {type: openai}", "workload: {type: s3}");
    let errs = errors_of(&s3);
    let e = errs
        .iter()
        .find(|e| e.path == "spec.clients[0].load.stopAtSaturation")
        .unwrap_or_else(|| panic!("{errs:?}"));
    assert!(e.message.contains("the s3 workload does not skip"), "{e:?}");
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

#[test]
fn a_trace_replay_is_checked_before_anything_runs() {
    let text = GOOD.replace(
        "      workload: {type: openai}\n",
        "      workload:\n        type: openai\n        openai:\n          trace: {path: \"\", speed: 0}\n",
    );
    let errs = errors_of(&text);
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "spec.clients[0].workload.openai.trace.path",
        "spec.clients[0].workload.openai.trace.speed",
    ] {
        assert!(paths.contains(&want), "{want} missing in {errs:?}");
    }
}

#[test]
fn server_token_counts_refuse_the_datasets_they_cannot_fit() {
    let with = |dataset: &str| {
        GOOD.replace(
            "      workload: {type: openai}\n",
            &format!("      workload: {{type: openai, openai: {{dataset: {dataset}}}}}\n"),
        )
    };
    assert!(errors_of(&with("{type: synthetic, tokenizer: server}")).is_empty());
    let errs = errors_of(&with(
        "{type: sharedPrefix, tokenizer: server, numPrompts: 4, sharedPrefix: {groups: 2, prefixTokens: 8}}",
    ));
    let e = errs
        .iter()
        .find(|e| e.path == "spec.clients[0].workload.openai.dataset.tokenizer")
        .unwrap_or_else(|| panic!("{errs:?}"));
    assert!(e.message.contains("sharedPrefix"), "{e:?}");
}
