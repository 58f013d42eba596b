//! The harness for tack's cross-crate test suite in `tests/`: it builds temp projects,
//! starts the test registry, installs real pnpm for conformance checks, and compares trees.
