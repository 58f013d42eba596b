//! Interop with real pnpm 12 through a shared store:
//! (a) pnpm fills a store; tack reads every row of its `index.db`, decodes and verifies it,
//!     and `store status` sees pnpm's `node_modules` as untouched until a file is edited;
//! (b) tack fills a store (files via `write_cas_file`, rows via `IndexWriter`, keyed as pnpm
//!     keys them); `pnpm install --frozen-lockfile --offline` then installs from it alone.
//!     pnpm never looks `file:` tarballs up in the store, so (b) uses remote tarball URLs
//!     served once from 127.0.0.1 (to let pnpm write the lockfile), then taken down.

mod common;

use base64::Engine as _;
use sha2::{Digest, Sha512};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use tack_store_dir::commands::status::status;
use tack_store_dir::commands::verify::verify_store;
use tack_store_dir::{
    check_pkg_files_integrity, store_index_key, CafsFileInfo, IndexWriter, PackageFilesIndex,
    StoreDir, StoreIndex, VerifiedFilesCache,
};

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        for d in ["home", "pkgs", "p1", "p2"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        common::sample_packages(&root.join("pkgs"));
        World { _dir: dir, root }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }
}

fn sri(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&bytes))
    )
}

#[test]
fn tack_reads_and_verifies_a_store_pnpm_filled() {
    let w = World::new();
    std::fs::write(w.path("p1/package.json"), common::SAMPLE_DEPS).unwrap();
    let store_path = w.path("store");
    common::run_pnpm(&w.path("home"), &w.path("p1"), &store_path, &["install"]);

    let store = StoreDir::new(store_path.join("v11"));
    let index = StoreIndex::open(&store).unwrap();
    let mut keys = index.all_keys().unwrap();
    keys.sort();
    let mut expected = vec![
        store_index_key(
            &sri(&w.path("pkgs/local-b.tgz")),
            "file:../pkgs/local-b.tgz",
        ),
        store_index_key(
            &sri(&w.path("pkgs/local-a-1.2.3.tgz")),
            "file:../pkgs/local-a-1.2.3.tgz",
        ),
    ];
    expected.sort();
    assert_eq!(keys, expected);

    let (rows, corrupt) = index.get_many_checked(&keys).unwrap();
    assert!(corrupt.is_empty(), "{corrupt:?}");
    assert_eq!(rows.len(), 2);
    let cache = VerifiedFilesCache::default();
    for (key, row) in &rows {
        let r = check_pkg_files_integrity(&store, row, &cache);
        assert!(r.passed, "{key} did not verify");
        for f in &r.files {
            assert!(f.cas_path.is_file(), "{}", f.cas_path.display());
        }
    }
    let a = rows
        .values()
        .find(|r| r.files.contains_key("bin/cli.js"))
        .unwrap();
    assert_eq!(a.manifest.as_ref().unwrap()["name"], "local-a");
    let cli = &a.files["bin/cli.js"];
    assert!(cli.is_executable());
    assert!(store.cas_path(&cli.digest, true).is_file());
    // 4 + 4 files, but both packages ship the same LICENSE: one CAS file.
    assert_eq!(cache.len(), 7);

    // The full re-hash agrees.
    let report = verify_store(&store).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.checked_packages, 2);

    // `store status` against pnpm's virtual store.
    let vstore = w.path("p1/node_modules/.pnpm");
    let pkg_dir = |name: &str| -> PathBuf {
        let entry = std::fs::read_dir(&vstore)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy().to_string();
                n.starts_with(&name.replace('/', "+"))
            })
            .unwrap();
        entry.join("node_modules").join(name)
    };
    let a_dir = pkg_dir("local-a");
    let b_dir = pkg_dir("@scope/local-b");
    let b = rows
        .values()
        .find(|r| r.files.contains_key("lib/main.js"))
        .unwrap();
    let pairs = [(a_dir.as_path(), a), (b_dir.as_path(), b)];
    assert!(status(pairs).untouched());

    // Appending through the hard link edits the store file too: status must notice.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(b_dir.join("lib/main.js"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"// edited\n").unwrap();
    drop(f);
    let report = status(pairs);
    assert_eq!(report.modified.len(), 1);
    assert_eq!(report.modified[0].package_dir, b_dir);
    assert_eq!(report.modified[0].files, ["lib/main.js"]);
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// Test-only stand-in for the tarball crate: extract with `tar`, put every file in the CAS,
/// build the row. Returns the row; the caller queues it after this returned (files first).
fn tack_import_tarball(store: &StoreDir, tgz: &Path) -> PackageFilesIndex {
    let work = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(tgz)
        .current_dir(work.path())
        .status()
        .unwrap();
    assert!(status.success());
    let root = work.path().join("package");
    let mut files = indexmap::IndexMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            let content = std::fs::read(&p).unwrap();
            let digest = store.write_cas_file(&content, mode & 0o111 != 0).unwrap();
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            files.insert(
                rel,
                CafsFileInfo {
                    digest,
                    mode,
                    size: content.len() as u64,
                    checked_at: Some(now_ms()),
                },
            );
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("package.json")).unwrap()).unwrap();
    let mut trimmed = serde_json::Map::new();
    for k in ["name", "version", "bin", "main"] {
        if let Some(v) = manifest.get(k) {
            trimmed.insert(k.to_owned(), v.clone());
        }
    }
    PackageFilesIndex {
        manifest: Some(serde_json::Value::Object(trimmed)),
        requires_build: Some(false),
        requires_prepare: None,
        algo: "sha512".into(),
        files,
        side_effects: None,
        tar_integrity: None,
    }
}

