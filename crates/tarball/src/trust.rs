//! Which certificate authorities the HTTP client trusts, decided the way Node decides it
//! for pnpm.
//!
//! pnpm runs on Node, and Node trusts the Mozilla root list it was built with, not the
//! operating system's store: a corporate authority must be named (`cafile`, `ca`,
//! `NODE_EXTRA_CA_CERTS`) or the system store asked for (`NODE_USE_SYSTEM_CA=1`). tack
//! trusts the same Mozilla list, compiled in (`webpki-roots`), under the same rules:
//!
//! - `ca` / `cafile` (`.npmrc`) replace the built-in list, as Node's `ca` option does;
//!   `cafile` wins when both are set. A `cafile` that does not exist is ignored, as pnpm
//!   ignores it.
//! - `NODE_EXTRA_CA_CERTS` adds to whichever list is in use: pnpm 12 trusts a registry
//!   signed by it with a `cafile` that does not hold the issuer (`tests/tls.rs` checks this
//!   against pnpm itself). Node only warns when it cannot read the file; so does tack.
//! - `NODE_USE_SYSTEM_CA=1` adds the operating system's store.
//! - `strict-ssl=false` accepts any certificate.
//!
//! It is also cheaper: loading the system store read and parsed every file of
//! `/etc/ssl/certs` (about 300 on a Debian image) on each install, 5–17 ms before the
//! first request of a cold install could leave, more when those files had left the page
//! cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::client_tls::{identity, Pem, RegistryTls};
use crate::error::FetchError;

/// The trust settings of an install; the default trusts the built-in list only.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustOptions {
    /// `ca` from `.npmrc`: PEM text of one or more certificates.
    pub ca: Option<String>,
    /// `cafile` from `.npmrc`, resolved against the directory tack runs in.
    pub cafile: Option<PathBuf>,
    /// `NODE_EXTRA_CA_CERTS`.
    pub extra_ca_file: Option<PathBuf>,
    /// `NODE_USE_SYSTEM_CA=1`.
    pub system_ca: bool,
    /// `strict-ssl` (`true` unless set to `false`).
    pub strict_ssl: bool,
    /// `cert` from `.npmrc`: the client certificate (chain) sent to every registry that has
    /// no settings of its own, PEM with `\n` for its line breaks.
    pub cert: Option<String>,
    /// `key` from `.npmrc`: the private key of `cert`.
    pub key: Option<String>,
    /// TLS settings of single registries, by the key they are filed under
    /// (`//host[:port]/path/`; see `client_tls.rs`).
    pub registries: BTreeMap<String, RegistryTls>,
}

impl std::fmt::Debug for TrustOptions {
    /// Without `key`, a private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustOptions")
            .field("ca", &self.ca.as_ref().map(|_| "<PEM>"))
            .field("cafile", &self.cafile)
            .field("extra_ca_file", &self.extra_ca_file)
            .field("system_ca", &self.system_ca)
            .field("strict_ssl", &self.strict_ssl)
            .field("cert", &self.cert.as_ref().map(|_| "<PEM>"))
            .field("key", &self.key.as_ref().map(|_| "<private key>"))
            .field("registries", &self.registries)
            .finish()
    }
}

impl Default for TrustOptions {
    fn default() -> Self {
        Self {
            ca: None,
            cafile: None,
            extra_ca_file: None,
            system_ca: false,
            strict_ssl: true,
            cert: None,
            key: None,
            registries: BTreeMap::new(),
        }
    }
}

/// What the client is built with: the built-in lists to use and the certificates to add.
#[derive(Debug, Default)]
pub(crate) struct Trust {
    pub builtin_mozilla: bool,
    pub builtin_system: bool,
    pub added: Vec<reqwest::Certificate>,
    pub accept_invalid: bool,
    /// The client certificate and key sent when a registry asks for one.
    pub identity: Option<reqwest::Identity>,
    /// Said once on stderr by the caller: a file that was named but not used.
    pub warnings: Vec<String>,
}

impl TrustOptions {
    /// Reads the files these options name and parses their certificates: what every
    /// registry without settings of its own is reached with.
    pub(crate) fn load(&self) -> Result<Trust, FetchError> {
        self.load_with(self.global_ca()?, self.global_identity()?)
    }

    /// [`TrustOptions::load`] for the registry filed under `registry`: its own certificate
    /// and key, when it has either, replace the global `cert` and `key`, and its own
    /// authorities replace the global ones.
    pub(crate) fn load_for(&self, registry: &str, tls: &RegistryTls) -> Result<Trust, FetchError> {
        let ca = match &tls.ca {
            Some(ca) => {
                let origin = format!("{registry}:ca");
                Some((ca.text(&origin)?, origin))
            }
            None => self.global_ca()?,
        };
        let identity = if tls.cert.is_some() || tls.key.is_some() {
            let (cert, key) = (format!("{registry}:cert"), format!("{registry}:key"));
            client_identity(tls.cert.as_ref(), tls.key.as_ref(), &cert, &key)?
        } else {
            self.global_identity()?
        };
        self.load_with(ca, identity)
    }

