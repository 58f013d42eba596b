//! A `node_modules` or virtual store directory that is something else: a file where the
//! directory must go.
//!
//! Some tool, a bad copy or a restored cache can leave a regular file at
//! `node_modules` or `node_modules/.pnpm`. pnpm 12 stops before it writes anything: a file at
//! `node_modules` fails its first read inside it (`ERR_PNPM_ENV_INSTALLER_READ_CONFIG_MODULES`,
//! reading `node_modules/.pnpm-config`), a file at `.pnpm` fails the first slot it creates
//! (`ERR_PNPM_PACKAGE_MANAGER_CREATE_SLOT_DIR`). tack failed later, with codes of its own,
//! after it had printed the store's location and, for `.pnpm`, written its in-progress marker.
//! A file among the store directory's parents (a `--store-dir` that names a file) is met by
//! pnpm 12 as it locks the store (`ERR_PNPM_STORE_DIR_RESOLVE_OPERATION_LOCK`); tack met it
//! after the lockfile was read, creating `files/`. These checks give pnpm's codes before
//! anything is written, and say which path is in the way and what to do about it.

use std::path::Path;

use tack_linker::LinkPlan;
use tack_store_dir::StoreDir;

use crate::error::CliError;

/// Fails when the root modules directory or the virtual store exists and is no directory (a
/// symlink to a directory is one). Call it on the plan as `plan::build` makes it.
pub fn check(plan: &LinkPlan) -> Result<(), CliError> {
    let modules_dir = plan.root_modules_dir();
    if is_no_directory(&modules_dir) {
        return Err(CliError::new(
            "ERR_PNPM_ENV_INSTALLER_READ_CONFIG_MODULES",
            format!(
                "Failed to read config-modules directory \"{}\": {} is a file, not a directory",
                modules_dir.join(".pnpm-config").display(),
                modules_dir.display()
            ),
        )
        .with_help(remove(&modules_dir)));
    }
    // Checked before the global virtual store moves the slots into the store: both are the
    // project's `node_modules/.pnpm` (or `virtualStoreDir`) here.
    for dir in [&plan.install_state_dir, &plan.virtual_store_dir] {
        if is_no_directory(dir) {
            return Err(CliError::new(
                "ERR_PNPM_PACKAGE_MANAGER_CREATE_SLOT_DIR",
                format!(
                    "Failed to create virtual store slot directory in \"{}\": it is a file, not \
                     a directory",
                    dir.display()
                ),
            )
            .with_help(remove(dir)));
        }
    }
    Ok(())
}

/// Fails when a parent of the store's root is a file. Call it only when the store has no
/// index (a warm install then stats nothing more); a file at the root itself is left to the
/// store's own error, which names it.
pub fn check_store(store: &StoreDir) -> Result<(), CliError> {
    let root = store.root();
    let blocker = root
        .ancestors()
        .skip(1)
        .find(|dir| std::fs::symlink_metadata(dir).is_ok())
        .filter(|dir| is_no_directory(dir));
    match blocker {
        None => Ok(()),
        Some(file) => Err(CliError::new(
            "ERR_PNPM_STORE_DIR_RESOLVE_OPERATION_LOCK",
            format!(
                "Failed to resolve the store operation lock identity for \"{}\": {} is a file, \
                 not a directory",
                root.display(),
                file.display()
            ),
        )
        .with_help(format!(
            "Point storeDir (or --store-dir) at a directory, or move {} out of the way. Nothing \
             was changed.",
            file.display()
        ))),
    }
}

fn is_no_directory(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| !meta.is_dir())
        || std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file())
}

fn remove(path: &Path) -> String {
    format!(
        "Move {} out of the way (or delete it) and run the install again. Nothing was changed.",
        path.display()
    )
}
