//! Whether the links of an existing tree can be trusted without checking each one.
//!
//! A re-install over a complete `node_modules` (the lockfile touched but unchanged, a store
//! wiped while `node_modules` stayed) reuses every package directory, and used to check
//! every link anyway: each package's child links (a `symlink` that fails with `EEXIST`, then
//! a `readlink`), its `.bin` directory and the top-level links. For the medium fixture that
//! was about 12k syscalls and 50 ms of CPU, half of such a re-install.
//!
//! pnpm trusts the tree instead: `node_modules/.pnpm/lock.yaml` is the lockfile the last
//! complete install built the tree from, and a package whose entry it still has is not
//! linked again. tack trusts it the same way, all or nothing: when the lockfile it is about
//! to record is byte for byte the recorded one, and `.modules.yaml` describes the same
//! layout, the reused packages' links are left as they are.
//!
//! The record must not outlive a tree it no longer describes. An install of another lockfile
//! deletes it ([`check_recorded_lockfile`]) before it changes anything, and the state files
//! write it again only once every link is made: an install that stops partway leaves no
//! record, and the next one checks, and repairs, every link. An install of the same
//! lockfile keeps it: what it may change (a package dir without its marker, imported again
//! with the same children) leaves the tree the record describes.

use crate::error::LinkError;
use crate::modules_yaml::{read_modules_yaml, ModulesYaml};
use crate::plan::LinkPlan;
use std::io;

/// Whether `<virtual store>/lock.yaml`, the lockfile the last complete install recorded, is
/// `wanted`, the one this install will record (`None`: it records none). When it is not, it
/// is deleted, so that an install that stops partway leaves no record of a tree it changed.
pub fn check_recorded_lockfile(plan: &LinkPlan, wanted: Option<&str>) -> Result<bool, LinkError> {
    let path = plan.virtual_store_dir.join("lock.yaml");
    match std::fs::read(&path) {
        Ok(recorded) if wanted.is_some_and(|w| recorded == w.as_bytes()) => return Ok(true),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(LinkError::io("read", &path, "lock.yaml", e)),
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(LinkError::io("remove", &path, "lock.yaml", e)),
    }
}

/// True when the tree's links need no checking: the recorded lockfile is the one this
/// install records ([`check_recorded_lockfile`] said so), and the `.modules.yaml` on disk
/// describes the layout `planned` describes.
pub(crate) fn is_trusted(plan: &LinkPlan, lockfile_unchanged: bool, planned: &ModulesYaml) -> bool {
    lockfile_unchanged
        && read_modules_yaml(&plan.root_modules_dir()).is_some_and(|old| same_layout(&old, planned))
}

/// The fields of `.modules.yaml` that decide which links exist and where they point. Build
/// state (`pendingBuilds`, `ignoredBuilds`, `allowBuilds`), `prunedAt` and the store are left
/// out: they change no link.
fn same_layout(a: &ModulesYaml, b: &ModulesYaml) -> bool {
    a.hoisted_dependencies == b.hoisted_dependencies
        && a.hoist_pattern == b.hoist_pattern
        && a.public_hoist_pattern == b.public_hoist_pattern
        && a.included == b.included
        && a.layout_version == b.layout_version
        && a.node_linker == b.node_linker
        && a.skipped == b.skipped
        && a.virtual_store_dir == b.virtual_store_dir
        && a.virtual_store_dir_max_length == b.virtual_store_dir_max_length
        && a.injected_deps == b.injected_deps
}
