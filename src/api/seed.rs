//! The seed framework's recipe format, converted into a `Benchmark`.
//!
//! A seed recipe looks like this (snake_case, executors as objects, numbers
//! of seconds — except `executor.time`, which the seed hands to `sbatch
//! --time` and so is Slurm's: minutes, `HH:MM:SS`, `D-HH:MM:SS`...):
//!
//! ```yaml
//! meta: {name: vllm-bench}
//! global: {workspace: ${SCRATCH}/bench}
//! services:
//!   - id: vllm-server
//!     executor: {type: slurm, partition: gpu, gpus: 1, time: 3600, image: vllm.sif}
//!     command: "vllm serve facebook/opt-125m --port 8000"
//!     ports: [8000]
//!     healthcheck: {url: "http://localhost:8000/health", timeout: 600, interval: 5}
//! clients:
//!   - id: vllm-loadgen
//!     instances: 2
//!     executor: {type: workload}
//!     target: vllm-server
//!     workload: {type: vllm-inference, model: facebook/opt-125m, threads: 4, max_tokens: 32}
//! monitors:
//!   - id: vllm-metrics
//!     targets: ["localhost:8000"]
//!     interval: 5
//! loggers: [{id: main, format: json, level: info}]
//! execution: {duration: 120, post_actions: [collect_metrics, stop_services]}
//! ```
//!
//! Conversion is syntactic: the result is then expanded, typed and validated
//! exactly like a hand-written Benchmark, so every error still names a
//! field — of the converted resource. Keys the converter does not know are
//! errors at their seed path, with the nearest known key ([`convert_checked`],
//! what `api::load` uses), never silently dropped; known keys whose value has
//! no faithful equivalent (a literal S3 credential, an endpoint path the
//! workload does not call, a non-Prometheus monitor, a logger's own file) are
//! refused with the reason, also at their seed path. Clients and their
//! workloads are in [`client`], Slurm time formats in [`slurm_time`].

use serde_json::{Map, Value, json};

use super::error::FieldError;
use super::suggest::did_you_mean;

mod client;
mod slurm_time;
#[cfg(test)]
mod tests;

use client::convert_client;

const SEED_TOP_KEYS: [&str; 7] = [
    "meta",
    "global",
    "services",
    "clients",
    "monitors",
    "loggers",
    "execution",
];

/// True when the document is a seed recipe rather than a Benchmark.
pub fn looks_like_seed(doc: &Value) -> bool {
    doc.get("apiVersion").is_none()
        && doc.get("kind").is_none()
        && (doc.get("meta").is_some() || doc.get("global").is_some())
}

/// Converts a seed recipe into a Benchmark document (still untyped).
pub fn convert(doc: &Value, warnings: &mut Vec<String>) -> Result<Value, Vec<FieldError>> {
    let mut notes = Notes::default();
    let out = convert_with(doc, &mut notes);
    warnings.extend(notes.unknown.iter().map(ToString::to_string));
    out
}

/// A seed recipe converted, with the keys it did not know.
#[derive(Debug, Clone, Default)]
pub struct Notes {
    /// Keys with no home in a Benchmark, each at its seed path with the
    /// nearest known key: errors to `api::load`.
    pub unknown: Vec<FieldError>,
    /// Known keys whose value cannot be carried over faithfully, each at its
    /// seed path with the reason: always errors.
    pub refused: Vec<FieldError>,
}

impl Notes {
    fn unknown(&mut self, path: String, what: &str, known: &[&str]) {
        let last = path.rsplit('.').next().unwrap_or(&path).to_string();
        self.unknown.push(FieldError::new(
            path,
            format!("{what}{}", did_you_mean(&last, known.iter().copied())),
        ));
    }

    fn refuse(&mut self, path: impl Into<String>, why: impl Into<String>) {
        self.refused.push(FieldError::new(path, why));
    }
}

