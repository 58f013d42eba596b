//! Apply parsed file patches to a package directory, strictly and all-or-nothing.
//!
//! Every hunk must match the file exactly at its stated position (shifted by the line count
//! changes of the hunks before it); context and removed lines are compared ignoring only a
//! trailing `\r`. All results are computed in memory first, so a hunk that does not match
//! leaves the package untouched. Files are then published with `AtomicWrite` (temp sibling +
//! rename), which also means a hard-linked file is replaced, never written through.

use super::parse::{parse_patch, FilePatch, Hunk, HunkLine};
use crate::error::BuildError;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// A file as lines, remembering whether it ended with a newline.
#[derive(Debug, Clone)]
struct TextFile {
    lines: Vec<String>,
    trailing_newline: bool,
    mode: u32,
}

impl TextFile {
    fn parse(bytes: &[u8], mode: u32) -> Self {
        let text = String::from_utf8_lossy(bytes);
        if text.is_empty() {
            return TextFile {
                lines: Vec::new(),
                trailing_newline: false,
                mode,
            };
        }
        let trailing_newline = text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(&text);
        TextFile {
            lines: body.split('\n').map(str::to_string).collect(),
            trailing_newline,
            mode,
        }
    }

    fn render(&self) -> Vec<u8> {
        let mut out = self.lines.join("\n");
        if self.trailing_newline && !self.lines.is_empty() {
            out.push('\n');
        }
        out.into_bytes()
    }
}

/// Read, parse and apply the patch file `patch_file` to `pkg_dir`. `package` (`name@version`)
/// is used in errors.
pub fn apply_patch_file(
    pkg_dir: &Path,
    patch_file: &Path,
    package: &str,
) -> Result<(), BuildError> {
    let bytes = fs_err::read(patch_file)
        .map_err(|e| BuildError::io("read the patch file", patch_file, e))?;
    let text = String::from_utf8_lossy(&bytes);
    let patches = parse_patch(&text, patch_file)?;
    apply_patch(pkg_dir, &patches, patch_file, package)
}

/// Apply already parsed patches to `pkg_dir`. Nothing is written unless every hunk applies.
pub fn apply_patch(
    pkg_dir: &Path,
    patches: &[FilePatch],
    patch_file: &Path,
    package: &str,
) -> Result<(), BuildError> {
    // Path → new state (`None` = deleted); later patches of the same file see earlier results.
    let mut staged: HashMap<String, Option<TextFile>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for fp in patches {
        let fail = |hunk: &str, reason: String| BuildError::PatchFailed {
            package: package.to_string(),
            patch_file: patch_file.to_path_buf(),
            file: fp.display_path().to_string(),
            hunk: hunk.to_string(),
            reason,
        };
        for p in fp.old_path.iter().chain(fp.new_path.iter()) {
            if !is_safe_relative(p) {
                return Err(fail(
                    "(file header)",
                    format!("names the unsafe path `{p}`"),
                ));
            }
        }
        let current = |path: &str,
                       staged: &HashMap<String, Option<TextFile>>|
         -> Result<Option<TextFile>, BuildError> {
            if let Some(state) = staged.get(path) {
                return Ok(state.clone());
            }
            read_text_file(&pkg_dir.join(path))
        };
        let result = if fp.created {
            let new_path = fp.new_path.as_deref().unwrap_or_default();
            if current(new_path, &staged)?.is_some() {
                return Err(fail(
                    "(file header)",
                    "creates a file that already exists".to_string(),
                ));
            }
            let mut file = TextFile {
                lines: Vec::new(),
                trailing_newline: true,
                mode: fp.new_mode.unwrap_or(0o644),
            };
            for hunk in &fp.hunks {
                apply_hunk(&mut file, hunk, 0).map_err(|r| fail(&hunk.header, r))?;
            }
            Some((new_path.to_string(), Some(file)))
        } else {
            let old_path = fp.old_path.as_deref().unwrap_or_default();
            let Some(mut file) = current(old_path, &staged)? else {
                return Err(fail(
                    "(file header)",
                    "is about a file the package does not have".to_string(),
                ));
            };
            let mut offset: isize = 0;
            for hunk in &fp.hunks {
                apply_hunk(&mut file, hunk, offset).map_err(|r| fail(&hunk.header, r))?;
                offset += hunk.new_len as isize - hunk.old_len as isize;
            }
            if fp.deleted {
                if !file.lines.is_empty() && !fp.hunks.is_empty() {
                    return Err(fail(
                        "(file header)",
                        "deletes a file whose content differs from the patch".to_string(),
                    ));
                }
                Some((old_path.to_string(), None))
            } else {
                if let Some(mode) = fp.new_mode {
                    file.mode = mode;
                }
                let new_path = fp.new_path.as_deref().unwrap_or(old_path);
                if new_path != old_path {
                    stage(&mut staged, &mut order, old_path.to_string(), None);
                }
                Some((new_path.to_string(), Some(file)))
            }
        };
        if let Some((path, state)) = result {
            stage(&mut staged, &mut order, path, state);
        }
    }
    for path in order {
        let target = pkg_dir.join(&path);
        match staged.remove(&path) {
            Some(Some(file)) => tack_fs::AtomicWrite::new(&target)
                .mode(file.mode)
                .write_bytes(&file.render())?,
            Some(None) => match fs_err::remove_file(&target) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BuildError::io("delete", target, e)),
            },
            None => {}
        }
    }
    Ok(())
}

