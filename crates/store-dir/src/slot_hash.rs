//! pnpm's graph hash: the name of a package's slot in the global virtual store
//! (`<store>/links/<@scope or @>/<name>/<version>/<hash>`).
//!
//! A slot holds a package together with the links to its dependencies, so its name must
//! change whenever anything below it changes, and it must be pnpm's own name, so that a store
//! shared by pnpm 12 and tack holds one slot per package graph, not two. pnpm hashes each
//! snapshot of the lockfile in two steps:
//!
//! - the *dependency hash* of a snapshot is the base64 sha256 of object-hash's sorted
//!   serialisation of `{id, deps}`: `id` is `<name>@<version>:<integrity>` (peers dropped, a
//!   `(patch_hash=…)` kept, no `:<integrity>` when the resolution has none) and `deps` maps
//!   each dependency's alias to its own dependency hash, recursively;
//! - the *slot hash* is the hex sha256 of the unsorted serialisation of
//!   `{engine, deps: <dependency hash>}`, with `project` after them for a package read from a
//!   local directory (read from pnpm's sources; no pnpm vector checks that case yet). `engine` is `null` unless the package, or a package below it, is
//!   allowed to build (`<platform>;<arch>;node<major>`).
//!
//! Cycles are cut where pnpm cuts them: a snapshot whose id is already on the path being
//! hashed counts as having no dependencies there. That truncated hash stays cached for the
//! snapshots reached through it until the snapshot's own visit replaces it, so the result
//! depends on the walk's order, which is pnpm's: snapshots in the order of their keys, each
//! one's `dependencies` sorted by alias, then its `optionalDependencies` sorted by alias.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use sha2::{Digest, Sha256};

/// One snapshot of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotNode {
    /// pnpm's full package id: `<name>@<version>[(patch_hash=…)][:<integrity>]`.
    pub id: String,
    /// `(alias, snapshot key)` of each dependency, in pnpm's order (see the module doc). A
    /// `link:` dependency is a key of its own, a node with the id `link:<absolute path>`.
    pub children: Vec<(String, String)>,
}

/// The snapshots of a lockfile, by key (`name@version(peers)`).
#[derive(Debug, Clone, Default)]
pub struct SlotGraph {
    nodes: HashMap<String, SlotNode>,
}

/// What goes into one slot hash besides the dependency hash.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlotInputs<'a> {
    /// `<platform>;<arch>;node<major>` for a package that is allowed to build or that depends
    /// on one; `None` otherwise.
    pub engine: Option<&'a str>,
    /// The lockfile's directory, for a package read from a local directory (each project gets
    /// its own slot of it).
    pub project: Option<&'a str>,
}

impl SlotGraph {
    /// Adds the snapshot `key`.
    pub fn insert(&mut self, key: impl Into<String>, node: SlotNode) {
        self.nodes.insert(key.into(), node);
    }

    /// The dependency hash of every snapshot, computed in pnpm's order (keys sorted).
    pub fn dependency_hashes(&self) -> HashMap<String, String> {
        let mut keys: Vec<&str> = self.nodes.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut walk = Walk {
            graph: self,
            cache: HashMap::with_capacity(keys.len()),
            ancestors: HashSet::new(),
        };
        for key in keys {
            walk.dependency_hash(key);
        }
        walk.cache
    }
}

/// The slot name of a package whose dependency hash is `deps`.
pub fn slot_hash(deps: &str, inputs: SlotInputs<'_>) -> String {
    let mut text = String::with_capacity(96 + deps.len());
    let fields = if inputs.project.is_some() { 3 } else { 2 };
    text.push_str(&format!("object:{fields}:"));
    push_string(&mut text, "engine");
    text.push(':');
    match inputs.engine {
        Some(engine) => push_string(&mut text, engine),
        None => text.push_str("Null"),
    }
    text.push(',');
    push_string(&mut text, "deps");
    text.push(':');
    push_string(&mut text, deps);
    text.push(',');
    if let Some(project) = inputs.project {
        push_string(&mut text, "project");
        text.push(':');
        push_string(&mut text, project);
        text.push(',');
    }
    hex::encode(Sha256::digest(text))
}

