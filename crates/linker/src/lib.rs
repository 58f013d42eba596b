//! The isolated `node_modules` layout: the virtual store `node_modules/.pnpm`, symlinks,
//! hoisting, bins and the state files, built from an install plan.
