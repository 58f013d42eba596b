//! Safety checks for names that become paths: package names, aliases, file paths and bin
//! names.
//!
//! Everything the linker writes is under a directory derived from the lockfile or a tarball,
//! both of which may be hostile. A name with `..`, an absolute path or an empty component
//! could write outside `node_modules`; these checks reject them before any path is built.

use crate::error::LinkError;

/// Checks a relative file path inside a package: only normal components.
pub(crate) fn check_rel_path(
    package: &str,
    what: &'static str,
    value: &str,
) -> Result<(), LinkError> {
    let ok = !value.is_empty() && only_normal_components(value);
    if ok {
        Ok(())
    } else {
        Err(LinkError::UnsafePath {
            package: package.to_string(),
            what,
            value: value.to_string(),
        })
    }
}

/// Whether every component `Path::components` gives for `value` is a normal one: no root,
/// no `..`, no leading `.` (a `.` further on, and empty parts, are dropped by `Path`), and
/// no NUL anywhere. The same verdict in one pass over the bytes, without `Path`'s parser or
/// a string search per part: every file of every package a warm install imports is checked.
fn only_normal_components(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.first() == Some(&b'/') {
        return false;
    }
    let mut start = 0;
    loop {
        let end = bytes[start..]
            .iter()
            .position(|&c| c == b'/' || c == 0)
            .map_or(bytes.len(), |at| start + at);
        if bytes.get(end) == Some(&0) {
            return false;
        }
        let part = &bytes[start..end];
        if part == b".." || (start == 0 && part == b".") {
            return false;
        }
        if end == bytes.len() {
            return true;
        }
        start = end + 1;
    }
}

/// Checks a package name or alias: `name` or `@scope/name`, no traversal.
pub(crate) fn check_package_name(
    package: &str,
    what: &'static str,
    value: &str,
) -> Result<(), LinkError> {
    check_rel_path(package, what, value)?;
    let parts = value.split('/').count();
    let scoped = value.starts_with('@');
    if (scoped && parts == 2) || (!scoped && parts == 1) {
        Ok(())
    } else {
        Err(LinkError::UnsafePath {
            package: package.to_string(),
            what,
            value: value.to_string(),
        })
    }
}

/// pnpm's bin name rule: not empty, not `.`/`..`, URL-safe (`$` allowed), no path separators.
pub(crate) fn is_valid_bin_name(name: &str) -> bool {
    if name.is_empty() || name == "." || name == ".." {
        return false;
    }
    name.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '_' | '.' | '~' | '!' | '*' | '\'' | '(' | ')' | '$'
            )
    })
}

#[cfg(test)]
mod component_tests {
    use super::only_normal_components;
    use std::path::{Component, Path};

    /// Every string of up to seven chars over `a`, `.`, `/` and NUL: the same verdict as
    /// `Path::components`, and never with a NUL.
    #[test]
    fn splitting_at_slashes_agrees_with_path_components() {
        let mut values = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..7 {
            last = last
                .iter()
                .flat_map(|v| ['a', '.', '/', '\0'].map(|c| format!("{v}{c}")))
                .collect();
            values.extend(last.iter().cloned());
        }
        assert_eq!(values.len(), 21845);
        for value in values.iter().filter(|v| !v.is_empty()) {
            let by_path = Path::new(value)
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
                && !value.contains('\0');
            assert_eq!(only_normal_components(value), by_path, "{value:?}");
        }
    }
}
