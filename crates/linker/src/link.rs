//! The whole link phase, in order: import packages (in parallel, or as the CLI streams
//! them in), remove packages that are gone, child symlinks, importer links, hoisting, bins,
//! then, once the dependencies are built, the state files ([`write_state`]).
//!
//! Every step is idempotent and checks before it writes, so re-linking an unchanged tree
//! writes nothing, and a tree left half-done by a crash is repaired by the next run. A tree
//! the last complete install built from the same lockfile is trusted as pnpm trusts it: its
//! reused packages' child links and its top-level links are not checked again (see
//! `trusted_tree.rs`), unless a project's link to a direct dependency no longer resolves
//! (see `direct_links.rs`).

use crate::bins::{
    bundled_commands, commands_of, prune_bin_dir, resolve_conflicts, through_missing_link,
    write_bin_dir, BinCommand, BinDirState, ShimNodePaths,
};
use crate::early_bins::EarlyBins;
use crate::error::LinkError;
use crate::hoist::{compute_hoisting, HoistKind, Hoisted};
use crate::import::{import_package, ImportOutcome, PackageImporter};
use crate::modules_yaml::{
    http_date, virtual_store_text, write_modules_yaml, ModulesYaml, LAYOUT_VERSION,
};
use crate::plan::{ChildTarget, LinkPlan, PlannedPackage};
use crate::symlinks::{link_children, list_entries, remove_link, PackageIndex};
use crate::trusted_tree::check_recorded_tree;
use crate::withdraw::EarlyTopLevel;
use crate::workspace_state::write_workspace_state;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What happened to each package's directory, keyed by dep path. The CLI fills it when it
/// imports packages itself as their files arrive ([`ImportSummary::record`]).
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    /// Dep path → outcome.
    pub outcomes: HashMap<String, ImportOutcome>,
    /// Dep paths whose child links the importer made already ([`crate::ChildLinks`]).
    pub children_linked: HashSet<String>,
    /// The hoisting, when the importer and hoisted links are made already
    /// ([`link_top_level`]).
    pub top_level_linked: Option<Vec<Hoisted>>,
    /// The packages' `.bin` directories written as the imports completed
    /// ([`EarlyBins::in_place`]); [`finish`] writes the rest.
    pub early_bins: Option<Arc<EarlyBins>>,
    /// The hoisted layout's further directories made as the imports completed
    /// ([`crate::FurtherDirs`]); [`finish`] makes the rest.
    pub further_dirs: Option<Arc<crate::FurtherDirs>>,
    /// The virtual store did not exist before this install, so nothing in it is stale
    /// ([`finish`] does not list it).
    pub virtual_store_created: bool,
    /// The tree is the one the last complete install built from the lockfile and layout this
    /// install records ([`crate::check_recorded_tree`]): the reused packages' child links and
    /// the top-level links are trusted.
    pub trusted_tree: bool,
}

impl ImportSummary {
    /// Records one package's outcome.
    pub fn record(&mut self, dep_path: impl Into<String>, outcome: ImportOutcome) {
        self.outcomes.insert(dep_path.into(), outcome);
    }

    /// Records that a package's child links are made.
    pub fn record_children_linked(&mut self, dep_path: impl Into<String>) {
        self.children_linked.insert(dep_path.into());
    }
}

/// What a link run did.
#[derive(Debug, Clone, Default)]
pub struct LinkReport {
    /// Packages imported into fresh directories.
    pub imported: usize,
    /// Partial directories wiped and imported again.
    pub repaired: usize,
    /// Complete directories left as they were.
    pub reused: usize,
    /// Virtual-store directories of packages no longer in the plan, removed.
    pub removed_packages: Vec<String>,
    /// The hoisted aliases, in order.
    pub hoisted: Vec<Hoisted>,
    /// Warnings to show the user (skipped bins, …).
    pub warnings: Vec<String>,
    /// Hoisted layout: the further directories of packages placed more than once that were
    /// made (as copies of the first) by this install, `(package index, dir)`.
    pub copies: Vec<(usize, PathBuf)>,
    /// The projects' direct dependencies whose link this run made or replaced, as
    /// `(importer id, alias)` (the isolated layout's, once the imports are done).
    pub linked_anew: Vec<(String, String)>,
    /// What [`write_state`] needs from the link run.
    pub(crate) state: PendingState,
}

/// What the state files need from the link run, kept for [`write_state`]: pnpm 12 records an
/// install (`.modules.yaml`, `.pnpm/lock.yaml`, the workspace state) only once its
/// dependencies are built and patched, before the projects' own scripts run. An install whose
/// build or patch failed leaves the last install's record as it was (none on a first install).
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingState {
    /// This install pruned the virtual store (or made it), so `prunedAt` is now.
    pub(crate) pruned: bool,
    /// The `.modules.yaml` the last install left, read before this one changed anything.
    pub(crate) old_modules: Option<ModulesYaml>,
}

/// The build step's outcome for `.modules.yaml`, where the plan's guess gives way to it.
#[derive(Debug, Clone, Copy)]
pub struct BuildOutcome<'a> {
    /// `ignoredBuilds`: builds refused by policy.
    pub ignored: &'a [String],
    /// `pendingBuilds`: builds still to run.
    pub pending: &'a [String],
}

/// Writes the state files of the link run `report` came from: `.modules.yaml` (with the
/// builds' `outcome`, or the plan's `ignored_builds` and `pending_builds` without one),
/// `.pnpm/lock.yaml` and the workspace state. Called once the dependencies are built (see
/// [`PendingState`]). `Some` is a warning for the user: the workspace state could not be
/// written.
pub fn write_state(
    plan: &LinkPlan,
    report: &LinkReport,
    outcome: Option<BuildOutcome<'_>>,
) -> Result<Option<String>, LinkError> {
    let state = &report.state;
    write_state_files(
        plan,
        &report.hoisted,
        state.pruned,
        state.old_modules.as_ref(),
        outcome,
    )
}

/// Links the whole plan: imports every package (in parallel), then [`finish`], then the state
/// files ([`write_state`]; no builds run here).
pub fn link(plan: &LinkPlan) -> Result<LinkReport, LinkError> {
    let wanted = plan.current_lockfile_yaml.get().map(String::as_str);
    let recorded = std::fs::read(plan.current_lockfile_path()).ok();
    let trusted_tree = check_recorded_tree(plan, wanted, recorded.as_deref())?;
    let importer = PackageImporter::for_plan(plan);
    let mut summary = import_all(plan, &importer)?;
    summary.trusted_tree = trusted_tree;
    let mut report = finish(plan, &summary)?;
    if let Some(warning) = write_state(plan, &report, None)? {
        report.warnings.push(warning);
    }
    Ok(report)
}

