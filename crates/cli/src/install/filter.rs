//! `--filter` / `-F`: which workspace projects to link. A selector is a project name (with `*`
//! wildcards), a path (`./packages/a`, or `{packages/a}`), optionally with pnpm's `...` suffix
//! (accepted and ignored). Like pnpm 12, the root project is always linked; the workspace
//! projects a selected one depends on are symlinked but not linked themselves, unless a package
//! the selection installs depends on one (an injected project's `link:` dependency): pnpm 12
//! installs that project too, with its own dependencies.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use tack_config::IncludedDeps;
use tack_lockfile::{DepGroup, Lockfile};

/// The importer ids selected by `selectors`, the root, and the workspace projects that the
/// packages they install depend on (see the module doc), with the dependency groups `include`s.
/// A selector that matches no project is passed over, as pnpm 12 passes it; `None` when none
/// of them matches any (pnpm then installs nothing).
pub fn select_importers(
    lockfile: &Lockfile,
    projects: &[tack_config::Project],
    root: &Path,
    selectors: &[String],
    include: &IncludedDeps,
) -> Option<Vec<String>> {
    let mut selected = BTreeSet::new();
    for raw in selectors {
        let selector = raw.trim_end_matches("...").trim_start_matches("...");
        let path_selector = selector
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .or_else(|| selector.strip_prefix("./"))
            .or_else(|| (selector == ".").then_some("."));
        let matches: Vec<&tack_config::Project> = projects
            .iter()
            .filter(|p| match path_selector {
                Some(path) => {
                    let wanted = crate::install::plan::normalize(&root.join(path));
                    p.dir == wanted
                }
                None => p
                    .manifest
                    .name
                    .as_deref()
                    .is_some_and(|name| glob_match(selector, name)),
            })
            .collect();
        selected.extend(matches.into_iter().map(|p| p.importer_id.clone()));
    }
    if selected.is_empty() {
        return None;
    }
    // pnpm 12 always links the root project too, and does not add the workspace projects a
    // selected one depends on (they stay bare symlinks; observed with `--filter a`).
    if lockfile.importers.contains_key(".") {
        selected.insert(".".to_string());
    }
    add_projects_packages_link_to(lockfile, include, &mut selected);
    Some(selected.into_iter().collect())
}

/// Adds to `selected` every workspace project that a package reachable from a selected
/// project links to (`link:<project>` in a snapshot; the path is relative to the lockfile's
/// directory), and walks on from the added projects' own dependencies.
fn add_projects_packages_link_to(
    lockfile: &Lockfile,
    include: &IncludedDeps,
    selected: &mut BTreeSet<String>,
) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut packages: Vec<String> = Vec::new();
    let mut importers: Vec<String> = selected.iter().cloned().collect();
    while !importers.is_empty() || !packages.is_empty() {
        for id in importers.drain(..) {
            let Some(project) = lockfile.importers.get(&id) else {
                continue;
            };
            for (alias, dep, group) in project.all_deps() {
                let wanted = match group {
                    DepGroup::Prod => include.dependencies,
                    DepGroup::Dev => include.dev_dependencies,
                    DepGroup::Optional => include.project_optional_dependencies(),
                };
                if let Some(dep_path) = wanted
                    .then(|| tack_lockfile::ref_to_dep_path(&dep.version, alias))
                    .flatten()
                {
                    packages.push(dep_path);
                }
            }
        }
        while let Some(dep_path) = packages.pop() {
            if !seen.insert(dep_path.clone()) {
                continue;
            }
            let Some(snapshot) = lockfile.snapshots.get(&dep_path) else {
                continue;
            };
            let optional = include
                .optional_dependencies
                .then_some(&snapshot.optional_dependencies);
            for (alias, reference) in snapshot
                .dependencies
                .iter()
                .chain(optional.into_iter().flatten())
            {
                match reference.strip_prefix("link:") {
                    Some(project) => {
                        if lockfile.importers.contains_key(project)
                            && selected.insert(project.to_string())
                        {
                            importers.push(project.to_string());
                        }
                    }
                    None => packages.extend(tack_lockfile::ref_to_dep_path(reference, alias)),
                }
            }
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob_match(tail, &rest[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("@scope/*", "@scope/a"));
        assert!(glob_match("a", "a"));
        assert!(!glob_match("a", "ab"));
        assert!(glob_match("*-cli", "tack-cli"));
        assert!(!glob_match("*-cli", "tack-core"));
    }
}
