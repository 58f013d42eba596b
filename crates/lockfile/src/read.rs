//! Reading `pnpm-lock.yaml`: BOM and CRLF handling, pnpm 11's leading env document, merge-conflict
//! and v13-format detection, the version check, and a bounded YAML parse so hostile input cannot
//! exhaust memory.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde_saphyr::{Budget, Options};

use crate::error::LockfileError;
use crate::types::Lockfile;

/// Input larger than this is refused before parsing (pnpm's Rust engine uses the same cap).
pub const MAX_LOCKFILE_BYTES: usize = 256 * 1024 * 1024;

/// The only lockfile major version tack reads.
const SUPPORTED_MAJOR: &str = "9";

impl Lockfile {
    /// Reads the lockfile at `path`; `Ok(None)` when the file does not exist or is empty.
    pub fn read_from_path(path: &Path) -> Result<Option<Lockfile>, LockfileError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(LockfileError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let text = String::from_utf8(bytes).map_err(|err| LockfileError::Broken {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("the file is not valid UTF-8 ({err})"),
        })?;
        // An empty file is no lockfile to pnpm 12 (`ERR_PNPM_NO_LOCKFILE` where one is needed).
        if text.trim_start_matches('\u{feff}').trim().is_empty() {
            return Ok(None);
        }
        Lockfile::from_str(&text, path).map(Some)
    }

    /// Parses lockfile text; `path_for_errors` only names the file in errors.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, path_for_errors: &Path) -> Result<Lockfile, LockfileError> {
        let path = path_for_errors;
        if text.len() > MAX_LOCKFILE_BYTES {
            return Err(LockfileError::TooLarge {
                path: path.to_path_buf(),
                size: text.len(),
                limit: MAX_LOCKFILE_BYTES,
            });
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let text: Cow<'_, str> = if text.contains('\r') {
            Cow::Owned(text.replace("\r\n", "\n"))
        } else {
            Cow::Borrowed(text)
        };
        if let Some(line) = merge_conflict_line(&text) {
            return Err(LockfileError::MergeConflict {
                path: path.to_path_buf(),
                line,
            });
        }
        let (main, line_offset) = main_document(&text);
        if looks_like_v13(main) {
            return Err(LockfileError::UnsupportedFormat {
                path: path.to_path_buf(),
            });
        }
        // Fastest first: the block reader on two threads, then on one (a small lockfile is
        // not cut), then the general parser on two. Text with a character YAML does not allow,
        // or a byte-order mark, goes to the general parser whole: the block reader does not
        // look for them, and the general parser judges them as pnpm 12 does ("unexpected
        // character", "a BOM must not appear inside a document", with the line).
        use crate::sections::{parse_in_sections, Parser};
        let fast = if needs_general_parser(main) {
            None
        } else {
            parse_in_sections(main, Parser::Block)
                .or_else(|| crate::block_yaml::parse_lockfile(main))
                .or_else(|| parse_in_sections(main, Parser::General))
        };
        let lockfile: Lockfile = match fast {
            Some(lockfile) => lockfile,
            None => serde_saphyr::from_str_with_options(main, parse_options())
                .map_err(|err| broken(path, &err, line_offset))?,
        };
        check_version(&lockfile.lockfile_version, path)?;
        crate::reference_check::check_references(&lockfile, path)?;
        Ok(lockfile)
    }
}

/// For the lockfile fuzz target, not for use: where a fast path (the block reader, whole or in
/// sections, or the general parser in sections) takes `text` but reads it differently from the
/// general parser reading it whole, or takes text that parser refuses, what differs. `None`
/// when they agree, or when `text` goes to the general parser anyway.
#[doc(hidden)]
pub fn fast_read_disagreement(text: &str) -> Option<String> {
    use crate::sections::{parse_in_sections, Parser};
    if needs_general_parser(text) {
        return None;
    }
    let general: Option<Lockfile> = serde_saphyr::from_str_with_options(text, parse_options()).ok();
    let paths = [
        (
            "the block reader in sections",
            parse_in_sections(text, Parser::Block),
        ),
        ("the block reader", crate::block_yaml::parse_lockfile(text)),
        (
            "the general parser in sections",
            parse_in_sections(text, Parser::General),
        ),
    ];
    paths.into_iter().find_map(|(name, fast)| {
        let fast = fast?;
        (general.as_ref() != Some(&fast)).then(|| match &general {
            Some(general) => format!("{name} read {fast:?}\nthe general parser read {general:?}"),
            None => format!("{name} read {fast:?}\nthe general parser refused the text"),
        })
    })
}

