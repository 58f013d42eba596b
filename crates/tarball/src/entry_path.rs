//! Sanitising tar entry paths before they become keys of the package's file map.
//!
//! The file map's keys are later joined onto a package directory by the linker, so a key
//! that is absolute, has a drive prefix or climbs with `..` would write outside
//! `node_modules`. Every such entry is refused here, once, with a reason. Backslashes are
//! treated as separators first so `..\evil` cannot slip through on Windows.

/// Why an entry path was refused.
pub(crate) type Refusal = &'static str;

/// Turns a raw tar path into the package-relative key: separators normalised, `.` and
/// empty segments dropped, the first component (`package/`) stripped.
///
/// `Ok(None)` means nothing is left after stripping (the top directory itself).
pub(crate) fn sanitize_entry_path(raw: &[u8]) -> Result<Option<String>, Refusal> {
    if raw.contains(&0) {
        return Err("contains a NUL byte");
    }
    let text = String::from_utf8_lossy(raw).replace('\\', "/");
    if text.starts_with('/') {
        return Err("is an absolute path");
    }
    let mut kept: Vec<&str> = Vec::new();
    for component in text.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err("climbs out of the package with `..`"),
            c if has_drive_prefix(c) => return Err("has a drive prefix"),
            c => kept.push(c),
        }
    }
    if kept.len() <= 1 {
        return Ok(None);
    }
    Ok(Some(kept[1..].join("/")))
}

/// `C:` / `c:foo`: a Windows drive-relative path component.
fn has_drive_prefix(component: &str) -> bool {
    let b = component.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::sanitize_entry_path;

    fn ok(raw: &str) -> Option<String> {
        sanitize_entry_path(raw.as_bytes()).unwrap()
    }

    #[test]
    fn strips_the_first_component_and_normalises() {
        assert_eq!(ok("package/index.js").as_deref(), Some("index.js"));
        assert_eq!(ok("./package/./lib//a.js").as_deref(), Some("lib/a.js"));
        assert_eq!(ok("node-v1/lib\\win.js").as_deref(), Some("lib/win.js"));
        assert_eq!(ok("package/"), None);
        assert_eq!(ok("package"), None);
    }

    #[test]
    fn refuses_every_escape() {
        for bad in [
            "package/../evil",
            "../evil",
            "/abs",
            "/package/abs",
            "package/..\\evil",
            "package\\..\\..\\evil",
            "package/C:evil",
            "C:\\evil",
            "package/a/../../b",
        ] {
            assert!(
                sanitize_entry_path(bad.as_bytes()).is_err(),
                "{bad} was accepted"
            );
        }
        assert!(sanitize_entry_path(b"package/a\0b").is_err());
    }
}
