//! Paths resolved without the filesystem: the ones a lockfile or a manifest gives
//! (`link:../b`, `file:vendor/x.tgz`) name directories that need not exist yet, and the
//! installer, the frozen check and the filters must agree on what they name.

use std::path::{Component, Path, PathBuf};

/// `path` with its `.` and `..` components resolved textually.
pub fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_are_resolved_textually() {
        assert_eq!(
            normalize_lexically(Path::new("/w/packages/a/../../local/./c")),
            PathBuf::from("/w/local/c")
        );
    }
}
