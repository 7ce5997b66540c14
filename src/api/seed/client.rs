//! Seed clients converted: instances, executor, target, and the workload's
//! flat settings sorted into `load`, `errors`, the endpoint and the section
//! of the workload's type (`openai` for `vllm-inference`, `s3` for
//! `s3-upload`, `chroma`).
//!
//! Every setting lands somewhere or is refused with the reason at its seed
//! path: a setting of another workload type, an endpoint path that is not an
//! OpenAI-compatible API, a literal credential (it would be stored in the
//! resource), an object size that is not a size.

use serde_json::{Map, Value, json};

use super::{Notes, camel, convert_executor, take_id};
use crate::api::bytesize::parse_byte_size;

pub(super) const CLIENT_KEYS: [&str; 6] =
    ["id", "name", "instances", "executor", "target", "workload"];

const COMMON_KEYS: [&str; 17] = [
    "type",
    "concurrency",
    "threads",
    "workers",
    "duration",
    "warmup",
    "rate",
    "seed",
    "max_requests",
    "requests",
    "num_requests",
    "backoff",
    "error_backoff",
    "max_consecutive_errors",
    "max_errors",
    "url",
    "endpoint",
];
const OPENAI_KEYS: [&str; 10] = [
    "model",
    "stream",
    "max_tokens",
    "prompt",
    "temperature",
    "ignore_eos",
    "api",
    "api_key_env",
    "api_key_file",
    "request_timeout",
];
const S3_KEYS: [&str; 20] = [
    "bucket",
    "region",
    "path_style",
    "key_prefix",
    "prefix",
    "prefixes",
    "part_size",
    "object_size",
    "size",
    "operation",
    "access_key",
    "access_key_id",
    "secret_key",
    "secret_access_key",
    "access_key_env",
    "access_key_id_env",
    "secret_key_env",
    "secret_access_key_env",
    "credentials_file",
    "request_timeout",
];

/// The workload families a seed `workload.type` names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    OpenAi,
    S3,
    Chroma,
    /// Not a known type: the typed check names it; settings go nowhere.
    Unknown,
}

impl Family {
    fn of(kind: &str) -> Self {
        match kind {
            "openai" | "vllm-inference" => Self::OpenAi,
            "s3" | "s3-upload" => Self::S3,
            "chroma" => Self::Chroma,
            _ => Self::Unknown,
        }
    }

    fn section(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("openai"),
            Self::S3 => Some("s3"),
            Self::Chroma => Some("chroma"),
            Self::Unknown => None,
        }
    }
}

pub(super) fn convert_client(c: &Value, at: &str, notes: &mut Notes) -> Value {
    let Some(obj) = c.as_object() else {
        return c.clone();
    };
    let mut out = Map::new();
    out.insert("id".into(), take_id(obj));
    if let Some(n) = obj.get("instances") {
        out.insert("instances".into(), n.clone());
    }
    convert_executor(obj.get("executor"), &mut out, at, notes);
    if let Some(t) = obj.get("target") {
        out.insert("target".into(), t.clone());
    }
    let w = obj
        .get("workload")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let kind = w
        .get("type")
        .cloned()
        .unwrap_or_else(|| Value::String("openai".into()));
    let family = Family::of(kind.as_str().unwrap_or_default());
    let mut load = Map::new();
    let mut errors = Map::new();
    let mut section = Map::new();
    let mut path_api: Option<&'static str> = None;
    for (k, v) in &w {
        let here = format!("{at}.workload.{k}");
        match k.as_str() {
            "type" => {}
            "concurrency" | "threads" | "workers" => {
                load.insert("concurrency".into(), v.clone());
            }
            "duration" | "warmup" | "rate" | "seed" => {
                load.insert(k.clone(), v.clone());
            }
            "max_requests" | "requests" | "num_requests" => {
                load.insert("maxRequests".into(), v.clone());
            }
            "backoff" | "error_backoff" => {
                errors.insert("backoff".into(), v.clone());
            }
            "max_consecutive_errors" | "max_errors" => {
                errors.insert("maxConsecutive".into(), v.clone());
            }
            "url" | "endpoint" | "base_url" => {
                let Some(u) = v.as_str() else {
                    notes.refuse(here, "expected a URL");
                    continue;
                };
                if family == Family::OpenAi {
                    match openai_endpoint(u) {
                        Ok((base, api)) => {
                            out.insert("endpoint".into(), Value::String(base));
                            path_api = api;
                        }
                        Err(why) => notes.refuse(here, why),
                    }
                } else {
                    let base = u.trim_end_matches('/').to_string();
                    out.insert("endpoint".into(), Value::String(base));
                }
            }
            "request_timeout" if family != Family::Unknown => {
                section.insert("requestTimeout".into(), v.clone());
            }
            key if OPENAI_KEYS.contains(&key) && family == Family::OpenAi => {
                section.insert(camel(k), v.clone());
            }
            key if S3_KEYS.contains(&key) && family == Family::S3 => {
                if let Err(why) = s3_setting(key, v, &mut section) {
                    notes.refuse(here, why);
                }
            }
            key if OPENAI_KEYS.contains(&key) || S3_KEYS.contains(&key) => notes.refuse(
                here,
                format!(
                    "a setting of {} workloads, not of type {}",
                    if OPENAI_KEYS.contains(&key) {
                        "vllm-inference"
                    } else {
                        "s3-upload"
                    },
                    kind.as_str().unwrap_or("?")
                ),
            ),
            _ => {
                let known: Vec<&str> = COMMON_KEYS
                    .iter()
                    .chain(&OPENAI_KEYS)
                    .chain(&S3_KEYS)
                    .copied()
                    .collect();
                notes.unknown(here, "unknown workload setting", &known);
            }
        }
    }
    if let Some(api) = path_api {
        match section.get("api").and_then(Value::as_str) {
            Some(given) if given != api => notes.refuse(
                format!("{at}.workload.api"),
                format!("{given} contradicts the endpoint path, which calls the {api} API"),
            ),
            _ => {
                section.insert("api".into(), Value::String(api.into()));
            }
        }
    }
    let mut workload = Map::new();
    workload.insert("type".into(), kind);
    if let Some(name) = family.section()
        && !section.is_empty()
    {
        workload.insert(name.into(), Value::Object(section));
    }
    out.insert("workload".into(), Value::Object(workload));
    if !load.is_empty() {
        out.insert("load".into(), Value::Object(load));
    }
    if !errors.is_empty() {
        out.insert("errors".into(), Value::Object(errors));
    }
    for k in obj.keys() {
        if !CLIENT_KEYS.contains(&k.as_str()) {
            notes.unknown(format!("{at}.{k}"), "unknown client setting", &CLIENT_KEYS);
        }
    }
    Value::Object(out)
}

