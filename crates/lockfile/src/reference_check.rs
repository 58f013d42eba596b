//! The dependency references of a lockfile, checked as pnpm 12 checks them when it reads the
//! file.
//!
//! Every `version:` of an importer's dependency and every reference in a snapshot's
//! `dependencies` and `optionalDependencies` names a dep path: a version with its peer
//! suffixes (`18.3.1(react@18.3.1)`), or a whole dep path when it starts with `@`
//! (`@scope/name@1.0.0`). pnpm 12 parses each one as it reads the lockfile, reachable or not,
//! and calls the lockfile broken (`ERR_PNPM_BROKEN_LOCKFILE`) when one cannot be a dep path:
//! empty, a scoped name with no version, parentheses that do not pair. tack looked such a
//! reference up instead and reported a missing entry (`ERR_PNPM_LOCKFILE_MISSING_DEPENDENCY`),
//! and only for the packages being installed. A reference that parses but names nothing
//! (`6.0.0 x`, `bogus`) is left to the lookup, as pnpm leaves it. The reasons are pnpm 12's
//! words (observed), so that a search for them finds the same answers.

use std::path::Path;

use crate::error::LockfileError;
use crate::types::Lockfile;

const EMPTY_VERSION: &str = "Failed to parse the version part: Failed to parse version.";
const MISMATCH: &str = "Mismatch parenthesis";

/// The first reference of `lockfile` that cannot be a dep path, as an error naming where it is.
pub(crate) fn check_references(lockfile: &Lockfile, path: &Path) -> Result<(), LockfileError> {
    let importers = lockfile.importers.iter().flat_map(|(id, project)| {
        project
            .all_deps()
            .map(move |(alias, dep, _)| (format!("importer {id:?}"), alias, dep.version.as_str()))
    });
    let snapshots = lockfile.snapshots.iter().flat_map(|(key, snapshot)| {
        snapshot
            .dependencies
            .iter()
            .chain(&snapshot.optional_dependencies)
            .map(move |(alias, reference)| (format!("snapshot {key:?}"), alias, reference.as_str()))
    });
    for (place, alias, reference) in importers.chain(snapshots) {
        if let Err(reason) = reference_problem(reference) {
            return Err(LockfileError::BrokenReference {
                path: path.to_path_buf(),
                place,
                alias: alias.clone(),
                reference: reference.to_string(),
                reason,
            });
        }
    }
    Ok(())
}

/// Why `reference` cannot be a dep path, in pnpm 12's words; `Ok` when it can (or is a
/// `link:` to a directory).
fn reference_problem(reference: &str) -> Result<(), String> {
    if reference.starts_with("link:") {
        return Ok(());
    }
    let Some(scoped) = reference.strip_prefix('@') else {
        return version_with_suffixes(reference).map_err(str::to_string);
    };
    match scoped.find('@') {
        Some(0) => Err("Name is empty".to_string()),
        Some(at) if at + 1 < scoped.len() => version_with_suffixes(&scoped[at + 1..])
            .map_err(|reason| format!("Failed to parse suffix: {reason}")),
        _ => Err("Suffix is missing".to_string()),
    }
}

/// A version followed by `(…)` groups: not empty, and every group's parentheses paired. What
/// follows the last group is not looked at, as pnpm 12 does not (`6.0.0(a@1))` passes).
fn version_with_suffixes(text: &str) -> Result<(), &'static str> {
    let Some(first) = text.find(['(', ')']) else {
        return if text.is_empty() {
            Err(EMPTY_VERSION)
        } else {
            Ok(())
        };
    };
    if first == 0 {
        return Err(EMPTY_VERSION);
    }
    let mut rest = &text[first..];
    if rest.starts_with(')') {
        return Err(MISMATCH);
    }
    while rest.starts_with('(') {
        let mut depth = 0usize;
        let close = rest.char_indices().find_map(|(i, c)| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(i)
        });
        match close {
            Some(i) => rest = &rest[i + 1..],
            None => return Err(MISMATCH),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_judged_as_pnpm_12_judges_them() {
        // What pnpm 12.21 said about each, as the reference of a snapshot's dependency.
        let broken = [
            ("@@@bogus", "Name is empty"),
            ("@bogus", "Suffix is missing"),
            ("@a/b", "Suffix is missing"),
            ("@a/b@", "Suffix is missing"),
            (
                "@a/b@1.0.0((",
                "Failed to parse suffix: Mismatch parenthesis",
            ),
            ("", EMPTY_VERSION),
            ("6.0.0((", MISMATCH),
            ("6.0.0)", MISMATCH),
            ("6.0.0(a@1)(b", MISMATCH),
        ];
        for (reference, reason) in broken {
            assert_eq!(
                reference_problem(reference),
                Err(reason.to_string()),
                "{reference:?}"
            );
        }
        let parsed = [
            "6.0.0",
            "bogus",
            "!!!",
            "6.0.0 x",
            "npm:x",
            "9.9.9",
            "6.0.0(a@1))",
            "@a/b@1.0.0",
            "is-number@9.9.9",
            "18.3.1(react@18.3.1)(@types/react@18.3.3(x@1))",
            "1.0.0(patch_hash=abc)(react@18.3.1)",
            "link:",
            "link:../pkg",
            "file:../local-pkg",
            "@scope/name@file:../a.tgz",
        ];
        for reference in parsed {
            assert_eq!(reference_problem(reference), Ok(()), "{reference:?}");
        }
    }
}
