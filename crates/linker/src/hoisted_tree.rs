//! Where each package goes under `nodeLinker: hoisted`.
//!
//! pnpm's hoisted layout is npm's: real package directories in `node_modules`, each name as
//! high in the tree as it can go without shadowing another version that a package below
//! needs. pnpm computes the placement with the hoister of yarn's `node-modules` linker, and a
//! project that switches between pnpm and tack must get the same tree, so this module
//! follows that hoister's rules step by step: the same preference for the most used version
//! of a name, the same order of candidates. The input is a plain graph (the caller builds it
//! from the lockfile); the output is the placed tree, one node per directory.
//!
//! The hoister walks the tree once, root first: it moves what it can up to the root, then to
//! each of the root's children, and so on down. yarn repeats that walk until one moves nothing;
//! pnpm 12 walks once, and this module does the same. The difference shows when a package
//! reaches a node below the root only during that node's turn (another version stood between
//! it and the root until its parent moved up into that node): yarn's second walk takes it on
//! to the root when the root has the same version, and pnpm 12 leaves it where it is, so the
//! tree holds that version twice and whatever its presence keeps out of that node stays lower.
//!
//! Peer names (which pnpm gives the hoister only under `autoInstallPeers: false`) are where
//! pnpm 12's port of that hoister departs from yarn's, and this module follows pnpm 12: a
//! peer's provider is looked for up the whole path, not only at the parent, and candidates
//! are taken in the graph's order, without moving the peers they take from a sibling ahead.
//! A peer name only keeps a package below its provider: the dependency of that name is still
//! one of the package's children, placed like any other (yarn drops it as a peer taken from
//! the parent). This matters when a package lists a name both in `dependencies` and in
//! `peerDependencies` and nothing above it provides the peer: the lockfile resolves the name
//! to the package's own dependency, and pnpm 12 places it (below the package, or higher).
//! The provider of a peer is the nearest ancestor with a dependency of that name, even one
//! among its own peer names, and a package whose version the root already has under its name
//! joins it whatever its peers.
//!
//! The work graph starts shared (one node per package, as in the lockfile) and is copied
//! node by node ("decoupled") wherever hoisting changes one place of a package and not the
//! others. Nodes are kept in one arena and named by index; maps keep insertion order, since
//! that order decides ties.

use std::collections::VecDeque;
use std::rc::Rc;

use rustc_hash::FxBuildHasher;

// The hoister hashes package names millions of times on a large graph: Fx, not SipHash (no
// hash-flooding concern: the input is the project's own lockfile). Iteration order never
// depends on the hasher (the ordered maps keep insertion order; the others are only looked up).
type HashMap<K, V> = std::collections::HashMap<K, V, FxBuildHasher>;
type HashSet<K> = std::collections::HashSet<K, FxBuildHasher>;
type IndexMap<K, V> = indexmap::IndexMap<K, V, FxBuildHasher>;
type IndexSet<K> = indexmap::IndexSet<K, FxBuildHasher>;
/// The public limits argument: `locator → names`, in the standard maps callers build.
type Limits = std::collections::HashMap<String, std::collections::HashSet<String>>;

/// An interned string: [`Hoister::name`] gives every use of one text the same allocation,
/// so a name is compared and hashed by its address, not by its bytes (the hoister hashes
/// names millions of times on a large graph).
#[derive(Debug, Clone)]
struct Name(Rc<str>);

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Rc::as_ptr(&self.0).cast::<u8>().hash(state);
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a node of the input graph is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A package: it may move up the tree.
    Regular,
    /// The root or a workspace project: it never moves.
    Workspace,
}

/// One node of the input graph: a package reached under one alias, or a workspace project.
#[derive(Debug, Clone)]
pub struct InputNode {
    /// The directory name under `node_modules` (the alias).
    pub name: String,
    /// The package's own name.
    pub ident_name: String,
    /// What identifies this package among others of its name (a dep path, `workspace:…`).
    pub reference: String,
    pub kind: NodeKind,
    /// Names this node expects from its parent rather than owning them.
    pub peer_names: Vec<String>,
    /// Indexes into [`HoistInput::nodes`], in the order that decides ties.
    pub dependencies: Vec<usize>,
}

impl InputNode {
    /// The root of the graph (`.`): a workspace node that nothing is hoisted past.
    pub fn root() -> Self {
        InputNode {
            name: ".".into(),
            ident_name: ".".into(),
            reference: String::new(),
            kind: NodeKind::Workspace,
            peer_names: Vec::new(),
            dependencies: Vec::new(),
        }
    }
}

