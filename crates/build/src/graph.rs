//! The build graph the CLI hands over (one node per installed package, built from the
//! lockfile) and pnpm's `buildSequence`: the subgraph of packages that need a build or a
//! patch plus their ancestors, cut into topological chunks with dependencies first.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// The install-time lifecycle scripts of a package manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleScripts {
    pub preinstall: Option<String>,
    pub install: Option<String>,
    pub postinstall: Option<String>,
}

impl LifecycleScripts {
    /// Read `scripts.preinstall/install/postinstall` from a `package.json` value.
    pub fn from_manifest(manifest: &serde_json::Value) -> Self {
        let get = |k: &str| {
            manifest
                .get("scripts")
                .and_then(|s| s.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        LifecycleScripts {
            preinstall: get("preinstall"),
            install: get("install"),
            postinstall: get("postinstall"),
        }
    }

    /// Whether any of the three is set.
    pub fn any(&self) -> bool {
        self.preinstall.is_some() || self.install.is_some() || self.postinstall.is_some()
    }
}

/// A patch to apply to a package before its scripts run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchRef {
    /// Absolute path of the patch file.
    pub path: PathBuf,
    /// The hash pnpm-lock.yaml records for it (sha256 hex, CRLF→LF).
    pub hash: String,
}

/// One package of the install.
#[derive(Debug, Clone)]
pub struct BuildNode {
    /// Full lockfile dep path, e.g. `foo@1.0.0(patch_hash=…)(bar@2.0.0)`.
    pub dep_path: String,
    pub name: String,
    pub version: String,
    /// Absolute package dir: `<vs>/<dir>/node_modules/<name>`.
    pub dir: PathBuf,
    /// Dep paths of its children (dependencies and optional dependencies).
    pub children: Vec<String>,
    /// pnpm's `requiresBuild`: lifecycle scripts, `binding.gyp` (without `gypfile: false`) or
    /// `.hooks/` present.
    pub requires_build: bool,
    pub patch: Option<PatchRef>,
    /// Reached only through optional edges: a failed build is skipped, and the package taken
    /// out of the tree (see [`crate::runner::DiscardFailed`]).
    pub optional: bool,
    pub scripts: LifecycleScripts,
    /// `gypfile: false` in the manifest disables the implicit `node-gyp rebuild`.
    pub gypfile: Option<bool>,
    /// Already built (its side-effects cache entry was imported): nothing to do.
    pub is_built: bool,
    /// Where the package goes once built, when `dir` is a staging directory beside it (a
    /// slot of the global virtual store, see [`crate::stage`]).
    pub publish_to: Option<PathBuf>,
}

/// The whole graph, keyed by dep path, with the importers' direct dependencies as roots.
#[derive(Debug, Clone, Default)]
pub struct BuildGraph {
    pub nodes: HashMap<String, BuildNode>,
    /// Dep paths of the importers' direct dependencies, in a stable order.
    pub roots: Vec<String>,
}

impl BuildGraph {
    /// pnpm's `buildSequence`: chunks of dep paths, each chunk depending only on earlier
    /// ones. Holds the packages that need a build or a patch, and every ancestor of one
    /// reachable from the roots. A dependency cycle is broken by releasing its least-blocked
    /// members together.
    pub fn build_sequence(&self) -> Vec<Vec<String>> {
        let mut memo: HashMap<&str, bool> = HashMap::new();
        let mut on_stack: HashSet<&str> = HashSet::new();
        let mut order: Vec<&str> = Vec::new();
        for root in &self.roots {
            self.mark(root, &mut memo, &mut on_stack, &mut order);
        }
        let members: Vec<&str> = order
            .into_iter()
            .filter(|d| memo.get(d) == Some(&true))
            .collect();
        let in_set: HashSet<&str> = members.iter().copied().collect();
        // Pending dependencies of each member inside the subgraph.
        let mut deps: HashMap<&str, HashSet<&str>> = HashMap::new();
        for &m in &members {
            let children = self
                .nodes
                .get(m)
                .map(|n| n.children.as_slice())
                .unwrap_or(&[]);
            let set: HashSet<&str> = children
                .iter()
                .map(String::as_str)
                .filter(|c| *c != m && in_set.contains(c))
                .collect();
            deps.insert(m, set);
        }
        let mut remaining = members;
        let mut chunks = Vec::new();
        while !remaining.is_empty() {
            let mut ready: Vec<&str> = remaining
                .iter()
                .copied()
                .filter(|m| deps.get(m).is_none_or(HashSet::is_empty))
                .collect();
            if ready.is_empty() {
                let min = remaining
                    .iter()
                    .map(|m| deps.get(m).map_or(0, HashSet::len))
                    .min()
                    .unwrap_or(0);
                ready = remaining
                    .iter()
                    .copied()
                    .filter(|m| deps.get(m).map_or(0, HashSet::len) == min)
                    .collect();
            }
            let done: HashSet<&str> = ready.iter().copied().collect();
            remaining.retain(|m| !done.contains(m));
            for set in deps.values_mut() {
                set.retain(|d| !done.contains(d));
            }
            chunks.push(ready.into_iter().map(str::to_string).collect());
        }
        chunks
    }

    /// Whether `dep_path` or anything below it needs a build; records visit order.
    fn mark<'a>(
        &'a self,
        dep_path: &'a str,
        memo: &mut HashMap<&'a str, bool>,
        on_stack: &mut HashSet<&'a str>,
        order: &mut Vec<&'a str>,
    ) -> bool {
        if let Some(v) = memo.get(dep_path) {
            return *v;
        }
        let Some(node) = self.nodes.get(dep_path) else {
            return false;
        };
        if !on_stack.insert(dep_path) {
            // A cycle back to a node being walked: its own verdict is decided by its walk.
            return false;
        }
        let mut needed = node.requires_build || node.patch.is_some();
        for child in &node.children {
            if self.mark(child, memo, on_stack, order) {
                needed = true;
            }
        }
        on_stack.remove(dep_path);
        memo.insert(dep_path, needed);
        order.push(dep_path);
        needed
    }
}
