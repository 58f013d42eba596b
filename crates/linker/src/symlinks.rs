//! Dependency symlinks: each package's children inside its virtual-store `node_modules`, and
//! each importer's direct dependencies in `<importer>/node_modules`.
//!
//! All links are relative directory symlinks made by `tack_fs::symlink_dir`, which leaves a
//! correct link alone after one `readlink`, so re-linking an unchanged tree writes nothing.
//! Links that are no longer wanted are removed here too; only symlinks are ever removed, a
//! real directory or file a user put there is left alone.

use crate::error::LinkError;
use crate::names::check_package_name;
use crate::plan::{ChildTarget, LinkPlan, PlannedPackage};
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

/// Dep path → package, for resolving edges.
pub(crate) struct PackageIndex<'a> {
    by_dep_path: HashMap<&'a str, &'a PlannedPackage>,
    vstore: &'a Path,
}

impl<'a> PackageIndex<'a> {
    pub(crate) fn new(plan: &'a LinkPlan) -> Self {
        PackageIndex {
            by_dep_path: plan
                .packages
                .iter()
                .map(|p| (p.dep_path.as_str(), p))
                .collect(),
            vstore: &plan.virtual_store_dir,
        }
    }

    pub(crate) fn get(&self, dep_path: &str) -> Option<&'a PlannedPackage> {
        self.by_dep_path.get(dep_path).copied()
    }

    /// The directory an edge points at.
    pub(crate) fn resolve(&self, from: &str, target: &ChildTarget) -> Result<PathBuf, LinkError> {
        match target {
            ChildTarget::Link(dir) => Ok(dir.clone()),
            ChildTarget::DepPath(dep_path) => match self.get(dep_path) {
                Some(pkg) => Ok(crate::plan::package_dir_in(self.vstore, pkg)),
                None => Err(LinkError::UnknownDepPath {
                    from: from.to_string(),
                    dep_path: dep_path.clone(),
                }),
            },
        }
    }
}

/// Links every child of `pkg` into `<vs>/<dir>/node_modules/<alias>`. A child whose alias is
/// the package's own name is not linked: that slot is the package itself, which is where
/// `require(<own name>)` resolves. With `prune`, symlinks for children that are gone are
/// removed.
pub(crate) fn link_children(
    plan: &LinkPlan,
    index: &PackageIndex<'_>,
    pkg: &PlannedPackage,
    prune: bool,
) -> Result<(), LinkError> {
    let targets = resolved_children(index, pkg)?;
    make_child_links(plan, pkg, &targets)?;
    if prune {
        let mut wanted: HashSet<&str> = targets.iter().map(|(alias, _)| *alias).collect();
        wanted.insert(pkg.name.as_str());
        let modules = plan.slot_modules_dir(pkg);
        remove_unwanted_links(&modules, &pkg.dep_path, |alias| wanted.contains(alias))?;
    }
    Ok(())
}

/// `pkg`'s children as `(alias, target dir)`, its own name left out; fails on an invalid
/// alias or an unknown dep path.
fn resolved_children<'p>(
    index: &PackageIndex<'_>,
    pkg: &'p PlannedPackage,
) -> Result<Vec<(&'p str, PathBuf)>, LinkError> {
    let mut targets = Vec::with_capacity(pkg.children.len());
    for (alias, target) in &pkg.children {
        check_package_name(&pkg.dep_path, "alias", alias)?;
        if alias != &pkg.name {
            targets.push((alias.as_str(), index.resolve(&pkg.dep_path, target)?));
        }
    }
    Ok(targets)
}

/// Makes (or leaves, when already right) one symlink per `(alias, target dir)`.
fn make_child_links<A: AsRef<str>>(
    plan: &LinkPlan,
    pkg: &PlannedPackage,
    targets: &[(A, PathBuf)],
) -> Result<(), LinkError> {
    let modules = plan.slot_modules_dir(pkg);
    for (alias, dir) in targets {
        tack_fs::symlink_dir(dir, &modules.join(alias.as_ref()))
            .map_err(|e| LinkError::fs(&pkg.dep_path, e))?;
    }
    Ok(())
}