/// The input graph; `nodes[0]` is the root.
#[derive(Debug, Clone, Default)]
pub struct HoistInput {
    pub nodes: Vec<InputNode>,
}

/// One directory of the result: a package placed under its parent's `node_modules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedNode {
    /// The directory name (the alias).
    pub name: String,
    /// The references of every copy merged into this one; the first is the node's own.
    pub references: Vec<String>,
    /// What is placed in this node's own `node_modules`, in the hoister's order.
    pub dependencies: Vec<PlacedNode>,
}

#[derive(Debug, Clone)]
struct Work {
    name: Name,
    references: IndexSet<Name>,
    locator: Name,
    /// `<name>@<locator>`: what a path of nodes is compared by to stop at a cycle.
    aliased: Name,
    ident: Name,
    peer_names: Rc<IndexSet<Name>>,
    dependencies: IndexMap<Name, usize>,
    hoisted_dependencies: IndexMap<Name, usize>,
    /// Owned by one place in the tree: safe to change.
    decoupled: bool,
    /// Nothing below it is hoisted past it.
    hoist_border: bool,
    kind: NodeKind,
}

/// The hoister's verdict on one candidate.
enum Hoistable {
    Yes,
    No,
    /// Only together with these siblings (the peers it takes from its parent).
    Depends(Vec<usize>),
}

/// Places every node of `input`. `hoisting_limits` maps a node's locator
/// (`<ident name>@<reference>`) to the names whose subtrees stay below it.
pub fn hoist(input: &HoistInput, hoisting_limits: &Limits) -> PlacedNode {
    let mut hoister = Hoister::new(input, hoisting_limits);
    // One walk, as pnpm 12 does (see the module doc): no second round for what the first left
    // below a node the root could now take it from.
    let mut path_locators: HashSet<Name> = HashSet::from_iter([hoister.nodes[0].locator.clone()]);
    hoister.hoist_to(&mut vec![0], &mut path_locators);
    hoister.shrink()
}

/// The part of a reference that identifies the package itself (yarn's virtual references
/// carry a prefix up to `#`): two nodes of one ident are the same package.
fn ident_reference(reference: &str) -> &str {
    reference
        .find('#')
        .map_or(reference, |at| &reference[at + 1..])
}

struct Hoister {
    nodes: Vec<Work>,
    names: HashMap<String, Name>,
    /// Reused to build names before they are interned.
    scratch: String,
}

/// What one `hoist_graph` call shares between its recursive visits.
struct GraphPass<'a> {
    root: usize,
    used: &'a HashMap<Name, usize>,
    hoist_idents: &'a HashMap<Name, Name>,
    on_stack: HashSet<usize>,
}

impl Hoister {
    fn new(input: &HoistInput, limits: &Limits) -> Self {
        let mut hoister = Hoister {
            nodes: Vec::with_capacity(input.nodes.len() * 2),
            names: HashMap::default(),
            scratch: String::new(),
        };
        let Some(root) = input.nodes.first() else {
            let root = hoister.work_node(&InputNode::root(), true);
            hoister.nodes.push(root);
            return hoister;
        };
        let mut work_root = hoister.work_node(root, true);
        work_root.kind = NodeKind::Workspace;
        hoister.nodes.push(work_root);
        let mut seen: HashMap<usize, usize> = HashMap::from_iter([(0, 0)]);
        let mut shared = Vec::new();
        for &child in &root.dependencies {
            hoister.add_input_node(input, limits, child, 0, &mut seen, &mut shared);
        }
        hoister.mark_coupled(&shared);
        hoister
    }

    fn name(&mut self, text: &str) -> Name {
        if let Some(name) = self.names.get(text) {
            return name.clone();
        }
        let name = Name(Rc::from(text));
        self.names.insert(text.to_string(), name.clone());
        name
    }

    fn work_node(&mut self, node: &InputNode, border: bool) -> Work {
        // The three derived names are built in one reused buffer: only a text not seen
        // before is copied (into the interner).
        let mut text = std::mem::take(&mut self.scratch);
        let mut joined = |first: &str, second: &str, this: &mut Self| {
            text.clear();
            text.push_str(first);
            text.push('@');
            text.push_str(second);
            this.name(&text)
        };
        let locator = joined(&node.ident_name, &node.reference, self);
        let aliased = joined(&node.name, &locator, self);
        let ident = joined(&node.ident_name, ident_reference(&node.reference), self);
        self.scratch = text;
        let peer_names = node.peer_names.iter().map(|p| self.name(p)).collect();
        let children = node.dependencies.len();
        Work {
            name: self.name(&node.name),
            references: IndexSet::from_iter([self.name(&node.reference)]),
            locator,
            aliased,
            ident,
            peer_names: Rc::new(peer_names),
            dependencies: IndexMap::with_capacity_and_hasher(children, FxBuildHasher),
            hoisted_dependencies: IndexMap::default(),
            decoupled: true,
            hoist_border: border,
            kind: node.kind,
        }
    }

