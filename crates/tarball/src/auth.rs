//! The auth table: which `Authorization` header goes with which tarball URL.
//!
//! Credentials come from `.npmrc` pairs keyed by "nerf dart" (`//host[:port]/path/`).
//! Lookup follows pnpm (`network/auth-header`): userinfo in the URL first, then the
//! package scope's creds, then the longest matching path prefix down to `//host/`, then
//! the same again without the port. A token is only ever sent to the URL prefix it was
//! configured for, and the table never prints a secret (its `Debug` shows keys only).

use std::collections::{BTreeMap, HashMap};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::url::{is_default_port, lowercase_authority, path_prefixes, split_url};

/// One nerf dart's credentials, as found in `.npmrc`.
#[derive(Default, Clone)]
struct Creds {
    auth_token: Option<String>,
    /// base64 of `user:pass`, used verbatim.
    auth: Option<String>,
    username: Option<String>,
    /// base64 of the password, as npm stores it.
    password_b64: Option<String>,
}

impl Creds {
    fn header(&self) -> Option<String> {
        if let Some(token) = self.auth_token.as_deref().filter(|t| !t.is_empty()) {
            return Some(format!("Bearer {token}"));
        }
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            return Some(format!("Basic {auth}"));
        }
        if let (Some(user), Some(pass_b64)) = (&self.username, &self.password_b64) {
            let pass = B64.decode(pass_b64.trim()).ok()?;
            let mut raw = format!("{user}:").into_bytes();
            raw.extend_from_slice(&pass);
            return Some(format!("Basic {}", B64.encode(raw)));
        }
        None
    }
}

/// Credentials by `(nerf dart, scope)`, built from `.npmrc` pairs.
#[derive(Default, Clone)]
pub struct AuthTable {
    creds: HashMap<(String, Option<String>), Creds>,
}

impl std::fmt::Debug for AuthTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<String> = self
            .creds
            .keys()
            .map(|(nerf, scope)| match scope {
                Some(s) => format!("{nerf}:{s}"),
                None => nerf.clone(),
            })
            .collect();
        keys.sort();
        f.debug_struct("AuthTable")
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl AuthTable {
    /// Builds the table from flattened `.npmrc` pairs (`//host/:_authToken` → value).
    ///
    /// Only URL-scoped credentials count: the configuration pins each source's unscoped
    /// `_authToken`/`_auth`/`username`/`_password` to that source's registry when it loads
    /// (`tack_config`), so a registry another layer names never receives them.
    pub fn from_npmrc(pairs: &BTreeMap<String, String>) -> Self {
        let mut table = Self::default();
        for (key, value) in pairs {
            let Some((nerf, scope, setting)) = parse_key(key) else {
                continue;
            };
            table.set(nerf, scope, setting, value);
        }
        table
    }

    fn set(&mut self, nerf: String, scope: Option<String>, setting: &str, value: &str) {
        let entry = self.creds.entry((nerf, scope)).or_default();
        let value = Some(value.to_string());
        match setting {
            "_authToken" => entry.auth_token = value,
            "_auth" => entry.auth = value,
            "username" => entry.username = value,
            "_password" => entry.password_b64 = value,
            _ => {}
        }
    }

    /// True when no credentials are configured.
    pub fn is_empty(&self) -> bool {
        self.creds.values().all(|c| c.header().is_none())
    }

    /// The `Authorization` header value for `url`, if any. `scope` is the package's
    /// scope (`@acme`) when it has one.
    pub fn header_for(&self, url: &str, scope: Option<&str>) -> Option<String> {
        let parts = split_url(url)?;
        if let Some(userinfo) = parts.userinfo.filter(|u| !u.is_empty()) {
            let decoded = percent_decode(userinfo);
            return Some(format!("Basic {}", B64.encode(decoded)));
        }
        let host = parts.host.to_ascii_lowercase();
        let port = parts.port.filter(|p| !is_default_port(parts.scheme, p));
        let with_port = port.map(|p| format!("{host}:{p}"));
        let hosts = with_port
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(host.as_str()));
        for authority in hosts {
            let prefixes = path_prefixes(parts.path);
            if let Some(scope) = scope {
                let scope = scope.to_string();
                for prefix in &prefixes {
                    let key = (format!("//{authority}{prefix}"), Some(scope.clone()));
                    if let Some(h) = self.creds.get(&key).and_then(Creds::header) {
                        return Some(h);
                    }
                }
            }
            for prefix in &prefixes {
                let key = (format!("//{authority}{prefix}"), None);
                if let Some(h) = self.creds.get(&key).and_then(Creds::header) {
                    return Some(h);
                }
            }
        }
        None
    }
}

