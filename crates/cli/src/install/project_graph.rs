//! The workspace projects and which of them each one depends on, as pnpm 12 sees them: a
//! project depends on the projects its lockfile importer links (`link:`) or injects (`file:`),
//! in any dependency group, a peer pnpm installed for it included. `--filter` walks this
//! graph, and the install warns of its cycles.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use tack_lockfile::{DepGroup, Lockfile};

/// The workspace projects and what each depends on, by importer id.
pub(super) struct ProjectGraph<'a> {
    /// Importer id, directory, name; in the order of `projects` (by importer id).
    pub(super) nodes: Vec<(&'a str, PathBuf, Option<&'a str>)>,
    /// Per importer id: (dependency's importer id, whether only as a dev dependency).
    pub(super) edges: HashMap<&'a str, Vec<(String, bool)>>,
}

impl<'a> ProjectGraph<'a> {
    pub(super) fn new(lockfile: &'a Lockfile, projects: &'a [tack_config::Project]) -> Self {
        let nodes: Vec<(&str, PathBuf, Option<&str>)> = projects
            .iter()
            .map(|p| {
                (
                    p.importer_id.as_str(),
                    p.dir.clone(),
                    p.manifest.name.as_deref(),
                )
            })
            .collect();
        let ids: HashSet<&str> = nodes.iter().map(|n| n.0).collect();
        let mut edges: HashMap<&str, Vec<(String, bool)>> = HashMap::new();
        for (id, importer) in &lockfile.importers {
            let Some(&from) = ids.get(id.as_str()) else {
                continue;
            };
            // pnpm walks a project's dependencies as `{...dev, ...optional, ...prod}`.
            let mut deps: Vec<_> = importer.all_deps().collect();
            deps.sort_by_key(|(_, _, group)| match group {
                DepGroup::Dev => 0,
                DepGroup::Optional => 1,
                DepGroup::Prod => 2,
            });
            for (_, dep, group) in deps {
                let target = if let Some(rel) = dep.version.strip_prefix("link:") {
                    join_importer(id, rel)
                } else if let Some(rel) = dep.version.strip_prefix("file:") {
                    // An injected project with peers: `file:packages/ui(react@18.2.0)`.
                    join_importer(".", tack_lockfile::remove_suffix(rel))
                } else {
                    continue;
                };
                if ids.contains(target.as_str()) && target != *id {
                    edges
                        .entry(from)
                        .or_default()
                        .push((target, group == DepGroup::Dev));
                }
            }
        }
        ProjectGraph { nodes, edges }
    }

    /// The cycles pnpm 12 reports among the projects of `scope` (edges leaving it are not
    /// followed), as directories, in the order it prints them in "There are cyclic workspace
    /// dependencies: …". pnpm sequences the projects in chunks: those whose dependencies are
    /// all done; when none is, it looks for a cycle from each remaining project in turn (a
    /// breadth-first walk back to it, dev dependencies first, the longest path found) and
    /// takes each cycle out as a chunk. So a cycle is listed from the project it was found
    /// from, in walk order, and a project on a second loop through a listed one is not listed.
    pub(super) fn cycles(&self, scope: &BTreeSet<String>) -> Vec<Vec<PathBuf>> {
        let nodes: Vec<&(&str, PathBuf, Option<&str>)> =
            self.nodes.iter().filter(|n| scope.contains(n.0)).collect();
        let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.0, i)).collect();
        let next: Vec<Vec<usize>> = nodes
            .iter()
            .enumerate()
            .map(|(me, n)| {
                let mut out: Vec<usize> = Vec::new();
                for (to, _) in self.edges.get(n.0).into_iter().flatten() {
                    if let Some(&to) = index.get(to.as_str()) {
                        if to != me && !out.contains(&to) {
                            out.push(to);
                        }
                    }
                }
                out
            })
            .collect();
        let mut pointing_at: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for (from, tos) in next.iter().enumerate() {
            for &to in tos {
                pointing_at[to].push(from);
            }
        }
        let mut state = Sequencing {
            undone: next.iter().map(Vec::len).collect(),
            remaining: vec![true; nodes.len()],
            left: nodes.len(),
            pointing_at,
        };
        let mut cycles: Vec<Vec<usize>> = Vec::new();
        while state.left > 0 {
            let chunk: Vec<usize> = (0..nodes.len())
                .filter(|&i| state.remaining[i] && state.undone[i] == 0)
                .collect();
            if !chunk.is_empty() {
                chunk.into_iter().for_each(|node| state.remove(node));
                continue;
            }
            let before = cycles.len();
            for start in 0..nodes.len() {
                if !state.remaining[start] {
                    continue;
                }
                let cycle = cycle_through(start, &next, &state.remaining);
                if !cycle.is_empty() {
                    cycle.iter().for_each(|&node| state.remove(node));
                    cycles.push(cycle);
                }
            }
            if cycles.len() == before {
                break;
            }
        }
        cycles
            .into_iter()
            .map(|cycle| cycle.into_iter().map(|i| nodes[i].1.clone()).collect())
            .collect()
    }
}

/// Where the sequencing of [`ProjectGraph::cycles`] stands.
struct Sequencing {
    /// Per project: how many of its dependencies are not done.
    undone: Vec<usize>,
    /// Per project: not yet done.
    remaining: Vec<bool>,
    left: usize,
    /// Per project: the projects that depend on it.
    pointing_at: Vec<Vec<usize>>,
}

impl Sequencing {
    fn remove(&mut self, node: usize) {
        for &from in &self.pointing_at[node] {
            self.undone[from] -= 1;
        }
        self.remaining[node] = false;
        self.left -= 1;
    }
}

/// The longest of the paths a breadth-first walk from `start` finds back to it (the first
/// of equal length), each project reached once; empty when there is none.
fn cycle_through(start: usize, next: &[Vec<usize>], remaining: &[bool]) -> Vec<usize> {
    let mut queue = std::collections::VecDeque::from([(start, vec![start])]);
    let mut reached = HashSet::new();
    let mut best: Vec<usize> = Vec::new();
    while let Some((node, path)) = queue.pop_front() {
        for &to in &next[node] {
            if to == start {
                reached.insert(to);
                if path.len() > best.len() {
                    best = path.clone();
                }
                continue;
            }
            if !remaining[to] || !reached.insert(to) {
                continue;
            }
            let mut longer = path.clone();
            longer.push(to);
            queue.push_back((to, longer));
        }
    }
    best
}

/// An importer id joined with a relative path (`packages/a` + `../b` → `packages/b`).
pub(super) fn join_importer(id: &str, rel: &str) -> String {
    let joined = tack_fs::normalize_lexically(&Path::new(id).join(rel));
    if joined.as_os_str().is_empty() {
        ".".to_string()
    } else {
        joined.to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn importer_paths_join() {
        assert_eq!(join_importer("packages/a", "../b"), "packages/b");
        assert_eq!(join_importer("packages/a", "../.."), ".");
        assert_eq!(join_importer(".", "packages/b"), "packages/b");
    }
}