    /// Copies the input graph into the work arena: one work node per input node, shared by
    /// every parent. A node reached a second time goes into `shared`.
    fn add_input_node(
        &mut self,
        input: &HoistInput,
        limits: &Limits,
        index: usize,
        parent: usize,
        seen: &mut HashMap<usize, usize>,
        shared: &mut Vec<usize>,
    ) {
        let Some(node) = input.nodes.get(index) else {
            return;
        };
        let (work, was_seen) = match seen.get(&index) {
            Some(&work) => (work, true),
            None => {
                let border = limits
                    .get(&*self.nodes[parent].locator)
                    .is_some_and(|names| names.contains(&node.name));
                let work = self.work_node(node, border);
                self.nodes.push(work);
                let id = self.nodes.len() - 1;
                seen.insert(index, id);
                (id, false)
            }
        };
        let name = self.nodes[work].name.clone();
        self.nodes[parent].dependencies.insert(name, work);
        if was_seen {
            shared.push(work);
        } else {
            for &child in &node.dependencies {
                self.add_input_node(input, limits, child, work, seen, shared);
            }
        }
    }

    /// Marks the `shared` nodes and everything they reach through their own children as
    /// shared ("coupled"): a change to one of them is made on a copy.
    ///
    /// The marking is done once, over the whole graph. The reference hoister marks each
    /// node as it is reached again, over the part of the graph built by then, which in a
    /// cycle can leave a node reached later unmarked; marking it too only means a copy is
    /// changed where the node itself could have been, with the same result. Done per visit,
    /// the walks took a third of the hoister's time on a large graph.
    fn mark_coupled(&mut self, shared: &[usize]) {
        let mut stack: Vec<usize> = shared.to_vec();
        while let Some(node) = stack.pop() {
            if !self.nodes[node].decoupled {
                continue;
            }
            self.nodes[node].decoupled = false;
            stack.extend(self.children(node));
        }
    }

    /// The children of `node`, in the graph's order. A child named among the node's peer names
    /// is one of them too: pnpm 12 places it (a package that lists a name both as a dependency
    /// and as a peer gets its own dependency when nothing above provides the peer), where yarn
    /// drops it as the parent's.
    fn children(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        self.nodes[node].dependencies.values().copied()
    }

    /// Makes `node` owned by `parent` alone, copying it if it is shared.
    fn decouple(&mut self, parent: usize, node: usize) -> usize {
        if self.nodes[node].decoupled {
            return node;
        }
        let mut copy = self.nodes[node].clone();
        copy.decoupled = true;
        let id = self.nodes.len();
        let name = copy.name.clone();
        if let Some(&itself) = copy.dependencies.get(&name) {
            if self.nodes[itself].ident == copy.ident {
                copy.dependencies.insert(name.clone(), id);
            }
        }
        self.nodes.push(copy);
        self.nodes[parent].dependencies.insert(name, id);
        id
    }