/// Converts a seed recipe, every key it does not know an error (with the
/// nearest known key), together with any other conversion errors.
pub fn convert_checked(doc: &Value) -> Result<Value, Vec<FieldError>> {
    let mut notes = Notes::default();
    match convert_with(doc, &mut notes) {
        Ok(v) if notes.unknown.is_empty() => Ok(v),
        Ok(_) => Err(notes.unknown),
        Err(mut e) => {
            e.extend(notes.unknown);
            Err(e)
        }
    }
}

fn convert_with(doc: &Value, notes: &mut Notes) -> Result<Value, Vec<FieldError>> {
    let mut errors = Vec::new();
    let top = doc.as_object().cloned().unwrap_or_default();
    for k in top.keys() {
        if !SEED_TOP_KEYS.contains(&k.as_str()) {
            notes.unknown(k.clone(), "not a seed recipe section", &SEED_TOP_KEYS);
        }
    }
    let name = doc
        .pointer("/meta/name")
        .and_then(Value::as_str)
        .map(sanitize_name);
    let Some(name) = name else {
        return Err(vec![FieldError::new(
            "meta.name",
            "missing; a seed recipe needs meta.name",
        )]);
    };

    let mut spec = Map::new();
    if let Some(ws) = doc.pointer("/global/workspace") {
        spec.insert("workspace".into(), ws.clone());
    }
    if let Some(g) = doc.get("global").and_then(Value::as_object) {
        for k in g.keys().filter(|k| *k != "workspace") {
            notes.unknown(
                format!("global.{k}"),
                "no equivalent in a Benchmark",
                &["workspace"],
            );
        }
    }
    let services = list(doc, "services", &mut errors)
        .iter()
        .enumerate()
        .map(|(i, s)| convert_service(s, &format!("services[{i}]"), notes))
        .collect::<Vec<_>>();
    let clients = list(doc, "clients", &mut errors)
        .iter()
        .enumerate()
        .map(|(i, c)| convert_client(c, &format!("clients[{i}]"), notes))
        .collect::<Vec<_>>();
    let monitors = list(doc, "monitors", &mut errors)
        .iter()
        .enumerate()
        .map(|(i, m)| convert_monitor(m, i, notes))
        .collect::<Vec<_>>();
    let loggers = list(doc, "loggers", &mut errors)
        .iter()
        .enumerate()
        .map(|(i, l)| convert_logger(l, i, notes))
        .collect::<Vec<_>>();
    spec.insert("services".into(), Value::Array(services));
    spec.insert("clients".into(), Value::Array(clients));
    if !monitors.is_empty() {
        spec.insert("monitors".into(), Value::Array(monitors));
    }
    if !loggers.is_empty() {
        spec.insert("loggers".into(), Value::Array(loggers));
    }
    if let Some(ex) = doc.get("execution").and_then(Value::as_object) {
        spec.insert("execution".into(), convert_execution(ex, notes));
    }
    errors.append(&mut notes.refused);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut metadata = json!({ "name": name });
    if let Some(d) = doc.pointer("/meta/description").and_then(Value::as_str) {
        metadata["annotations"] = json!({ "aifbench.io/description": d });
    }
    Ok(json!({
        "apiVersion": "aifbench.io/v1alpha1",
        "kind": "Benchmark",
        "metadata": metadata,
        "spec": Value::Object(spec),
    }))
}

fn list<'a>(doc: &'a Value, key: &str, errors: &mut Vec<FieldError>) -> &'a [Value] {
    match doc.get(key) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(_) => {
            errors.push(FieldError::new(key, "must be a list"));
            &[]
        }
    }
}

/// Kubernetes names: lowercase alphanumerics and '-'.
fn sanitize_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}

/// Renames snake_case keys to camelCase.
fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn take_id(obj: &Map<String, Value>) -> Value {
    obj.get("id")
        .or_else(|| obj.get("name"))
        .cloned()
        .unwrap_or(Value::Null)
}

