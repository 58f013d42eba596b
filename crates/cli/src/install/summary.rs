//! The `+ name version` / `- name version` lines at the end of an install: which direct
//! dependencies of the project tack runs in (the root, or the workspace project of the working
//! directory, as pnpm 12 reports it) this run added or removed.
//!
//! pnpm compares the lockfile the last install recorded (`node_modules/.pnpm/lock.yaml`) with
//! the one it installs now. A dependency whose directory the virtual store kept (pnpm keeps
//! the packages a lockfile drops for a week, see `modulesCacheMaxAge`) is still listed when it
//! comes back, though nothing is imported for it. A recorded lockfile equal to this one lists
//! nothing, even when packages were imported again (a `file:` directory is imported on every
//! install), but the links the linker made again (a project's link to a direct dependency
//! deleted by hand, see `tack_linker::direct_link_paths`). Without a recorded lockfile (a first
//! install, or one after an interrupted run), the direct dependencies this run imported are
//! listed, but not those whose link was in place before it (pnpm 12 lists the links it makes:
//! none over a tree that lost its virtual store; under the global virtual store, every direct
//! dependency whose link was not in place).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use tack_linker::{ChildTarget, ImportOutcome, ImportSummary, LinkPlan};
use tack_lockfile::{DepGroup as LockfileGroup, Lockfile};

use super::plan::{InstallPlan, Selection};
use crate::reporter::{DepGroup as SummaryGroup, SummaryEntry, SummaryTarget};

/// What the last install recorded in `node_modules/.pnpm/lock.yaml`, against this run's.
pub(super) enum Recorded {
    /// Nothing (a first install, or one after an interrupted run).
    Nothing,
    /// The lockfile this run records too.
    Same,
    /// Another lockfile.
    Other(Box<Lockfile>),
}

impl Recorded {
    /// Whether the last complete install had the package `dep_path` as `wanted` has it
    /// (`Same`: this run's lockfile, which has every package of the plan). A package whose
    /// dependencies changed under the same dep path (an override, a package extension) is
    /// linked anew, and pnpm 12 counts it as added.
    pub(super) fn has_package(
        &self,
        dep_path: &str,
        wanted: &tack_lockfile::Lockfile,
        recorded_now: &HashSet<String>,
    ) -> bool {
        match self {
            Recorded::Nothing => false,
            Recorded::Same => true,
            Recorded::Other(lockfile) => {
                match (
                    lockfile.snapshots.get(dep_path),
                    wanted.snapshots.get(dep_path),
                ) {
                    // Optional dependencies count only where the record has their package:
                    // one left out by `--no-optional`, then or now, is no part of the package
                    // as installed, though the snapshot names it. pnpm 12 links a package
                    // whose optional children come or go anew, and counts it.
                    (Some(old), Some(new)) => {
                        old.dependencies == new.dependencies
                            && recorded_optional(old, |d| lockfile.snapshots.contains_key(d))
                                == recorded_optional(new, |d| recorded_now.contains(d))
                    }
                    (old, _) => old.is_some(),
                }
            }
        }
    }
}

/// The optional dependencies of `snapshot` whose package is in a record (`recorded`).
fn recorded_optional(
    snapshot: &tack_lockfile::SnapshotEntry,
    recorded: impl Fn(&str) -> bool,
) -> Vec<(&String, &String)> {
    snapshot
        .optional_dependencies
        .iter()
        .filter(|(alias, reference)| {
            tack_lockfile::ref_to_dep_path(reference, alias).is_some_and(|d| recorded(&d))
        })
        .collect()
}

/// The direct dependencies of the project in `project_dir` whose link in its modules dir
/// points where this plan links them already: taken before the install, for a summary
/// without a recorded lockfile.
pub(super) fn linked_already(plan: &LinkPlan, project_dir: &Path) -> HashSet<String> {
    let Some(root) = plan.importers.iter().find(|i| i.dir == project_dir) else {
        return HashSet::new();
    };
    let modules = root.dir.join(&plan.modules_dir_name);
    if !modules.is_dir() {
        return HashSet::new();
    }
    let by_dep_path: BTreeMap<&str, &tack_linker::PlannedPackage> = plan
        .packages
        .iter()
        .map(|p| (p.dep_path.as_str(), p))
        .collect();
    root.deps
        .iter()
        .filter(|dep| {
            let target = match &dep.target {
                ChildTarget::DepPath(dep_path) => match by_dep_path.get(dep_path.as_str()) {
                    Some(pkg) => plan.package_dir(pkg),
                    None => return false,
                },
                ChildTarget::Link(dir) => dir.clone(),
            };
            // A scoped alias's link is in its scope's directory.
            let link = modules.join(&dep.alias);
            let Some(parent) = link.parent() else {
                return false;
            };
            std::fs::read_link(&link)
                .is_ok_and(|text| text == tack_fs::relative_path(parent, &target))
        })
        .map(|dep| dep.alias.clone())
        .collect()
}

