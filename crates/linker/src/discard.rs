//! Taking an optional package whose build failed out of the tree, as pnpm 12 does, so that a
//! package that probes for it (`try { require(…) }`) finds it absent rather than half-built.
//!
//! What pnpm 12.21 was observed to remove, and so what this removes: the package's directory
//! (every directory of it under `nodeLinker: hoisted`), and the links to it in each project's
//! modules directory and in the hidden hoisting directory (`<vs>/node_modules`). The links to
//! it from the slots of the packages that depend on it stay, as do the `.bin` shims of the
//! projects and of those slots (the hidden hoisting directory's `.bin` is written again after
//! the builds, without the package: see `relink_bins`). `.modules.yaml` and
//! `<vs>/lock.yaml` keep the package: the next install that gets past the no-op gate finds
//! its directory missing, imports it again and retries the build.
//!
//! Under the global virtual store the package was built in a staging directory that the build
//! step has already removed; the slot is shared with other projects and is left alone, and
//! only this project's links to it go.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::LinkError;
use crate::plan::LinkPlan;

/// Removes package `index` of `plan` from the tree: the links to it (top-level and scoped
/// entries of every project's modules directory and of the hidden hoisting directory), then
/// its directories. A link is matched by the path it names, resolved without the filesystem,
/// so that a link to a directory that is already gone is found too.
pub fn discard_package(plan: &LinkPlan, index: usize) -> Result<(), LinkError> {
    let Some(pkg) = plan.packages.get(index) else {
        return Ok(());
    };
    let dirs = package_dirs(plan, index);
    let targets: Vec<PathBuf> = dirs
        .iter()
        .map(|dir| tack_fs::normalize_lexically(dir))
        .collect();
    for modules_dir in modules_dirs(plan) {
        for entry in modules_dir_entries(&modules_dir) {
            if links_to(&entry, &targets) {
                remove_link(&entry, &pkg.dep_path)?;
            }
        }
    }
    if plan.shared_slots {
        return Ok(());
    }
    for dir in dirs {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(LinkError::io("remove", &dir, &pkg.dep_path, e)),
        }
    }
    Ok(())
}

/// The directories package `index` lives in: its slot's package directory, or under
/// `nodeLinker: hoisted` each directory it was placed in inside the workspace root.
fn package_dirs(plan: &LinkPlan, index: usize) -> Vec<PathBuf> {
    match &plan.hoisted {
        Some(layout) => layout
            .all_dirs()
            .filter(|(i, dir)| *i == index && dir.starts_with(&plan.lockfile_dir))
            .map(|(_, dir)| dir.to_path_buf())
            .collect(),
        None => plan
            .packages
            .get(index)
            .map(|pkg| vec![plan.package_dir(pkg)])
            .unwrap_or_default(),
    }
}

/// Every project's modules directory, then the hidden hoisting directory.
fn modules_dirs(plan: &LinkPlan) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = plan
        .importers
        .iter()
        .map(|importer| importer.dir.join(&plan.modules_dir_name))
        .collect();
    if plan.hoisted.is_none() {
        dirs.push(plan.hidden_modules_dir());
    }
    dirs
}

/// The entries of `dir` and of its real `@scope` directories: where a package is linked.
fn modules_dir_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries = list_dir(dir);
    let scoped: Vec<PathBuf> = entries
        .iter()
        .filter(|entry| is_scope_dir(entry))
        .flat_map(|scope| list_dir(scope))
        .collect();
    entries.extend(scoped);
    entries
}

fn list_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default()
}

/// A directory named `@…` that is not itself a link.
fn is_scope_dir(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with('@'))
        && std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir())
}

/// Whether `entry` is a symlink naming one of `targets` (normalized absolute paths).
fn links_to(entry: &Path, targets: &[PathBuf]) -> bool {
    let Ok(target) = std::fs::read_link(entry) else {
        return false;
    };
    let absolute = match entry.parent() {
        Some(parent) if target.is_relative() => parent.join(&target),
        _ => target,
    };
    targets.contains(&tack_fs::normalize_lexically(&absolute))
}

fn remove_link(link: &Path, package: &str) -> Result<(), LinkError> {
    match std::fs::remove_file(link) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LinkError::io("remove the link", link, package, e)),
    }
}
