//! The last step of a `nodeLinker: hoisted` install, once every package is in its first
//! directory: the further copies of packages placed more than once, the projects' `link:`
//! dependencies, one `.bin` per `node_modules` that holds packages with commands; what the
//! state files need (`.modules.yaml` with `hoistedLocations`, `.pnpm/lock.yaml`) is kept for
//! [`crate::write_state`], once the builds are done.
//!
//! There are no package symlinks and no virtual store in this layout: Node finds each
//! package by walking up the directories, as in an npm tree.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::bins::{
    bundled_commands, commands_of, make_executable, read_commands, resolve_conflicts,
    write_bin_dir, BinCommand, BinDirState, ShimNodePaths,
};
use crate::error::LinkError;
use crate::hoist::{HoistKind, Hoisted};
use crate::import::{clear_except_modules, ImportOutcome, PackageImporter, COMPLETION_MARKER};
use crate::link::{link_direct_dep, ImportSummary, LinkReport, PendingState};
use crate::modules_yaml::ModulesYaml;
use crate::names::check_package_name;
use crate::plan::{ChildTarget, HoistedLayout, LinkPlan};
use tack_config::Matcher;

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
    // A further directory is made again when its first one was imported by this install,
    // or when it is not complete (cleared before the imports, or never made).
    // Those the import threads made already ([`FurtherDirs`]) count, and are not made again.
    let made: HashSet<PathBuf> = summary
        .further_dirs
        .as_ref()
        .map(|further| further.made())
        .unwrap_or_default();
    let reused =
        |i: usize| summary.outcomes.get(&plan.packages[i].dep_path) == Some(&ImportOutcome::Reused);
    report.copies = layout
        .more_dirs
        .iter()
        .filter(|(i, dir)| {
            made.contains(dir) || !(reused(*i) && dir.join(COMPLETION_MARKER).is_file())
        })
        .cloned()
        .collect();
    let again: HashSet<&Path> = report
        .copies
        .iter()
        .map(|(_, dir)| dir.as_path())
        .filter(|dir| !made.contains(*dir))
        .collect();
    copy_to_more_dirs(plan, layout, &|i, dir| {
        again.contains(dir).then_some(plan.packages[i].force_copy)
    })?;
    for importer in &plan.importers {
        let modules = importer.dir.join(&plan.modules_dir_name);
        for dep in &importer.deps {
            if let ChildTarget::Link(target) = &dep.target {
                link_direct_dep(target, &modules.join(&dep.alias), &importer.id)?;
            }
        }
    }
    let projects = link_workspace_projects(plan, layout, old_modules.as_ref())?;
    report.warnings = link_hoisted_bins(plan, layout, &projects)?;
    report.hoisted = projects;
    report.state = PendingState {
        pruned: true,
        old_modules,
    };
    Ok(report)
}

/// The workspace projects pnpm 12 links into the root `node_modules` (`hoistWorkspacePackages`):
/// each named project whose name a hoisting pattern matches and whose place there no package
/// and no direct dependency of the root takes, in the order of their ids. A link of the
/// last install that is no longer wanted goes.
pub(crate) fn workspace_projects_in_root(plan: &LinkPlan, layout: &HoistedLayout) -> Vec<Hoisted> {
    if !plan.hoist_workspace_packages {
        return Vec::new();
    }
    let public = Matcher::new(plan.public_hoist_pattern.as_deref().unwrap_or_default());
    let private = Matcher::new(&plan.hoist_pattern);
    let root_modules = plan.root_modules_dir();
    let mut taken: HashSet<PathBuf> = layout
        .all_dirs()
        .map(|(_, dir)| dir.to_path_buf())
        .filter(|dir| modules_dir_of(dir) == Some(root_modules.as_path()))
        .collect();
    taken.extend(
        plan.importers
            .iter()
            .filter(|importer| importer.id == ".")
            .flat_map(|importer| importer.deps.iter())
            .map(|dep| root_modules.join(&dep.alias)),
    );
    let projects = plan.named_workspace_projects();
    let mut linked = Vec::new();
    for (id, name, dir) in projects {
        let kind = if private.matches(name) {
            HoistKind::Private
        } else if public.matches(name) {
            HoistKind::Public
        } else {
            continue;
        };
        if !taken.insert(root_modules.join(name)) {
            continue;
        }
        linked.push(Hoisted {
            alias: name.to_string(),
            target: ChildTarget::Link(dir.to_path_buf()),
            key: id.to_string(),
            kind,
        });
    }
    linked
}

