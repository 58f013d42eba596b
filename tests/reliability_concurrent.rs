//! Concurrent installs on one store: 8 processes (16 with `TACK_STRESS=1`) start at once,
//! each installing a variant of the basic fixture that drops one direct dependency (so they
//! share most packages), into one store, while `tack store status` runs in a loop. All must
//! succeed with the tree of a lone clean install, no ENOENT/EEXIST in any output, and a store
//! that verifies. Then the same project is installed twice at once into two copies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tack_suite::kill::{self, Finished, Running};
use tack_suite::project::TestProject;
use tack_suite::setup::basic_project;
use tack_suite::store_check::{check_all, tree_without_temp, verify};
use tack_suite::stress::{self, Outcome};
use tack_suite::tree::Tree;
use tack_test_registry::{RegistryOptions, TestRegistry};

/// The basic fixture's direct dependencies, in lockfile order.
const DIRECT: &[&str] = &[
    "@tack-test/scoped",
    "UpperCase",
    "is-number",
    "is-odd",
    "tack-bin-conflict",
    "tack-bin-dir",
    "tack-bin-map",
    "tack-bin-string",
    "tack-has-optional",
    "use-peer",
    "peer-host",
];

/// The basic project without direct dependency `drop` (in package.json and the lockfile's
/// importer; the lockfile's package entries stay, unreachable ones are simply not installed).
fn variant(url: &str, drop: Option<&str>) -> TestProject {
    let project = basic_project(url);
    let Some(drop) = drop else {
        return project;
    };
    let manifest_path = project.dir().join("package.json");
    let mut manifest: Value =
        serde_json::from_str(&fs_err::read_to_string(&manifest_path).unwrap()).unwrap();
    for group in ["dependencies", "devDependencies"] {
        if let Some(map) = manifest.get_mut(group).and_then(Value::as_object_mut) {
            map.remove(drop);
        }
    }
    fs_err::write(
        &manifest_path,
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let lock_path = project.dir().join("pnpm-lock.yaml");
    let lock = fs_err::read_to_string(&lock_path).unwrap();
    let key = if drop.starts_with('@') {
        format!("      '{drop}':")
    } else {
        format!("      {drop}:")
    };
    let mut out = Vec::new();
    let mut lines = lock.lines().peekable();
    let mut removed = false;
    while let Some(line) = lines.next() {
        if !removed && line == key {
            removed = true;
            while lines.peek().is_some_and(|l| l.starts_with("        ")) {
                lines.next();
            }
            continue;
        }
        out.push(line);
    }
    assert!(removed, "{drop} not found in the importer");
    let mut text = out.join("\n");
    text.push('\n');
    // A group left empty is dropped from the importer, as pnpm writes it.
    text = text.replace("    devDependencies:\n\npackages:", "\npackages:");
    fs_err::write(&lock_path, text).unwrap();
    project
}

/// The tree of a lone install of a variant into its own store.
fn reference(url: &str, drop: Option<&str>) -> Tree {
    let project = variant(url, drop);
    let out = kill::run(
        kill::install_command(&project, &project.store(), &[]),
        Duration::from_secs(60),
    );
    assert!(
        out.success(),
        "lone install of variant {drop:?}: {}",
        out.describe()
    );
    tree_without_temp(&project).0
}

fn race_markers(out: &Finished) -> Vec<&'static str> {
    let text = format!("{}{}", out.stdout, out.stderr);
    [
        "ENOENT",
        "EEXIST",
        "No such file",
        "File exists",
        "panicked",
    ]
    .into_iter()
    .filter(|m| text.contains(m))
    .collect()
}

/// Runs `tack store status` in a loop on `project` until `stop`; returns how many ran and the
/// outputs that mention a race.
fn status_loop(
    project: Arc<TestProject>,
    store: std::path::PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    std::thread::spawn(move || {
        let (mut runs, mut bad) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let out = kill::run(
                kill::store_command(&project, &store, "status"),
                Duration::from_secs(60),
            );
            runs += 1;
            if !race_markers(&out).is_empty() || out.timed_out() {
                bad.push(out.describe());
            }
        }
        (runs, bad)
    })
}

#[test]
fn many_projects_one_store_with_status_loop() {
    let registry = TestRegistry::start_blocking(RegistryOptions {
        rtt: Some(Duration::from_millis(5)),
        ..RegistryOptions::default()
    })
    .expect("start the registry");
    let url = registry.url();
    let rounds = stress::iterations(2, 10);
    let procs = stress::iterations(8, 16);
    let drops: Vec<Option<&str>> = (0..procs)
        .map(|i| {
            if i == 0 {
                None
            } else {
                Some(DIRECT[(i - 1) % DIRECT.len()])
            }
        })
        .collect();
    let mut expected = Vec::new();
    for drop in &drops {
        expected.push(reference(&url, *drop));
    }

    let mut failures = Vec::new();
    let mut runs = 0;
    for round in 0..rounds {
        let shared = tempfile::tempdir().expect("shared store dir");
        let store = shared.path().join("store");
        let projects: Vec<Arc<TestProject>> = drops
            .iter()
            .map(|drop| Arc::new(variant(&url, *drop)))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let status = status_loop(projects[0].clone(), store.clone(), stop.clone());
        let running: Vec<Running> = projects
            .iter()
            .map(|p| Running::spawn(kill::install_command(p, &store, &[])))
            .collect();
        let outs: Vec<Finished> = running
            .into_iter()
            .map(|r| r.wait(Duration::from_secs(120)))
            .collect();
        stop.store(true, Ordering::Relaxed);
        let (status_runs, status_bad) = status.join().expect("status loop");
        for (i, out) in outs.iter().enumerate() {
            runs += 1;
            let mut problems = Vec::new();
            if !out.success() {
                problems.push(format!("install failed: {}", out.describe()));
            }
            let markers = race_markers(out);
            if !markers.is_empty() {
                problems.push(format!("output mentions {markers:?}: {}", out.describe()));
            }
            if out.success() {
                problems.extend(check_all(&projects[i], &store, &expected[i]));
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "round {round}, project {i} (without {:?}):\n{}",
                    drops[i],
                    problems.join("\n")
                ));
            }
        }
        eprintln!("round {round}: {status_runs} `store status` runs during the installs");
        for bad in status_bad {
            failures.push(format!("round {round}: store status saw a race: {bad}"));
        }
    }
    stress::finish(
        Outcome {
            scenario: format!("concurrent installs ({procs} projects, one store)"),
            runs,
            passes: runs - failures.len().min(runs),
            seed: None,
        },
        &failures,
    );
}

