//! Store corruption between installs: after a clean install, `node_modules` is removed (so
//! every file must be imported again) and the store is damaged in one way: a truncated CAS
//! file, a same-size edit (with and without moving the mtime), a deleted file, a directory
//! at a CAS path, a garbage index row, a deleted `index.db`, an `index.db` of zeros (moved aside,
//! as `StoreIndex::open` does with a file that is no database). The next install must fetch
//! exactly the affected packages again (checked in the registry's request log) and end with
//! a clean tree and a store that verifies.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha512};
use tack_suite::kill;
use tack_suite::project::TestProject;
use tack_suite::setup::{basic_project, clean_basic_tree};
use tack_suite::store_check::check_all;
use tack_suite::stress::{self, Outcome};
use tack_suite::tree::Tree;
use tack_test_registry::{RegistryOptions, TestRegistry};

/// The package every single-file case damages, and its tarball path.
const VICTIM_FILE: &str = "node_modules/.pnpm/is-odd@3.0.1/node_modules/is-odd/package.json";
const VICTIM_TARBALL: &str = "/is-odd/-/is-odd-3.0.1.tgz";

#[derive(Debug, Clone, Copy)]
enum Damage {
    Truncate,
    EditMovingMtime,
    EditKeepingMtime,
    Delete,
    DirectoryAtPath,
    GarbageIndexRow,
    DeleteIndexDb,
    GarbageIndexDb,
}

/// The CAS path of a file in node_modules (it is hard-linked from there).
fn cas_path_of(project: &TestProject, rel: &str) -> PathBuf {
    let bytes = fs_err::read(project.dir().join(rel)).unwrap();
    let hex = hex::encode(Sha512::digest(&bytes));
    project
        .store()
        .join("v11/files")
        .join(&hex[..2])
        .join(&hex[2..])
}

fn flip_middle_byte(path: &Path) {
    let mut bytes = fs_err::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    fs_err::write(path, bytes).unwrap();
}

fn damage(project: &TestProject, kind: Damage) {
    let cas = cas_path_of(project, VICTIM_FILE);
    assert!(cas.is_file(), "{} is not in the store", cas.display());
    let index_db = project.store().join("v11/index.db");
    match kind {
        Damage::Truncate => {
            let len = fs_err::metadata(&cas).unwrap().len();
            let file = fs_err::OpenOptions::new().write(true).open(&cas).unwrap();
            file.set_len(len / 2).unwrap();
        }
        Damage::EditMovingMtime => {
            // Make sure the new mtime is well past the row's checkedAt.
            std::thread::sleep(Duration::from_millis(150));
            flip_middle_byte(&cas);
        }
        Damage::EditKeepingMtime => {
            let mtime = fs_err::metadata(&cas).unwrap().modified().unwrap();
            flip_middle_byte(&cas);
            let file = fs_err::File::options().write(true).open(&cas).unwrap();
            file.set_modified(mtime).unwrap();
        }
        Damage::Delete => fs_err::remove_file(&cas).unwrap(),
        Damage::DirectoryAtPath => {
            fs_err::remove_file(&cas).unwrap();
            fs_err::create_dir_all(cas.join("junk")).unwrap();
        }
        Damage::GarbageIndexRow => {
            let conn = rusqlite::Connection::open(&index_db).unwrap();
            let changed = conn
                .execute(
                    "UPDATE package_index SET data = X'c1c1deadbeef00ff' WHERE key LIKE '%is-odd@3.0.1%'",
                    [],
                )
                .unwrap();
            assert_eq!(changed, 1, "one index row for is-odd@3.0.1");
        }
        Damage::GarbageIndexDb => {
            // What a crash can leave of a file on some filesystems: its size, all zeros.
            fs_err::write(&index_db, vec![0u8; 16384]).unwrap();
        }
        Damage::DeleteIndexDb => {
            for suffix in ["", "-wal", "-shm"] {
                let path = PathBuf::from(format!("{}{suffix}", index_db.display()));
                if path.exists() {
                    fs_err::remove_file(path).unwrap();
                }
            }
        }
    }
}

/// The tarball paths requested since the log was cleared, sorted.
fn tarball_requests(registry: &TestRegistry) -> Vec<String> {
    let mut paths: Vec<String> = registry
        .requests()
        .into_iter()
        .map(|r| r.decoded_path)
        .filter(|p| p.ends_with(".tgz"))
        .collect();
    paths.sort();
    paths
}

