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
//!   `{engine, deps: <dependency hash>}`, then `built: true` when `engine` is set and the
//!   install runs builds, and `project` (the lockfile's directory) for a package read from
//!   a local directory (a pnpm 12.21 vector in the tests). `engine` is `null` unless the
//!   package, or a package below it, is allowed to build (`<platform>;<arch>;node<major>`).
//!
//! A dependency cycle has no bottom to start from, so since pnpm 12.17 the graph is split
//! into strongly connected components (Tarjan's walk) and each cycle is hashed as a whole,
//! so that a change below any member renames every member (observed from pnpm 12.21 by
//! tracing the strings it hashes; `plans/global-virtual-store.md`, session 56):
//!
//! - a member's starting *colour* is the dependency hash above with `deps` holding only its
//!   dependencies outside the cycle; a snapshot in no cycle (a self-dependency alone does not
//!   make one) keeps that as its dependency hash;
//! - colours are refined, `{color, deps: {alias: colour of the member it names}}`, for as long
//!   as a round tells more members apart; the last colours that did are kept;
//! - the *component hash* covers `{<colour>: {alias: colour of the member it names}}` of every
//!   member, and a member's dependency hash is that of `{component, member: <its colour>}`.
//!
//! Tarjan's walk finishes a cycle only after everything below it, so each component is hashed
//! once, with the hashes of what it depends on already known.

use std::collections::{BTreeMap, HashMap, HashSet};

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
    /// Whether the install runs builds (scripts not ignored); pnpm 12.21 adds `built: true`
    /// to a slot that has an engine then, so a slot built by an install that ran scripts is
    /// never taken for one that did not.
    pub built: bool,
}

impl SlotGraph {
    /// Adds the snapshot `key`.
    pub fn insert(&mut self, key: impl Into<String>, node: SlotNode) {
        self.nodes.insert(key.into(), node);
    }

    /// The dependency hash of every snapshot, by key.
    pub fn dependency_hashes(&self) -> HashMap<String, String> {
        let indexed = Indexed::new(self);
        let hashes = Walk::new(&indexed).run();
        indexed
            .keys
            .iter()
            .zip(hashes)
            .filter_map(|(key, hash)| Some((key.to_string(), hash?)))
            .collect()
    }
}

/// The slot name of a package whose dependency hash is `deps`.
pub fn slot_hash(deps: &str, inputs: SlotInputs<'_>) -> String {
    let mut text = String::with_capacity(96 + deps.len());
    let built = inputs.built && inputs.engine.is_some();
    let fields = 2 + usize::from(built) + usize::from(inputs.project.is_some());
    text.push_str(&format!("object:{fields}:"));
    push_string(&mut text, "engine");
    text.push(':');
    match inputs.engine {
        Some(engine) => push_string(&mut text, engine),
        None => text.push_str("Null"),
    }
    text.push(',');
    push_entry(&mut text, "deps", deps);
    if built {
        push_string(&mut text, "built");
        text.push_str(":bool:true,");
    }
    // Not observed together with `built` (tack refuses builds of directory dependencies
    // under the global virtual store), so this field's place after it is a guess.
    if let Some(project) = inputs.project {
        push_entry(&mut text, "project", project);
    }
    hex::encode(Sha256::digest(text))
}

/// The dependency hash of a package with no dependencies.
pub fn leaf_dependency_hash(id: &str) -> String {
    dependency_hash_of(id, &[])
}

/// The graph with its keys turned into indexes: each node's children deduplicated by alias
/// (a later entry takes an earlier one's value, as a JavaScript object spread does) and
/// sorted by alias; `None` for a dependency the graph does not have.
struct Indexed<'g> {
    keys: Vec<&'g str>,
    ids: Vec<&'g str>,
    children: Vec<Vec<(&'g str, Option<usize>)>>,
}

