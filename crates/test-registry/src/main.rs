//! `tack-registry`: runs the test registry as a standalone process.
fn main() {}
