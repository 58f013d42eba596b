//! Every way fetching one package can fail, with pnpm's error codes.
//!
//! The errors are `Clone` (they carry strings, not sources) because one failed download
//! wakes every in-process waiter for the same package with the same error. Every URL in
//! them has already been passed through [`crate::redact_url`], and no variant ever holds
//! an auth token.

use std::time::Duration;

/// A failure to fetch, verify or unpack one package tarball.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The compressed bytes do not hash to the integrity recorded in the lockfile.
    #[error(
        "Got unexpected checksum for {url} ({pkg}): expected {expected}, got {actual}. \
         The lockfile entry is probably stale or came out of a bad merge; check pnpm-lock.yaml \
         for merge-conflict leftovers and regenerate it with `pnpm install` if the package was republished"
    )]
    Integrity {
        pkg: String,
        url: String,
        expected: String,
        actual: String,
    },

    /// A tarball resolution without `integrity` under a frozen lockfile.
    #[error(
        "The lockfile entry for {pkg} has no integrity for its tarball {url}; refusing to install \
         an unverified tarball with a frozen lockfile. Regenerate the lockfile so it records the integrity"
    )]
    MissingIntegrity { pkg: String, url: String },

    /// The lockfile's `integrity` field is not a usable SRI string.
    #[error(
        "The integrity {value:?} recorded for {pkg} is not a valid SRI string (sha512-…, sha1-…); \
         check the package's entry in pnpm-lock.yaml"
    )]
    InvalidIntegrity { pkg: String, value: String },

    /// The registry answered with a status that is not retried (or retries ran out).
    #[error("GET {url} failed with {status} while fetching {pkg}. {hint}")]
    HttpStatus {
        pkg: String,
        url: String,
        status: u16,
        hint: String,
    },

    /// The registry answered a metadata request with an error status (a 404, or a retryable
    /// one after the retries ran out), worded as pnpm 12 words it. `hint` is what to check.
    #[error(
        "Failed to fetch metadata from {url}: HTTP status {} error ({status} {})",
        status_class(*.status),
        status_reason(*.status)
    )]
    MetadataStatus {
        pkg: String,
        url: String,
        status: u16,
        hint: String,
    },

    /// The connection failed or broke (after all retries).
    #[error(
        "Could not download {pkg} from {url}: {message}. Check the network and the registry URL"
    )]
    Network {
        pkg: String,
        url: String,
        message: String,
    },

    /// The server's TLS certificate was refused: its issuer is not trusted, or it is
    /// expired or for another name. Retrying gives the same answer.
    #[error(
        "Could not download {pkg} from {url}: {message}. The registry's certificate is not \
         trusted: if it is signed by your organisation's authority, point `cafile` in .npmrc \
         (or NODE_EXTRA_CA_CERTS) at that authority's PEM file, as for pnpm"
    )]
    UntrustedCertificate {
        pkg: String,
        url: String,
        message: String,
    },

    /// Nothing arrived for longer than the idle timeout.
    #[error(
        "Download of {pkg} from {url} stalled: no data for {}s (fetch-timeout). \
         The registry or the network is too slow; raise fetch-timeout or retry",
        timeout.as_secs_f64()
    )]
    IdleTimeout {
        pkg: String,
        url: String,
        timeout: Duration,
    },

    /// The body ended before `Content-Length` bytes arrived.
    #[error(
        "Tarball for {pkg} from {url} is truncated: expected {expected} bytes, received {received}"
    )]
    Truncated {
        pkg: String,
        url: String,
        expected: u64,
        received: u64,
    },

    /// `--offline` and the package is not in the store.
    #[error(
        "Failed to fetch tarball for {pkg} from {url} in offline mode: snapshot not present in local store. \
         Run the install once without --offline to fill the store"
    )]
    NoOfflineTarball { pkg: String, url: String },

    /// A tar entry whose path would escape the package directory.
    #[error("Refusing to unpack {pkg}: tar entry {entry:?} {reason}. The tarball is malformed or hostile")]
    UnsafePath {
        pkg: String,
        entry: String,
        reason: String,
    },

    /// Not gzip + tar, a bad header checksum, a broken gzip stream.
    #[error("The tarball of {pkg} is not a valid gzipped tar archive: {detail}")]
    BadTarball { pkg: String, detail: String },

    /// A body that is neither gzip nor tar (an error page, random bytes, nothing).
    #[error(
        "The tarball of {pkg} is neither a gzip nor a tar archive. Check that the registry (or \
         the proxy in front of it) serves tarballs at this URL"
    )]
    Unrecognized { pkg: String },

    /// A limit against decompression bombs or lying sizes was exceeded.
    #[error(
        "The tarball of {pkg} exceeds the {what} limit of {limit}; refusing to unpack it \
         (a decompression bomb or a corrupt size field)"
    )]
    TooLarge {
        pkg: String,
        what: &'static str,
        limit: u64,
    },

    /// Memory for an entry could not be reserved.
    #[error("Could not allocate {bytes} bytes while unpacking {pkg}; the system is out of memory")]
    OutOfMemory { pkg: String, bytes: u64 },

    /// Writing a file to the content-addressable store failed.
    #[error("Could not write a file of {pkg} to the store: {message}. Check that the store directory is writable")]
    Store {
        pkg: String,
        message: String,
        /// The disk or a quota is full (the message then says how to recover).
        disk_full: bool,
    },

    /// `ca`, `cafile` or `NODE_EXTRA_CA_CERTS` could not be read or holds no certificate.
    #[error(
        "Could not load the certificate authorities of {origin}: {message}. Fix or remove \
         the `ca`/`cafile` setting in .npmrc"
    )]
    Certificates { origin: String, message: String },

    /// A client certificate or its key (`cert`, `key`, `//host/:certfile`, `:keyfile`, or a
    /// per-registry `:cafile`) could not be read or used.
    #[error(
        "Could not load the client certificate settings {origin}: {message}. Fix or remove \
         them in .npmrc (a certificate needs its private key, both PEM)"
    )]
    ClientCertificate { origin: String, message: String },

    /// The registry asked for a client certificate and got none, or refused the one sent.
    #[error(
        "Could not download {pkg} from {url}: {message}. The registry wants a client \
         certificate it trusts: set `//host/:certfile` and `//host/:keyfile` (or `cert` and \
         `key`) in .npmrc, as for pnpm"
    )]
    ClientCertificateRefused {
        pkg: String,
        url: String,
        message: String,
    },

    /// The registry ended the TLS handshake with a bare `handshake_failure` (or refused the
    /// protocol version): it wants a client certificate it did not get, or it shares no
    /// TLS version or cipher suite with tack. Either way, trying again changes nothing.
    #[error(
        "Could not download {pkg} from {url}: {message}. The registry ended the TLS \
         handshake. Servers do this when they want a client certificate and got none they \
         accept (set `//host/:certfile` and `//host/:keyfile`, or `cert` and `key`, in \
         .npmrc, as for pnpm), or when they share no TLS version (tack speaks TLS 1.2 and \
         1.3) or cipher suite with the client"
    )]
    TlsHandshake {
        pkg: String,
        url: String,
        message: String,
    },

    /// The proxy asked for credentials (`407`, or a refused `CONNECT`) and had none, or
    /// refused the ones sent.
    #[error(
        "Could not download {pkg} from {url}: the proxy {proxy} asks for credentials. Give \
         them in the proxy URL (`https-proxy=http://user:password@host:port` in .npmrc, or \
         HTTPS_PROXY), with any `@`, `:` or `/` in them percent-encoded"
    )]
    ProxyAuth {
        pkg: String,
        url: String,
        /// Without credentials, with the setting it came from.
        proxy: String,
    },

    /// A proxy setting (`proxy`, `https-proxy`, `http-proxy` or their variables) is not a URL.
    #[error(
        "The proxy URL {url} ({setting}) is not valid: {message}. Fix it in .npmrc or in the \
         proxy variables (HTTPS_PROXY, HTTP_PROXY)"
    )]
    Proxy {
        setting: String,
        url: String,
        message: String,
    },

    /// `local-address` is not one of this machine's addresses, or is of the other family
    /// than the registry's host (one that is no address at all is ignored with a warning,
    /// as pnpm ignores it).
    #[error(
        "The local-address {value:?} (from .npmrc or npm_config_local_address) cannot be \
         used: {message}. Set it to an address of one of this machine's network interfaces, \
         of the same family (IPv4 or IPv6) as the registry's, or remove it"
    )]
    LocalAddress { value: String, message: String },

    /// The HTTP client could not be built (TLS backend, bad user agent).
    #[error("Could not create the HTTP client: {message}")]
    Client { message: String },

    /// A background task died (panic or runtime shutdown).
    #[error("The download task for {pkg} stopped unexpectedly: {message}")]
    Task { pkg: String, message: String },

    /// The tarball URL is no URL at all: a registry setting without its scheme, or with an
    /// unset `${VAR}` left in it. Retrying gives the same answer.
    #[error(
        "Could not download {pkg}: {url} is not a valid URL ({message}). Check the registry \
         settings it comes from (`registry`, `@scope:registry` in .npmrc or pnpm-workspace.yaml): \
         a URL needs its `https://`, and a `${{VAR}}` in it must be set"
    )]
    BadUrl {
        pkg: String,
        url: String,
        message: String,
    },

    /// The registry redirected more times than any download follows. Retrying gives the
    /// same answer.
    #[error("Could not download {pkg} from {url}: {message}. The registry (or a proxy) keeps redirecting the request: check the registry URL")]
    TooManyRedirects {
        pkg: String,
        url: String,
        message: String,
    },

    /// A registry's answer for a package's metadata is not JSON.
    #[error(
        "The metadata of {pkg} from {url} is not valid JSON ({message}). The registry (or a \
         proxy in front of it) sent something else: check the registry URL"
    )]
    BadMetadata {
        pkg: String,
        url: String,
        message: String,
    },

    /// A `file:` tarball (a dependency on a local `.tgz`) could not be read.
    #[error(
        "Failed to read local tarball {} of {pkg}: {message}. Check that the file the lockfile \
         names is there (paths are relative to the lockfile's directory)",
        path.display()
    )]
    LocalTarball {
        pkg: String,
        path: std::path::PathBuf,
        message: String,
    },
}

