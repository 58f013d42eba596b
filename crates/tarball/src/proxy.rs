//! Which proxy a download goes through, decided as pnpm decides it.
//!
//! pnpm takes `https-proxy` (or else `proxy`, or else the `https_proxy` variable) for
//! `https://` URLs, and `http-proxy` (or else that same https proxy, or else `http_proxy`,
//! or else `proxy` from the environment) for `http://` ones (`config/reader`,
//! `resolveProxySettings`). `proxy=false` turns proxying off, the variables included;
//! `https-proxy=false` and `http-proxy=false` count as unset, as they do there. `no-proxy`
//! (or `noproxy`, or `no_proxy`) lists hosts reached directly: a host matches an entry when
//! it ends with the entry's dot-separated labels (`@pnpm/network.proxy-agent`,
//! `checkNoProxy`); an IPv6 address is matched whole, with or without its brackets. A
//! variable is looked up as written, upper-case and lower-case, as pnpm does.
//!
//! With none of these set, no proxy is used at all: in particular not `ALL_PROXY`, which
//! the HTTP library would otherwise read and pnpm does not. Only `http://` and `https://`
//! proxies are taken; any other scheme (`socks5://` among them) is refused with a clear
//! error rather than bypassed or misused.

use crate::error::FetchError;
use crate::url::split_url;

/// A proxy URL as set, and the setting or variable it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxySetting {
    pub url: String,
    pub source: String,
}

impl std::fmt::Debug for ProxySetting {
    /// Without the credentials a proxy URL may carry.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", redact_proxy(&self.url), self.source)
    }
}

/// The proxy settings of an install, before they are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyOptions {
    /// For `https://` URLs.
    pub https: Option<ProxySetting>,
    /// For `http://` URLs.
    pub http: Option<ProxySetting>,
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
        let from = |source: &str, url: String| ProxySetting {
            url,
            source: source.to_string(),
        };
        let set = |key: &str| {
            setting(key)
                .filter(|v| !v.is_empty() && v != "false")
                .map(|v| from(key, v))
        };
        let var = |name: &str| {
            [name.to_string(), name.to_uppercase(), name.to_lowercase()]
                .iter()
                .find_map(|n| env(n).filter(|v| !v.is_empty()).map(|v| from(n, v)))
        };
        // `proxy=false` ends both chains before the variables.
        let off = setting("proxy").is_some_and(|v| v == "false");
        let https = set("https-proxy")
            .or_else(|| set("proxy"))
            .or_else(|| (!off).then(|| var("https_proxy")).flatten());
        let http = set("http-proxy").or_else(|| https.clone()).or_else(|| {
            (!off)
                .then(|| var("http_proxy").or_else(|| var("proxy")))
                .flatten()
        });
        let no_proxy = setting("no-proxy")
            .filter(|v| !v.is_empty())
            .or_else(|| setting("noproxy").filter(|v| !v.is_empty()))
            .or_else(|| var("no_proxy").map(|s| s.url))
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
        let parse = |value: &Option<ProxySetting>| {
            value
                .as_ref()
                .map(|setting| {
                    parse_proxy_url(setting).map(|url| Proxy {
                        url,
                        shown: format!("{} from {}", redact_proxy(&setting.url), setting.source),
                    })
                })
                .transpose()
        };
        Ok(Proxies {
            https: parse(&self.https)?,
            http: parse(&self.http)?,
            no_proxy: self.no_proxy.clone(),
        })
    }
}

/// A checked proxy.
#[derive(Clone)]
struct Proxy {
    url: reqwest::Url,
    /// For messages: the URL without credentials, and where it was set.
    shown: String,
}

