//! External tools the tests need, installed on demand and never skipped: pnpm 12 for
//! conformance checks. Concurrent test processes serialize the install with a file lock.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::RegistryError;

/// The pnpm version conformance tests run against.
pub const PNPM_VERSION: &str = "12.21.0";

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| crate_dir.to_path_buf())
}

/// Path to pnpm 12: `$TACK_TEST_PNPM`, else `<repo>/.tools/pnpm12/node_modules/.bin/pnpm`,
/// installing it there with npm (under a file lock) when it is missing or the wrong version.
pub fn pnpm() -> Result<PathBuf, RegistryError> {
    if let Some(path) = std::env::var_os("TACK_TEST_PNPM") {
        return Ok(PathBuf::from(path));
    }
    let tools = std::env::var_os("TACK_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools"));
    let prefix = tools.join("pnpm12");
    let bin = prefix.join("node_modules").join(".bin").join("pnpm");
    if has_version(&bin) {
        return Ok(bin);
    }
    fs_err::create_dir_all(&prefix).map_err(|e| RegistryError::io(&prefix, e))?;
    let lock_path = tools.join(".pnpm12.lock");
    let lock = fs_err::File::create(&lock_path).map_err(|e| RegistryError::io(&lock_path, e))?;
    lock.file()
        .lock()
        .map_err(|e| RegistryError::io(&lock_path, e))?;
    if !has_version(&bin) {
        let status = Command::new("npm")
            .arg("install")
            .arg("--prefix")
            .arg(&prefix)
            .args(["--no-save", "--no-package-lock"])
            .arg(format!("pnpm@{PNPM_VERSION}"))
            .status()
            .map_err(|e| tool_error(format!("cannot run npm: {e}")))?;
        if !status.success() || !has_version(&bin) {
            return Err(tool_error(format!(
                "`npm install --prefix {} pnpm@{PNPM_VERSION}` failed ({status})",
                prefix.display()
            )));
        }
    }
    drop(lock);
    Ok(bin)
}

fn has_version(bin: &Path) -> bool {
    Command::new(bin).arg("--version").output().is_ok_and(|o| {
        o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == PNPM_VERSION
    })
}

fn tool_error(message: String) -> RegistryError {
    RegistryError::Tool {
        tool: format!("pnpm@{PNPM_VERSION}"),
        message,
    }
}