/// Imports every package of the plan in parallel.
pub fn import_all(plan: &LinkPlan, importer: &PackageImporter) -> Result<ImportSummary, LinkError> {
    let outcomes: Result<Vec<(String, ImportOutcome)>, LinkError> = plan
        .packages
        .par_iter()
        .map(|pkg| {
            import_package(pkg, &plan.virtual_store_dir, importer)
                .map(|o| (pkg.dep_path.clone(), o))
        })
        .collect();
    Ok(ImportSummary {
        outcomes: outcomes?.into_iter().collect(),
        children_linked: HashSet::new(),
        top_level_linked: None,
        early_bins: None,
        further_dirs: None,
        virtual_store_created: false,
        trusted_tree: false,
    })
}

/// Everything after importing: stale package removal, symlinks, hoisting, bins and state
/// files. Packages missing from `summary` are imported first (a cheap check when they are
/// already complete).
pub fn finish(plan: &LinkPlan, summary: &ImportSummary) -> Result<LinkReport, LinkError> {
    if let Some(layout) = &plan.hoisted {
        return crate::hoisted_link::finish_hoisted(plan, layout, summary);
    }
    let mut report = LinkReport::default();
    // Usually none: the CLI imports every package as its files arrive. Checked on this
    // thread first, because waking the pool for nothing cost a third of a millisecond.
    let missing: Vec<&PlannedPackage> = plan
        .packages
        .iter()
        .filter(|p| !summary.outcomes.contains_key(&p.dep_path))
        .collect();
    let late: HashMap<&str, ImportOutcome> = if missing.is_empty() {
        HashMap::new()
    } else {
        let importer = PackageImporter::for_plan(plan);
        missing
            .par_iter()
            .map(|pkg| {
                import_package(pkg, &plan.virtual_store_dir, &importer)
                    .map(|o| (pkg.dep_path.as_str(), o))
            })
            .collect::<Result<_, LinkError>>()?
    };
    let outcome_of = |dep_path: &str| {
        summary
            .outcomes
            .get(dep_path)
            .or_else(|| late.get(dep_path))
            .copied()
    };
    for o in summary.outcomes.values().chain(late.values()) {
        match o {
            ImportOutcome::Imported => report.imported += 1,
            ImportOutcome::Repaired => report.repaired += 1,
            ImportOutcome::Reused => report.reused += 1,
        }
    }

    tack_fs::phase_timer::mark("late imports");
    // The state the last install left: read once for the prune, the stale hoisted links and
    // `prunedAt`, before this run writes its own.
    let old_modules = crate::modules_yaml::read_modules_yaml(&plan.root_modules_dir());
    let pruned = summary.virtual_store_created || prune_is_due(plan, old_modules.as_ref());
    if pruned && !summary.virtual_store_created {
        report.removed_packages = remove_stale_packages(plan)?;
    }
    tack_fs::phase_timer::mark("remove stale packages");

    let index = PackageIndex::new(plan);
    let early = summary.top_level_linked.clone();
    let hoisted = early.clone().unwrap_or_else(|| compute_hoisting(plan));
    let trusted = summary.trusted_tree;
    let reused = |dep_path: &str| outcome_of(dep_path) == Some(ImportOutcome::Reused);
    // A package imported again over a trusted tree had its directory taken away since the
    // last install, maybe with the links to it (an optional package whose build failed
    // goes with its links): the projects' and the hoisted links are checked then. So are
    // they when a project's link to a direct dependency no longer resolves, as pnpm 12
    // checks them (see `direct_links.rs`).
    let all_reused = report.imported == 0 && report.repaired == 0;
    // The three kinds of links touch different directories and read nothing the others
    // write (bins read the imported packages, never a symlink), so they run side by side:
    // hoisted links all go into one directory, whose lock makes them a one-core job, and
    // the bins are mostly small file writes. Running them one after the other left a core
    // idle for a tenth of a warm install.
    let (children, (hoisting, bins)) = rayon::join(
        || {
            plan.packages
                .par_iter()
                .filter(|pkg| {
                    let linked = summary.children_linked.contains(&pkg.dep_path);
                    !(linked || trusted && reused(&pkg.dep_path))
                })
                .try_for_each(|pkg| link_children(plan, &index, pkg, reused(&pkg.dep_path)))
        },
        || {
            rayon::join(
                || {
                    // A slot of the global virtual store is named by settings as well as by
                    // the lockfile (scripts ignored or run, the node version): the same
                    // lockfile may link the project to other slots than last time.
                    let trusted_links = trusted && all_reused && !plan.shared_slots;
                    if early.is_some()
                        || trusted_links && !crate::direct_links::any_unresolved(plan)
                    {
                        return Ok(Vec::new());
                    }
                    let made = link_importers(plan, &index, &hoisted, None, old_modules.as_ref())?;
                    link_hoisted(plan, &index, &hoisted, old_modules.as_ref())?;
                    Ok(made)
                },
                || {
                    let mut warnings = Vec::new();
                    let fresh = |dep_path: &str| {
                        outcome_of(dep_path).is_some_and(|o| o != ImportOutcome::Reused)
                    };
                    let none = HashSet::new();
                    let bins = AllBins {
                        fresh: &fresh,
                        early: summary.early_bins.as_deref(),
                        discarded: &none,
                    };
                    link_all_bins(plan, &index, &hoisted, &bins, &mut warnings).map(|()| warnings)
                },
            )
        },
    );
    children?;
    report.linked_anew = hoisting?;
    report.warnings.extend(bins?);
    tack_fs::phase_timer::mark("links and bins");
    report.hoisted = hoisted;
    report.state = PendingState {
        pruned,
        old_modules,
    };
    Ok(report)
}

/// Makes the importer links and the hoisted links, and returns the hoisting. They depend
/// on the plan alone (a link may point at a package dir that is still being imported), so
/// the CLI makes them while packages are imported when the virtual store is new, and
/// records the result in [`ImportSummary::top_level_linked`]; [`finish`] makes them
/// otherwise, after the stale packages are gone.
///
/// `early` is told first, with the `bins` that write the top-level `.bin` directories as
/// packages come in place: should the install fail, it takes all of that back
/// ([`crate::withdraw_top_level`]).
pub fn link_top_level(
    plan: &LinkPlan,
    early: &EarlyTopLevel,
    bins: Option<&Arc<EarlyBins>>,
) -> Result<Vec<Hoisted>, LinkError> {
    early.begin(bins);
    let index = PackageIndex::new(plan);
    let hoisted = compute_hoisting(plan);
    // A new virtual store: the summary goes by what was imported, not by these links.
    // Made while the virtual store is new: no earlier install's state to go by.
    link_importers(plan, &index, &hoisted, Some(early), None)?;
    let old_modules = crate::modules_yaml::read_modules_yaml(&plan.root_modules_dir());
    link_hoisted(plan, &index, &hoisted, old_modules.as_ref())?;
    Ok(hoisted)
}