const SLURM_KEYS: [&str; 15] = [
    "partition",
    "account",
    "qos",
    "reservation",
    "nodes",
    "ntasks",
    "cpus_per_task",
    "gpus",
    "gres",
    "mem",
    "time",
    "constraint",
    "exclusive",
    "modules",
    "extra_directives",
];
const APPTAINER_KEYS: [&str; 5] = ["image", "nv", "binds", "args", "apptainer_env"];
const SERVICE_KEYS: [&str; 8] = [
    "id",
    "name",
    "executor",
    "command",
    "env",
    "ports",
    "port",
    "healthcheck",
];
/// Splits the seed's executor object into `executor` plus `slurm` /
/// `apptainer` sections.
fn convert_executor(v: Option<&Value>, out: &mut Map<String, Value>, at: &str, notes: &mut Notes) {
    let Some(v) = v else { return };
    let (kind, fields) = match v {
        Value::String(s) => (s.clone(), Map::new()),
        Value::Object(o) => (
            o.get("type")
                .and_then(Value::as_str)
                .unwrap_or("process")
                .to_string(),
            o.clone(),
        ),
        _ => {
            notes.unknown.push(FieldError::new(
                format!("{at}.executor"),
                "expected a string or mapping",
            ));
            return;
        }
    };
    let kind = match kind.as_str() {
        // The seed's in-process workload executor: clients are `aifbench
        // loadgen` processes here.
        "workload" => "process".to_string(),
        other => other.to_string(),
    };
    out.insert("executor".into(), Value::String(kind));
    let mut slurm = Map::new();
    let mut apptainer = Map::new();
    for (k, val) in &fields {
        if k == "type" {
            continue;
        }
        if SLURM_KEYS.contains(&k.as_str()) {
            let val = match (k.as_str(), val) {
                ("gpus", Value::Number(n)) => Value::String(n.to_string()),
                ("time", v) => match slurm_time::convert(v) {
                    Ok(v) => v,
                    Err(why) => {
                        notes.refuse(format!("{at}.executor.time"), why);
                        continue;
                    }
                },
                _ => val.clone(),
            };
            slurm.insert(camel(k), val);
        } else if APPTAINER_KEYS.contains(&k.as_str()) {
            let key = if k == "apptainer_env" {
                "env".to_string()
            } else {
                camel(k)
            };
            apptainer.insert(key, val.clone());
        } else {
            let known = ["type"].iter().chain(&SLURM_KEYS).chain(&APPTAINER_KEYS);
            notes.unknown(
                format!("{at}.executor.{k}"),
                "unknown executor setting",
                &known.copied().collect::<Vec<_>>(),
            );
        }
    }
    if !slurm.is_empty() {
        out.insert("slurm".into(), Value::Object(slurm));
    }
    if !apptainer.is_empty() {
        out.insert("apptainer".into(), Value::Object(apptainer));
    }
}