    /// The PEM text of `cafile` (when it exists) or else `ca`, and where it came from.
    fn global_ca(&self) -> Result<Option<(String, String)>, FetchError> {
        let cafile = match &self.cafile {
            Some(path) => read_cafile(path)?.map(|text| (text, path.display().to_string())),
            None => None,
        };
        // A `ca` value written on one line in `.npmrc` carries its line breaks as `\n`.
        Ok(cafile.or_else(|| {
            self.ca
                .as_ref()
                .map(|text| (text.replace("\\n", "\n"), "ca".to_string()))
        }))
    }

    /// The identity from `cert` and `key`.
    fn global_identity(&self) -> Result<Option<reqwest::Identity>, FetchError> {
        let cert = self.cert.clone().map(Pem::Inline);
        let key = self.key.clone().map(Pem::Inline);
        client_identity(cert.as_ref(), key.as_ref(), "cert", "key")
    }

    fn load_with(
        &self,
        ca: Option<(String, String)>,
        identity: Option<reqwest::Identity>,
    ) -> Result<Trust, FetchError> {
        let mut trust = Trust {
            accept_invalid: !self.strict_ssl,
            identity,
            ..Trust::default()
        };
        if let Some((text, origin)) = ca {
            // Node's `ca` replaces the built-in lists, not the extra authorities.
            trust.added = parse_certificates(&text, &origin)?;
        } else {
            trust.builtin_mozilla = true;
            trust.builtin_system = self.system_ca;
        }
        if let Some(path) = &self.extra_ca_file {
            match extra_certificates(path) {
                Ok(certs) => trust.added.extend(certs),
                Err(message) => trust.warnings.push(format!(
                    "Ignoring extra certificates from {} (NODE_EXTRA_CA_CERTS): {message}",
                    path.display()
                )),
            }
        }
        Ok(trust)
    }
}

/// The identity from a certificate and its key, when both are set; `cert_setting` and
/// `key_setting` name them for the error when only one is.
fn client_identity(
    cert: Option<&Pem>,
    key: Option<&Pem>,
    cert_setting: &str,
    key_setting: &str,
) -> Result<Option<reqwest::Identity>, FetchError> {
    let origin = format!("{cert_setting}, {key_setting}");
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let (cert, key) = (cert.text(cert_setting)?, key.text(key_setting)?);
            identity(&cert, &key, &origin).map(Some)
        }
        (Some(_), None) | (None, Some(_)) => Err(FetchError::ClientCertificate {
            origin,
            message: format!(
                "only {} is set",
                if cert.is_some() {
                    cert_setting
                } else {
                    key_setting
                }
            ),
        }),
    }
}

/// The text of `cafile`, or `None` when it does not exist (pnpm's `readCAFileSync`).
fn read_cafile(path: &Path) -> Result<Option<String>, FetchError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FetchError::Certificates {
            origin: path.display().to_string(),
            message: e.to_string(),
        }),
    }
}

fn extra_certificates(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    parse_certificates(&text, &path.display().to_string()).map_err(|e| e.to_string())
}

/// Every certificate in the PEM `text`.
fn parse_certificates(text: &str, origin: &str) -> Result<Vec<reqwest::Certificate>, FetchError> {
    let bad = |message: String| FetchError::Certificates {
        origin: origin.to_string(),
        message,
    };
    let certs =
        reqwest::Certificate::from_pem_bundle(text.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("it holds no PEM certificate".to_string()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = include_str!("../../test-registry/tls/ca.pem");

    #[test]
    fn the_default_is_the_built_in_list_and_nothing_else() {
        let trust = TrustOptions::default().load().unwrap();
        assert!(trust.builtin_mozilla);
        assert!(!trust.builtin_system);
        assert!(trust.added.is_empty());
        assert!(!trust.accept_invalid);
    }

    #[test]
    fn ca_replaces_the_built_in_lists_and_keeps_the_extra_authorities() {
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("extra.pem");
        std::fs::write(&extra, PEM).unwrap();
        let opts = TrustOptions {
            ca: Some(PEM.replace('\n', "\\n")),
            extra_ca_file: Some(extra),
            system_ca: true,
            ..TrustOptions::default()
        };
        let trust = opts.load().unwrap();
        assert!(!trust.builtin_mozilla);
        assert!(!trust.builtin_system);
        assert_eq!(trust.added.len(), 2, "the ca and the extra one");
    }

    #[test]
    fn a_missing_cafile_is_ignored_and_a_broken_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let opts = TrustOptions {
            cafile: Some(dir.path().join("absent.pem")),
            ..TrustOptions::default()
        };
        let trust = opts.load().unwrap();
        assert!(trust.builtin_mozilla);

        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
        let opts = TrustOptions {
            cafile: Some(broken.clone()),
            ..TrustOptions::default()
        };
        let err = opts.load().unwrap_err();
        assert_eq!(err.code(), "ERR_TACK_CA_CERTIFICATES");
        assert!(
            err.to_string().contains(&broken.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_extra_file_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let opts = TrustOptions {
            extra_ca_file: Some(dir.path().join("absent.pem")),
            ..TrustOptions::default()
        };
        let trust = opts.load().unwrap();
        assert!(trust.builtin_mozilla && trust.added.is_empty());
        assert_eq!(trust.warnings.len(), 1, "{:?}", trust.warnings);
    }
}