/// Splits an OpenAI-compatible URL into the base URL and the API its path
/// calls: `/v1/completions` the completions API, `/v1/chat/completions` the
/// chat API; a bare host or `/v1` leaves the API to `api` (default chat).
/// Any other path is refused: the workload only calls those two.
fn openai_endpoint(url: &str) -> Result<(String, Option<&'static str>), String> {
    let trimmed = url.trim().trim_end_matches('/');
    let (scheme, rest) = match trimmed.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("http", trimmed),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let api = match path {
        "" | "/v1" => None,
        "/v1/completions" => Some("completions"),
        "/v1/chat/completions" => Some("chat"),
        other => {
            return Err(format!(
                "path {other} is not an API the vllm-inference workload calls; use the server's \
                 base URL, /v1/completions or /v1/chat/completions"
            ));
        }
    };
    Ok((format!("{scheme}://{authority}"), api))
}

/// Maps one seed S3 setting into the `s3` section.
fn s3_setting(key: &str, v: &Value, s3: &mut Map<String, Value>) -> Result<(), String> {
    match key {
        "bucket" | "region" | "path_style" | "prefixes" | "part_size" | "credentials_file"
        | "key_prefix" => {
            s3.insert(camel(key), v.clone());
        }
        "prefix" => {
            s3.insert("keyPrefix".into(), v.clone());
        }
        "object_size" | "size" => {
            if let Some(text) = v.as_str()
                && !text.contains("${")
            {
                parse_byte_size(text).map_err(|e| format!("not an object size: {e}"))?;
            } else if !v.is_u64() && !v.is_string() {
                return Err("expected a size in bytes or with a unit (e.g. 1MiB)".into());
            }
            s3.insert("objectSize".into(), json!({ "size": v }));
        }
        "operation" => {
            let op = v.as_str().unwrap_or_default().to_ascii_lowercase();
            match op.as_str() {
                "upload" | "put" => {
                    s3.insert("operations".into(), json!([{ "op": "put", "weight": 1 }]));
                }
                "download" | "get" => {
                    s3.insert("operations".into(), json!([{ "op": "get", "weight": 1 }]));
                }
                "mixed" => {
                    s3.insert("preset".into(), json!("warpMixed"));
                }
                _ => return Err(format!("{v} is not upload, download or mixed")),
            }
        }
        "access_key" | "access_key_id" => {
            s3.insert("accessKeyIdEnv".into(), credential_env(v)?);
        }
        "secret_key" | "secret_access_key" => {
            s3.insert("secretAccessKeyEnv".into(), credential_env(v)?);
        }
        "access_key_env" | "access_key_id_env" => {
            s3.insert("accessKeyIdEnv".into(), v.clone());
        }
        "secret_key_env" | "secret_access_key_env" => {
            s3.insert("secretAccessKeyEnv".into(), v.clone());
        }
        _ => return Err("unknown s3-upload setting".into()),
    }
    Ok(())
}

