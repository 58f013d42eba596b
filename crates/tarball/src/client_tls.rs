//! Client certificates, and TLS settings that hold for one registry only, chosen for each
//! request the way pnpm chooses them.
//!
//! A registry behind mutual TLS asks every client for a certificate. pnpm takes it from
//! `.npmrc`: `cert` and `key` for every registry, or, for one registry,
//! `//host[:port]/path/:certfile` and `:keyfile` (a file's PEM) or `:cert` and `:key` (the
//! PEM inline, its line breaks written `\n`); `:cafile` and `:ca` name the authorities that
//! registry is trusted by (`config/reader/src/getNetworkConfigs.ts`).
//!
//! A request uses the settings filed under the longest prefix of its URL, with the port and
//! then without (`pickSettingByUrl` in `@pnpm/network.agent`). A registry's certificate and
//! key, when it has either, replace the global `cert` and `key`; a registry given only a
//! `:cafile` still presents the global ones (pnpm 12 does: `tests/tls_client.rs` runs it).
//! Its `ca` replaces the global authorities as `ca` does (`NODE_EXTRA_CA_CERTS` still adds
//! to them). Unlike the global `cafile`, which pnpm skips when it does not exist, a
//! per-registry file that cannot be read is an error, as it is for pnpm.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::FetchError;
use crate::url::{lowercase_authority, nerf_candidates};

/// PEM text as `.npmrc` gives it.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// Written in the setting itself, with `\n` for its line breaks.
    Inline(String),
    /// In a file (`:certfile`, `:keyfile`, `:cafile`), already resolved against the directory
    /// tack runs in.
    File(PathBuf),
}

impl std::fmt::Debug for Pem {
    /// Without the text, which may be a private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pem::Inline(text) => write!(f, "Inline(<{} bytes>)", text.len()),
            Pem::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl Pem {
    /// The PEM text; `setting` names where it came from, for the error.
    pub(crate) fn text(&self, setting: &str) -> Result<String, FetchError> {
        match self {
            Pem::Inline(text) => Ok(text.replace("\\n", "\n")),
            Pem::File(path) => std::fs::read_to_string(path).map_err(|e| {
                let origin = format!("{setting} ({})", path.display());
                let message = e.to_string();
                if setting.ends_with(":ca") {
                    FetchError::Certificates { origin, message }
                } else {
                    FetchError::ClientCertificate { origin, message }
                }
            }),
        }
    }
}

/// The TLS settings of one registry (`//host/:ca`, `:cafile`, `:cert`, `:certfile`, `:key`,
/// `:keyfile`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryTls {
    pub ca: Option<Pem>,
    pub cert: Option<Pem>,
    pub key: Option<Pem>,
}

impl RegistryTls {
    /// Files `value` under `setting` (`ca`, `cafile`, `cert`, `certfile`, `key` or
    /// `keyfile`); `false` for any other setting. A file is resolved by `resolve`.
    pub fn set(&mut self, setting: &str, value: &str, resolve: impl Fn(&str) -> PathBuf) -> bool {
        let (slot, pem) = match setting {
            "ca" => (&mut self.ca, Pem::Inline(value.to_string())),
            "cafile" => (&mut self.ca, Pem::File(resolve(value))),
            "cert" => (&mut self.cert, Pem::Inline(value.to_string())),
            "certfile" => (&mut self.cert, Pem::File(resolve(value))),
            "key" => (&mut self.key, Pem::Inline(value.to_string())),
            "keyfile" => (&mut self.key, Pem::File(resolve(value))),
            _ => return false,
        };
        *slot = Some(pem);
        true
    }
}

/// Splits an `.npmrc` key such as `//host:4873/path/:certfile` into the registry it is filed
/// under (`//host:4873/path/`, its host lowercased) and the setting (`certfile`), as pnpm
/// does (at the first `/:`). `None` for keys that are not per-registry.
pub fn split_registry_key(key: &str) -> Option<(String, &str)> {
    if !key.starts_with("//") {
        return None;
    }
    let (registry, setting) = key.split_once("/:")?;
    // `//:_authToken` (an empty host from an unset variable) names no registry.
    registry.get(2..).filter(|rest| !rest.is_empty())?;
    let mut registry = format!("{registry}/");
    lowercase_authority(&mut registry);
    Some((registry, setting))
}

/// The registry `url` belongs to among `registries` (keys as [`split_registry_key`] gives
/// them), by pnpm's rule: the longest path prefix, with the port and then without.
pub(crate) fn registry_of<'a, T>(
    registries: &'a BTreeMap<String, T>,
    url: &str,
) -> Option<(&'a str, &'a T)> {
    if registries.is_empty() {
        return None;
    }
    nerf_candidates(url)
        .into_iter()
        .find_map(|key| registries.get_key_value(key.as_str()))
        .map(|(key, value)| (key.as_str(), value))
}

