//! The side-effects cache: the cache key pnpm computes for a built or patched package
//! ([`key`]), the diff of a built package dir against its store files ([`diff`]), and the
//! file list of a cached entry applied to its base files ([`cached`]).

pub mod cached;
pub mod diff;
pub mod key;
pub mod object_hash;

pub use cached::apply_side_effects;
pub use diff::compute_side_effects_diff;
pub use key::{
    calc_dep_state, engine_name, full_pkg_id, DepStateCache, DepStateGraph, DepStateNode,
};
pub use object_hash::{hash_object, hash_object_without_sorting, HashValue};
