//! Registry faults on one tarball of the basic fixture: resets (before and mid-body), 500,
//! 503, 408 and 429 bursts, a slow drip past the idle timeout, a truncated body, a wrong
//! Content-Length, an HTML page with status 200 and a corrupted gzip.
//!
//! Each fault is tried twice: transient (fewer times than `fetchRetries`), which must end in
//! a correct install, and permanent, which must end in one clear error (exit 1, one
//! `ERR_…` code, the package named) within a bounded time and at most `fetchRetries + 1`
//! requests. Either way `tack store verify` must be clean afterwards.

use std::time::Duration;

use tack_suite::kill;
use tack_suite::setup::{basic_project, clean_basic_tree};
use tack_suite::store_check::{check_all, verify};
use tack_suite::stress::{self, Outcome};
use tack_test_registry::{Fault, FaultKind, RegistryOptions, TestRegistry};

const TARBALL: &str = "/is-odd/-/is-odd-3.0.1.tgz";
/// `fetchRetries` in `setup::FAST_FETCH_SETTINGS`.
const RETRIES: usize = 2;

fn kinds() -> Vec<(&'static str, FaultKind)> {
    let status = |code| FaultKind::Status {
        code,
        retry_after: None,
    };
    vec![
        ("reset", FaultKind::Reset),
        ("reset mid-body", FaultKind::ResetAfter { after: 100 }),
        ("500", status(500)),
        ("503", status(503)),
        ("408", status(408)),
        (
            "429",
            FaultKind::Status {
                code: 429,
                retry_after: Some(0),
            },
        ),
        (
            "slow drip past the idle timeout",
            FaultKind::SlowDrip {
                bytes: 16,
                every: Duration::from_millis(3_000),
            },
        ),
        ("truncated body", FaultKind::Truncate { send: 100 }),
        (
            "short Content-Length",
            FaultKind::WrongContentLength { declared: 64 },
        ),
        (
            "long Content-Length",
            FaultKind::WrongContentLength { declared: 1 << 20 },
        ),
        ("HTML page with status 200", FaultKind::HtmlPage),
        ("corrupted gzip", FaultKind::Corrupt),
    ]
}

fn install(project: &tack_suite::project::TestProject) -> kill::Finished {
    kill::run(
        kill::install_command(project, &project.store(), &[]),
        // Three attempts, each at most one idle timeout (2 s), plus backoff: far below this.
        Duration::from_secs(60),
    )
}

