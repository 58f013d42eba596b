//! `nodeLinker: hoisted`: which package directory goes where.
//!
//! The lockfile becomes the hoister's input graph as pnpm builds it (one node per alias and
//! package, the root project's dependencies under the root, every other workspace project
//! as a child of the root that never moves), and the hoister's result becomes directories:
//! `node_modules/<alias>`, nested `node_modules/<alias>/node_modules/<alias>` where a version
//! could not go higher, and `<project>/node_modules/<alias>` for what a workspace project
//! needs that could not go to the root. Packages skipped on this platform keep their place
//! in the graph (they still block the root for another version of their name, as in pnpm)
//! but get no directory, nor does anything placed below them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use tack_linker::hoisted_tree::{hoist, HoistInput, InputNode, NodeKind, PlacedNode};
use tack_lockfile::{ref_to_dep_path, Lockfile};

use super::plan::{importer_dir, Selection};

/// One package directory of the hoisted layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The lockfile's dep path of what goes there.
    pub dep_path: String,
    /// Absolute: `<root or project>/node_modules/…/<alias>`.
    pub dir: PathBuf,
    /// How many packages it is nested in (0: directly in a project's `node_modules`).
    pub depth: usize,
}

/// Every package directory of the hoisted layout of `lockfile` for `selection`, parents
/// before their children. `installable` holds the dep paths this host installs.
pub fn placements(
    lockfile: &Lockfile,
    root: &Path,
    modules_dir: &str,
    selection: &Selection<'_>,
    installable: &HashSet<String>,
) -> Vec<Placement> {
    let input = input_graph(lockfile, selection);
    let tree = hoist(&input, &HashMap::new());
    let mut out = Vec::new();
    let walk = Walk {
        lockfile,
        installable,
    };
    walk.place(&tree.dependencies, &root.join(modules_dir), 0, &mut out);
    for project in &tree.dependencies {
        if let Some(id) = project
            .references
            .first()
            .and_then(|r| r.strip_prefix("workspace:"))
        {
            let modules = importer_dir(root, id).join(modules_dir);
            walk.place(&project.dependencies, &modules, 0, &mut out);
        }
    }
    out
}

struct Walk<'a> {
    lockfile: &'a Lockfile,
    installable: &'a HashSet<String>,
}

impl Walk<'_> {
    fn place(&self, nodes: &[PlacedNode], modules: &Path, depth: usize, out: &mut Vec<Placement>) {
        for node in nodes {
            let Some(dep_path) = node.references.first() else {
                continue;
            };
            if !self.lockfile.snapshots.contains_key(dep_path)
                || !self.installable.contains(dep_path)
            {
                continue;
            }
            let dir = modules.join(&node.name);
            out.push(Placement {
                dep_path: dep_path.clone(),
                dir: dir.clone(),
                depth,
            });
            self.place(&node.dependencies, &dir.join("node_modules"), depth + 1, out);
        }
    }
}

/// The hoister's input: the root project's dependencies under the root, then each other
/// selected project (`workspace:<id>`, named by its percent-encoded id) with its own.
fn input_graph(lockfile: &Lockfile, selection: &Selection<'_>) -> HoistInput {
    let mut builder = GraphBuilder {
        lockfile,
        optional: selection.optional,
        input: HoistInput {
            nodes: vec![InputNode {
                name: ".".into(),
                ident_name: ".".into(),
                reference: String::new(),
                kind: NodeKind::Workspace,
                peer_names: Vec::new(),
                dependencies: Vec::new(),
            }],
        },
        memo: HashMap::new(),
        first_dep_path: HashMap::new(),
    };
    let importer_deps = |id: &str| -> Vec<(String, String)> {
        let Some(project) = lockfile.importers.get(id) else {
            return Vec::new();
        };
        let mut merged: IndexMap<&str, &str> = IndexMap::new();
        let groups = [
            (selection.prod, &project.dependencies),
            (selection.dev, &project.dev_dependencies),
            (selection.project_optional(), &project.optional_dependencies),
        ];
        for (included, deps) in groups {
            for (alias, dep) in deps.iter().filter(|_| included) {
                merged.insert(alias, &dep.version);
            }
        }
        let mut merged: Vec<(String, String)> = merged
            .into_iter()
            .map(|(a, r)| (a.to_string(), r.to_string()))
            .collect();
        // pnpm 12 orders each package's dependencies by alias, whatever group they are in.
        merged.sort_by(|a, b| a.0.cmp(&b.0));
        merged
    };
    if selection.importer_ids.iter().any(|id| id == ".") {
        let children = builder.to_tree(&importer_deps("."));
        builder.input.nodes[0].dependencies = children;
    }
    let mut projects: Vec<&String> = lockfile
        .importers
        .keys()
        .filter(|id| *id != "." && selection.importer_ids.contains(id))
        .collect();
    projects.sort();
    for id in projects {
        let encoded = encode_uri_component(id);
        let children = builder.to_tree(&importer_deps(id));
        builder.input.nodes.push(InputNode {
            name: encoded.clone(),
            ident_name: encoded,
            reference: format!("workspace:{id}"),
            kind: NodeKind::Workspace,
            peer_names: Vec::new(),
            dependencies: children,
        });
        let project = builder.input.nodes.len() - 1;
        builder.input.nodes[0].dependencies.push(project);
    }
    builder.input
}