/// Rewrites every `.bin` shim of the plan. Build scripts may replace a bin's target (esbuild
/// swaps its JS launcher for the native binary), which changes the shim pnpm writes (no
/// interpreter for a binary); pnpm links bins again after building, and so does tack.
/// Shims whose text is unchanged are left alone.
///
/// `discarded` names the packages the build step took out of the tree (optional ones whose
/// build failed, see [`crate::discard_package`]). As pnpm 12 leaves them: their commands are
/// gone from the hidden hoisting directory's `.bin` (and, under `nodeLinker: hoisted`, from
/// every `.bin`), while a `.bin` of a project or a slot that has one of them as a dependency
/// keeps its shim; nothing is written into their directories.
pub fn relink_bins(plan: &LinkPlan, discarded: &HashSet<String>) -> Result<Vec<String>, LinkError> {
    if let Some(layout) = &plan.hoisted {
        let projects = crate::hoisted_link::workspace_projects_in_root(plan, layout);
        return crate::hoisted_link::link_hoisted_bins(plan, layout, &projects);
    }
    let index = PackageIndex::new(plan);
    let hoisted = compute_hoisting(plan);
    let mut warnings = Vec::new();
    let bins = AllBins {
        fresh: &|_| false,
        early: None,
        discarded,
    };
    link_all_bins(plan, &index, &hoisted, &bins, &mut warnings)?;
    Ok(warnings)
}

/// The commands of `pkg`'s dependencies (not `link:` ones), each aimed through the link
/// to it in the package's slot, `slot_modules` (see [`through_missing_link`]).
fn dependency_commands_through_links<'a>(
    pkg: &PlannedPackage,
    slot_modules: &Path,
    cmds_of: &dyn Fn(&ChildTarget) -> &'a Vec<BinCommand>,
) -> Vec<BinCommand> {
    pkg.children
        .iter()
        .filter(|(alias, target)| alias != &pkg.name && matches!(target, ChildTarget::DepPath(_)))
        .flat_map(|(alias, target)| {
            through_missing_link(cmds_of(target), &slot_modules.join(alias))
        })
        .collect()
}

/// Writes the `.bin` directory of package `i` into `pkg_dir` (`<pkg_dir>/node_modules/.bin`):
/// its own commands, its bundled packages' and its dependencies', as [`finish`] writes them
/// into its package directory. For a package about to be built in the staging directory
/// `pkg_dir` of a shared slot, whose dependencies are in place by then (see
/// [`crate::import_package_staged`]); its package directory gets its `.bin` from
/// [`relink_bins`] after the build. Returns the warnings of commands skipped.
pub fn link_package_bins(
    plan: &LinkPlan,
    i: usize,
    pkg_dir: &Path,
) -> Result<Vec<String>, LinkError> {
    let Some(pkg) = plan.packages.get(i) else {
        return Ok(Vec::new());
    };
    let by_dep_path = plan.indexes_by_dep_path();
    let mut warnings = Vec::new();
    let mut commands = |target: &ChildTarget| -> Result<Vec<BinCommand>, LinkError> {
        let ChildTarget::DepPath(dep_path) = target else {
            return Ok(Vec::new());
        };
        match by_dep_path
            .get(dep_path.as_str())
            .map(|&j| &plan.packages[j])
        {
            Some(child) if child.has_bin => commands_of(
                &child.dep_path,
                &plan.package_dir(child),
                Some(plan.slot_modules_dir(child)),
                &mut warnings,
            ),
            _ => Ok(Vec::new()),
        }
    };
    let slot_modules = plan.slot_modules_dir(pkg);
    let mut tier: Vec<BinCommand> = Vec::new();
    for (alias, target) in &pkg.children {
        if alias != &pkg.name {
            let cmds = commands(target)?;
            match plan.shared_slots {
                // As `finish` writes them (see `dependency_commands_through_links`).
                true => tier.extend(through_missing_link(&cmds, &slot_modules.join(alias))),
                false => tier.extend(cmds),
            }
        }
    }
    for (alias, target) in &pkg.unlinked_optional_children {
        tier.extend(through_missing_link(
            &commands(target)?,
            &slot_modules.join(alias),
        ));
    }
    if pkg.has_bundled_dependencies {
        tier.splice(
            0..0,
            bundled_commands(&pkg.dep_path, pkg_dir, true, &mut warnings)?,
        );
    }
    if pkg.has_bin {
        let own = commands_of(&pkg.dep_path, pkg_dir, Some(slot_modules), &mut warnings)?;
        tier.splice(0..0, own.into_iter().filter(|cmd| !cmd.target_missing));
    }
    let chosen = resolve_conflicts(&[tier.iter().collect()]);
    let hoisted_modules = plan.hidden_modules_dir();
    let node_paths = ShimNodePaths {
        own_modules: None,
        hoisted: plan
            .shims_add_hoisted_dir()
            .then_some(hoisted_modules.as_path()),
        symlinks: plan.prefer_symlinked_executables,
        shim_projects: false,
        absolute_outside: plan.shared_slots.then_some(plan.lockfile_dir.as_path()),
    };
    let bin_dir = pkg_dir.join("node_modules").join(".bin");
    write_bin_dir(&bin_dir, &chosen, node_paths, true, BinDirState::MayExist)?;
    Ok(warnings)
}

/// Whether this install prunes the virtual store. pnpm keeps the packages a changed lockfile no
/// longer has (a switch back to the branch that had them links nothing new) until its last
/// prune, `.modules.yaml#prunedAt`, is more than `modulesCacheMaxAge` minutes old; with no
/// `prunedAt`, or a setting of 0, it prunes now. A `prunedAt` that is not a date never comes
/// due, as in pnpm, where it is `NaN`.
fn prune_is_due(plan: &LinkPlan, old_modules: Option<&ModulesYaml>) -> bool {
    if plan.modules_cache_max_age_minutes == 0 {
        return true;
    }
    let Some(old) = old_modules else {
        return true;
    };
    if old.pruned_at.is_empty() {
        return true;
    }
    let Some(pruned_at) = crate::modules_yaml::parse_http_date(&old.pruned_at) else {
        return false;
    };
    let max_age =
        std::time::Duration::from_secs(plan.modules_cache_max_age_minutes.saturating_mul(60));
    std::time::SystemTime::now()
        .duration_since(pruned_at)
        .is_ok_and(|age| age > max_age)
}

