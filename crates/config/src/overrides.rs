//! `overrides` applied to a project's own `package.json`, as pnpm's versions overrider applies
//! them before it compares the manifest with the lockfile: an override that names a direct
//! dependency replaces its specifier (`semver: ^7.6.0` under `semver: ^5.7.0` is recorded as
//! `^5.7.0`), `-` removes it, and a local target (`link:`, `file:`, a `.tgz` path), relative to
//! the workspace root, is made relative to the project. Without this a frozen install of a
//! project whose override reaches a direct dependency failed as outdated.

use std::path::Path;

use indexmap::IndexMap;

use crate::manifest::Manifest;

/// One parsed override: `parent@range>target@range` → `value`.
struct Override<'a> {
    parent: Option<(&'a str, Option<&'a str>)>,
    target: &'a str,
    target_range: Option<&'a str>,
    value: &'a str,
}

/// `manifest` with `overrides` (keys as written, values with `$name` and `catalog:` already
/// resolved) applied to its `dependencies`, `optionalDependencies`, `devDependencies` and
/// `peerDependencies`, as pnpm applies them to a workspace project in `project_dir`.
pub fn apply_to_project(
    manifest: &Manifest,
    overrides: &IndexMap<String, String>,
    workspace_root: &Path,
    project_dir: &Path,
) -> Manifest {
    let parsed: Vec<Override<'_>> = overrides
        .iter()
        .map(|(selector, value)| parse(selector, value))
        .collect();
    let applies_to_project = |o: &&Override<'_>| match o.parent {
        None => true,
        Some((name, range)) => {
            manifest.name.as_deref() == Some(name)
                && range.is_none_or(|range| satisfies(manifest.version.as_deref(), range))
        }
    };
    let with_parent: Vec<&Override<'_>> = parsed
        .iter()
        .filter(|o| o.parent.is_some())
        .filter(applies_to_project)
        .collect();
    let generic: Vec<&Override<'_>> = parsed.iter().filter(|o| o.parent.is_none()).collect();
    let pick = |name: &str, spec: &str| -> Option<&Override<'_>> {
        most_specific(&with_parent, name, spec).or_else(|| most_specific(&generic, name, spec))
    };
    let new_spec = |o: &Override<'_>| local_target(o.value, workspace_root, project_dir);

    let mut out = manifest.clone();
    for deps in [
        &mut out.dependencies,
        &mut out.optional_dependencies,
        &mut out.dev_dependencies,
    ] {
        let names: Vec<String> = deps.keys().cloned().collect();
        for name in names {
            let Some(o) = pick(&name, &deps[&name]) else {
                continue;
            };
            if o.value == "-" {
                deps.shift_remove(&name);
            } else {
                deps.insert(name, new_spec(o));
            }
        }
    }
    let peers: Vec<(String, String)> = out
        .peer_dependencies
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (name, spec) in peers {
        let Some(o) = pick(&name, &spec) else {
            continue;
        };
        if o.value == "-" {
            out.peer_dependencies.shift_remove(&name);
            continue;
        }
        let value = new_spec(o);
        if is_valid_peer_range(&value) {
            out.peer_dependencies.insert(name, value);
        } else {
            out.dependencies.insert(name, value);
        }
    }
    out
}

/// `parent@range>target@range` (each part `name` or `name@range`, a scope's `@` kept).
fn parse<'a>(selector: &'a str, value: &'a str) -> Override<'a> {
    let (parent, target) = match selector.rsplit_once('>') {
        Some((parent, target)) => (Some(split_name_range(parent)), target),
        None => (None, selector),
    };
    let (target, target_range) = split_name_range(target);
    Override {
        parent,
        target,
        target_range,
        value,
    }
}

fn split_name_range(text: &str) -> (&str, Option<&str>) {
    match text.get(1..).and_then(|rest| rest.find('@')) {
        Some(at) => (&text[..at + 1], Some(&text[at + 2..])),
        None => (text, None),
    }
}