/// The dependency hash of a package with no dependencies.
pub fn leaf_dependency_hash(id: &str) -> String {
    dependency_hash_of(id, &[])
}

struct Walk<'g> {
    graph: &'g SlotGraph,
    cache: HashMap<String, String>,
    /// The ids of the snapshots on the path being hashed.
    ancestors: HashSet<&'g str>,
}

/// A snapshot being hashed: the walk keeps its own stack of these instead of recursing, so a
/// lockfile with a dependency chain thousands of snapshots long cannot overflow the thread's
/// stack.
struct Frame<'g> {
    key: &'g str,
    node: &'g SlotNode,
    /// Whether the node's id went onto the path (it has children and is not a cycle).
    on_path: bool,
    /// The next child to hash.
    next: usize,
    deps: Vec<(&'g str, String)>,
}

/// What visiting a snapshot gives: its hash at once, or a frame to walk its children in.
enum Visit<'g> {
    Done(String),
    Walk(Frame<'g>),
}

impl<'g> Walk<'g> {
    fn dependency_hash(&mut self, root: &'g str) -> String {
        let mut stack = match self.visit(root) {
            Visit::Done(hash) => return hash,
            Visit::Walk(frame) => vec![frame],
        };
        loop {
            let Some(top) = stack.last_mut() else {
                return String::new();
            };
            if top.on_path && top.next < top.node.children.len() {
                let child = top.node.children[top.next].1.as_str();
                match self.visit(child) {
                    Visit::Done(hash) => add_dep(top, hash),
                    Visit::Walk(frame) => stack.push(frame),
                }
                continue;
            }
            let Some(frame) = stack.pop() else {
                return String::new();
            };
            let hash = self.finish(frame);
            match stack.last_mut() {
                Some(parent) => add_dep(parent, hash),
                None => return hash,
            }
        }
    }

    fn visit(&mut self, key: &'g str) -> Visit<'g> {
        if let Some(hash) = self.cache.get(key) {
            return Visit::Done(hash.clone());
        }
        // A dependency the graph does not have hashes to the empty string, as in pnpm.
        let Some(node) = self.graph.nodes.get(key) else {
            return Visit::Done(String::new());
        };
        let on_path = !node.children.is_empty() && self.ancestors.insert(node.id.as_str());
        Visit::Walk(Frame {
            key,
            node,
            on_path,
            next: 0,
            deps: Vec::new(),
        })
    }

    fn finish(&mut self, mut frame: Frame<'g>) -> String {
        if frame.on_path {
            self.ancestors.remove(frame.node.id.as_str());
        }
        frame.deps.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let hash = dependency_hash_of(&frame.node.id, &frame.deps);
        self.cache.insert(frame.key.to_string(), hash.clone());
        hash
    }
}

/// Records the hash of `frame`'s next child under its alias. An alias listed twice keeps its
/// place and takes the later value, as a JavaScript object spread does.
fn add_dep(frame: &mut Frame<'_>, hash: String) {
    let alias = frame.node.children[frame.next].0.as_str();
    frame.next += 1;
    match frame.deps.iter_mut().find(|(a, _)| *a == alias) {
        Some(slot) => slot.1 = hash,
        None => frame.deps.push((alias, hash)),
    }
}

/// base64 sha256 of object-hash's sorted serialisation of `{deps, id}`; `deps` in alias order.
fn dependency_hash_of(id: &str, deps: &[(&str, String)]) -> String {
    let mut text = String::with_capacity(64 + id.len() + deps.len() * 80);
    text.push_str("object:2:");
    push_string(&mut text, "deps");
    text.push_str(&format!(":object:{}:", deps.len()));
    for (alias, hash) in deps {
        push_string(&mut text, alias);
        text.push(':');
        push_string(&mut text, hash);
        text.push(',');
    }
    text.push(',');
    push_string(&mut text, "id");
    text.push(':');
    push_string(&mut text, id);
    text.push(',');
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text))
}