impl FetchError {
    /// The stable code, pnpm's where pnpm has one.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Integrity { .. } => "ERR_PNPM_TARBALL_INTEGRITY",
            Self::LocalTarball { .. } => "ERR_PNPM_TARBALL_READ_LOCAL_TARBALL",
            Self::BadUrl { .. } => "ERR_TACK_BAD_TARBALL_URL",
            Self::TooManyRedirects { .. } => "ERR_TACK_TOO_MANY_REDIRECTS",
            Self::MissingIntegrity { .. } => "ERR_PNPM_MISSING_TARBALL_INTEGRITY",
            Self::InvalidIntegrity { .. } => "ERR_PNPM_INVALID_INTEGRITY",
            // pnpm 12's one code for every error status of a tarball (observed: 401, 403,
            // 404, 500, 503); the message gives the status and what to check. A 407 is the
            // proxy's answer, not the registry's, and keeps tack's own code.
            Self::HttpStatus { status: 407, .. } => "ERR_TACK_PROXY_AUTH",
            Self::HttpStatus { .. } => "ERR_PNPM_TARBALL_HTTP_STATUS",
            Self::MetadataStatus { .. } => "ERR_PNPM_META_FETCH_FAIL",
            // pnpm 12's code for a download that got no whole response (observed: a refused
            // connection, an untrusted certificate, a reset before or during the body, a
            // body shorter than its Content-Length, a stall past fetch-timeout); the message
            // says which it was.
            Self::Network { .. }
            | Self::UntrustedCertificate { .. }
            | Self::IdleTimeout { .. }
            | Self::Truncated { .. } => "ERR_PNPM_TARBALL_FETCH_TARBALL",
            Self::NoOfflineTarball { .. } => "ERR_PNPM_NO_OFFLINE_TARBALL",
            Self::UnsafePath { .. } => "ERR_TACK_TARBALL_UNSAFE_PATH",
            // pnpm 12's codes: a body it cannot read as either archive, and one that breaks
            // while it is read (a cut or corrupt gzip stream, a tar that ends mid-block).
            Self::Unrecognized { .. } => "ERR_PNPM_TARBALL_UNRECOGNIZED",
            Self::BadTarball { .. } => "ERR_PNPM_TARBALL_IO_ERROR",
            Self::TooLarge { .. } => "ERR_TACK_TARBALL_TOO_LARGE",
            Self::OutOfMemory { .. } => "ERR_TACK_TARBALL_ALLOC",
            Self::Store {
                disk_full: true, ..
            } => "ERR_TACK_FS_ENOSPC",
            Self::Store { .. } => "ERR_TACK_STORE_WRITE",
            Self::Certificates { .. } => "ERR_TACK_CA_CERTIFICATES",
            Self::ClientCertificate { .. } => "ERR_TACK_CLIENT_CERTIFICATE",
            Self::ClientCertificateRefused { .. } => "ERR_TACK_TLS_CLIENT_CERTIFICATE",
            Self::TlsHandshake { .. } => "ERR_TACK_TLS_HANDSHAKE",
            Self::Proxy { .. } => "ERR_TACK_PROXY_URL",
            Self::ProxyAuth { .. } => "ERR_TACK_PROXY_AUTH",
            Self::LocalAddress { .. } => "ERR_TACK_LOCAL_ADDRESS",
            Self::Client { .. } => "ERR_TACK_HTTP_CLIENT",
            Self::Task { .. } => "ERR_TACK_FETCH_TASK",
            Self::BadMetadata { .. } => "ERR_TACK_BAD_METADATA",
        }
    }

    /// Whether the whole download + verify + unpack attempt should be tried again.
    ///
    /// Connection errors, stalls, truncated bodies, 5xx, 408 and 429 are transient, and so
    /// is an integrity mismatch: a proxy or CDN can serve a damaged body once, and pnpm
    /// retries the whole download + integrity + extract attempt for it too. 401/403/404
    /// and hostile archives are not: trying again would give the same answer.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network { .. }
            | Self::IdleTimeout { .. }
            | Self::Truncated { .. }
            | Self::Integrity { .. } => true,
            // pnpm's list: 408, 409, 420, 429 and every 5xx.
            Self::HttpStatus { status, .. } | Self::MetadataStatus { status, .. } => {
                *status >= 500 || matches!(*status, 408 | 409 | 420 | 429)
            }
            _ => false,
        }
    }

    /// What to tell the user to check for a non-retried HTTP status.
    pub(crate) fn status_hint(status: u16, registry_hint: &str) -> String {
        match status {
            401 | 403 => format!(
                "Check the auth token for {registry_hint} in .npmrc (`//host/:_authToken=…`): \
                 it is missing, expired or lacks access to this package"
            ),
            404 => format!(
                "Check that this package and version exist on {registry_hint} and that the \
                 registry URL (and any @scope:registry) in .npmrc is right"
            ),
            407 => "The proxy asks for credentials: give them in the proxy URL \
                    (`https-proxy=http://user:password@host:port` in .npmrc, or HTTPS_PROXY)"
                .to_string(),
            408 | 429 => {
                "The registry throttled or timed out the request; retries ran out".to_string()
            }
            s if s >= 500 => "The registry had a server error; retries ran out".to_string(),
            _ => "The registry refused the request".to_string(),
        }
    }
}

/// The class of an error status in pnpm's metadata message: "client" or "server".
fn status_class(status: u16) -> &'static str {
    if status >= 500 {
        "server"
    } else {
        "client"
    }
}

/// The standard reason phrase of a status ("Not Found"), as registries send it.
fn status_reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown Status")
}
