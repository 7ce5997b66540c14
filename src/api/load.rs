//! Reading a Benchmark file: YAML (or JSON) in, `${VAR}` expanded
//! ([`super::expand`]), checked strictly against the CRD schema
//! ([`super::schema_check`]: unknown fields, types, bounds), typed
//! `Benchmark` out — or every problem at once, each naming a field path:
//! when the schema check or typing fails, what parsed is still validated
//! ([`super::validate`]) so semantic problems come out in the same pass.
//!
//! Two formats are accepted: a Kubernetes `Benchmark` resource
//! (`apiVersion: aifbench.io/v1alpha1`, `kind: Benchmark`) and the seed
//! framework's recipe format (`meta`, `global`, `services`, ...), which is
//! converted on the fly (see [`super::seed`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use serde_path_to_error::Segment;

pub use super::error::{FieldError, LoadError};
pub use super::expand::expand_vars;
use super::schema_check;
use super::seed;
use super::spec::Benchmark;
use super::validate::validate;

/// Which format a file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// A `Benchmark` resource.
    Benchmark,
    /// The seed framework's recipe.
    SeedRecipe,
}

/// A parsed Benchmark, with the format it came in and any warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The resource, `${VAR}` references expanded.
    pub benchmark: Benchmark,
    /// The input format.
    pub format: SourceFormat,
    /// Non-fatal remarks (e.g. seed keys that were ignored).
    pub warnings: Vec<String>,
}

/// Reads and parses a file. `env` resolves `${VAR}` references.
pub fn load_file(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, LoadError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        source_name: name.clone(),
        errors: vec![FieldError::new("(file)", format!("cannot read: {e}"))],
    })?;
    load_str(&text, &name, env)
}

/// Parses a document. `env` resolves `${VAR}` references.
pub fn load_str(
    text: &str,
    source_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, LoadError> {
    let fail = |errors| LoadError {
        source_name: source_name.to_string(),
        errors,
    };
    if text.trim().is_empty() {
        return Err(fail(vec![FieldError::new(
            "(file)",
            "the file is empty; expected a Benchmark (apiVersion: aifbench.io/v1alpha1, kind: Benchmark, metadata, spec)",
        )]));
    }
    let raw: Value = serde_norway::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("line {}, column {}", l.line(), l.column()))
            .unwrap_or_else(|| "(file)".to_string());
        fail(vec![FieldError::new(at, format!("not valid YAML: {e}"))])
    })?;
    if !raw.is_object() {
        return Err(fail(vec![FieldError::new(
            "(file)",
            format!(
                "expected a mapping with apiVersion, kind, metadata and spec, found {}",
                type_name(&raw)
            ),
        )]));
    }

    let warnings = Vec::new();
    let (mut doc, format) = if seed::looks_like_seed(&raw) {
        let doc = seed::convert_checked(&raw).map_err(fail)?;
        (doc, SourceFormat::SeedRecipe)
    } else {
        (raw, SourceFormat::Benchmark)
    };

    let mut errors = Vec::new();
    check_header(&doc, &mut errors);
    let header_ok = errors.is_empty();
    let mut expanded = std::collections::BTreeSet::new();
    expand_value(&mut doc, "", env, &mut expanded, &mut errors);
    errors.extend(schema_check::check_expanded_document(
        &mut doc,
        &schema_check::spec_schema(),
        &expanded,
    ));
    // Without a header the document is no Benchmark to type.
    let benchmark = if header_ok {
        deserialize_repairing(&mut doc, &mut errors)
    } else {
        None
    };
    match benchmark {
        Some(benchmark) if errors.is_empty() => Ok(Loaded {
            benchmark,
            format,
            warnings,
        }),
        Some(benchmark) => {
            // Validate what parsed, so semantic problems come out with the
            // structural ones; those at a path already reported are echoes
            // of the repair.
            let more: Vec<FieldError> = validate(&benchmark)
                .into_iter()
                .filter(|e| !errors.iter().any(|r| covers(&r.path, &e.path)))
                .collect();
            errors.extend(more);
            Err(fail(errors))
        }
        None => Err(fail(errors)),
    }
}

