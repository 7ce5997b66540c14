//! The process's TLS setup: rustls with ring as its one crypto provider.
//!
//! reqwest is built without a provider of its own (its `rustls` feature would
//! compile aws-lc in next to ring), so rustls' process-wide default must be
//! installed before the first HTTP client is built; reqwest panics otherwise.
//! Every HTTP client therefore comes from [`client_builder`] or [`client`]
//! (clippy.toml forbids `reqwest::Client::new`/`builder` elsewhere). kube
//! picks ring by itself (the only provider compiled in) and the S3 client is
//! given ring explicitly.

use std::sync::Once;

/// Installs ring as rustls' process-wide crypto provider (idempotent; one
/// installed earlier by anyone stays).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only when a provider is already installed: that one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `reqwest::Client::builder()` with the crypto provider installed.
#[allow(clippy::disallowed_methods)]
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// `reqwest::Client::new()` (default settings) with the crypto provider
/// installed.
#[allow(clippy::disallowed_methods)]
pub fn client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_the_process_provider_once_installed() {
        install_crypto_provider();
        install_crypto_provider();
        let installed = rustls::crypto::CryptoProvider::get_default().expect("installed");
        let ring = rustls::crypto::ring::default_provider();
        assert_eq!(installed.cipher_suites.len(), ring.cipher_suites.len());
        assert!(
            installed
                .cipher_suites
                .iter()
                .zip(ring.cipher_suites.iter())
                .all(|(a, b)| a.suite() == b.suite())
        );
    }

    #[tokio::test]
    async fn https_clients_build_without_a_second_provider() {
        // Builds the TLS config (and loads the platform's roots): panics
        // without a provider.
        let c = client_builder().https_only(true).build();
        assert!(c.is_ok(), "{c:?}");
        let _ = client();
    }
}
