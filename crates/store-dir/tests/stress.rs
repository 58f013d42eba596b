//! Concurrency stress: several processes (this test binary re-executed as workers), each
//! with several threads, write, verify, "link" and prune one store at the same time.
//! Afterwards every index row's files exist and hash correctly, and no operation failed
//! (a vanished CAS file would surface as ENOENT when linking).

use sha2::{Digest, Sha512};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};
use tack_store_dir::commands::prune::{prune, PruneOptions};
use tack_store_dir::commands::verify::verify_store;
use tack_store_dir::{
    check_pkg_files_integrity, store_index_key, CafsFileInfo, IndexWriter, PackageFilesIndex,
    StoreDir, StoreIndex, VerifiedFilesCache,
};

const WORKER_ENV: &str = "TACK_STORE_STRESS_WORKER";
const PROCESSES: usize = 3;
const THREADS: usize = 3;
const PACKAGES: usize = 40;
const ROUNDS: usize = 4;

/// Files of package `p`: a LICENSE every package shares, a file shared by half of them,
/// and files of its own (some executable, one large).
fn package_files(p: usize) -> Vec<(String, Vec<u8>, bool)> {
    vec![
        (
            "LICENSE".into(),
            b"MIT License shared by everyone\n".to_vec(),
            false,
        ),
        (
            "common.js".into(),
            format!("// group {}\n", p % 2).into_bytes(),
            false,
        ),
        (
            "index.js".into(),
            format!("module.exports = {p}\n").into_bytes(),
            false,
        ),
        (
            "bin/cli".into(),
            format!("#!/bin/sh\necho {p}\n").into_bytes(),
            true,
        ),
        ("data.bin".into(), vec![(p % 251) as u8; 50_000 + p], false),
        (
            "package.json".into(),
            format!("{{\"name\":\"p{p}\",\"version\":\"1.0.0\"}}").into_bytes(),
            false,
        ),
    ]
}

fn key(p: usize) -> String {
    store_index_key(&format!("sha512-fake{p}"), &format!("p{p}@1.0.0"))
}

/// One worker thread: for each round and package, reuse the row if it verifies, else
/// write the files and queue the row (after the files); then link every file.
fn worker_thread(store: &StoreDir, id: String, writer: &IndexWriter) -> Result<(), String> {
    let index = StoreIndex::open(store).map_err(|e| e.to_string())?;
    let link_dir = store.root().parent().unwrap().join("links").join(&id);
    std::fs::create_dir_all(&link_dir).map_err(|e| e.to_string())?;
    for _round in 0..ROUNDS {
        let keys: Vec<String> = (0..PACKAGES).map(key).collect();
        let rows = index.get_many(&keys).map_err(|e| e.to_string())?;
        let cache = VerifiedFilesCache::default();
        for p in 0..PACKAGES {
            let refs = match rows.get(&key(p)) {
                Some(row) => {
                    let r = check_pkg_files_integrity(store, row, &cache);
                    r.passed.then_some(r.files)
                }
                None => None,
            };
            let refs = match refs {
                Some(refs) => refs,
                None => {
                    let mut files = indexmap::IndexMap::new();
                    for (name, content, exec) in package_files(p) {
                        let digest = store
                            .write_cas_file(&content, exec)
                            .map_err(|e| format!("{id}: write {name}: {e}"))?;
                        files.insert(
                            name,
                            CafsFileInfo {
                                digest,
                                mode: if exec { 0o755 } else { 0o644 },
                                size: content.len() as u64,
                                // Old checkedAt: every later verification re-hashes under the lock.
                                checked_at: Some(1.0),
                            },
                        );
                    }
                    let row = PackageFilesIndex {
                        algo: "sha512".into(),
                        files,
                        ..Default::default()
                    };
                    let r = check_pkg_files_integrity(store, &row, &cache);
                    if !r.passed {
                        return Err(format!("{id}: package p{p} failed right after writing"));
                    }
                    writer.queue(key(p), row);
                    r.files
                }
            };
            for f in refs {
                let dst = link_dir.join(format!("p{p}-{}", f.rel_path.replace('/', "_")));
                std::fs::hard_link(&f.cas_path, &dst)
                    .map_err(|e| format!("{id}: link {}: {e}", f.cas_path.display()))?;
            }
        }
        // A fresh `node_modules` next round, as in CI: the CAS files drop back to one link.
        std::fs::remove_dir_all(&link_dir).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&link_dir).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn run_worker(store_root: &Path, name: &str) -> Result<(), String> {
    let store = StoreDir::new(store_root);
    store.ensure_layout().map_err(|e| e.to_string())?;
    let writer = IndexWriter::spawn(&store).map_err(|e| e.to_string())?;
    let done = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        // A pruner runs the whole time; files are young, so it must not remove any.
        let pruner = s.spawn(|| -> Result<(), String> {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let report = prune(&store, &PruneOptions::default()).map_err(|e| e.to_string())?;
                if report.removed_packages != 0 {
                    return Err(format!("{name}: prune dropped rows: {report:?}"));
                }
            }
            Ok(())
        });
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = &store;
                let writer = &writer;
                s.spawn(move || worker_thread(store, format!("{name}-t{t}"), writer))
            })
            .collect();
        let mut results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        results.push(pruner.join().unwrap());
        results
    });
    writer.finish().map_err(|e| e.to_string())?;
    results.into_iter().collect()
}

/// Entry point of a worker process; does nothing in a normal test run.
#[test]
fn stress_worker_entry() {
    if let Ok(store) = std::env::var(WORKER_ENV) {
        let name = std::env::var("TACK_STORE_STRESS_NAME").unwrap();
        if let Err(e) = run_worker(Path::new(&store), &name) {
            panic!("worker {name} failed: {e}");
        }
    }
}

fn seed_orphans(store: &StoreDir) -> Vec<PathBuf> {
    (0..50)
        .map(|i| {
            let content = format!("orphan {i}");
            let digest = store.write_cas_file(content.as_bytes(), false).unwrap();
            let path = store.cas_path(&digest, false);
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(3600))
                .unwrap();
            path
        })
        .collect()
}

#[test]
fn many_processes_and_threads_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    store.ensure_layout().unwrap();
    let orphans = seed_orphans(&store);

    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "stress_worker_entry",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env(WORKER_ENV, store.root())
                .env("TACK_STORE_STRESS_NAME", format!("proc{i}"))
                .output_spawn()
        })
        .collect();
    // This process is a worker too.
    let local = run_worker(store.root(), "main");
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "worker process {i} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    local.unwrap();

    // Every row is complete and correct.
    let index = StoreIndex::open(&store).unwrap();
    let keys = index.all_keys().unwrap();
    assert_eq!(keys.len(), PACKAGES);
    let rows = index.get_many(&keys).unwrap();
    for (k, row) in &rows {
        for info in row.files.values() {
            let path = store.cas_path(&info.digest, info.is_executable());
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("{k}: {}: {e}", path.display()));
            assert_eq!(hex::encode(Sha512::digest(&bytes)), info.digest);
        }
    }
    let report = verify_store(&store).unwrap();
    assert!(report.ok(), "{report:?}");
    // Concurrent prunes removed the old unreferenced files.
    assert!(orphans.iter().all(|p| !p.exists()));
}

trait SpawnPiped {
    fn output_spawn(&mut self) -> std::process::Child;
}

impl SpawnPiped for Command {
    fn output_spawn(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}
