//! Which proxy a download goes through, decided as pnpm decides it.
//!
//! pnpm takes `https-proxy` (or else `proxy`, or else the `https_proxy` variable) for
//! `https://` URLs, and `http-proxy` (or else that same https proxy, or else `http_proxy`,
//! or else `proxy` from the environment) for `http://` ones (`config/reader`,
//! `resolveProxySettings`). `no-proxy` (or `noproxy`, or `no_proxy`) lists hosts reached
//! directly: a host matches an entry when it ends with the entry's dot-separated labels,
//! whatever the port (`@pnpm/network.proxy-agent`, `checkNoProxy`); `*` matches every host.
//! A variable is looked up as written, upper-case and lower-case, as pnpm does.
//!
//! With none of these set, no proxy is used at all: in particular not `ALL_PROXY`, which
//! the HTTP library would otherwise read and pnpm does not.

use crate::error::FetchError;
use crate::url::split_url;

/// The proxy settings of an install, before they are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyOptions {
    /// For `https://` URLs.
    pub https: Option<String>,
    /// For `http://` URLs.
    pub http: Option<String>,
    /// Hosts (or domains) reached directly.
    pub no_proxy: Vec<String>,
}

impl ProxyOptions {
    /// The settings from `.npmrc` (`setting` looks a key up there) and the environment
    /// (`env` looks a variable up), by pnpm's rules (see the module docs).
    pub fn resolve(
        setting: impl Fn(&str) -> Option<String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let set = |key: &str| setting(key).filter(|v| !v.is_empty());
        let var = |name: &str| {
            [name.to_string(), name.to_uppercase(), name.to_lowercase()]
                .iter()
                .find_map(|n| env(n).filter(|v| !v.is_empty()))
        };
        let https = set("https-proxy")
            .or_else(|| set("proxy"))
            .or_else(|| var("https_proxy"));
        let http = set("http-proxy")
            .or_else(|| https.clone())
            .or_else(|| var("http_proxy"))
            .or_else(|| var("proxy"));
        let no_proxy = set("no-proxy")
            .or_else(|| set("noproxy"))
            .or_else(|| var("no_proxy"))
            .map(|list| {
                list.split(',')
                    .map(|entry| entry.trim().to_ascii_lowercase())
                    .filter(|entry| !entry.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Self {
            https,
            http,
            no_proxy,
        }
    }

    /// Whether any proxy is set.
    pub fn is_empty(&self) -> bool {
        self.https.is_none() && self.http.is_none()
    }

    /// Checks the proxy URLs, for the client to route by.
    pub(crate) fn load(&self) -> Result<Proxies, FetchError> {
        let parse = |setting: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|url| parse_proxy_url(setting, url))
                .transpose()
        };
        Ok(Proxies {
            https: parse("https-proxy", &self.https)?,
            http: parse("proxy", &self.http)?,
            no_proxy: self.no_proxy.clone(),
        })
    }
}

/// The checked proxies.
#[derive(Debug, Clone)]
pub(crate) struct Proxies {
    https: Option<reqwest::Url>,
    http: Option<reqwest::Url>,
    no_proxy: Vec<String>,
}

impl Proxies {
    /// The proxy for a request to `url`, if it takes one.
    pub(crate) fn for_url(&self, url: &str) -> Option<&reqwest::Url> {
        let parts = split_url(url)?;
        let proxy = match parts.scheme.to_ascii_lowercase().as_str() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        let host = parts.host.trim_start_matches('[').trim_end_matches(']');
        (!bypassed(&self.no_proxy, host)).then_some(proxy)
    }
}

/// Whether `host` matches an entry of `no_proxy`: it ends with all the entry's labels.
fn bypassed(no_proxy: &[String], host: &str) -> bool {
    let host: Vec<String> = labels(&host.to_ascii_lowercase());
    no_proxy.iter().any(|entry| {
        if entry == "*" {
            return true;
        }
        // A port in the entry is not compared, as pnpm does not compare it.
        let name = match entry.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => entry,
        };
        let wanted = labels(name);
        !wanted.is_empty() && host.len() >= wanted.len() && host.ends_with(&wanted)
    })
}