/// pnpm's `pickMostSpecificVersionOverride` over the overrides that target `name` and whose
/// range meets `spec`: one with a range before one without.
fn most_specific<'o, 'a>(
    overrides: &[&'o Override<'a>],
    name: &str,
    spec: &str,
) -> Option<&'o Override<'a>> {
    let mut matching = overrides
        .iter()
        .filter(|o| o.target == name && intersecting(o.target_range, spec));
    let first = matching.next()?;
    if first.target_range.is_some() {
        return Some(first);
    }
    Some(matching.find(|o| o.target_range.is_some()).unwrap_or(first))
}

/// pnpm's `isIntersectingRange`: no range matches anything; otherwise the same text, or two
/// semver ranges that share a version.
fn intersecting(range: Option<&str>, spec: &str) -> bool {
    let Some(range) = range else {
        return true;
    };
    if range == spec {
        return true;
    }
    match (
        node_semver::Range::parse(range),
        node_semver::Range::parse(spec),
    ) {
        (Ok(a), Ok(b)) => a.allows_any(&b),
        _ => false,
    }
}

fn satisfies(version: Option<&str>, range: &str) -> bool {
    match (
        version.map(node_semver::Version::parse),
        node_semver::Range::parse(range),
    ) {
        (Some(Ok(version)), Ok(range)) => range.satisfies(&version),
        _ => false,
    }
}

/// A semver range, or a `workspace:` one, can stay a peer specifier.
fn is_valid_peer_range(spec: &str) -> bool {
    spec.starts_with("workspace:") || node_semver::Range::parse(spec).is_ok()
}

/// The override's value as the project records it: a `link:`/`file:` path or a local tarball
/// path (relative to the workspace root) made relative to the project; anything else as is.
fn local_target(value: &str, workspace_root: &Path, project_dir: &Path) -> String {
    let (protocol, path) = if let Some(path) = value.strip_prefix("link:") {
        ("link:", path)
    } else if let Some(path) = value.strip_prefix("file:") {
        ("file:", path)
    } else if is_local_tarball(value) {
        ("file:", value)
    } else {
        return value.to_string();
    };
    if Path::new(path).is_absolute() {
        return format!("{protocol}{path}");
    }
    let relative = tack_fs::relative_path(project_dir, &workspace_root.join(path));
    format!(
        "{protocol}{}",
        relative.to_string_lossy().replace('\\', "/")
    )
}

fn is_local_tarball(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let tarball = [".tgz", ".tar.gz", ".tar"]
        .iter()
        .any(|ext| lower.ends_with(ext));
    let named_protocol = value.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    tarball && !named_protocol
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(json: &str) -> Manifest {
        serde_json::from_str(json).unwrap()
    }

    fn overrides(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_parse_with_scopes_and_ranges() {
        let o = parse("@s/lib@^1>@s/dep@<2", "1.0.0");
        assert_eq!(o.parent, Some(("@s/lib", Some("^1"))));
        assert_eq!((o.target, o.target_range), ("@s/dep", Some("<2")));
        let o = parse("semver", "^5");
        assert_eq!((o.parent, o.target, o.target_range), (None, "semver", None));
    }

    #[test]
    fn overrides_reach_the_project_s_own_dependencies() {
        let m = manifest(
            r#"{"name": "lib", "version": "1.2.0",
                "dependencies": {"semver": "^7.6.0", "ms": "2.1.3", "gone": "1"},
                "devDependencies": {"debug": "^4"},
                "peerDependencies": {"react": "^18"}}"#,
        );
        let root = Path::new("/w");
        let out = apply_to_project(
            &m,
            &overrides(&[
                ("semver", "^5.7.0"),
                ("ms@<2", "1.0.0"),
                ("gone", "-"),
                ("lib@^1>debug", "link:vendor/debug"),
                ("other>react", "17"),
                ("react", "file:vendor/react"),
            ]),
            root,
            Path::new("/w/packages/lib"),
        );
        assert_eq!(out.dependencies["semver"], "^5.7.0");
        assert_eq!(
            out.dependencies["ms"], "2.1.3",
            "the range does not meet 2.1.3"
        );
        assert!(!out.dependencies.contains_key("gone"));
        assert_eq!(out.dev_dependencies["debug"], "link:../../vendor/debug");
        assert_eq!(out.peer_dependencies["react"], "^18");
        assert_eq!(out.dependencies["react"], "file:../../vendor/react");
    }
}
