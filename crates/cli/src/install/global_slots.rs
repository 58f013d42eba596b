//! The global virtual store (`enableGlobalVirtualStore: true`): every package goes into its
//! slot below `<store>/links`, `<@scope or @>/<name>/<version>/<hash>`, where pnpm 12 places
//! it with the links to its dependencies, and the project's own state stays in
//! `node_modules/.pnpm`.
//!
//! The name must be pnpm's own, so that a store shared by pnpm and tack holds one slot per
//! package graph; the hash is [`tack_store_dir::slot_hash`]'s, over the whole lockfile's
//! snapshots (whatever is installed on this host). A package built or patched there is
//! finished in a staging directory of its slot and moved in once done
//! (`tack_build::stage`). A directory dependency (`file:`, an injected workspace project)
//! gets a slot of its own per project, `<name>/directory/<hash>` with the lockfile's
//! directory in the hash, and is imported again from its directory by every install, as
//! outside the global virtual store.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use tack_build::env::{node_arch, node_platform};
use tack_build::policy::BuildPolicy;
use tack_config::Config;
use tack_lockfile::{parse_dep_path, ref_to_dep_path, Lockfile, Resolution};
use tack_store_dir::links_dir;
use tack_store_dir::slot_hash::{slot_hash, SlotGraph, SlotInputs, SlotNode};
use tack_store_dir::StoreDir;

use super::plan::InstallPlan;
use crate::error::CliError;