fn install(project: &TestProject) -> kill::Finished {
    kill::run(
        kill::install_command(project, &project.store(), &[]),
        Duration::from_secs(60),
    )
}

/// Runs one case; returns its problems.
fn run_case(registry: &TestRegistry, expected: &Tree, kind: Damage) -> Vec<String> {
    let mut problems = Vec::new();
    let project = basic_project(&registry.url());
    registry.clear_requests();
    let first = install(&project);
    assert!(first.success(), "first install: {}", first.describe());
    let all_tarballs = tarball_requests(registry);
    damage(&project, kind);
    fs_err::remove_dir_all(project.dir().join("node_modules")).unwrap();
    registry.clear_requests();

    let out = install(&project);
    if !out.success() {
        problems.push(format!("install after {kind:?} failed: {}", out.describe()));
        return problems;
    }
    // Told through the reporter, as its other warnings are: on stdout, not raw on stderr.
    let set_aside = out.stdout.contains("[WARN] the store index")
        && out.stdout.contains("was not a SQLite database")
        && !out.stderr.contains("was not a SQLite database");
    if set_aside != matches!(kind, Damage::GarbageIndexDb) {
        problems.push(format!(
            "the warning about a set-aside index.db: {}",
            out.describe()
        ));
    }
    if out.stderr.contains("panicked") {
        problems.push(format!("panic: {}", out.stderr));
    }
    let mut fetched = tarball_requests(registry);
    if let Damage::EditKeepingMtime = kind {
        // pnpm's fast path trusts a file whose mtime still matches the row, so neither pnpm
        // nor tack can see this edit at install time; `store verify` re-hashes and must
        // report it, drop the row, and the next install fetches the package again.
        let verify = kill::run(
            kill::store_command(&project, &project.store(), "verify"),
            Duration::from_secs(60),
        );
        if verify.success() || !verify.stderr.contains("ERR_TACK_STORE_CORRUPTED") {
            problems.push(format!(
                "store verify did not report the edited file: {}",
                verify.describe()
            ));
        }
        fs_err::remove_dir_all(project.dir().join("node_modules")).unwrap();
        let again = install(&project);
        if !again.success() {
            problems.push(format!("install after verify failed: {}", again.describe()));
            return problems;
        }
        fetched = tarball_requests(registry);
    }
    let want: Vec<String> = match kind {
        Damage::DeleteIndexDb | Damage::GarbageIndexDb => all_tarballs,
        _ => vec![VICTIM_TARBALL.to_string()],
    };
    if fetched != want {
        problems.push(format!("fetched {fetched:?}, expected exactly {want:?}"));
    }
    problems.extend(check_all(&project, &project.store(), expected));
    problems
}

#[test]
fn damaged_store_refetches_exactly_the_affected_packages() {
    let registry =
        TestRegistry::start_blocking(RegistryOptions::default()).expect("start the registry");
    let expected = clean_basic_tree(&registry.url());
    let cases = [
        Damage::Truncate,
        Damage::EditMovingMtime,
        Damage::EditKeepingMtime,
        Damage::Delete,
        Damage::DirectoryAtPath,
        Damage::GarbageIndexRow,
        Damage::DeleteIndexDb,
        Damage::GarbageIndexDb,
    ];
    let rounds = stress::iterations(1, 5);
    let mut failures = Vec::new();
    for _ in 0..rounds {
        for kind in cases {
            let problems = run_case(&registry, &expected, kind);
            if !problems.is_empty() {
                failures.push(format!("{kind:?}:\n{}", problems.join("\n")));
            }
        }
    }
    let runs = rounds * cases.len();
    stress::finish(
        Outcome {
            scenario: "store corruption between installs".into(),
            runs,
            passes: runs - failures.len(),
            seed: None,
        },
        &failures,
    );
}

