//! Tarball URLs: deriving them exactly as pnpm does, resolving relative recorded ones,
//! and redacting credentials before a URL reaches an error or a log.
//!
//! A tiny hand-written splitter is enough here: registry URLs are `http(s)://` with an
//! optional userinfo, port and path, and pulling in a full WHATWG parser for that is not
//! worth it. Everything outside that shape is passed through untouched.

use std::borrow::Cow;

/// The parts of an absolute `scheme://[userinfo@]host[:port]/path` URL, as slices of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    pub scheme: &'a str,
    pub userinfo: Option<&'a str>,
    /// Host without the port, as written (callers lowercase it where needed).
    pub host: &'a str,
    pub port: Option<&'a str>,
    /// From the first `/` after the authority, without query or fragment; `/` when empty.
    pub path: &'a str,
}

/// Splits an absolute URL; `None` for anything without `scheme://`.
pub(crate) fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (host, port) = split_host_port(hostport);
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let path = if tail.starts_with('/') {
        &tail[..path_end]
    } else {
        "/"
    };
    Some(UrlParts {
        scheme,
        userinfo,
        host,
        port,
        path,
    })
}

/// The `host[:port]` of an absolute URL, without its userinfo and without the scheme's
/// default port; the whole string for anything else. What tells one registry from another.
pub(crate) fn host_and_port(url: &str) -> Cow<'_, str> {
    let Some(parts) = split_url(url) else {
        return Cow::Borrowed(url);
    };
    match parts.port {
        Some(port) if !is_default_port(parts.scheme, port) => {
            Cow::Owned(format!("{}:{port}", parts.host))
        }
        _ => Cow::Borrowed(parts.host),
    }
}

fn split_host_port(hostport: &str) -> (&str, Option<&str>) {
    // IPv6 literals: `[::1]:4873`.
    if hostport.starts_with('[') {
        if let Some(end) = hostport.find(']') {
            let host = &hostport[..=end];
            let rest = &hostport[end + 1..];
            return (host, rest.strip_prefix(':').filter(|p| !p.is_empty()));
        }
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        Some((h, "")) => (h, None),
        _ => (hostport, None),
    }
}

/// Whether `port` is the default for `scheme` (a WHATWG parser drops it).
pub(crate) fn is_default_port(scheme: &str, port: &str) -> bool {
    matches!(
        (scheme.to_ascii_lowercase().as_str(), port),
        ("https", "443") | ("http", "80")
    )
}

/// Replaces the userinfo of a URL (`user:token@`) with `***@`. Safe to show to users.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    format!(
        "{scheme}://***@{}{}",
        &authority[at + 1..],
        &rest[auth_end..]
    )
}

/// `registry` with exactly one trailing `/`, as pnpm normalizes registry URLs.
pub fn normalize_registry(registry: &str) -> String {
    let trimmed = registry.trim_end_matches('/');
    format!("{trimmed}/")
}

/// pnpm's `getNpmTarballUrl`: `${registry}${name}/-/${scopeless name}-${version without
/// +build}.tgz`.
///
/// The scope is not percent-encoded, and a registry with a path keeps it.
pub fn tarball_url(registry: &str, name: &str, version: &str) -> String {
    let registry = registry.trim_end_matches('/');
    let scopeless = match name.strip_prefix('@') {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, n)| n),
        None => name,
    };
    let version = version.split_once('+').map_or(version, |(v, _)| v);
    // One allocation: the plan makes this URL for every package of the lockfile.
    let parts = [registry, "/", name, "/-/", scopeless, "-", version, ".tgz"];
    let mut url = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        url.push_str(part);
    }
    url
}

/// The file a `file:///abs/path.tgz` tarball URL names (a dependency on a local tarball,
/// which the lockfile records as `file:<path relative to the lockfile's directory>` and the
/// installer resolves to this), or `None` for any other URL.
pub fn local_tarball_path(url: &str) -> Option<&std::path::Path> {
    url.strip_prefix("file://")
        .filter(|path| path.starts_with('/'))
        .map(std::path::Path::new)
}

/// The URL to download for a locked package: the recorded `resolution.tarball` when there
/// is one (relative ones resolved against the registry, as pnpm's `new URL(tarball, registry)`),
/// else the derived one.
pub fn resolve_tarball_url(
    registry: &str,
    recorded: Option<&str>,
    name: &str,
    version: &str,
) -> String {
    match recorded {
        None => tarball_url(registry, name, version),
        Some(recorded) if split_url(recorded).is_some() => recorded.to_string(),
        Some(recorded) => join_relative(&normalize_registry(registry), recorded),
    }
}

