//! Parsing the two big sections of a lockfile on two threads.
//!
//! Parsing the lockfile is the first step of every install that is not a no-op, so it sits
//! on the critical path. `packages:` and `snapshots:` hold nearly all of a large lockfile's
//! text, and pnpm writes every top-level key at column 0 in block style. That lets the text
//! be cut, without parsing it, into independent YAML documents: `packages` is parsed on a
//! second thread while this one parses `snapshots` and the small rest.
//!
//! The cut is only trusted when the layout is exactly what pnpm writes; anything unusual
//! (flow style, a repeated section, a stray line at column 0) makes [`parse_in_sections`]
//! return `None`, and so does any parse error. The caller then parses the whole text the
//! ordinary way, which is also what reports errors with their exact line and column.
//!
//! Each piece is parsed by the caller's [`Parser`]: the fast block reader
//! ([`crate::block_yaml`]) first, serde-saphyr when a piece is outside its subset.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::read::parse_options;
use crate::types::{Lockfile, PackageInfo, SnapshotEntry};

/// Below this size the second thread costs more than it saves.
const MIN_PARALLEL_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
struct PackagesSection {
    #[serde(default)]
    packages: IndexMap<String, PackageInfo>,
}

#[derive(Deserialize)]
struct SnapshotsSection {
    #[serde(default)]
    snapshots: IndexMap<String, SnapshotEntry>,
}

/// The text cut into the rest of the document and its two big sections.
struct Cut<'a> {
    rest: String,
    packages: &'a str,
    snapshots: &'a str,
}

/// Which YAML reader parses the pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parser {
    /// [`crate::block_yaml`]: pnpm's subset only.
    Block,
    /// serde-saphyr: any YAML.
    General,
}

/// Parses `text` (the main document) on two threads: each takes one half of `packages` and
/// one half of `snapshots` (the rest goes with the second), so the work is even. `None`
/// when the text is small, not laid out as pnpm writes it, or does not parse with `parser`.
pub(crate) fn parse_in_sections(text: &str, parser: Parser) -> Option<Lockfile> {
    if text.len() < MIN_PARALLEL_BYTES {
        return None;
    }
    let cut = cut(text)?;
    let (p1, p2) = halves(cut.packages, "packages:");
    let (s1, s2) = halves(cut.snapshots, "snapshots:");
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| {
            let packages = yaml::<PackagesSection>(p1, parser)?;
            let snapshots = yaml::<SnapshotsSection>(s1, parser)?;
            Some((packages, snapshots))
        });
        let second = (|| {
            let packages = yaml::<PackagesSection>(&p2, parser)?;
            let snapshots = yaml::<SnapshotsSection>(&s2, parser)?;
            let rest = yaml::<Lockfile>(&cut.rest, parser)?;
            Some((packages, snapshots, rest))
        })();
        (first.join().ok().flatten(), second)
    });
    let (p1, s1) = first?;
    let (p2, s2, mut lockfile) = second?;
    if !lockfile.packages.is_empty() || !lockfile.snapshots.is_empty() {
        return None; // a section was somewhere the cut did not see
    }
    lockfile.packages = concat(p1.packages, p2.packages)?;
    lockfile.snapshots = concat(s1.snapshots, s2.snapshots)?;
    Some(lockfile)
}

/// The two halves in order; `None` when a key is in both (the single parse reports that).
fn concat<V>(
    mut first: IndexMap<String, V>,
    second: IndexMap<String, V>,
) -> Option<IndexMap<String, V>> {
    let expected = first.len() + second.len();
    first.extend(second);
    (first.len() == expected).then_some(first)
}

/// Cuts a section (`header` line, then entries indented by two spaces) at the entry line
/// nearest its middle. The second half gets its own copy of the header, so each half is a
/// document on its own. A section with no entry line after the middle stays whole.
fn halves<'a>(section: &'a str, header: &str) -> (&'a str, String) {
    let middle = section.len() / 2;
    let bytes = section.as_bytes();
    let entry = section[middle..].match_indices("\n  ").find_map(|(i, _)| {
        let at = middle + i + 1;
        bytes
            .get(at + 2)
            .is_some_and(|b| !b.is_ascii_whitespace())
            .then_some(at)
    });
    match entry {
        Some(at) => (&section[..at], format!("{header}\n{}", &section[at..])),
        None => (section, format!("{header}\n")),
    }
}

fn yaml<T: for<'de> Deserialize<'de>>(text: &str, parser: Parser) -> Option<T> {
    match parser {
        Parser::Block => crate::block_yaml::parse(text),
        Parser::General => serde_saphyr::from_str_with_options(text, parse_options()).ok(),
    }
}