/// Removes `.pnpm/<dir>` for every dir the plan does not have. Dot entries, `node_modules`,
/// `lock.yaml` and temp files are kept.
fn remove_stale_packages(plan: &LinkPlan) -> Result<Vec<String>, LinkError> {
    // Other projects link to the global virtual store's slots; only `store prune`, which
    // knows every project of the store, removes them.
    if plan.shared_slots {
        return Ok(Vec::new());
    }
    let vs = &plan.virtual_store_dir;
    let entries = match std::fs::read_dir(vs) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LinkError::io("read directory", vs, "virtual store", e)),
    };
    let wanted: HashSet<&str> = plan
        .packages
        .iter()
        .map(|p| p.dir_name.as_str())
        .chain(
            plan.kept_for_other_projects
                .dir_names
                .iter()
                .map(String::as_str),
        )
        .collect();
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| LinkError::io("read directory", vs, "virtual store", e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with('.')
            || name == "node_modules"
            || name == "lock.yaml"
            || name.contains(tack_fs::TEMP_INFIX)
        {
            continue;
        }
        if wanted.contains(name.as_str()) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        std::fs::remove_dir_all(&path)
            .map_err(|e| LinkError::io("remove package dir", &path, &name, e))?;
        removed.push(name);
    }
    removed.sort();
    Ok(removed)
}

/// True when the symlink at `link` points into the virtual store or at a project dir.
fn is_managed_link(plan: &LinkPlan, link: &Path) -> bool {
    let Ok(text) = std::fs::read_link(link) else {
        return false;
    };
    let parent = link.parent().unwrap_or(Path::new("/"));
    let resolved = parent.join(text);
    let rel_vs = tack_fs::relative_path(&plan.virtual_store_dir, &resolved);
    if !rel_vs.starts_with("..") {
        return true;
    }
    plan.importers
        .iter()
        .any(|i| tack_fs::relative_path(&i.dir, &resolved) == Path::new("."))
        || plan.importers.iter().any(|i| {
            i.deps.iter().any(|d| match &d.target {
                ChildTarget::Link(dir) => tack_fs::relative_path(dir, &resolved) == Path::new("."),
                ChildTarget::DepPath(_) => false,
            })
        })
}

/// What [`link_direct_dep`] did at a project's link.
#[derive(Debug, Default)]
pub(crate) struct DirectLink {
    /// It made the link: nothing correct was there.
    pub made: bool,
    /// Where the directory or file it found in the link's place went.
    pub moved_aside: Option<PathBuf>,
}

/// Links a project's direct dependency at `link`. A real directory or file there (another
/// package manager's install: npm, yarn, bun) is moved aside to `.ignored_<name>` beside it,
/// as pnpm 12 does, replacing an older one of that name; nothing else is removed.
pub(crate) fn link_direct_dep(
    target: &Path,
    link: &Path,
    importer: &str,
) -> Result<DirectLink, LinkError> {
    // `tack_fs::symlink_dir` replaces a file; pnpm 12 keeps it, as a directory.
    let mut moved_aside = None;
    if std::fs::symlink_metadata(link).is_ok_and(|meta| meta.is_file()) {
        moved_aside = Some(move_aside(link, importer)?);
    }
    match tack_fs::symlink_dir_made(target, link) {
        Err(tack_fs::FsError::DirectoryInTheWay { path }) => {
            let aside = move_aside(&path, importer)?;
            tack_fs::symlink_dir(target, link).map_err(|e| LinkError::fs(importer, e))?;
            Ok(DirectLink {
                made: true,
                moved_aside: Some(aside),
            })
        }
        other => other
            .map(|made| DirectLink { made, moved_aside })
            .map_err(|e| LinkError::fs(importer, e)),
    }
}

/// Renames `path` to `.ignored_<name>` beside it, in place of whatever had that name, and
/// returns the new path.
fn move_aside(path: &Path, importer: &str) -> Result<PathBuf, LinkError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = path.with_file_name(format!(".ignored_{name}"));
    let removed = match std::fs::symlink_metadata(&aside) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&aside),
        Ok(_) => std::fs::remove_file(&aside),
        Err(e) => Err(e),
    };
    match removed {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LinkError::io("remove", &aside, importer, e)),
    }
    std::fs::rename(path, &aside).map_err(|e| LinkError::io("move aside", path, importer, e))?;
    Ok(aside)
}

/// `<importer>/node_modules/<alias>` for every direct dep; publicly hoisted links in the root.
/// `early` records what was moved aside for the links made early. Returns the direct
/// dependencies' links it made, `(importer id, alias)`.
fn link_importers(
    plan: &LinkPlan,
    index: &PackageIndex<'_>,
    hoisted: &[Hoisted],
    early: Option<&EarlyTopLevel>,
    old_modules: Option<&ModulesYaml>,
) -> Result<Vec<(String, String)>, LinkError> {
    let mut made = Vec::new();
    let kept_public = kept_public_aliases(plan, old_modules);
    for imp in &plan.importers {
        let modules = imp.dir.join(&plan.modules_dir_name);
        let mut wanted: HashSet<&str> = HashSet::new();
        for dep in &imp.deps {
            crate::names::check_package_name(&imp.id, "alias", &dep.alias)?;
            let target = index.resolve(&imp.id, &dep.target)?;
            let link = modules.join(&dep.alias);
            // Early links go where another tool's symlink may be: kept to be put back.
            let previous = early.and_then(|_| std::fs::read_link(&link).ok());
            let linked = link_direct_dep(&target, &link, &imp.id)?;
            if let Some(early) = early {
                if let Some(previous) = previous.filter(|_| linked.made) {
                    early.replaced(link.clone(), previous);
                }
                if let Some(aside) = linked.moved_aside {
                    early.moved_aside(link, aside);
                }
            }
            if linked.made {
                made.push((imp.id.clone(), dep.alias.clone()));
            }
            wanted.insert(dep.alias.as_str());
        }
        if imp.id == "." {
            for h in hoisted.iter().filter(|h| h.kind == HoistKind::Public) {
                wanted.insert(h.alias.as_str());
            }
            wanted.extend(kept_public.iter().copied());
        }
        // `dedupeDirectDeps` links none of these, but one already linked where it should
        // point stays, as pnpm 12 leaves it (a filtered install, or another project's
        // version hoisted now).
        let deduped: HashMap<&str, &ChildTarget> = imp
            .undeduped_deps
            .iter()
            .flatten()
            .map(|dep| (dep.alias.as_str(), &dep.target))
            .collect();
        let recorded = plan.recorded_direct_deps.get(&imp.id);
        for (alias, path, is_link) in list_entries(&modules, &imp.id)? {
            let was_direct = recorded.is_some_and(|aliases| aliases.contains(&alias));
            if is_link
                && !wanted.contains(alias.as_str())
                && (was_direct || is_managed_link(plan, &path))
            {
                let in_place = deduped.get(alias.as_str()).is_some_and(|target| {
                    index
                        .resolve(&imp.id, target)
                        .is_ok_and(|target| points_at(&path, &target))
                });
                if !in_place {
                    remove_link(&path, &imp.id)?;
                }
            }
        }
    }
    Ok(made)
}

