//! What a filtered install (`--filter`) keeps of the projects it does not select.
//!
//! Their `node_modules` link into the virtual store as the last install left them, so pnpm 12
//! leaves that part of the tree alone: `.pnpm/lock.yaml` keeps their importers and the packages
//! those reach, and the packages' directories stay however old the last prune is. Without this
//! a filtered install over a full one recorded only the selected projects and, once a prune
//! came due, deleted the packages the others still link to.

use std::collections::HashSet;

use tack_lockfile::Lockfile;

use super::plan::{reachable, Selection};

/// The recorded state of the projects a filtered install leaves alone.
pub(super) struct OtherProjects {
    /// The merged current lockfile: the selected importers as this install installs them,
    /// the others as the last install recorded them.
    pub merged: Lockfile,
    /// The dep paths only the others reach (the ones this install does not install).
    pub kept: HashSet<String>,
}

/// Merges `current`, what this install installs for the `selected` importers, with
/// `recorded`, the last install's `.pnpm/lock.yaml`. An importer the lockfile no longer has is
/// dropped; packages reached only from a selected importer's old entry are dropped too, so a
/// later prune removes them.
pub(super) fn merge_recorded(
    mut current: Lockfile,
    recorded: &Lockfile,
    selected: &[String],
    wanted: &Lockfile,
) -> OtherProjects {
    let others: Vec<String> = recorded
        .importers
        .keys()
        .filter(|id| !selected.contains(id) && wanted.importers.contains_key(*id))
        .cloned()
        .collect();
    let every_group = Selection {
        importer_ids: &others,
        prod: true,
        dev: true,
        optional: true,
    };
    let mut kept = HashSet::new();
    for id in &others {
        if let Some(importer) = recorded.importers.get(id) {
            current.importers.insert(id.clone(), importer.clone());
        }
    }
    for dep_path in reachable(recorded, &every_group) {
        if current.snapshots.contains_key(&dep_path) {
            continue;
        }
        let Some(snapshot) = recorded.snapshots.get(&dep_path) else {
            continue;
        };
        current.snapshots.insert(dep_path.clone(), snapshot.clone());
        let key = tack_lockfile::remove_suffix(&dep_path);
        if let Some(info) = recorded.packages.get(key) {
            current
                .packages
                .entry(key.to_string())
                .or_insert_with(|| info.clone());
        }
        kept.insert(dep_path);
    }
    OtherProjects {
        merged: current,
        kept,
    }
}

/// The importers a filtered install in the hoisted layout places together with the
/// `selected` ones: those the last hoisted install recorded in `<virtual store>/lock.yaml`
/// that the lockfile still has and whose projects are still there (`present`). pnpm 12
/// hoists them all as one tree, so a filtered install keeps the directories the earlier
/// installs placed, and a version they share may move to where the whole tree puts it.
/// The others' own scripts do not run: they are not selected.
pub(super) fn with_recorded_hoisted_importers(
    selected: Vec<String>,
    root_modules: &std::path::Path,
    virtual_store: &std::path::Path,
    wanted: &Lockfile,
    present: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let hoisted_before = tack_linker::read_modules_yaml(root_modules)
        .is_some_and(|old| old.node_linker.as_deref() == Some("hoisted"));
    let recorded_path = virtual_store.join("lock.yaml");
    let recorded = hoisted_before
        .then(|| std::fs::read_to_string(&recorded_path).ok())
        .flatten()
        .and_then(|text| Lockfile::from_str(&text, &recorded_path).ok());
    let Some(recorded) = recorded else {
        return selected;
    };
    let mut ids = selected;
    for id in recorded.importers.keys() {
        if !ids.contains(id) && wanted.importers.contains_key(id) && present(id) {
            ids.push(id.clone());
        }
    }
    ids
}