/// Makes the links of [`workspace_projects_in_root`] and removes the last install's others.
fn link_workspace_projects(
    plan: &LinkPlan,
    layout: &HoistedLayout,
    old_modules: Option<&ModulesYaml>,
) -> Result<Vec<Hoisted>, LinkError> {
    let root_modules = plan.root_modules_dir();
    let linked = workspace_projects_in_root(plan, layout);
    let now: HashSet<&str> = linked.iter().map(|h| h.alias.as_str()).collect();
    let recorded = old_modules
        .filter(|old| old.node_linker.as_deref() == Some("hoisted"))
        .map(|old| &old.hoisted_dependencies);
    for aliases in recorded.into_iter().flat_map(|deps| deps.values()) {
        for alias in aliases.as_object().into_iter().flat_map(|m| m.keys()) {
            let path = root_modules.join(alias);
            let is_link =
                std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
            let safe = check_package_name(alias, "hoisted alias", alias).is_ok();
            if !now.contains(alias.as_str()) && is_link && safe {
                std::fs::remove_file(&path)
                    .map_err(|e| LinkError::io("remove", &path, alias, e))?;
            }
        }
    }
    for project in &linked {
        if let ChildTarget::Link(dir) = &project.target {
            link_direct_dep(dir, &root_modules.join(&project.alias), &project.key)?;
        }
    }
    Ok(linked)
}

/// Makes each further directory of a package a copy of its first: hard links to the same
/// files, or copies (`Some(true)`) for a package that builds. `which` says, per package
/// index and further directory, whether to copy it (`None`: leave it alone) and how.
pub(crate) fn copy_to_more_dirs(
    plan: &LinkPlan,
    layout: &HoistedLayout,
    which: &(dyn Fn(usize, &Path) -> Option<bool> + Sync),
) -> Result<(), LinkError> {
    let importer = PackageImporter::for_plan(plan);
    layout.more_dirs.par_iter().try_for_each(|(i, dir)| {
        let (Some(pkg), Some(first)) = (plan.packages.get(*i), layout.dirs.get(*i)) else {
            return Ok(());
        };
        match which(*i, dir) {
            Some(copy) => replicate(first, dir, copy, &importer, &pkg.dep_path),
            None => Ok(()),
        }
    })
}

/// The further directories of packages placed more than once, made by the import thread that
/// put the package in its first directory, while the other threads still import: on the
/// single-threaded tail after the last import they took 3-4 ms of a warm install of the
/// medium fixture (19 directories). [`finish_hoisted`] makes the ones left.
#[derive(Debug)]
pub struct FurtherDirs {
    /// Package index → its further directories.
    by_package: HashMap<usize, Vec<PathBuf>>,
    importer: PackageImporter,
    made: std::sync::Mutex<Vec<PathBuf>>,
}