/// A credential written as `${NAME}` becomes the name of the variable the
/// workload reads it from; a literal one is refused (a Benchmark never holds
/// secrets: they would be stored in the resource and its copies).
fn credential_env(v: &Value) -> Result<Value, String> {
    let name = v
        .as_str()
        .and_then(|s| s.strip_prefix("${"))
        .and_then(|s| s.strip_suffix('}'))
        .filter(|n| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !n.as_bytes()[0].is_ascii_digit()
        });
    match name {
        Some(n) => Ok(Value::String(n.to_string())),
        None => Err(
            "a literal credential is not carried into a Benchmark (it would be stored in the \
             resource); write ${VAR} naming an environment variable that holds it, or use \
             credentials_file"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(workload: Value) -> (Value, Notes) {
        let mut notes = Notes::default();
        let c = json!({"id": "c", "target": "s", "workload": workload});
        let out = convert_client(&c, "clients[0]", &mut notes);
        (out, notes)
    }

    fn refused(notes: &Notes) -> Vec<String> {
        notes.refused.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_endpoint_path_decides_the_api() {
        let (out, notes) =
            client(json!({"type": "vllm-inference", "url": "http://h:8000/v1/completions"}));
        assert!(notes.refused.is_empty());
        assert_eq!(out["endpoint"], "http://h:8000");
        assert_eq!(out["workload"]["openai"]["api"], "completions");
        let (out, _) =
            client(json!({"type": "vllm-inference", "url": "https://h/v1/chat/completions/"}));
        assert_eq!(out["endpoint"], "https://h");
        assert_eq!(out["workload"]["openai"]["api"], "chat");
        let (out, _) = client(json!({"type": "vllm-inference", "endpoint": "h:9000/v1"}));
        assert_eq!(out["endpoint"], "http://h:9000");
        assert!(out["workload"].get("openai").is_none(), "{out}");
    }

    #[test]
    fn other_paths_and_contradictions_are_refused() {
        let (_, notes) = client(json!({"type": "vllm-inference", "url": "http://h/v1/embeddings"}));
        let r = refused(&notes);
        assert_eq!(r.len(), 1);
        assert!(
            r[0].starts_with("clients[0].workload.url: path /v1/embeddings"),
            "{r:?}"
        );
        let (_, notes) = client(
            json!({"type": "vllm-inference", "url": "http://h/v1/completions", "api": "chat"}),
        );
        let r = refused(&notes);
        assert_eq!(
            r,
            [
                "clients[0].workload.api: chat contradicts the endpoint path, which calls the completions API"
            ]
        );
    }

    #[test]
    fn s3_upload_keeps_bucket_size_and_credentials() {
        let (out, notes) = client(json!({
            "type": "s3-upload",
            "endpoint": "http://minio:9000/",
            "bucket": "bench",
            "object_size": "4MiB",
            "region": "garage",
            "access_key": "${MINIO_USER}",
            "secret_key": "${MINIO_PASSWORD}",
            "operation": "upload",
            "threads": 8,
            "request_timeout": 30,
        }));
        assert!(notes.refused.is_empty() && notes.unknown.is_empty());
        assert_eq!(out["endpoint"], "http://minio:9000");
        assert_eq!(out["load"]["concurrency"], 8);
        let s3 = &out["workload"]["s3"];
        assert_eq!(s3["bucket"], "bench");
        assert_eq!(s3["objectSize"]["size"], "4MiB");
        assert_eq!(s3["region"], "garage");
        assert_eq!(s3["accessKeyIdEnv"], "MINIO_USER");
        assert_eq!(s3["secretAccessKeyEnv"], "MINIO_PASSWORD");
        assert_eq!(s3["operations"][0]["op"], "put");
        assert_eq!(s3["requestTimeout"], 30);
        assert!(out["workload"].get("openai").is_none());
    }

    #[test]
    fn s3_literal_credentials_bad_sizes_and_foreign_settings_are_refused() {
        let (_, notes) = client(json!({
            "type": "s3-upload",
            "access_key": "minioadmin",
            "object_size": "4 parsecs",
            "max_tokens": 16,
        }));
        let r = refused(&notes);
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(
            r[0].starts_with("clients[0].workload.access_key: a literal credential"),
            "{r:?}"
        );
        assert!(
            r[1].starts_with("clients[0].workload.max_tokens: a setting of vllm-inference"),
            "{r:?}"
        );
        assert!(
            r[2].starts_with("clients[0].workload.object_size: not an object size"),
            "{r:?}"
        );
        let (_, notes) = client(json!({"type": "vllm-inference", "bucket": "b"}));
        assert_eq!(
            refused(&notes),
            [
                "clients[0].workload.bucket: a setting of s3-upload workloads, not of type vllm-inference"
            ]
        );
    }
}