/// Whether the symlink `link` resolves to the directory `target`.
fn points_at(link: &Path, target: &Path) -> bool {
    match (std::fs::canonicalize(link), std::fs::canonicalize(target)) {
        (Ok(link), Ok(target)) => link == target,
        _ => false,
    }
}

/// The aliases the last install hoisted publicly for the packages a filtered install keeps
/// for the projects it does not select: their links in the root `node_modules` stay, as
/// pnpm 12 leaves them (`shamefullyHoist` with `--filter b`: project `a`'s `react`).
fn kept_public_aliases<'a>(plan: &LinkPlan, old: Option<&'a ModulesYaml>) -> HashSet<&'a str> {
    let kept = &plan.kept_for_other_projects.dep_paths;
    old.into_iter()
        .flat_map(|old| &old.hoisted_dependencies)
        .filter(|(key, _)| kept.contains(*key))
        .filter_map(|(_, aliases)| aliases.as_object())
        .flatten()
        .filter(|(_, kind)| kind.as_str() == Some(HoistKind::Public.as_str()))
        .map(|(alias, _)| alias.as_str())
        .collect()
}

/// Private links in `<vs>/node_modules`, public ones in the root `node_modules` (an existing
/// entry there that is not one of ours is left alone).
fn link_hoisted(
    plan: &LinkPlan,
    index: &PackageIndex<'_>,
    hoisted: &[Hoisted],
    old_modules: Option<&ModulesYaml>,
) -> Result<(), LinkError> {
    let private_dir = plan.hidden_modules_dir();
    let root_modules = plan.root_modules_dir();
    // pnpm creates the private hoisting dir whenever anything is hoisted, even when only
    // public links result (observed with pnpm 12: an empty `.pnpm/node_modules`).
    if !hoisted.is_empty() {
        std::fs::create_dir_all(&private_dir)
            .map_err(|e| LinkError::io("create directory", &private_dir, "hoisting", e))?;
    }
    let wanted_private: HashSet<&str> = hoisted
        .iter()
        .filter(|h| h.kind == HoistKind::Private)
        .map(|h| h.alias.as_str())
        .collect();
    // Hundreds of independent symlinks in a large project: made from every core.
    hoisted.par_iter().try_for_each(|h| {
        let target = index.resolve(&h.key, &h.target)?;
        match h.kind {
            HoistKind::Private => tack_fs::symlink_dir(&target, &private_dir.join(&h.alias))
                .map_err(|e| LinkError::fs(&h.key, e)),
            HoistKind::Public => {
                let link = root_modules.join(&h.alias);
                match std::fs::symlink_metadata(&link) {
                    Ok(m) if !m.file_type().is_symlink() => return Ok(()),
                    Ok(_) if !is_managed_link(plan, &link) => return Ok(()),
                    _ => {}
                }
                tack_fs::symlink_dir(&target, &link).map_err(|e| LinkError::fs(&h.key, e))
            }
        }
    })?;
    remove_stale_hoisted_links(plan, &private_dir, &wanted_private, old_modules)
}

/// Removes the links in `<vs>/node_modules` this hoisting no longer makes, as pnpm 12 does
/// (but in a filtered install, which leaves them all), going by what the last install
/// recorded (`.modules.yaml#hoistedDependencies`):
/// - a link recorded for a package without a peer suffix goes only when the lockfile no
///   longer has that package: one to a package still installed stays, hoisted or not
///   (observed: `rxjs` once it became a direct dependency); its emptied `@scope` stays too;
/// - a link recorded for a package with a peer suffix (`debug@2.6.9(supports-color@5.5.0)`)
///   goes whenever nothing hoists its alias now, installed or not, and an `@scope` it
///   leaves empty goes with it.
///
/// - a link recorded for a workspace project (by importer id) goes once the project is no
///   longer in the workspace.
///
/// pnpm 12 matches the recorded keys against the lockfile's package names without their
/// peer suffixes, so a suffixed key never matches (observed over 64 scopes and two
/// reinstalls of real projects).
fn remove_stale_hoisted_links(
    plan: &LinkPlan,
    private_dir: &Path,
    wanted: &HashSet<&str>,
    old_modules: Option<&ModulesYaml>,
) -> Result<(), LinkError> {
    if plan.filtered {
        return Ok(());
    }
    let Some(old) = old_modules else {
        // No record of what the last install hoisted: a first install (nothing there), or
        // one over an install stopped before it wrote `.modules.yaml`, whose links may come
        // from another lockfile or `hoistPattern`. Every link this install does not want
        // goes, as a fresh install has none of them.
        for (alias, link, is_link) in list_entries(private_dir, "hoisting")? {
            if is_link && !wanted.contains(alias.as_str()) {
                remove_link(&link, "hoisting")?;
                if let Some((scope, _)) = alias.split_once('/') {
                    // Fails harmlessly while the scope holds other links.
                    let _ = std::fs::remove_dir(private_dir.join(scope));
                }
            }
        }
        return Ok(());
    };
    // The lockfile's `packages` keys: dep paths without their peer or patch suffix.
    let installed: HashSet<&str> = plan
        .packages
        .iter()
        .map(|p| p.dep_path.split('(').next().unwrap_or(&p.dep_path))
        .collect();
    // Workspace projects are recorded by importer id (`packages/a`): one still in the
    // workspace keeps its link, linked by this install or not.
    let projects: HashSet<&str> = plan
        .importers
        .iter()
        .map(|i| i.id.as_str())
        .chain(plan.unlinked_projects.iter().map(|(id, ..)| id.as_str()))
        .collect();
    let mut tidied_scopes = std::collections::BTreeSet::new();
    for (key, aliases) in &old.hoisted_dependencies {
        let is_dep_path = key.get(1..).is_some_and(|rest| rest.contains('@'));
        let suffixed = key.contains('(');
        let kept = plan.kept_for_other_projects.dep_paths.contains(key);
        let still_there = if is_dep_path {
            !suffixed && installed.contains(key.as_str())
        } else {
            projects.contains(key.as_str())
        };
        if kept || still_there {
            continue;
        }
        let Some(aliases) = aliases.as_object() else {
            continue;
        };
        for (alias, kind) in aliases {
            if kind.as_str() != Some("private")
                || wanted.contains(alias.as_str())
                || crate::names::check_package_name(key, "alias", alias).is_err()
            {
                continue;
            }
            let link = private_dir.join(alias);
            if std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()) {
                std::fs::remove_file(&link)
                    .map_err(|e| LinkError::io("remove link", &link, key, e))?;
            }
            if suffixed {
                if let Some((scope, _)) = alias.split_once('/') {
                    tidied_scopes.insert(scope.to_string());
                }
            }
        }
    }
    for scope in tidied_scopes {
        // Fails harmlessly when the scope still holds other links.
        let _ = std::fs::remove_dir(private_dir.join(scope));
    }
    Ok(())
}

