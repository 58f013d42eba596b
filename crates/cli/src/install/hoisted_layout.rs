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
use rustc_hash::FxHashMap;
use tack_linker::hoisted_tree::{hoist, HoistInput, InputNode, NodeKind, PlacedNode};
use tack_lockfile::{write_ref_dep_path, Lockfile, SnapshotEntry};

use super::plan::{check_package_name, importer_dir, InstallPlan, Selection, Unplaced};
use crate::error::CliError;

/// One package directory of the hoisted layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The lockfile's dep path of what goes there.
    pub dep_path: String,
    /// Absolute: `<root or project>/node_modules/…/<alias>`.
    pub dir: PathBuf,
}

/// Whether the hoister is told which names each package takes from its parent.
///
/// pnpm gives the hoister each package's `peerDependencies` and `transitivePeerDependencies`
/// only under `autoInstallPeers: false`. With the default (`true`) every peer is installed and
/// resolved like a dependency, and the hoister moves packages without regard to peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerNames {
    /// `autoInstallPeers: true`: no node has peer names.
    Ignored,
    /// `autoInstallPeers: false`: a package stays below the parent that provides its peers
    /// when the place it would move to has another version of them.
    FromLockfile,
}

impl PeerNames {
    pub fn for_auto_install_peers(auto_install_peers: bool) -> Self {
        if auto_install_peers {
            PeerNames::Ignored
        } else {
            PeerNames::FromLockfile
        }
    }
}

/// The hoister's tree for `lockfile` and `selection`: what goes in which `node_modules`,
/// before any package is left out for this host. It needs the lockfile alone, so an install
/// computes it on a thread of its own while it plans.
pub fn hoisted_tree(
    lockfile: &Lockfile,
    selection: &Selection<'_>,
    peers: PeerNames,
) -> PlacedNode {
    hoist(&input_graph(lockfile, selection, peers), &HashMap::new())
}

/// The package directories of `tree` (see [`hoisted_tree`]), parents before their children,
/// leaving out what this host does not install and everything placed below it.
pub fn place(
    tree: &PlacedNode,
    lockfile: &Lockfile,
    root: &Path,
    modules_dir: &str,
    installable: &dyn Fn(&str) -> bool,
) -> Result<Vec<Placement>, CliError> {
    let mut out = Vec::new();
    let walk = Walk {
        lockfile,
        installable,
    };
    walk.place(&tree.dependencies, &root.join(modules_dir), &mut out)?;
    for project in &tree.dependencies {
        if let Some(id) = project
            .references
            .first()
            .and_then(|r| r.strip_prefix("workspace:"))
        {
            let modules = importer_dir(root, id).join(modules_dir);
            walk.place(&project.dependencies, &modules, &mut out)?;
        }
    }
    Ok(out)
}

