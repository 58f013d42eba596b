//! The last step of a `nodeLinker: hoisted` install, once every package is in its first
//! directory: the further copies of packages placed more than once, the projects' `link:`
//! dependencies, one `.bin` per `node_modules` that holds packages with commands, and the
//! state files (`.modules.yaml` with `hoistedLocations`, `.pnpm/lock.yaml`).
//!
//! There are no package symlinks and no virtual store in this layout: Node finds each
//! package by walking up the directories, as in an npm tree.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::bins::{commands_of, resolve_conflicts, write_bin_dir, BinCommand, BinDirState, ShimNodePaths};
use crate::error::LinkError;
use crate::import::{clear_except_modules, ImportOutcome, PackageImporter, COMPLETION_MARKER};
use crate::link::{link_direct_dep, write_state_files, ImportSummary, LinkReport};
use crate::plan::{ChildTarget, HoistedLayout, LinkPlan};

/// [`crate::finish`] for the hoisted layout.
pub(crate) fn finish_hoisted(
    plan: &LinkPlan,
    layout: &HoistedLayout,
    summary: &ImportSummary,
) -> Result<LinkReport, LinkError> {
    let mut report = LinkReport::default();
    for outcome in summary.outcomes.values() {
        match outcome {
            ImportOutcome::Imported => report.imported += 1,
            ImportOutcome::Repaired => report.repaired += 1,
            ImportOutcome::Reused => report.reused += 1,
        }
    }
    let old_modules = crate::modules_yaml::read_modules_yaml(&plan.root_modules_dir());
    copy_to_more_dirs(plan, layout, &|_| true)?;
    for importer in &plan.importers {
        let modules = importer.dir.join(&plan.modules_dir_name);
        for dep in &importer.deps {
            if let ChildTarget::Link(target) = &dep.target {
                link_direct_dep(target, &modules.join(&dep.alias), &importer.id)?;
            }
        }
    }
    report.warnings = link_hoisted_bins(plan, layout)?;
    write_state_files(plan, &[], true, old_modules.as_ref())?;
    Ok(report)
}

/// Makes each further directory of a package a copy of its first: hard links to the same
/// files, or copies for a package that builds (its first directory is built, and the copies
/// take its result). `which` picks the packages (by index) to copy again.
pub(crate) fn copy_to_more_dirs(
    plan: &LinkPlan,
    layout: &HoistedLayout,
    which: &(dyn Fn(usize) -> bool + Sync),
) -> Result<(), LinkError> {
    let importer = PackageImporter::for_plan(plan);
    layout
        .more_dirs
        .par_iter()
        .filter(|(i, _)| which(*i))
        .try_for_each(|(i, dir)| {
            let (Some(pkg), Some(first)) = (plan.packages.get(*i), layout.dirs.get(*i)) else {
                return Ok(());
            };
            replicate(first, dir, pkg.force_copy, &importer, &pkg.dep_path)
        })
}

/// `dst` becomes a copy of the package at `src` (its own `node_modules` left out on both
/// sides), `package.json` last so that an interrupted copy does not look complete.
fn replicate(
    src: &Path,
    dst: &Path,
    copy: bool,
    importer: &PackageImporter,
    package: &str,
) -> Result<(), LinkError> {
    match clear_except_modules(dst) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dst)
                .map_err(|e| LinkError::io("create directory", dst, package, e))?;
        }
        Err(e) => return Err(LinkError::io("clear", dst, package, e)),
    }
    let mut files = Vec::new();
    collect_files(src, Path::new(""), true, &mut files)
        .map_err(|e| LinkError::io("read directory", src, package, e))?;
    files.sort_by_key(|(rel, _)| rel == Path::new(COMPLETION_MARKER));
    for (rel, kind) in files {
        let (from, to) = (src.join(&rel), dst.join(&rel));
        match kind {
            Entry::Dir => std::fs::create_dir_all(&to)
                .map_err(|e| LinkError::io("create directory", &to, package, e))?,
            Entry::Symlink => {
                let target = std::fs::read_link(&from)
                    .map_err(|e| LinkError::io("read link", &from, package, e))?;
                std::os::unix::fs::symlink(&target, &to)
                    .map_err(|e| LinkError::io("symlink", &to, package, e))?;
            }
            Entry::File => importer
                .import_for_copy(copy, &from, &to)
                .map_err(|e| LinkError::fs(package, e))?,
        }
    }
    Ok(())
}

enum Entry {
    Dir,
    File,
    Symlink,
}

