//! A monitor's PromQL queries (`monitors[].prometheus`): a usable URL with
//! no credentials in it, at least one query, names that are metric names
//! and unique, non-empty expressions, and a step and delay in range.

use std::collections::BTreeSet;
use std::time::Duration;

use super::Validator;
use crate::api::spec::PrometheusQuerySpec;

/// Shortest query step.
pub const MIN_STEP: Duration = Duration::from_millis(100);
/// Longest query step.
pub const MAX_STEP: Duration = Duration::from_secs(3600);
/// Longest wait before querying.
pub const MAX_DELAY: Duration = Duration::from_secs(600);

impl Validator {
    pub(super) fn check_prometheus_queries(&mut self, p: &PrometheusQuerySpec, at: &str) {
        if let Err(why) = check_url(&p.url) {
            self.err(format!("{at}.url"), format!("{:?} {why}", p.url));
        }
        if p.queries.is_empty() {
            self.err(
                format!("{at}.queries"),
                "empty: list at least one {name, query}",
            );
        }
        let mut seen = BTreeSet::new();
        for (j, q) in p.queries.iter().enumerate() {
            let qat = format!("{at}.queries[{j}]");
            if !is_metric_name(&q.name) {
                self.err(
                    format!("{qat}.name"),
                    format!("{:?} is not a metric name: use letters, digits, '_' and ':', not starting with a digit", q.name),
                );
            } else if !seen.insert(q.name.as_str()) {
                self.err(
                    format!("{qat}.name"),
                    format!(
                        "{:?} is used by an earlier query; names must be unique",
                        q.name
                    ),
                );
            }
            if q.query.trim().is_empty() {
                self.err(format!("{qat}.query"), "empty: write a PromQL expression");
            }
        }
        let step = p.step.get();
        if !(MIN_STEP..=MAX_STEP).contains(&step) {
            self.err(
                format!("{at}.step"),
                format!("{} is out of range: between 100ms and 1h", p.step),
            );
        }
        if let Some(d) = p.delay
            && d.get() > MAX_DELAY
        {
            self.err(format!("{at}.delay"), format!("{d} is longer than 10m"));
        }
    }
}

/// An http(s) URL with a host, and no user, password, query or fragment.
fn check_url(url: &str) -> Result<(), &'static str> {
    let u = reqwest::Url::parse(url).map_err(|_| "is not a URL: write http://host:port")?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL");
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not carry credentials: use bearerTokenFile or bearerTokenEnv");
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err("must not have a query or fragment: give the base URL of the Prometheus API");
    }
    Ok(())
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use crate::api::load::load_str;
    use crate::api::validate::validate;

    fn errors(prometheus: &str) -> Vec<(String, String)> {
        let yaml = format!(
            r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata: {{name: t}}
spec:
  services:
    - id: sim
      command: [x]
      ports: [{{name: http, port: 8000}}]
  monitors:
    - id: prom
{prometheus}
"#
        );
        let errs = match load_str(&yaml, "t.yaml", &|_| None) {
            Ok(l) => validate(&l.benchmark),
            Err(e) => e.errors,
        };
        errs.into_iter()
            .map(|e| (e.path.clone(), e.message.clone()))
            .collect()
    }

    #[test]
    fn a_good_monitor_passes() {
        let errs = errors(
            "      prometheus:\n        url: http://127.0.0.1:9090/prom\n        step: 1s\n        queries:\n          - {name: 'sim:rate', query: 'rate(x[5s])'}\n          - {name: up, query: up}",
        );
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn every_problem_is_reported_at_its_field() {
        let errs = errors(
            "      targets: [sim]\n      prometheus:\n        url: 'http://user:pw@prom:9090'\n        step: 50ms\n        delay: 11m\n        queries:\n          - {name: 'a', query: 'up'}\n          - {name: 'a', query: '  '}\n          - {name: '1x', query: up}",
        );
        let paths: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
        for want in [
            "spec.monitors[0].targets",
            "spec.monitors[0].prometheus.url",
            "spec.monitors[0].prometheus.step",
            "spec.monitors[0].prometheus.delay",
            "spec.monitors[0].prometheus.queries[1].name",
            "spec.monitors[0].prometheus.queries[1].query",
            "spec.monitors[0].prometheus.queries[2].name",
        ] {
            assert!(paths.contains(&want), "{want} missing in {errs:?}");
        }
        assert_eq!(errs.len(), 7, "{errs:?}");
        let url = &errs
            .iter()
            .find(|(p, _)| p.ends_with(".url"))
            .expect("url")
            .1;
        assert!(url.contains("credentials"), "{url}");
    }

    #[test]
    fn urls_and_queries() {
        for (url, why) in [
            ("prom:9090", "http"),
            ("ftp://prom", "http"),
            ("not a url", "not a URL"),
            ("http://prom:9090/?x=1", "query"),
        ] {
            let errs = errors(&format!(
                "      prometheus:\n        url: '{url}'\n        queries: [{{name: up, query: up}}]"
            ));
            assert_eq!(errs.len(), 1, "{url}: {errs:?}");
            assert!(errs[0].1.contains(why), "{url}: {errs:?}");
        }
        let errs = errors("      prometheus:\n        url: http://p:9090\n        queries: []");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, "spec.monitors[0].prometheus.queries");
    }

    #[test]
    fn a_monitor_without_targets_or_prometheus_says_both() {
        let errs = errors("      interval: 1s");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, "spec.monitors[0].targets");
        assert!(errs[0].1.contains("prometheus"), "{errs:?}");
    }
}
