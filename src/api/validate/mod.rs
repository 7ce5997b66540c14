//! Checks beyond the schema: ids, references between components,
//! executor-specific settings, templates, sizes and Kubernetes' naming
//! rules. Every problem is reported (not just the first), each at its field
//! path. Pure: no I/O.
//!
//! One file per concern: `names` (ids and object names), `components`
//! (services, clients, monitors and the references between them), `promql`
//! (a monitor's PromQL queries: URL, names, step),
//! `workload` (load, bounds, datasets, storage settings), `results`
//! (execution, post-actions, SLOs, `results.s3`) and `kubernetes` (port and
//! environment variable names, reserved variables).

use std::collections::BTreeMap;

use super::error::FieldError;
use super::spec::{Benchmark, PortSpec, ServiceSpec};

mod components;
mod kubernetes;
mod names;
mod promql;
mod results;
mod storage;
#[cfg(test)]
mod tests;
mod workload;

pub use names::is_dns_label;

/// Validates a Benchmark; an empty list means it is valid.
pub fn validate(b: &Benchmark) -> Vec<FieldError> {
    let mut v = Validator::default();
    v.check(b);
    v.errors
}

#[derive(Default)]
struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    fn check(&mut self, b: &Benchmark) {
        let name = b.metadata.name.as_deref().unwrap_or_default();
        if !is_dns_label(name) {
            self.err(
                "metadata.name",
                format!("{name:?} is not a valid name: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit"),
            );
        }
        let spec = &b.spec;
        if spec.services.is_empty() && spec.clients.is_empty() {
            self.err(
                "spec",
                "nothing to run: add at least one entry under spec.services or spec.clients",
            );
        }

        let services: BTreeMap<&str, &ServiceSpec> =
            spec.services.iter().map(|s| (s.id.as_str(), s)).collect();
        self.check_ids(b);
        for (i, s) in spec.services.iter().enumerate() {
            self.check_service(s, &format!("spec.services[{i}]"), &services);
        }
        for (i, c) in spec.clients.iter().enumerate() {
            self.check_client(c, &format!("spec.clients[{i}]"), &services);
            self.errors.extend(crate::api::calibration::problems(
                c.calibration.as_ref(),
                c.workload.kind,
                &format!("spec.clients[{i}].calibration"),
            ));
        }
        for (i, m) in spec.monitors.iter().enumerate() {
            self.check_monitor(m, &format!("spec.monitors[{i}]"), &services);
        }
        self.check_execution(b);
        self.check_results(b);
        self.check_slo(b);
        self.check_kubernetes(b);
    }
}

fn list<'a>(names: impl Iterator<Item = &'a &'a str>) -> String {
    let v: Vec<&str> = names.copied().collect();
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

fn port_names(ports: &[PortSpec]) -> String {
    if ports.is_empty() {
        "(none)".to_string()
    } else {
        ports
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