/// The warning about an `index.db` set aside keeps to the reporter the user chose: nothing
/// with `--reporter silent`, one `ndjson` record among the others with `--reporter ndjson`
/// (it used to be a bare `WARN:` line on stderr whatever the reporter).
#[test]
fn a_set_aside_index_is_told_through_the_chosen_reporter() {
    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    for reporter in ["silent", "ndjson"] {
        let project = basic_project(&registry.url());
        let first = install(&project);
        assert!(first.success(), "first install: {}", first.describe());
        damage(&project, Damage::GarbageIndexDb);
        fs_err::remove_dir_all(project.dir().join("node_modules")).unwrap();
        let out = kill::run(
            kill::install_command(&project, &project.store(), &["--reporter", reporter]),
            Duration::from_secs(60),
        );
        assert!(out.success(), "--reporter {reporter}: {}", out.describe());
        let said = format!("{}{}", out.stdout, out.stderr);
        match reporter {
            "silent" => assert!(said.trim().is_empty(), "silent said: {}", out.describe()),
            _ => {
                let records: Vec<serde_json::Value> = out
                    .stderr
                    .lines()
                    .map(|line| {
                        serde_json::from_str(line)
                            .unwrap_or_else(|e| panic!("not ndjson ({e}): {line:?}"))
                    })
                    .collect();
                let warned = records.iter().filter(|r| {
                    r["level"] == "warn"
                        && r["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("was not a SQLite database"))
                });
                assert_eq!(warned.count(), 1, "{}", out.describe());
            }
        }
    }
}

/// `tack store prune` removes an index set aside longer ago than its grace period (ten
/// minutes), with its journal files, and says so; the new index stays usable.
#[test]
fn store_prune_removes_an_index_set_aside_long_ago() {
    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let project = basic_project(&registry.url());
    let first = install(&project);
    assert!(first.success(), "first install: {}", first.describe());
    damage(&project, Damage::GarbageIndexDb);
    fs_err::remove_dir_all(project.dir().join("node_modules")).unwrap();
    let again = install(&project);
    assert!(again.success(), "{}", again.describe());
    let root = project.store().join("v11");
    let aside: Vec<PathBuf> = fs_err::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("index.db.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "one index set aside: {aside:?}");
    // Pretend it was set aside an hour ago: `index.db.corrupt-<seconds>-<pid>`.
    let name = aside[0].file_name().unwrap().to_string_lossy().into_owned();
    let rest = name.strip_prefix("index.db.corrupt-").unwrap();
    let (seconds, pid) = rest.split_once('-').unwrap();
    let hour_ago = seconds.parse::<u64>().unwrap() - 3600;
    let old = root.join(format!("index.db.corrupt-{hour_ago}-{pid}"));
    fs_err::rename(&aside[0], &old).unwrap();

    let pruned = kill::run(
        kill::store_command(&project, &project.store(), "prune"),
        Duration::from_secs(60),
    );
    assert!(pruned.success(), "{}", pruned.describe());
    assert!(
        pruned
            .stderr
            .contains("Removed 1 damaged store index set aside by an earlier install"),
        "{}",
        pruned.describe()
    );
    assert!(!old.exists(), "{} was kept", old.display());
    fs_err::remove_dir_all(project.dir().join("node_modules")).unwrap();
    registry.clear_requests();
    let warm = install(&project);
    assert!(warm.success(), "{}", warm.describe());
    assert!(
        tarball_requests(&registry).is_empty(),
        "the new index was lost"
    );
}

/// `tack store status` never calls a package it could not check untouched: after `store
/// verify` dropped the record of a package whose store file was edited through
/// `node_modules`, status reported "Packages in the store are untouched" and exited 0. And a
/// store command given a store that does not exist says so instead of creating an empty one.
#[test]
fn store_status_reports_packages_it_cannot_check() {
    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let project = basic_project(&registry.url());
    let store = project.store();
    let install = kill::run(
        kill::install_command(&project, &store, &[]),
        Duration::from_secs(60),
    );
    assert!(install.success(), "{}", install.describe());
    let victim = project.dir().join(VICTIM_FILE);
    let text = std::fs::read_to_string(&victim).expect("victim");
    std::fs::write(&victim, text.replace("is-odd", "is-odd ")).expect("edit through the link");

    let verify = kill::run(
        kill::store_command(&project, &store, "verify"),
        Duration::from_secs(60),
    );
    assert!(!verify.timed_out(), "{}", verify.describe());
    let status = kill::run(
        kill::store_command(&project, &store, "status"),
        Duration::from_secs(60),
    );
    assert!(!status.success(), "{}", status.describe());
    assert!(
        status.stderr.contains("ERR_TACK_STORE_STATUS_UNKNOWN")
            && status.stderr.contains("is-odd@3.0.1"),
        "{}",
        status.describe()
    );

    let missing = project.dir().join("no-such-store");
    let status = kill::run(
        kill::store_command(&project, &missing, "status"),
        Duration::from_secs(60),
    );
    assert!(
        !status.success() && status.stderr.contains("ERR_TACK_NO_STORE"),
        "{}",
        status.describe()
    );
    assert!(!missing.exists());
}
