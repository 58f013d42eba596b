//! Filesystem primitives shared by every tack crate: atomic publish of metadata files,
//! `ensure_file` for content-addressed writes, the per-path `cas_write_lock`, the
//! hardlink/reflink/copy import ladder and relative symlinks.
//!
//! They live in one small crate because the store and the linker must agree on exactly
//! how a file reaches disk: a torn CAS file or a half-published state file poisons every
//! project that shares the store.