/// Types the document; each value serde refuses is reported and removed,
/// and typing is tried again, so every type error comes out. `None` when
/// the document cannot be repaired that way.
fn deserialize_repairing(doc: &mut Value, errors: &mut Vec<FieldError>) -> Option<Benchmark> {
    for _ in 0..64 {
        let e = match serde_path_to_error::deserialize::<_, Benchmark>(&*doc) {
            Ok(b) => return Some(b),
            Err(e) => e,
        };
        let segments: Vec<Segment> = e.path().iter().cloned().collect();
        let path = e.path().to_string();
        let path = if path == "." {
            "(file)".to_string()
        } else {
            path
        };
        if !errors.iter().any(|r| r.path == path) {
            errors.push(FieldError::new(path, e.into_inner().to_string()));
        }
        if !remove_at(doc, &segments) {
            return None;
        }
    }
    None
}

/// Removes the value at a serde path; false when there is none.
fn remove_at(doc: &mut Value, segments: &[Segment]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut at = doc;
    for s in parents {
        let next = match (s, at) {
            (Segment::Map { key }, Value::Object(m)) => m.get_mut(key),
            (Segment::Seq { index }, Value::Array(a)) => a.get_mut(*index),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return false,
        }
    }
    match (last, at) {
        (Segment::Map { key }, Value::Object(m)) => m.remove(key).is_some(),
        (Segment::Seq { index }, Value::Array(a)) if *index < a.len() => {
            a.remove(*index);
            true
        }
        _ => false,
    }
}

