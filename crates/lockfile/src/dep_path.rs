//! Dep paths: the keys of `packages`/`snapshots` (`name@version(peers)(patch_hash=…)`), and the
//! refs that point at them. Mirrors pnpm's `deps/path` so ids and keys match byte for byte.

/// Where the suffixes of a dep path start: `(patch_hash=…)` first, then the peers `(…)(…)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SuffixIndex {
    patch_hash: Option<usize>,
    peers: Option<usize>,
}

/// Finds the trailing chain of balanced `(…)` groups, scanning back from the end
/// (`indexOfDepPathSuffix`).
fn index_of_suffix(dep_path: &str) -> SuffixIndex {
    let none = SuffixIndex {
        patch_hash: None,
        peers: None,
    };
    let bytes = dep_path.as_bytes();
    if bytes.last() != Some(&b')') {
        return none;
    }
    let mut open: i64 = 1;
    for i in (0..bytes.len() - 1).rev() {
        match bytes[i] {
            b'(' => open -= 1,
            b')' => open += 1,
            _ if open == 0 => {
                let start = i + 1;
                if dep_path[start..].starts_with("(patch_hash=") {
                    let peers = dep_path[start + 1..].find('(').map(|p| p + start + 1);
                    return SuffixIndex {
                        patch_hash: Some(start),
                        peers,
                    };
                }
                return SuffixIndex {
                    patch_hash: None,
                    peers: Some(start),
                };
            }
            _ => {}
        }
    }
    none
}

/// Strips the `(patch_hash=…)` and peers suffixes: the `packages` key of a snapshot
/// (`removeSuffix`).
pub fn remove_suffix(dep_path: &str) -> &str {
    let idx = index_of_suffix(dep_path);
    match idx.patch_hash.or(idx.peers) {
        Some(end) => &dep_path[..end],
        None => dep_path,
    }
}

/// The parts of a dep path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepPathParts<'a> {
    /// `is-odd`, `@scope/name`.
    pub name: &'a str,
    /// `3.0.1`, `file:local/c`, `https://…` (empty when the path has no `@` after the name).
    pub version: &'a str,
    /// The hex hash inside `(patch_hash=…)`.
    pub patch_hash: Option<&'a str>,
    /// `(react@18.3.1)(…)`, with parentheses, or `""`.
    pub peers_suffix: &'a str,
}

/// Splits a dep path into name, version, patch hash and peers suffix.
pub fn parse_dep_path(dep_path: &str) -> DepPathParts<'_> {
    let idx = index_of_suffix(dep_path);
    let base_end = idx.patch_hash.or(idx.peers).unwrap_or(dep_path.len());
    let base = &dep_path[..base_end];
    let (name, version) = match base.get(1..).and_then(|rest| rest.find('@')) {
        Some(at) => (&base[..at + 1], &base[at + 2..]),
        None => (base, ""),
    };
    let patch_hash = idx.patch_hash.map(|start| {
        let end = idx.peers.unwrap_or(dep_path.len());
        dep_path[start..end]
            .trim_start_matches("(patch_hash=")
            .trim_end_matches(')')
    });
    let peers_suffix = idx.peers.map_or("", |start| &dep_path[start..]);
    DepPathParts {
        name,
        version,
        patch_hash,
        peers_suffix,
    }
}

/// Turns an importer/snapshot ref into the dep path it points at (`refToRelative`).
/// `None` for `link:` refs, which point at a directory, not a package entry.
pub fn ref_to_dep_path(reference: &str, alias: &str) -> Option<String> {
    let mut dep_path = String::new();
    write_ref_dep_path(reference, alias, &mut dep_path).then_some(dep_path)
}

/// [`ref_to_dep_path`] into `out` (cleared first), for a caller that resolves many refs
/// and keeps none of them; `false` for a `link:` ref.
pub fn write_ref_dep_path(reference: &str, alias: &str, out: &mut String) -> bool {
    out.clear();
    if reference.starts_with("link:") {
        return false;
    }
    let whole = reference.starts_with('@')
        || reference.find('@').is_some_and(|at| {
            let before = |c: char| reference.find(c).is_none_or(|i| at < i);
            before(':') && before('(')
        });
    if !whole {
        out.push_str(alias);
        out.push('@');
    }
    out.push_str(reference);
    true
}

