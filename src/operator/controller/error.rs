//! Why a reconcile failed ([`Error`]): retried by the Controller, never a
//! crash of the operator.

/// Why a reconcile failed (it is retried; nothing here crashes the
/// operator).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or could not be reached.
    #[error("kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    /// Someone else changed the Benchmark between our read and our status
    /// write (409); the reconcile is retried with fresh data.
    #[error("status write conflict (the Benchmark changed meanwhile); retrying")]
    Conflict,
    /// The finalizer could not be added or removed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// A cluster-scoped Benchmark (the CRD is namespaced; should not happen).
    #[error("benchmark has no namespace")]
    NoNamespace,
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        match &e {
            kube::Error::Api(s) if s.code == 409 => Error::Conflict,
            _ => Error::Kube(e),
        }
    }
}

impl Error {
    /// The `reason` label of the error metric.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "api",
            Error::Conflict => "conflict",
            Error::Finalizer(_) => "finalizer",
            Error::NoNamespace => "invalid",
        }
    }
}
