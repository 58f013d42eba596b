//! `--filter` / `-F` and `--filter-prod`: which workspace projects to link, by pnpm's
//! selector grammar. A selector is a project name pattern (`*` wildcards; a bare name also
//! matches one `@scope/name`), a directory glob (`./packages/*`, or `{packages/*}`), or both
//! (`app{packages/*}`); `...` after it adds the projects it depends on, `...` before it the
//! projects that depend on it, `^` next to the dots leaves the matched projects themselves
//! out, and a leading `!` excludes what it selects. The project graph is the lockfile's: a
//! project depends on the projects its importer links (`link:`) or injects (`file:`);
//! `--filter-prod` selectors walk it without dev dependencies. Selectors by changed files
//! (`[origin/main]`) are refused.
//!
//! Like pnpm 12, the root project is always linked; the workspace projects a selected one
//! depends on are symlinked but not linked themselves (unless selected), unless a package
//! the selection installs depends on one (an injected project's `link:` dependency): pnpm 12
//! installs that project too, with its own dependencies.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use tack_config::IncludedDeps;
use tack_lockfile::{DepGroup, Lockfile};

use super::project_graph::ProjectGraph;
use crate::error::CliError;

/// One parsed selector (pnpm's `parseProjectSelector`).
#[derive(Debug, Default, PartialEq, Eq)]
struct Selector {
    exclude: bool,
    exclude_self: bool,
    with_dependencies: bool,
    with_dependents: bool,
    name_pattern: Option<String>,
    /// An absolute directory glob.
    dir_glob: Option<String>,
    /// A git revision (`[origin/main]`): not supported.
    changed_since: Option<String>,
    /// From `--filter-prod`: the graph walked without dev dependencies.
    prod_only: bool,
}

/// What the selectors chose.
#[derive(Debug)]
pub struct Selected {
    /// The importer ids to install (see the module doc).
    pub importer_ids: Vec<String>,
    /// The projects the selectors themselves chose (pnpm's "Scope: N of M").
    pub chosen: BTreeSet<String>,
}

/// The importer ids chosen by `selectors` (`--filter`) and `prod_selectors`
/// (`--filter-prod`), resolved against `prefix` (where tack was run), plus the root and the
/// projects that the packages they install depend on (see the module doc), with the
/// dependency groups `include`s. `None` when the selectors choose no project (pnpm then
/// installs nothing); a selector that matches nothing is passed over, as pnpm 12 passes it.
pub fn select_importers(
    lockfile: &Lockfile,
    projects: &[tack_config::Project],
    prefix: &Path,
    (selectors, prod_selectors): (&[String], &[String]),
    include: &IncludedDeps,
) -> Result<Option<Selected>, CliError> {
    let parsed: Vec<Selector> = selectors
        .iter()
        .map(|raw| parse_selector(raw, prefix, false))
        .chain(
            prod_selectors
                .iter()
                .map(|raw| parse_selector(raw, prefix, true)),
        )
        .collect();
    if let Some(revision) = parsed.iter().find_map(|s| s.changed_since.as_deref()) {
        return Err(CliError::new(
            "ERR_TACK_UNSUPPORTED_FILTER",
            format!(
                "--filter [{revision}] selects projects by changed files, which tack does not do"
            ),
        )
        .with_help("Select the projects by name or directory, or install with pnpm."));
    }
    let graph = ProjectGraph::new(lockfile, projects);
    let (prod, all): (Vec<&Selector>, Vec<&Selector>) = parsed.iter().partition(|s| s.prod_only);
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    for (group, prod_only) in [(all, false), (prod, true)] {
        if !group.is_empty() {
            chosen.extend(graph.choose(&group, prod_only));
        }
    }
    if chosen.is_empty() {
        return Ok(None);
    }
    let mut selected = chosen.clone();
    // pnpm 12 always links the root project too, and does not add the workspace projects a
    // selected one depends on (they stay bare symlinks; observed with `--filter a`).
    if lockfile.importers.contains_key(".") {
        selected.insert(".".to_string());
    }
    selected.retain(|id| lockfile.importers.contains_key(id));
    add_projects_packages_link_to(lockfile, include, &mut selected);
    Ok(Some(Selected {
        importer_ids: selected.into_iter().collect(),
        chosen,
    }))
}