/// pnpm's package id: the snapshot's `id` when set, else `name@version` for registry packages, or
/// the part after `name@` for URL/file/git versions (`tryGetPackageId`).
pub fn package_id(dep_path: &str, snapshot_id: Option<&str>) -> String {
    if let Some(id) = snapshot_id {
        return id.to_string();
    }
    let base = remove_suffix(dep_path);
    if base.contains(':') {
        if let Some(at) = base.get(1..).and_then(|rest| rest.find('@')) {
            return base[at + 2..].to_string();
        }
    }
    base.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_suffixes() {
        let cases = [
            ("is-odd@3.0.1", "is-odd@3.0.1"),
            (
                "use-sync-external-store@1.2.0(react@18.3.1)",
                "use-sync-external-store@1.2.0",
            ),
            ("a@1.0.0(b@2.0.0(c@3.0.0))(d@1.0.0)", "a@1.0.0"),
            ("is-positive@1.0.0(patch_hash=abc)", "is-positive@1.0.0"),
            (
                "is-positive@1.0.0(patch_hash=abc)(react@18.3.1)",
                "is-positive@1.0.0",
            ),
            ("@scope/x@1.0.0(@scope/y@2.0.0)", "@scope/x@1.0.0"),
            ("c@file:local/c", "c@file:local/c"),
        ];
        for (input, want) in cases {
            assert_eq!(remove_suffix(input), want, "{input}");
        }
    }

    #[test]
    fn parses_parts() {
        let p = parse_dep_path("@scope/x@1.0.0(patch_hash=abc)(react@18.3.1)(b@2.0.0(c@1.0.0))");
        assert_eq!(p.name, "@scope/x");
        assert_eq!(p.version, "1.0.0");
        assert_eq!(p.patch_hash, Some("abc"));
        assert_eq!(p.peers_suffix, "(react@18.3.1)(b@2.0.0(c@1.0.0))");
        let p = parse_dep_path("is-positive@1.0.0(patch_hash=abc)");
        assert_eq!((p.patch_hash, p.peers_suffix), (Some("abc"), ""));
        let p = parse_dep_path("tar-pkg@file:tar-pkg-1.0.0.tgz");
        assert_eq!((p.name, p.version), ("tar-pkg", "file:tar-pkg-1.0.0.tgz"));
        assert_eq!(p.patch_hash, None);
    }

    #[test]
    fn refs_to_dep_paths() {
        let cases = [
            ("1.0.0", "is-odd", Some("is-odd@1.0.0")),
            ("1.2.0(react@18.3.1)", "u", Some("u@1.2.0(react@18.3.1)")),
            ("is-number@6.0.0", "my-alias", Some("is-number@6.0.0")),
            ("@scope/x@1.0.0", "alias", Some("@scope/x@1.0.0")),
            ("link:../b", "b", None),
            ("file:local/c", "c", Some("c@file:local/c")),
            (
                "https://codeload.github.com/o/r/tar.gz/abc",
                "r",
                Some("r@https://codeload.github.com/o/r/tar.gz/abc"),
            ),
            (
                "git+https://h/r.git#abc@x",
                "r",
                Some("r@git+https://h/r.git#abc@x"),
            ),
            ("1.0.0(foo@1.0.0)", "x", Some("x@1.0.0(foo@1.0.0)")),
        ];
        for (reference, alias, want) in cases {
            assert_eq!(
                ref_to_dep_path(reference, alias).as_deref(),
                want,
                "{reference}"
            );
        }
    }

    #[test]
    fn package_ids() {
        assert_eq!(package_id("is-odd@3.0.1", None), "is-odd@3.0.1");
        assert_eq!(package_id("u@1.2.0(react@18.3.1)", None), "u@1.2.0");
        assert_eq!(package_id("c@file:local/c", None), "file:local/c");
        assert_eq!(
            package_id("p@1.0.0(patch_hash=abc)(r@1.0.0)", None),
            "p@1.0.0"
        );
        assert_eq!(
            package_id("r@https://codeload.github.com/o/r/tar.gz/abc", None),
            "https://codeload.github.com/o/r/tar.gz/abc"
        );
        assert_eq!(package_id("x@1.0.0", Some("custom")), "custom");
    }
}
