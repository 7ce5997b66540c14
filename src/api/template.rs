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
}
