//! Integration tests of the tarball fetcher against the test registry on loopback, with a
//! real store in a temp dir. One binary (modules below) to keep link time down.

mod common;
mod direct;
mod extract;
mod faults;
mod happy;
mod hostile;
