//! The tarball URL of a registry package, derived the way pnpm's `getNpmTarballUrl` does (§2.2).

/// `${registry}${name}/-/${scopeless name}-${version without +build}.tgz`. The registry gets a
/// trailing `/` if it lacks one; the scope is not percent-encoded.
pub fn tarball_url(registry: &str, name: &str, version: &str) -> String {
    let slash = if registry.ends_with('/') { "" } else { "/" };
    let scopeless = match name.strip_prefix('@') {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, bare)| bare),
        None => name,
    };
    let version = version.split_once('+').map_or(version, |(v, _)| v);
    format!("{registry}{slash}{name}/-/{scopeless}-{version}.tgz")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            tarball_url("http://127.0.0.1:4873/", "@sindresorhus/is", "4.6.0"),
            "http://127.0.0.1:4873/@sindresorhus/is/-/is-4.6.0.tgz"
        );
        assert_eq!(
            tarball_url(
                "http://127.0.0.1:4873/api/npm/npm",
                "is-odd",
                "3.0.1+build.5"
            ),
            "http://127.0.0.1:4873/api/npm/npm/is-odd/-/is-odd-3.0.1.tgz"
        );
    }
}