/// pnpm's `parseProjectSelector`: `!`, then `...`/`^` at either end, then `name{dir}[rev]`,
/// or a path from `prefix` when the rest starts with `.` (`.`, `./x`, `../x`).
fn parse_selector(raw: &str, prefix: &Path, prod_only: bool) -> Selector {
    let mut rest = raw;
    let mut selector = Selector {
        prod_only,
        ..Selector::default()
    };
    if let Some(r) = rest.strip_prefix('!') {
        selector.exclude = true;
        rest = r;
    }
    if let Some(r) = rest.strip_suffix("...") {
        selector.with_dependencies = true;
        rest = r;
        if let Some(r) = rest.strip_suffix('^') {
            selector.exclude_self = true;
            rest = r;
        }
    }
    if let Some(r) = rest.strip_prefix("...") {
        selector.with_dependents = true;
        rest = r;
        if let Some(r) = rest.strip_prefix('^') {
            selector.exclude_self = true;
            rest = r;
        }
    }
    match split_name_dir_rev(rest) {
        Some((name, dir, rev)) => {
            selector.name_pattern = name.map(str::to_string);
            selector.dir_glob = dir.map(|d| join_glob(prefix, d));
            selector.changed_since = rev.map(str::to_string);
        }
        None if is_location(rest) => {
            return Selector {
                exclude: selector.exclude,
                dir_glob: Some(join_glob(prefix, rest)),
                prod_only,
                ..Selector::default()
            };
        }
        None => {
            return Selector {
                name_pattern: Some(rest.to_string()),
                prod_only,
                ..Selector::default()
            };
        }
    }
    selector
}

/// `^([^.][^{}[\]]*)?(\{[^}]+\})?(\[[^\]]+\])?$`: an optional name (not starting with
/// `.`, without braces or brackets), an optional `{dir}`, an optional `[rev]`.
fn split_name_dir_rev(text: &str) -> Option<(Option<&str>, Option<&str>, Option<&str>)> {
    let name_end = text.find(['{', '}', '[', ']']).unwrap_or(text.len());
    let name = &text[..name_end];
    if name.starts_with('.') {
        return None;
    }
    let mut rest = &text[name_end..];
    let mut dir = None;
    if let Some(after) = rest.strip_prefix('{') {
        let close = after.find('}')?;
        if close == 0 {
            return None;
        }
        dir = Some(&after[..close]);
        rest = &after[close + 1..];
    }
    let mut rev = None;
    if let Some(after) = rest.strip_prefix('[') {
        let close = after.find(']')?;
        if close == 0 {
            return None;
        }
        rev = Some(&after[..close]);
        rest = &after[close + 1..];
    }
    rest.is_empty()
        .then_some(((!name.is_empty()).then_some(name), dir, rev))
}

/// pnpm's `isSelectorByLocation`: `.`, `..`, or a path starting `./` or `../`.
fn is_location(text: &str) -> bool {
    matches!(text, "." | "..") || text.starts_with("./") || text.starts_with("../")
}

/// `prefix` joined with `relative`, its `.` and `..` resolved as Node's `path.join` does.
fn join_glob(prefix: &Path, relative: &str) -> String {
    tack_fs::normalize_lexically(&prefix.join(relative))
        .to_string_lossy()
        .into_owned()
}

impl ProjectGraph<'_> {
    /// pnpm's `filterWorkspaceProjects`: the projects the include selectors choose (every
    /// project when there are none), less those the exclude selectors choose.
    fn choose(&self, selectors: &[&Selector], prod_only: bool) -> BTreeSet<String> {
        let (exclude, include): (Vec<&Selector>, Vec<&Selector>) =
            selectors.iter().partition(|s| s.exclude);
        let included: BTreeSet<String> = if include.is_empty() {
            self.nodes.iter().map(|n| n.0.to_string()).collect()
        } else {
            self.walk(&include, prod_only)
        };
        let excluded = self.walk(&exclude, prod_only);
        included.difference(&excluded).cloned().collect()
    }

    /// pnpm's `_filterGraph`: each selector's entry projects, and what it walks from them.
    fn walk(&self, selectors: &[&Selector], prod_only: bool) -> BTreeSet<String> {
        let forward = |id: &str| -> Vec<String> {
            self.edges
                .get(id)
                .into_iter()
                .flatten()
                .filter(|(_, dev)| !(prod_only && *dev))
                .map(|(to, _)| to.clone())
                .collect()
        };
        let backward = |id: &str| -> Vec<String> {
            self.edges
                .iter()
                .filter(|(_, tos)| tos.iter().any(|(to, dev)| to == id && !(prod_only && *dev)))
                .map(|(from, _)| from.to_string())
                .collect()
        };
        let mut out = BTreeSet::new();
        for selector in selectors {
            let entries = self.entries(selector);
            if selector.with_dependencies {
                pick_subgraph(&forward, &entries, &mut out, !selector.exclude_self);
            }
            if selector.with_dependents {
                let mut dependents = BTreeSet::new();
                pick_subgraph(&backward, &entries, &mut dependents, !selector.exclude_self);
                if selector.with_dependencies {
                    let from: Vec<String> = dependents.iter().cloned().collect();
                    pick_subgraph(&forward, &from, &mut out, false);
                }
                out.extend(dependents);
            }
            if !selector.with_dependencies && !selector.with_dependents {
                out.extend(entries);
            }
        }
        out
    }

    /// The projects a selector matches by directory glob and name pattern.
    fn entries(&self, selector: &Selector) -> Vec<String> {
        let by_dir: Vec<&(&str, PathBuf, Option<&str>)> = match &selector.dir_glob {
            Some(glob) => self
                .nodes
                .iter()
                .filter(|n| dir_glob_match(glob, &n.1.to_string_lossy()))
                .collect(),
            None => self.nodes.iter().collect(),
        };
        let Some(pattern) = &selector.name_pattern else {
            return by_dir.iter().map(|n| n.0.to_string()).collect();
        };
        let by_name = |pattern: &str| -> Vec<String> {
            by_dir
                .iter()
                .filter(|n| n.2.is_some_and(|name| glob_match(pattern, name)))
                .map(|n| n.0.to_string())
                .collect()
        };
        let matched = by_name(pattern);
        // A bare name also matches the one scoped project of that name (`b` → `@s/b`).
        if matched.is_empty() && !pattern.starts_with('@') && !pattern.contains('/') {
            let scoped = by_name(&format!("@*/{pattern}"));
            return if scoped.len() == 1 {
                scoped
            } else {
                Vec::new()
            };
        }
        matched
    }
}

