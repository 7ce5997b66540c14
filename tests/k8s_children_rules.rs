//! Whatever `aifbench validate` accepts can be launched on Kubernetes: the
//! operator's children (service Pods and Services, client Indexed Jobs) of
//! Benchmarks with long names, many instances, odd port names, port 0 and
//! user environment pass the API server's own rules and the restricted Pod
//! Security Standard (`backend::pod::apiserver_rules`); what the API server
//! would refuse, validation refuses first, naming the field and the limit.

use aifbench::api::load::load_str;
use aifbench::api::spec::Benchmark;
use aifbench::api::validate::validate;
use aifbench::backend::pod::apiserver_rules::{Violation, check_job, check_pod, check_service};
use aifbench::operator::children;

/// A Benchmark named `name` with one pod service (ports, health check, env)
/// and one pod client (`instances`, env); `extra` is appended to the spec.
fn benchmark(name: &str, ports: &str, instances: u32, env: &str, health: &str) -> String {
    format!(
        r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {{name: {name}, namespace: bench, uid: u-1}}
spec:
  services:
    - id: llm-server
      executor: pod
      pod: {{image: "vllm/vllm-openai:v0.9"}}
      command: [serve, --port, "{{{{port}}}}"]
      ports: {ports}
      healthcheck: {health}
      env: {env}
  clients:
    - id: load-generator
      executor: pod
      pod: {{image: "aifbench:dev"}}
      instances: {instances}
      target: llm-server
      workload: {{type: openai}}
      load: {{concurrency: 1}}
      env: {env}
"#
    )
}

/// Loads and validates; the Benchmark, or every problem found.
fn accepted(yaml: &str) -> Result<Benchmark, Vec<String>> {
    let b = load_str(yaml, "t.yaml", &|_| None)
        .map_err(|e| e.errors.iter().map(|f| f.to_string()).collect::<Vec<_>>())?
        .benchmark;
    let errors = validate(&b);
    if errors.is_empty() {
        Ok(b)
    } else {
        Err(errors.iter().map(|f| f.to_string()).collect())
    }
}

/// Every child of `b` for a generation, checked; the violations by object.
fn violations(b: &Benchmark, generation: i64) -> Vec<String> {
    let folder = "run-20261204T030000Z";
    let mut out = Vec::new();
    let mut note = |kind: &str, v: Vec<Violation>| {
        out.extend(v.into_iter().map(|v| format!("{kind}: {v}")));
    };
    for s in &b.spec.services {
        let pod = children::service_pod(b, generation, s, folder).expect("service pod builds");
        note("Pod", check_pod(&pod));
        if let Some(svc) = children::service_object(b, generation, s) {
            note("Service", check_service(&svc));
        }
    }
    for c in &b.spec.clients {
        let job = children::client_job(b, generation, c, "aifbench:dev", folder, None)
            .expect("client job builds");
        note("Job", check_job(&job));
    }
    out
}

const HEALTH: &str = "{path: /health}";

