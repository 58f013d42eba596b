//! The recorded lockfile as pnpm 12 reads it over a tree where an optional package's
//! directory is gone (taken out after its build failed, or deleted by hand): pnpm drops such
//! a package from what the last install recorded, with the edges to it.
//!
//! So, against that record, the projects that depend on it directly list it again (`+ name
//! version`), and the packages that depend on it count as linked anew and are built again
//! (observed from pnpm 12.21: a package whose optional dependency failed to build runs its
//! own scripts again on the next install, which retries the failed build).

use std::collections::HashSet;

use tack_linker::{LinkPlan, COMPLETION_MARKER};
use tack_lockfile::{ImporterDep, Lockfile};

/// The dep paths of the optional packages of `plan` whose directory has no completion marker.
/// `lockfile` says which packages are optional. (Isolated layout, not the global virtual
/// store: empty otherwise.)
pub(super) fn missing(plan: &LinkPlan, lockfile: &Lockfile) -> HashSet<String> {
    if plan.shared_slots || plan.hoisted.is_some() {
        return HashSet::new();
    }
    plan.packages
        .iter()
        .filter(|pkg| {
            lockfile
                .snapshots
                .get(&pkg.dep_path)
                .is_some_and(|snapshot| snapshot.optional)
        })
        .filter(|pkg| !plan.package_dir(pkg).join(COMPLETION_MARKER).exists())
        .map(|pkg| pkg.dep_path.clone())
        .collect()
}

/// `recorded` without the snapshots of `missing` and every edge to them, from the projects
/// and from the other snapshots.
pub(super) fn without(recorded: &Lockfile, missing: &HashSet<String>) -> Lockfile {
    let mut lockfile = recorded.clone();
    let gone = |alias: &String, reference: &String| {
        tack_lockfile::ref_to_dep_path(reference, alias).is_some_and(|d| missing.contains(&d))
    };
    lockfile
        .snapshots
        .retain(|dep_path, _| !missing.contains(dep_path));
    for snapshot in lockfile.snapshots.values_mut() {
        snapshot
            .dependencies
            .retain(|alias, reference| !gone(alias, reference));
        snapshot
            .optional_dependencies
            .retain(|alias, reference| !gone(alias, reference));
    }
    let kept = |alias: &String, dep: &mut ImporterDep| !gone(alias, &dep.version);
    for importer in lockfile.importers.values_mut() {
        importer.dependencies.retain(kept);
        importer.dev_dependencies.retain(kept);
        importer.optional_dependencies.retain(kept);
    }
    lockfile
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_package_goes_with_the_edges_to_it() {
        let text = "lockfileVersion: '9.0'

importers:

  .:
    dependencies:
      a:
        specifier: 1.0.0
        version: 1.0.0
    optionalDependencies:
      o:
        specifier: 1.0.0
        version: 1.0.0

packages:

  a@1.0.0:
    resolution: {integrity: sha512-AA==}

  o@1.0.0:
    resolution: {integrity: sha512-OO==}

snapshots:

  a@1.0.0:
    optionalDependencies:
      o: 1.0.0

  o@1.0.0:
    optional: true
";
        let lockfile =
            Lockfile::from_str(text, std::path::Path::new("pnpm-lock.yaml")).expect("lockfile");
        let missing: HashSet<String> = ["o@1.0.0".to_string()].into();
        let pruned = without(&lockfile, &missing);
        assert!(!pruned.snapshots.contains_key("o@1.0.0"));
        assert!(pruned.snapshots["a@1.0.0"].optional_dependencies.is_empty());
        assert!(pruned.importers["."].optional_dependencies.is_empty());
        assert_eq!(pruned.importers["."].dependencies.len(), 1);
        assert_eq!(without(&lockfile, &HashSet::new()), lockfile);
    }
}