/// Every package's child links with their targets resolved up front, so an import thread
/// can make a package's links right after its files: the symlinks then share the import
/// threads' time instead of running as a phase of their own after the last import.
///
/// Edges are resolved to package indexes, not paths: this runs before the first import,
/// and building a target path per edge (about 3.5k for 900 packages) there kept both cores
/// waiting; each import thread builds the paths of its own package's links.
#[derive(Debug, Default)]
pub struct ChildLinks {
    /// Per package of the plan (same order): `(edge, target)`, the edge an index into the
    /// package's `children`, its own name excluded.
    targets: Vec<Vec<(usize, LinkTarget)>>,
}

/// Where a child link points.
#[derive(Debug)]
enum LinkTarget {
    /// The package dir of the plan's package at this index.
    Package(usize),
    /// A `link:` target or a workspace project.
    Dir(PathBuf),
}

impl ChildLinks {
    /// Resolves every edge of `plan`; fails on an invalid alias or an unknown dep path, as
    /// linking would.
    pub fn new(plan: &LinkPlan) -> Result<ChildLinks, LinkError> {
        let index = plan.indexes_by_dep_path();
        let targets = plan
            .packages
            .iter()
            .map(|pkg| {
                let mut targets = Vec::with_capacity(pkg.children.len());
                for (edge, (alias, target)) in pkg.children.iter().enumerate() {
                    check_package_name(&pkg.dep_path, "alias", alias)?;
                    if alias == &pkg.name {
                        continue;
                    }
                    let target = match target {
                        ChildTarget::Link(dir) => LinkTarget::Dir(dir.clone()),
                        ChildTarget::DepPath(dep_path) => match index.get(dep_path.as_str()) {
                            Some(&j) => LinkTarget::Package(j),
                            None => {
                                return Err(LinkError::UnknownDepPath {
                                    from: pkg.dep_path.clone(),
                                    dep_path: dep_path.clone(),
                                })
                            }
                        },
                    };
                    targets.push((edge, target));
                }
                Ok(targets)
            })
            .collect::<Result<_, LinkError>>()?;
        Ok(ChildLinks { targets })
    }

    /// Links the children of the plan's package `i` into its slot, which the caller has
    /// just created (so there are no stale links to prune).
    ///
    /// The links are made relative to the open `<slot>/node_modules`, so the kernel walks one
    /// component per link instead of the whole path; anything unusual (an entry in the way,
    /// a relative store path, an error) goes the general way ([`tack_fs::symlink_dir`]).
    pub fn link_fresh(&self, plan: &LinkPlan, i: usize) -> Result<(), LinkError> {
        let (Some(pkg), Some(targets)) = (plan.packages.get(i), self.targets.get(i)) else {
            return Ok(());
        };
        let links = targets.iter().filter_map(|(edge, target)| {
            let alias = pkg.children.get(*edge)?.0.as_str();
            Some((alias, target))
        });
        let modules = plan.slot_modules_dir(pkg);
        let fd = (modules.is_absolute() && !targets.is_empty())
            .then(|| tack_fs::DirFd::open(&modules).ok())
            .flatten();
        let Some(fd) = fd else {
            let links: Vec<(&str, PathBuf)> = links
                .filter_map(|(a, t)| Some((a, target_dir(plan, t)?.into_owned())))
                .collect();
            return make_child_links(plan, pkg, &links);
        };
        for (alias, target) in links {
            // A sibling slot's package: its link text follows from the two slots' names.
            let sibling = match target {
                LinkTarget::Package(j) => plan
                    .packages
                    .get(*j)
                    .and_then(|child| sibling_link_text(alias, &pkg.dir_name, child)),
                LinkTarget::Dir(_) => None,
            };
            let linked = match &sibling {
                Some(text) => link_child_at(&fd, alias, Path::new(text)),
                None => match target_dir(plan, target) {
                    Some(dir) if dir.is_absolute() => {
                        let scope = alias.split_once('/').map(|(scope, _)| scope);
                        let parent = match scope {
                            Some(scope) => std::borrow::Cow::Owned(modules.join(scope)),
                            None => std::borrow::Cow::Borrowed(modules.as_path()),
                        };
                        link_child_at(&fd, alias, &tack_fs::relative_path(&parent, &dir))
                    }
                    _ => false,
                },
            };
            if !linked {
                let Some(dir) = target_dir(plan, target) else {
                    continue;
                };
                tack_fs::symlink_dir(&dir, &modules.join(alias))
                    .map_err(|e| LinkError::fs(&pkg.dep_path, e))?;
            }
        }
        Ok(())
    }
}