/// What [`link_all_bins`] knows of the packages besides the plan.
struct AllBins<'a> {
    /// Which packages were imported into a slot by this run (see
    /// [`BinDirState::InFreshSlot`]).
    fresh: &'a (dyn Fn(&str) -> bool + Sync),
    /// Which packages' own `.bin` directories were written already as the imports
    /// completed, and the commands read then.
    early: Option<&'a EarlyBins>,
    /// The dep paths of the packages the build step took out of the tree (see
    /// [`relink_bins`]).
    discarded: &'a HashSet<String>,
}

/// Every `.bin`: each package's own (children + itself), each importer's (direct deps, then
/// publicly hoisted in the root), and `<vs>/node_modules/.bin` (privately hoisted).
fn link_all_bins(
    plan: &LinkPlan,
    index: &PackageIndex<'_>,
    hoisted: &[Hoisted],
    bins: &AllBins<'_>,
    warnings: &mut Vec<String>,
) -> Result<(), LinkError> {
    let AllBins {
        fresh,
        early,
        discarded,
    } = *bins;
    let is_discarded = |target: &ChildTarget| match target {
        ChildTarget::DepPath(dep_path) => discarded.contains(dep_path),
        ChildTarget::Link(_) => false,
    };
    let hoisted_modules = plan.hidden_modules_dir();
    let hoisted_np = plan
        .shims_add_hoisted_dir()
        .then_some(hoisted_modules.as_path());

    // Commands read while the packages were imported are not read again; their warnings
    // were gathered there.
    if let Some(early) = early {
        warnings.extend(early.take_warnings());
    }
    // Commands per package (dep path) and per linked directory. Reading the manifests and
    // each bin's first line is a few hundred small reads: done from every core.
    let per_package: Vec<(&str, Vec<BinCommand>, Vec<String>)> = plan
        .packages
        .par_iter()
        .enumerate()
        .filter(|(_, p)| p.has_bin)
        .map(|(i, pkg)| {
            if let Some(cmds) = early.and_then(|e| e.cached_commands(i)) {
                return Ok((pkg.dep_path.as_str(), cmds.clone(), Vec::new()));
            }
            let dir = plan.package_dir(pkg);
            let slot = plan.slot_modules_dir(pkg);
            let mut own_warnings = Vec::new();
            commands_of(&pkg.dep_path, &dir, Some(slot), &mut own_warnings)
                .map(|cmds| (pkg.dep_path.as_str(), cmds, own_warnings))
        })
        .collect::<Result<_, _>>()?;
    let mut by_dep: HashMap<&str, Vec<BinCommand>> = HashMap::new();
    for (dep_path, cmds, own_warnings) in per_package {
        warnings.extend(own_warnings);
        by_dep.insert(dep_path, cmds);
    }
    let mut by_link: HashMap<PathBuf, Vec<BinCommand>> = HashMap::new();
    let link_targets = plan
        .importers
        .iter()
        .flat_map(|i| i.deps.iter().map(|d| &d.target))
        .chain(
            plan.packages
                .iter()
                .flat_map(|p| p.children.iter().map(|c| &c.1)),
        );
    for target in link_targets {
        if let ChildTarget::Link(dir) = target {
            if !by_link.contains_key(dir) {
                let cmds = commands_of(&dir.to_string_lossy(), dir, None, warnings)?;
                by_link.insert(dir.clone(), cmds);
            }
        }
    }
    // What packages ship in their own `node_modules`, for their own `.bin` only.
    let mut bundled: HashMap<usize, Vec<BinCommand>> = HashMap::new();
    for (i, pkg) in plan.packages.iter().enumerate() {
        if pkg.has_bundled_dependencies && !early.is_some_and(|e| e.written(i) || e.staged(i)) {
            let cmds = bundled_commands(&pkg.dep_path, &plan.package_dir(pkg), true, warnings)?;
            bundled.insert(i, cmds);
        }
    }
    let empty: Vec<BinCommand> = Vec::new();
    let cmds_of = |t: &ChildTarget| -> &Vec<BinCommand> {
        match t {
            ChildTarget::DepPath(dp) => by_dep.get(dp.as_str()).unwrap_or(&empty),
            ChildTarget::Link(dir) => by_link.get(dir).unwrap_or(&empty),
        }
    };

    plan.packages
        .par_iter()
        .enumerate()
        .try_for_each(|(i, pkg)| {
            // A package to be built in its slot's staging directory has its `.bin` written
            // there instead (`link_package_bins`); one the build step removed has no
            // directory to write into.
            if early.is_some_and(|e| e.written(i) || e.staged(i))
                || discarded.contains(&pkg.dep_path)
            {
                return Ok(());
            }
            let slot_modules = plan.slot_modules_dir(pkg);
            // Under the global virtual store pnpm 12 aims a dependency's commands through
            // the slot's link to it (`<slot>/node_modules/<alias>/…`), not at its own slot.
            let through_slot_links: Vec<BinCommand> = match plan.shared_slots {
                true => dependency_commands_through_links(pkg, &slot_modules, &cmds_of),
                false => Vec::new(),
            };
            let mut tier: Vec<&BinCommand> = by_dep
                .get(pkg.dep_path.as_str())
                .map(|v| v.iter().filter(|cmd| !cmd.target_missing).collect())
                .unwrap_or_default();
            tier.extend(bundled.get(&i).into_iter().flatten());
            // Not a `link:` child's: pnpm 12 links those only into the projects' `.bin`.
            for (alias, target) in &pkg.children {
                if alias != &pkg.name
                    && matches!(target, ChildTarget::DepPath(_))
                    && !plan.shared_slots
                {
                    tier.extend(cmds_of(target));
                }
            }
            tier.extend(&through_slot_links);
            let unlinked: Vec<BinCommand> = pkg
                .unlinked_optional_children
                .iter()
                .flat_map(|(alias, target)| {
                    through_missing_link(cmds_of(target), &slot_modules.join(alias))
                })
                .collect();
            tier.extend(&unlinked);
            let bin_dir = plan.package_dir(pkg).join("node_modules").join(".bin");
            let chosen = resolve_conflicts(&[tier]);
            // pnpm 12 keeps the shim of a dependency the build step removed.
            let prune = !pkg.children.iter().any(|(_, target)| is_discarded(target));
            let state = if fresh(&pkg.dep_path) {
                BinDirState::InFreshSlot
            } else {
                BinDirState::MayExist
            };
            let node_paths = ShimNodePaths {
                own_modules: None,
                hoisted: hoisted_np,
                symlinks: plan.prefer_symlinked_executables,
                shim_projects: false,
                absolute_outside: plan.shared_slots.then_some(plan.lockfile_dir.as_path()),
            };
            write_bin_dir(&bin_dir, &chosen, node_paths, prune, state).map(|_| ())
        })?;

    // Written already while packages were imported (see `EarlyBins`), but not pruned: another
    // tool's entries stay until every package is in place, so that a failed install leaves them.
    let written_early = early.is_some_and(EarlyBins::top_level_written);
    {
        // The projects whose `.bin` keeps the shims of a dependency the build step removed,
        // as pnpm 12 keeps them (the hidden hoisting directory's loses them).
        let keeping: HashSet<PathBuf> = plan
            .importers
            .iter()
            .filter(|imp| {
                imp.deps.iter().any(|dep| is_discarded(&dep.target))
                    || imp.peers_of_deps.iter().any(&is_discarded)
                    || imp.id == "."
                        && hoisted
                            .iter()
                            .any(|h| h.kind == HoistKind::Public && is_discarded(&h.target))
            })
            .map(|imp| imp.dir.join(&plan.modules_dir_name).join(".bin"))
            .collect();
        let dirs = top_level_bin_dirs(plan, hoisted, |t| Some(cmds_of(t)));
        for (bin_dir, tiers) in dirs.into_iter().flatten() {
            let chosen = resolve_conflicts(&tiers);
            let prune = !keeping.contains(&bin_dir);
            if written_early {
                if prune {
                    prune_bin_dir(&bin_dir, &chosen.keys().map(String::as_str).collect())?;
                }
                continue;
            }
            let node_paths = top_level_node_paths(plan, &bin_dir, hoisted_np);
            write_bin_dir(&bin_dir, &chosen, node_paths, prune, BinDirState::MayExist)?;
        }
    }
    let _ = index;
    Ok(())
}

