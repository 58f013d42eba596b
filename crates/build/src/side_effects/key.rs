//! The side-effects cache key, as pnpm's `calcDepState` builds it:
//! `<platform>;<arch>;node<major>;format=2[;deps=<hash>][;patch=<patchHash>]`.
//!
//! `deps` is present only when the package ran scripts; it is the object-hash of
//! `{id: "<pkgIdWithPatchHash>:<integrity>", deps: {alias: <child's hash>}}`, computed
//! recursively over the whole lockfile graph. A child already on the current path (a cycle)
//! contributes `{id, deps: {}}`. Results are memoized per dep path exactly like pnpm's cache,
//! including its cycle behaviour, so the same graph yields the same key.

use super::object_hash::{hash_object, HashValue};
use crate::env::{node_arch, node_platform};
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};

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

/// Memoized hashes by dep path; share one across all keys of an install.
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
        let hash = dep_graph_hash(graph, cache, &HashSet::new(), dep_path);
        key.push_str(";deps=");
        key.push_str(&hash);
    }
    if let Some(p) = patch_hash.filter(|p| !p.is_empty()) {
        key.push_str(";patch=");
        key.push_str(p);
    }
    key
}

fn dep_graph_hash(
    graph: &DepStateGraph,
    cache: &mut DepStateCache,
    parents: &HashSet<String>,
    dep_path: &str,
) -> String {
    if let Some(h) = cache.get(dep_path) {
        return h.clone();
    }
    let Some(node) = graph.get(dep_path) else {
        return String::new();
    };
    let mut deps = Vec::new();
    if !node.children.is_empty() && !parents.contains(&node.full_pkg_id) {
        let mut next = parents.clone();
        next.insert(node.full_pkg_id.clone());
        for (alias, child) in &node.children {
            let h = dep_graph_hash(graph, cache, &next, child);
            deps.push((alias.clone(), HashValue::Str(h)));
        }
    }
    let hash = hash_object(&HashValue::Object(vec![
        ("id".to_string(), HashValue::Str(node.full_pkg_id.clone())),
        ("deps".to_string(), HashValue::Object(deps)),
    ]));
    cache.insert(dep_path.to_string(), hash.clone());
    hash
}