/// What the linker did that the summary lists besides the lockfile's changes.
pub(super) struct Linked<'a> {
    /// Without a record: the direct dependencies whose link was in place before the install.
    pub already: &'a HashSet<String>,
    /// The direct dependencies whose link the linker made, `(importer id, alias)`.
    pub anew: &'a [(String, String)],
    /// The last install's workspace state (`node_modules/.pnpm-workspace-state-v1.json`) was
    /// missing: pnpm 12 then takes the tree as one it links again in full, and lists what
    /// it skips even over the same lockfile with nothing imported.
    pub without_state: bool,
}

/// The summary of this run for the project tack runs in (`project_dir`: the root, or the
/// workspace project of the working directory), given what the last install `recorded`, and
/// which direct dependencies were `linked` before it or by it.
pub(super) fn summary(
    plan: &InstallPlan,
    imported: &ImportSummary,
    wanted: &Lockfile,
    selection: &Selection<'_>,
    recorded: &Recorded,
    project_dir: &Path,
    linked: &Linked<'_>,
) -> Vec<SummaryEntry> {
    let Some(root) = plan.link.importers.iter().find(|i| i.dir == project_dir) else {
        return Vec::new();
    };
    let mut entries = match recorded {
        // Nothing changed: nothing added or removed, even if packages were imported again;
        // only the links made again are listed, as pnpm 12 lists them.
        Recorded::Same => {
            let anew: HashSet<&str> = linked
                .anew
                .iter()
                .filter(|(importer, _)| *importer == root.id)
                .map(|(_, alias)| alias.as_str())
                .collect();
            let mut entries = changes(plan, root, imported, wanted, selection, None, true);
            entries.retain(|entry| anew.contains(entry.alias.as_str()));
            entries
        }
        Recorded::Other(previous) => changes(
            plan,
            root,
            imported,
            wanted,
            selection,
            Some(previous),
            false,
        ),
        Recorded::Nothing => {
            let mut entries = changes(plan, root, imported, wanted, selection, None, false);
            entries.retain(|entry| !linked.already.contains(&entry.alias));
            entries
        }
    };
    // The project's own optional dependencies that do not fit this platform, whenever this
    // run imported a package, installs another lockfile than the last one or found no
    // workspace state (pnpm 12:
    // `- fsevents 2.3.3` under `optionalDependencies:`, also when the last install skipped it
    // too; nothing under the same lockfile with nothing imported). Over another lockfile, only
    // those it records for the project: after `--no-optional` or `--dev`, whose record has no
    // optional dependencies, pnpm 12 lists none and says "Already up to date".
    let linked_any = imported
        .outcomes
        .values()
        .any(|outcome| *outcome != ImportOutcome::Reused);
    // (Not in the hoisted layout, where pnpm 12 lists no skipped package.)
    let isolated = plan.link.hoisted.is_none();
    if isolated
        && selection.project_optional()
        && (linked_any || linked.without_state || !matches!(recorded, Recorded::Same))
    {
        let mut skipped = skipped_own_optional(plan, wanted, &root.id);
        if let Recorded::Other(previous) = recorded {
            let before = previous.importers.get(&root.id);
            skipped.retain(|entry| {
                before.is_some_and(|importer| {
                    importer.optional_dependencies.contains_key(&entry.alias)
                })
            });
        }
        entries.extend(skipped);
    }
    entries
}

