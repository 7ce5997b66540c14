//! Kubernetes' own rules.

use super::Validator;
use crate::api::spec::Benchmark;

impl Validator {
    pub(super) fn check_kubernetes(&mut self, _b: &Benchmark) {}
}