/// Turns `plan` (one package per installable snapshot, for the isolated layout) into the
/// hoisted layout of the same packages, `placed` by [`place`]: each package gets its
/// directories, packages the layout places nowhere (below a package skipped on this platform)
/// leave the plan, and the `.bin` entries become symlinks unless `preferSymlinkedExecutables`
/// says otherwise.
pub fn apply(
    plan: &mut InstallPlan,
    placed: Vec<Placement>,
    prefer_symlinked_executables: Option<bool>,
) -> Result<(), CliError> {
    let link = &mut plan.link;
    let mut dirs_of: HashMap<&str, Vec<PathBuf>> = HashMap::new();
    for placement in &placed {
        dirs_of
            .entry(placement.dep_path.as_str())
            .or_default()
            .push(placement.dir.clone());
    }
    let keep: Vec<bool> = link
        .packages
        .iter()
        .map(|pkg| dirs_of.contains_key(pkg.dep_path.as_str()))
        .collect();
    // The hoister places one snapshot of each version (its first peer variant); edges to
    // the others lead to that one, as in pnpm 12.
    let placed_version: HashMap<(&str, &str), &str> = link
        .packages
        .iter()
        .zip(&keep)
        .filter(|(_, kept)| **kept)
        .map(|(pkg, _)| {
            (
                (pkg.name.as_str(), pkg.version.as_str()),
                pkg.dep_path.as_str(),
            )
        })
        .collect();
    let same_version: HashMap<String, String> = link
        .packages
        .iter()
        .zip(&keep)
        .filter(|(_, kept)| !**kept)
        .filter_map(|(pkg, _)| {
            let placed = placed_version.get(&(pkg.name.as_str(), pkg.version.as_str()))?;
            Some((pkg.dep_path.clone(), placed.to_string()))
        })
        .collect();
    let redirect = |target: &mut tack_linker::ChildTarget| {
        if let tack_linker::ChildTarget::DepPath(dep_path) = target {
            if let Some(placed) = same_version.get(dep_path.as_str()) {
                *dep_path = placed.clone();
            }
        }
    };
    for pkg in &mut link.packages {
        for (_, target) in pkg
            .children
            .iter_mut()
            .chain(pkg.unlinked_optional_children.iter_mut())
        {
            redirect(target);
        }
    }
    for importer in &mut link.importers {
        for dep in &mut importer.deps {
            redirect(&mut dep.target);
        }
    }
    // pnpm 12 counts the snapshots it places nowhere as resolved all the same.
    let unplaced: Vec<(String, Option<String>)> = link
        .packages
        .iter()
        .zip(&plan.sources)
        .zip(&keep)
        .filter(|(_, kept)| !**kept)
        .map(|((pkg, source), _)| {
            let placed = same_version.get(pkg.dep_path.as_str()).cloned();
            (source.package_id.clone(), placed)
        })
        .collect();
    let mut kept = keep.iter();
    link.packages
        .retain(|_| kept.next().copied().unwrap_or(false));
    let mut kept = keep.iter();
    plan.sources
        .retain(|_| kept.next().copied().unwrap_or(false));
    let index_of: HashMap<&str, usize> = link
        .packages
        .iter()
        .enumerate()
        .map(|(i, pkg)| (pkg.dep_path.as_str(), i))
        .collect();
    plan.hoisted_counts.unplaced = unplaced
        .into_iter()
        .map(|(package_id, placed)| Unplaced {
            package_id,
            placed: placed.and_then(|dep_path| index_of.get(dep_path.as_str()).copied()),
        })
        .collect();
    let mut dirs = Vec::with_capacity(link.packages.len());
    let mut more_dirs = Vec::new();
    for (i, pkg) in link.packages.iter().enumerate() {
        let mut placed_at = dirs_of
            .remove(pkg.dep_path.as_str())
            .unwrap_or_default()
            .into_iter();
        dirs.push(placed_at.next().unwrap_or_default());
        more_dirs.extend(placed_at.map(|dir| (i, dir)));
    }
    link.hoisted = Some(tack_linker::HoistedLayout::new(
        &link.packages,
        dirs,
        more_dirs,
    ));
    link.prefer_symlinked_executables = prefer_symlinked_executables.unwrap_or(true);
    Ok(())
}

/// The directories the last install placed (`.modules.yaml`'s `hoistedLocations`, written
/// by a hoisted install), each with the dep path it placed there. Only plain relative paths
/// below `root` count: the file may have been edited.
pub(super) fn recorded_locations<'m>(
    root: &Path,
    previous: Option<&'m tack_linker::ModulesYaml>,
) -> Vec<(&'m str, PathBuf)> {
    let locations = previous
        .filter(|old| old.node_linker.as_deref() == Some("hoisted"))
        .and_then(|old| old.hoisted_locations.as_ref());
    let mut out = Vec::new();
    for (dep_path, dirs) in locations.into_iter().flatten() {
        for rel in dirs
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str())
        {
            let rel = Path::new(rel);
            if rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            {
                out.push((dep_path.as_str(), root.join(rel)));
            }
        }
    }
    out
}

/// Before the imports: every directory the last install placed (see [`recorded_locations`])
/// that this layout does not place at all is removed with what is nested in it, and every
/// directory of this layout that may not be reused as it is (not `in_place`, see
/// `hoisted_counts::dirs_in_place`; another package's name in it, `--force`, a directory
/// source, an install that stopped before its end) is emptied but for its own
/// `node_modules`, as pnpm 12 keeps what is placed below a directory it imports again. What
/// remains in place is what the last complete install put there and this one wants there
/// again.
pub fn clear_for_import(
    link: &tack_linker::LinkPlan,
    previous: Option<&tack_linker::ModulesYaml>,
    in_place: &HashMap<PathBuf, bool>,
    trust_previous: bool,
) -> Result<(), CliError> {
    let Some(layout) = &link.hoisted else {
        return Ok(());
    };
    let wanted: HashSet<&Path> = layout.all_dirs().map(|(_, dir)| dir).collect();
    for (_, dir) in recorded_locations(&link.lockfile_dir, previous) {
        // Where another package goes, emptied below.
        if !wanted.contains(dir.as_path()) {
            remove_dir(&dir)?;
        }
    }
    for (i, dir) in layout.all_dirs() {
        let pkg = &link.packages[i];
        let reusable = trust_previous
            && !link.force
            && in_place.get(dir) == Some(&true)
            && matches!(pkg.files, tack_linker::PackageFiles::Cas(_));
        if reusable {
            continue;
        }
        match tack_linker::clear_except_modules(dir) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(tack_linker::LinkError::Io {
                    op: "clear",
                    path: dir.to_path_buf(),
                    package: pkg.dep_path.clone(),
                    source,
                }
                .into())
            }
        }
    }
    Ok(())
}

