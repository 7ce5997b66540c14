//! The recipe loader: YAML text → `${VAR}` expansion → schema check →
//! Benchmark → validate; a Benchmark that validates must build operator
//! children that the API server's rules accept.
#![no_main]

use aifbench::api::load::load_str;
use aifbench::api::validate::validate;
use aifbench::backend::pod::apiserver_rules::{check_job, check_pod, check_service};
use aifbench::operator::children;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "HOME").then(|| "/home/fuzz".to_string());
    let Ok(loaded) = load_str(text, "fuzz.yaml", &env) else {
        return;
    };
    let b = loaded.benchmark;
    if !validate(&b).is_empty() {
        return;
    }
    for s in &b.spec.services {
        if let Ok(pod) = children::service_pod(&b, 1, s, "run") {
            let v = check_pod(&pod);
            assert!(v.is_empty(), "service {} pod: {v:?}", s.id);
            if let Some(svc) = children::service_object(&b, 1, s) {
                let v = check_service(&svc);
                assert!(v.is_empty(), "service {} Service: {v:?}", s.id);
            }
        }
    }
    for c in &b.spec.clients {
        if let Ok(job) = children::client_job(&b, 1, c, "aifbench:dev", "run", None) {
            let v = check_job(&job);
            assert!(v.is_empty(), "client {} Job: {v:?}", c.id);
        }
    }
});
