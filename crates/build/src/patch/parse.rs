//! Parse a git-style unified diff into per-file patches: modifications with hunks, file
//! creation (`--- /dev/null` or `new file mode`), deletion (`+++ /dev/null` or
//! `deleted file mode`), renames and mode changes, with `a/` / `b/` prefixes removed and
//! `\ No newline at end of file` markers honoured. Lines outside file sections (a commit
//! message, `index` lines) are ignored.

use crate::error::BuildError;
use std::path::Path;

/// One line of a hunk body (without its ` `/`-`/`+` marker and line ending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HunkLine {
    Context(String),
    Remove(String),
    Add(String),
}

/// One `@@ -a,b +c,d @@` hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// The header as written (`@@ -1,3 +1,4 @@ fn x`).
    pub header: String,
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<HunkLine>,
    /// The old side's last line has no trailing newline.
    pub old_no_newline: bool,
    /// The new side's last line has no trailing newline.
    pub new_no_newline: bool,
}

/// The changes to one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePatch {
    /// Path before the change (`None` for a created file).
    pub old_path: Option<String>,
    /// Path after the change (`None` for a deleted file).
    pub new_path: Option<String>,
    /// Mode from `new file mode` / `new mode`.
    pub new_mode: Option<u32>,
    pub hunks: Vec<Hunk>,
    /// Set by `new file mode` (or `--- /dev/null`).
    pub created: bool,
    /// Set by `deleted file mode` (or `+++ /dev/null`).
    pub deleted: bool,
}

impl FilePatch {
    /// The path this patch is about, for messages.
    pub fn display_path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or("<unknown>")
    }
}

/// Parse patch text. `patch_file` is only used in error messages.
pub fn parse_patch(text: &str, patch_file: &Path) -> Result<Vec<FilePatch>, BuildError> {
    let err = |line: usize, reason: String| BuildError::PatchParse {
        patch_file: patch_file.to_path_buf(),
        line,
        reason,
    };
    let lines: Vec<&str> = text.split('\n').collect();
    let mut files: Vec<FilePatch> = Vec::new();
    let mut current: Option<FilePatch> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].strip_suffix('\r').unwrap_or(lines[i]);
        let lineno = i + 1;
        if let Some(rest) = line.strip_prefix("diff --git ") {
            files.extend(current.take());
            let mut fp = FilePatch::default();
            if let Some((a, b)) = split_git_paths(rest) {
                fp.old_path = Some(a);
                fp.new_path = Some(b);
            }
            current = Some(fp);
        } else if let Some(mode) = line.strip_prefix("new file mode ") {
            let fp = current.get_or_insert_with(FilePatch::default);
            fp.created = true;
            fp.old_path = None;
            fp.new_mode =
                Some(parse_mode(mode).ok_or_else(|| err(lineno, format!("bad mode `{mode}`")))?);
        } else if line.starts_with("deleted file mode ") {
            let fp = current.get_or_insert_with(FilePatch::default);
            fp.deleted = true;
            fp.new_path = None;
        } else if let Some(mode) = line.strip_prefix("new mode ") {
            let fp = current.get_or_insert_with(FilePatch::default);
            fp.new_mode =
                Some(parse_mode(mode).ok_or_else(|| err(lineno, format!("bad mode `{mode}`")))?);
        } else if let Some(p) = line.strip_prefix("rename from ") {
            current.get_or_insert_with(FilePatch::default).old_path = Some(p.to_string());
        } else if let Some(p) = line.strip_prefix("rename to ") {
            current.get_or_insert_with(FilePatch::default).new_path = Some(p.to_string());
        } else if line.starts_with("Binary files ") || line == "GIT binary patch" {
            return Err(err(lineno, "binary patches are not supported".to_string()));
        } else if let Some(p) = line.strip_prefix("--- ") {
            // A `---` header without a preceding `diff --git` starts a new file section.
            let starts_new = match &current {
                None => true,
                Some(fp) => !fp.hunks.is_empty(),
            };
            if starts_new {
                files.extend(current.take());
                current = Some(FilePatch::default());
            }
            let fp = current.get_or_insert_with(FilePatch::default);
            match header_path(p) {
                Some(path) => fp.old_path = Some(path),
                None => {
                    fp.created = true;
                    fp.old_path = None;
                }
            }
        } else if let Some(p) = line.strip_prefix("+++ ") {
            let fp = current
                .as_mut()
                .ok_or_else(|| err(lineno, "`+++` header without a `---` header".to_string()))?;
            match header_path(p) {
                Some(path) => fp.new_path = Some(path),
                None => {
                    fp.deleted = true;
                    fp.new_path = None;
                }
            }
        } else if line.starts_with("@@ ") {
            let fp = current
                .as_mut()
                .ok_or_else(|| err(lineno, "hunk outside of a file section".to_string()))?;
            let (hunk, consumed) = parse_hunk(&lines[i..], lineno, &err)?;
            fp.hunks.push(hunk);
            i += consumed;
            continue;
        }
        i += 1;
    }
    files.extend(current);
    for fp in &files {
        if fp.old_path.is_none() && fp.new_path.is_none() {
            return Err(err(0, "a file section names no file".to_string()));
        }
    }
    Ok(files)
}