#[test]
fn every_accepted_benchmark_builds_children_the_api_server_accepts() {
    // As long as validation allows with this client id and 1000 instances
    // (`<name>-<id>-<instances>` within 63): the children's names, which
    // add `-g<generation>`, are cut and hashed.
    let long = "a-benchmark-name-that-is-long-enough-to-cut";
    assert_eq!(long.len(), 43);
    let cases = [
        // The plain case.
        benchmark("bm", "[{name: http, port: 8000}]", 2, "{}", HEALTH),
        // Long names (every name is cut and hashed) and the most instances.
        benchmark(long, "[{name: http, port: 8000}]", 1000, "{}", HEALTH),
        benchmark(
            &"b".repeat(43),
            "[{name: http, port: 0}]",
            1000,
            "{HF_HOME: /cache}",
            HEALTH,
        ),
        // Port 0 next to explicit ports that take 8000 + its index.
        benchmark(
            "ports",
            "[{name: http, port: 0}, {name: metrics, port: 8000}, {name: grpc-2, port: 0}, {name: x, port: 8001}]",
            3,
            "{}",
            "{port: metrics, path: /metrics}",
        ),
        // The longest port name, env names with dots and underscores.
        benchmark(
            "names",
            "[{name: a-15-char-name1, port: 9000}]",
            10,
            "{_UNDER: x, MY_VAR_2: y}",
            HEALTH,
        ),
        // A health check URL with its own scheme, host and port.
        benchmark(
            "probe",
            "[{name: http, port: 8443}]",
            1,
            "{}",
            "{url: \"https://127.0.0.1:8443/v1/models?ready=1\"}",
        ),
    ];
    let mut checked = 0;
    for yaml in &cases {
        let b = accepted(yaml).unwrap_or_else(|e| panic!("validation refused:\n{e:#?}\n{yaml}"));
        for generation in [1, 7, 123_456_789] {
            let v = violations(&b, generation);
            assert!(
                v.is_empty(),
                "{} (generation {generation}):\n{}",
                b.metadata.name.as_deref().unwrap_or_default(),
                v.join("\n")
            );
            checked += 1;
        }
    }
    assert_eq!(checked, cases.len() * 3);
}

#[test]
fn what_the_api_server_would_refuse_validation_refuses_with_path_and_limit() {
    let big_prompt = benchmark("bm", "[{name: http, port: 8000}]", 1, "{}", HEALTH).replace(
        "workload: {type: openai}",
        &format!(
            "workload: {{type: openai, openai: {{prompt: {}}}}}",
            "x".repeat(300_000)
        ),
    );
    let cases: [(String, &str, &str); 12] = [
        (
            benchmark(
                "bm",
                "[{name: http, port: 8000}]",
                1,
                "{}",
                "{url: \"http://\"}",
            ),
            "spec.services[0].healthcheck.url",
            "readiness probe",
        ),
        (big_prompt, "spec.clients[0].workload", "256 KiB"),
        (
            benchmark(
                "bm",
                "[{name: http, port: 8000}]",
                1,
                "{}",
                "{url: \"http://h:0/x\"}",
            ),
            "spec.services[0].healthcheck.url",
            "1 to 65535",
        ),
        (
            benchmark(
                &"b".repeat(44),
                "[{name: http, port: 8000}]",
                1000,
                "{}",
                HEALTH,
            ),
            "spec.clients[0].id",
            "limit of 63",
        ),
        (
            benchmark("bm", "[{name: Metrics_Port, port: 8000}]", 1, "{}", HEALTH),
            "spec.services[0].ports[0].name",
            "lowercase",
        ),
        (
            benchmark("bm", "[{name: http-, port: 8000}]", 1, "{}", HEALTH),
            "spec.services[0].ports[0].name",
            "'-'",
        ),
        (
            benchmark(
                "bm",
                "[{name: a-very-long-port-name, port: 8000}]",
                1,
                "{}",
                HEALTH,
            ),
            "spec.services[0].ports[0].name",
            "15",
        ),
        (
            benchmark(
                "bm",
                "[{name: http, port: 8000}, {name: http, port: 8001}]",
                1,
                "{}",
                HEALTH,
            ),
            "spec.services[0].ports[1].name",
            "twice",
        ),
        (
            benchmark(
                "bm",
                "[{name: http, port: 8000}, {name: metrics, port: 8000}]",
                1,
                "{}",
                HEALTH,
            ),
            "spec.services[0].ports[1].port",
            "already used",
        ),
        (
            benchmark(
                "bm",
                "[{name: http, port: 8000}]",
                1,
                "{AIFB_INDEX: \"0\"}",
                HEALTH,
            ),
            "spec.clients[0].env.AIFB_INDEX",
            "reserved",
        ),
        (
            benchmark("bm", "[{name: http, port: 8000}]", 1, "{MY-VAR: x}", HEALTH),
            "spec.clients[0].env.MY-VAR",
            "environment variable name",
        ),
        (
            benchmark("bm", "[{name: http, port: 8000}]", 1001, "{}", HEALTH),
            "spec.clients[0].instances",
            "1000",
        ),
    ];
    for (yaml, path, words) in &cases {
        let errors = accepted(yaml).expect_err(yaml);
        assert!(
            errors.iter().any(|e| e.contains(path) && e.contains(words)),
            "expected {path} ({words}) among:\n{errors:#?}"
        );
    }
}