fn convert_service(s: &Value, at: &str, notes: &mut Notes) -> Value {
    let Some(obj) = s.as_object() else {
        return s.clone();
    };
    let mut out = Map::new();
    out.insert("id".into(), take_id(obj));
    convert_executor(obj.get("executor"), &mut out, at, notes);
    match obj.get("command") {
        Some(Value::String(cmd)) => {
            out.insert("shell".into(), Value::String(cmd.clone()));
        }
        Some(Value::Array(argv)) => {
            out.insert("command".into(), Value::Array(argv.clone()));
        }
        Some(Value::Object(c)) => {
            // {cmd|command: "...", args: [...]}: joined into one shell line.
            let base = c
                .get("cmd")
                .or_else(|| c.get("command"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let args: Vec<String> = c
                .get("args")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(scalar_to_string).collect())
                .unwrap_or_default();
            let line = std::iter::once(base)
                .chain(args)
                .collect::<Vec<_>>()
                .join(" ");
            out.insert("shell".into(), Value::String(line));
        }
        _ => {}
    }
    if let Some(env) = obj.get("env") {
        out.insert("env".into(), env.clone());
    }
    let ports: Vec<Value> = match (obj.get("ports"), obj.get("port")) {
        (Some(Value::Array(ps)), _) => ps
            .iter()
            .enumerate()
            .map(|(i, p)| match p {
                Value::Number(_) => {
                    json!({ "name": if i == 0 { "http".to_string() } else { format!("port{i}") }, "port": p })
                }
                other => other.clone(),
            })
            .collect(),
        (None, Some(p)) => vec![json!({ "name": "http", "port": p })],
        _ => Vec::new(),
    };
    if !ports.is_empty() {
        out.insert("ports".into(), Value::Array(ports));
    }
    if let Some(Value::Object(h)) = obj.get("healthcheck") {
        let mut hc = Map::new();
        for (k, v) in h {
            let key = match k.as_str() {
                "endpoint" => "url".to_string(),
                "retry_interval" => "interval".to_string(),
                other => camel(other),
            };
            hc.insert(key, v.clone());
        }
        out.insert("healthcheck".into(), Value::Object(hc));
    }
    for k in obj.keys() {
        if !SERVICE_KEYS.contains(&k.as_str()) {
            notes.unknown(
                format!("{at}.{k}"),
                "unknown service setting",
                &SERVICE_KEYS,
            );
        }
    }
    Value::Object(out)
}

fn scalar_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn convert_monitor(m: &Value, i: usize, notes: &mut Notes) -> Value {
    let Some(obj) = m.as_object() else {
        return m.clone();
    };
    let mut out = Map::new();
    out.insert("id".into(), take_id(obj));
    for (k, v) in obj {
        match k.as_str() {
            "id" | "name" => {}
            "type" => {
                if v.as_str().map(str::to_ascii_lowercase).as_deref() != Some("prometheus") {
                    notes.refuse(
                        format!("monitors[{i}].type"),
                        format!("{v}: a Benchmark's monitors scrape Prometheus endpoints only"),
                    );
                }
            }
            "targets" | "interval" | "timeout" | "path" => {
                out.insert(k.clone(), v.clone());
            }
            _ => notes.unknown(
                format!("monitors[{i}].{k}"),
                "unknown monitor setting",
                &[
                    "id", "name", "type", "targets", "interval", "timeout", "path",
                ],
            ),
        }
    }
    Value::Object(out)
}

fn convert_logger(l: &Value, i: usize, notes: &mut Notes) -> Value {
    let Some(obj) = l.as_object() else {
        return l.clone();
    };
    let mut out = Map::new();
    out.insert("id".into(), take_id(obj));
    for (k, v) in obj {
        match k.as_str() {
            "id" | "name" => {}
            "type" => {
                if v.as_str().map(str::to_ascii_lowercase).as_deref() != Some("file") {
                    notes.refuse(
                        format!("loggers[{i}].type"),
                        format!("{v}: a Benchmark's loggers write files only"),
                    );
                }
            }
            "file" | "path" => notes.refuse(
                format!("loggers[{i}].{k}"),
                "a Benchmark names each log file after its logger id, in the run directory; \
                 remove it (or rename the logger)",
            ),
            "format" | "level" => {
                let lowered = v
                    .as_str()
                    .map(|s| Value::String(s.to_ascii_lowercase()))
                    .unwrap_or_else(|| v.clone());
                out.insert(k.clone(), lowered);
            }
            _ => notes.unknown(
                format!("loggers[{i}].{k}"),
                "unknown logger setting",
                &["id", "name", "type", "file", "path", "format", "level"],
            ),
        }
    }
    Value::Object(out)
}

fn convert_execution(ex: &Map<String, Value>, notes: &mut Notes) -> Value {
    let mut out = Map::new();
    for (k, v) in ex {
        match k.as_str() {
            "duration" | "queue_deadline" | "run_deadline" | "stop_grace_period" => {
                out.insert(camel(k), v.clone());
            }
            "post_actions" => {
                out.insert("postActions".into(), v.clone());
            }
            _ => notes.unknown(
                format!("execution.{k}"),
                "unknown execution setting",
                &[
                    "duration",
                    "queue_deadline",
                    "run_deadline",
                    "stop_grace_period",
                    "post_actions",
                ],
            ),
        }
    }
    Value::Object(out)
}
