//! Crash anywhere: `tack install` is SIGKILLed at random points (one to three times in a row,
//! from a cold store or a warm store with no node_modules), then a plain
//! `tack install --frozen-lockfile` must succeed, give the tree of a clean install, and leave
//! a store that verifies, with no leftovers but sweepable temp files.
//!
//! The registry adds a round trip to every request so the kills land in the download phase
//! as well as in planning and linking. 30 runs in CI, 300 with `TACK_STRESS=1`.

use std::time::{Duration, Instant};

use tack_suite::kill;
use tack_suite::setup::{basic_project, clean_basic_tree};
use tack_suite::store_check::check_all;
use tack_suite::stress::{self, Outcome, Rng};
use tack_test_registry::{RegistryOptions, TestRegistry};

#[test]
fn sigkill_at_random_points_then_recover() {
    let registry = TestRegistry::start_blocking(RegistryOptions {
        rtt: Some(Duration::from_millis(25)),
        ..RegistryOptions::default()
    })
    .expect("start the registry");
    let url = registry.url();
    let expected = clean_basic_tree(&url);
    // The median of three cold installs: the span the kill delays are drawn from.
    let mut samples: Vec<Duration> = (0..3)
        .map(|_| {
            let project = basic_project(&url);
            let started = Instant::now();
            let out = kill::run(
                kill::install_command(&project, &project.store(), &[]),
                Duration::from_secs(60),
            );
            assert!(out.success(), "timing install: {}", out.describe());
            started.elapsed()
        })
        .collect();
    samples.sort();
    let cold = samples[1];
    eprintln!("a clean cold install takes {cold:?} (samples {samples:?})");

    let mut rng = Rng::from_env("crash-anywhere");
    let runs = stress::iterations(30, 300);
    let mut failures = Vec::new();
    let (mut landed, mut warm_runs) = (0, 0);
    for run in 0..runs {
        let project = basic_project(&url);
        let store = project.store();
        let warm = rng.below(3) == 0;
        if warm {
            warm_runs += 1;
            let out = kill::run(
                kill::install_command(&project, &store, &[]),
                Duration::from_secs(60),
            );
            assert!(out.success(), "warm-up install: {}", out.describe());
            fs_err::remove_dir_all(project.dir().join("node_modules")).expect("rm node_modules");
        }
        let kills = 1 + rng.below(3);
        let mut delays = Vec::new();
        for _ in 0..kills {
            // Within a cold install's span (a warm install is shorter, so some of its kills
            // land after the end).
            let delay = Duration::from_micros(rng.below(cold.as_micros() as u64));
            delays.push(delay);
            if kill::kill_after(kill::install_command(&project, &store, &[]), delay) {
                landed += 1;
            }
        }
        let recovery = kill::run(
            kill::install_command(&project, &store, &[]),
            Duration::from_secs(60),
        );
        let mut problems = Vec::new();
        if !recovery.success() {
            problems.push(format!(
                "recovering install failed: {}",
                recovery.describe()
            ));
        } else {
            problems.extend(check_all(&project, &store, &expected));
        }
        if recovery.stderr.contains("panicked") {
            problems.push(format!("panic: {}", recovery.stderr));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "run {run} (warm store: {warm}, kills after {delays:?}):\n{}",
                problems.join("\n")
            ));
        }
    }
    eprintln!("{landed} kills landed while tack was running; {warm_runs} warm-store runs");
    stress::finish(
        Outcome {
            scenario: "crash-anywhere (SIGKILL)".into(),
            runs,
            passes: runs - failures.len(),
            seed: Some(rng.seed()),
        },
        &failures,
    );
}