/// The checked proxies.
#[derive(Clone)]
pub(crate) struct Proxies {
    https: Option<Proxy>,
    http: Option<Proxy>,
    no_proxy: Vec<String>,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |p: &Option<Proxy>| p.as_ref().map(|p| p.shown.clone());
        f.debug_struct("Proxies")
            .field("https", &shown(&self.https))
            .field("http", &shown(&self.http))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl Proxies {
    /// The proxy for a request to `url`, if it takes one.
    pub(crate) fn for_url(&self, url: &str) -> Option<&reqwest::Url> {
        self.proxy_of(url).map(|p| &p.url)
    }

    /// The proxy `url` goes through, for a message: without credentials, with its source.
    pub(crate) fn shown_for(&self, url: &str) -> Option<&str> {
        self.proxy_of(url).map(|p| p.shown.as_str())
    }

    fn proxy_of(&self, url: &str) -> Option<&Proxy> {
        let parts = split_url(url)?;
        let proxy = match parts.scheme.to_ascii_lowercase().as_str() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        (!bypassed(&self.no_proxy, parts.host)).then_some(proxy)
    }
}

/// Whether `host` matches an entry of `no_proxy`: it ends with all the entry's labels. An
/// IPv6 address (bracketed or not, in the host or the entry) must match whole.
fn bypassed(no_proxy: &[String], host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if host.contains(':') {
        return no_proxy
            .iter()
            .any(|entry| entry.trim_start_matches('[').trim_end_matches(']') == host);
    }
    let host = labels(&host);
    no_proxy.iter().any(|entry| {
        let wanted = labels(entry);
        !wanted.is_empty() && host.len() >= wanted.len() && host.ends_with(&wanted)
    })
}

fn labels(name: &str) -> Vec<String> {
    name.split('.')
        .filter(|label| !label.is_empty())
        .map(str::to_string)
        .collect()
}

/// A proxy URL; one without a scheme is taken as `http://`. Only `http` and `https` are
/// proxies the client can use.
fn parse_proxy_url(setting: &ProxySetting) -> Result<reqwest::Url, FetchError> {
    let full = if setting.url.contains("://") {
        setting.url.clone()
    } else {
        format!("http://{}", setting.url)
    };
    let bad = |message: String| FetchError::Proxy {
        setting: setting.source.clone(),
        url: redact_proxy(&full),
        message,
    };
    let url = reqwest::Url::parse(&full).map_err(|e| bad(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(bad(format!(
            "`{other}` proxies are not supported, only `http://` and `https://` ones"
        ))),
    }
}

/// `url` with everything between `://` and the last `@` hidden: a proxy password may hold
/// characters (`/`, `#`) that end the authority for a URL parser.
fn redact_proxy(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let shown = match rest.rfind('@') {
        Some(at) => format!("***@{}", &rest[at + 1..]),
        None => rest.to_string(),
    };
    if scheme.is_empty() {
        shown
    } else {
        format!("{scheme}://{shown}")
    }
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

    fn url(setting: &Option<ProxySetting>) -> Option<(&str, &str)> {
        setting
            .as_ref()
            .map(|s| (s.url.as_str(), s.source.as_str()))
    }

    #[test]
    fn settings_come_before_variables_and_https_covers_http() {
        let p = resolve(
            &[("https-proxy", "http://s.test:1")],
            &[("HTTP_PROXY", "http://v.test:2")],
        );
        assert_eq!(url(&p.https), Some(("http://s.test:1", "https-proxy")));
        assert_eq!(url(&p.http), Some(("http://s.test:1", "https-proxy")));
        let p = resolve(&[("proxy", "http://p.test:3")], &[]);
        assert_eq!(url(&p.https), Some(("http://p.test:3", "proxy")));
        assert_eq!(url(&p.http), Some(("http://p.test:3", "proxy")));
        let p = resolve(
            &[("http-proxy", "http://h.test:4")],
            &[("https_proxy", "http://v.test:5")],
        );
        assert_eq!(url(&p.https), Some(("http://v.test:5", "https_proxy")));
        assert_eq!(url(&p.http), Some(("http://h.test:4", "http-proxy")));
        let p = resolve(
            &[],
            &[
                ("HTTP_PROXY", "http://v.test:2"),
                ("NO_PROXY", "a.test, B.test"),
            ],
        );
        assert_eq!(p.https, None);
        assert_eq!(url(&p.http), Some(("http://v.test:2", "HTTP_PROXY")));
        assert_eq!(p.no_proxy, vec!["a.test".to_string(), "b.test".to_string()]);
        assert!(resolve(&[("proxy", "")], &[("ALL_PROXY", "http://x.test")]).is_empty());
    }

    #[test]
    fn proxy_false_turns_proxying_off_and_the_others_false_are_unset() {
        let vars = [
            ("HTTPS_PROXY", "http://v.test:1"),
            ("HTTP_PROXY", "http://v.test:2"),
        ];
        assert!(resolve(&[("proxy", "false")], &vars).is_empty());
        let p = resolve(&[("https-proxy", "false"), ("http-proxy", "false")], &vars);
        assert_eq!(url(&p.https), Some(("http://v.test:1", "HTTPS_PROXY")));
        assert_eq!(url(&p.http), Some(("http://v.test:1", "HTTPS_PROXY")));
    }

    #[test]
    fn no_proxy_matches_whole_labels_at_the_end_of_the_host() {
        let p = resolve(
            &[
                ("https-proxy", "proxy.test:8080"),
                ("no-proxy", "internal.test,127.0.0.1,[::1]"),
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
        assert_eq!(via("http://[::1]:9999/a.tgz"), None);
        assert!(via("http://[::2]:9999/a.tgz").is_some());
        assert_eq!(
            p.shown_for("https://reg.test/a.tgz"),
            Some("proxy.test:8080 from https-proxy")
        );
    }

    #[test]
    fn a_proxy_url_that_cannot_be_used_is_a_clear_error_without_its_password() {
        for (value, problem) in [
            ("http://user:secret@[bad", "invalid"),
            ("user:se/cret@proxy.corp:80a", "invalid"),
            ("socks5://user:secret@proxy.corp:1080", "not supported"),
            ("htps://proxy.corp:8080", "not supported"),
        ] {
            let err = resolve(&[("https-proxy", value)], &[])
                .load()
                .expect_err(value);
            assert_eq!(err.code(), "ERR_TACK_PROXY_URL");
            let text = err.to_string();
            assert!(text.contains("https-proxy"), "{text}");
            assert!(text.contains(problem), "{value}: {text}");
            assert!(
                !text.contains("secret") && !text.contains("se/cret"),
                "{text}"
            );
        }
    }

    #[test]
    fn debug_output_hides_proxy_passwords() {
        let p = resolve(&[("proxy", "http://user:secret@proxy.test:8080")], &[]);
        assert!(!format!("{p:?}").contains("secret"));
        assert!(!format!("{:?}", p.load().expect("valid")).contains("secret"));
    }
}
