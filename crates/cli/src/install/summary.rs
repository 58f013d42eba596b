//! The `+ name version` / `- name version` lines at the end of an install: which direct
//! dependencies of the root project this run added or removed.
//!
//! pnpm compares the lockfile the last install recorded (`node_modules/.pnpm/lock.yaml`) with
//! the one it installs now. A dependency whose directory the virtual store kept (pnpm keeps
//! the packages a lockfile drops for a week, see `modulesCacheMaxAge`) is still listed when it
//! comes back, though nothing is imported for it. Without a recorded lockfile (a first install,
//! or one after an interrupted run), the direct dependencies this run imported are listed.

use std::collections::BTreeMap;

use tack_linker::{ChildTarget, ImportOutcome, ImportSummary};
use tack_lockfile::{DepGroup as LockfileGroup, Lockfile};

use super::plan::{InstallPlan, Selection};
use crate::reporter::{DepGroup as SummaryGroup, SummaryEntry};

/// The summary of this run. `previous`: the lockfile the last install recorded, when it
/// differs from the one installed now.
pub(super) fn summary(
    plan: &InstallPlan,
    imported: &ImportSummary,
    wanted: &Lockfile,
    selection: &Selection<'_>,
    previous: Option<&Lockfile>,
) -> Vec<SummaryEntry> {
    let Some(root) = plan.link.importers.iter().find(|i| i.id == ".") else {
        return Vec::new();
    };
    let by_dep_path: BTreeMap<&str, &tack_linker::PlannedPackage> = plan
        .link
        .packages
        .iter()
        .map(|p| (p.dep_path.as_str(), p))
        .collect();
    let old: Option<BTreeMap<&str, (&str, LockfileGroup)>> = previous.map(|previous| {
        previous
            .importers
            .get(".")
            .into_iter()
            .flat_map(|importer| importer.all_deps())
            .map(|(alias, dep, group)| (alias.as_str(), (dep.version.as_str(), group)))
            .collect()
    });
    let new_versions: BTreeMap<&str, &str> = wanted
        .importers
        .get(".")
        .into_iter()
        .flat_map(|importer| importer.all_deps())
        .filter(|(_, _, group)| match group {
            LockfileGroup::Prod => selection.prod,
            LockfileGroup::Dev => selection.dev,
            LockfileGroup::Optional => selection.project_optional(),
        })
        .map(|(alias, dep, _)| (alias.as_str(), dep.version.as_str()))
        .collect();

    let mut entries: Vec<SummaryEntry> = root
        .deps
        .iter()
        .filter_map(|dep| {
            let ChildTarget::DepPath(dep_path) = &dep.target else {
                return None;
            };
            let pkg = by_dep_path.get(dep_path.as_str())?;
            let added = match &old {
                Some(old) => {
                    let version = new_versions.get(dep.alias.as_str()).copied();
                    old.get(dep.alias.as_str()).map(|(v, _)| *v) != version
                }
                None => matches!(
                    imported.outcomes.get(dep_path),
                    Some(ImportOutcome::Imported | ImportOutcome::Repaired)
                ),
            };
            added.then(|| SummaryEntry {
                group: match dep.group {
                    tack_linker::DepGroup::Prod => SummaryGroup::Dependencies,
                    tack_linker::DepGroup::Dev => SummaryGroup::DevDependencies,
                    tack_linker::DepGroup::Optional => SummaryGroup::OptionalDependencies,
                },
                alias: dep.alias.clone(),
                name: pkg.name.clone(),
                version: pkg.version.clone(),
                added: true,
            })
        })
        .collect();

    // What the recorded lockfile had and this one does not (or has at another version).
    if let (Some(old), Some(previous)) = (&old, previous) {
        for (alias, (version, group)) in old {
            if new_versions.get(alias) == Some(version) {
                continue;
            }
            let Some(dep_path) = tack_lockfile::ref_to_dep_path(version, alias) else {
                continue;
            };
            let (name, version) = previous.name_version(&dep_path);
            entries.push(SummaryEntry {
                group: match group {
                    LockfileGroup::Prod => SummaryGroup::Dependencies,
                    LockfileGroup::Dev => SummaryGroup::DevDependencies,
                    LockfileGroup::Optional => SummaryGroup::OptionalDependencies,
                },
                alias: (*alias).to_string(),
                name,
                version,
                added: false,
            });
        }
    }
    entries
}