/// Removes `dir` (a directory, or whatever else is at its name) if anything is there.
fn remove_dir(dir: &Path) -> Result<(), CliError> {
    let removed = match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(dir),
        Ok(_) => std::fs::remove_file(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    match removed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(tack_linker::LinkError::Io {
            op: "remove",
            path: dir.to_path_buf(),
            package: "node_modules".to_string(),
            source,
        }
        .into()),
    }
}

struct Walk<'a> {
    lockfile: &'a Lockfile,
    installable: &'a dyn Fn(&str) -> bool,
}

impl Walk<'_> {
    fn place(
        &self,
        nodes: &[PlacedNode],
        modules: &Path,
        out: &mut Vec<Placement>,
    ) -> Result<(), CliError> {
        for node in nodes {
            let Some(dep_path) = node.references.first() else {
                continue;
            };
            if !self.lockfile.snapshots.contains_key(dep_path) || !(self.installable)(dep_path) {
                continue;
            }
            // The alias names a directory: `name` or `@scope/name`, nothing that climbs out.
            check_package_name(&node.name, dep_path)?;
            let dir = modules.join(&node.name);
            out.push(Placement {
                dep_path: dep_path.clone(),
                dir: dir.clone(),
            });
            self.place(&node.dependencies, &dir.join("node_modules"), out)?;
        }
        Ok(())
    }
}