/// RFC 3986 reference resolution for the shapes a lockfile can hold: `//host/…`,
/// `/abs/path`, and relative paths with `./` and `../` segments.
fn join_relative(base: &str, reference: &str) -> String {
    let Some(parts) = split_url(base) else {
        return format!("{base}{reference}");
    };
    if let Some(rest) = reference.strip_prefix("//") {
        return format!("{}://{rest}", parts.scheme);
    }
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(base.len(), |i| after_scheme + i);
    let origin = &base[..origin_end];
    let (ref_path, ref_suffix) = match reference.find(['?', '#']) {
        Some(i) => reference.split_at(i),
        None => (reference, ""),
    };
    let mut segments: Vec<&str> = if ref_path.starts_with('/') {
        Vec::new()
    } else {
        // The base's directory: everything up to its last `/`.
        let dir = &parts.path[..parts.path.rfind('/').map_or(0, |i| i + 1)];
        dir.split('/').filter(|s| !s.is_empty()).collect()
    };
    let ref_segments: Vec<&str> = ref_path.split('/').collect();
    let last = ref_segments.len().saturating_sub(1);
    for (i, seg) in ref_segments.iter().enumerate() {
        match *seg {
            "" if i != last => {}
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("{origin}/{}{ref_suffix}", segments.join("/"))
}

/// `/a/b/c.tgz` → `["/a/b/", "/a/", "/"]`: the directory prefixes, longest first.
pub(crate) fn path_prefixes(path: &str) -> Vec<String> {
    // The path the request goes to: the HTTP client resolves `..` (and `%2e%2e`) segments,
    // so a URL that climbs out of a token's path must not match that path's prefix.
    let path = remove_dot_segments(path);
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let segments: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    (0..=segments.len())
        .rev()
        .map(|n| {
            let mut p = String::from("/");
            for s in &segments[..n] {
                p.push_str(s);
                p.push('/');
            }
            p
        })
        .collect()
}

/// `path` with its `.` and `..` segments resolved, as a URL parser resolves them (`%2e` is
/// a dot too); the query and fragment, if any, are left out.
fn remove_dot_segments(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let is_dot = |s: &str| s == "." || s.eq_ignore_ascii_case("%2e");
    let is_dot_dot = |s: &str| {
        let lower = s.to_ascii_lowercase();
        matches!(lower.as_str(), ".." | ".%2e" | "%2e." | "%2e%2e")
    };
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if is_dot_dot(segment) {
            out.pop();
            if last {
                out.push("");
            }
        } else if is_dot(segment) {
            if last {
                out.push("");
            }
        } else {
            out.push(segment);
        }
    }
    format!("/{}", out.join("/"))
}

/// Lowercases the host (and port) of a nerf-dart key `//host[:port]/path/` in place, as a
/// URL parser lowercases a host; returns where the authority ends.
pub(crate) fn lowercase_authority(nerf: &mut String) -> usize {
    let authority_end = nerf
        .get(2..)
        .and_then(|rest| rest.find('/'))
        .map_or(nerf.len(), |i| i + 2);
    let lowered = nerf[..authority_end].to_ascii_lowercase();
    nerf.replace_range(..authority_end, &lowered);
    authority_end
}

/// The nerf-dart keys (`//host[:port]/path/`) that settings for `url` may be filed under,
/// in the order pnpm tries them (`pickSettingByUrl`): the host with its port and the
/// longest path prefix first, down to `//host:port/`, then the same without the port. The
/// host is lowercased and a default port dropped, as in a URL pnpm parses.
pub(crate) fn nerf_candidates(url: &str) -> Vec<String> {
    let Some(parts) = split_url(url) else {
        return Vec::new();
    };
    let host = parts.host.to_ascii_lowercase();
    let port = parts.port.filter(|p| !is_default_port(parts.scheme, p));
    let with_port = port.map(|p| format!("{host}:{p}"));
    let prefixes = path_prefixes(parts.path);
    with_port
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(host.as_str()))
        .flat_map(|authority| prefixes.iter().map(move |p| format!("//{authority}{p}")))
        .collect()
}

/// `scheme://host[:port]/` of `url` (the registry, in hints); `url` itself when it is not
/// one.
pub(crate) fn origin(url: &str) -> String {
    split_url(url)
        .map(|p| match p.port {
            Some(port) => format!("{}://{}:{port}/", p.scheme, p.host),
            None => format!("{}://{}/", p.scheme, p.host),
        })
        .unwrap_or_else(|| url.to_string())
}

