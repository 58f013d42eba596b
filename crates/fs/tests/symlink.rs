//! Relative directory symlinks: relative text, replace-if-wrong, idempotent.

mod common;

use common::temps;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tack_fs::{symlink_dir, FsError};

fn link_ino(p: &Path) -> u64 {
    std::fs::symlink_metadata(p).unwrap().ino()
}

#[test]
fn writes_relative_text_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir
        .path()
        .join("node_modules/.pnpm/foo@1.0.0/node_modules/foo");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("package.json"), b"{}").unwrap();
    let link = dir.path().join("node_modules/foo");
    symlink_dir(&target, &link).unwrap();
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new(".pnpm/foo@1.0.0/node_modules/foo")
    );
    assert_eq!(std::fs::read(link.join("package.json")).unwrap(), b"{}");

    // A scoped sibling one level deeper, pointing up and across.
    let link2 = dir
        .path()
        .join("node_modules/.pnpm/bar@2.0.0/node_modules/@scope/foo");
    symlink_dir(&target, &link2).unwrap();
    assert_eq!(
        std::fs::read_link(&link2).unwrap(),
        Path::new("../../../foo@1.0.0/node_modules/foo")
    );
    assert_eq!(std::fs::read(link2.join("package.json")).unwrap(), b"{}");
}

#[test]
fn creates_missing_parent_and_allows_dangling_target() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("a/b/c/link");
    symlink_dir(&dir.path().join("later"), &link).unwrap();
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("../../../later")
    );
}

#[test]
fn correct_link_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t");
    std::fs::create_dir(&target).unwrap();
    let link = dir.path().join("l");
    symlink_dir(&target, &link).unwrap();
    let before = link_ino(&link);
    for _ in 0..3 {
        symlink_dir(&target, &link).unwrap();
    }
    assert_eq!(link_ino(&link), before, "a correct link was recreated");

    // An absolute link that already resolves to the target also counts as correct.
    let abs = dir.path().join("abs");
    std::os::unix::fs::symlink(&target, &abs).unwrap();
    let before = link_ino(&abs);
    symlink_dir(&target, &abs).unwrap();
    assert_eq!(link_ino(&abs), before);
    assert!(temps(dir.path()).is_empty());
}

#[test]
fn wrong_link_and_file_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let right = dir.path().join("right");
    let wrong = dir.path().join("wrong");
    std::fs::create_dir(&right).unwrap();
    std::fs::create_dir(&wrong).unwrap();
    let link = dir.path().join("nm/pkg");
    symlink_dir(&wrong, &link).unwrap();
    symlink_dir(&right, &link).unwrap();
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("../right"));

    let file_link = dir.path().join("nm/file");
    std::fs::write(&file_link, b"stray").unwrap();
    symlink_dir(&right, &file_link).unwrap();
    assert_eq!(
        std::fs::read_link(&file_link).unwrap(),
        Path::new("../right")
    );
    assert!(wrong.is_dir(), "the old target is untouched");
    assert!(temps(dir.path()).is_empty());
}

#[test]
fn real_directory_in_the_way_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t");
    let link = dir.path().join("precious");
    std::fs::create_dir_all(link.join("work")).unwrap();
    std::fs::write(link.join("work/notes.txt"), b"mine").unwrap();
    let err = symlink_dir(&target, &link).unwrap_err();
    assert!(matches!(err, FsError::DirectoryInTheWay { ref path } if path == &link));
    assert_eq!(err.code(), "ERR_TACK_SYMLINK_DIR_IN_THE_WAY");
    assert!(err.to_string().contains("precious"));
    assert_eq!(std::fs::read(link.join("work/notes.txt")).unwrap(), b"mine");
}

#[test]
fn relative_inputs_are_resolved_against_the_cwd() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    std::fs::create_dir_all("pkgs/a").unwrap();
    symlink_dir(Path::new("pkgs/a"), Path::new("node_modules/a")).unwrap();
    assert_eq!(
        std::fs::read_link(dir.path().join("node_modules/a")).unwrap(),
        Path::new("../pkgs/a")
    );
}
