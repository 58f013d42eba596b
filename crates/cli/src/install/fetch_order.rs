//! The order in which a cold install asks for its tarballs: nearest the projects first.
//!
//! Downloads are unpacked roughly in the order they were asked for: the network and body
//! budgets let only so much wait in memory, so a request sent late is unpacked late. In
//! lockfile order (alphabetical) the medium fixture's largest archives (`typescript`,
//! `webpack`) came last, and a cold install ended with one core unpacking them while the other
//! had nothing left to do. The large packages of a project are mostly its own tools and
//! frameworks, a level or two below the importers; what lies deep in the graph is mostly
//! small. Asking breadth-first from the importers gets the large archives going while plenty
//! of small ones remain to fill the other core at the end. The order changes nothing but
//! timing: every package is fetched either way.

use std::collections::{HashMap, VecDeque};

use tack_linker::{ChildTarget, LinkPlan, PlannedImporter, PlannedPackage};

/// Sorts `to_fetch` (indexes into `plan.packages`) by their distance from the nearest importer,
/// keeping the current order between packages at the same distance. Packages no importer
/// reaches (none, in a consistent lockfile) go last.
pub(crate) fn nearest_first(plan: &LinkPlan, to_fetch: &mut [usize]) {
    let by_dep_path = plan.indexes_by_dep_path();
    sort_nearest_first(&plan.packages, &plan.importers, &by_dep_path, to_fetch);
}

fn sort_nearest_first(
    packages: &[PlannedPackage],
    importers: &[PlannedImporter],
    by_dep_path: &HashMap<&str, usize>,
    to_fetch: &mut [usize],
) {
    let depth = depths(packages, importers, by_dep_path);
    to_fetch.sort_by_key(|&i| depth.get(i).copied().unwrap_or(u32::MAX));
}

/// Each package's distance from the nearest importer (a direct dependency is 0), by a
/// breadth-first walk over the plan's edges.
fn depths(
    packages: &[PlannedPackage],
    importers: &[PlannedImporter],
    by_dep_path: &HashMap<&str, usize>,
) -> Vec<u32> {
    let index_of = |target: &ChildTarget| match target {
        ChildTarget::DepPath(dep_path) => by_dep_path.get(dep_path.as_str()).copied(),
        ChildTarget::Link(_) => None,
    };
    let mut depth = vec![u32::MAX; packages.len()];
    let mut queue = VecDeque::new();
    for dep in importers.iter().flat_map(|importer| &importer.deps) {
        if let Some(i) = index_of(&dep.target) {
            if depth[i] == u32::MAX {
                depth[i] = 0;
                queue.push_back(i);
            }
        }
    }
    while let Some(i) = queue.pop_front() {
        let next = depth[i] + 1;
        for (_, target) in &packages[i].children {
            if let Some(c) = index_of(target) {
                if depth[c] == u32::MAX {
                    depth[c] = next;
                    queue.push_back(c);
                }
            }
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use tack_linker::{DepGroup, ImporterDep, PackageFiles};

    fn package(dep_path: &str, children: &[&str]) -> PlannedPackage {
        let (name, version) = dep_path.rsplit_once('@').unwrap_or((dep_path, ""));
        PlannedPackage {
            dep_path: dep_path.to_string(),
            dir_name: dep_path.replace('/', "+"),
            name: name.to_string(),
            version: version.to_string(),
            files: PackageFiles::Cas(Vec::new()),
            children: children
                .iter()
                .map(|c| (c.to_string(), ChildTarget::DepPath(c.to_string())))
                .collect(),
            has_bin: false,
            has_bundled_dependencies: false,
            unlinked_optional_children: Vec::new(),
            force_copy: false,
        }
    }

    fn importer(id: &str, deps: &[&str]) -> PlannedImporter {
        PlannedImporter {
            id: id.to_string(),
            dir: PathBuf::from("/project").join(id),
            name: None,
            version: None,
            deps: deps
                .iter()
                .map(|d| ImporterDep {
                    alias: d.to_string(),
                    target: ChildTarget::DepPath(d.to_string()),
                    group: DepGroup::Dev,
                })
                .chain(std::iter::once(ImporterDep {
                    alias: "sibling".to_string(),
                    target: ChildTarget::Link(PathBuf::from("/project/sibling")),
                    group: DepGroup::Prod,
                }))
                .collect(),
            peers_of_deps: Vec::new(),
            undeduped_deps: None,
        }
    }

    #[test]
    fn direct_dependencies_come_first_then_each_level_below_in_lockfile_order() {
        // Lockfile (alphabetical) order; `typescript` and `webpack` are direct
        // dependencies, the small helpers lie below them.
        let packages = vec![
            package("acorn@8.0.0", &[]),
            package("ansi@1.0.0", &[]),
            package("chalk@4.0.0", &["ansi@1.0.0"]),
            package("orphan@1.0.0", &[]),
            package("typescript@5.0.0", &[]),
            package("webpack@5.0.0", &["acorn@8.0.0", "chalk@4.0.0"]),
        ];
        let importers = vec![
            importer(".", &["webpack@5.0.0"]),
            importer("packages/a", &["typescript@5.0.0", "chalk@4.0.0"]),
        ];
        // As `LinkPlan::indexes_by_dep_path` makes it.
        let by_dep_path: HashMap<&str, usize> = packages
            .iter()
            .enumerate()
            .map(|(i, p)| (p.dep_path.as_str(), i))
            .collect();
        let depth = depths(&packages, &importers, &by_dep_path);
        assert_eq!(depth, vec![1, 1, 0, u32::MAX, 0, 0]);

        let mut order: Vec<usize> = (0..packages.len()).collect();
        sort_nearest_first(&packages, &importers, &by_dep_path, &mut order);
        let names: Vec<&str> = order.iter().map(|&i| packages[i].name.as_str()).collect();
        assert_eq!(
            names,
            ["chalk", "typescript", "webpack", "acorn", "ansi", "orphan"]
        );
    }
}
