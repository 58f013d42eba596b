//! Downloads that unpack straight into their package directory (`Fetcher::fetch_into`): the
//! directory ends up exactly as an import of the row would make it, with every file one
//! inode with its CAS file, and it never looks complete before it is.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tack_store_dir::PackageFilesIndex;
use tack_tarball::{DirectTarget, FetchError, FetcherOptions, PackageDir};

use crate::common::{gzip, raw_tar, sha512_hex, Env, RawEntry};

/// A target that creates `dir` (its parent must exist) on first use.
fn target(dir: PathBuf) -> Arc<DirectTarget> {
    DirectTarget::new(move || {
        std::fs::create_dir(&dir).ok()?;
        let fd = tack_fs::DirFd::open(&dir).ok()?;
        Some(PackageDir {
            path: dir,
            fd,
            marker: "package.json",
        })
    })
}

/// Serves `tgz` as `name@1.0.0` and fetches it with a target at `<temp dir>/<name>`.
async fn fetch_with_target(
    env: &Env,
    name: &str,
    tgz: Vec<u8>,
    opts: FetcherOptions,
) -> (
    Result<Arc<PackageFilesIndex>, FetchError>,
    Arc<DirectTarget>,
    PathBuf,
) {
    let pkg = env.raw(name, tgz);
    let (fetcher, _writer) = env.fetcher(opts);
    let dir = env.dir.path().join(name);
    let target = target(dir.clone());
    let fetched = fetcher.fetch_into(&pkg, Some(Arc::clone(&target))).await;
    (fetched, target, dir)
}

