//! The error shapes of loading and validation: one [`FieldError`] per
//! problem (located by field path or line), all of a file's problems
//! together in a [`LoadError`].

use std::fmt;

/// One problem with a Benchmark file, located by field path
/// (`spec.clients[1].target`) or by line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted field path, or `(file)` for whole-file problems.
    pub path: String,
    /// What is wrong, what was given, and what would be right.
    pub message: String,
}

impl FieldError {
    /// A new error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All the problems found in one file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} problem(s) in {}:\n{}", .errors.len(), .source_name, render(.errors))]
pub struct LoadError {
    /// The file (or `<stdin>`).
    pub source_name: String,
    /// Every problem found, in file order where possible.
    pub errors: Vec<FieldError>,
}

fn render(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}
