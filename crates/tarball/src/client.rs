//! The HTTP client every download of an install shares.
//!
//! Building it is not free: rustls loads and parses the system's root certificates, a
//! few milliseconds of one core, and a cold install cannot send its first request before
//! the client exists. [`HttpClient::new`] is separate from [`crate::Fetcher`] so that a
//! caller who already knows it will download (the CLI, when the store has no index) can
//! build the client on another thread while it reads the lockfile and plans the install.
//! Which authorities it trusts is `trust.rs`'s business, which certificate it presents and
//! to which registry is `client_tls.rs`'s, which proxy it goes through `proxy.rs`'s; the
//! address it connects from (`local-address`) is read here.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::client_tls::registry_of;
use crate::dns_cache::CachingResolver;
use crate::error::FetchError;
use crate::options::{FetchEvent, FetcherOptions};
use crate::proxy::Proxies;
use crate::trust::Trust;

/// The built clients: rustls, an HTTP/1.1 keep-alive pool as large as the network
/// concurrency, one DNS lookup per host name (`dns_cache.rs`), and no transparent
/// decompression (a tarball's bytes are what its integrity covers). One for every registry,
/// and one more for each registry with TLS settings of its own (`client_tls.rs`). Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    default: reqwest::Client,
    registries: Arc<BTreeMap<String, reqwest::Client>>,
    /// The proxies the clients route through, for messages.
    proxies: Option<Arc<Proxies>>,
    /// `local-address`, when connections are bound to it (for messages).
    local_address: Option<Arc<str>>,
}

impl HttpClient {
    /// Builds the clients for `opts`: their user agent, connect timeout, pool size, the
    /// authorities they trust and the certificate they present. A warning about those goes
    /// to `opts.on_event`.
    pub fn new(opts: &FetcherOptions) -> Result<Self, FetchError> {
        let proxies = (!opts.proxy.is_empty())
            .then(|| opts.proxy.load().map(Arc::new))
            .transpose()?;
        // With settings per registry, each hop of a redirect must go through the client of
        // its own URL, so the downloads follow redirects themselves (`download.rs`).
        let per_hop = !opts.trust.registries.is_empty();
        let local_address = match parse_local_address(opts.local_address.as_deref()) {
            Ok(address) => address,
            // pnpm 12 connects from no particular address then, without a word; we say so.
            Err(message) => {
                if let Some(sink) = &opts.on_event {
                    sink(&FetchEvent::Warning { message });
                }
                None
            }
        };
        // One cache of names for every client: they all talk to the same registries.
        let resolver = Arc::new(CachingResolver::system());
        let build = |trust| {
            let resolver = Arc::clone(&resolver);
            build(
                opts,
                trust,
                proxies.clone(),
                per_hop,
                local_address,
                resolver,
            )
        };
        let default = build(opts.trust.load()?)?;
        let registries = opts
            .trust
            .registries
            .iter()
            .map(|(registry, tls)| {
                let mut trust = opts.trust.load_for(registry, tls)?;
                // Said once, by the default client.
                trust.warnings.clear();
                let client = build(trust)?;
                Ok((registry.clone(), client))
            })
            .collect::<Result<_, FetchError>>()?;
        Ok(Self {
            default,
            registries: Arc::new(registries),
            proxies,
            local_address: local_address.map(|ip| Arc::from(ip.to_string())),
        })
    }

    /// `local-address`, when connections are bound to it (for messages).
    pub(crate) fn local_address(&self) -> Option<&str> {
        self.local_address.as_deref()
    }

    /// Whether redirects are left to the caller, to be followed with [`HttpClient::for_url`]
    /// of each hop (only when some registry has TLS settings of its own).
    pub(crate) fn redirects_per_hop(&self) -> bool {
        !self.registries.is_empty()
    }

