//! The registry's optional TLS, so that tests can install over `https://` on loopback.
//!
//! The identity is fixed and committed (`tls/`, made by `tls/generate.py`): a CA of its own
//! and a certificate for `127.0.0.1` and `localhost` that it signed, valid from 2000 to 2125.
//! No client trusts that CA unless told to, which is the point: a test can show that an
//! install fails without `cafile` and succeeds with it.
//!
//! With [`ClientAuth::Required`] the registry also asks every client for a certificate
//! signed by a client CA of its own (`tls/client-ca.pem`, made by `tls/generate_client.py`
//! with `client.pem`/`client.key`, and `stranger.pem`/`stranger.key` signed by another CA),
//! as a registry behind mutual TLS does.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::error::RegistryError;

const SERVER_CERT: &[u8] = include_bytes!("../tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../tls/server.key");
const CA_CERT: &str = include_str!("../tls/ca.pem");
const CLIENT_CA_CERT: &[u8] = include_bytes!("../tls/client-ca.pem");

/// Whether the registry asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// The handshake fails without a client certificate signed by the test client CA.
    Required,
}

/// A committed file of the test TLS identity (`tls/<name>`): `client.pem`, `client.key`,
/// `stranger.pem`, `stranger.key`, `client-ca.pem`, ...
pub fn test_tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tls")
        .join(name)
}

/// The PEM of the CA that signed the registry's certificate.
pub fn test_ca_pem() -> &'static str {
    CA_CERT
}

/// The committed file holding [`test_ca_pem`], for a `cafile=` line.
pub fn test_ca_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tls/ca.pem")
}

/// The server side of the registry's TLS, from the committed identity.
pub(crate) fn server_config(
    client_auth: ClientAuth,
) -> Result<Arc<rustls::ServerConfig>, RegistryError> {
    let bad = |message: String| RegistryError::Tls { message };
    let cert = CertificateDer::from_pem_slice(SERVER_CERT).map_err(|e| bad(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).map_err(|e| bad(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Required => {
            let mut roots = rustls::RootCertStore::empty();
            let client_ca =
                CertificateDer::from_pem_slice(CLIENT_CA_CERT).map_err(|e| bad(e.to_string()))?;
            roots.add(client_ca).map_err(|e| bad(e.to_string()))?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| bad(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(vec![cert], key)
        .map_err(|e| bad(e.to_string()))?;
    Ok(Arc::new(config))
}

/// A connection the server can speak HTTP over, plain or TLS.
pub(crate) trait Conn: AsyncRead + AsyncWrite + Unpin + Send {
    /// Makes the coming close a reset (RST), for the `ResetAfter` fault.
    fn reset_on_close(&self);
}

impl Conn for TcpStream {
    fn reset_on_close(&self) {
        let _ = self.set_zero_linger();
    }
}

impl Conn for TlsStream<TcpStream> {
    fn reset_on_close(&self) {
        let _ = self.get_ref().0.set_zero_linger();
    }
}