/// `//host/path/:@scope:_authToken` → (`//host/path/`, Some(`@scope`), `_authToken`).
/// Also `//host/@scope/:_authToken`.
fn parse_key(key: &str) -> Option<(String, Option<String>, &str)> {
    if !key.starts_with("//") {
        return None;
    }
    let slash = key.rfind('/')?;
    let (nerf, rest) = key.split_at(slash + 1);
    let rest = rest.strip_prefix(':')?;
    let (mut scope, setting) = match rest.strip_prefix('@') {
        Some(scoped) => {
            let (name, setting) = scoped.split_once(':')?;
            (Some(format!("@{name}")), setting)
        }
        None => (None, rest),
    };
    let mut nerf = nerf.to_string();
    let authority_end = lowercase_authority(&mut nerf);
    // `//host/@scope/:_authToken`: the last path segment is the scope.
    if scope.is_none() {
        let trimmed = nerf.trim_end_matches('/');
        if let Some(i) = trimmed.rfind('/') {
            let last = &trimmed[i + 1..];
            if last.starts_with('@') && i + 1 > authority_end {
                scope = Some(last.to_string());
                nerf.truncate(i + 1);
            }
        }
    }
    Some((nerf, scope, setting))
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = [bytes[i + 1], bytes[i + 2]];
            if let Some(b) = std::str::from_utf8(&hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;

    use super::AuthTable;

    fn table(pairs: &[(&str, &str)]) -> AuthTable {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AuthTable::from_npmrc(&map)
    }

    #[test]
    fn bearer_by_longest_prefix() {
        let t = table(&[
            ("//reg.test/:_authToken", "root"),
            ("//reg.test/api/npm/:_authToken", "deep"),
        ]);
        assert_eq!(
            t.header_for("https://reg.test/api/npm/foo/-/foo-1.0.0.tgz", None)
                .as_deref(),
            Some("Bearer deep")
        );
        assert_eq!(
            t.header_for("https://reg.test/other/foo-1.0.0.tgz", None)
                .as_deref(),
            Some("Bearer root")
        );
        assert_eq!(t.header_for("https://elsewhere.test/foo.tgz", None), None);
        // A token for one host is never sent to a host that merely shares a prefix.
        assert_eq!(t.header_for("https://reg.test.evil/foo.tgz", None), None);
    }

    #[test]
    fn port_then_without_port() {
        let t = table(&[
            ("//127.0.0.1/:_authToken", "noport"),
            ("//127.0.0.1:9000/:_authToken", "p"),
        ]);
        assert_eq!(
            t.header_for("http://127.0.0.1:9000/a.tgz", None).as_deref(),
            Some("Bearer p")
        );
        assert_eq!(
            t.header_for("http://127.0.0.1:9001/a.tgz", None).as_deref(),
            Some("Bearer noport")
        );
        let t = table(&[("//h.test/:_authToken", "x")]);
        assert_eq!(
            t.header_for("https://h.test:443/a.tgz", None).as_deref(),
            Some("Bearer x")
        );
    }

    #[test]
    fn basic_from_auth_and_username_password() {
        let t = table(&[("//a.test/:_auth", "dXNlcjpwYXNz")]);
        assert_eq!(
            t.header_for("https://a.test/x.tgz", None).as_deref(),
            Some("Basic dXNlcjpwYXNz")
        );
        let t = table(&[
            ("//b.test/:username", "user"),
            ("//b.test/:_password", &B64.encode("pass")),
        ]);
        assert_eq!(
            t.header_for("https://b.test/x.tgz", None).as_deref(),
            Some(format!("Basic {}", B64.encode("user:pass")).as_str())
        );
    }

    #[test]
    fn userinfo_in_url_wins() {
        let t = table(&[("//c.test/:_authToken", "tok")]);
        assert_eq!(
            t.header_for("https://me:p%40ss@c.test/x.tgz", None)
                .as_deref(),
            Some(format!("Basic {}", B64.encode("me:p@ss")).as_str())
        );
    }

    #[test]
    fn scoped_creds_both_spellings() {
        let t = table(&[
            ("//d.test/:_authToken", "plain"),
            ("//d.test/:@acme:_authToken", "acme"),
            ("//d.test/@corp/:_authToken", "corp"),
        ]);
        assert_eq!(
            t.header_for("https://d.test/@acme/w/-/w-1.tgz", Some("@acme"))
                .as_deref(),
            Some("Bearer acme")
        );
        assert_eq!(
            t.header_for("https://d.test/@corp/w/-/w-1.tgz", Some("@corp"))
                .as_deref(),
            Some("Bearer corp")
        );
        assert_eq!(
            t.header_for("https://d.test/w/-/w-1.tgz", None).as_deref(),
            Some("Bearer plain")
        );
    }

    /// An unscoped credential left in the merged pairs goes nowhere: the configuration pins
    /// each source's unscoped credentials to that source's registry when it loads them, and
    /// the merged `registry` may come from another source (a project `.npmrc`).
    #[test]
    fn an_unscoped_token_is_sent_to_no_registry() {
        let t = table(&[("registry", "https://e.test/npm/"), ("_authToken", "top")]);
        assert_eq!(t.header_for("https://e.test/npm/x/-/x-1.tgz", None), None);
        assert_eq!(t.header_for("https://f.test/x.tgz", None), None);
    }

    /// A token for a path goes only to URLs under that path once `..` is resolved, as the
    /// request resolves it: a lockfile tarball URL that climbs out must not carry it.
    #[test]
    fn a_url_climbing_out_of_a_token_s_path_does_not_get_it() {
        let t = table(&[("//h.test/api/npm/:_authToken", "project-token")]);
        assert_eq!(
            t.header_for("https://h.test/api/npm/x/-/x-1.tgz", None)
                .as_deref(),
            Some("Bearer project-token")
        );
        for url in [
            "https://h.test/api/npm/../../other/x.tgz",
            "https://h.test/api/npm/%2e%2e/%2E%2e/other/x.tgz",
            "https://h.test/api/npm/./../x.tgz",
        ] {
            assert_eq!(t.header_for(url, None), None, "{url}");
        }
        assert_eq!(
            t.header_for("https://h.test/api/other/../npm/x.tgz", None)
                .as_deref(),
            Some("Bearer project-token")
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let t = table(&[("//g.test/:_authToken", "supersecret")]);
        let shown = format!("{t:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("//g.test/"));
    }
}