#[test]
fn pnpm_installs_offline_from_a_store_tack_filled() {
    let w = World::new();
    // A lockfile from pnpm (its own store, thrown away afterwards), with the tarballs
    // served from loopback.
    let server = common::FileServer::start(&w.path("pkgs"));
    let url_a = format!("{}/local-a-1.2.3.tgz", server.base_url());
    let url_b = format!("{}/local-b.tgz", server.base_url());
    std::fs::write(
        w.path("p1/package.json"),
        serde_json::json!({"name": "proj", "version": "1.0.0",
            "dependencies": {"local-a": url_a, "@scope/local-b": url_b}})
        .to_string(),
    )
    .unwrap();
    common::run_pnpm(
        &w.path("home"),
        &w.path("p1"),
        &w.path("scratch-store"),
        &["install"],
    );
    drop(server);
    for f in ["package.json", "pnpm-lock.yaml"] {
        std::fs::copy(w.path("p1").join(f), w.path("p2").join(f)).unwrap();
    }

    // tack fills a fresh store.
    let store = StoreDir::new(w.path("tack-store/v11"));
    store.ensure_layout().unwrap();
    let writer = IndexWriter::spawn(&store).unwrap();
    // pnpm keys URL dependencies by the bare URL.
    for (tgz, pkg_id) in [
        ("pkgs/local-a-1.2.3.tgz", url_a.as_str()),
        ("pkgs/local-b.tgz", url_b.as_str()),
    ] {
        let row = tack_import_tarball(&store, &w.path(tgz));
        writer.queue(store_index_key(&sri(&w.path(tgz)), pkg_id), row);
    }
    writer.finish().unwrap();

    // Without the tarballs (and with the server gone) pnpm can only succeed from the store.
    std::fs::remove_dir_all(w.path("pkgs")).unwrap();
    common::run_pnpm(
        &w.path("home"),
        &w.path("p2"),
        &w.path("tack-store"),
        &["install", "--frozen-lockfile", "--offline"],
    );
    let nm = w.path("p2/node_modules");
    assert_eq!(
        std::fs::read(nm.join("local-a/index.js")).unwrap(),
        b"module.exports = 'a'\n"
    );
    assert_eq!(
        std::fs::read(nm.join("@scope/local-b/lib/data/big.bin")).unwrap(),
        vec![9u8; 200_000]
    );
    use std::os::unix::fs::PermissionsExt;
    let cli_mode = std::fs::metadata(nm.join("local-a/bin/cli.js"))
        .unwrap()
        .permissions()
        .mode();
    assert!(cli_mode & 0o111 != 0);
    assert!(nm.join(".bin/local-a").exists());
    // pnpm left tack's rows readable.
    let index = StoreIndex::open(&store).unwrap();
    let keys = index.all_keys().unwrap();
    assert_eq!(index.get_many(&keys).unwrap().len(), 2);
}