/// Limits well above the largest real lockfiles (a 1,500-package lockfile is ~60k events) that
/// still refuse billion-laughs style or absurdly deep input.
pub(crate) fn parse_options() -> Options {
    let mut budget = Budget::default();
    budget.max_events = 50_000_000;
    budget.max_nodes = 25_000_000;
    budget.max_total_scalar_bytes = MAX_LOCKFILE_BYTES;
    budget.max_depth = 64;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_documents = 1;
    let mut options = Options::default();
    options.budget = Some(budget);
    options
}

pub(crate) fn broken(path: &Path, err: &serde_saphyr::Error, line_offset: u64) -> LockfileError {
    let (line, column) = err
        .location()
        .map_or((0, 0), |loc| (loc.line() + line_offset, loc.column()));
    let message = err.to_string();
    let message = without_position(message.lines().next().unwrap_or("invalid YAML")).to_string();
    LockfileError::Broken {
        path: PathBuf::from(path),
        line,
        column,
        message,
    }
}

/// The parser's message without its `error: line 5 column 15: ` lead: the error names the
/// position once, with the lines before a sub-document counted.
fn without_position(message: &str) -> &str {
    let message = message.strip_prefix("error: ").unwrap_or(message);
    let Some(rest) = message.strip_prefix("line ") else {
        return message;
    };
    let digits =
        |text: &str| text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let line_digits = digits(rest);
    let Some(rest) = rest[line_digits..].strip_prefix(" column ") else {
        return message;
    };
    let column_digits = digits(rest);
    match rest[column_digits..].strip_prefix(": ") {
        Some(text) if line_digits > 0 && column_digits > 0 && !text.is_empty() => text,
        _ => message,
    }
}

/// Whether `text` holds a character the block reader does not judge as pnpm 12 does: one
/// outside YAML's printable set (a C0 control other than tab, line feed and carriage return,
/// DEL, a C1 control other than NEL, U+FFFE, U+FFFF), which pnpm refuses anywhere, or a
/// byte-order mark, which it refuses where a token starts ("a BOM must not appear inside a
/// document") and keeps inside a scalar.
///
/// Runs over the whole lockfile before every install, so clean ASCII is skipped 32 bytes at a
/// time (a test without early exit, which the compiler vectorises); only a block with a
/// control byte or the first byte of a C1 control (`C2`) or of U+FEFF, U+FFFE or U+FFFF
/// (`EF`) is looked at closely. `text` is valid UTF-8, so `C2` and `EF` are always the first
/// byte of a character.
pub(crate) fn needs_general_parser(text: &str) -> bool {
    let bytes = text.as_bytes();
    let suspect =
        |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) | matches!(b, 0x7f | 0xc2 | 0xef);
    let unprintable_at = |i: usize| match bytes[i] {
        0xc2 => bytes
            .get(i + 1)
            .is_some_and(|&next| (0x80..=0x9f).contains(&next) && next != 0x85),
        0xef => matches!(
            (bytes.get(i + 1), bytes.get(i + 2)),
            (Some(0xbf), Some(0xbe | 0xbf)) | (Some(0xbb), Some(0xbf))
        ),
        b => suspect(b),
    };
    const BLOCK: usize = 32;
    bytes.chunks(BLOCK).enumerate().any(|(n, block)| {
        block.iter().fold(false, |any, &b| any | suspect(b))
            && (n * BLOCK..n * BLOCK + block.len()).any(unprintable_at)
    })
}

/// The 1-based line of the first git conflict marker, if any.
fn merge_conflict_line(text: &str) -> Option<u64> {
    // Searched for as substrings rather than line by line: this runs over the whole file
    // before every install, and the lines are counted only when a marker is there.
    let line_start = |marker: &str| match text.strip_prefix(&marker[1..]) {
        Some(_) => Some(0),
        None => text.find(marker).map(|at| at + 1),
    };
    let first = [line_start("\n<<<<<<<"), line_start("\n>>>>>>>")]
        .into_iter()
        .flatten()
        .min()?;
    Some(
        text.as_bytes()[..first]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64
            + 1,
    )
}

