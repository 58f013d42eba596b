//! A registry that speaks the npm read protocol over HTTP on loopback, for tests and
//! benchmarks: fixture packages packed deterministically, a mirror of real tarballs, and
//! fault injection.
