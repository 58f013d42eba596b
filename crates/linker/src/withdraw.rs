//! What a failed install takes back from its projects' top level, so that it never leaves a
//! tree that looks usable while packages it links to are missing or half imported.
//!
//! In a new virtual store the CLI makes the importers' links, the hoisted links and the
//! top-level `.bin` directories while packages still download ([`crate::link_top_level`],
//! [`EarlyBins`]). pnpm 12 makes them only once every package is in place, so a download
//! that fails leaves it no `node_modules`, or only its virtual store. When a tack install
//! fails before the linker's last step is done, [`withdraw_top_level`] undoes that much:
//! - links into the virtual store that the install made early all go (none was there and
//!   valid before: the virtual store is new), with the shims it wrote for its packages, and
//!   another package manager's directories it moved aside for them (`.ignored_<name>`) are
//!   moved back and the symlinks of another tool it replaced (`npm link`) are put back, as
//!   pnpm 12 had not touched them yet;
//! - otherwise (the linker's last step was under way, or a tree from an earlier install)
//!   only a link into the virtual store whose package directory is not complete goes: a
//!   link that was there and valid before the install stays, as pnpm 12 leaves a tree whose
//!   reinstall failed as it was.
//!
//! Links to directories outside the virtual store (`link:` dependencies, workspace projects)
//! are never touched: they point at complete directories. The virtual store itself stays:
//! its complete packages are reused by the next install, and its incomplete ones have no
//! `package.json`, so they never pass for complete.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::bins::{commands_of, resolve_conflicts, BinCommand};
use crate::early_bins::EarlyBins;
use crate::error::LinkError;
use crate::hoist::{compute_hoisting, HoistKind, Hoisted};
use crate::import::COMPLETION_MARKER;
use crate::link::top_level_bin_dirs;
use crate::plan::{ChildTarget, LinkPlan};
use crate::symlinks::{remove_link, PackageIndex};

/// What an install made of its projects' top level before every package was in place
/// ([`crate::link_top_level`]). Empty until then: the top level is made only by the linker's
/// last step ([`crate::finish`]), if the install gets that far.
#[derive(Debug, Default)]
pub struct EarlyTopLevel {
    /// Set when the early linking begins, with what writes the top-level `.bin` directories
    /// as packages come in place.
    begun: OnceLock<Option<Arc<EarlyBins>>>,
    /// Directories of another package manager moved aside (`.ignored_<name>`) for links made
    /// early: `(link, where the directory went)`. Usually none.
    moved_aside: Mutex<Vec<(PathBuf, PathBuf)>>,
    /// Symlinks that pointed elsewhere (`npm link`, another tool's tree) and were replaced by
    /// links made early: `(link, what it said)`. Usually none.
    replaced: Mutex<Vec<(PathBuf, PathBuf)>>,
}

impl EarlyTopLevel {
    pub(crate) fn begin(&self, bins: Option<&Arc<EarlyBins>>) {
        let _ = self.begun.set(bins.cloned());
    }

    pub(crate) fn moved_aside(&self, link: PathBuf, aside: PathBuf) {
        self.lock_moved().push((link, aside));
    }

    pub(crate) fn replaced(&self, link: PathBuf, previous: PathBuf) {
        self.replaced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((link, previous));
    }