/// The project's own optional dependencies that this install skips, as removed entries.
fn skipped_own_optional(
    plan: &InstallPlan,
    wanted: &Lockfile,
    importer: &str,
) -> Vec<SummaryEntry> {
    let skipped: std::collections::HashSet<&str> =
        plan.skipped.iter().map(String::as_str).collect();
    let mut entries = Vec::new();
    for (alias, dep) in wanted
        .importers
        .get(importer)
        .into_iter()
        .flat_map(|importer| importer.optional_dependencies.iter())
    {
        let Some(dep_path) = tack_lockfile::ref_to_dep_path(&dep.version, alias) else {
            continue;
        };
        if skipped.contains(dep_path.as_str()) {
            let (name, version) = wanted.name_version(&dep_path);
            entries.push(SummaryEntry {
                group: SummaryGroup::OptionalDependencies,
                alias: alias.clone(),
                target: SummaryTarget::Package { name, version },
                added: false,
            });
        }
    }
    entries
}

/// The direct dependencies added and removed since the `previous` recorded lockfile (all that
/// this run imported when there is none; with `all` and no `previous`, every one).
/// The path of the `link:` dependency `alias` in the `package.json` of the project at `dir`.
fn manifest_link_path(dir: &Path, alias: &str) -> Option<String> {
    let manifest = tack_config::read_manifest(&dir.join("package.json")).ok()?;
    let path = [
        &manifest.dependencies,
        &manifest.dev_dependencies,
        &manifest.optional_dependencies,
    ]
    .into_iter()
    .find_map(|specs| specs.get(alias)?.strip_prefix("link:").map(str::to_string));
    path
}

fn changes(
    plan: &InstallPlan,
    root: &tack_linker::PlannedImporter,
    imported: &ImportSummary,
    wanted: &Lockfile,
    selection: &Selection<'_>,
    previous: Option<&Lockfile>,
    all: bool,
) -> Vec<SummaryEntry> {
    let by_dep_path: BTreeMap<&str, &tack_linker::PlannedPackage> = plan
        .link
        .packages
        .iter()
        .map(|p| (p.dep_path.as_str(), p))
        .collect();
    let old: Option<BTreeMap<&str, (&str, LockfileGroup)>> = previous.map(|previous| {
        previous
            .importers
            .get(&root.id)
            .into_iter()
            .flat_map(|importer| importer.all_deps())
            .map(|(alias, dep, group)| (alias.as_str(), (dep.version.as_str(), group)))
            .collect()
    });
    let new_versions: BTreeMap<&str, &str> = wanted
        .importers
        .get(&root.id)
        .into_iter()
        .flat_map(|importer| importer.all_deps())
        .filter(|(_, _, group)| included(*group, selection))
        .map(|(alias, dep, _)| (alias.as_str(), dep.version.as_str()))
        .collect();

    let mut entries: Vec<SummaryEntry> = root
        .deps
        .iter()
        .filter_map(|dep| {
            let version = new_versions.get(dep.alias.as_str()).copied();
            // A dependency whose peers alone changed (`1.2.2(react@18.3.1)` →
            // `1.2.2(react@18.2.0)`) is not listed: pnpm 12 lists name and version. One the
            // record has in a group this install leaves out is listed (`--dev` after `chalk`
            // moved from the dependencies to the dev dependencies lists `+ chalk`).
            let changed = || match &old {
                Some(old) => {
                    old.get(dep.alias.as_str())
                        .filter(|(_, group)| included(*group, selection))
                        .map(|(v, _)| without_peers(v))
                        != version.map(without_peers)
                }
                None => true,
            };
            let target = match &dep.target {
                ChildTarget::DepPath(dep_path) => {
                    let pkg = by_dep_path.get(dep_path.as_str())?;
                    // Under the global virtual store, the slot may be another project's:
                    // the link this run makes is what is listed.
                    let added = match &old {
                        Some(_) => changed(),
                        None => {
                            all || plan.link.shared_slots
                                || matches!(
                                    imported.outcomes.get(dep_path),
                                    Some(ImportOutcome::Imported | ImportOutcome::Repaired)
                                )
                        }
                    };
                    if !added {
                        return None;
                    }
                    SummaryTarget::package(&pkg.name, &pkg.version)
                }
                // A `link:` dependency (a workspace project or a directory) is listed as
                // `+ alias <- path` whenever its specifier is new; nothing is imported for it.
                ChildTarget::Link(_) => {
                    let path = match version {
                        Some(version) => version.strip_prefix("link:")?.to_string(),
                        // Left out of the lockfile (`excludeLinksFromLockfile`): named as the
                        // manifest spells it, as pnpm 12 names it.
                        None => manifest_link_path(&root.dir, &dep.alias)?,
                    };
                    if !changed() {
                        return None;
                    }
                    SummaryTarget::Link(path)
                }
            };
            Some(SummaryEntry {
                group: match dep.group {
                    tack_linker::DepGroup::Prod => SummaryGroup::Dependencies,
                    tack_linker::DepGroup::Dev => SummaryGroup::DevDependencies,
                    tack_linker::DepGroup::Optional => SummaryGroup::OptionalDependencies,
                },
                alias: dep.alias.clone(),
                target,
                added: true,
            })
        })
        .collect();

    // What the recorded lockfile had and this one does not (or has at another version).
    if let (Some(old), Some(previous)) = (&old, previous) {
        // Every dependency the lockfile has for the project, in the groups left out too.
        let wanted_aliases: HashSet<&str> = wanted
            .importers
            .get(&root.id)
            .into_iter()
            .flat_map(|importer| importer.all_deps())
            .map(|(alias, _, _)| alias.as_str())
            .collect();
        // In the hoisted layout pnpm 12 lists only what it had installed in the groups this
        // install includes: `--prod` after a full install lists no dev dependency.
        let hoisted = plan.link.hoisted.is_some();
        for (alias, (version, group)) in old {
            if new_versions.get(alias).map(|v| without_peers(v)) == Some(without_peers(version)) {
                continue;
            }
            if hoisted && !included(*group, selection) {
                continue;
            }
            let target = if version.starts_with("link:") && wanted_aliases.contains(alias) {
                SummaryTarget::AliasOnly
            } else if let Some(path) = version.strip_prefix("link:") {
                // pnpm 12 names a removed project by its manifest's version.
                linked_manifest(&root.dir.join(path)).map_or_else(
                    || SummaryTarget::Link(path.to_string()),
                    |(_, version)| SummaryTarget::package(*alias, version),
                )
            } else {
                let Some(dep_path) = tack_lockfile::ref_to_dep_path(version, alias) else {
                    continue;
                };
                // By its alias: pnpm 12 lists a removed package as `- alias version`, never
                // with the name an `npm:` alias points to.
                let (_, version) = previous.name_version(&dep_path);
                SummaryTarget::package(*alias, version)
            };
            entries.push(SummaryEntry {
                group: match group {
                    LockfileGroup::Prod => SummaryGroup::Dependencies,
                    LockfileGroup::Dev => SummaryGroup::DevDependencies,
                    LockfileGroup::Optional => SummaryGroup::OptionalDependencies,
                },
                alias: (*alias).to_string(),
                target,
                added: false,
            });
        }
        cancel_same_versions(&mut entries);
    }
    entries
}