/// Installs every project into `store` at once; returns the outputs and the problems: a
/// failed install, a race in its output, or a tree other than `expected[i]`.
fn install_at_once(
    projects: &[TestProject],
    store: &std::path::Path,
    expected: &[&Tree],
) -> (Vec<Finished>, Vec<String>) {
    let running: Vec<Running> = projects
        .iter()
        .map(|p| Running::spawn(kill::install_command(p, store, &[])))
        .collect();
    let outs: Vec<Finished> = running
        .into_iter()
        .map(|r| r.wait(Duration::from_secs(120)))
        .collect();
    let mut problems = Vec::new();
    for (i, out) in outs.iter().enumerate() {
        if !out.success() || !race_markers(out).is_empty() {
            problems.push(format!("project {i}: {}", out.describe()));
        } else {
            problems.extend(check_all(&projects[i], store, expected[i]));
        }
    }
    (outs, problems)
}

#[test]
fn same_project_twice_at_once() {
    let registry = TestRegistry::start_blocking(RegistryOptions {
        rtt: Some(Duration::from_millis(5)),
        ..RegistryOptions::default()
    })
    .expect("start the registry");
    let url = registry.url();
    let expected = reference(&url, None);
    let rounds = stress::iterations(5, 50);
    let mut failures = Vec::new();
    for round in 0..rounds {
        let shared = tempfile::tempdir().expect("shared store dir");
        let store = shared.path().join("store");
        let copies = [variant(&url, None), variant(&url, None)];
        let (_, mut problems) = install_at_once(&copies, &store, &[&expected, &expected]);
        if let Err(e) = verify(&copies[0], &store) {
            problems.push(e);
        }
        if !problems.is_empty() {
            failures.push(format!("round {round}:\n{}", problems.join("\n")));
        }
    }
    stress::finish(
        Outcome {
            scenario: "same project twice at once".into(),
            runs: rounds,
            passes: rounds - failures.len(),
            seed: None,
        },
        &failures,
    );
}

/// The `index.db` files an install moved aside (`index.db.corrupt-*`, without `-wal`/`-shm`).
fn set_aside_indexes(store: &std::path::Path) -> Vec<std::path::PathBuf> {
    fs_err::read_dir(store.join("v11"))
        .map(|entries| {
            entries
                .map(|e| e.expect("store entry").path())
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    name.starts_with("index.db.corrupt-")
                        && !name.ends_with("-wal")
                        && !name.ends_with("-shm")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A cached store whose `index.db` is no database (zeros, as a crash can leave it) met by
/// several installs at once: each process and each of its threads find the garbage, exactly
/// one moves it aside, and every install ends complete on the one new index.
#[test]
fn garbage_index_met_by_many_installs_at_once() {
    let registry = TestRegistry::start_blocking(RegistryOptions {
        rtt: Some(Duration::from_millis(5)),
        ..RegistryOptions::default()
    })
    .expect("start the registry");
    let url = registry.url();
    let procs = stress::iterations(6, 16);
    let drops: Vec<Option<&str>> = (0..procs)
        .map(|i| (i > 0).then(|| DIRECT[(i - 1) % DIRECT.len()]))
        .collect();
    let expected: Vec<Tree> = drops.iter().map(|drop| reference(&url, *drop)).collect();
    let rounds = stress::iterations(2, 10);
    let mut failures = Vec::new();
    for round in 0..rounds {
        let shared = tempfile::tempdir().expect("shared store dir");
        let store = shared.path().join("store");
        fs_err::create_dir_all(store.join("v11")).expect("store dir");
        fs_err::write(store.join("v11/index.db"), vec![0u8; 8192]).expect("garbage index");
        let projects: Vec<TestProject> = drops.iter().map(|drop| variant(&url, *drop)).collect();
        let expected: Vec<&Tree> = expected.iter().collect();
        let (outs, mut problems) = install_at_once(&projects, &store, &expected);
        let aside = set_aside_indexes(&store);
        if aside.len() != 1 {
            problems.push(format!("expected one index set aside, found {aside:?}"));
        } else if fs_err::read(&aside[0]).ok() != Some(vec![0u8; 8192]) {
            problems.push(format!(
                "{} is not the garbage it replaced",
                aside[0].display()
            ));
        }
        let warned = outs
            .iter()
            .filter(|out| out.stdout.contains("was not a SQLite database"))
            .count();
        if warned != 1 {
            problems.push(format!(
                "{warned} installs said they set the index aside, not one"
            ));
        }
        if !problems.is_empty() {
            failures.push(format!("round {round}:\n{}", problems.join("\n")));
        }
    }
    stress::finish(
        Outcome {
            scenario: format!("garbage index.db met by {procs} installs at once"),
            runs: rounds,
            passes: rounds - failures.len(),
            seed: None,
        },
        &failures,
    );
}