    fn lock_moved(&self) -> std::sync::MutexGuard<'_, Vec<(PathBuf, PathBuf)>> {
        self.moved_aside.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What [`withdraw_top_level`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Withdrawn {
    /// Links into the virtual store.
    pub links: Vec<PathBuf>,
    /// Top-level `.bin` entries of packages in the virtual store.
    pub shims: Vec<PathBuf>,
    /// Directories moved back where a link made early had moved them from.
    pub moved_back: Vec<PathBuf>,
    /// Symlinks put back as they were before a link made early replaced them.
    pub restored: Vec<PathBuf>,
}

/// Takes back what a failed install made of its projects' top level (see the module doc).
/// Call once no import thread can make more of it: the early `.bin` directories are closed
/// here, every other top-level link is made by the thread that made `early`.
pub fn withdraw_top_level(plan: &LinkPlan, early: &EarlyTopLevel) -> Result<Withdrawn, LinkError> {
    // The hoisted layout's packages are the top level itself: nothing links to them.
    if plan.hoisted.is_some() {
        return Ok(Withdrawn::default());
    }
    let hoisted = compute_hoisting(plan);
    let mut withdrawn = Withdrawn::default();
    let begun = early.begun.get();
    if let Some(Some(bins)) = begun {
        if bins.close_top_level() {
            withdrawn.shims = withdraw_early_shims(plan, &hoisted, bins)?;
        }
    }
    let index = PackageIndex::new(plan);
    for (link, key) in top_level_links(plan, &index, &hoisted) {
        let Ok(text) = std::fs::read_link(&link) else {
            continue;
        };
        let parent = link.parent().unwrap_or(Path::new(""));
        let target = tack_fs::normalize_lexically(&parent.join(text));
        if !target.starts_with(&plan.virtual_store_dir) {
            continue;
        }
        if begun.is_some() || !target.join(COMPLETION_MARKER).is_file() {
            remove_link(&link, key)?;
            withdrawn.links.push(link);
        }
    }
    if begun.is_some() {
        for (link, aside) in early.lock_moved().iter() {
            if std::fs::symlink_metadata(link).is_err() {
                let name = link.file_name().unwrap_or_default().to_string_lossy();
                std::fs::rename(aside, link)
                    .map_err(|e| LinkError::io("move back", aside, name, e))?;
                withdrawn.moved_back.push(link.clone());
            }
        }
        let replaced = early.replaced.lock().unwrap_or_else(|e| e.into_inner());
        for (link, previous) in replaced.iter() {
            if std::fs::symlink_metadata(link).is_err() {
                let name = link.file_name().unwrap_or_default().to_string_lossy();
                std::os::unix::fs::symlink(previous, link)
                    .map_err(|e| LinkError::io("put back the symlink", link, name, e))?;
                withdrawn.restored.push(link.clone());
            }
        }
        // Made for the links just removed; each goes only if it is empty now.
        let _ = std::fs::remove_dir(plan.hidden_modules_dir());
        for imp in plan.importers.iter().filter(|imp| imp.id != ".") {
            let _ = std::fs::remove_dir(imp.dir.join(&plan.modules_dir_name));
        }
    }
    Ok(withdrawn)
}

/// Where the importers' and the hoisted links to packages of the virtual store are, each with
/// the name its errors go by.
fn top_level_links<'p>(
    plan: &'p LinkPlan,
    index: &PackageIndex<'_>,
    hoisted: &'p [Hoisted],
) -> Vec<(PathBuf, &'p str)> {
    let mut links = Vec::new();
    for imp in &plan.importers {
        let modules = imp.dir.join(&plan.modules_dir_name);
        for dep in &imp.deps {
            if matches!(dep.target, ChildTarget::DepPath(_))
                && crate::names::check_package_name(&imp.id, "alias", &dep.alias).is_ok()
            {
                links.push((modules.join(&dep.alias), imp.id.as_str()));
            }
        }
    }
    let (root_modules, private_dir) = (plan.root_modules_dir(), plan.hidden_modules_dir());
    for h in hoisted {
        if index.resolve(&h.key, &h.target).is_err() {
            continue;
        }
        let dir = match h.kind {
            HoistKind::Public => &root_modules,
            HoistKind::Private => &private_dir,
        };
        links.push((dir.join(&h.alias), h.key.as_str()));
    }
    links
}

/// Removes the entries the early top-level `.bin` directories got for packages of the
/// virtual store, found as [`EarlyBins`] chose them: from the commands it read, the
/// projects' `link:` dependencies read again. Their directories go when that empties them.
fn withdraw_early_shims(
    plan: &LinkPlan,
    hoisted: &[Hoisted],
    bins: &EarlyBins,
) -> Result<Vec<PathBuf>, LinkError> {
    static NONE: Vec<BinCommand> = Vec::new();
    let by_dep_path = plan.indexes_by_dep_path();
    let mut linked: HashMap<&Path, Vec<BinCommand>> = HashMap::new();
    for imp in &plan.importers {
        for dep in &imp.deps {
            if let ChildTarget::Link(dir) = &dep.target {
                if !linked.contains_key(dir.as_path()) {
                    let mut warnings = Vec::new();
                    let cmds = commands_of(&dir.to_string_lossy(), dir, None, &mut warnings)
                        .unwrap_or_default();
                    linked.insert(dir, cmds);
                }
            }
        }
    }
    let cmds_of = |target: &ChildTarget| match target {
        ChildTarget::DepPath(dep_path) => match by_dep_path.get(dep_path.as_str()) {
            Some(&q) if plan.packages[q].has_bin => bins.cached_commands(q),
            _ => Some(&NONE),
        },
        ChildTarget::Link(dir) => Some(linked.get(dir.as_path()).unwrap_or(&NONE)),
    };
    // The directories were written from these very commands: all of them were read.
    let Some(dirs) = top_level_bin_dirs(plan, hoisted, cmds_of) else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for (bin_dir, tiers) in dirs {
        for (name, cmd) in resolve_conflicts(&tiers) {
            if cmd.slot_modules.is_none() {
                continue;
            }
            let path = bin_dir.join(&name);
            if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&path)
                    .map_err(|e| LinkError::io("remove bin", &path, &cmd.pkg_name, e))?;
                removed.push(path);
            }
        }
        let _ = std::fs::remove_dir(&bin_dir);
    }
    Ok(removed)
}