struct GraphBuilder<'l> {
    lockfile: &'l Lockfile,
    optional: bool,
    input: HoistInput,
    /// `<alias>:<dep path>` → node: one node per package and alias.
    memo: HashMap<String, usize>,
    /// `<name>@<version>` → the first dep path met: every peer variant of a version shares
    /// one reference, so the hoister treats them as one package.
    first_dep_path: HashMap<String, String>,
}

impl GraphBuilder<'_> {
    fn to_tree(&mut self, deps: &[(String, String)]) -> Vec<usize> {
        let mut nodes = Vec::with_capacity(deps.len());
        for (alias, reference) in deps {
            // `link:` dependencies are symlinks made apart from the hoisted tree.
            if reference.starts_with("link:") {
                continue;
            }
            let Some(dep_path) = ref_to_dep_path(reference, alias) else {
                continue;
            };
            let key = format!("{alias}:{dep_path}");
            if let Some(&node) = self.memo.get(&key) {
                nodes.push(node);
                continue;
            }
            let Some(snapshot) = self.lockfile.snapshots.get(&dep_path) else {
                continue;
            };
            let (name, version) = self.lockfile.name_version(&dep_path);
            let reference = self
                .first_dep_path
                .entry(format!("{name}@{version}"))
                .or_insert_with(|| dep_path.clone())
                .clone();
            self.input.nodes.push(InputNode {
                name: alias.clone(),
                ident_name: name,
                reference,
                kind: NodeKind::Regular,
                peer_names: Vec::new(),
                dependencies: Vec::new(),
            });
            let node = self.input.nodes.len() - 1;
            self.memo.insert(key, node);
            let mut merged: IndexMap<&str, &str> = IndexMap::new();
            for (alias, reference) in &snapshot.dependencies {
                merged.insert(alias, reference);
            }
            if self.optional {
                for (alias, reference) in &snapshot.optional_dependencies {
                    merged.insert(alias, reference);
                }
            }
            let mut children: Vec<(String, String)> = merged
                .into_iter()
                .map(|(a, r)| (a.to_string(), r.to_string()))
                .collect();
            children.sort_by(|a, b| a.0.cmp(&b.0));
            let children = self.to_tree(&children);
            self.input.nodes[node].dependencies = children;
            nodes.push(node);
        }
        nodes
    }
}

/// JavaScript's `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` as
/// `%XX` of its UTF-8 bytes.
fn encode_uri_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_are_encoded_as_javascript_does() {
        assert_eq!(encode_uri_component("packages/a"), "packages%2Fa");
        assert_eq!(encode_uri_component("@s/x y"), "%40s%2Fx%20y");
        assert_eq!(encode_uri_component("a-b_c.d!~*'()"), "a-b_c.d!~*'()");
    }

    #[test]
    fn probe() {
        let Ok(dir) = std::env::var("TACK_HOIST_PROBE") else {
            return;
        };
        let dir = PathBuf::from(dir);
        let lockfile = Lockfile::read_from_path(&dir.join("pnpm-lock.yaml"))
            .unwrap()
            .unwrap();
        let ids: Vec<String> = lockfile.importers.keys().cloned().collect();
        let selection = Selection {
            importer_ids: &ids,
            prod: true,
            dev: true,
            optional: true,
        };
        let installable: HashSet<String> = lockfile
            .snapshots
            .keys()
            .filter(|k| !k.starts_with("@esbuild/") || k.starts_with("@esbuild/linux-x64"))
            .filter(|k| !k.starts_with("fsevents") && !k.starts_with("@rollup/rollup-linux-arm64-gnu"))
            .cloned()
            .collect();
        let placed = placements(&lockfile, &dir, "node_modules", &selection, &installable);
        let mut mine: std::collections::BTreeSet<(String, String)> = Default::default();
        for p in &placed {
            mine.insert((
                p.dep_path.clone(),
                p.dir.strip_prefix(&dir).unwrap().display().to_string(),
            ));
        }
        let modules: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("node_modules/.modules.yaml")).unwrap(),
        )
        .unwrap();
        let mut theirs: std::collections::BTreeSet<(String, String)> = Default::default();
        for (k, v) in modules["hoistedLocations"].as_object().unwrap() {
            for loc in v.as_array().unwrap() {
                theirs.insert((k.clone(), loc.as_str().unwrap().to_string()));
            }
        }
        for x in mine.difference(&theirs) {
            eprintln!("only tack: {x:?}");
        }
        for x in theirs.difference(&mine) {
            eprintln!("only pnpm: {x:?}");
        }
        eprintln!("tack {} pnpm {}", mine.len(), theirs.len());
        assert!(mine == theirs);
    }
}
