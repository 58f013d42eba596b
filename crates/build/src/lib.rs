//! tack's build step: dependency lifecycle scripts under pnpm's `allowBuilds` policy,
//! `patchedDependencies`, the workspace projects' own install scripts, and the
//! side-effects cache computations (key, diff, applying a cached entry).
//!
//! The CLI builds a [`BuildGraph`] from the lockfile after linking and calls
//! [`build_dependencies`]; it then turns the report's ignored builds into
//! [`ignored_builds_error`] under `strictDepBuilds`, stores a [`SideEffectsDiff`] per
//! built package under the key from [`calc_dep_state`], and runs [`run_project_scripts`].
//!
//! [`SideEffectsDiff`]: tack_store_dir::SideEffectsDiff

pub mod env;
mod error;
pub mod events;
pub mod graph;
pub mod patch;
pub mod policy;
mod pool;
pub mod project;
pub mod runner;
mod script;
pub mod side_effects;
pub mod stage;

pub use env::{ScriptEnv, ScriptOf};
pub use error::{BuildError, ScriptFailure};
pub use events::{BuildEvent, Reporter};
pub use graph::{BuildGraph, BuildNode, LifecycleScripts, PatchRef};
pub use patch::{
    apply_patch_file, check_patch_hash, check_unused_patches, patch_file_hash, patch_hash,
    PatchedDependencies,
};
pub use policy::{ignored_builds_error, BuildPolicy};
pub use project::{run_project_scripts, Project, PROJECT_STAGES};
pub use runner::{
    build_dependencies, BuildOptions, BuildReport, BuiltPackage, DiscardFailed, LinkBins,
    SkippedBuild,
};
pub use script::{ScriptOutput, ERROR_TAIL_LINES};
pub use side_effects::{
    apply_side_effects, calc_dep_state, compute_side_effects_diff, engine_name, full_pkg_id,
    DepStateCache, DepStateGraph, DepStateNode,
};
