//! `--filter` / `-F`: which workspace projects to link. A selector is a project name (with `*`
//! wildcards), a path (`./packages/a`, or `{packages/a}`), optionally with pnpm's `...` suffix
//! (accepted and ignored). Like pnpm 12, the root project is always linked; the workspace
//! projects a selected one depends on are symlinked but not linked themselves.

use std::collections::BTreeSet;
use std::path::Path;

use tack_lockfile::Lockfile;

use crate::error::CliError;

/// The importer ids selected by `selectors`, plus the workspace projects they depend on.
pub fn select_importers(
    lockfile: &Lockfile,
    projects: &[tack_config::Project],
    root: &Path,
    selectors: &[String],
) -> Result<Vec<String>, CliError> {
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
        if matches.is_empty() {
            return Err(CliError::new(
                "ERR_PNPM_NO_MATCHING_PROJECTS",
                format!("No projects matched the filter \"{raw}\""),
            )
            .with_help("Use a project name from its package.json (wildcards allowed) or a path like ./packages/a."));
        }
        selected.extend(matches.into_iter().map(|p| p.importer_id.clone()));
    }
    // pnpm 12 always links the root project too, and does not add the workspace projects a
    // selected one depends on (they stay bare symlinks; observed with `--filter a`).
    if lockfile.importers.contains_key(".") {
        selected.insert(".".to_string());
    }
    Ok(selected.into_iter().collect())
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
