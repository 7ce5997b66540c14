//! Helpers shared by the integration tests that read a Benchmark's status.

use serde_json::Value;

/// The condition of type `t` in a status object; panics naming it when absent.
pub fn condition<'a>(status: &'a Value, t: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == t)
        .unwrap_or_else(|| panic!("no {t} condition in {status:#}"))
}