impl ChildLinks {
    /// [`ChildLinks::link_fresh`] for a slot that was there before this import (a `file:`
    /// directory imported again, a package repaired): the links of children the package no
    /// longer has (its `package.json` or the lockfile dropped them) are removed too.
    pub fn link_again(&self, plan: &LinkPlan, i: usize) -> Result<(), LinkError> {
        self.link_fresh(plan, i)?;
        let Some(pkg) = plan.packages.get(i) else {
            return Ok(());
        };
        let wanted: HashSet<&str> = pkg
            .children
            .iter()
            .map(|(alias, _)| alias.as_str())
            .collect();
        remove_unwanted_links(&plan.slot_modules_dir(pkg), &pkg.dep_path, |alias| {
            alias == pkg.name || wanted.contains(alias)
        })?;
        Ok(())
    }
}

/// Where a child link points.
fn target_dir<'t>(plan: &LinkPlan, target: &'t LinkTarget) -> Option<std::borrow::Cow<'t, Path>> {
    Some(match target {
        LinkTarget::Package(j) => std::borrow::Cow::Owned(crate::plan::package_dir_in(
            &plan.virtual_store_dir,
            plan.packages.get(*j)?,
        )),
        LinkTarget::Dir(dir) => std::borrow::Cow::Borrowed(dir.as_path()),
    })
}

/// The text of the link `<vs>/<from_slot>/node_modules/<alias>` to the package dir of
/// `child` (`<vs>/<its slot>/node_modules/<its name>`): up out of the `node_modules` (and the
/// alias's scope) and the slot, then down into the other slot. It is what
/// [`tack_fs::relative_path`] gives for the two paths, without walking them; `None` when
/// the slots are one (the link then stays inside it) or a slot name is not one plain
/// component.
fn sibling_link_text(alias: &str, from_slot: &str, child: &PlannedPackage) -> Option<String> {
    let plain = |slot: &str| !slot.is_empty() && slot != "." && slot != ".." && !slot.contains('/');
    if from_slot == child.dir_name || !plain(from_slot) || !plain(&child.dir_name) {
        return None;
    }
    let up = if alias.contains('/') {
        "../../../"
    } else {
        "../../"
    };
    let parts = [
        up,
        child.dir_name.as_str(),
        "/node_modules/",
        child.name.as_str(),
    ];
    let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        text.push_str(part);
    }
    Some(text)
}

/// Makes the link `<modules>/<alias>` with the relative `text`, relative to `fd` (open on
/// `modules`), making the alias's scope dir first when it is the scope's first link;
/// `false` when it did not.
fn link_child_at(fd: &tack_fs::DirFd, alias: &str, text: &Path) -> bool {
    match fd.symlink(text, Path::new(alias)) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match alias.split_once('/') {
            // The first child of this scope: make its dir, then the link.
            Some((scope, _)) => {
                let made = fd.mkdir(Path::new(scope));
                let exists =
                    matches!(&made, Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists);
                (made.is_ok() || exists) && fd.symlink(text, Path::new(alias)).is_ok()
            }
            None => false,
        },
        Err(_) => false,
    }
}

