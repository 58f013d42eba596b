//! Why a request failed, told apart so that each failure gets the right error and only
//! transient ones are retried: a certificate refused by either side, a registry that ends
//! the TLS handshake, a `local-address` that cannot be used, a proxy that wants
//! credentials or will not open a tunnel, and nginx's page for a missing client
//! certificate. hyper-util's connect and tunnel errors are private types, so some of this
//! reads their text.

use std::time::Duration;

use crate::client::HttpClient;
use crate::error::FetchError;
use crate::url::redact_url;

/// The error for a request to `url` (already redacted) for `pkg_id` that failed before
/// any response: which of the failures above it was, or else a plain, retried
/// [`FetchError::Network`] whose message carries the whole chain of causes.
pub(crate) fn network_error(
    pkg_id: &str,
    client: &HttpClient,
    url: &str,
    e: &reqwest::Error,
) -> FetchError {
    // Neither is a network failure, and a retry gives the same answer.
    if e.is_builder() {
        return FetchError::BadUrl {
            pkg: pkg_id.to_string(),
            url: redact_url(url),
            message: redact_url(&error_chain(e)),
        };
    }
    if e.is_redirect() {
        return FetchError::TooManyRedirects {
            pkg: pkg_id.to_string(),
            url: redact_url(url),
            message: redact_url(&error_chain(e)),
        };
    }
    // reqwest's message names the URL we sent (already without userinfo); walk the
    // source chain for the underlying cause (connection refused, reset, …).
    let mut message = e.to_string();
    // The hop that failed: after a redirect followed hop by hop, not `url`.
    let hop = e.url().map_or_else(|| url.to_string(), |u| u.to_string());
    let mut refused = None;
    let mut proxy_auth = false;
    let mut tunnel_refused = false;
    let mut local = None;
    let mut parent = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        // hyper-util's connect and tunnel errors are not public: their text is all
        // there is to go by.
        local = local.or_else(|| local_address_failure(&parent, s));
        proxy_auth |= text.ends_with("proxy authorization required");
        tunnel_refused |= text.ends_with("tunnel error: unsuccessful");
        message.push_str(": ");
        message.push_str(&text);
        refused = refused.or_else(|| refused_certificate(s));
        parent = text;
        source = s.source();
    }
    if let Some(value) = client.local_address() {
        match local {
            // Every connection would fail the same way: not retried.
            Some(why) => {
                return FetchError::LocalAddress {
                    value: value.to_string(),
                    message: format!("{why}; {pkg_id} failed"),
                };
            }
            None => message.push_str(&format!(
                " (connections are bound to local-address {value})"
            )),
        }
    }
    if let Some(proxy) = client.proxy_shown_for(&hop) {
        if proxy_auth {
            return FetchError::ProxyAuth {
                pkg: pkg_id.to_string(),
                url: url.to_string(),
                proxy: proxy.to_string(),
            };
        }
        if tunnel_refused {
            // Any status but 200 and 407 to the CONNECT: the proxy's own rules, or the
            // registry unreachable from it (a 502 may pass, so this is still retried).
            message.push_str(&format!(
                " (the proxy {proxy} would not open a tunnel to {}: it answered the \
                 CONNECT with an error status; check that the proxy allows this host \
                 and can reach it)",
                host_port(&hop)
            ));
        } else {
            message.push_str(&format!(" (through the proxy {proxy})"));
        }
    }
    let (pkg, url, message) = (pkg_id.to_string(), url.to_string(), redact_url(&message));
    match refused {
        Some(Refused::Server) => {
            return FetchError::UntrustedCertificate { pkg, url, message };
        }
        Some(Refused::Client) => {
            return FetchError::ClientCertificateRefused { pkg, url, message };
        }
        Some(Refused::Handshake) => {
            return FetchError::TlsHandshake { pkg, url, message };
        }
        None => {}
    }
    FetchError::Network { pkg, url, message }
}

