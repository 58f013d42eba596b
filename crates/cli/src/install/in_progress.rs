//! A sentinel for a tack install under way: `<modules dir>/.tack-install-in-progress`,
//! made before an install changes anything and removed once its builds and patches are done.
//!
//! The record of the last complete install (`.pnpm/lock.yaml`) is written with the state
//! files once the dependencies are built and patched, as pnpm 12 writes it, and the install
//! deletes the old one before it changes anything (`check_recorded_tree`). An install stopped
//! before its end (killed, or a build or patch that failed) may still leave packages that were
//! copied to be patched or built and never were, under the `.modules.yaml` of the install
//! before. Found at the start of the next install, the sentinel says so: those packages are
//! imported again, then patched and built. pnpm never makes it, so a tree pnpm completed is
//! trusted as before.

use std::path::Path;

use crate::error::CliError;

/// The sentinel's file name, in the root modules dir.
pub const IN_PROGRESS_FILE: &str = ".tack-install-in-progress";

/// Marks an install of the tree at `modules_dir` as under way; `true` when the last tack
/// install there had not finished.
pub fn begin(modules_dir: &Path) -> Result<bool, CliError> {
    let path = modules_dir.join(IN_PROGRESS_FILE);
    let interrupted = path.exists();
    let failed = |e: std::io::Error| {
        CliError::new(
            "ERR_TACK_STATE_WRITE",
            format!("cannot write {}: {e}", path.display()),
        )
    };
    if !interrupted {
        fs_err::create_dir_all(modules_dir).map_err(failed)?;
        fs_err::write(&path, b"").map_err(failed)?;
    }
    Ok(interrupted)
}

/// Marks the install finished: every build and patch it had to run ran.
pub fn end(modules_dir: &Path) {
    let _ = std::fs::remove_file(modules_dir.join(IN_PROGRESS_FILE));
}