/// Every entry below `dir`, parents before children; `node_modules` at the top is skipped.
fn collect_files(
    dir: &Path,
    rel: &Path,
    top: bool,
    out: &mut Vec<(PathBuf, Entry)>,
) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if top && name == "node_modules" {
            continue;
        }
        let rel = rel.join(&name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            out.push((rel.clone(), Entry::Dir));
            collect_files(&entry.path(), &rel, false, out)?;
        } else if kind.is_symlink() {
            out.push((rel, Entry::Symlink));
        } else {
            out.push((rel, Entry::File));
        }
    }
    Ok(())
}

/// The `node_modules` directory that holds the package directory `dir`
/// (`…/node_modules/<name>` or `…/node_modules/@scope/<name>`).
fn modules_dir_of(dir: &Path) -> Option<&Path> {
    let parent = dir.parent()?;
    let scoped = parent
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('@'));
    if scoped {
        parent.parent()
    } else {
        Some(parent)
    }
}

/// One `.bin` per `node_modules` of the layout, listing the commands of the packages
/// directly in it; in a project's own `node_modules`, the project's direct dependencies
/// (and its `link:` ones) win a command name over the packages hoisted there.
pub(crate) fn link_hoisted_bins(plan: &LinkPlan, layout: &HoistedLayout) -> Result<Vec<String>, LinkError> {
    // The commands of each placed package with bins, read once per directory.
    let with_bins: Vec<(usize, &Path)> = layout
        .all_dirs()
        .filter(|(i, _)| plan.packages.get(*i).is_some_and(|p| p.has_bin))
        .collect();
    let read: Vec<(PathBuf, PathBuf, Vec<BinCommand>, Vec<String>)> = with_bins
        .par_iter()
        .map(|(i, dir)| {
            let mut warnings = Vec::new();
            let pkg = &plan.packages[*i];
            let cmds = commands_of(&pkg.dep_path, dir, Some(dir.join("node_modules")), &mut warnings)?;
            let modules = modules_dir_of(dir).unwrap_or(dir).to_path_buf();
            Ok((modules, dir.to_path_buf(), cmds, warnings))
        })
        .collect::<Result<_, LinkError>>()?;
    let mut warnings = Vec::new();
    // modules dir → package dir → commands.
    let mut by_modules: BTreeMap<PathBuf, Vec<(PathBuf, Vec<BinCommand>)>> = BTreeMap::new();
    for (modules, dir, cmds, own_warnings) in read {
        warnings.extend(own_warnings);
        by_modules.entry(modules).or_default().push((dir, cmds));
    }
    // Every modules dir that may hold a `.bin`: the projects' and those with packages.
    for importer in &plan.importers {
        by_modules
            .entry(importer.dir.join(&plan.modules_dir_name))
            .or_default();
    }
    let mut link_cmds: HashMap<PathBuf, Vec<BinCommand>> = HashMap::new();
    for importer in &plan.importers {
        for dep in &importer.deps {
            if let ChildTarget::Link(target) = &dep.target {
                if !link_cmds.contains_key(target) {
                    let cmds = commands_of(&target.to_string_lossy(), target, None, &mut warnings)?;
                    link_cmds.insert(target.clone(), cmds);
                }
            }
        }
    }
    let node_paths = ShimNodePaths {
        own_modules: None,
        hoisted: None,
        symlinks: plan.prefer_symlinked_executables,
    };
    by_modules
        .par_iter()
        .try_for_each(|(modules, packages)| {
            let importer = plan
                .importers
                .iter()
                .find(|imp| imp.dir.join(&plan.modules_dir_name) == *modules);
            let direct: HashSet<PathBuf> = importer
                .map(|imp| imp.deps.iter().map(|d| modules.join(&d.alias)).collect())
                .unwrap_or_default();
            let mut first: Vec<&BinCommand> = Vec::new();
            let mut rest: Vec<&BinCommand> = Vec::new();
            for (dir, cmds) in packages {
                let tier = if direct.contains(dir) { &mut first } else { &mut rest };
                tier.extend(cmds.iter());
            }
            if let Some(importer) = importer {
                for dep in &importer.deps {
                    if let ChildTarget::Link(target) = &dep.target {
                        first.extend(link_cmds.get(target).into_iter().flatten());
                    }
                }
            }
            let chosen = resolve_conflicts(&[first, rest]);
            let bin_dir = modules.join(".bin");
            if chosen.is_empty() && !bin_dir.exists() {
                return Ok(());
            }
            write_bin_dir(&bin_dir, &chosen, node_paths, true, BinDirState::MayExist).map(|_| ())
        })?;
    Ok(warnings)
}
