//! Whether the links of an existing tree can be trusted without checking each one.
//!
//! A re-install over a complete `node_modules` (the lockfile touched but unchanged, a store
//! wiped while `node_modules` stayed) reuses every package directory, and used to check
//! every link anyway: each package's child links (a `symlink` that fails with `EEXIST`, then
//! a `readlink`) and the top-level links. For the medium fixture that was about 9k syscalls,
//! most of such a re-install's link phase.
//!
//! pnpm trusts the tree instead: `node_modules/.pnpm/lock.yaml` is the lockfile the last
//! complete install built the tree from, and a package whose entry it still has is not
//! linked again. tack trusts it the same way, all or nothing: when the lockfile it is about
//! to record is byte for byte the recorded one, and `.modules.yaml` describes the same
//! layout, the reused packages' child links and the importer and hoisted links are left as
//! they are (the top-level ones only while every project's link to a direct dependency
//! resolves, see `direct_links.rs`). `.bin` directories are still checked: their commands
//! come from manifests, and a workspace project's manifest or a build (esbuild swaps its
//! launcher for a binary) changes them without changing the lockfile.
//!
//! The record must not outlive a tree it no longer describes. Every install that gets past
//! the no-op check deletes it ([`check_recorded_tree`]) before it changes anything, once it
//! has decided whether to trust it, and the state files write it again only once every link
//! is made: an install that stops partway leaves no record, and the next one checks, and
//! repairs, every link, and builds again the packages it cannot know were built. (Kept
//! through an install of the same lockfile, a record would cover a package dir imported
//! again meanwhile, marker first and links after, or copied for a build that never ran.) A
//! tree pnpm left partway keeps its records (pnpm does not delete them first) and would be
//! trusted here as pnpm itself trusts it.

use crate::error::LinkError;
use crate::hoist::compute_hoisting;
use crate::link::modules_yaml_for;
use crate::modules_yaml::{read_modules_yaml, ModulesYaml};
use crate::plan::LinkPlan;
use std::io;

/// Whether the tree under the plan's modules dir is the one the last complete install built
/// from the lockfile this install records, `wanted` (`None`: it records none): its
/// `<virtual store>/lock.yaml`, `recorded` (as the caller read it; `None`: missing or
/// unreadable), is `wanted` byte for byte and its `.modules.yaml` describes the layout this
/// plan makes. Either way the recorded lockfile is then deleted, so that an install that
/// stops partway leaves no record of a tree it changed. Call it before the install changes
/// anything.
pub fn check_recorded_tree(
    plan: &LinkPlan,
    wanted: Option<&str>,
    recorded: Option<&[u8]>,
) -> Result<bool, LinkError> {
    let path = plan.current_lockfile_path();
    let trusted = match (recorded, wanted) {
        (Some(recorded), Some(wanted)) if recorded == wanted.as_bytes() => {
            let planned = modules_yaml_for(plan, &compute_hoisting(plan));
            read_modules_yaml(&plan.root_modules_dir())
                .is_some_and(|old| same_layout(&old, &planned))
        }
        _ => false,
    };
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(trusted),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(trusted),
        Err(e) => Err(LinkError::io("remove", &path, "lock.yaml", e)),
    }
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
