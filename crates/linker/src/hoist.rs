//! Hoisting: which aliases get an extra link in `<vs>/node_modules` (private) or in the root
//! `node_modules` (public), following pnpm's algorithm.
//!
//! Aliases of the root importer's direct dependencies on packages (not its `link:` ones) are
//! reserved. A pseudo root (depth −1) has as children every importer's direct dependencies
//! (dev, then prod, then optional ones, as pnpm's lockfile walk takes them; those
//! `dedupeDirectDeps` does not link too, since pnpm hoists from the lockfile's graph), then
//! every workspace project (with `hoistWorkspacePackages`); then every package, by the depth
//! pnpm's lockfile walk gives it (see [`walk_depths`]), ties broken by the ordinal order of its
//! virtual-store dir name. Each child alias is taken by the first node that offers it (compared
//! lowercased), if it matches a pattern: public first, then private. So an injected workspace
//! package is hoisted as its injected copy, which a direct dependency offers before the project
//! does.

use crate::plan::{ChildTarget, DepGroup, LinkPlan};
use std::collections::{HashMap, HashSet};
use tack_config::Matcher;

/// Public (root `node_modules`) or private (`<vs>/node_modules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoistKind {
    /// Linked into the root `node_modules`.
    Public,
    /// Linked into `<vs>/node_modules`.
    Private,
}

impl HoistKind {
    /// `public` / `private`, as in `.modules.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            HoistKind::Public => "public",
            HoistKind::Private => "private",
        }
    }
}

/// One hoisted alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hoisted {
    /// The alias linked.
    pub alias: String,
    /// What it points at.
    pub target: ChildTarget,
    /// Its `.modules.yaml` key: the dep path, or the importer id for a workspace project.
    pub key: String,
    /// Where it goes.
    pub kind: HoistKind,
}

/// Computes the hoisted aliases in pnpm's order (also the `hoistedDependencies` order).
pub fn compute_hoisting(plan: &LinkPlan) -> Vec<Hoisted> {
    let public = Matcher::new(plan.public_hoist_pattern.as_deref().unwrap_or_default());
    let private = Matcher::new(&plan.hoist_pattern);
    if public.is_empty() && private.is_empty() {
        return Vec::new();
    }
    let importer_by_dir: HashMap<&std::path::Path, &str> = plan
        .importers
        .iter()
        .map(|i| (i.dir.as_path(), i.id.as_str()))
        .chain(
            plan.unlinked_projects
                .iter()
                .map(|(id, _, dir)| (dir.as_path(), id.as_str())),
        )
        .collect();

    // Only the root's dependencies on packages are reserved: pnpm 12 reserves the root's
    // direct dependencies in its package graph, which has no `link:` ones, so a workspace
    // project the root depends on is still hoisted under its name.
    let root_direct: HashSet<String> = plan
        .importers
        .iter()
        .filter(|i| i.id == ".")
        .flat_map(|i| i.deps.iter())
        .filter(|d| matches!(d.target, ChildTarget::DepPath(_)))
        .map(|d| d.alias.to_lowercase())
        .collect();
    // A virtual store outside the project (`virtualStoreDir: ../vs`): Node, walking up from a
    // package there, never reaches the root's `node_modules`, and pnpm 12 hoists the root's
    // direct dependencies privately too. They are reserved for public hoisting only.
    let reserve_for_private = tack_fs::normalize_lexically(&plan.hidden_modules_dir())
        .starts_with(tack_fs::normalize_lexically(&plan.lockfile_dir));
    let mut taken: HashSet<String> = if reserve_for_private {
        root_direct.clone()
    } else {
        HashSet::new()
    };

    // The pseudo root's children: every importer's direct dependencies in pnpm's walk order
    // (see [`walk_order`]; `link:` ones are not packages), then the workspace projects.
    let mut root_children: Vec<(String, ChildTarget)> = Vec::new();
    for imp in &plan.importers {
        for dep in walk_order(imp.all_deps()) {
            if matches!(dep.target, ChildTarget::DepPath(_)) {
                root_children.push((dep.alias.clone(), dep.target.clone()));
            }
        }
    }
    if plan.hoist_workspace_packages {
        let projects = plan.named_workspace_projects();
        for (_, name, dir) in projects {
            root_children.push((name.to_string(), ChildTarget::Link(dir.to_path_buf())));
        }
    }

    let depth = walk_depths(plan);
    let mut nodes: Vec<(usize, usize)> = depth
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.map(|d| (d, i)))
        .collect();
    nodes.sort_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            plan.packages[a.1]
                .dir_name
                .cmp(&plan.packages[b.1].dir_name)
        })
    });

    let mut out = Vec::new();
    let mut offer = |alias: &str, target: &ChildTarget| {
        let kind = if public.matches(alias) {
            HoistKind::Public
        } else if private.matches(alias) {
            HoistKind::Private
        } else {
            return;
        };
        // Most aliases are taken by the time they are offered again (about 3.5k edges for
        // 900 packages): that is checked before anything is copied.
        let lower = if alias.bytes().any(|b| b.is_ascii_uppercase()) || !alias.is_ascii() {
            std::borrow::Cow::Owned(alias.to_lowercase())
        } else {
            std::borrow::Cow::Borrowed(alias)
        };
        if taken.contains(lower.as_ref())
            || kind == HoistKind::Public && root_direct.contains(lower.as_ref())
        {
            return;
        }
        let key = match target {
            ChildTarget::DepPath(dp) => dp.clone(),
            ChildTarget::Link(dir) => match importer_by_dir.get(dir.as_path()) {
                Some(id) => (*id).to_string(),
                None => return,
            },
        };
        taken.insert(lower.into_owned());
        out.push(Hoisted {
            alias: alias.to_string(),
            target: target.clone(),
            key,
            kind,
        });
    };
    for (alias, target) in &root_children {
        offer(alias, target);
    }
    // A package's `link:` children (a workspace project an injected package depends on) are
    // neither hoisted nor take their alias: pnpm 12 hoists workspace projects only as the pseudo
    // root's children above, when `hoistWorkspacePackages` allows it.
    for (_, i) in nodes {
        for (alias, target) in &plan.packages[i].children {
            if let ChildTarget::DepPath(_) = target {
                offer(alias, target);
            }
        }
    }
    out
}

