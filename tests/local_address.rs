//! `local-address` in `.npmrc`: the address of this machine that downloads connect from,
//! one of the network keys pnpm reads from `.npmrc`. The test registry records the address
//! each request came from; the whole 127.0.0.0/8 block is this machine's on Linux, so
//! 127.0.0.2 is a second local address to bind to.
#![cfg(target_os = "linux")]

use std::net::IpAddr;
use std::time::Duration;

use tack_suite::kill::{self, Finished};
use tack_suite::project::TestProject;
use tack_suite::setup::{basic_project_with_npmrc, clean_basic_tree};
use tack_suite::store_check::{assert_nothing_installed, check_all};
use tack_test_registry::{RegistryOptions, TestRegistry};

fn install(project: &TestProject) -> Finished {
    kill::run(
        kill::install_command(project, &project.store(), &[]),
        Duration::from_secs(120),
    )
}

/// The addresses the tarball requests came from.
fn tarball_peers(registry: &TestRegistry) -> Vec<IpAddr> {
    registry
        .requests()
        .iter()
        .filter(|r| r.decoded_path.ends_with(".tgz"))
        .map(|r| r.peer)
        .collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

#[test]
fn downloads_connect_from_the_local_address() {
    let reference = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let expected = clean_basic_tree(&reference.url());
    for (npmrc, from) in [
        ("", "127.0.0.1"),
        ("local-address=127.0.0.2\n", "127.0.0.2"),
        ("local-address = 127.0.0.3 \n", "127.0.0.3"),
        // No address: ignored, as pnpm 12 ignores it, and said so.
        ("local-address=eth0\n", "127.0.0.1"),
    ] {
        let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
        let project = basic_project_with_npmrc(&registry.url(), npmrc);
        let out = install(&project);
        assert!(out.success(), "{npmrc:?}: {}", out.describe());
        assert_eq!(
            out.stdout.contains("local-address \"eth0\" is ignored"),
            npmrc.contains("eth0"),
            "{npmrc:?}: the warning: {}",
            out.describe()
        );
        let peers = tarball_peers(&registry);
        assert!(!peers.is_empty(), "{npmrc:?}: nothing was downloaded");
        assert!(
            peers.iter().all(|p| *p == ip(from)),
            "{npmrc:?}: requests came from {peers:?}, not only from {from}"
        );
        let problems = check_all(&project, &project.store(), &expected);
        assert!(problems.is_empty(), "{npmrc:?}: {problems:?}");
    }
}

/// pnpm 12 binds its downloads to the same address from the same `.npmrc` line, and
/// ignores a value that is no address.
#[test]
fn pnpm_connects_from_the_same_local_address() {
    for (value, from) in [("127.0.0.2", "127.0.0.2"), ("eth0", "127.0.0.1")] {
        let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
        let project =
            basic_project_with_npmrc(&registry.url(), &format!("local-address={value}\n"));
        let mut cmd = project.command(&tack_suite::pnpm_bin());
        cmd.args(["install", "--frozen-lockfile", "--store-dir"])
            .arg(project.store());
        let out = kill::run(cmd, Duration::from_secs(120));
        assert!(out.success(), "pnpm, {value}: {}", out.describe());
        let peers = tarball_peers(&registry);
        assert!(!peers.is_empty(), "pnpm downloaded nothing");
        assert!(
            peers.iter().all(|p| *p == ip(from)),
            "pnpm, {value}: requests came from {peers:?}"
        );
    }
}

/// An address this machine does not have, or one of the other family than the registry's,
/// fails the install at once with `ERR_TACK_LOCAL_ADDRESS` naming it (pnpm 12 fails there
/// too), and nothing is installed.
#[test]
fn a_local_address_that_cannot_be_used_fails_cleanly() {
    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    // 192.0.2.0/24 is reserved for documentation: no interface of a test machine has it
    // (binding it fails unless `net.ipv4.ip_nonlocal_bind` is set, which CI machines do
    // not set). `::1` is refused before any bind: the registry at 127.0.0.1 has no IPv6
    // address to connect to from it.
    for value in ["192.0.2.7", "::1"] {
        let project =
            basic_project_with_npmrc(&registry.url(), &format!("local-address={value}\n"));
        let out = install(&project);
        assert_eq!(out.code(), Some(1), "{value}: {}", out.describe());
        assert!(
            out.stderr.contains("ERR_TACK_LOCAL_ADDRESS") && out.stderr.contains(value),
            "{value}: the error does not name the setting: {}",
            out.describe()
        );
        // Binding fails the same way every time: no retries.
        assert!(
            !format!("{}{}", out.stdout, out.stderr).contains("retry 1 of"),
            "{value}: retried: {}",
            out.describe()
        );
        assert_nothing_installed(&project, value);
    }
    assert!(
        tarball_peers(&registry).is_empty(),
        "a tarball was requested"
    );
}