/// A `.bin` directory and its tiers of commands (earlier tiers win a name).
pub(crate) type TieredBinDir<'c> = (PathBuf, Vec<Vec<&'c BinCommand>>);

/// The `.bin` directories outside the virtual store's package slots, each with its tiers
/// of commands (earlier tiers win a name): each importer's (its direct dependencies, then,
/// in the root, the publicly hoisted ones) and `<vs>/node_modules/.bin` (the privately
/// hoisted ones). `None` when `cmds_of` has no commands for one of their targets.
/// What the shims of a top-level `.bin` directory put on `NODE_PATH` besides their packages'
/// own: the project's modules directory first when `modulesDir` renames it (Node searches
/// only directories named `node_modules`), as pnpm 12 does; not in `<vs>/node_modules/.bin`.
pub(crate) fn top_level_node_paths<'a>(
    plan: &'a LinkPlan,
    bin_dir: &'a Path,
    hoisted: Option<&'a Path>,
) -> ShimNodePaths<'a> {
    let symlinks = plan.prefer_symlinked_executables;
    let absolute_outside = plan.shared_slots.then_some(plan.lockfile_dir.as_path());
    if !plan.extend_node_path {
        return ShimNodePaths {
            symlinks,
            absolute_outside,
            ..ShimNodePaths::default()
        };
    }
    let modules = bin_dir.parent();
    let hidden = modules == Some(plan.hidden_modules_dir().as_path());
    let renamed = plan.modules_dir_name != "node_modules";
    ShimNodePaths {
        own_modules: modules.filter(|_| renamed && !hidden),
        hoisted,
        symlinks,
        shim_projects: false,
        absolute_outside,
    }
}

pub(crate) fn top_level_bin_dirs<'c>(
    plan: &LinkPlan,
    hoisted: &[Hoisted],
    cmds_of: impl Fn(&ChildTarget) -> Option<&'c Vec<BinCommand>>,
) -> Option<Vec<TieredBinDir<'c>>> {
    let tier = |targets: &mut dyn Iterator<Item = &ChildTarget>| -> Option<Vec<&'c BinCommand>> {
        let mut tier = Vec::new();
        for target in targets {
            tier.extend(cmds_of(target)?);
        }
        Some(tier)
    };
    let mut dirs = Vec::with_capacity(plan.importers.len() + 1);
    for imp in &plan.importers {
        let mut tiers = vec![
            tier(&mut imp.deps.iter().map(|d| &d.target))?,
            tier(&mut imp.peers_of_deps.iter())?,
        ];
        if imp.id == "." {
            tiers.push(tier(
                &mut hoisted
                    .iter()
                    .filter(|h| h.kind == HoistKind::Public)
                    .map(|h| &h.target),
            )?);
        }
        dirs.push((imp.dir.join(&plan.modules_dir_name).join(".bin"), tiers));
    }
    let private = tier(
        &mut hoisted
            .iter()
            .filter(|h| h.kind == HoistKind::Private && matches!(h.target, ChildTarget::DepPath(_)))
            .map(|h| &h.target),
    )?;
    dirs.push((plan.hidden_modules_dir().join(".bin"), vec![private]));
    Some(dirs)
}