/// Whether this install's `selection` includes the dependency group `group`.
fn included(group: LockfileGroup, selection: &Selection<'_>) -> bool {
    match group {
        LockfileGroup::Prod => selection.prod,
        LockfileGroup::Dev => selection.dev,
        LockfileGroup::Optional => selection.project_optional(),
    }
}

/// Drops each removed entry that an added one in the same group brings back under the same
/// alias at the same version, and that added one: pnpm 12 pairs them by alias and version, so
/// `lodash` moved from `npm:lodash-es@4.17.21` to `lodash@4.17.21` is not listed at all.
fn cancel_same_versions(entries: &mut Vec<SummaryEntry>) {
    let key = |entry: &SummaryEntry| match &entry.target {
        SummaryTarget::Package { version, .. } => {
            Some((entry.group, entry.alias.clone(), version.clone()))
        }
        _ => None,
    };
    let removed: HashSet<_> = entries
        .iter()
        .filter(|entry| !entry.added)
        .filter_map(key)
        .collect();
    let both: HashSet<_> = entries
        .iter()
        .filter(|entry| entry.added)
        .filter_map(key)
        .filter(|key| removed.contains(key))
        .collect();
    entries.retain(|entry| key(entry).is_none_or(|key| !both.contains(&key)));
}

/// A lockfile version without its peers suffix (and patch hash).
fn without_peers(version: &str) -> &str {
    tack_lockfile::remove_suffix(version)
}

/// The name and version of the project at `dir`, when its manifest has both.
fn linked_manifest(dir: &std::path::Path) -> Option<(String, String)> {
    let text = std::fs::read(dir.join("package.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&text).ok()?;
    Some((
        manifest["name"].as_str()?.to_string(),
        manifest["version"].as_str()?.to_string(),
    ))
}
