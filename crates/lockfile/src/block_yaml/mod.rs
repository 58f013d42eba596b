//! A fast reader for `pnpm-lock.yaml` as pnpm writes it.
//!
//! Every install that is not a no-op parses the lockfile before it can do anything else,
//! and the general YAML parser took 12 ms of wall time (16 ms of CPU on two threads) for
//! a 750-package lockfile: a tenth of a warm install, all of it on the critical path. pnpm
//! writes a small, regular subset of YAML (block mappings indented by two spaces, one-line
//! flow collections, one-line scalars, and literal blocks for multi-line values), which
//! [`parse::parse_document`] reads in one pass into a borrowed tree; [`de::NodeDe`] then feeds that
//! tree to the same `Deserialize` impls the general parser feeds.
//!
//! The subset is checked, not assumed: anything outside it, and any plain scalar YAML could
//! read in more than one way, refuses the fast path (`None`), and the caller parses the
//! text with serde-saphyr, which also reports errors with their line and column. So this
//! reader either returns exactly what the general parser would, or nothing.

mod de;
mod parse;

use serde::Deserialize;

use crate::types::Lockfile;

/// The lockfile, or `None` when the text is not in the subset (never an error).
pub(crate) fn parse_lockfile(text: &str) -> Option<Lockfile> {
    parse(text)
}

/// Any document in the subset as `T` (a lockfile, or one of its sections cut out by
/// [`crate::sections`]), or `None` when the text is not in the subset.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> Option<T> {
    let doc = parse::parse_document(text).ok()?;
    T::deserialize(de::NodeDe(&doc)).ok()
}

#[cfg(test)]
mod differential_tests;