/// Parse one hunk starting at `lines[0]` (its header); returns it and the lines consumed.
fn parse_hunk(
    lines: &[&str],
    lineno: usize,
    err: &dyn Fn(usize, String) -> BuildError,
) -> Result<(Hunk, usize), BuildError> {
    let header = lines[0].strip_suffix('\r').unwrap_or(lines[0]).to_string();
    let (old_start, old_len, new_start, new_len) = parse_hunk_header(&header)
        .ok_or_else(|| err(lineno, format!("bad hunk header `{header}`")))?;
    let mut hunk = Hunk {
        header,
        old_start,
        old_len,
        new_start,
        new_len,
        lines: Vec::new(),
        old_no_newline: false,
        new_no_newline: false,
    };
    let (mut old_seen, mut new_seen) = (0, 0);
    let mut i = 1;
    while i < lines.len() {
        let raw = lines[i];
        if raw.starts_with('\\') {
            match hunk.lines.last() {
                Some(HunkLine::Context(_)) => {
                    hunk.old_no_newline = true;
                    hunk.new_no_newline = true;
                }
                Some(HunkLine::Remove(_)) => hunk.old_no_newline = true,
                Some(HunkLine::Add(_)) => hunk.new_no_newline = true,
                None => {}
            }
            i += 1;
            continue;
        }
        if old_seen >= old_len && new_seen >= new_len {
            break;
        }
        let body = raw.get(1..).unwrap_or("").to_string();
        match raw.as_bytes().first() {
            Some(b' ') | None => {
                hunk.lines.push(HunkLine::Context(body));
                old_seen += 1;
                new_seen += 1;
            }
            Some(b'-') => {
                hunk.lines.push(HunkLine::Remove(body));
                old_seen += 1;
            }
            Some(b'+') => {
                hunk.lines.push(HunkLine::Add(body));
                new_seen += 1;
            }
            _ => break,
        }
        i += 1;
    }
    if old_seen != old_len || new_seen != new_len {
        return Err(err(
            lineno,
            format!(
                "hunk `{}` is truncated: expected {old_len} old and {new_len} new lines, found {old_seen} and {new_seen}",
                hunk.header
            ),
        ));
    }
    Ok((hunk, i))
}

/// `@@ -a[,b] +c[,d] @@…` → (a, b, c, d); a missing length means 1.
fn parse_hunk_header(header: &str) -> Option<(usize, usize, usize, usize)> {
    let rest = header.strip_prefix("@@ -")?;
    let end = rest.find(" @@")?;
    let (old, new) = rest[..end].split_once(" +")?;
    let range = |s: &str| -> Option<(usize, usize)> {
        match s.split_once(',') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => Some((s.parse().ok()?, 1)),
        }
    };
    let (a, b) = range(old)?;
    let (c, d) = range(new)?;
    Some((a, b, c, d))
}

/// The path of a `---`/`+++` header, without `a/`/`b/` and any tab-separated timestamp;
/// `None` for `/dev/null`.
fn header_path(raw: &str) -> Option<String> {
    let raw = raw.strip_suffix('\r').unwrap_or(raw);
    let path = raw.split('\t').next().unwrap_or(raw).trim_end();
    let path = unquote(path);
    if path == "/dev/null" {
        return None;
    }
    Some(strip_ab(&path).to_string())
}

/// `a/x b/x` → (`x`, `x`).
fn split_git_paths(rest: &str) -> Option<(String, String)> {
    let rest = rest.trim_end_matches('\r');
    let idx = rest.find(" b/")?;
    let a = unquote(&rest[..idx]);
    let b = unquote(&rest[idx + 1..]);
    Some((strip_ab(&a).to_string(), strip_ab(&b).to_string()))
}

fn strip_ab(path: &str) -> &str {
    path.strip_prefix("a/")
        .or_else(|| path.strip_prefix("b/"))
        .unwrap_or(path)
}

/// Remove git's C-style quotes (`"a/with space"`), handling the common escapes.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) else {
        return s.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_mode(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim(), 8).ok().map(|m| m & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header() {
        assert_eq!(parse_hunk_header("@@ -1,3 +1,4 @@ x"), Some((1, 3, 1, 4)));
        assert_eq!(parse_hunk_header("@@ -0,0 +1 @@"), Some((0, 0, 1, 1)));
        assert_eq!(
            header_path("a/lib/x.js\t2020-01-01"),
            Some("lib/x.js".into())
        );
        assert_eq!(header_path("/dev/null"), None);
    }
}
