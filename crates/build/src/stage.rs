//! Publishing a package built in a staging directory.
//!
//! In the global virtual store a slot is shared by every project of the store, and another
//! install (tack's or pnpm's) takes a slot's package directory to be complete, built
//! included, as soon as it exists. So pnpm 12 imports a package it will build into a
//! staging directory beside it (`<slot>/node_modules/.pnpm-<8 hex>`), runs the scripts
//! there, and renames it to the package directory once they succeed; tack does the same.
//! Two installs building one slot at once each use a staging directory of their own: the
//! first rename wins, and the other install's build is thrown away.

use std::io;
use std::path::Path;

/// Renames the built package at `stage` to `pkg_dir`. `Ok(false)` when a complete package
/// (its `package.json` there) already is at `pkg_dir`, another install's build published
/// first: `stage` is removed then, and the package there is used. Anything else at
/// `pkg_dir` is an error, not a build to trust.
pub fn publish(stage: &Path, pkg_dir: &Path) -> io::Result<bool> {
    if let Some(parent) = pkg_dir.parent() {
        // A scoped package's `@scope` directory is not made until then.
        fs_err::create_dir_all(parent)?;
    }
    match std::fs::rename(stage, pkg_dir) {
        Ok(()) => Ok(true),
        // Renaming a directory over a non-empty one fails with ENOTEMPTY (or EEXIST).
        Err(e)
            if pkg_dir.join("package.json").is_file()
                && (e.kind() == io::ErrorKind::DirectoryNotEmpty
                    || e.kind() == io::ErrorKind::AlreadyExists) =>
        {
            discard(stage);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Removes the staging directory of a build that failed, so that no half-built package is
/// left in the slot (the next install imports and builds it again).
pub fn discard(stage: &Path) {
    let _ = std::fs::remove_dir_all(stage);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_build_published_wins_and_a_later_one_is_discarded() {
        let root = tempfile::tempdir().expect("temp dir");
        let slot = root.path().join("slot/node_modules");
        let pkg_dir = slot.join("@scope/pkg");
        for (stage, text) in [(".pnpm-00000001", "first"), (".pnpm-00000002", "second")] {
            let stage = slot.join(stage);
            fs_err::create_dir_all(&stage).expect("stage");
            fs_err::write(stage.join("built.txt"), text).expect("write");
            fs_err::write(stage.join("package.json"), "{}").expect("write");
        }
        assert!(publish(&slot.join(".pnpm-00000001"), &pkg_dir).expect("first"));
        assert!(!publish(&slot.join(".pnpm-00000002"), &pkg_dir).expect("second"));
        assert_eq!(
            fs_err::read_to_string(pkg_dir.join("built.txt")).expect("read"),
            "first"
        );
        let left: Vec<_> = fs_err::read_dir(&slot)
            .expect("slot")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, ["@scope"], "a staging directory was left");
    }

    #[test]
    fn a_package_dir_without_its_manifest_is_no_build_to_trust() {
        let root = tempfile::tempdir().expect("temp dir");
        let (stage, pkg_dir) = (root.path().join(".pnpm-00000001"), root.path().join("pkg"));
        fs_err::create_dir_all(&stage).expect("stage");
        fs_err::write(stage.join("package.json"), "{}").expect("write");
        fs_err::create_dir_all(pkg_dir.join("node_modules/.bin")).expect("a stray dir");
        publish(&stage, &pkg_dir).expect_err("published over a stray directory");
        assert!(
            stage.join("package.json").is_file(),
            "the build was thrown away"
        );
    }

    #[test]
    fn a_missing_stage_is_an_error() {
        let root = tempfile::tempdir().expect("temp dir");
        let err = publish(&root.path().join("gone"), &root.path().join("pkg"))
            .expect_err("published nothing");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
