//! Host names are looked up once per install (`crates/tarball/src/dns_cache.rs`): the HTTP
//! clients' own resolver asked the system again for nearly every connection it tried, and
//! a real install made hundreds of lookups, each a chance to wait out a lost DNS reply.
//!
//! Observed from outside, with `strace`: the system resolver reads `/etc/hosts` on each
//! lookup (`hosts: files …` in `nsswitch.conf`), so an install from `http://localhost:<port>/`
//! with a cold store shows how many lookups it made.

use std::process::Command;

use tack_suite::conformance::prepare;
use tack_suite::project::{assert_success, TestProject};
use tack_suite::{basic_fixture, registry};

#[test]
fn a_cold_install_looks_the_registrys_name_up_once() {
    let registry = registry::start();
    let url = registry.url().replace("127.0.0.1", "localhost");
    assert!(url.contains("localhost"), "{url}");
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), &url);
    let trace = project.root().join("trace");
    let out = project
        .command(std::path::Path::new("strace"))
        .args(["-f", "-qq", "-e", "trace=open,openat", "-o"])
        .arg(&trace)
        .arg(tack_suite::tack_bin())
        .args(["install", "--frozen-lockfile", "--network-concurrency", "8"])
        .arg("--store-dir")
        .arg(project.store())
        .output()
        .expect("run tack under strace (apt-get install strace)");
    assert_success(&out, "tack install under strace");
    // Every package was downloaded, over more than one connection.
    let requests = registry.requests();
    assert!(requests.len() >= 10, "{requests:?}");
    let trace = fs_err::read_to_string(&trace).expect("the trace");
    let lookups = trace
        .lines()
        .filter(|line| line.contains("\"/etc/hosts\""))
        .count();
    assert!(
        (1..=2).contains(&lookups),
        "{lookups} reads of /etc/hosts for {} requests",
        requests.len()
    );
    let check = Command::new("node")
        .current_dir(project.dir())
        .args(["-p", "require('is-odd')(3)"])
        .output()
        .expect("run node");
    assert_eq!(String::from_utf8_lossy(&check.stdout), "true\n");
}