    /// How many packages below `root` use each `(alias, ident)`, in order of discovery.
    fn preference_map(&self, root: usize) -> IndexMap<(Name, Name), usize> {
        #[derive(Default)]
        struct Entry {
            dependents: HashSet<Name>,
            peer_dependents: HashSet<Name>,
        }
        let mut entries: IndexMap<(Name, Name), Entry> = IndexMap::default();
        let mut seen = HashSet::from_iter([root]);
        // Iterative depth-first walk with the same order of entry creation as the recursive
        // one: a child's entry is made when its parent's loop reaches it, before the walk
        // goes into the subtree of that child.
        enum Step {
            Dependent { dependent: usize, node: usize },
            Children { node: usize, next: usize },
        }
        let key = |work: &Work| (work.name.clone(), work.ident.clone());
        let mut stack: Vec<Step> = Vec::new();
        let root_children: Vec<usize> = self.children(root).collect();
        for child in root_children.into_iter().rev() {
            stack.push(Step::Dependent {
                dependent: root,
                node: child,
            });
        }
        while let Some(step) = stack.pop() {
            match step {
                Step::Dependent { dependent, node } => {
                    let dependent_ident = self.nodes[dependent].ident.clone();
                    entries
                        .entry(key(&self.nodes[node]))
                        .or_default()
                        .dependents
                        .insert(dependent_ident);
                    if seen.insert(node) {
                        stack.push(Step::Children { node, next: 0 });
                    }
                }
                Step::Children { node, next } => {
                    let work = &self.nodes[node];
                    let Some((name, &dep)) = work.dependencies.get_index(next) else {
                        continue;
                    };
                    stack.push(Step::Children {
                        node,
                        next: next + 1,
                    });
                    let entry = entries.entry(key(&self.nodes[dep])).or_default();
                    // A child named among the node's peer names counts the node as a peer
                    // dependent and is not followed, as in yarn, though it is placed as a
                    // child: following it changes the order in which names are found, which
                    // pnpm 12's placement of the medium fixture without auto-installed peers
                    // rules out.
                    if work.peer_names.contains(name) {
                        entry.peer_dependents.insert(work.ident.clone());
                    } else {
                        stack.push(Step::Dependent {
                            dependent: node,
                            node: dep,
                        });
                    }
                }
            }
        }
        entries
            .into_iter()
            .map(|(key, entry)| (key, entry.dependents.len() + entry.peer_dependents.len()))
            .collect()
    }

    /// For each name, the idents to try at `root`, most preferred first: the one `root`
    /// already has, then by how many packages use it (ties: the first found).
    fn hoist_ident_map(&self, root: usize) -> IndexMap<Name, VecDeque<Name>> {
        let work = &self.nodes[root];
        let mut map: IndexMap<Name, VecDeque<Name>> = IndexMap::default();
        map.insert(work.name.clone(), VecDeque::from([work.ident.clone()]));
        for child in self.children(root) {
            let child = &self.nodes[child];
            map.insert(child.name.clone(), VecDeque::from([child.ident.clone()]));
        }
        let mut keys: Vec<((Name, Name), usize)> = self.preference_map(root).into_iter().collect();
        // Stable: equal counts keep the order of discovery.
        keys.sort_by_key(|key| std::cmp::Reverse(key.1));
        for ((name, ident), _) in keys {
            if work.peer_names.contains(&name) {
                continue;
            }
            let idents = map.entry(name).or_default();
            if !idents.contains(&ident) {
                idents.push_back(ident);
            }
        }
        map
    }