fn error_codes(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("Error: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn transient_faults_recover_and_permanent_ones_fail_clearly() {
    let reference =
        TestRegistry::start_blocking(RegistryOptions::default()).expect("start the registry");
    let expected = clean_basic_tree(&reference.url());
    let rounds = stress::iterations(1, 5);
    let mut failures = Vec::new();
    let mut runs = 0;
    for _ in 0..rounds {
        for (name, kind) in kinds() {
            for permanent in [false, true] {
                runs += 1;
                let registry = TestRegistry::start_blocking(RegistryOptions::default())
                    .expect("start the registry");
                let fault = Fault::new(TARBALL, kind.clone());
                registry.inject(if permanent {
                    fault
                } else {
                    fault.times(RETRIES)
                });
                let project = basic_project(&registry.url());
                let out = install(&project);
                let mut problems = Vec::new();
                if out.timed_out() {
                    problems.push(format!("hang: {}", out.describe()));
                } else if out.stderr.contains("panicked") {
                    problems.push(format!("panic: {}", out.describe()));
                } else if !permanent {
                    if out.success() {
                        problems.extend(check_all(&project, &project.store(), &expected));
                    } else {
                        problems.push(format!(
                            "did not recover after {RETRIES} faults: {}",
                            out.describe()
                        ));
                    }
                } else {
                    let codes = error_codes(&out.stderr);
                    if out.code() != Some(1) || codes.len() != 1 || !codes[0].starts_with("ERR_") {
                        problems.push(format!(
                            "expected exit 1 and one ERR_ code, got {codes:?}: {}",
                            out.describe()
                        ));
                    }
                    if !out.stderr.contains("is-odd") {
                        problems.push(format!(
                            "the error does not name the package: {}",
                            out.describe()
                        ));
                    }
                    let requests = registry.request_count(TARBALL);
                    if requests > RETRIES + 1 {
                        problems.push(format!(
                            "{requests} requests for {TARBALL}, at most {} expected",
                            RETRIES + 1
                        ));
                    }
                    if let Err(e) = verify(&project, &project.store()) {
                        problems.push(e);
                    }
                    eprintln!("{name} (permanent): {codes:?} after {:?}", out.elapsed);
                }
                if !problems.is_empty() {
                    let mode = if permanent { "permanent" } else { "transient" };
                    failures.push(format!("{name} ({mode}):\n{}", problems.join("\n")));
                }
            }
        }
    }
    stress::finish(
        Outcome {
            scenario: "registry faults".into(),
            runs,
            passes: runs - failures.len(),
            seed: None,
        },
        &failures,
    );
}

#[test]
fn not_found_is_not_retried() {
    let registry =
        TestRegistry::start_blocking(RegistryOptions::default()).expect("start the registry");
    registry.inject(Fault::status(TARBALL, 404));
    let project = basic_project(&registry.url());
    let out = install(&project);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert_eq!(
        error_codes(&out.stderr),
        vec!["ERR_PNPM_TARBALL_HTTP_STATUS".to_string()],
        "{}",
        out.describe()
    );
    assert_eq!(registry.request_count(TARBALL), 1, "a 404 is final");
    verify(&project, &project.store()).unwrap();
}

/// A tarball download that fails for good ends with the code pnpm 12 gives the same failure,
/// from the same registry: one code for every error status, another for every download that
/// got no whole body (tack gave pnpm 11's `ERR_PNPM_FETCH_<status>` and
/// `ERR_PNPM_BAD_TARBALL_SIZE`, and a code of its own for a stall).
#[test]
fn permanent_faults_end_with_pnpm_12s_codes() {
    let status = |code| FaultKind::Status {
        code,
        retry_after: None,
    };
    let faults = [
        ("404", status(404), "ERR_PNPM_TARBALL_HTTP_STATUS"),
        ("403", status(403), "ERR_PNPM_TARBALL_HTTP_STATUS"),
        ("503", status(503), "ERR_PNPM_TARBALL_HTTP_STATUS"),
        ("reset", FaultKind::Reset, "ERR_PNPM_TARBALL_FETCH_TARBALL"),
        (
            "reset mid-body",
            FaultKind::ResetAfter { after: 100 },
            "ERR_PNPM_TARBALL_FETCH_TARBALL",
        ),
        (
            "long Content-Length",
            FaultKind::WrongContentLength { declared: 1 << 20 },
            "ERR_PNPM_TARBALL_FETCH_TARBALL",
        ),
        (
            "slow drip past the idle timeout",
            FaultKind::SlowDrip {
                bytes: 16,
                every: Duration::from_millis(3_000),
            },
            "ERR_PNPM_TARBALL_FETCH_TARBALL",
        ),
        (
            "corrupted gzip",
            FaultKind::Corrupt,
            "ERR_PNPM_TARBALL_INTEGRITY",
        ),
    ];
    let registry =
        TestRegistry::start_blocking(RegistryOptions::default()).expect("start the registry");
    let mut wrong = Vec::new();
    for (name, kind, code) in faults {
        registry.clear_faults();
        registry.inject(Fault::new(TARBALL, kind));
        for tool in ["pnpm", "tack"] {
            let project = basic_project(&registry.url());
            let out = if tool == "pnpm" {
                project.pnpm(&["install", "--frozen-lockfile"])
            } else {
                project.tack(&["install", "--frozen-lockfile"])
            };
            let stderr = String::from_utf8_lossy(&out.stderr);
            let codes = error_codes(&stderr);
            if out.status.code() != Some(1) || codes != [code] {
                wrong.push(format!(
                    "{name}, {tool}: {:?} {codes:?}\n{stderr}",
                    out.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
