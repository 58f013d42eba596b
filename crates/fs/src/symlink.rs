//! Relative directory symlinks with replace-if-wrong.
//!
//! `node_modules` is built from symlinks (`node_modules/foo -> .pnpm/foo@1.0.0/node_modules/foo`).
//! They are written *relative* so a project directory can be moved or mounted elsewhere
//! (Docker volumes, CI caches) and still resolve, as pnpm does. A re-install must be cheap
//! and safe: a correct link is left alone after a single `readlink`, a wrong link (or a
//! stray file) is replaced atomically with a temp link plus `rename`, so there is never a
//! moment where the name is missing. A real directory in the way is never deleted: it may
//! hold the user's work, so it is reported as an error naming it.

use crate::error::FsError;
use crate::temp::{parent_dir, temp_sibling};
use std::io;
use std::path::{Component, Path, PathBuf};

/// Makes `link` a symlink to `target`, written as a path relative to `link`'s parent.
///
/// Creates `link`'s parent if missing. Leaves a correct existing link alone, replaces a
/// wrong link or a file atomically, and fails with [`FsError::DirectoryInTheWay`] when a
/// real directory sits at `link`.
pub fn symlink_dir(target: &Path, link: &Path) -> Result<(), FsError> {
    symlink_dir_made(target, link).map(|_| ())
}

/// [`symlink_dir`], saying whether it made the link (or replaced what was there): `false`
/// when a correct link was in place already.
pub fn symlink_dir_made(target: &Path, link: &Path) -> Result<bool, FsError> {
    let link = absolute(link)?;
    let target = absolute(target)?;
    let parent = parent_dir(&link)?;
    let text = relative_path(parent, &target);

    match std::os::unix::fs::symlink(&text, &link) {
        Ok(()) => return Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(parent)
                .map_err(|e| FsError::io("create directory", parent, e))?;
            match std::os::unix::fs::symlink(&text, &link) {
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(FsError::io2("symlink", &text, &link, e)),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(FsError::io2("symlink", &text, &link, e)),
    }

    // Something is at `link`. One readlink decides whether it is already right.
    match std::fs::read_link(&link) {
        Ok(existing) if existing == text || points_to(parent, &existing, &target) => {
            return Ok(false)
        }
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            // Not a symlink: a real directory is an error, a file gets replaced.
            let meta =
                std::fs::symlink_metadata(&link).map_err(|e| FsError::io("stat", &link, e))?;
            if meta.is_dir() {
                return Err(FsError::DirectoryInTheWay { path: link });
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(FsError::io("readlink", &link, e)),
    }
    replace_link(&text, &link).map(|()| true)
}

/// Creates a temp symlink beside `link` and renames it over `link`.
fn replace_link(text: &Path, link: &Path) -> Result<(), FsError> {
    let mut last = None;
    for _ in 0..16 {
        let tmp = temp_sibling(link)?;
        match std::os::unix::fs::symlink(text, &tmp) {
            Ok(()) => {
                return std::fs::rename(&tmp, link).map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    FsError::io2("rename", &tmp, link, e)
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(FsError::io2("symlink", text, &tmp, e)),
        }
    }
    Err(FsError::io(
        "create temp symlink",
        link,
        last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)),
    ))
}

/// True when the link text `existing`, resolved against `link_dir`, lexically names `target`.
fn points_to(link_dir: &Path, existing: &Path, target: &Path) -> bool {
    normalize(&link_dir.join(existing)) == normalize(target)
}

fn absolute(p: &Path) -> Result<PathBuf, FsError> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        std::path::absolute(p).map_err(|e| FsError::io("resolve", p, e))
    }
}

/// The path that leads from the directory `from_dir` to `to`, computed lexically (no IO;
/// `.` and `..` components are resolved textually). Both paths should be absolute, or both
/// relative to the same directory. Returns `.` when they are the same.
pub fn relative_path(from_dir: &Path, to: &Path) -> PathBuf {
    relative_path_plain(from_dir, to).unwrap_or_else(|| relative_path_lexical(from_dir, to))
}