/// True when a problem reported at `reported` already explains one found
/// at `path` (the same field, or inside it).
fn covers(reported: &str, path: &str) -> bool {
    path.strip_prefix(reported)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[', ' ']))
}

fn check_header(doc: &Value, errors: &mut Vec<FieldError>) {
    match doc.get("apiVersion").and_then(Value::as_str) {
        Some("aifbench.io/v1alpha1") => {}
        Some(other) => errors.push(FieldError::new(
            "apiVersion",
            format!("{other:?} is not supported; use \"aifbench.io/v1alpha1\""),
        )),
        None => errors.push(FieldError::new(
            "apiVersion",
            "missing; use \"aifbench.io/v1alpha1\"",
        )),
    }
    match doc.get("kind").and_then(Value::as_str) {
        Some("Benchmark") => {}
        Some(other) => errors.push(FieldError::new(
            "kind",
            format!("{other:?} is not supported; use \"Benchmark\""),
        )),
        None => errors.push(FieldError::new("kind", "missing; use \"Benchmark\"")),
    }
    if doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errors.push(FieldError::new(
            "metadata.name",
            "missing; every Benchmark needs a name (lowercase letters, digits, '-')",
        ));
    }
    if !doc.get("spec").is_some_and(Value::is_object) {
        errors.push(FieldError::new(
            "spec",
            "missing or not a mapping; it holds services, clients, monitors and execution",
        ));
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Expands `${VAR}` and `${VAR:-default}` in every string of the document;
/// `$$` is a literal `$`. Undefined variables without a default are errors
/// at the string's field path. The paths of strings a `${...}` reference
/// filled in go to `expanded` (they may stand for numbers or booleans).
fn expand_value(
    v: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    expanded: &mut std::collections::BTreeSet<String>,
    errors: &mut Vec<FieldError>,
) {
    match v {
        Value::String(s) => match expand_vars(s, env) {
            Ok(text) => {
                if s.contains("${") {
                    expanded.insert(path.to_string());
                }
                *s = text;
            }
            Err(message) => errors.push(FieldError::new(path, message)),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_value(item, &format!("{path}[{i}]"), env, expanded, errors);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                expand_value(item, &child, env, expanded, errors);
            }
        }
        _ => {}
    }
}

/// An environment lookup over the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// An environment lookup over a fixed map (tests, dry runs).
pub fn map_env(map: &BTreeMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| map.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_vars_defaults_and_dollars() {
        assert_eq!(expand_vars("${HOME}/r", &env).unwrap(), "/home/u/r");
        assert_eq!(expand_vars("${NOPE:-/tmp}/r", &env).unwrap(), "/tmp/r");
        assert_eq!(
            expand_vars("cost $$5 ${EMPTY}x", &env).unwrap(),
            "cost $5 x"
        );
        assert_eq!(expand_vars("$PATH stays", &env).unwrap(), "$PATH stays");
        let e = expand_vars("${A}${B}", &env).unwrap_err();
        assert!(e.contains("A, B"), "{e}");
        assert!(
            expand_vars("${HOME", &env)
                .unwrap_err()
                .contains("unterminated")
        );
    }

    const MINIMAL: &str = "apiVersion: aifbench.io/v1alpha1\nkind: Benchmark\nmetadata: {name: t}\nspec:\n  workspace: ${HOME}/results\n";

    #[test]
    fn loads_a_minimal_benchmark() {
        let l = load_str(MINIMAL, "t.yaml", &env).unwrap();
        assert_eq!(
            l.benchmark.spec.workspace.as_deref(),
            Some("/home/u/results")
        );
        assert_eq!(l.format, SourceFormat::Benchmark);
    }

    #[test]
    fn references_fill_numbers_and_booleans_but_only_where_they_stand() {
        let doc = |load: &str| {
            format!(
                "apiVersion: aifbench.io/v1alpha1\nkind: Benchmark\nmetadata: {{name: t}}\nspec:\n  services:\n    - id: s\n      command: [sim, \"${{HOME}}\", \"${{N:-8000}}\"]\n      ports: [{{name: http, port: 0}}]\n  clients:\n    - id: c\n      target: s\n      workload: {{type: openai}}\n      load:\n        duration: 5s\n{load}"
            )
        };
        let env = |name: &str| match name {
            "HOME" => Some("/home/u".to_string()),
            "CONC" => Some("6".to_string()),
            "BAD" => Some("six".to_string()),
            _ => None,
        };
        let ok = doc(
            "        concurrency: ${CONC}\n        stopAtSaturation: \"${FLAG:-false}\"\n        rate: \"${R:-2.5}\"\n        stages: [{concurrency: 1}, {concurrency: \"${CONC}\"}]\n",
        );
        let l = load_str(&ok, "t.yaml", &env).unwrap_or_else(|e| panic!("{e}"));
        let c = &l.benchmark.spec.clients[0];
        assert_eq!(c.load.concurrency, Some(6));
        assert!(!c.load.stop_at_saturation);
        assert_eq!(c.load.rate, Some(2.5));
        assert_eq!(c.load.stages[1].concurrency, Some(6));
        // A string field keeps the text, even when it spells a number.
        let cmd = l.benchmark.spec.services[0].command.clone();
        assert_eq!(cmd, ["sim", "/home/u", "8000"]);
        // A reference that spells no number is refused at its field.
        let e = load_str(&doc("        concurrency: ${BAD}\n"), "t.yaml", &env).unwrap_err();
        let err = e
            .errors
            .iter()
            .find(|e| e.path == "spec.clients[0].load.concurrency")
            .unwrap_or_else(|| panic!("{e}"));
        assert!(err.message.contains("\"six\""), "{err:?}");
        assert!(err.message.contains("whole number"), "{err:?}");
        // A quoted number without a reference is still the wrong type, as
        // the API server would say.
        assert!(load_str(&doc("        concurrency: \"6\"\n"), "t.yaml", &env).is_err());
    }

    #[test]
    fn empty_and_non_mapping_files_are_errors_not_panics() {
        for text in ["", "   \n", "- a\n- b\n", "42", "\"x\"", "null"] {
            let e = load_str(text, "x.yaml", &env).unwrap_err();
            assert_eq!(e.errors.len(), 1, "{text:?}");
        }
    }

    #[test]
    fn syntax_errors_carry_their_line() {
        let e = load_str("apiVersion: a\nkind: [\n", "x.yaml", &env).unwrap_err();
        assert!(e.errors[0].path.starts_with("line "), "{:?}", e.errors);
    }

    #[test]
    fn wrong_types_name_the_field_path() {
        let text = format!(
            "{MINIMAL}  clients:\n    - id: c\n      workload: {{type: openai}}\n      instances: lots\n"
        );
        let e = load_str(&text, "x.yaml", &env).unwrap_err();
        assert_eq!(
            e.errors[0].path, "spec.clients[0].instances",
            "{:?}",
            e.errors
        );
    }

    #[test]
    fn undefined_variables_are_reported_at_their_field() {
        let text = MINIMAL.replace("${HOME}", "${UNDEFINED_X}");
        let e = load_str(&text, "x.yaml", &env).unwrap_err();
        assert_eq!(e.errors[0].path, "spec.workspace");
        assert!(e.errors[0].message.contains("UNDEFINED_X"));
    }

    #[test]
    fn header_problems_are_reported_together() {
        let e = load_str("apiVersion: v1\nkind: Pod\nspec: 3\n", "x.yaml", &env).unwrap_err();
        let paths: Vec<_> = e.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["apiVersion", "kind", "metadata.name", "spec"]);
    }
}