/// Cuts the text at its `packages:` and `snapshots:` lines. Each section runs to the next
/// line at column 0; every line inside it must be indented, blank or a comment.
fn cut(text: &str) -> Option<Cut<'_>> {
    let mut packages: Option<(usize, usize)> = None;
    let mut snapshots: Option<(usize, usize)> = None;
    let mut open: Option<(&str, usize)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let first = line.as_bytes().first().copied();
        let top_level = !matches!(first, None | Some(b' ' | b'\n' | b'#' | b'\r'));
        if !top_level {
            continue;
        }
        if let Some((name, begin)) = open.take() {
            let slot = if name == "packages" {
                &mut packages
            } else {
                &mut snapshots
            };
            *slot = Some((begin, start));
        }
        let key = line.trim_end();
        if key == "packages:" || key == "snapshots:" {
            let name = key.trim_end_matches(':');
            let seen = if name == "packages" {
                packages.is_some()
            } else {
                snapshots.is_some()
            };
            if seen {
                return None;
            }
            open = Some((name, start));
        } else if !looks_like_key(line) {
            return None;
        }
    }
    if let Some((name, begin)) = open {
        let slot = if name == "packages" {
            &mut packages
        } else {
            &mut snapshots
        };
        *slot = Some((begin, text.len()));
    }
    let (p, s) = (packages?, snapshots?);
    let mut rest = String::with_capacity(text.len() - (p.1 - p.0) - (s.1 - s.0));
    let (first, second) = if p.0 < s.0 { (p, s) } else { (s, p) };
    rest.push_str(&text[..first.0]);
    rest.push_str(&text[first.1..second.0]);
    rest.push_str(&text[second.1..]);
    Some(Cut {
        rest,
        packages: &text[p.0..p.1],
        snapshots: &text[s.0..s.1],
    })
}

/// A block-style mapping key at column 0 (`name:` or `name: value`), as pnpm writes them.
fn looks_like_key(line: &str) -> bool {
    let Some(colon) = line.find(':') else {
        return false;
    };
    let key = &line[..colon];
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'\'' | b'"'))
        && matches!(
            line.as_bytes().get(colon + 1),
            None | Some(b' ' | b'\n' | b'\r')
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    fn serial(text: &str) -> Lockfile {
        serde_saphyr::from_str_with_options(text, parse_options()).unwrap()
    }

    #[test]
    fn sections_give_the_same_lockfile_as_one_parse() {
        let text = fixture("medium.yaml");
        for parser in [Parser::Block, Parser::General] {
            let parallel = parse_in_sections(&text, parser).expect("the medium lockfile is cut");
            assert_eq!(parallel, serial(&text), "{parser:?}");
            assert!(parallel.packages.len() > 500 && parallel.snapshots.len() > 500);
        }
    }

    #[test]
    fn a_piece_outside_the_block_subset_is_left_to_the_general_parser() {
        // A multi-line plain scalar is YAML, but not what pnpm writes.
        let text = fixture("medium.yaml").replacen(
            "    resolution:",
            "    deprecated: one\n      two\n    resolution:",
            1,
        );
        assert!(parse_in_sections(&text, Parser::Block).is_none());
        assert_eq!(
            parse_in_sections(&text, Parser::General).unwrap(),
            serial(&text)
        );
    }

    #[test]
    fn halves_split_at_an_entry_and_keep_the_header() {
        let section = "packages:\n\n  a@1.0.0:\n    resolution: {integrity: x}\n\n  b@1.0.0:\n    resolution: {integrity: y}\n";
        let (first, second) = halves(section, "packages:");
        assert_eq!(
            first,
            "packages:\n\n  a@1.0.0:\n    resolution: {integrity: x}\n\n"
        );
        assert_eq!(
            second,
            "packages:\n  b@1.0.0:\n    resolution: {integrity: y}\n"
        );
        assert_eq!(halves("packages:\n", "packages:").1, "packages:\n");
    }

    #[test]
    fn a_key_in_both_halves_is_left_to_the_single_parse() {
        let first: IndexMap<String, u8> = [("a".to_string(), 1)].into_iter().collect();
        let second: IndexMap<String, u8> = [("b".to_string(), 2)].into_iter().collect();
        assert_eq!(concat(first.clone(), second).unwrap().len(), 2);
        assert!(concat(first.clone(), first).is_none());
    }

    #[test]
    fn section_order_does_not_matter() {
        let text = fixture("medium.yaml");
        let cut = cut(&text).unwrap();
        let swapped = format!("{}{}{}", cut.rest, cut.snapshots, cut.packages);
        for parser in [Parser::Block, Parser::General] {
            assert_eq!(parse_in_sections(&swapped, parser).unwrap(), serial(&text));
        }
    }

    #[test]
    fn unusual_layouts_are_left_to_the_ordinary_parse() {
        let text = fixture("medium.yaml");
        for parser in [Parser::Block, Parser::General] {
            // Too small to bother.
            assert!(parse_in_sections(&fixture("small.yaml"), parser).is_none());
            // A repeated section.
            let repeated = format!("{text}packages:\n  x@1.0.0: {{}}\n");
            assert!(parse_in_sections(&repeated, parser).is_none());
            // A line at column 0 that is not a key.
            assert!(parse_in_sections(&format!("{text}- stray\n"), parser).is_none());
            // Flow style.
            let flow = text.replacen("snapshots:\n", "snapshots: {}\nsnapshots2:\n", 1);
            assert!(parse_in_sections(&flow, parser).is_none());
            // A YAML error inside a section.
            let broken = text.replacen("resolution:", "resolution: [", 1);
            assert!(parse_in_sections(&broken, parser).is_none());
        }
    }
}