fn stage(
    staged: &mut HashMap<String, Option<TextFile>>,
    order: &mut Vec<String>,
    path: String,
    state: Option<TextFile>,
) {
    if !staged.contains_key(&path) {
        order.push(path.clone());
    }
    staged.insert(path, state);
}

/// Read a file of the package, or `None` if it does not exist.
fn read_text_file(path: &PathBuf) -> Result<Option<TextFile>, BuildError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {
            let bytes = fs_err::read(path).map_err(|e| BuildError::io("read", path, e))?;
            Ok(Some(TextFile::parse(
                &bytes,
                meta.permissions().mode() & 0o7777,
            )))
        }
        Ok(_) => Err(BuildError::io(
            "patch",
            path,
            std::io::Error::other("not a regular file"),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BuildError::io("stat", path, e)),
    }
}

/// Apply one hunk at its stated position (plus `offset`), or explain the mismatch.
fn apply_hunk(file: &mut TextFile, hunk: &Hunk, offset: isize) -> Result<(), String> {
    // For a pure insertion (`-N,0`) the new lines go after line N; otherwise the hunk
    // starts at line N (1-based).
    let base = if hunk.old_len == 0 {
        hunk.old_start as isize
    } else {
        hunk.old_start as isize - 1
    };
    let start = base + offset;
    if start < 0 || start as usize > file.lines.len() {
        return Err(format!(
            "starts at line {} but the file has {} lines",
            start + 1,
            file.lines.len()
        ));
    }
    let start = start as usize;
    let mut pos = start;
    let mut replacement = Vec::new();
    for line in &hunk.lines {
        match line {
            HunkLine::Context(expected) | HunkLine::Remove(expected) => {
                let Some(actual) = file.lines.get(pos) else {
                    return Err(format!(
                        "expects line {} to be `{expected}` but the file ends at line {}",
                        pos + 1,
                        file.lines.len()
                    ));
                };
                if actual.trim_end_matches('\r') != expected.trim_end_matches('\r') {
                    return Err(format!(
                        "does not match line {}: expected `{expected}`, found `{actual}`",
                        pos + 1
                    ));
                }
                if let HunkLine::Context(_) = line {
                    replacement.push(actual.clone());
                }
                pos += 1;
            }
            HunkLine::Add(text) => replacement.push(text.clone()),
        }
    }
    let reaches_end = pos == file.lines.len();
    file.lines.splice(start..pos, replacement);
    if reaches_end {
        file.trailing_newline = !hunk.new_no_newline;
    }
    Ok(())
}

/// A relative path that stays inside the package: no root, no `..`, not empty.
pub(crate) fn is_safe_relative(path: &str) -> bool {
    if path.is_empty() || path.contains('\0') || path.contains('\\') {
        return false;
    }
    let p = Path::new(path);
    p.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        && p.components().any(|c| matches!(c, Component::Normal(_)))
}
