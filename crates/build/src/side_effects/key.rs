//! The side-effects cache key, as pnpm's `calcDepState` builds it:
//! `<platform>;<arch>;node<major>;format=2[;deps=<hash>][;patch=<patchHash>]`.
//!
//! `deps` is present only when the package ran scripts. It is the package's dependency hash
//! in the lockfile graph, the one that also names its slot in the global virtual store
//! ([`tack_store_dir::slot_hash`]): the object-hash of `{id: "<pkgIdWithPatchHash>:<integrity>",
//! deps: {alias: <child's hash>}}`, with every dependency cycle hashed as a whole (pnpm
//! 12.17 and later; observed on pnpm 12.21's side-effects keys). Every package's hash is
//! computed at the first key and kept for the rest of the install.

use crate::env::{node_arch, node_platform};
use indexmap::IndexMap;
use std::collections::HashMap;
use tack_store_dir::slot_hash::{SlotGraph, SlotNode};

/// One lockfile package for hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepStateNode {
    /// `<pkgIdWithPatchHash>:<integrity>` (see [`full_pkg_id`]).
    pub full_pkg_id: String,
    /// Alias → child dep path, in lockfile order (dependencies, then optionalDependencies).
    pub children: IndexMap<String, String>,
}

/// Every lockfile package, by dep path.
pub type DepStateGraph = HashMap<String, DepStateNode>;

/// Every package's hash by dep path, filled at the first key; share one across all keys of
/// an install.
pub type DepStateCache = HashMap<String, String>;

/// `<pkgIdWithPatchHash>:<integrity>`: the package id with the patch suffix kept and the
/// peers suffix removed, plus the resolution's integrity.
pub fn full_pkg_id(pkg_id_with_patch_hash: &str, integrity: &str) -> String {
    format!("{pkg_id_with_patch_hash}:{integrity}")
}

/// `<platform>;<arch>;node<major>;format=2` for this host and a Node major version.
pub fn engine_name(node_major: u32) -> String {
    format!(
        "{};{};node{node_major};format=2",
        node_platform(),
        node_arch()
    )
}

/// The cache key of `dep_path`. `engine` comes from [`engine_name`]; `include_deps_hash` is
/// true when the package's scripts ran; `patch_hash` is its patch file hash, if patched.
pub fn calc_dep_state(
    graph: &DepStateGraph,
    cache: &mut DepStateCache,
    dep_path: &str,
    engine: &str,
    include_deps_hash: bool,
    patch_hash: Option<&str>,
) -> String {
    let mut key = engine.to_string();
    if include_deps_hash {
        if cache.is_empty() {
            *cache = dependency_hashes(graph);
        }
        let hash = cache.get(dep_path).map_or("", String::as_str);
        key.push_str(";deps=");
        key.push_str(hash);
    }
    if let Some(p) = patch_hash.filter(|p| !p.is_empty()) {
        key.push_str(";patch=");
        key.push_str(p);
    }
    key
}

/// The hash of every package of `graph`: its children in their order (a child the graph
/// does not have hashes as `""`).
fn dependency_hashes(graph: &DepStateGraph) -> DepStateCache {
    let mut slots = SlotGraph::default();
    for (dep_path, node) in graph {
        let children = node
            .children
            .iter()
            .map(|(alias, child)| (alias.clone(), child.clone()))
            .collect();
        slots.insert(
            dep_path.clone(),
            SlotNode {
                id: node.full_pkg_id.clone(),
                children,
            },
        );
    }
    slots.dependency_hashes()
}
