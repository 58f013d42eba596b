//! The isolated `node_modules` layout: the virtual store `node_modules/.pnpm`, symlinks,
//! hoisting, bins and the state files, built from a self-contained [`LinkPlan`].
//!
//! Entry points: [`link`] does everything; a CLI that streams fetch results calls
//! [`import_package`] per package as its files land (from any thread), then [`finish`].

mod bin_fields;
mod bins;
mod direct_links;
mod discard;
mod early_bins;
mod error;
mod hoist;
mod hoisted_link;
pub use hoisted_link::{copy_built_packages, FurtherDirs};
pub mod hoisted_tree;
mod import;
mod link;
mod modules_yaml;
mod names;
pub mod packlist;
mod plan;
mod shim;
mod symlinks;
mod trusted_tree;
mod withdraw;
mod workspace_state;

pub use direct_links::direct_link_paths;
pub use discard::discard_package;
pub use early_bins::EarlyBins;
pub use error::LinkError;
pub use hoist::{compute_hoisting, HoistKind, Hoisted};
pub use import::{
    build_stage_dir, clear_except_modules, create_fresh_package_dir, create_fresh_package_dir_at,
    import_package, import_package_at, import_package_from, import_package_staged, FilesFrom,
    ImportOutcome, PackageImporter, StoreFile, COMPLETION_MARKER,
};
pub use link::{
    finish, import_all, link, link_package_bins, link_top_level, modules_yaml_for, relink_bins,
    write_state, BuildOutcome, ImportSummary, LinkReport,
};
pub use modules_yaml::{
    check_compat, read_modules_yaml, write_modules_yaml, CompatAction, ModulesYaml, LAYOUT_VERSION,
};
pub use plan::{
    package_dir_in, ChildTarget, DepGroup, HoistedLayout, ImportMethod, ImporterDep,
    IncludedGroups, KeptPackages, LinkPlan, ModulesStateInput, PackageFiles, PackageHome,
    PlannedImporter, PlannedPackage, WorkspaceStateInput,
};
pub use shim::{interpreter_from_script, posix_shim, Interpreter};
pub use symlinks::ChildLinks;
pub use trusted_tree::check_recorded_tree;
pub use withdraw::{withdraw_top_level, EarlyTopLevel, Withdrawn};
pub use workspace_state::{
    read_workspace_state, stamp, stamp_with_digest, FileStamp, ProjectInfo, Validation,
    WorkspaceState, WORKSPACE_STATE_FILE,
};