/// The hoister's input: the root project's dependencies under the root, then each other
/// selected project (`workspace:<id>`, named by its percent-encoded id) with its own.
fn input_graph(lockfile: &Lockfile, selection: &Selection<'_>, peers: PeerNames) -> HoistInput {
    let mut builder = GraphBuilder {
        lockfile,
        optional: selection.optional,
        peers,
        input: HoistInput {
            nodes: vec![InputNode::root()],
        },
        memo: FxHashMap::default(),
        first_dep_path: FxHashMap::default(),
        key: String::new(),
    };
    let importer_deps = |id: &str| -> Vec<(&str, &str)> {
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
        let mut merged: Vec<(&str, &str)> = merged.into_iter().collect();
        // pnpm 12 orders each package's dependencies by alias, whatever group they are in.
        merged.sort_unstable_by(|a, b| a.0.cmp(b.0));
        merged
    };
    if selection.importer_ids.iter().any(|id| id == ".") {
        let children = builder.nodes_for(&importer_deps("."));
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
        let children = builder.nodes_for(&importer_deps(id));
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
    peers: PeerNames,
    input: HoistInput,
    /// `<alias>:<dep path>` → node: one node per package and alias.
    memo: FxHashMap<String, usize>,
    /// `<name>@<version>` → the first dep path met: every peer variant of a version shares
    /// one reference, so the hoister treats them as one package.
    first_dep_path: FxHashMap<String, String>,
    /// The memo key of the edge at hand, built in place: most edges lead to a node already
    /// made, and looking it up allocates nothing.
    key: String,
}

impl<'l> GraphBuilder<'l> {
    fn nodes_for(&mut self, deps: &[(&'l str, &'l str)]) -> Vec<usize> {
        let mut nodes = Vec::with_capacity(deps.len());
        let mut dep_path = String::new();
        for &(alias, reference) in deps {
            // `link:` dependencies are symlinks made apart from the hoisted tree.
            if !write_ref_dep_path(reference, alias, &mut dep_path) {
                continue;
            }
            self.key.clear();
            self.key.push_str(alias);
            self.key.push(':');
            self.key.push_str(&dep_path);
            if let Some(&node) = self.memo.get(self.key.as_str()) {
                nodes.push(node);
                continue;
            }
            let lockfile = self.lockfile;
            let Some(snapshot) = lockfile.snapshots.get(dep_path.as_str()) else {
                continue;
            };
            let (name, version) = lockfile.name_version(&dep_path);
            let mut id = String::with_capacity(name.len() + 1 + version.len());
            id.push_str(&name);
            id.push('@');
            id.push_str(&version);
            let reference = self
                .first_dep_path
                .entry(id)
                .or_insert_with(|| dep_path.clone())
                .clone();
            let peer_names = match self.peers {
                PeerNames::Ignored => Vec::new(),
                PeerNames::FromLockfile => self.peer_names_of(&dep_path, snapshot),
            };
            self.input.nodes.push(InputNode {
                name: alias.to_string(),
                ident_name: name,
                reference,
                kind: NodeKind::Regular,
                peer_names,
                dependencies: Vec::new(),
            });
            let node = self.input.nodes.len() - 1;
            self.memo.insert(self.key.clone(), node);
            let optional = self
                .optional
                .then_some(&snapshot.optional_dependencies)
                .into_iter()
                .flatten();
            let mut children: Vec<(&'l str, &'l str)> = snapshot
                .dependencies
                .iter()
                .chain(optional)
                .map(|(alias, reference)| (alias.as_str(), reference.as_str()))
                .collect();
            // By alias; an alias in both maps counts once, with the optional reference (the
            // later one, as a JavaScript object spread keeps it). The sort is stable.
            children.sort_by(|a, b| a.0.cmp(b.0));
            children.dedup_by(|later, earlier| {
                let same = later.0 == earlier.0;
                if same {
                    earlier.1 = later.1;
                }
                same
            });
            let children = self.nodes_for(&children);
            self.input.nodes[node].dependencies = children;
            nodes.push(node);
        }
        nodes
    }

    /// The package's `peerDependencies` (from `packages`) and the peers its dependencies
    /// take from above it (`transitivePeerDependencies`, from `snapshots`), each once.
    fn peer_names_of(&self, dep_path: &str, snapshot: &SnapshotEntry) -> Vec<String> {
        let own = self
            .lockfile
            .package(dep_path)
            .into_iter()
            .flat_map(|package| package.peer_dependencies.keys());
        let mut names: Vec<String> = Vec::new();
        for name in own.chain(&snapshot.transitive_peer_dependencies) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
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

    /// The medium fixture's lockfile (905 packages, many versions of some names) placed as
    /// pnpm 12 placed it with `nodeLinker: hoisted`: its `hoistedLocations`, recorded once with
    /// the packages it skipped on that host.
    #[test]
    fn the_medium_fixture_is_placed_as_pnpm_12_places_it() {
        assert_placed_as_recorded("pnpm-12-layout.json", PeerNames::Ignored);
    }

    /// The same lockfile with `autoInstallPeers: false` (pnpm resolves nothing differently for
    /// it; only the setting changes): the hoister sees peer names, which keeps some packages
    /// lower and changes the order in which others reach the root.
    #[test]
    fn the_medium_fixture_without_auto_installed_peers_is_placed_as_pnpm_12_places_it() {
        assert_placed_as_recorded(
            "pnpm-12-layout-without-auto-installed-peers.json",
            PeerNames::FromLockfile,
        );
    }

    /// Compares the placements of `tests/fixtures/hoisted-medium/pnpm-lock.yaml` with the
    /// `hoistedLocations` pnpm 12 wrote, each package's directories in pnpm's order (the order
    /// of its walk over the placed tree, which `.modules.yaml` keeps).
    fn assert_placed_as_recorded(layout: &str, peers: PeerNames) {
        let fixture =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hoisted-medium");
        let lockfile = Lockfile::read_from_path(&fixture.join("pnpm-lock.yaml"))
            .expect("read the lockfile")
            .expect("a lockfile");
        let text = std::fs::read_to_string(fixture.join(layout)).expect("read");
        let recorded: serde_json::Value = serde_json::from_str(&text).expect("parse");
        let skipped: HashSet<&str> = recorded["skipped"]
            .as_array()
            .expect("skipped")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let installable: HashSet<String> = lockfile
            .snapshots
            .keys()
            .filter(|k| !skipped.contains(k.as_str()))
            .cloned()
            .collect();
        let ids: Vec<String> = lockfile.importers.keys().cloned().collect();
        let selection = Selection {
            importer_ids: &ids,
            prod: true,
            dev: true,
            optional: true,
        };
        let root = Path::new("/project");
        let tree = hoisted_tree(&lockfile, &selection, peers);
        let placed = place(&tree, &lockfile, root, "node_modules", &|dep_path| {
            installable.contains(dep_path)
        })
        .expect("placements");
        let mut ours: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for placement in &placed {
            let rel = placement.dir.strip_prefix(root).expect("below the root");
            ours.entry(placement.dep_path.clone())
                .or_default()
                .push(rel.display().to_string());
        }
        let theirs: std::collections::BTreeMap<String, Vec<String>> =
            serde_json::from_value(recorded["hoistedLocations"].clone()).expect("locations");
        let only_ours: Vec<_> = ours
            .iter()
            .filter(|(k, v)| theirs.get(*k) != Some(v))
            .collect();
        let only_theirs: Vec<_> = theirs
            .iter()
            .filter(|(k, v)| ours.get(*k) != Some(v))
            .collect();
        assert!(
            only_ours.is_empty() && only_theirs.is_empty(),
            "tack placed {only_ours:?}\npnpm 12 placed {only_theirs:?}"
        );
        assert_eq!(ours.len(), 881);
        // Parents come before what is placed below them.
        for (i, placement) in placed.iter().enumerate() {
            for earlier in &placed[i + 1..] {
                assert!(
                    !placement.dir.starts_with(&earlier.dir),
                    "{placement:?} before its parent"
                );
            }
        }
    }
}
