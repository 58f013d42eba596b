//! Safety checks for names that become paths: package names, aliases, file paths and bin
//! names.
//!
//! Everything the linker writes is under a directory derived from the lockfile or a tarball,
//! both of which may be hostile. A name with `..`, an absolute path or an empty component
//! could write outside `node_modules`; these checks reject them before any path is built.

use crate::error::LinkError;
use std::path::{Component, Path};

/// Checks a relative file path inside a package: only normal components.
pub(crate) fn check_rel_path(
    package: &str,
    what: &'static str,
    value: &str,
) -> Result<(), LinkError> {
    let ok = !value.is_empty()
        && !value.contains('\0')
        && Path::new(value)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
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