/// The client identity from a certificate (chain) and its private key, both PEM;
/// `origin` names the settings, for the error.
pub(crate) fn identity(
    cert: &str,
    key: &str,
    origin: &str,
) -> Result<reqwest::Identity, FetchError> {
    let bad = |message: String| FetchError::ClientCertificate {
        origin: origin.to_string(),
        message,
    };
    if !cert.contains("-----BEGIN CERTIFICATE-----") {
        return Err(bad("the certificate holds no PEM certificate".to_string()));
    }
    if !key.contains("PRIVATE KEY-----") {
        return Err(bad("the key holds no PEM private key".to_string()));
    }
    let mut pem = key.trim_end().to_string();
    pem.push('\n');
    pem.push_str(cert);
    reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registries(keys: &[&str]) -> BTreeMap<String, usize> {
        keys.iter()
            .enumerate()
            .map(|(i, key)| (split_registry_key(key).expect("a registry key").0, i))
            .collect()
    }

    #[test]
    fn keys_split_at_the_first_slash_colon() {
        assert_eq!(
            split_registry_key("//Reg.Test:4873/:certfile"),
            Some(("//reg.test:4873/".to_string(), "certfile"))
        );
        assert_eq!(
            split_registry_key("//reg.test/api/npm/:keyfile"),
            Some(("//reg.test/api/npm/".to_string(), "keyfile"))
        );
        assert_eq!(split_registry_key("cafile"), None);
        // What `//${HOST}/:_authToken` becomes with HOST unset, and its relatives.
        assert_eq!(split_registry_key("//:_authToken"), None);
        assert_eq!(split_registry_key("///:certfile"), None);
        assert_eq!(split_registry_key("//"), None);
        assert_eq!(split_registry_key("@scope:registry"), None);
    }

    #[test]
    fn a_url_takes_the_longest_prefix_with_its_port_then_without() {
        let r = registries(&[
            "//reg.test/:certfile",
            "//reg.test/api/npm/:certfile",
            "//reg.test:8443/:certfile",
        ]);
        let pick = |url: &str| registry_of(&r, url).map(|(key, _)| key.to_string());
        assert_eq!(
            pick("https://reg.test/api/npm/a/-/a-1.0.0.tgz").as_deref(),
            Some("//reg.test/api/npm/")
        );
        assert_eq!(
            pick("https://reg.test/a/-/a-1.0.0.tgz").as_deref(),
            Some("//reg.test/")
        );
        assert_eq!(
            pick("https://REG.test:8443/a/-/a-1.0.0.tgz").as_deref(),
            Some("//reg.test:8443/")
        );
        // No settings for this port: those of the host without one.
        assert_eq!(
            pick("https://reg.test:9443/api/npm/a.tgz").as_deref(),
            Some("//reg.test/api/npm/")
        );
        // A default port is no port.
        assert_eq!(
            pick("https://reg.test:443/a.tgz").as_deref(),
            Some("//reg.test/")
        );
        assert_eq!(pick("https://other.test/a.tgz"), None);
        assert_eq!(pick("https://reg.test.evil/a.tgz"), None);
    }

    #[test]
    fn settings_are_filed_inline_or_as_files() {
        let mut tls = RegistryTls::default();
        let resolve = |p: &str| PathBuf::from("/work").join(p);
        assert!(tls.set("certfile", "client.pem", resolve));
        assert!(tls.set("key", "-----BEGIN PRIVATE KEY-----\\nAAA", resolve));
        assert!(!tls.set("_authToken", "secret", resolve));
        assert_eq!(tls.cert, Some(Pem::File(PathBuf::from("/work/client.pem"))));
        let key = tls.key.as_ref().expect("key").text("key").expect("inline");
        assert_eq!(key, "-----BEGIN PRIVATE KEY-----\nAAA");
        let missing = Pem::File(PathBuf::from("/nonexistent/client.pem"));
        let err = missing
            .text("//reg.test/:certfile")
            .expect_err("no such file");
        assert_eq!(err.code(), "ERR_TACK_CLIENT_CERTIFICATE");
        assert!(err.to_string().contains("/nonexistent/client.pem"), "{err}");
    }

    #[test]
    fn debug_output_shows_no_key() {
        let mut tls = RegistryTls::default();
        tls.set(
            "key",
            "-----BEGIN PRIVATE KEY-----\\nSECRETBITS",
            |p: &str| PathBuf::from(p),
        );
        assert!(!format!("{tls:?}").contains("SECRETBITS"), "{tls:?}");
    }

    #[test]
    fn a_certificate_without_its_key_is_a_clear_error() {
        let cert = include_str!("../../test-registry/tls/client.pem");
        let key = include_str!("../../test-registry/tls/client.key");
        assert!(identity(cert, key, "cert, key").is_ok());
        let err = identity(cert, "", "cert, key").expect_err("no key");
        assert!(err.to_string().contains("no PEM private key"), "{err}");
        let err = identity(key, key, "cert, key").expect_err("no certificate");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }
}
