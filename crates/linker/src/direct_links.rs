//! The projects' links to their direct dependencies (`<project>/node_modules/<alias>`): where
//! they are, and whether each still leads somewhere.
//!
//! Over a tree the last complete install built from the same lockfile (`trusted_tree.rs`),
//! pnpm 12 leaves the links as they are unless one of these no longer resolves (deleted, or
//! dangling): then it links every project's direct dependencies and the hoisted packages
//! again, which replaces a link aimed elsewhere and moves a directory in the way aside, and
//! lists the links it made. A link that resolves, wherever it leads, is not looked at, nor
//! is a missing hoisted link or `.bin` shim on its own. The no-op gate records these paths
//! for the same check (one `stat` each). The hoisted layout has none: its direct
//! dependencies are package directories, which the gate checks by their completion markers.

use std::path::PathBuf;

use crate::plan::LinkPlan;

/// Where the isolated layout links each project's direct dependencies (none in the hoisted
/// layout), in the plan's order.
pub fn direct_link_paths(plan: &LinkPlan) -> Vec<PathBuf> {
    if plan.hoisted.is_some() {
        return Vec::new();
    }
    plan.importers
        .iter()
        .flat_map(|imp| {
            let modules = imp.dir.join(&plan.modules_dir_name);
            imp.deps.iter().map(move |dep| modules.join(&dep.alias))
        })
        .collect()
}

/// Whether some direct dependency's link is missing or leads nowhere (what pnpm 12 checks
/// before it trusts a tree's top level).
pub(crate) fn any_unresolved(plan: &LinkPlan) -> bool {
    direct_link_paths(plan)
        .iter()
        .any(|link| std::fs::metadata(link).is_err())
}