fn labels(name: &str) -> Vec<String> {
    name.split('.')
        .filter(|label| !label.is_empty())
        .map(str::to_string)
        .collect()
}

/// A proxy URL; one without a scheme is taken as `http://`.
fn parse_proxy_url(setting: &str, url: &str) -> Result<reqwest::Url, FetchError> {
    let full = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    reqwest::Url::parse(&full).map_err(|e| FetchError::Proxy {
        setting: setting.to_string(),
        url: crate::url::redact_url(url),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve(settings: &[(&str, &str)], vars: &[(&str, &str)]) -> ProxyOptions {
        let settings: HashMap<String, String> = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyOptions::resolve(|k| settings.get(k).cloned(), |k| vars.get(k).cloned())
    }

    #[test]
    fn settings_come_before_variables_and_https_covers_http() {
        let p = resolve(
            &[("https-proxy", "http://s.test:1")],
            &[("HTTP_PROXY", "http://v.test:2")],
        );
        assert_eq!(p.https.as_deref(), Some("http://s.test:1"));
        assert_eq!(p.http.as_deref(), Some("http://s.test:1"));
        let p = resolve(&[("proxy", "http://p.test:3")], &[]);
        assert_eq!(p.https.as_deref(), Some("http://p.test:3"));
        assert_eq!(p.http.as_deref(), Some("http://p.test:3"));
        let p = resolve(
            &[("http-proxy", "http://h.test:4")],
            &[("https_proxy", "http://v.test:5")],
        );
        assert_eq!(p.https.as_deref(), Some("http://v.test:5"));
        assert_eq!(p.http.as_deref(), Some("http://h.test:4"));
        let p = resolve(
            &[],
            &[
                ("HTTP_PROXY", "http://v.test:2"),
                ("NO_PROXY", "a.test, B.test"),
            ],
        );
        assert_eq!(p.https, None);
        assert_eq!(p.http.as_deref(), Some("http://v.test:2"));
        assert_eq!(p.no_proxy, vec!["a.test".to_string(), "b.test".to_string()]);
        assert!(resolve(&[("proxy", "")], &[("ALL_PROXY", "http://x.test")]).is_empty());
    }

    #[test]
    fn no_proxy_matches_whole_labels_at_the_end_of_the_host() {
        let p = resolve(
            &[
                ("https-proxy", "proxy.test:8080"),
                ("no-proxy", "internal.test,127.0.0.1:4873"),
            ],
            &[],
        )
        .load()
        .expect("valid");
        let via = |url: &str| p.for_url(url).map(|u| u.as_str().to_string());
        assert_eq!(
            via("https://reg.test/a.tgz").as_deref(),
            Some("http://proxy.test:8080/")
        );
        assert_eq!(via("https://npm.internal.test/a.tgz"), None);
        assert_eq!(via("https://internal.test:8443/a.tgz"), None);
        assert!(via("https://notinternal.test/a.tgz").is_some());
        assert_eq!(via("http://127.0.0.1:9999/a.tgz"), None);
        let all = resolve(&[("proxy", "http://p.test"), ("noproxy", "*")], &[])
            .load()
            .expect("valid");
        assert!(all.for_url("https://reg.test/a.tgz").is_none());
    }

    #[test]
    fn a_proxy_url_that_does_not_parse_is_a_clear_error() {
        let err = resolve(&[("https-proxy", "http://user:secret@[bad")], &[])
            .load()
            .expect_err("bad URL");
        assert_eq!(err.code(), "ERR_TACK_PROXY_URL");
        let text = err.to_string();
        assert!(
            text.contains("https-proxy") && !text.contains("secret"),
            "{text}"
        );
    }
}