/// object-hash's serialisation of a string: `string:<UTF-16 length>:<text>`.
fn push_string(text: &mut String, value: &str) {
    text.push_str(&format!("string:{}:{value}", value.encode_utf16().count()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integrity(lead: &str) -> String {
        format!("sha512-{lead}{}", "A".repeat(91))
    }

    fn node(name: &str, children: &[(&str, &str)]) -> SlotNode {
        SlotNode {
            id: format!("{name}@1.0.0:{}", integrity(&name.to_uppercase())),
            children: children
                .iter()
                .map(|(alias, key)| (alias.to_string(), key.to_string()))
                .collect(),
        }
    }

    /// pnpm's own vectors for a graph of two cycles (`cyclic_gvs_slots_match_pnpm` in its
    /// engine, taken from its JavaScript `iterateHashedGraphNodes`): `a` reaches `x` through
    /// an npm alias, `b` has an optional dependency, `p`/`x` and `n`/`y` are cycles.
    #[test]
    fn cyclic_graph_slots_match_pnpm() {
        let mut graph = SlotGraph::default();
        for (key, node) in [
            ("a@1.0.0", node("a", &[("c", "q@1.0.0"), ("p", "p@1.0.0")])),
            ("b@1.0.0", node("b", &[("n", "n@1.0.0"), ("c", "m@1.0.0")])),
            ("m@1.0.0", node("m", &[("y", "y@1.0.0")])),
            ("n@1.0.0", node("n", &[("y", "y@1.0.0")])),
            ("p@1.0.0", node("p", &[("x", "x@1.0.0")])),
            ("q@1.0.0", node("q", &[("x", "x@1.0.0")])),
            ("x@1.0.0", node("x", &[("p", "p@1.0.0")])),
            ("y@1.0.0", node("y", &[("n", "n@1.0.0")])),
        ] {
            graph.insert(key, node);
        }
        let hashes = graph.dependency_hashes();
        let slot = |key: &str| slot_hash(&hashes[key], SlotInputs::default());
        for (key, expected) in [
            (
                "a@1.0.0",
                "3bf76a728c7e155a17137e13ca7af820eb13a0ff4003fed5c39649aac0309905",
            ),
            (
                "b@1.0.0",
                "728ab1a600ca69780231a2630496c2e83a88c82e965d09ac193fa448c0148a6d",
            ),
            (
                "m@1.0.0",
                "d671219222f32dfed181f294115e23fc07805b7b78048002872f131f69c07983",
            ),
            (
                "n@1.0.0",
                "92dec6e2ee818106a34b91bea178347566cc47fe25208afa683831ca5d494605",
            ),
            (
                "p@1.0.0",
                "b666adb72829d0d822cf2005226985c0b19de632b569fcd75363adf141af3c41",
            ),
            (
                "q@1.0.0",
                "49a1cd21058b93255957e5accf04137fe74ef88364f96f4b1116e3ca75083b6a",
            ),
            (
                "x@1.0.0",
                "4230805547fe5208b58758d53b200bc13c5475e3324af75adc87538fcf247857",
            ),
            (
                "y@1.0.0",
                "4fba92559776b8cd9c4a541f07da9fcc95c8a8ea427f4116de7b2f0606f0f03d",
            ),
        ] {
            assert_eq!(slot(key), expected, "{key}");
        }
    }

    /// pnpm's vectors for a `link:` dependency (`gvs-link-hash-parity.json`): the link is a
    /// node of its own whose id is the absolute target.
    #[test]
    fn link_dependency_slots_match_pnpm() {
        let parent_id = format!("parent@1.0.0:sha512-PARENT{}", "A".repeat(91));
        for (target, expected) in [
            (
                "link:/workspace/project",
                "3a16fe4340619f1a8febaf30c76e82343e21458a8dc88d47ee6829a17c9ccfd1",
            ),
            (
                "link:/workspace/shared",
                "f2a62b02eafef4509d49e4fb30d901773574154f038fa08d05a8105c44a82dfc",
            ),
        ] {
            let mut graph = SlotGraph::default();
            graph.insert(
                "parent@1.0.0",
                SlotNode {
                    id: parent_id.clone(),
                    children: vec![("linked".to_string(), target.to_string())],
                },
            );
            graph.insert(
                target,
                SlotNode {
                    id: target.to_string(),
                    children: Vec::new(),
                },
            );
            let hashes = graph.dependency_hashes();
            assert_eq!(
                slot_hash(&hashes["parent@1.0.0"], SlotInputs::default()),
                expected
            );
        }
    }

    /// Peer variants share an id: once one is hashed, its id leaves the path, and the other
    /// is hashed in full (not cut as if it were a cycle).
    #[test]
    fn a_peer_variant_is_not_taken_for_a_cycle() {
        let variant = |peer: &str| SlotNode {
            id: format!("foo@1.0.0:{}", integrity("F")),
            children: vec![("r".to_string(), format!("r@{peer}"))],
        };
        let leaf = |version: &str| SlotNode {
            id: format!("r@{version}:{}", integrity("R")),
            children: Vec::new(),
        };
        let mut both = SlotGraph::default();
        both.insert("foo@1.0.0(r@17.0.0)", variant("17.0.0"));
        both.insert("foo@1.0.0(r@18.0.0)", variant("18.0.0"));
        both.insert("r@17.0.0", leaf("17.0.0"));
        both.insert("r@18.0.0", leaf("18.0.0"));
        let mut alone = SlotGraph::default();
        alone.insert("foo@1.0.0(r@18.0.0)", variant("18.0.0"));
        alone.insert("r@18.0.0", leaf("18.0.0"));
        let key = "foo@1.0.0(r@18.0.0)";
        assert_eq!(
            both.dependency_hashes()[key],
            alone.dependency_hashes()[key]
        );
    }

    /// A chain far deeper than a thread's stack would allow recursing through is hashed, and
    /// each link's hash is its child's folded in, as the recursive definition has it.
    #[test]
    fn a_long_chain_is_hashed_without_recursion() {
        const LEN: usize = 200_000;
        let key = |i: usize| format!("c{i:06}@1.0.0");
        let mut graph = SlotGraph::default();
        for i in 0..LEN {
            let children = if i + 1 < LEN {
                vec![("next".to_string(), key(i + 1))]
            } else {
                Vec::new()
            };
            graph.insert(
                key(i),
                SlotNode {
                    id: format!("{}:{}", key(i), integrity("C")),
                    children,
                },
            );
        }
        let hashes = graph.dependency_hashes();
        assert_eq!(hashes.len(), LEN);
        let last = format!("{}:{}", key(LEN - 1), integrity("C"));
        assert_eq!(hashes[&key(LEN - 1)], leaf_dependency_hash(&last));
        let before_last = format!("{}:{}", key(LEN - 2), integrity("C"));
        assert_eq!(
            hashes[&key(LEN - 2)],
            dependency_hash_of(&before_last, &[("next", leaf_dependency_hash(&last))])
        );
    }

    /// The engine and the project change the slot; a leaf's hash is the graph's.
    #[test]
    fn engine_and_project_are_part_of_the_slot() {
        let id = format!("a@1.0.0:{}", integrity("A"));
        let mut graph = SlotGraph::default();
        graph.insert(
            "a@1.0.0",
            SlotNode {
                id: id.clone(),
                children: Vec::new(),
            },
        );
        let deps = &graph.dependency_hashes()["a@1.0.0"];
        assert_eq!(*deps, leaf_dependency_hash(&id));
        let plain = slot_hash(deps, SlotInputs::default());
        let built = slot_hash(
            deps,
            SlotInputs {
                engine: Some("linux;x64;node20"),
                project: None,
            },
        );
        let local = slot_hash(
            deps,
            SlotInputs {
                engine: None,
                project: Some("/p"),
            },
        );
        assert_ne!(plain, built);
        assert_ne!(plain, local);
        assert_ne!(built, local);
    }
}