    /// The names the packages below `root` already take from `root`'s ancestors: whatever
    /// was hoisted out of them (to the root of the graph or to a node on the way to `root`).
    /// Another version of such a name may not move into `root`, where it would hide theirs.
    fn used_dependencies(&self, root: usize) -> HashMap<Name, usize> {
        let mut used = HashMap::default();
        let mut seen = HashSet::default();
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            if !seen.insert(node) {
                continue;
            }
            let work = &self.nodes[node];
            for (name, &dep) in &work.hoisted_dependencies {
                used.insert(name.clone(), dep);
            }
            let children: Vec<usize> = self.children(node).collect();
            stack.extend(children.into_iter().rev());
        }
        used
    }

    /// Hoists what can go to the last node of `path`, then does the same for each of its
    /// children as a root of its own, depth first.
    fn hoist_to(&mut self, path: &mut Vec<usize>, path_locators: &mut HashSet<Name>) {
        let Some(&root) = path.last() else {
            return;
        };
        // Nothing can move into a node without children of its own, nor below it (most
        // nodes, once the root's turn has flattened the tree): the preference map and the
        // used names would be built for nothing.
        if self.children(root).next().is_none() {
            return;
        }
        let mut ident_map = self.hoist_ident_map(root);
        let used = if root == 0 {
            HashMap::default()
        } else {
            self.used_dependencies(root)
        };
        let mut hoist_idents: HashMap<Name, Name> = ident_map
            .iter()
            .filter_map(|(name, idents)| Some((name.clone(), idents.front()?.clone())))
            .collect();
        loop {
            let mut pass = GraphPass {
                root,
                used: &used,
                hoist_idents: &hoist_idents,
                on_stack: HashSet::default(),
            };
            self.hoist_graph(path, &mut pass);
            // A name whose preferred version could not be placed here: try the next one.
            let mut shifted = false;
            for (name, idents) in ident_map.iter_mut() {
                if idents.len() > 1 && !self.nodes[root].dependencies.contains_key(name) {
                    idents.pop_front();
                    if let Some(next) = idents.front() {
                        hoist_idents.insert(name.clone(), next.clone());
                    }
                    shifted = true;
                }
            }
            if !shifted {
                break;
            }
        }
        let mut index = 0;
        while let Some((_, &dep)) = self.nodes[root].dependencies.get_index(index) {
            index += 1;
            let (name, locator) = (
                self.nodes[dep].name.clone(),
                self.nodes[dep].locator.clone(),
            );
            if self.nodes[root].peer_names.contains(&name) || path_locators.contains(&locator) {
                continue;
            }
            path_locators.insert(locator.clone());
            path.push(dep);
            self.hoist_to(path, path_locators);
            path.pop();
            path_locators.remove(&locator);
        }
    }

    /// Moves up to `pass.root` every package below it that may go there, breadth by breadth:
    /// what arrives at the root is visited again for its own children.
    fn hoist_graph(&mut self, path: &[usize], pass: &mut GraphPass<'_>) {
        let root = pass.root;
        let aliased_path: Vec<Name> = path
            .iter()
            .map(|&n| self.nodes[n].aliased.clone())
            .collect();
        let mut next: IndexSet<usize> = self.children(root).collect();
        while !next.is_empty() {
            let current = std::mem::take(&mut next);
            for dep in current {
                if self.nodes[dep].locator == self.nodes[root].locator
                    || self.nodes[dep].hoist_border
                {
                    continue;
                }
                let dep = self.decouple(root, dep);
                let mut node_path = Vec::new();
                self.hoist_node_dependencies(&mut node_path, &aliased_path, dep, &mut next, pass);
            }
        }
    }

    fn hoist_node_dependencies(
        &mut self,
        node_path: &mut Vec<usize>,
        locator_path: &[Name],
        parent: usize,
        new_nodes: &mut IndexSet<usize>,
        pass: &mut GraphPass<'_>,
    ) {
        if pass.on_stack.contains(&parent) {
            return;
        }
        let root = pass.root;
        let mut next_locator_path = locator_path.to_vec();
        next_locator_path.push(self.nodes[parent].aliased.clone());
        let mut full_path = Vec::with_capacity(node_path.len() + 2);
        full_path.push(root);
        full_path.extend_from_slice(node_path);
        full_path.push(parent);

        // In the order of the graph: pnpm 12 does not move a package's peers ahead of it
        // as yarn does (seen with `autoInstallPeers: false`, the only case with peer names).
        let candidates: IndexSet<usize> = self.children(parent).collect();
        let mut verdicts: IndexMap<usize, bool> = IndexMap::default();
        let mut dependants: HashMap<Name, IndexSet<Name>> = HashMap::default();
        for &candidate in &candidates {
            let hoistable = self.hoist_info(&full_path, candidate, pass);
            let yes = match hoistable {
                Hoistable::Yes => true,
                Hoistable::No => false,
                Hoistable::Depends(on) => {
                    let name = self.nodes[candidate].name.clone();
                    for other in on {
                        dependants
                            .entry(self.nodes[other].name.clone())
                            .or_default()
                            .insert(name.clone());
                    }
                    true
                }
            };
            verdicts.insert(candidate, yes);
        }
        // A candidate that cannot move keeps every candidate that takes it as a peer.
        let mut unhoistable: HashSet<usize> = HashSet::default();
        let refused: Vec<usize> = verdicts
            .iter()
            .filter(|(_, &yes)| !yes)
            .map(|(&node, _)| node)
            .collect();
        for node in refused {
            let mut todo = vec![node];
            while let Some(node) = todo.pop() {
                if !unhoistable.insert(node) {
                    continue;
                }
                verdicts.insert(node, false);
                if let Some(names) = dependants.get(&self.nodes[node].name) {
                    for name in names {
                        if let Some(&dependant) = self.nodes[parent].dependencies.get(name) {
                            todo.push(dependant);
                        }
                    }
                }
            }
        }
        let movers: Vec<usize> = verdicts
            .keys()
            .copied()
            .filter(|node| !unhoistable.contains(node))
            .collect();
        for node in movers {
            let name = self.nodes[node].name.clone();
            self.nodes[parent].dependencies.shift_remove(&name);
            self.nodes[parent]
                .hoisted_dependencies
                .insert(name.clone(), node);
            match self.nodes[root].dependencies.get(&name) {
                None => {
                    if self.nodes[root].ident != self.nodes[node].ident {
                        self.nodes[root].dependencies.insert(name, node);
                        new_nodes.insert(node);
                    }
                }
                Some(&there) => {
                    let references: Vec<Name> =
                        self.nodes[node].references.iter().cloned().collect();
                    self.nodes[there].references.extend(references);
                }
            }
        }
        let children: Vec<usize> = self.children(parent).collect();
        for child in children {
            if !unhoistable.contains(&child) || self.nodes[child].hoist_border {
                continue;
            }
            if next_locator_path.contains(&self.nodes[child].aliased) {
                continue;
            }
            pass.on_stack.insert(parent);
            let child = self.decouple(parent, child);
            node_path.push(parent);
            self.hoist_node_dependencies(node_path, &next_locator_path, child, new_nodes, pass);
            node_path.pop();
            pass.on_stack.remove(&parent);
        }
    }

    /// Whether `node`, a child of the last node of `full_path`, may move to its first.
    fn hoist_info(&self, full_path: &[usize], node: usize, pass: &GraphPass<'_>) -> Hoistable {
        let root = &self.nodes[pass.root];
        let parent = &self.nodes[full_path[full_path.len() - 1]];
        let work = &self.nodes[node];
        if work.ident == parent.ident
            || work.kind == NodeKind::Workspace
            || root.peer_names.contains(&work.name)
        {
            return Hoistable::No;
        }
        // The name must be free at the root for this version, and no package on the way
        // may have another version under it.
        if pass
            .used
            .get(&work.name)
            .is_some_and(|&used| self.nodes[used].ident != work.ident)
        {
            return Hoistable::No;
        }
        for &ancestor in full_path[1..].iter().rev() {
            if let Some(&there) = self.nodes[ancestor].dependencies.get(&work.name) {
                if self.nodes[there].ident != work.ident {
                    return Hoistable::No;
                }
            }
        }
        if pass.hoist_idents.get(&work.name) != Some(&work.ident) {
            return Hoistable::No;
        }
        // The root has this very package under its name: pnpm 12 merges the two without
        // looking at the peers (yarn keeps the copy below a parent whose version of a peer
        // cannot move with it).
        if let Some(&there) = root.dependencies.get(&work.name) {
            if self.nodes[there].ident == work.ident {
                return Hoistable::Yes;
            }
        }
        // Peers: each must be found where it is found now once the node has moved. The
        // provider is the nearest ancestor with a dependency of that name, whether the
        // ancestor has the name among its own peer names or not (yarn passes over an ancestor
        // that has it both as a dependency and as a peer name, but pnpm 12 places such a
        // dependency as the ancestor's own). yarn looks only at the parent for a name the
        // parent does not have; pnpm 12 keeps looking up the path, so a package whose peer
        // comes from a grandparent stays below it too.
        let mut depends_on = Vec::new();
        let mut check: IndexSet<Name> = work.peer_names.iter().cloned().collect();
        let last = full_path.len() - 1;
        for index in (1..full_path.len()).rev() {
            let ancestor = &self.nodes[full_path[index]];
            let names: Vec<Name> = check.iter().cloned().collect();
            for name in names {
                let Some(&provider) = ancestor.dependencies.get(&name) else {
                    continue;
                };
                if root.dependencies.get(&name) != Some(&provider) {
                    if index == last {
                        depends_on.push(provider);
                    } else {
                        return Hoistable::No;
                    }
                }
                check.shift_remove(&name);
            }
        }
        if depends_on.is_empty() {
            Hoistable::Yes
        } else {
            Hoistable::Depends(depends_on)
        }
    }

    /// The placed tree: each work node once per path that reaches it; a node met again on
    /// its own path is placed but not expanded, and a node that lists itself is skipped.
    fn shrink(&self) -> PlacedNode {
        let root = &self.nodes[0];
        let mut placed = PlacedNode {
            name: root.name.to_string(),
            references: root.references.iter().map(|r| r.to_string()).collect(),
            dependencies: Vec::new(),
        };
        let mut on_path = HashSet::from_iter([0]);
        for child in self.children(0) {
            if child != 0 {
                placed
                    .dependencies
                    .push(self.shrink_node(child, &mut on_path));
            }
        }
        placed
    }

    fn shrink_node(&self, node: usize, on_path: &mut HashSet<usize>) -> PlacedNode {
        let work = &self.nodes[node];
        let mut placed = PlacedNode {
            name: work.name.to_string(),
            references: work.references.iter().map(|r| r.to_string()).collect(),
            dependencies: Vec::new(),
        };
        if on_path.insert(node) {
            for child in self.children(node) {
                if child != node {
                    let below = self.shrink_node(child, on_path);
                    placed.dependencies.push(below);
                }
            }
            on_path.remove(&node);
        }
        placed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small graph builder: packages by `name@version`, edges by index.
    struct Graph {
        input: HoistInput,
    }

    impl Graph {
        fn new() -> Self {
            Graph {
                input: HoistInput {
                    nodes: vec![InputNode::root()],
                },
            }
        }

        fn package(&mut self, name: &str, version: &str) -> usize {
            self.input.nodes.push(InputNode {
                name: name.into(),
                ident_name: name.into(),
                reference: format!("{name}@{version}"),
                kind: NodeKind::Regular,
                peer_names: Vec::new(),
                dependencies: Vec::new(),
            });
            self.input.nodes.len() - 1
        }

        fn depends(&mut self, parent: usize, children: &[usize]) {
            self.input.nodes[parent]
                .dependencies
                .extend_from_slice(children);
        }

        fn placed(&self) -> Vec<String> {
            let mut out = Vec::new();
            fn walk(node: &PlacedNode, prefix: &str, out: &mut Vec<String>) {
                for child in &node.dependencies {
                    let at = format!("{prefix}{}", child.name);
                    out.push(format!("{at}={}", child.references[0]));
                    walk(child, &format!("{at}/"), out);
                }
            }
            walk(&hoist(&self.input, &Limits::new()), "", &mut out);
            out
        }
    }

    #[test]
    fn a_tree_without_conflicts_is_flat() {
        let mut g = Graph::new();
        let (a, b, c) = (
            g.package("a", "1"),
            g.package("b", "1"),
            g.package("c", "1"),
        );
        g.depends(0, &[a]);
        g.depends(a, &[b]);
        g.depends(b, &[c]);
        assert_eq!(g.placed(), ["a=a@1", "b=b@1", "c=c@1"]);
    }

    #[test]
    fn the_first_version_found_wins_a_tie() {
        let mut g = Graph::new();
        let (b, a) = (g.package("b", "1"), g.package("a", "1"));
        let (c2, c1) = (g.package("c", "2"), g.package("c", "1"));
        g.depends(0, &[b, a]);
        g.depends(b, &[c2]);
        g.depends(a, &[c1]);
        assert_eq!(g.placed(), ["b=b@1", "a=a@1", "a/c=c@1", "c=c@2"]);
    }

    #[test]
    fn the_most_used_version_goes_to_the_root() {
        let mut g = Graph::new();
        let (a, b, d) = (
            g.package("a", "1"),
            g.package("b", "1"),
            g.package("d", "1"),
        );
        let (c1, c2) = (g.package("c", "1"), g.package("c", "2"));
        g.depends(0, &[a, b, d]);
        g.depends(a, &[c1]);
        g.depends(b, &[c2]);
        g.depends(d, &[c2]);
        assert_eq!(g.placed(), ["a=a@1", "a/c=c@1", "b=b@1", "d=d@1", "c=c@2"]);
    }

    #[test]
    fn a_direct_dependency_keeps_its_place_and_others_nest() {
        let mut g = Graph::new();
        let (a, c1, c2) = (
            g.package("a", "1"),
            g.package("c", "1"),
            g.package("c", "2"),
        );
        let x = g.package("x", "1");
        g.depends(0, &[a, c1]);
        g.depends(a, &[c2, x]);
        g.depends(x, &[c2]);
        assert_eq!(
            g.placed(),
            ["a=a@1", "a/c=c@2", "c=c@1", "x=x@1", "x/c=c@2"]
        );
    }

    #[test]
    fn cycles_and_self_dependencies_end() {
        let mut g = Graph::new();
        let (a, b) = (g.package("a", "1"), g.package("b", "1"));
        g.depends(0, &[a]);
        g.depends(a, &[b, a]);
        g.depends(b, &[a]);
        assert_eq!(g.placed(), ["a=a@1", "b=b@1"]);
    }

    /// `r` reaches `e@2` only through `m@2`, which has `e@3`, and `b@2`, which the root's `b@1`
    /// keeps below `r`: in the root's turn `e@2` can go nowhere. In `r`'s turn `b@2` moves up
    /// into `r`, and `e@2` after it (it is `r`'s preferred `e`, found first). The root has `e@2`
    /// too, but pnpm 12 walks the tree once: the copy stays in `r` (yarn's second walk would
    /// merge it into the root's).
    #[test]
    fn a_version_that_reaches_a_dependency_in_its_turn_stays_there_beside_the_roots() {
        let mut g = Graph::new();
        let (r, b1, e2, m1) = (
            g.package("r", "1"),
            g.package("b", "1"),
            g.package("e", "2"),
            g.package("m", "1"),
        );
        let (m2, b2, e3) = (
            g.package("m", "2"),
            g.package("b", "2"),
            g.package("e", "3"),
        );
        g.depends(0, &[b1, e2, m1, r]);
        g.depends(r, &[m2]);
        g.depends(m2, &[b2, e3]);
        g.depends(b2, &[e2]);
        assert_eq!(
            g.placed(),
            [
                "b=b@1",
                "e=e@2",
                "m=m@1",
                "r=r@1",
                "r/m=m@2",
                "r/m/e=e@3",
                "r/b=b@2",
                "r/e=e@2"
            ]
        );
    }

    /// `p` takes `leaf` as a peer from `a`, two levels up through `w` (which passes it on);
    /// the root has another `leaf`. Neither `p` nor `w` may go to the root: each stays where
    /// `a`'s `leaf` is still the one it finds.
    #[test]
    fn a_peer_from_a_grandparent_keeps_the_package_below_it() {
        let mut g = Graph::new();
        let (a, leaf2, leaf1) = (
            g.package("a", "1"),
            g.package("leaf", "2"),
            g.package("leaf", "1"),
        );
        let (p, w) = (g.package("p", "1"), g.package("w", "1"));
        g.input.nodes[p].peer_names = vec!["leaf".into()];
        g.input.nodes[w].peer_names = vec!["leaf".into()];
        g.depends(0, &[a, leaf2]);
        g.depends(a, &[leaf1, p, w]);
        g.depends(p, &[leaf1]);
        g.depends(w, &[p]);
        assert_eq!(
            g.placed(),
            [
                "a=a@1",
                "a/leaf=leaf@1",
                "a/p=p@1",
                "a/w=w@1",
                "leaf=leaf@2"
            ]
        );
    }

    /// `d` lists `f` both as a dependency and as a peer, and nothing above it has `f`: the
    /// lockfile gives `d` its own `f`, and pnpm 12 places it (at the root, where it is free).
    #[test]
    fn a_dependency_that_is_also_a_peer_name_is_placed() {
        let mut g = Graph::new();
        let (d, f) = (g.package("d", "1"), g.package("f", "1"));
        g.input.nodes[d].peer_names = vec!["f".into()];
        g.depends(0, &[d]);
        g.depends(d, &[f]);
        assert_eq!(g.placed(), ["d=d@1", "f=f@1"]);
    }

    /// `x` takes `f` as a peer from `d`'s own `f@1` (which `d` also names as a peer); the root
    /// has the more used `f@2`. `x` stays below `d`, where `d`'s `f` is the one it finds, and
    /// its `f` stays below it: `d` cannot take a name among its peer names.
    #[test]
    fn a_peer_provided_by_an_ancestors_own_dependency_keeps_the_package_below_it() {
        let mut g = Graph::new();
        let (a, b, c, e) = (
            g.package("a", "1"),
            g.package("b", "1"),
            g.package("c", "1"),
            g.package("e", "1"),
        );
        let (d, x, f1, f2) = (
            g.package("d", "1"),
            g.package("x", "1"),
            g.package("f", "1"),
            g.package("f", "2"),
        );
        g.input.nodes[d].peer_names = vec!["f".into()];
        g.input.nodes[x].peer_names = vec!["f".into()];
        g.depends(0, &[a, b, c, e]);
        g.depends(a, &[d]);
        for user in [b, c, e] {
            g.depends(user, &[f2]);
        }
        g.depends(d, &[f1, x]);
        g.depends(x, &[f1]);
        assert_eq!(
            g.placed(),
            [
                "a=a@1",
                "b=b@1",
                "c=c@1",
                "e=e@1",
                "d=d@1",
                "d/f=f@1",
                "d/x=x@1",
                "d/x/f=f@1",
                "f=f@2"
            ]
        );
    }

    /// `c` takes `b` as a peer from the root, and `b` takes `g@3` as a peer; `c` has its own
    /// `g@1`. `c`'s `b` is the root's: it joins it, though `c`'s `g` differs from the root's.
    #[test]
    fn a_package_the_root_has_joins_it_whatever_its_peers() {
        let mut g = Graph::new();
        let (b, c, g3, g1) = (
            g.package("b", "1"),
            g.package("c", "1"),
            g.package("g", "3"),
            g.package("g", "1"),
        );
        g.input.nodes[b].peer_names = vec!["g".into()];
        g.input.nodes[c].peer_names = vec!["b".into()];
        g.depends(0, &[b, c, g3]);
        g.depends(b, &[g3]);
        g.depends(c, &[b, g1]);
        assert_eq!(g.placed(), ["b=b@1", "c=c@1", "c/g=g@1", "g=g@3"]);
    }
}