/// An importer's direct dependencies in the order pnpm's lockfile walk takes them:
/// `devDependencies`, then `dependencies`, then `optionalDependencies`, each in lockfile order
/// (`{...devDependencies, ...dependencies, ...optionalDependencies}` in `lockfileWalker`).
fn walk_order(deps: &[crate::plan::ImporterDep]) -> Vec<&crate::plan::ImporterDep> {
    let rank = |group: DepGroup| match group {
        DepGroup::Dev => 0,
        DepGroup::Prod => 1,
        DepGroup::Optional => 2,
    };
    let mut ordered: Vec<&crate::plan::ImporterDep> = deps.iter().collect();
    ordered.sort_by_key(|dep| rank(dep.group));
    ordered
}

/// The depth pnpm gives each package when it hoists (`lockfileWalker` and `getDependencies`
/// in `installing/linking/hoist`): the importers' direct dependencies are depth 0; each node's
/// unclaimed children are claimed at the next depth, the nodes of one list all at once, and
/// then each child list is walked to the end before the next one. So a package claimed deep
/// under the first direct dependency keeps that depth even if a later one reaches it sooner:
/// not the breadth-first depth, which picked other versions of `color-convert` and
/// `is-fullwidth-code-point` than pnpm 12 in a large graph.
fn walk_depths(plan: &LinkPlan) -> Vec<Option<usize>> {
    let by_dep_path = plan.indexes_by_dep_path();
    let index_of = |target: &ChildTarget| match target {
        ChildTarget::DepPath(dp) => by_dep_path.get(dp.as_str()).copied(),
        ChildTarget::Link(_) => None,
    };
    let mut depth: Vec<Option<usize>> = vec![None; plan.packages.len()];
    let mut entries = Vec::new();
    for dep in plan
        .importers
        .iter()
        .flat_map(|imp| walk_order(imp.all_deps()))
    {
        if let Some(i) = index_of(&dep.target) {
            if depth[i].is_none() {
                depth[i] = Some(0);
                entries.push(i);
            }
        }
    }
    // A stack of lists instead of recursion: a chain of dependencies can be thousands long.
    let mut stack: Vec<(Vec<usize>, usize)> = vec![(entries, 0)];
    while let Some((nodes, d)) = stack.pop() {
        let mut lists = Vec::with_capacity(nodes.len());
        for node in nodes {
            let mut claimed = Vec::new();
            for (_, target) in &plan.packages[node].children {
                if let Some(c) = index_of(target) {
                    if depth[c].is_none() {
                        depth[c] = Some(d + 1);
                        claimed.push(c);
                    }
                }
            }
            if !claimed.is_empty() {
                lists.push(claimed);
            }
        }
        stack.extend(lists.into_iter().rev().map(|list| (list, d + 1)));
    }
    depth
}
