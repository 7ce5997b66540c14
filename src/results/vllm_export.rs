//! The rest of `vllm bench serve --save-result`'s key set in summary.json's
//! `total.vllm`: what the merged figures cannot know (the run's date, label,
//! backend, model), and, when clients recorded their requests
//! (`recordRequests`), the per-request arrays `--save-detailed` writes
//! (`input_lens`, `output_lens`, `ttfts`, `itls`, `latencies`,
//! `start_times`, `errors`, `generated_texts`), read from
//! `clients/<id>.requests.jsonl`. The figures themselves come from
//! `workload::result` (docs/metrics.md, "vLLM-compatible keys").

use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::ResultsDir;
use crate::api::spec::Benchmark;
use crate::api::workload::{OpenAiApi, WorkloadType};

/// Adds the run's own keys and, when recorded, the per-request arrays of
/// the instances `ids` to `vllm` (left alone when empty: not an LLM run).
pub fn complete(vllm: &mut BTreeMap<String, Value>, dir: &ResultsDir, label: &str, ids: &[&str]) {
    if vllm.is_empty() {
        return;
    }
    let spec = std::fs::read_to_string(dir.benchmark_yaml())
        .ok()
        .and_then(|t| serde_norway::from_str::<Benchmark>(&t).ok());
    let (backend, model) = spec.as_ref().map(backend_and_model).unwrap_or_default();
    let date = jiff::Zoned::now().strftime("%Y%m%d-%H%M%S").to_string();
    vllm.insert("date".into(), json!(date));
    vllm.insert("label".into(), json!(label));
    vllm.insert("backend".into(), json!(backend));
    vllm.insert("endpoint_type".into(), json!(backend));
    vllm.insert("model_id".into(), json!(model));
    vllm.insert("tokenizer_id".into(), json!(model));
    let mut lines = String::new();
    for id in ids {
        if let Ok(text) =
            std::fs::read_to_string(dir.clients().join(format!("{id}.requests.jsonl")))
        {
            lines.push_str(&text);
            lines.push('\n');
        }
    }
    if !lines.trim().is_empty() {
        vllm.extend(per_request_arrays(&lines));
    }
}

/// vLLM's backend name of the run's openai clients (`openai` for
/// completions, `openai-chat` for chat, `mixed` when they differ) and the
/// model they name (null when discovered from the server).
fn backend_and_model(b: &Benchmark) -> (Option<String>, Option<String>) {
    let openai: Vec<_> = b
        .spec
        .clients
        .iter()
        .filter(|c| c.workload.kind == WorkloadType::OpenAi)
        .map(|c| c.workload.openai.clone().unwrap_or_default())
        .collect();
    let name = |api: OpenAiApi| match api {
        OpenAiApi::Completions => "openai",
        OpenAiApi::Chat => "openai-chat",
    };
    let backend = openai.first().map(|o| {
        if openai.iter().all(|x| x.api == o.api) {
            name(o.api).to_string()
        } else {
            "mixed".to_string()
        }
    });
    let model = openai.first().and_then(|o| o.model.clone());
    let model = model.filter(|m| openai.iter().all(|o| o.model.as_ref() == Some(m)));
    (backend, model)
}

/// The per-request arrays of `--save-detailed` from request-log lines
/// (warm-up requests left out), in seconds as vLLM writes them; a failed
/// request has zero latencies and its error message. Texts are not kept:
/// `generated_texts` holds empty strings.
pub fn per_request_arrays(lines: &str) -> BTreeMap<String, Value> {
    let mut input = Vec::new();
    let mut output = Vec::new();
    let mut ttfts = Vec::new();
    let mut itls = Vec::new();
    let mut latencies = Vec::new();
    let mut starts = Vec::new();
    let mut errors = Vec::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["warmup"].as_bool() == Some(true) {
            continue;
        }
        let s = |key: &str| v[key].as_f64().map_or(0.0, |ms| ms / 1000.0);
        input.push(v["inputTokens"].as_u64().unwrap_or(0));
        output.push(v["outputTokens"].as_u64().unwrap_or(0));
        ttfts.push(s("ttftMs"));
        latencies.push(s("e2elMs"));
        starts.push(v["sentS"].as_f64().unwrap_or(0.0));
        let gaps: Vec<f64> = v["itlMs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_f64)
                    .map(|ms| ms / 1000.0)
                    .collect()
            })
            .unwrap_or_default();
        itls.push(gaps);
        errors.push(v["error"].as_str().unwrap_or("").to_string());
    }
    let texts = vec![""; input.len()];
    BTreeMap::from([
        ("input_lens".to_string(), json!(input)),
        ("output_lens".to_string(), json!(output)),
        ("ttfts".to_string(), json!(ttfts)),
        ("itls".to_string(), json!(itls)),
        ("latencies".to_string(), json!(latencies)),
        ("start_times".to_string(), json!(starts)),
        ("errors".to_string(), json!(errors)),
        ("generated_texts".to_string(), json!(texts)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_request_arrays_follow_vllms_detailed_result() {
        let lines = concat!(
            r#"{"index":0,"stage":0,"warmup":true,"sentS":0.0,"e2elMs":5.0,"inputTokens":3,"outputTokens":1}"#,
            "\n",
            r#"{"index":1,"stage":0,"warmup":false,"sentS":0.5,"ttftMs":20.0,"e2elMs":50.0,"inputTokens":7,"outputTokens":3,"itlMs":[10.0,20.0]}"#,
            "\n",
            r#"{"index":2,"stage":0,"warmup":false,"sentS":0.75,"error":"timeout: no answer"}"#,
            "\n",
        );
        let a = per_request_arrays(lines);
        assert_eq!(a["input_lens"], json!([7, 0]));
        assert_eq!(a["output_lens"], json!([3, 0]));
        assert_eq!(a["ttfts"], json!([0.02, 0.0]));
        assert_eq!(a["itls"], json!([[0.01, 0.02], []]));
        assert_eq!(a["latencies"], json!([0.05, 0.0]));
        assert_eq!(a["start_times"], json!([0.5, 0.75]));
        assert_eq!(a["errors"], json!(["", "timeout: no answer"]));
        assert_eq!(a["generated_texts"], json!(["", ""]));
    }
}