/// The URL without `user:pass@`: credentials travel only in the header we build, so
/// reqwest never adds a second `Authorization` from the URL.
pub(crate) fn strip_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..auth_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{host_and_port, origin, redact_url, resolve_tarball_url, split_url, tarball_url};

    #[test]
    fn the_origin_of_a_url_is_its_registry() {
        assert_eq!(
            origin("http://127.0.0.1:4873/@scope%2fname"),
            "http://127.0.0.1:4873/"
        );
        assert_eq!(origin("no-scheme"), "no-scheme");
    }

    const REG: &str = "https://registry.example.test/";

    #[test]
    fn host_and_port_leave_out_the_credentials_and_the_path() {
        assert_eq!(
            host_and_port("https://user:pw@registry.example.test:8443/a/-/a-1.tgz"),
            "registry.example.test:8443"
        );
        assert_eq!(host_and_port("http://[::1]:4873?x"), "[::1]:4873");
        assert_eq!(host_and_port(REG), "registry.example.test");
        assert_eq!(
            host_and_port("https://registry.example.test:443/a"),
            "registry.example.test"
        );
        assert_eq!(host_and_port("http://[::1]:80/"), "[::1]");
        assert_eq!(host_and_port("http://h:8080/"), "h:8080");
        assert_eq!(host_and_port("file:a.tgz"), "file:a.tgz");
    }

    #[test]
    fn derives_plain_scoped_and_build_metadata_urls() {
        assert_eq!(
            tarball_url(REG, "is-odd", "3.0.1"),
            "https://registry.example.test/is-odd/-/is-odd-3.0.1.tgz"
        );
        assert_eq!(
            tarball_url("https://registry.example.test", "@sindresorhus/is", "4.6.0"),
            "https://registry.example.test/@sindresorhus/is/-/is-4.6.0.tgz"
        );
        assert_eq!(
            tarball_url(REG, "foo", "1.0.0+build.5"),
            "https://registry.example.test/foo/-/foo-1.0.0.tgz"
        );
    }

    #[test]
    fn registry_with_a_path_keeps_it() {
        assert_eq!(
            tarball_url(
                "https://art.example.test/api/npm/npm",
                "@acme/widget",
                "1.0.0"
            ),
            "https://art.example.test/api/npm/npm/@acme/widget/-/widget-1.0.0.tgz"
        );
    }

    #[test]
    fn recorded_urls_absolute_and_relative() {
        let reg = "http://127.0.0.1:4873/npm/";
        assert_eq!(
            resolve_tarball_url(reg, Some("https://cdn.example.test/x.tgz"), "x", "1.0.0"),
            "https://cdn.example.test/x.tgz"
        );
        assert_eq!(
            resolve_tarball_url(reg, Some("x/-/x-1.0.0.tgz"), "x", "1.0.0"),
            "http://127.0.0.1:4873/npm/x/-/x-1.0.0.tgz"
        );
        assert_eq!(
            resolve_tarball_url(reg, Some("/other/x.tgz"), "x", "1.0.0"),
            "http://127.0.0.1:4873/other/x.tgz"
        );
        assert_eq!(
            resolve_tarball_url(reg, Some("../x.tgz?a=1"), "x", "1.0.0"),
            "http://127.0.0.1:4873/x.tgz?a=1"
        );
        assert_eq!(
            resolve_tarball_url("http://127.0.0.1:4873/npm", Some("./x.tgz"), "x", "1.0.0"),
            "http://127.0.0.1:4873/npm/x.tgz"
        );
        assert_eq!(
            resolve_tarball_url(reg, Some("//mirror.example.test/x.tgz"), "x", "1.0.0"),
            "http://mirror.example.test/x.tgz"
        );
        assert_eq!(
            resolve_tarball_url(reg, None, "x", "1.0.0"),
            "http://127.0.0.1:4873/npm/x/-/x-1.0.0.tgz"
        );
    }

    #[test]
    fn redacts_userinfo_only() {
        assert_eq!(
            redact_url("https://user:s3cret@host.test:8080/a/b.tgz?x=1"),
            "https://***@host.test:8080/a/b.tgz?x=1"
        );
        assert_eq!(
            redact_url("https://host.test/a@b.tgz"),
            "https://host.test/a@b.tgz"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn splits_ports_and_ipv6() {
        let p = split_url("http://[::1]:4873/a/b").unwrap();
        assert_eq!((p.host, p.port, p.path), ("[::1]", Some("4873"), "/a/b"));
        let p = split_url("https://u:p@h.test").unwrap();
        assert_eq!(
            (p.userinfo, p.host, p.port, p.path),
            (Some("u:p"), "h.test", None, "/")
        );
    }
}
