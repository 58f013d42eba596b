//! Disk full: the store, or `node_modules`, lives on a 2 MiB tmpfs that a filler file has
//! filled up. The install must stop with one clear, fatal error that says the disk is full
//! and names the path (no hang, no panic); once the filler is deleted, the next install
//! succeeds and the store verifies.
//!
//! Mounting needs root (the CI container runs as root). If the mount fails the test fails:
//! it never skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tack_suite::kill;
use tack_suite::setup::{basic_project, clean_basic_tree};
use tack_suite::store_check::{store_leftovers, tree_without_temp, verify};
use tack_suite::stress::{self, Outcome};
use tack_suite::tree::{self, Entry, Tree};
use tack_test_registry::{RegistryOptions, TestRegistry};

/// A tmpfs mounted for the test's lifetime.
struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    fn mount(dir: &Path) -> SmallFs {
        fs_err::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a 2 MiB tmpfs at {} (the disk-full scenario needs root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFs {
            dir: dir.to_path_buf(),
        }
    }

    /// Writes a filler file until the filesystem is full; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.dir.join("filler");
        let mut file = fs_err::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.flush();
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// A tree with the hard-link class dropped: across filesystems files are copied.
fn without_link_class(tree: &Tree) -> Tree {
    tree.iter()
        .filter(|(k, _)| !k.ends_with("filler"))
        .map(|(k, v)| {
            let v = match v {
                Entry::File {
                    sha256, executable, ..
                } => Entry::File {
                    sha256: sha256.clone(),
                    executable: *executable,
                    hardlinked: false,
                },
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Where {
    Store,
    NodeModules,
}

fn run_case(url: &str, expected: &Tree, place: Where) -> Vec<String> {
    let project = basic_project(url);
    let store = project.store();
    let mount_dir = match place {
        Where::Store => store.clone(),
        Where::NodeModules => project.dir().join("node_modules"),
    };
    let fs = SmallFs::mount(&mount_dir);
    let filler = fs.fill();
    let mut problems = Vec::new();

    let out = kill::run(
        kill::install_command(&project, &store, &[]),
        Duration::from_secs(60),
    );
    let codes: Vec<&str> = out
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("Error: "))
        .collect();
    if out.timed_out() {
        problems.push(format!("hang on a full disk: {}", out.describe()));
    } else if out.code() != Some(1) || codes.len() != 1 {
        problems.push(format!(
            "expected exit 1 with one error code, got {codes:?}: {}",
            out.describe()
        ));
    }
    if out.stderr.contains("panicked") {
        problems.push(format!("panic: {}", out.describe()));
    }
    let says_full = ["No space left", "ENOSPC", "disk is full"]
        .iter()
        .any(|m| out.stderr.contains(m));
    if !says_full {
        problems.push(format!(
            "the error does not say the disk is full: {}",
            out.describe()
        ));
    }
    // miette wraps long lines inside its box: compare without whitespace and box edges.
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect()
    };
    // What to do next: free space and run again (not "check that the paths exist").
    if !squash(&out.stderr).contains(&squash("free some space"))
        || !out.stderr.contains("ERR_TACK_FS_ENOSPC")
    {
        problems.push(format!(
            "the error does not say ERR_TACK_FS_ENOSPC and how to recover: {}",
            out.describe()
        ));
    }
    if !squash(&out.stderr).contains(&squash(&mount_dir.display().to_string())) {
        problems.push(format!(
            "the error does not name a path under {}: {}",
            mount_dir.display(),
            out.describe()
        ));
    }
    eprintln!("{place:?} full: {codes:?} after {:?}", out.elapsed);

    fs_err::remove_file(&filler).unwrap();
    let again = kill::run(
        kill::install_command(&project, &store, &[]),
        Duration::from_secs(60),
    );
    if !again.success() {
        problems.push(format!(
            "install after freeing space failed: {}",
            again.describe()
        ));
        return problems;
    }
    let actual = without_link_class(&tree_without_temp(&project).0);
    let diff = tree::diff(&without_link_class(expected), &actual);
    if !diff.is_empty() {
        problems.push(format!(
            "tree differs from a clean install:\n{}",
            diff.join("\n")
        ));
    }
    problems.extend(store_leftovers(&store).unexpected);
    if let Err(e) = verify(&project, &store) {
        problems.push(e);
    }
    drop(fs);
    problems
}

#[test]
fn enospc_is_fatal_and_clear_then_recovers() {
    let registry =
        TestRegistry::start_blocking(RegistryOptions::default()).expect("start the registry");
    let url = registry.url();
    let expected = clean_basic_tree(&url);
    let rounds = stress::iterations(1, 5);
    let mut failures = Vec::new();
    let mut runs = 0;
    for _ in 0..rounds {
        for place in [Where::Store, Where::NodeModules] {
            runs += 1;
            let problems = run_case(&url, &expected, place);
            if !problems.is_empty() {
                failures.push(format!(
                    "{place:?} on a full disk:\n{}",
                    problems.join("\n")
                ));
            }
        }
    }
    stress::finish(
        Outcome {
            scenario: "disk full".into(),
            runs,
            passes: runs - failures.len(),
            seed: None,
        },
        &failures,
    );
}
