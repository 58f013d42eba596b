//! The global virtual store (`enableGlobalVirtualStore: true`): every package goes into its
//! slot below `<store>/links`, `<@scope or @>/<name>/<version>/<hash>`, where pnpm 12 places
//! it with the links to its dependencies, and the project's own state stays in
//! `node_modules/.pnpm`.
//!
//! The name must be pnpm's own, so that a store shared by pnpm and tack holds one slot per
//! package graph; the hash is [`tack_store_dir::slot_hash`]'s, over the whole lockfile's
//! snapshots (whatever is installed on this host). What tack cannot yet place there as pnpm
//! 12 does is refused before anything is written (see `plans/global-virtual-store.md`).

use std::collections::HashMap;
use std::path::Path;

use tack_build::policy::BuildPolicy;
use tack_config::Config;
use tack_lockfile::{parse_dep_path, ref_to_dep_path, Lockfile};
use tack_store_dir::links_dir;
use tack_store_dir::slot_hash::{slot_hash, SlotGraph, SlotInputs, SlotNode};
use tack_store_dir::StoreDir;

use super::plan::{InstallPlan, Source};
use crate::error::CliError;

/// Moves the packages of `plan` (the isolated layout) into their slots in `store`'s global
/// virtual store. Refused, naming the package, for one that pnpm 12 would build or patch in
/// its slot (the slot's name then carries the engine it was built for, and the build takes
/// the slot's lock), and for a directory dependency (`file:`, an injected workspace project),
/// whose slot pnpm names by the project as well.
pub fn place_in_global_store(
    plan: &mut InstallPlan,
    lockfile: &Lockfile,
    config: &Config,
    store: &StoreDir,
) -> Result<(), CliError> {
    let policy = BuildPolicy::new(
        &config.allow_builds,
        config.dangerously_allow_all_builds,
        config.only_built_dependencies.as_deref(),
        config.never_built_dependencies.as_deref(),
    );
    for (pkg, source) in plan.link.packages.iter().zip(&plan.sources) {
        let why = if matches!(source.source, Source::Directory(_)) {
            "is a directory dependency (`file:` or an injected workspace project)"
        } else if pkg.dep_path.contains("(patch_hash=") {
            "is patched (patchedDependencies)"
        } else if policy.allows(&pkg.dep_path, &pkg.name, &pkg.version) == Some(true) {
            "is allowed to run its build scripts (allowBuilds)"
        } else {
            continue;
        };
        return Err(CliError::new(
            "ERR_TACK_UNSUPPORTED_SETTING",
            format!(
                "`enableGlobalVirtualStore: true`: {} {why}, and tack does not yet place such \
                 a package in the global virtual store",
                pkg.dep_path
            ),
        )
        .with_help(
            "Install this project with pnpm (`pnpm install --frozen-lockfile`), or turn \
             enableGlobalVirtualStore off for it. Nothing was fetched and node_modules was not \
             touched.",
        ));
    }
    let mut slots = slot_dirs(lockfile, &config.lockfile_dir);
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

/// The slot directory, relative to `<store>/links`, of every snapshot of `lockfile`, by key.
/// No package is allowed to build here (each slot's engine is `null`).
fn slot_dirs(lockfile: &Lockfile, lockfile_dir: &Path) -> HashMap<String, String> {
    let mut graph = SlotGraph::default();
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
                children.push((alias.clone(), child));
            }
        }
        let id = node_id(lockfile, key);
        graph.insert(key.clone(), SlotNode { id, children });
    }
    let hashes = graph.dependency_hashes();
    lockfile
        .snapshots
        .keys()
        .filter_map(|key| {
            let deps = hashes.get(key)?;
            let (name, version) = lockfile.name_version(key);
            let hash = slot_hash(deps, SlotInputs::default());
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
        let mut ours: Vec<String> = slot_dirs(&lockfile, Path::new("/p"))
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