impl<'g> Indexed<'g> {
    fn new(graph: &'g SlotGraph) -> Self {
        let mut keys: Vec<&str> = graph.nodes.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let position: HashMap<&str, usize> =
            keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        let mut ids = Vec::with_capacity(keys.len());
        let mut children = Vec::with_capacity(keys.len());
        for key in &keys {
            let node = &graph.nodes[*key];
            ids.push(node.id.as_str());
            let mut own: Vec<(&str, Option<usize>)> = Vec::with_capacity(node.children.len());
            for (alias, child) in &node.children {
                let target = position.get(child.as_str()).copied();
                match own.iter_mut().find(|(a, _)| *a == alias.as_str()) {
                    Some(slot) => slot.1 = target,
                    None => own.push((alias.as_str(), target)),
                }
            }
            own.sort_unstable_by(|a, b| a.0.cmp(b.0));
            children.push(own);
        }
        Indexed {
            keys,
            ids,
            children,
        }
    }
}

const UNVISITED: usize = usize::MAX;

/// Tarjan's walk over [`Indexed`], with its own stack instead of recursion (a lockfile with a
/// chain of thousands of snapshots cannot overflow the thread's stack), hashing each
/// component as it is finished.
struct Walk<'g> {
    graph: &'g Indexed<'g>,
    /// Each node's dependency hash, once its component is finished.
    hashes: Vec<Option<String>>,
    order: Vec<usize>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next_order: usize,
    /// Which component a node belongs to while that component is hashed (`UNVISITED`
    /// otherwise).
    member_of: Vec<usize>,
}