/// An error and its causes, `: `-separated.
fn error_chain(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// Why `local-address` itself made a connection fail, from one error of the chain and the
/// text of the one around it (hyper-util's `ConnectError`): the address could not be bound
/// (not this machine's), or the host has no address of its family (hyper-util then tries
/// none). A refused or timed-out connection is not this: it is retried as any other.
fn local_address_failure(
    parent: &str,
    error: &(dyn std::error::Error + 'static),
) -> Option<&'static str> {
    let io = error.downcast_ref::<std::io::Error>()?;
    match (parent, io.kind()) {
        ("tcp bind local error", std::io::ErrorKind::AddrNotAvailable) => {
            Some("it is not an address of this machine")
        }
        ("tcp connect error", std::io::ErrorKind::NotConnected) => Some(
            "the registry's host has no address of its family (an IPv4 local-address \
             reaches only IPv4 hosts, an IPv6 one only IPv6 hosts)",
        ),
        _ => None,
    }
}

/// Which side's certificate a TLS handshake failed on.
enum Refused {
    /// tack refused the registry's certificate.
    Server,
    /// The registry asked for a client certificate, or refused the one sent.
    Client,
    /// The registry ended the handshake without saying why (`handshake_failure`): what an
    /// OpenSSL server (nginx, HAProxy) sends under TLS 1.2 for a missing client
    /// certificate, and any server that shares no version or cipher suite with us.
    Handshake,
}

/// The hint for a 400 whose page says the registry's server wants a client certificate.
pub(crate) const CLIENT_CERTIFICATE_PAGE_HINT: &str =
    "The registry's server says it wants a client \
     certificate it trusts: set `//host/:certfile` and `//host/:keyfile` (or `cert` and `key`) \
     in .npmrc, as for pnpm, or check that the one set is signed by an authority it trusts";

/// The longest a 400's page is read for [`CLIENT_CERTIFICATE_PAGE_HINT`].
pub(crate) const PAGE_READ_LIMIT: Duration = Duration::from_secs(5);

pub(crate) fn is_html(content_type: &str) -> bool {
    content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("text/html")
}

/// nginx's own pages for a client certificate not sent (its 496) and not accepted (495),
/// both answered as `400`: their titles, which no registry's JSON error carries.
pub(crate) fn is_client_certificate_page(page: &[u8]) -> bool {
    let page = String::from_utf8_lossy(page).to_ascii_lowercase();
    page.contains("400 no required ssl certificate was sent")
        || page.contains("400 the ssl certificate error")
}

/// Whether `error` is a certificate refused by either side, bare or inside the
/// `io::Error`s the connector wraps it in (which `source()` skips over).
fn refused_certificate(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    use rustls::AlertDescription as Alert;
    let mut current = error;
    loop {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                    Some(Refused::Server)
                }
                // The registry's alerts about the certificate it asked of us.
                rustls::Error::AlertReceived(
                    Alert::CertificateRequired
                    | Alert::BadCertificate
                    | Alert::UnsupportedCertificate
                    | Alert::CertificateRevoked
                    | Alert::CertificateExpired
                    | Alert::CertificateUnknown
                    | Alert::UnknownCA,
                ) => Some(Refused::Client),
                rustls::Error::AlertReceived(
                    Alert::HandshakeFailure | Alert::ProtocolVersion | Alert::InsufficientSecurity,
                ) => Some(Refused::Handshake),
                _ => None,
            };
        }
        match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => current = inner,
            None => return None,
        }
    }
}

/// `host:port` of an `http(s)://` URL, as a tunnel is asked for (the scheme's port when
/// none is given).
fn host_port(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!(
            "{}:{}",
            parsed.host_str().unwrap_or_default(),
            parsed.port_or_known_default().unwrap_or(443)
        ),
        Err(_) => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_client_certificate_page, is_html};

    #[test]
    fn nginx_client_certificate_pages_are_told_from_other_pages() {
        let title = |t: &str| format!("<html><head><title>{t}</title></head></html>");
        assert!(is_client_certificate_page(
            title("400 No required SSL certificate was sent").as_bytes()
        ));
        assert!(is_client_certificate_page(
            title("400 The SSL certificate error").as_bytes()
        ));
        assert!(is_client_certificate_page(
            title("400 NO REQUIRED SSL CERTIFICATE WAS SENT").as_bytes()
        ));
        assert!(!is_client_certificate_page(
            title("400 Bad Request").as_bytes()
        ));
        assert!(!is_client_certificate_page(
            b"502: SSL certificate error contacting upstream"
        ));
        assert!(is_html("text/html; charset=utf-8"));
        assert!(is_html("Text/HTML"));
        assert!(!is_html("application/json"));
    }
}
