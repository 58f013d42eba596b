//! The end-of-scenario checks of the reliability suite: `tack store verify` comes back clean,
//! every CAS file holds exactly the content its name hashes to, and nothing is left behind
//! in the store or the project except the documented sweepable temp files (names containing
//! `.tack-tmp-`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha512};

use crate::conformance::project_tree;
use crate::kill;
use crate::project::TestProject;
use crate::tree::{self, Tree};

/// The infix of temp names a sweeper may remove (`tack_fs::TEMP_INFIX`).
pub const TEMP_INFIX: &str = ".tack-tmp-";

/// Files of the project dir that are inputs, not install output.
const PROJECT_INPUTS: &[&str] = &[
    "package.json",
    "pnpm-lock.yaml",
    "pnpm-workspace.yaml",
    ".npmrc",
    "node_modules",
];

/// How an `index.db` that was no database is named once moved aside (with its `-wal` and
/// `-shm`); the tests that damage it check these files themselves.
const SET_ASIDE_INDEX: &str = "index.db.corrupt-";

/// What a store may hold at its root: the CAS, its index, staging, and what pnpm 12 keeps
/// beside them: the projects installed from the store (`projects`, links to them) and its
/// global virtual store (`links`, config dependencies).
const STORE_ROOT_ENTRIES: &[&str] = &[
    "files",
    "index.db",
    "index.db-wal",
    "index.db-shm",
    "tmp",
    "projects",
    "links",
];

/// After an install of the basic fixture that failed (`case` names it): nothing of it
/// was linked, and its store holds no partial file and still verifies.
pub fn assert_nothing_installed(project: &TestProject, case: &str) {
    assert!(
        !project.dir().join("node_modules/is-odd").exists(),
        "{case}: a package was linked"
    );
    let leftovers = store_leftovers(&project.store());
    assert!(leftovers.unexpected.is_empty(), "{case}: {leftovers:?}");
    // An install refused before it wrote anything made no store at all.
    if project.store().join("v11").exists() {
        verify(project, &project.store()).unwrap_or_else(|e| panic!("{case}: {e}"));
    }
}

/// Runs `tack store verify` (with a deadline) and returns its output when it is not clean.
pub fn verify(project: &TestProject, store: &Path) -> Result<(), String> {
    verify_with(kill::store_command(project, store, "verify"))
}

fn verify_with(cmd: Command) -> Result<(), String> {
    let out = kill::run(cmd, Duration::from_secs(60));
    if out.success() && out.stdout.contains("The store is intact") {
        Ok(())
    } else {
        Err(format!(
            "tack store verify is not clean: {}",
            out.describe()
        ))
    }
}

/// What a walk of the store or project found besides expected content.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// Sweepable temp entries (allowed).
    pub temp: Vec<String>,
    /// Anything else that should not be there, with a reason.
    pub unexpected: Vec<String>,
}

/// Walks `<store>/v11`: CAS files must be named by the sha512 of their content.
pub fn store_leftovers(store: &Path) -> Leftovers {
    let mut found = Leftovers::default();
    let v11 = store.join("v11");
    let Ok(entries) = fs_err::read_dir(&v11) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(TEMP_INFIX) {
            found.temp.push(format!("v11/{name}"));
        } else if !STORE_ROOT_ENTRIES.contains(&name.as_str()) && !name.starts_with(SET_ASIDE_INDEX)
        {
            found.unexpected.push(format!("v11/{name}: unknown entry"));
        }
    }
    let tmp = v11.join("tmp");
    for entry in fs_err::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(TEMP_INFIX) {
            found.temp.push(format!("v11/tmp/{name}"));
        } else {
            found
                .unexpected
                .push(format!("v11/tmp/{name}: not a sweepable name"));
        }
    }
    let files = v11.join("files");
    for shard in fs_err::read_dir(&files).into_iter().flatten().flatten() {
        let shard_name = shard.file_name().to_string_lossy().into_owned();
        let Ok(inner) = fs_err::read_dir(shard.path()) else {
            found
                .unexpected
                .push(format!("files/{shard_name}: not a directory"));
            continue;
        };
        for entry in inner.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("files/{shard_name}/{name}");
            if name.contains(TEMP_INFIX) {
                found.temp.push(rel);
                continue;
            }
            let digest = format!("{shard_name}{}", name.trim_end_matches("-exec"));
            match fs_err::read(entry.path()) {
                Ok(bytes) => {
                    let actual = hex::encode(Sha512::digest(&bytes));
                    if actual != digest {
                        found.unexpected.push(format!(
                            "{rel}: content hashes to {actual} ({} bytes)",
                            bytes.len()
                        ));
                    }
                }
                Err(e) => found.unexpected.push(format!("{rel}: unreadable: {e}")),
            }
        }
    }
    found
}

/// Entries of the project dir that are neither inputs nor node_modules.
pub fn project_leftovers(project: &TestProject) -> Leftovers {
    let mut found = Leftovers::default();
    for entry in fs_err::read_dir(project.dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(TEMP_INFIX) {
            found.temp.push(name);
        } else if !PROJECT_INPUTS.contains(&name.as_str()) {
            found.unexpected.push(format!("project/{name}"));
        }
    }
    found
}

/// The project's install output (see `conformance::project_tree`), with sweepable temp
/// entries removed and returned separately.
pub fn tree_without_temp(project: &TestProject) -> (Tree, Vec<String>) {
    let mut tree = project_tree(project);
    let temp: Vec<String> = tree
        .keys()
        .filter(|k| k.contains(TEMP_INFIX))
        .cloned()
        .collect();
    tree.retain(|k, _| !k.split('/').any(|c| c.contains(TEMP_INFIX)));
    (tree, temp)
}

/// Every check after a recovering install: the tree equals `expected` (see
/// [`tree::diff_recovered`]), the store verifies,
/// CAS content matches names, nothing unexpected is left. Returns the problems found.
pub fn check_all(project: &TestProject, store: &Path, expected: &Tree) -> Vec<String> {
    let mut problems = Vec::new();
    let (actual, _temp) = tree_without_temp(project);
    let diff = tree::diff_recovered(expected, &actual);
    if !diff.is_empty() {
        problems.push(format!(
            "tree differs from a clean install ({} differences):\n{}",
            diff.len(),
            diff.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
        ));
    }
    let store_left = store_leftovers(store);
    problems.extend(store_left.unexpected);
    problems.extend(project_leftovers(project).unexpected);
    if let Err(e) = verify(project, store) {
        problems.push(e);
    }
    problems
}
