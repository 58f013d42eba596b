//! The counts pnpm 12 prints for `nodeLinker: hoisted` (`Packages: +A -R`, `added N`): it
//! counts directories of the layout, not dep paths.
//!
//! A directory is added unless the last install recorded the same dep path there
//! (`hoistedLocations`) and its `package.json` has the version wanted; what is nested in a
//! directory does not count for it. A directory is removed when the layout of the lockfile the
//! last install recorded (`.pnpm/lock.yaml`, placed with every package installable, as pnpm 12
//! places it: a package skipped on this host counts) has it and this layout does not. So a
//! version changed in place is `+1` and no `-1`, a package that moves is `+1 -1`, and an
//! optional package skipped on this host is removed again on every install over the tree.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use tack_linker::hoisted_tree::PlacedNode;
use tack_linker::{LinkPlan, ModulesYaml};
use tack_lockfile::Lockfile;

use super::hoisted_layout::{self, PeerNames};
use super::plan::Selection;
use super::summary::Recorded;
use crate::error::CliError;

/// The directories of `link`'s layout that pnpm 12 finds in place: recorded for the same dep
/// path by the last install (`previous`), with a `package.json` of the version wanted. Each
/// comes with whether that `package.json` has the package's name too (only then may its files
/// stay, see `hoisted_layout::clear_for_import`). Taken before anything is cleared for the
/// imports. With `--force`, none.
pub(super) fn dirs_in_place(
    link: &LinkPlan,
    previous: Option<&ModulesYaml>,
) -> HashMap<PathBuf, bool> {
    let Some(layout) = &link.hoisted else {
        return HashMap::new();
    };
    if link.force {
        return HashMap::new();
    }
    let recorded: HashSet<(&str, PathBuf)> =
        hoisted_layout::recorded_locations(&link.lockfile_dir, previous)
            .into_iter()
            .collect();
    layout
        .all_dirs()
        .filter_map(|(i, dir)| {
            let pkg = &link.packages[i];
            if !recorded.contains(&(pkg.dep_path.as_str(), dir.to_path_buf())) {
                return None;
            }
            let (name, version) = manifest_name_version(dir)?;
            (version.as_deref() == Some(pkg.version.as_str())).then(|| {
                (
                    dir.to_path_buf(),
                    name.as_deref() == Some(pkg.name.as_str()),
                )
            })
        })
        .collect()
}

/// By package index: how many of the package's directories are not `in_place`.
pub(super) fn added_by_package(link: &LinkPlan, in_place: &HashMap<PathBuf, bool>) -> Vec<usize> {
    let mut added = vec![0; link.packages.len()];
    for (i, dir) in link.hoisted.iter().flat_map(|layout| layout.all_dirs()) {
        if !in_place.contains_key(dir) {
            added[i] += 1;
        }
    }
    added
}

/// How many directories of the layout of the lockfile the last install `recorded` `link`'s
/// layout (made from `tree`, the hoister's tree of `wanted`) does not have. Over the same
/// lockfile, those of the packages skipped on this host (`every_package_installed` says there
/// are none).
pub(super) fn removed_since(
    link: &LinkPlan,
    recorded: &Recorded,
    tree: &PlacedNode,
    wanted: &Lockfile,
    every_package_installed: bool,
    modules_dir: &str,
    peers: PeerNames,
) -> Result<usize, CliError> {
    let root = &link.lockfile_dir;
    let before = match recorded {
        Recorded::Nothing => return Ok(0),
        Recorded::Same if every_package_installed => return Ok(0),
        Recorded::Same => placed_dirs(tree, wanted, root, modules_dir)?,
        Recorded::Other(old) => {
            let importer_ids: Vec<String> = old.importers.keys().cloned().collect();
            let selection = Selection {
                importer_ids: &importer_ids,
                prod: true,
                dev: true,
                optional: true,
            };
            let tree = hoisted_layout::hoisted_tree(old, &selection, peers);
            placed_dirs(&tree, old, root, modules_dir)?
        }
    };
    Ok(removed(link, &before))
}

/// The directories of `tree` (the hoister's tree of `lockfile`) with every package installed,
/// as pnpm 12 lays out a recorded lockfile.
fn placed_dirs(
    tree: &PlacedNode,
    lockfile: &Lockfile,
    root: &Path,
    modules_dir: &str,
) -> Result<HashSet<PathBuf>, CliError> {
    let placed = hoisted_layout::place(tree, lockfile, root, modules_dir, &|_| true)?;
    Ok(placed.into_iter().map(|placement| placement.dir).collect())
}

/// How many of the `before` directories `link`'s layout does not have.
fn removed(link: &LinkPlan, before: &HashSet<PathBuf>) -> usize {
    let now: HashSet<&Path> = link
        .hoisted
        .iter()
        .flat_map(|layout| layout.all_dirs())
        .map(|(_, dir)| dir)
        .collect();
    before
        .iter()
        .filter(|dir| !now.contains(dir.as_path()))
        .count()
}

/// The `name` and `version` of `<dir>/package.json`, when it is a real directory (not a link
/// to one somewhere else) with a manifest.
fn manifest_name_version(dir: &Path) -> Option<(Option<String>, Option<String>)> {
    if !std::fs::symlink_metadata(dir).is_ok_and(|meta| meta.is_dir()) {
        return None;
    }
    let text = std::fs::read(dir.join("package.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let field = |key: &str| manifest[key].as_str().map(str::to_string);
    Some((field("name"), field("version")))
}
