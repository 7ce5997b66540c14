//! `{{...}}` templates in commands and environment, filled in at launch
//! with values only known then (picked ports, discovered endpoints).
//!
//! | template | value |
//! |---|---|
//! | `{{port}}` | the component's first port |
//! | `{{ports.NAME}}` | the component's port NAME |
//! | `{{services.ID.url}}` | base URL of service ID (`http://host:port`) |
//! | `{{services.ID.host}}`, `{{services.ID.port}}` | its host and port |
//! | `{{resultsDir}}` | the run's results folder |
//! | `{{id}}` | the component's id |
//!
//! `${VAR}` (environment, expanded when the file is loaded) is a different
//! mechanism; see `load.rs`.

use std::collections::BTreeMap;

/// A template that cannot be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without `}}`.
    #[error("unterminated '{{{{' in {0:?}")]
    Unterminated(String),
    /// A reference with no value.
    #[error("unknown template {{{{{name}}}}}; known: {known}")]
    Unknown {
        /// The reference as written.
        name: String,
        /// What is available here.
        known: String,
    },
}

/// The run-wide values a template may name: `resultsDir` and, for each
/// service whose endpoint is known, `services.<id>.host`, `.port` and
/// `.url`. One shape for every driver; each fills it from where it placed
/// the services (a local port, a Kubernetes Service, a Slurm job's node).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunValues(BTreeMap<String, String>);

impl RunValues {
    /// The values of a run whose results folder is `results_dir`.
    pub fn new(results_dir: &str) -> Self {
        Self(BTreeMap::from([(
            "resultsDir".to_string(),
            results_dir.to_string(),
        )]))
    }

    /// Service `id` is reached at `url` (`http://host:port`); its host and
    /// port are taken from the URL.
    pub fn set_service(&mut self, id: &str, url: &str) {
        self.forget_service(id);
        if let Some((host, port)) = host_port(url) {
            self.0.insert(format!("services.{id}.host"), host);
            self.0.insert(format!("services.{id}.port"), port);
        }
        self.0.insert(format!("services.{id}.url"), url.to_string());
    }

    /// Service `id` has no known endpoint (yet).
    pub fn forget_service(&mut self, id: &str) {
        for k in ["host", "port", "url"] {
            self.0.remove(&format!("services.{id}.{k}"));
        }
    }

    /// The values, by name.
    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }
}

/// `host` and `port` of `scheme://host:port/path`.
fn host_port(url: &str) -> Option<(String, String)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next()?;
    let (h, p) = hostport.rsplit_once(':')?;
    Some((h.to_string(), p.to_string()))
}

/// The references (`port`, `services.sim.url`, ...) in a template.
pub fn references(template: &str) -> Result<Vec<String>, TemplateError> {
    let mut refs = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let body = &rest[start + 2..];
        let end = body
            .find("}}")
            .ok_or_else(|| TemplateError::Unterminated(template.to_string()))?;
        refs.push(body[..end].trim().to_string());
        rest = &body[end + 2..];
    }
    Ok(refs)
}

/// Fills in every `{{ref}}` from `values`.
pub fn render(template: &str, values: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let body = &rest[start + 2..];
        let end = body
            .find("}}")
            .ok_or_else(|| TemplateError::Unterminated(template.to_string()))?;
        let name = body[..end].trim();
        let value = values.get(name).ok_or_else(|| TemplateError::Unknown {
            name: name.to_string(),
            known: values.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        out.push_str(value);
        rest = &body[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_lists_references() {
        let mut v = BTreeMap::new();
        v.insert("port".to_string(), "8123".to_string());
        v.insert(
            "services.sim.url".to_string(),
            "http://127.0.0.1:8123".to_string(),
        );
        assert_eq!(render("--port {{port}}", &v).unwrap(), "--port 8123");
        assert_eq!(
            render("{{ services.sim.url }}/v1", &v).unwrap(),
            "http://127.0.0.1:8123/v1"
        );
        assert_eq!(references("a {{port}} b {{x.y}}").unwrap(), ["port", "x.y"]);
        assert!(matches!(
            render("{{nope}}", &v),
            Err(TemplateError::Unknown { .. })
        ));
        assert!(matches!(
            references("{{port"),
            Err(TemplateError::Unterminated(_))
        ));
        assert_eq!(render("no templates", &v).unwrap(), "no templates");
    }

    #[test]
    fn run_values_take_host_and_port_from_the_url() {
        let mut v = RunValues::new("/r");
        v.set_service("sim", "http://node7:8000");
        v.set_service("db", "http://db.ns.svc:9000/");
        v.set_service("gone", "http://x:1");
        v.forget_service("gone");
        let m = v.into_map();
        assert_eq!(m.get("resultsDir").map(String::as_str), Some("/r"));
        assert_eq!(
            m.get("services.sim.host").map(String::as_str),
            Some("node7")
        );
        assert_eq!(m.get("services.sim.port").map(String::as_str), Some("8000"));
        assert_eq!(m.get("services.db.port").map(String::as_str), Some("9000"));
        assert_eq!(
            m.get("services.sim.url").map(String::as_str),
            Some("http://node7:8000")
        );
        assert!(!m.keys().any(|k| k.starts_with("services.gone.")), "{m:?}");
    }
}