    /// The proxy a request to `url` goes through, for a message (no credentials).
    pub(crate) fn proxy_shown_for(&self, url: &str) -> Option<&str> {
        self.proxies.as_deref()?.shown_for(url)
    }

    /// The client for a request to `url`.
    pub(crate) fn for_url(&self, url: &str) -> &reqwest::Client {
        registry_of(&self.registries, url).map_or(&self.default, |(_, client)| client)
    }
}

fn build(
    opts: &FetcherOptions,
    trust: Trust,
    proxies: Option<Arc<Proxies>>,
    per_hop: bool,
    local_address: Option<IpAddr>,
    resolver: Arc<CachingResolver>,
) -> Result<reqwest::Client, FetchError> {
    if let Some(sink) = &opts.on_event {
        for message in trust.warnings {
            sink(&FetchEvent::Warning { message });
        }
    }
    let mut builder = reqwest::Client::builder()
        .tls_built_in_webpki_certs(trust.builtin_mozilla)
        .tls_built_in_native_certs(trust.builtin_system)
        .danger_accept_invalid_certs(trust.accept_invalid);
    for cert in trust.added {
        builder = builder.add_root_certificate(cert);
    }
    if let Some(identity) = trust.identity {
        builder = builder.identity(identity);
    }
    // Without proxy settings, none: the library's own reading of the variables
    // (`ALL_PROXY` among them) is not pnpm's.
    builder = match proxies {
        Some(proxies) => builder.proxy(reqwest::Proxy::custom(move |url| {
            proxies.for_url(url.as_str()).cloned()
        })),
        None => builder.no_proxy(),
    };
    if per_hop {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    if local_address.is_some() {
        builder = builder.local_address(local_address);
    }
    builder
        .dns_resolver(resolver)
        .user_agent(opts.user_agent.clone())
        .connect_timeout(opts.idle_timeout)
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .pool_max_idle_per_host(opts.network_concurrency.max(1))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| FetchError::Client {
            message: e.to_string(),
        })
}

/// `local-address`: an IPv4 or IPv6 address, which every connection is bound to. Blanks
/// around it and an empty value are ignored, as `.npmrc` values are. Anything else (`eth0`,
/// `null`, `[::1]`) pnpm 12 ignores, connecting from whichever address the system picks;
/// so does tack, and the error is the warning that says so. One difference: pnpm 12 takes
/// an IPv6 address with a zone (`fe80::1%eth0`), which tack cannot bind to and ignores.
fn parse_local_address(value: Option<&str>) -> Result<Option<IpAddr>, String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let why = if value.contains('%') {
        "tack cannot bind to an IPv6 address with a zone (%interface); give one without"
    } else {
        "it is not an IPv4 or IPv6 address"
    };
    value.parse::<IpAddr>().map(Some).map_err(|_| {
        format!(
            "local-address {value:?} is ignored: {why}. Connections are made from whichever \
             address the system picks, as pnpm makes them; fix or remove the setting (.npmrc \
             or npm_config_local_address)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::parse_local_address as local_address;
    use std::net::IpAddr;

    #[test]
    fn local_address_takes_ipv4_and_ipv6_and_ignores_blank() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert_eq!(local_address(None).ok(), Some(None));
        assert_eq!(local_address(Some("  ")).ok(), Some(None));
        assert_eq!(
            local_address(Some(" 127.0.0.2 ")).ok(),
            Some(ip("127.0.0.2"))
        );
        assert_eq!(local_address(Some("::1")).ok(), Some(ip("::1")));
    }

    #[test]
    fn local_address_that_is_no_ip_is_a_warning_naming_it() {
        for bad in [
            "eth0",
            "localhost",
            "127.0.0.1:80",
            "300.1.1.1",
            "fe80::1%eth0",
            "null",
            "[::1]",
        ] {
            let warning = local_address(Some(bad)).expect_err(bad);
            assert!(
                warning.contains(bad) && warning.contains("ignored"),
                "{warning}"
            );
        }
    }
}