/// pnpm's `pickSubgraph`: adds what `next` reaches from `starts` to `walked` (the starts
/// themselves only with `include_starts`).
fn pick_subgraph(
    next: &dyn Fn(&str) -> Vec<String>,
    starts: &[String],
    walked: &mut BTreeSet<String>,
    include_starts: bool,
) {
    for start in starts {
        if walked.contains(start) {
            continue;
        }
        if include_starts {
            walked.insert(start.clone());
        }
        let children = next(start);
        pick_subgraph(next, &children, walked, true);
    }
}

/// A directory glob as micromatch takes it here: `*` and `?` within one path segment, `**`
/// for any number of segments; a trailing slash is ignored.
fn dir_glob_match(glob: &str, path: &str) -> bool {
    let glob: Vec<&str> = glob.trim_end_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    segments_match(&glob, &path)
}

fn segments_match(glob: &[&str], path: &[&str]) -> bool {
    match glob.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| segments_match(rest, &path[skip..])),
        Some((segment, rest)) => path.split_first().is_some_and(|(first, path_rest)| {
            segment_match(segment, first) && segments_match(rest, path_rest)
        }),
    }
}

/// `*` (any run) and `?` (one character) within a segment; a leading `.` is matched only by
/// a literal `.`, as micromatch leaves dot directories out.
fn segment_match(pattern: &str, text: &str) -> bool {
    if text.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    wildcard_match(pattern.as_bytes(), text.as_bytes())
}

fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| wildcard_match(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && wildcard_match(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && wildcard_match(rest, &text[1..]),
    }
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
    use super::*;

    #[test]
    fn selectors_parse_as_pnpm_parses_them() {
        let prefix = Path::new("/ws");
        let s = parse_selector("!...^app{packages/*}...", prefix, false);
        assert!(s.exclude && s.exclude_self && s.with_dependencies && s.with_dependents);
        assert_eq!(s.name_pattern.as_deref(), Some("app"));
        assert_eq!(s.dir_glob.as_deref(), Some("/ws/packages/*"));
        let s = parse_selector("./packages/../libs/*", prefix, false);
        assert_eq!(s.dir_glob.as_deref(), Some("/ws/libs/*"));
        assert_eq!(s.name_pattern, None);
        assert_eq!(
            parse_selector(".", prefix, false).dir_glob.as_deref(),
            Some("/ws")
        );
        let s = parse_selector("[origin/main]", prefix, false);
        assert_eq!(s.changed_since.as_deref(), Some("origin/main"));
        assert_eq!(
            parse_selector("@s/*", prefix, false)
                .name_pattern
                .as_deref(),
            Some("@s/*")
        );
    }

    #[test]
    fn directory_globs() {
        assert!(dir_glob_match("/ws/packages/*", "/ws/packages/a"));
        assert!(!dir_glob_match("/ws/packages", "/ws/packages/a"));
        assert!(!dir_glob_match("/ws/packages/*", "/ws/packages/a/b"));
        assert!(dir_glob_match("/ws/packages/**", "/ws/packages/a/b"));
        assert!(dir_glob_match("/ws/**/b", "/ws/packages/a/b"));
        assert!(dir_glob_match("/ws/p?ckages/a/", "/ws/packages/a"));
    }

    #[test]
    fn globs() {
        assert!(glob_match("@scope/*", "@scope/a"));
        assert!(glob_match("a", "a"));
        assert!(!glob_match("a", "ab"));
        assert!(glob_match("*-cli", "tack-cli"));
        assert!(!glob_match("*-cli", "tack-core"));
    }
}