fn ino(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

const MANIFEST: &[u8] = br#"{"name":"direct","version":"1.0.0"}"#;

fn awkward_tarball() -> Vec<u8> {
    gzip(&raw_tar(&[
        RawEntry::file("package/package.json", MANIFEST),
        RawEntry::file("package/lib/deep/a.js", b"module.exports = 1;\n"),
        RawEntry {
            mode: 0o755,
            ..RawEntry::file("package/bin/cli", b"#!/usr/bin/env node\n")
        },
        RawEntry::file("package/dup.js", b"first"),
        // A hard link takes the content of the entry it names.
        RawEntry {
            kind: b'1',
            link: b"package/lib/deep/a.js",
            ..RawEntry::file("package/lib/b.js", b"")
        },
        // A later entry of the same path replaces the earlier one.
        RawEntry::file("package/dup.js", b"second"),
    ]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_package_dir_holds_the_row_and_each_file_is_its_cas_file() {
    let env = Env::new().await;
    let (fetched, target, dir) =
        fetch_with_target(&env, "direct", awkward_tarball(), env.options()).await;
    let row = fetched.unwrap();
    assert!(target.filled());

    let mut on_disk: Vec<String> = Vec::new();
    walk(&dir, &dir, &mut on_disk);
    on_disk.sort();
    let mut in_row: Vec<String> = row.files.keys().cloned().collect();
    in_row.sort();
    assert_eq!(
        on_disk, in_row,
        "the directory holds the row's files, no more"
    );
    for (rel, info) in &row.files {
        let cas = env.store.cas_path(&info.digest, info.is_executable());
        assert_eq!(ino(&dir.join(rel)), ino(&cas), "{rel} is its CAS file");
    }
    assert_eq!(std::fs::read(dir.join("dup.js")).unwrap(), b"second");
    assert_eq!(
        std::fs::read(dir.join("lib/b.js")).unwrap(),
        b"module.exports = 1;\n"
    );
    let mode = std::fs::metadata(dir.join("bin/cli"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(std::fs::read(dir.join("package.json")).unwrap(), MANIFEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_without_a_manifest_gets_the_placeholder_as_its_marker() {
    let env = Env::new().await;
    let tgz = gzip(&raw_tar(&[RawEntry::file("package/index.js", b"x")]));
    let (fetched, target, dir) = fetch_with_target(&env, "bare", tgz, env.options()).await;
    let row = fetched.unwrap();
    assert!(target.filled());
    assert_eq!(
        std::fs::read_to_string(dir.join("package.json")).unwrap(),
        tack_tarball::PLACEHOLDER_PACKAGE_JSON
    );
    let manifest = &row.files["package.json"];
    let cas = env.store.cas_path(&manifest.digest, false);
    assert_eq!(ino(&dir.join("package.json")), ino(&cas));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marker_is_only_there_once_everything_else_is() {
    let env = Env::new().await;
    // The manifest comes first; a file large enough to be written out in a batch of its
    // own follows; then an entry that fails the whole package.
    let big = vec![7u8; 17 << 20];
    let tgz = gzip(&raw_tar(&[
        RawEntry::file("package/package.json", MANIFEST),
        RawEntry::file("package/big.bin", &big),
        RawEntry::file("package/../escape.js", b"x"),
    ]));
    let (fetched, target, dir) = fetch_with_target(&env, "halfway", tgz, env.options()).await;
    let err = fetched.unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_TARBALL_UNSAFE_PATH", "{err}");
    assert!(!target.filled());
    assert!(dir.join("big.bin").exists(), "the first batch was placed");
    assert!(
        !dir.join("package.json").exists(),
        "a package dir with its marker would pass for complete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_download_that_unpacks_opens_its_target() {
    let env = Env::new().await;
    let pkg = env.raw("shared", awkward_tarball());
    let (fetcher, _writer) = env.fetcher(env.options());
    let (one, two) = (env.dir.path().join("one"), env.dir.path().join("two"));
    let (first, second) = (target(one.clone()), target(two.clone()));
    let (a, b) = tokio::join!(
        fetcher.fetch_into(&pkg, Some(Arc::clone(&first))),
        fetcher.fetch_into(&pkg, Some(Arc::clone(&second))),
    );
    assert!(Arc::ptr_eq(&a.unwrap(), &b.unwrap()), "one download");
    assert!(
        first.filled() != second.filled(),
        "exactly one target filled"
    );
    let (filled, untouched) = if first.filled() {
        (one, two)
    } else {
        (two, one)
    };
    assert!(filled.join("package.json").exists());
    assert!(!untouched.exists(), "the other target was never created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_leaves_its_target_alone() {
    let env = Env::new().await;
    let mut opts = env.options();
    opts.whole_body_max = 0;
    let (fetched, target, dir) = fetch_with_target(&env, "streamed", awkward_tarball(), opts).await;
    let row = fetched.unwrap();
    assert!(!target.filled());
    assert!(!dir.exists());
    for info in row.files.values() {
        assert!(env
            .store
            .cas_path(&info.digest, info.is_executable())
            .exists());
    }
}

/// Many small packages through one unpack worker: the bodies that wait for it are unpacked
/// in groups (see `unpack_queue.rs`). Each fills its own directory, exactly as alone, and
/// the one whose body does not match the lockfile fails on its own, its directory without
/// a marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_unpacked_in_groups_fill_their_own_dirs_and_fail_alone() {
    let env = Env::new().await;
    let mut opts = env.options();
    opts.unpack_concurrency = 1;
    let (fetcher, _writer) = env.fetcher(opts);
    let tampered = 7;
    let fetches: Vec<_> = (0..24)
        .map(|i| {
            let name = format!("grouped-{i}");
            let manifest = format!(r#"{{"name":"{name}","version":"1.0.0"}}"#);
            let own = format!("module.exports = {i};\n");
            let tgz = gzip(&raw_tar(&[
                RawEntry::file("package/package.json", manifest.as_bytes()),
                RawEntry::file("package/index.js", own.as_bytes()),
                RawEntry::file("package/lib/shared.js", b"shared by every package\n"),
            ]));
            let mut pkg = env.raw(&name, tgz);
            if i == tampered {
                pkg.integrity = Some(tack_tarball::sha512_sri(b"what the lockfile says"));
            }
            let dir = env.dir.path().join(&name);
            let target = target(dir.clone());
            let fetcher = fetcher.clone();
            let fetch = tokio::spawn({
                let target = Arc::clone(&target);
                async move { fetcher.fetch_into(&pkg, Some(target)).await }
            });
            (i, fetch, target, dir, own)
        })
        .collect();
    for (i, fetch, target, dir, own) in fetches {
        let fetched = fetch.await.unwrap();
        if i == tampered {
            let err = fetched.unwrap_err();
            assert_eq!(err.code(), "ERR_PNPM_TARBALL_INTEGRITY", "{err}");
            assert!(err.to_string().contains("grouped-7@1.0.0"), "{err}");
            assert!(!target.filled());
            assert!(
                !dir.join("package.json").exists(),
                "grouped-7 looks complete"
            );
            let digest = sha512_hex(own.as_bytes());
            assert!(
                !env.store.cas_path(&digest, false).exists(),
                "a file of the tampered body reached the store"
            );
            continue;
        }
        let row = fetched.unwrap();
        assert!(target.filled(), "grouped-{i}");
        let mut on_disk: Vec<String> = Vec::new();
        walk(&dir, &dir, &mut on_disk);
        on_disk.sort();
        assert_eq!(on_disk, ["index.js", "lib/shared.js", "package.json"]);
        assert_eq!(std::fs::read_to_string(dir.join("index.js")).unwrap(), own);
        for (rel, info) in &row.files {
            let cas = env.store.cas_path(&info.digest, info.is_executable());
            assert_eq!(ino(&dir.join(rel)), ino(&cas), "grouped-{i}: {rel}");
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).unwrap();
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

/// The last links of an unpack (the marker above all) go through the directory's descriptor:
/// when another process has removed the directory and made a new one at its path meanwhile,
/// the new one does not get this package's marker over files it does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marker_goes_into_the_directory_that_was_filled_not_one_made_at_its_path_since() {
    let env = Env::new().await;
    let pkg = env.raw("moved", awkward_tarball());
    let (fetcher, _writer) = env.fetcher(env.options());
    let dir = env.dir.path().join("moved");
    let aside = env.dir.path().join("moved-aside");
    let (d, a) = (dir.clone(), aside.clone());
    let target = DirectTarget::new(move || {
        std::fs::create_dir(&d).ok()?;
        let fd = tack_fs::DirFd::open(&d).ok()?;
        // Another process takes the directory away and makes an empty one in its place.
        std::fs::rename(&d, &a).ok()?;
        std::fs::create_dir(&d).ok()?;
        Some(PackageDir {
            path: d,
            fd,
            marker: "package.json",
        })
    });
    let _ = fetcher.fetch_into(&pkg, Some(Arc::clone(&target))).await;
    assert!(
        !dir.join("package.json").exists(),
        "the directory made since must not look complete"
    );
    assert!(aside.join("package.json").is_file());
}

/// A package with install scripts is left without its marker: the install copies it for the
/// build, and until then its directory of hard links must not pass for complete (a build in
/// it would write through the links into the store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_to_build_is_left_without_its_marker() {
    let env = Env::new().await;
    let tgz = gzip(&raw_tar(&[
        RawEntry::file(
            "package/package.json",
            br#"{"name":"built","version":"1.0.0","scripts":{"postinstall":"node x.js"}}"#,
        ),
        RawEntry::file("package/x.js", b"1"),
    ]));
    let (fetched, target, dir) = fetch_with_target(&env, "built", tgz, env.options()).await;
    assert!(fetched.unwrap().requires_build.unwrap_or(false));
    assert!(target.filled());
    assert!(dir.join("x.js").is_file());
    assert!(!dir.join("package.json").exists());
}