/// Moves the packages of `plan` (the isolated layout) into their slots in `store`'s global
/// virtual store. `node_version` is the version builds run under (it names the slots of
/// packages allowed to build).
pub fn place_in_global_store(
    plan: &mut InstallPlan,
    lockfile: &Lockfile,
    config: &Config,
    store: &StoreDir,
    node_version: Option<&str>,
) -> Result<(), CliError> {
    let policy = BuildPolicy::new(
        &config.allow_builds,
        config.dangerously_allow_all_builds,
        config.only_built_dependencies.as_deref(),
        config.never_built_dependencies.as_deref(),
    );
    let engine = node_version
        .and_then(|v| {
            v.trim_start_matches('v')
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .map(|major| format!("{};{};node{major}", node_platform(), node_arch()));
    let builds = SlotBuilds {
        engine: engine.as_deref(),
        allowed: &|key: &str| {
            let (name, version) = lockfile.name_version(key);
            policy.allows(key, &name, &version) == Some(true)
        },
        built: !config.ignore_scripts,
    };
    let mut slots = slot_dirs(lockfile, &config.lockfile_dir, &builds);
    for pkg in &mut plan.link.packages {
        pkg.dir_name = slots.remove(&pkg.dep_path).ok_or_else(|| {
            CliError::new(
                "ERR_TACK_INTERNAL",
                format!("no global virtual store slot for {}", pkg.dep_path),
            )
        })?;
    }
    plan.link.virtual_store_dir = links_dir(store);
    plan.link.shared_slots = true;
    Ok(())
}

/// What names the slots of packages that may build.
struct SlotBuilds<'a> {
    /// `<platform>;<arch>;node<major>`, `None` when no node version is known.
    engine: Option<&'a str>,
    /// Whether the snapshot `key` is allowed to build.
    allowed: &'a dyn Fn(&str) -> bool,
    /// Whether this install runs builds (scripts not ignored).
    built: bool,
}

/// The slot directory, relative to `<store>/links`, of every snapshot of `lockfile`, by key.
/// A package allowed to build, and every package that reaches one, has the engine in its
/// slot's name.
fn slot_dirs(
    lockfile: &Lockfile,
    lockfile_dir: &Path,
    builds: &SlotBuilds<'_>,
) -> HashMap<String, String> {
    let mut graph = SlotGraph::default();
    // Who depends on whom, to spread the engine from each allowed package to its dependents.
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    for (key, snapshot) in &lockfile.snapshots {
        let mut children = Vec::new();
        for deps in [&snapshot.dependencies, &snapshot.optional_dependencies] {
            let mut sorted: Vec<(&String, &String)> = deps.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (alias, reference) in sorted {
                let child = match reference.strip_prefix("link:") {
                    // A linked directory is a node of its own, named by its absolute path.
                    Some(rel) => {
                        let target = tack_fs::normalize_lexically(&lockfile_dir.join(rel));
                        let id = format!("link:{}", target.display());
                        let node = SlotNode {
                            id: id.clone(),
                            children: Vec::new(),
                        };
                        graph.insert(id.clone(), node);
                        id
                    }
                    None => match ref_to_dep_path(reference, alias) {
                        Some(dep_path) => dep_path,
                        None => continue,
                    },
                };
                if let Some((child_key, _)) = lockfile.snapshots.get_key_value(&child) {
                    dependents.entry(child_key).or_default().push(key);
                }
                children.push((alias.clone(), child));
            }
        }
        let id = node_id(lockfile, key);
        graph.insert(key.clone(), SlotNode { id, children });
    }
    let hashes = graph.dependency_hashes();
    let project = lockfile_dir.to_string_lossy();
    let mut with_engine: HashSet<&str> = HashSet::new();
    if builds.engine.is_some() {
        let mut queue: Vec<&str> = lockfile
            .snapshots
            .keys()
            .map(String::as_str)
            .filter(|key| (builds.allowed)(key))
            .collect();
        while let Some(key) = queue.pop() {
            if with_engine.insert(key) {
                queue.extend(dependents.get(key).into_iter().flatten().copied());
            }
        }
    }
    lockfile
        .snapshots
        .keys()
        .filter_map(|key| {
            let deps = hashes.get(key)?;
            let (name, version) = lockfile.name_version(key);
            let inputs = match with_engine.contains(key.as_str()) {
                true => SlotInputs {
                    engine: builds.engine,
                    built: builds.built,
                    ..SlotInputs::default()
                },
                false => SlotInputs::default(),
            };
            // A local directory's slot is the project's own (pnpm 12.21 names it so).
            let local = matches!(
                lockfile.package(key).map(|info| &info.resolution),
                Some(Resolution::Directory { .. })
            );
            let (version, inputs) = match local {
                true => (
                    "directory",
                    SlotInputs {
                        project: Some(&project),
                        ..inputs
                    },
                ),
                false => (version.as_str(), inputs),
            };
            let hash = slot_hash(deps, inputs);
            let dir = if name.starts_with('@') {
                format!("{name}/{version}/{hash}")
            } else {
                format!("@/{name}/{version}/{hash}")
            };
            Some((key.clone(), dir))
        })
        .collect()
}

/// pnpm's full package id of a snapshot: its key without the peers (a patch hash stays),
/// then `:<integrity>` when the resolution has one.
fn node_id(lockfile: &Lockfile, key: &str) -> String {
    let peers = parse_dep_path(key).peers_suffix;
    let base = &key[..key.len() - peers.len()];
    match lockfile
        .package(key)
        .and_then(|info| info.resolution.integrity())
    {
        Some(integrity) => format!("{base}:{integrity}"),
        None => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The small fixture (52 snapshots, peer variants among them) against the slots pnpm
    /// 12.21 made for it with `enableGlobalVirtualStore: true` and no builds allowed.
    #[test]
    fn slots_of_a_real_lockfile_are_pnpm_12s() {
        let path = Path::new("pnpm-lock.yaml");
        let lockfile = Lockfile::from_str(include_str!("testdata/small-pnpm-lock.yaml"), path)
            .expect("the fixture's lockfile");
        let builds = SlotBuilds {
            engine: Some("linux;x64;node20"),
            allowed: &|_| false,
            built: true,
        };
        let mut ours: Vec<String> = slot_dirs(&lockfile, Path::new("/p"), &builds)
            .into_values()
            .collect();
        ours.sort();
        let pnpm: Vec<&str> = include_str!("testdata/small-gvs-slots-pnpm12.txt")
            .lines()
            .collect();
        assert_eq!(ours.len(), 52);
        assert_eq!(ours, pnpm);
    }
}