/// [`relative_path`] for the common case of two absolute paths with nothing to normalize,
/// computed on the bytes: the general version, which splits both paths into components,
/// was a visible share of a warm install (one call per symlink). `None` when the general
/// version must decide.
fn relative_path_plain(from_dir: &Path, to: &Path) -> Option<PathBuf> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let (from, to) = (from_dir.as_os_str().as_bytes(), to.as_os_str().as_bytes());
    if !is_plain_absolute(from) || !is_plain_absolute(to) {
        return None;
    }
    // The longest common prefix that ends at a component boundary.
    let shared = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    let at_boundary = |p: &[u8], i: usize| i == p.len() || p[i] == b'/';
    let common = if at_boundary(from, shared) && at_boundary(to, shared) {
        shared
    } else {
        from[..shared].iter().rposition(|&b| b == b'/')?
    };
    let ups = from[common..].iter().filter(|&&b| b == b'/').count();
    let down = to[common..].strip_prefix(b"/").unwrap_or(&to[common..]);
    let mut out = Vec::with_capacity(ups * 3 + down.len());
    for i in 0..ups {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(b"..");
    }
    if !down.is_empty() {
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(down);
    }
    if out.is_empty() {
        out.push(b'.');
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// Absolute, not the root, and already normal: no empty, `.` or `..` component and no
/// trailing slash.
fn is_plain_absolute(p: &[u8]) -> bool {
    p.len() > 1
        && p[0] == b'/'
        && p[1..]
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// The general [`relative_path`]: normalizes both paths, then compares components.
fn relative_path_lexical(from_dir: &Path, to: &Path) -> PathBuf {
    let from = normalize(from_dir);
    let to = normalize(to);
    if from.is_absolute() != to.is_absolute() {
        return to;
    }
    let from_parts: Vec<Component<'_>> = from.components().collect();
    let to_parts: Vec<Component<'_>> = to.components().collect();
    let common = from_parts
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for part in &from_parts[common..] {
        if matches!(part, Component::Normal(_)) {
            out.push("..");
        }
    }
    for part in &to_parts[common..] {
        out.push(part.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Resolves `.` and `..` textually (`/a/b/../c` -> `/a/c`; `..` at the root stays at the root).
fn normalize(p: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) | Some(Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    out.iter().map(|c| c.as_os_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: &str, b: &str) -> String {
        relative_path(Path::new(a), Path::new(b))
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            rel(
                "/p/node_modules",
                "/p/node_modules/.pnpm/a@1/node_modules/a"
            ),
            ".pnpm/a@1/node_modules/a"
        );
        assert_eq!(
            rel(
                "/p/node_modules/.pnpm/b@1/node_modules",
                "/p/node_modules/.pnpm/a@1/node_modules/a"
            ),
            "../../a@1/node_modules/a"
        );
        assert_eq!(rel("/a/b", "/a/b"), ".");
        assert_eq!(rel("/a/b/c", "/a"), "../..");
        assert_eq!(rel("/", "/x/y"), "x/y");
        assert_eq!(rel("/a/./b/../c", "/a/d"), "../d");
        assert_eq!(rel("/ab", "/a"), "../a");
        assert_eq!(rel("a/b", "a/c"), "../c");
        assert_eq!(rel("/a/bc", "/a/b"), "../b");
        assert_eq!(rel("/a/b", "/a/bc/d"), "../bc/d");
        assert_eq!(rel("/a", "/a/b/c"), "b/c");
    }

    #[test]
    fn the_byte_fast_path_agrees_with_the_component_walk() {
        let paths = [
            "/p/node_modules",
            "/p/node_modules/.pnpm/a@1/node_modules/a",
            "/p/node_modules/.pnpm/a@1/node_modules/@s/x",
            "/p/node_modules/.pnpm/ab@1/node_modules/ab",
            "/p/node_modules/.pnpm/node_modules",
            "/p/node_modules/.pnpm/node_modules/@s",
            "/p",
            "/q",
            "/pq/r",
            "/p/packages/app",
            "/a/bc",
            "/a/b",
            "/a/b/c",
        ];
        for from in paths {
            for to in paths {
                let fast = relative_path_plain(Path::new(from), Path::new(to));
                let slow = relative_path_lexical(Path::new(from), Path::new(to));
                assert_eq!(fast.as_ref(), Some(&slow), "{from} -> {to}");
            }
        }
        for odd in ["/", "/a/./b", "/a/../b", "/a//b", "/a/b/", "a/b"] {
            assert!(relative_path_plain(Path::new(odd), Path::new("/a")).is_none());
        }
    }
}