/// Removes every symlink in `modules` (and its `@scope` dirs) whose alias `keep` rejects.
/// Dot entries (`.bin`, `.pnpm`, state files) are never touched.
pub(crate) fn remove_unwanted_links(
    modules: &Path,
    package: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<usize, LinkError> {
    let mut removed = 0;
    for (alias, path, is_link) in list_entries(modules, package)? {
        if is_link && !keep(&alias) {
            remove_link(&path, package)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// `(alias, path, is_symlink)` for every non-dot entry of a modules dir, scoped ones expanded.
pub(crate) fn list_entries(
    modules: &Path,
    package: &str,
) -> Result<Vec<(String, PathBuf, bool)>, LinkError> {
    let mut out = Vec::new();
    for (name, path, ty) in read_dir_typed(modules, package)? {
        if name.starts_with('.') {
            continue;
        }
        if name.starts_with('@') && ty.is_dir() {
            for (sub, sub_path, sub_ty) in read_dir_typed(&path, package)? {
                out.push((format!("{name}/{sub}"), sub_path, sub_ty.is_symlink()));
            }
        } else {
            out.push((name, path, ty.is_symlink()));
        }
    }
    Ok(out)
}

fn read_dir_typed(
    dir: &Path,
    package: &str,
) -> Result<Vec<(String, PathBuf, std::fs::FileType)>, LinkError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LinkError::io("read directory", dir, package, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| LinkError::io("read directory", dir, package, e))?;
        let path = entry.path();
        let ty = entry
            .file_type()
            .map_err(|e| LinkError::io("stat", &path, package, e))?;
        if let Some(name) = entry.file_name().to_str() {
            out.push((name.to_string(), path, ty));
        }
    }
    Ok(out)
}

/// Removes a symlink; an empty `@scope` parent left behind is removed too.
pub(crate) fn remove_link(path: &Path, package: &str) -> Result<(), LinkError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(LinkError::io("remove link", path, package, e)),
    }
    if let Some(parent) = path.parent() {
        let scoped = parent
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('@'));
        if scoped {
            // Fails harmlessly when the scope still holds other entries.
            let _ = std::fs::remove_dir(parent);
        }
    }
    Ok(())
}

#[cfg(test)]
mod sibling_tests {
    use super::sibling_link_text;
    use crate::plan::{PackageFiles, PlannedPackage};
    use std::path::Path;

    fn package(dir_name: &str, name: &str) -> PlannedPackage {
        PlannedPackage {
            dep_path: format!("{name}@1.0.0"),
            dir_name: dir_name.to_string(),
            name: name.to_string(),
            version: "1.0.0".to_string(),
            files: PackageFiles::Cas(Vec::new()),
            children: Vec::new(),
            has_bin: false,
            has_bundled_dependencies: false,
            unlinked_optional_children: Vec::new(),
            force_copy: false,
        }
    }

    /// The same text as `relative_path` between the two paths, for plain and scoped aliases
    /// and names, slot names that share a beginning, and virtual stores that need
    /// normalizing; no text for a link within one slot.
    #[test]
    fn a_sibling_slots_link_is_what_relative_path_gives() {
        let slots = ["a@1.0.0", "a@1.0.0_b@2.0.0", "@s+x@1.0.0", "ab@1.0.0"];
        let names = ["a", "x", "@s/x"];
        let aliases = ["a", "y", "@s/x", "@t/z"];
        for vs in [
            "/p/node_modules/.pnpm",
            "/p/./q//node_modules/.pnpm",
            "/.pnpm",
        ] {
            for from in slots {
                for to in slots {
                    for name in names {
                        for alias in aliases {
                            let child = package(to, name);
                            let got = sibling_link_text(alias, from, &child);
                            if from == to {
                                assert_eq!(got, None);
                                continue;
                            }
                            let modules = Path::new(vs).join(from).join("node_modules");
                            let parent = match alias.split_once('/') {
                                Some((scope, _)) => modules.join(scope),
                                None => modules,
                            };
                            let dir = crate::plan::package_dir_in(Path::new(vs), &child);
                            let want = tack_fs::relative_path(&parent, &dir);
                            assert_eq!(got.as_deref().map(Path::new), Some(want.as_path()));
                        }
                    }
                }
            }
        }
        assert_eq!(sibling_link_text("a", "..", &package("b@1.0.0", "b")), None);
    }
}