/// `.modules.yaml`, `.pnpm/lock.yaml` and the workspace state.
/// `pruned`: this install pruned the virtual store (or made it), so `prunedAt` is now;
/// otherwise it stays what it was.
fn write_state_files(
    plan: &LinkPlan,
    hoisted: &[Hoisted],
    pruned: bool,
    old_modules: Option<&ModulesYaml>,
    outcome: Option<BuildOutcome<'_>>,
) -> Result<Option<String>, LinkError> {
    let root_modules = plan.root_modules_dir();
    std::fs::create_dir_all(&root_modules)
        .map_err(|e| LinkError::io("create directory", &root_modules, ".modules.yaml", e))?;
    let mut modules = modules_yaml_for(plan, hoisted);
    if let Some(outcome) = outcome {
        modules.ignored_builds = outcome.ignored.to_vec();
        modules.pending_builds = outcome.pending.to_vec();
    }
    if let Some(old) = old_modules {
        keep_other_projects_state(plan, old, &mut modules);
    }
    // An unchanged layout keeps its file (and `prunedAt`): a no-op re-link writes nothing.
    let unchanged = match old_modules {
        Some(old) if !pruned => {
            modules.pruned_at.clone_from(&old.pruned_at);
            serde_json::to_string(&old).ok() == serde_json::to_string(&modules).ok()
        }
        _ => false,
    };
    if !unchanged {
        write_modules_yaml(&root_modules, &modules)?;
    }

    let lock_path = plan.current_lockfile_path();
    match plan.current_lockfile_yaml.get() {
        Some(yaml) => {
            std::fs::create_dir_all(&plan.install_state_dir).map_err(|e| {
                LinkError::io("create directory", &plan.install_state_dir, "lock.yaml", e)
            })?;
            let same = std::fs::read(&lock_path).is_ok_and(|old| old == yaml.as_bytes());
            if !same {
                // Not fsynced (see `write_modules_yaml`): a torn copy differs from the
                // lockfile and is rewritten.
                tack_fs::AtomicWrite::new(&lock_path)
                    .durable(false)
                    .write_bytes(yaml.as_bytes())
                    .map_err(|e| LinkError::fs("lock.yaml", e))?;
            }
        }
        None => match std::fs::remove_file(&lock_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(LinkError::io("remove", &lock_path, "lock.yaml", e)),
        },
    }
    Ok(write_workspace_state(plan))
}

/// Carries into `modules` what the last install recorded for the packages a filtered install
/// keeps for the projects it does not select (see [`crate::KeptPackages`]): their hoisted
/// aliases (as pnpm 12 keeps them, even one that another package's link now holds), and their
/// `injectedDeps` copies.
fn keep_other_projects_state(plan: &LinkPlan, old: &ModulesYaml, modules: &mut ModulesYaml) {
    let kept = &plan.kept_for_other_projects;
    if kept.dep_paths.is_empty() {
        return;
    }
    for (key, aliases) in &old.hoisted_dependencies {
        if kept.dep_paths.contains(key) && !modules.hoisted_dependencies.contains_key(key) {
            modules
                .hoisted_dependencies
                .insert(key.clone(), aliases.clone());
        }
    }
    let store_prefix = tack_fs::relative_path(&plan.lockfile_dir, &plan.virtual_store_dir);
    for (source, copies) in &old.injected_deps {
        let Some(copies) = copies.as_array() else {
            continue;
        };
        let kept_copies = copies.iter().filter(|copy| {
            copy.as_str()
                .and_then(|copy| Path::new(copy).strip_prefix(&store_prefix).ok())
                .and_then(|rest| rest.components().next())
                .is_some_and(|dir| {
                    kept.dir_names
                        .contains(dir.as_os_str().to_string_lossy().as_ref())
                })
        });
        let entry = modules
            .injected_deps
            .entry(source.clone())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let serde_json::Value::Array(now) = entry {
            for copy in kept_copies {
                if !now.contains(copy) {
                    now.push(copy.clone());
                }
            }
        }
        if entry.as_array().is_some_and(Vec::is_empty) {
            modules.injected_deps.remove(source);
        }
    }
}

/// The `.modules.yaml` contents this plan produces (with `prunedAt` = now).
pub fn modules_yaml_for(plan: &LinkPlan, hoisted: &[Hoisted]) -> ModulesYaml {
    let mut hoisted_dependencies = serde_json::Map::new();
    for h in hoisted {
        let entry = hoisted_dependencies
            .entry(h.key.clone())
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        if let serde_json::Value::Object(m) = entry {
            m.insert(
                h.alias.clone(),
                serde_json::Value::String(h.kind.as_str().to_string()),
            );
        }
    }
    let mut injected_deps = serde_json::Map::new();
    for pkg in &plan.packages {
        if let crate::plan::PackageFiles::Directory(src) = &pkg.files {
            let key = tack_fs::relative_path(&plan.lockfile_dir, src)
                .to_string_lossy()
                .into_owned();
            // pnpm 12.21 names a copy in a shared slot, outside the project, absolutely.
            let dir = plan.package_dir(pkg);
            let copy = match plan.shared_slots {
                true => dir,
                false => tack_fs::relative_path(&plan.lockfile_dir, &dir),
            }
            .to_string_lossy()
            .into_owned();
            let entry = injected_deps
                .entry(key)
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(a) = entry {
                a.push(serde_json::Value::String(copy));
            }
        }
    }
    // pnpm 12 lists a project's copies by directory (the order of dep paths differs once long
    // directory names are hashed).
    for copies in injected_deps.values_mut() {
        if let serde_json::Value::Array(a) = copies {
            a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
        }
    }
    let s = &plan.modules_state;
    ModulesYaml {
        hoisted_dependencies,
        hoist_pattern: plan.hoist.then(|| plan.hoist_pattern.clone()),
        included: s.included,
        layout_version: serde_json::json!(LAYOUT_VERSION),
        node_linker: Some(
            if plan.hoisted.is_some() {
                "hoisted"
            } else {
                "isolated"
            }
            .to_string(),
        ),
        package_manager: s.package_manager.clone(),
        // Known once the build step has run: [`write_state`] takes them from its outcome.
        pending_builds: Vec::new(),
        ignored_builds: s.ignored_builds.clone(),
        pruned_at: http_date(std::time::SystemTime::now()),
        public_hoist_pattern: plan.public_hoist_pattern.clone(),
        skipped: s.skipped.clone(),
        store_dir: s.store_dir.to_string_lossy().into_owned(),
        virtual_store_dir: virtual_store_text(plan),
        virtual_store_dir_max_length: Some(plan.virtual_store_dir_max_length),
        hoisted_locations: plan
            .hoisted
            .as_ref()
            .map(|layout| hoisted_locations(plan, layout)),
        injected_deps,
        allow_builds: Some(s.allow_builds.clone()),
    }
}

/// `.modules.yaml#hoistedLocations`: each placed package's directories, relative to the
/// lockfile's directory, by dep path.
fn hoisted_locations(
    plan: &LinkPlan,
    layout: &crate::plan::HoistedLayout,
) -> serde_json::Map<String, serde_json::Value> {
    let mut by_dep_path: std::collections::BTreeMap<&str, Vec<serde_json::Value>> =
        std::collections::BTreeMap::new();
    for (i, dir) in layout.all_dirs() {
        if let Some(pkg) = plan.packages.get(i) {
            let rel = tack_fs::relative_path(&plan.lockfile_dir, dir);
            by_dep_path
                .entry(pkg.dep_path.as_str())
                .or_default()
                .push(serde_json::Value::String(
                    rel.to_string_lossy().into_owned(),
                ));
        }
    }
    by_dep_path
        .into_iter()
        .map(|(dep_path, dirs)| (dep_path.to_string(), serde_json::Value::Array(dirs)))
        .collect()
}
