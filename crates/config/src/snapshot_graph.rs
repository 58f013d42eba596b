//! The lockfile's snapshots as numbered nodes, each edge resolved to a node once.
//!
//! Deciding what to install walks the snapshot graph twice (what regular edges reach, then
//! everything reachable through installable packages). Walking it by dep path made every
//! edge a new `String` and several hashed lookups per walk: about 12M instructions for a
//! project of 900 packages, on the install's critical path. Here each edge is resolved once,
//! the first time its snapshot is expanded, and the walks compare numbers.

use std::collections::HashMap;

use tack_lockfile::{write_ref_dep_path, Lockfile};

/// Nodes are the lockfile's snapshots (by their index in `Lockfile::snapshots`), then the
/// dep paths edges name that have no snapshot, numbered as they are met.
pub(crate) struct SnapshotGraph<'a> {
    lockfile: &'a Lockfile,
    include_optional: bool,
    /// Dep paths without a snapshot, by node number minus the snapshot count.
    extra_names: Vec<String>,
    extra_nodes: HashMap<String, usize>,
    /// Per snapshot: its edges once expanded (target, optional), regular ones first.
    edges: Vec<Option<Vec<(usize, bool)>>>,
    /// Scratch space for the dep path of the edge being resolved.
    buf: String,
}

impl<'a> SnapshotGraph<'a> {
    /// `include_optional`: whether snapshots' optional dependencies are edges at all.
    pub(crate) fn new(lockfile: &'a Lockfile, include_optional: bool) -> Self {
        SnapshotGraph {
            lockfile,
            include_optional,
            extra_names: Vec::new(),
            extra_nodes: HashMap::new(),
            edges: vec![None; lockfile.snapshots.len()],
            buf: String::new(),
        }
    }

    /// The dep path of `node`.
    pub(crate) fn name(&self, node: usize) -> &str {
        let snapshots = self.lockfile.snapshots.len();
        match self.lockfile.snapshots.get_index(node) {
            Some((dep_path, _)) => dep_path,
            None => &self.extra_names[node - snapshots],
        }
    }

    /// The node `reference` (under `alias`) points at; `None` for a `link:` ref.
    pub(crate) fn resolve(&mut self, reference: &str, alias: &str) -> Option<usize> {
        if !write_ref_dep_path(reference, alias, &mut self.buf) {
            return None;
        }
        if let Some(index) = self.lockfile.snapshots.get_index_of(self.buf.as_str()) {
            return Some(index);
        }
        let snapshots = self.lockfile.snapshots.len();
        if let Some(&node) = self.extra_nodes.get(self.buf.as_str()) {
            return Some(node);
        }
        let node = snapshots + self.extra_names.len();
        self.extra_names.push(self.buf.clone());
        self.extra_nodes.insert(self.buf.clone(), node);
        Some(node)
    }

    /// Resolves the edges of `node`, if it is a snapshot not expanded yet (see
    /// [`SnapshotGraph::edges`]).
    pub(crate) fn expand(&mut self, node: usize) {
        let lockfile = self.lockfile;
        let Some((_, snapshot)) = lockfile.snapshots.get_index(node) else {
            return;
        };
        if self.edges[node].is_some() {
            return;
        }
        let include_optional = self.include_optional;
        let optional = snapshot
            .optional_dependencies
            .iter()
            .filter(|_| include_optional)
            .map(|(a, r)| (a, r, true));
        let listed = snapshot
            .dependencies
            .iter()
            .map(|(a, r)| (a, r, false))
            .chain(optional);
        let mut out = Vec::with_capacity(snapshot.dependencies.len());
        for (alias, reference, optional) in listed {
            if let Some(target) = self.resolve(reference, alias) {
                out.push((target, optional));
            }
        }
        self.edges[node] = Some(out);
    }

    /// The edges of `node` (target, optional) once [expanded](SnapshotGraph::expand), in
    /// the order the snapshot lists them: dependencies, then optional dependencies when they
    /// are included. A dep path without a snapshot has none.
    pub(crate) fn edges(&self, node: usize) -> &[(usize, bool)] {
        self.edges
            .get(node)
            .and_then(Option::as_deref)
            .unwrap_or_default()
    }
}