#[test]
fn the_children_carry_what_the_checks_rely_on() {
    let yaml = benchmark(
        &"b".repeat(43),
        "[{name: http, port: 8443}]",
        1000,
        "{}",
        "{url: \"https://10.1.2.3:9443/ready\"}",
    );
    let b = accepted(&yaml).expect("valid");
    let job = children::client_job(&b, 3, &b.spec.clients[0], "img", "f", None).unwrap();
    let name = job.metadata.name.clone().unwrap();
    assert!(format!("{name}-999").len() <= 63, "{name}");
    let pod = children::service_pod(&b, 3, &b.spec.services[0], "f").unwrap();
    let c = &pod.spec.as_ref().unwrap().containers[0];
    let sc = c
        .security_context
        .as_ref()
        .expect("service securityContext");
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    let get = c
        .readiness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
    assert_eq!(get.host.as_deref(), Some("10.1.2.3"));
    assert_eq!(
        get.port,
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(9443)
    );
    assert_eq!(get.path.as_deref(), Some("/ready"));
}

/// The control case: the checker refuses what the API server refuses.
#[test]
fn the_checker_refuses_a_bad_object() {
    let b = accepted(&benchmark(
        "bm",
        "[{name: http, port: 8000}]",
        10,
        "{}",
        HEALTH,
    ))
    .expect("valid");
    let mut pod = children::service_pod(&b, 1, &b.spec.services[0], "f").unwrap();
    {
        let spec = pod.spec.as_mut().unwrap();
        spec.host_network = Some(true);
        let c = &mut spec.containers[0];
        c.security_context = None;
        c.ports.as_mut().unwrap()[0].name = Some("Metrics_Port".into());
        c.env = Some(vec![k8s_openapi::api::core::v1::EnvVar {
            name: "1BAD".into(),
            value: Some("x".into()),
            ..Default::default()
        }]);
    }
    let v: Vec<String> = check_pod(&pod).iter().map(|v| v.to_string()).collect();
    for expected in [
        "spec.hostNetwork",
        "spec.containers[0].securityContext.runAsNonRoot",
        "spec.containers[0].securityContext.allowPrivilegeEscalation",
        "spec.containers[0].securityContext.capabilities.drop",
        "spec.containers[0].securityContext.seccompProfile.type",
        "spec.containers[0].ports[0].name",
        "spec.containers[0].env[0].name",
    ] {
        assert!(
            v.iter().any(|x| x.starts_with(expected)),
            "{expected} not in {v:#?}"
        );
    }
    // A Job whose name leaves no room for the last index.
    let mut job = children::client_job(&b, 1, &b.spec.clients[0], "img", "f", None).unwrap();
    job.metadata.name = Some("j".repeat(62));
    let v = check_job(&job);
    assert!(
        v.iter()
            .any(|x| x.path == "metadata.name" && x.rule.contains("hostname")),
        "{v:?}"
    );
    // A Service with two ports of the same number.
    let mut svc = children::service_object(&b, 1, &b.spec.services[0]).unwrap();
    let ports = svc.spec.as_mut().unwrap().ports.as_mut().unwrap();
    let mut second = ports[0].clone();
    second.name = Some("other".into());
    ports.push(second);
    let v = check_service(&svc);
    assert!(
        v.iter().any(|x| x.rule.contains("duplicate port 8000")),
        "{v:?}"
    );
}
