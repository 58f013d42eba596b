//! Interrupted by Ctrl-C: `tack install` gets SIGINT or SIGTERM at a random point of a slow
//! install (the registry adds a round trip per request and drips one tarball slowly) and must
//! be gone within 5 s of the signal; then a plain `tack install --frozen-lockfile` recovers
//! exactly as after a crash (clean tree, store verifies, no leftovers but temp files).

use std::time::{Duration, Instant};

use tack_suite::kill::{self, Running};
use tack_suite::setup::{basic_project, clean_basic_tree};
use tack_suite::store_check::check_all;
use tack_suite::stress::{self, Outcome, Rng};
use tack_test_registry::{Fault, FaultKind, RegistryOptions, TestRegistry};

/// The bound on "stops promptly": generous, to stay clear of scheduling noise.
const EXIT_BOUND: Duration = Duration::from_secs(5);

#[test]
fn sigint_and_sigterm_stop_promptly_then_recover() {
    let registry = TestRegistry::start_blocking(RegistryOptions {
        rtt: Some(Duration::from_millis(20)),
        ..RegistryOptions::default()
    })
    .expect("start the registry");
    let url = registry.url();
    let expected = clean_basic_tree(&url);
    // One tarball drips for ~1.5 s, so a signal often lands mid-download.
    registry.inject(Fault::new(
        "/is-odd/-/is-odd-3.0.1.tgz",
        FaultKind::SlowDrip {
            bytes: 64,
            every: Duration::from_millis(100),
        },
    ));

    let mut rng = Rng::from_env("interrupted");
    let runs = stress::iterations(10, 100);
    let mut failures = Vec::new();
    let mut landed = 0;
    for run in 0..runs {
        let project = basic_project(&url);
        let store = project.store();
        let signal = if rng.below(2) == 0 {
            libc::SIGINT
        } else {
            libc::SIGTERM
        };
        let delay = Duration::from_millis(rng.below(1_500));
        let mut running = Running::spawn(kill::install_command(&project, &store, &[]));
        std::thread::sleep(delay);
        let mut problems = Vec::new();
        if !running.exited() {
            landed += 1;
            running.signal(signal);
            let sent = Instant::now();
            let out = running.wait(delay + EXIT_BOUND);
            if out.timed_out() {
                problems.push(format!(
                    "still running {EXIT_BOUND:?} after signal {signal}: {}",
                    out.describe()
                ));
            } else if out.stderr.contains("panicked") {
                problems.push(format!("panic: {}", out.describe()));
            }
            eprintln!(
                "run {run}: signal {signal} after {delay:?}, exited {:?} later ({:?})",
                sent.elapsed(),
                out.status
            );
        } else {
            running.wait(Duration::from_secs(1));
        }
        let recovery = kill::run(
            kill::install_command(&project, &store, &[]),
            Duration::from_secs(60),
        );
        if recovery.success() {
            problems.extend(check_all(&project, &store, &expected));
        } else {
            problems.push(format!(
                "recovering install failed: {}",
                recovery.describe()
            ));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "run {run} (signal {signal} after {delay:?}):\n{}",
                problems.join("\n")
            ));
        }
    }
    eprintln!("{landed} of {runs} signals landed while tack was running");
    stress::finish(
        Outcome {
            scenario: "interrupted (SIGINT/SIGTERM)".into(),
            runs,
            passes: runs - failures.len(),
            seed: Some(rng.seed()),
        },
        &failures,
    );
}

/// `tack install | head -1`: stdout closes after the first line. The install must go on to
/// the end (the lines are only a report) and leave the clean tree; `println!` panicked on the
/// first write after the close, ending the install wherever it was.
#[test]
fn a_closed_stdout_does_not_stop_the_install() {
    use std::process::Stdio;

    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let url = registry.url();
    let expected = clean_basic_tree(&url);
    let project = basic_project(&url);
    let store = project.store();
    let mut cmd = kill::install_command(&project, &store, &[]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn tack");
    // The read end goes away at once: every write to stdout now fails with EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for tack");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let problems = check_all(&project, &store, &expected);
    assert!(problems.is_empty(), "{problems:#?}");
}