impl<'g> Walk<'g> {
    fn new(graph: &'g Indexed<'g>) -> Self {
        let n = graph.keys.len();
        Walk {
            graph,
            hashes: vec![None; n],
            order: vec![UNVISITED; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            next_order: 0,
            member_of: vec![UNVISITED; n],
        }
    }

    fn enter(&mut self, node: usize, calls: &mut Vec<(usize, usize)>) {
        self.order[node] = self.next_order;
        self.low[node] = self.next_order;
        self.next_order += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
        calls.push((node, 0));
    }

    fn run(mut self) -> Vec<Option<String>> {
        let mut calls: Vec<(usize, usize)> = Vec::new();
        for root in 0..self.graph.keys.len() {
            if self.order[root] != UNVISITED {
                continue;
            }
            self.enter(root, &mut calls);
            while let Some(&(node, next)) = calls.last() {
                if let Some(&(_, child)) = self.graph.children[node].get(next) {
                    if let Some(top) = calls.last_mut() {
                        top.1 += 1;
                    }
                    let Some(child) = child else { continue };
                    if self.order[child] == UNVISITED {
                        self.enter(child, &mut calls);
                    } else if self.on_stack[child] {
                        self.low[node] = self.low[node].min(self.order[child]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    self.low[parent] = self.low[parent].min(self.low[node]);
                }
                if self.low[node] == self.order[node] {
                    let mut members = Vec::new();
                    while let Some(member) = self.stack.pop() {
                        self.on_stack[member] = false;
                        members.push(member);
                        if member == node {
                            break;
                        }
                    }
                    self.hash_component(&members);
                }
            }
        }
        self.hashes
    }

    /// Hashes one strongly connected component; everything it depends on outside itself is
    /// hashed already.
    fn hash_component(&mut self, members: &[usize]) {
        for (position, &member) in members.iter().enumerate() {
            self.member_of[member] = position;
        }
        let mut colors = Vec::with_capacity(members.len());
        let mut inside: Vec<Vec<(&str, usize)>> = Vec::with_capacity(members.len());
        for &member in members {
            let mut outside = Vec::new();
            let mut own = Vec::new();
            for &(alias, child) in &self.graph.children[member] {
                match child {
                    Some(child) if self.member_of[child] != UNVISITED => {
                        own.push((alias, self.member_of[child]));
                    }
                    // A dependency the graph does not have hashes to the empty string, as in
                    // pnpm.
                    Some(child) => {
                        outside.push((alias, self.hashes[child].clone().unwrap_or_default()))
                    }
                    None => outside.push((alias, String::new())),
                }
            }
            colors.push(dependency_hash_of(self.graph.ids[member], &outside));
            inside.push(own);
        }
        if members.len() > 1 {
            let colors = refine(colors, &inside);
            let component = component_hash(&colors, &inside);
            for (position, &member) in members.iter().enumerate() {
                self.hashes[member] = Some(member_hash(&component, &colors[position]));
            }
        } else if let (Some(&member), Some(color)) = (members.first(), colors.pop()) {
            self.hashes[member] = Some(color);
        }
        for &member in members {
            self.member_of[member] = UNVISITED;
        }
    }
}

/// Refines a cycle's colours for as long as a round tells more members apart, and returns
/// the last colours that did.
fn refine(mut colors: Vec<String>, inside: &[Vec<(&str, usize)>]) -> Vec<String> {
    let distinct = |colors: &[String]| colors.iter().collect::<HashSet<_>>().len();
    let mut told_apart = distinct(&colors);
    loop {
        let refined: Vec<String> = colors
            .iter()
            .zip(inside)
            .map(|(color, own)| {
                let mut text = String::from("object:2:");
                push_entry(&mut text, "color", color);
                push_string(&mut text, "deps");
                text.push(':');
                push_member_deps(&mut text, own, &colors);
                text.push(',');
                base64_sha256(&text)
            })
            .collect();
        let now = distinct(&refined);
        if now <= told_apart {
            return colors;
        }
        told_apart = now;
        colors = refined;
    }
}

/// The hash of a whole cycle: `{<colour>: {alias: colour}}` over its members, keys sorted
/// (members with one colour are one key, as in an object).
fn component_hash(colors: &[String], inside: &[Vec<(&str, usize)>]) -> String {
    let by_color: BTreeMap<&str, &[(&str, usize)]> = colors
        .iter()
        .map(String::as_str)
        .zip(inside.iter().map(Vec::as_slice))
        .collect();
    let mut text = format!("object:{}:", by_color.len());
    for (color, own) in by_color {
        push_string(&mut text, color);
        text.push(':');
        push_member_deps(&mut text, own, colors);
        text.push(',');
    }
    base64_sha256(&text)
}

/// A cycle member's dependency hash: `{component, member: <its colour>}`.
fn member_hash(component: &str, color: &str) -> String {
    let mut text = String::from("object:2:");
    push_entry(&mut text, "component", component);
    push_entry(&mut text, "member", color);
    base64_sha256(&text)
}

/// `{alias: colour}` of a member's dependencies inside its cycle, in alias order.
fn push_member_deps(text: &mut String, own: &[(&str, usize)], colors: &[String]) {
    text.push_str(&format!("object:{}:", own.len()));
    for &(alias, position) in own {
        push_entry(text, alias, &colors[position]);
    }
}

fn base64_sha256(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text))
}

/// base64 sha256 of object-hash's sorted serialisation of `{deps, id}`; `deps` in alias order.
fn dependency_hash_of(id: &str, deps: &[(&str, String)]) -> String {
    let mut text = String::with_capacity(64 + id.len() + deps.len() * 80);
    text.push_str("object:2:");
    push_string(&mut text, "deps");
    text.push_str(&format!(":object:{}:", deps.len()));
    for (alias, hash) in deps {
        push_entry(&mut text, alias, hash);
    }
    text.push(',');
    push_entry(&mut text, "id", id);
    base64_sha256(&text)
}

/// One `key: value` entry of an object whose value is a string.
fn push_entry(text: &mut String, key: &str, value: &str) {
    push_string(text, key);
    text.push(':');
    push_string(text, value);
    text.push(',');
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

    /// A registry snapshot `<name>@1.0.0` with its real integrity, as the test registry
    /// publishes it (the vectors below come from pnpm 12.21 installing these packages).
    fn published(name: &str, integrity: &str, children: &[&str]) -> (String, SlotNode) {
        let key = format!("{name}@1.0.0");
        let node = SlotNode {
            id: format!("{key}:sha512-{integrity}"),
            children: children
                .iter()
                .map(|child| (child.to_string(), format!("{child}@1.0.0")))
                .collect(),
        };
        (key, node)
    }

    fn assert_slots(
        nodes: Vec<(String, SlotNode)>,
        inputs: SlotInputs<'_>,
        expected: &[(&str, &str)],
    ) {
        let mut graph = SlotGraph::default();
        for (key, node) in nodes {
            graph.insert(key, node);
        }
        let hashes = graph.dependency_hashes();
        for (name, slot) in expected {
            let key = format!("{name}@1.0.0");
            assert_eq!(slot_hash(&hashes[&key], inputs), *slot, "{key}");
        }
    }

    /// The smallest cycle, `cy-a ⇄ cy-b`, as pnpm 12.21 names it (the same names whichever
    /// member the project depends on).
    #[test]
    fn a_two_member_cycle_gets_pnpm_12s_slots() {
        assert_slots(
            vec![
                published("cy-a", "ueBBJqidqbZS648oBMhq/NU7Ri88oQZ5CaqnzAUVOMlwFxhJPDyN+pUEU5OKxI16nBBGDmpeQpqZCrMXsWz2Fw==", &["cy-b"]),
                published("cy-b", "y2L5N44RjcgbnJJrBEFi3br5EIuThF/7qsFggg6PhucpHxe3S9bTBBriOIAgPcnqhkJ0auFgfVhmI6/hG7ixCg==", &["cy-a"]),
            ],
            SlotInputs::default(),
            &[
                ("cy-a", "ecddc04b254a31161879c00017eec59e0bf1e8c67165bd6d6eef59b37f0c123a"),
                ("cy-b", "e58aca54d264a887897b0b29b3d2eeef77ae01d1e6d11cb5df76d74c0684fd76"),
            ],
        );
    }

    /// A three-member cycle whose members have dependencies outside it (`sx`, and `sy` as an
    /// optional one), a package reaching it (`sr`) and a package depending on itself, as
    /// pnpm 12.21 names them.
    #[test]
    fn a_cycle_with_outside_dependencies_and_a_dependent_gets_pnpm_12s_slots() {
        let mut nodes = vec![
            published("sa", "8aShQxpJQlF+fqRn6ffd6YejfzJ7CVjR59KDvbKhveIgyr3AMAL1T7A/Zdpr4VI96Av7owEQMIYoGr1g6uabOA==", &["sb", "sx"]),
            published("sb", "WwukH5eWFYWBGTlz/ZxGQ30+VQXlmQCQMldLfCug1e5lYyf2X3LPyQJ2zN5sDib8bfpIw+EiZx13O66P6Q4a4Q==", &["sa", "sc"]),
            published("sc", "fXYA3cwM+MXdw1X6gafvePmZz9YZsGzID1zFimM/LR4wndaREqzTIhVl6M/OQDJUCtdKC2QWbVHkBfNCPdEAXQ==", &["sb", "sy"]),
            published("sr", "kI0V3G+AWNp9Ja5aqDzdYli1Y/hu2BQourM8yrzfZd710Q5Mi8TCePpItek0cnfRdcWNvK3CkgdmGWGVnMyiRw==", &["sa"]),
            published("sx", "FKuWFSvydY2mlpaYxCrIqKeAVKIVnZ4Z4FKblR7cbxurp9BbGfejNcTyMR+MNqnCLJ7qtMf3rMw/b6ynY5Twww==", &[]),
            published("sy", "oXfmm6njVvSfLsNOCeqWPmSncVJ2D3HEEvhuqeFuVqblsG3wzam/sVn3tUzl1HtGFllmDQF8FAooAyafbMaspQ==", &[]),
            published("self", "MPHOyHAfTKV8EW1Vl9hSP7SyEPvv4kwahJdRWs2XyJKcSiidgDnZu7hkw84Ty8DHFXnutaeedzPqLeA4PHfALQ==", &["self"]),
        ];
        // Walked from the other end, so the result cannot hang on the order of the keys.
        nodes.reverse();
        assert_slots(
            nodes,
            SlotInputs::default(),
            &[
                (
                    "sa",
                    "17f32876d1f9242384d5ef43668ab18bdbd333d02ac98ee0792cadca8d1894bd",
                ),
                (
                    "sb",
                    "e26933f8b050fceb2488cf51e6c0ce84e25dec88bc481000d1c5bfae0986fb85",
                ),
                (
                    "sc",
                    "d3266eb01eb1bdd916833d99957e1a73e908f1ef66ef5bfe834b688f9ab89c1e",
                ),
                (
                    "sr",
                    "c123958f3a38c54f4041f2001df1fcb2905310b5cee6d7823e67a8f36d30c8da",
                ),
                (
                    "sx",
                    "d13f39e9c4c11585e39fe7326f903381a294861ffd49d3d34d7f4dfc0050be06",
                ),
                (
                    "sy",
                    "1d130a154978580205dca05eaa480eac7940297c2ad84bcca997704762fb033d",
                ),
                (
                    "self",
                    "606ed39294d1aa35379b5176c2f172dadab4836c0fc02f44ca8a9c9a87c26659",
                ),
            ],
        );
    }

    /// Slots with an engine (`gb-leaf` and `gb-noscript` allowed to build, `gb-mid` reaching
    /// `gb-leaf`), as pnpm 12.21 names them with builds run and with `--ignore-scripts`.
    #[test]
    fn slots_with_an_engine_get_pnpm_12s_names_with_and_without_builds() {
        let nodes = || {
            vec![
                published("gb-leaf", "uX94oqBdKdmr/2g//VnCF6+fw6ceu3+6al4wDuVhH+4SoVzxg94eIJN6J5Kgb4MTOgCobNiVGs8TQpaqq2JbVA==", &[]),
                published("gb-mid", "u5DnhQXT0A/yWKWIX8etKdi820Jc6Q88TDbg+rvOm/uwVCaEEIe9y2/cMtZMT4/YSd85QzzXRJl+Vql2PTRVCg==", &["gb-leaf"]),
                published("gb-noscript", "n0GQV90RU50Sd+XLEt29z1yXMVMBaLyR72hE0m/Haol9XRJ0jP5TBd/BCdVGevumDps4a3OV28kESYJhHdjnZg==", &[]),
            ]
        };
        let engine = Some("linux;x64;node20");
        assert_slots(
            nodes(),
            SlotInputs {
                engine,
                built: true,
                ..SlotInputs::default()
            },
            &[
                (
                    "gb-leaf",
                    "f7313413992b62ca25a5412b58fd0bce5453fa0030297db3aa6c486d68bb1fbf",
                ),
                (
                    "gb-mid",
                    "849fde8e05bf05d7d89dc39885c23e364f41362a18c171919e7f90e6d235431e",
                ),
                (
                    "gb-noscript",
                    "2f7515e6fb6a8488daf5ddbae0056c7bad7e5a6603a27580d3f6844cd7b5285f",
                ),
            ],
        );
        assert_slots(
            nodes(),
            SlotInputs {
                engine,
                ..SlotInputs::default()
            },
            &[
                (
                    "gb-leaf",
                    "3e3d8563df298cbcfd5102e98f3af0f0b1e9de5bf0ebc21581dffab7291d9b73",
                ),
                (
                    "gb-mid",
                    "b79825af02b3c53f00c5c1f9ecfee9d0754566fc303241cbbde16bf6318a7dd2",
                ),
                (
                    "gb-noscript",
                    "d2557b53b34d48951ac816015b511d6212924d67871f7a4f80bc9f716ecc130e",
                ),
            ],
        );
    }

    /// Two peer variants of one package in one cycle, alike in everything outside it, start
    /// with one colour; the refinement tells them apart by the members they name.
    #[test]
    fn peer_variants_in_one_cycle_are_told_apart() {
        let node = |id: &str, children: &[(&str, &str)]| SlotNode {
            id: format!("{id}:{}", integrity("P")),
            children: children
                .iter()
                .map(|(alias, key)| (alias.to_string(), key.to_string()))
                .collect(),
        };
        let mut graph = SlotGraph::default();
        graph.insert("v@1.0.0(q@1.0.0)", node("v@1.0.0", &[("q", "q@1.0.0")]));
        graph.insert("v@1.0.0(q@2.0.0)", node("v@1.0.0", &[("q", "q@2.0.0")]));
        graph.insert(
            "q@1.0.0",
            node(
                "q@1.0.0",
                &[("v", "v@1.0.0(q@1.0.0)"), ("w", "v@1.0.0(q@2.0.0)")],
            ),
        );
        graph.insert(
            "q@2.0.0",
            node(
                "q@2.0.0",
                &[("v", "v@1.0.0(q@2.0.0)"), ("w", "v@1.0.0(q@1.0.0)")],
            ),
        );
        let hashes = graph.dependency_hashes();
        assert_ne!(hashes["v@1.0.0(q@1.0.0)"], hashes["v@1.0.0(q@2.0.0)"]);
        assert_ne!(hashes["q@1.0.0"], hashes["q@2.0.0"]);
    }

    /// A cycle far longer than a thread's stack would allow recursing through is hashed as
    /// one component, and changing one member's id renames every member.
    #[test]
    fn a_long_cycle_is_hashed_without_recursion_and_as_a_whole() {
        const LEN: usize = 100_000;
        let key = |i: usize| format!("r{i:06}@1.0.0");
        let ring = |lead: &str| {
            let mut graph = SlotGraph::default();
            for i in 0..LEN {
                let id = if i == LEN - 1 {
                    format!("{}:{}", key(i), integrity(lead))
                } else {
                    format!("{}:{}", key(i), integrity("R"))
                };
                let children = vec![("next".to_string(), key((i + 1) % LEN))];
                graph.insert(key(i), SlotNode { id, children });
            }
            graph.dependency_hashes()
        };
        let (one, other) = (ring("R"), ring("S"));
        assert_eq!(one.len(), LEN);
        assert!((0..LEN).all(|i| one[&key(i)] != other[&key(i)]));
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
                ..SlotInputs::default()
            },
        );
        let local = slot_hash(
            deps,
            SlotInputs {
                project: Some("/p"),
                ..SlotInputs::default()
            },
        );
        assert_ne!(plain, built);
        assert_ne!(plain, local);
        assert_ne!(built, local);
    }

    /// pnpm 12.21's slot for a directory dependency (`local-dir`: `file:./local-dir`,
    /// depending on is-number 7.0.0) of the project at `/tmp/tack-test-sRyny7/project`,
    /// installed with nothing allowed to build: the bare key as id, the lockfile's directory
    /// as `project`.
    #[test]
    fn a_directory_dependency_gets_pnpm_12s_slot() {
        let mut graph = SlotGraph::default();
        graph.insert(
            "is-number@7.0.0",
            SlotNode {
                id: "is-number@7.0.0:sha512-J9hi1IF624YzhbvaKhJuR64hfpgJE2KH4sDhOJgPBK46yvGUXOXVNBcgp5+Td0o47Fcwz/wIVr1jfsOJOgZr8A==".to_string(),
                children: Vec::new(),
            },
        );
        graph.insert(
            "local-dir@file:local-dir",
            SlotNode {
                id: "local-dir@file:local-dir".to_string(),
                children: vec![("is-number".to_string(), "is-number@7.0.0".to_string())],
            },
        );
        let deps = &graph.dependency_hashes()["local-dir@file:local-dir"];
        let inputs = SlotInputs {
            project: Some("/tmp/tack-test-sRyny7/project"),
            ..SlotInputs::default()
        };
        assert_eq!(
            slot_hash(deps, inputs),
            "9051eed57fde26f8692cd0bb14f9f86a5970e2d6c9dc1d943a188eac5c8b7bdb"
        );
    }
}
