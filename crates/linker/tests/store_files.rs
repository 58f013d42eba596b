//! Imports whose files come straight from a store index row ([`FilesFrom::Store`]): CAS
//! files named by digest under a pnpm-layout `files/` directory, linked without a path
//! built per file.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use tack_linker::*;

/// Writes `content` at its CAS name under `files_dir` and returns its digest (any 128 hex
/// digits do: the linker does not hash).
fn put(files_dir: &Path, seed: u8, content: &str, exec: bool) -> String {
    let digest = format!("{seed:02x}").repeat(64);
    let name = format!(
        "{}/{}{}",
        &digest[..2],
        &digest[2..],
        if exec { "-exec" } else { "" }
    );
    let path = files_dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    let mode = if exec { 0o755 } else { 0o644 };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    digest
}

fn package(name: &str) -> PlannedPackage {
    PlannedPackage {
        dir_name: format!("{name}@1.0.0"),
        dep_path: format!("{name}@1.0.0"),
        name: name.to_string(),
        version: "1.0.0".to_string(),
        files: PackageFiles::Cas(Vec::new()),
        children: Vec::new(),
        has_bin: false,
        has_bundled_dependencies: false,
        unlinked_optional_children: Vec::new(),
        force_copy: false,
    }
}

#[test]
fn files_named_by_digest_are_hard_linked_with_their_exec_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let files_dir = tmp.path().join("store/v11/files");
    let manifest = put(&files_dir, 0x11, r#"{"name":"a","version":"1.0.0"}"#, false);
    let main = put(&files_dir, 0x22, "module.exports = 1", false);
    let cli = put(&files_dir, 0x33, "#!/usr/bin/env node", true);
    let files = [
        StoreFile {
            rel_path: "package.json",
            digest: &manifest,
            executable: false,
            copy: false,
        },
        StoreFile {
            rel_path: "lib/index.js",
            digest: &main,
            executable: false,
            copy: false,
        },
        StoreFile {
            rel_path: "bin/cli.js",
            digest: &cli,
            executable: true,
            copy: false,
        },
    ];
    let vs = tmp.path().join("node_modules/.pnpm");
    let importer = PackageImporter::new(ImportMethod::Hardlink);
    let source = FilesFrom::Store {
        files_dir: &files_dir,
        files: &files,
    };
    let outcome = import_package_from(&package("a"), source, false, &vs, &importer).unwrap();
    assert_eq!(outcome, ImportOutcome::Imported);

    let pkg = vs.join("a@1.0.0/node_modules/a");
    let linked = std::fs::metadata(pkg.join("lib/index.js")).unwrap();
    let cas = std::fs::metadata(files_dir.join(format!("22/{}", &main[2..]))).unwrap();
    assert_eq!(linked.ino(), cas.ino(), "a hard link to the CAS file");
    let bin = std::fs::metadata(pkg.join("bin/cli.js")).unwrap();
    assert_eq!(bin.mode() & 0o111, 0o111);
    assert_eq!(
        std::fs::read_to_string(pkg.join("package.json")).unwrap(),
        r#"{"name":"a","version":"1.0.0"}"#
    );

    // The same package again: complete, nothing touched.
    let again = import_package_from(&package("a"), source, false, &vs, &importer).unwrap();
    assert_eq!(again, ImportOutcome::Reused);

    // Copied (a package that will be built): same content, its own inode, exec bit kept.
    let copied = import_package_from(&package("b"), source, true, &vs, &importer).unwrap();
    assert_eq!(copied, ImportOutcome::Imported);
    let pkg_b = vs.join("b@1.0.0/node_modules/b");
    let copy = std::fs::metadata(pkg_b.join("lib/index.js")).unwrap();
    assert_ne!(copy.ino(), cas.ino());
    let bin_b = std::fs::metadata(pkg_b.join("bin/cli.js")).unwrap();
    assert_eq!(bin_b.mode() & 0o111, 0o111);
}

#[test]
fn a_malformed_digest_or_path_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let files_dir = tmp.path().join("store/v11/files");
    let good = put(&files_dir, 0x44, "{}", false);
    let vs = tmp.path().join("node_modules/.pnpm");
    let importer = PackageImporter::new(ImportMethod::Auto);
    for (rel, digest) in [
        ("index.js", "../../../../etc/passwd"),
        ("index.js", &good[..127]),
        ("../escape.js", good.as_str()),
    ] {
        let files = [
            StoreFile {
                rel_path: "package.json",
                digest: &good,
                executable: false,
                copy: false,
            },
            StoreFile {
                rel_path: rel,
                digest,
                executable: false,
                copy: false,
            },
        ];
        let source = FilesFrom::Store {
            files_dir: &files_dir,
            files: &files,
        };
        let err = import_package_from(&package("evil"), source, false, &vs, &importer)
            .expect_err("refused");
        assert!(
            matches!(err, LinkError::UnsafePath { .. }),
            "{rel} {digest}: {err}"
        );
        assert!(!vs.join("evil@1.0.0").exists(), "nothing written");
    }
}

/// Only a regular `package.json` marks a package complete. A hostile archive with
/// `package.json/x` and no `package.json` left a directory of that name; the import then
/// failed, and the next one took the directory for the marker and reported the package
/// complete.
#[test]
fn a_directory_named_like_the_marker_does_not_mark_a_package_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let files_dir = tmp.path().join("store/v11/files");
    let manifest = put(&files_dir, 0x11, r#"{"name":"a","version":"1.0.0"}"#, false);
    let main = put(&files_dir, 0x22, "module.exports = 1", false);
    let files = [
        StoreFile {
            rel_path: "package.json",
            digest: &manifest,
            executable: false,
            copy: false,
        },
        StoreFile {
            rel_path: "index.js",
            digest: &main,
            executable: false,
            copy: false,
        },
    ];
    let vs = tmp.path().join("node_modules/.pnpm");
    let pkg = vs.join("a@1.0.0/node_modules/a");
    std::fs::create_dir_all(pkg.join("package.json")).unwrap();
    std::fs::write(pkg.join("package.json/x"), "left by a hostile archive").unwrap();
    let importer = PackageImporter::new(ImportMethod::Hardlink);
    let source = FilesFrom::Store {
        files_dir: &files_dir,
        files: &files,
    };
    let outcome = import_package_from(&package("a"), source, false, &vs, &importer).unwrap();
    assert_eq!(outcome, ImportOutcome::Repaired);
    assert!(pkg.join("package.json").is_file());
    assert!(pkg.join("index.js").is_file());
}