/// Skips pnpm 11's leading "env" document: a file starting with `---\n` has its main lockfile after
/// the next `\n---\n`. Returns the main document and how many lines precede it.
fn main_document(text: &str) -> (&str, u64) {
    if !text.starts_with("---\n") {
        return (text, 0);
    }
    match text[3..].find("\n---\n") {
        Some(index) => {
            let start = 3 + index + "\n---\n".len();
            let skipped = text[..start].matches('\n').count() as u64;
            (&text[start..], skipped)
        }
        None => (&text[4..], 1),
    }
}

/// pnpm 12's opt-in v13 format is JSON-like, tab-indented YAML.
fn looks_like_v13(text: &str) -> bool {
    let trimmed = text.trim_start();
    trimmed.starts_with('{') || text.lines().take(50).any(|line| line.starts_with('\t'))
}

fn check_version(version: &str, path: &Path) -> Result<(), LockfileError> {
    let major = version.split('.').next().unwrap_or("");
    if major == SUPPORTED_MAJOR {
        return Ok(());
    }
    if major == "13" {
        return Err(LockfileError::UnsupportedFormat {
            path: path.to_path_buf(),
        });
    }
    Err(LockfileError::BreakingChange {
        path: path.to_path_buf(),
        version: version.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::{merge_conflict_line, needs_general_parser, without_position};

    /// A broken lockfile's error names the position once: the parser's own `line 5 column
    /// 15:` lead goes, whatever else the message says stays.
    #[test]
    fn the_parser_s_position_is_left_out_of_the_message() {
        for (message, kept) in [
            (
                "error: line 5 column 15: expected mapping start",
                "expected mapping start",
            ),
            ("line 12 column 1: duplicate key", "duplicate key"),
            ("error: invalid YAML", "invalid YAML"),
            ("line five: x", "line five: x"),
            ("line 3 column 4: ", "line 3 column 4: "),
        ] {
            assert_eq!(without_position(message), kept, "{message}");
        }
    }

    /// The block test agrees with YAML's printable set (less the byte-order mark), character
    /// by character, wherever the character sits in a 32-byte block (and across the boundary
    /// of two).
    #[test]
    fn unprintable_characters_are_found_anywhere() {
        let printable = |c: char| {
            (matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}')
                || ('\u{a0}'..='\u{d7ff}').contains(&c)
                || ('\u{e000}'..='\u{fffd}').contains(&c)
                || c >= '\u{10000}')
                && c != '\u{feff}'
        };
        let probes = (0u32..0x300)
            .chain(0xd7f0..0xd800)
            .chain(0xe000..0xe010)
            .chain(0xfef0..0x10010)
            .filter_map(char::from_u32);
        for c in probes {
            for at in [0, 1, 29, 30, 31, 32, 33, 63] {
                let text = format!("{}{c}{}", "a".repeat(at), "b".repeat(40));
                assert_eq!(needs_general_parser(&text), !printable(c), "{c:?} at {at}");
            }
        }
        assert!(!needs_general_parser(""));
        assert!(!needs_general_parser(
            "lockfileVersion: '9.0'\n\tä😀\u{fefe}\r\n"
        ));
    }

    /// The line `lines()` would find, for markers at the start, after CRLF, mid-line, and
    /// either kind first.
    #[test]
    fn conflict_markers_are_found_on_the_line_lines_finds() {
        let by_lines = |text: &str| {
            text.lines()
                .position(|line| line.starts_with("<<<<<<<") || line.starts_with(">>>>>>>"))
                .map(|index| index as u64 + 1)
        };
        for text in [
            "",
            "<<<<<<< HEAD\na: 1\n",
            "a: 1\n>>>>>>> x\n<<<<<<< y\n",
            "a: 1\r\nb: 2\r\n<<<<<<< HEAD\r\n",
            "a: x <<<<<<< not at a start\nb: 1\n",
            "a: 1\n======= only\n",
            "a\nb\nc\n>>>>>>>",
            "<<<<<<",
        ] {
            assert_eq!(merge_conflict_line(text), by_lines(text), "{text:?}");
        }
    }
}