impl FurtherDirs {
    /// `None` when `plan` is not in the hoisted layout or places no package twice.
    pub fn for_plan(plan: &LinkPlan) -> Option<Self> {
        let layout = plan.hoisted.as_ref()?;
        if layout.more_dirs.is_empty() {
            return None;
        }
        let mut by_package: HashMap<usize, Vec<PathBuf>> = HashMap::new();
        for (i, dir) in &layout.more_dirs {
            by_package.entry(*i).or_default().push(dir.clone());
        }
        Some(FurtherDirs {
            by_package,
            importer: PackageImporter::for_plan(plan),
            made: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Package `i` is complete in its first directory (`fresh`: imported by this install):
    /// each further directory becomes a copy of it, unless the package was reused and the
    /// directory is complete, as [`finish_hoisted`] decides.
    pub fn package_in_place(
        &self,
        plan: &LinkPlan,
        i: usize,
        fresh: bool,
    ) -> Result<(), LinkError> {
        let (Some(dirs), Some(layout)) = (self.by_package.get(&i), plan.hoisted.as_ref()) else {
            return Ok(());
        };
        let (Some(pkg), Some(first)) = (plan.packages.get(i), layout.dirs.get(i)) else {
            return Ok(());
        };
        for dir in dirs {
            if !fresh && dir.join(COMPLETION_MARKER).is_file() {
                continue;
            }
            replicate(first, dir, pkg.force_copy, &self.importer, &pkg.dep_path)?;
            self.made
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(dir.clone());
        }
        Ok(())
    }

    fn made(&self) -> HashSet<PathBuf> {
        let made = self
            .made
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        made.iter().cloned().collect()
    }
}

/// After the builds: the further directories of the packages `built` names take a copy of
/// the built first directory (pnpm 12 builds a package once and copies the result).
pub fn copy_built_packages(
    plan: &LinkPlan,
    built: &(dyn Fn(usize) -> bool + Sync),
) -> Result<(), LinkError> {
    match &plan.hoisted {
        Some(layout) => copy_to_more_dirs(plan, layout, &|i, _| built(i).then_some(true)),
        None => Ok(()),
    }
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
    if copy {
        // What a build left in its own `node_modules` (its `TMPDIR`, `.tmp`) goes along, as
        // pnpm 12 copies it; the packages placed there and the `.bin` are the layout's.
        let modules = src.join("node_modules");
        let rel_modules = Path::new("node_modules");
        let entries = match std::fs::read_dir(&modules) {
            Ok(entries) => entries.collect::<Result<Vec<_>, _>>(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
        .map_err(|e| LinkError::io("read directory", &modules, package, e))?;
        let mut hidden: Vec<_> = entries
            .into_iter()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.') && e.file_name() != ".bin")
            .collect();
        hidden.sort_by_key(|e| e.file_name());
        for entry in hidden {
            let rel = rel_modules.join(entry.file_name());
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                files.push((rel_modules.to_path_buf(), Entry::Dir));
                files.push((rel.clone(), Entry::Dir));
                collect_files(&entry.path(), &rel, false, &mut files)
                    .map_err(|e| LinkError::io("read directory", entry.path(), package, e))?;
            } else {
                files.push((rel_modules.to_path_buf(), Entry::Dir));
                files.push((rel, Entry::File));
            }
        }
    }
    // Stable: parents stay before their children.
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
pub(crate) fn link_hoisted_bins(
    plan: &LinkPlan,
    layout: &HoistedLayout,
    projects_in_root: &[Hoisted],
) -> Result<Vec<String>, LinkError> {
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
            // Made executable below, only those a `.bin` lists.
            let cmds = read_commands(
                &pkg.dep_path,
                dir,
                Some(dir.join("node_modules")),
                false,
                &mut warnings,
            )?;
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
    // What a package ships in its own `node_modules` (its bundled dependencies) is listed in
    // that directory's `.bin`, beside anything the layout placed there, as pnpm 12 lists it.
    for (i, dir) in layout.all_dirs() {
        if plan
            .packages
            .get(i)
            .is_some_and(|p| p.has_bundled_dependencies)
        {
            let cmds = bundled_commands(&plan.packages[i].dep_path, dir, false, &mut warnings)?;
            if !cmds.is_empty() {
                let modules = dir.join("node_modules");
                by_modules
                    .entry(modules.clone())
                    .or_default()
                    .push((modules, cmds));
            }
        }
    }
    // Every modules dir that may hold a `.bin`: the projects', those with packages, and
    // those inside placed packages whose packages went away (their `.bin` is emptied).
    for importer in &plan.importers {
        by_modules
            .entry(importer.dir.join(&plan.modules_dir_name))
            .or_default();
    }
    // One stat per placed package (4-5 ms for the medium fixture, on the tail), needed only
    // over a tree that was there before.
    let emptied: Vec<PathBuf> = if layout.fresh {
        Vec::new()
    } else {
        layout
            .all_dirs()
            .map(|(_, dir)| dir.join("node_modules"))
            .filter(|modules| !by_modules.contains_key(modules) && modules.join(".bin").is_dir())
            .collect()
    };
    for modules in emptied {
        by_modules.entry(modules).or_default();
    }
    let root_modules = plan.root_modules_dir();
    let mut link_cmds: HashMap<PathBuf, Vec<BinCommand>> = HashMap::new();
    let links = plan
        .importers
        .iter()
        .flat_map(|importer| importer.deps.iter().map(|dep| &dep.target))
        .chain(projects_in_root.iter().map(|project| &project.target));
    for target in links {
        if let ChildTarget::Link(target) = target {
            if !link_cmds.contains_key(target) {
                let cmds = commands_of(&target.to_string_lossy(), target, None, &mut warnings)?;
                link_cmds.insert(target.clone(), cmds);
            }
        }
    }
    let node_paths = ShimNodePaths {
        own_modules: None,
        hoisted: None,
        symlinks: plan.prefer_symlinked_executables,
        shim_projects: true,
        absolute_outside: None,
    };
    by_modules.par_iter().try_for_each(|(modules, packages)| {
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
            let tier = if direct.contains(dir) {
                &mut first
            } else {
                &mut rest
            };
            tier.extend(cmds.iter());
        }
        if let Some(importer) = importer {
            for dep in &importer.deps {
                if let ChildTarget::Link(target) = &dep.target {
                    first.extend(link_cmds.get(target).into_iter().flatten());
                }
            }
        }
        // The workspace projects linked into the root come last: a package there wins.
        let mut projects: Vec<&BinCommand> = Vec::new();
        if *modules == root_modules {
            for project in projects_in_root {
                if let ChildTarget::Link(dir) = &project.target {
                    projects.extend(link_cmds.get(dir).into_iter().flatten());
                }
            }
        }
        let chosen = resolve_conflicts(&[first, rest, projects]);
        make_executable(&chosen)?;
        let bin_dir = modules.join(".bin");
        if chosen.is_empty() && !bin_dir.exists() {
            return Ok(());
        }
        write_bin_dir(&bin_dir, &chosen, node_paths, true, BinDirState::MayExist).map(|_| ())
    })?;
    Ok(warnings)
}
