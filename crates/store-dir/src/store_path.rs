//! Where the store lives, by pnpm's rules (`store/path`, `config/reader/src/dirs.ts`).
//!
//! 1. An explicit `storeDir` (already picked from CLI/env/yaml by the caller) is resolved
//!    against the project dir, `~/` expands to the home dir.
//! 2. Otherwise the store is `<pnpm home>/store`, where the pnpm home is `$PNPM_HOME`, else
//!    `$XDG_DATA_HOME/pnpm`, else `~/.local/share/pnpm` — but only when it is on the same
//!    filesystem as the project, because packages are hard-linked from it. If it is not,
//!    the store goes to `<mount point of the project>/.pnpm-store`, or (pnpm 12) to
//!    `<project>/node_modules/.pnpm-store` when the project dir is itself the mount point.
//! 3. `v11` is appended unless the path already ends with it.
//!
//! "Same filesystem" is decided by comparing `st_dev` of the project dir and of the nearest
//! existing ancestor of the pnpm home, which needs no writes.

use crate::layout::STORE_VERSION;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Everything [`resolve_store_dir`] looks at. The caller fills it from config and env.
#[derive(Debug, Clone, Default)]
pub struct StoreDirInputs {
    /// `storeDir` from the CLI, env or config files, after precedence.
    pub store_dir: Option<PathBuf>,
    /// `$PNPM_HOME`.
    pub pnpm_home: Option<PathBuf>,
    /// `$XDG_DATA_HOME`.
    pub xdg_data_home: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// The project (workspace root) dir; absolute.
    pub project_dir: PathBuf,
}

/// The store's `.../v11` directory.
pub fn resolve_store_dir(inputs: &StoreDirInputs) -> PathBuf {
    if let Some(explicit) = inputs
        .store_dir
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        let expanded = expand_home(explicit, inputs.home.as_deref());
        let absolute = if expanded.is_absolute() {
            expanded
        } else {
            inputs.project_dir.join(expanded)
        };
        return with_store_version(&tack_fs::normalize_lexically(&absolute));
    }
    let home_store = pnpm_home_dir(inputs).join("store");
    match (device_of(&inputs.project_dir), device_of(&home_store)) {
        (Some(project_dev), Some(home_dev)) if project_dev != home_dev => {
            let mount = mount_point(&inputs.project_dir, project_dev);
            if mount == inputs.project_dir {
                with_store_version(&mount.join("node_modules").join(".pnpm-store"))
            } else {
                with_store_version(&mount.join(".pnpm-store"))
            }
        }
        _ => with_store_version(&home_store),
    }
}

/// The pnpm home ("data dir"): `$PNPM_HOME`, else `$XDG_DATA_HOME/pnpm`, else
/// `~/.local/share/pnpm`.
pub fn pnpm_home_dir(inputs: &StoreDirInputs) -> PathBuf {
    let nonempty = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
    if let Some(home) = nonempty(&inputs.pnpm_home) {
        return home;
    }
    if let Some(xdg) = nonempty(&inputs.xdg_data_home) {
        return xdg.join("pnpm");
    }
    nonempty(&inputs.home)
        .unwrap_or_else(|| PathBuf::from("/"))
        .join(".local/share/pnpm")
}

/// Append `v11` unless the last component already is `v11`.
pub fn with_store_version(path: &Path) -> PathBuf {
    if path.file_name().is_some_and(|n| n == STORE_VERSION) {
        path.to_owned()
    } else {
        path.join(STORE_VERSION)
    }
}

fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_owned(),
    }
}

/// Whether `a` and `b` (or, for a path not made yet, its nearest existing ancestor) are on
/// one device: only then can a file in one get a hard link in the other.
pub fn on_same_device(a: &Path, b: &Path) -> bool {
    matches!((device_of(a), device_of(b)), (Some(x), Some(y)) if x == y)
}

/// `st_dev` of the nearest existing ancestor of `path` (the store may not exist yet).
fn device_of(path: &Path) -> Option<u64> {
    path.ancestors()
        .find_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.dev())
}

/// The top-most ancestor of `dir` on the same device.
fn mount_point(dir: &Path, dev: u64) -> PathBuf {
    let mut top = dir.to_owned();
    for ancestor in dir.ancestors().skip(1) {
        match std::fs::metadata(ancestor) {
            Ok(m) if m.dev() == dev => top = ancestor.to_owned(),
            _ => break,
        }
    }
    top
}
