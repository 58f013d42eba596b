//! The fast reader against serde-saphyr: on real lockfiles it must take the text and give
//! the same `Lockfile`; on thousands of damaged copies it may refuse, but whenever it takes
//! one, the general parser must take it too and agree.

use std::path::{Path, PathBuf};

use crate::read::parse_options;
use crate::types::Lockfile;

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn general(text: &str) -> Option<Lockfile> {
    serde_saphyr::from_str_with_options(text, parse_options()).ok()
}

/// Lockfiles written by pnpm, plus one written by hand.
const REAL: &[&str] = &[
    "crates/lockfile/tests/fixtures/medium.yaml",
    "crates/lockfile/tests/fixtures/small.yaml",
    "crates/lockfile/tests/fixtures/workspace-features.yaml",
    "crates/lockfile/tests/fixtures/git-and-legacy.yaml",
    "crates/test-registry/fixtures-projects/basic/pnpm-lock.yaml",
    "crates/config/tests/fixtures/workspace/pnpm-lock.yaml",
    "examples/app/pnpm-lock.yaml",
];

#[test]
fn real_lockfiles_take_the_fast_path_and_agree() {
    for rel in REAL {
        let text = std::fs::read_to_string(repo_file(rel)).unwrap();
        let fast = super::parse_lockfile(&text).unwrap_or_else(|| panic!("{rel} refused"));
        assert_eq!(Some(fast), general(&text), "{rel}");
    }
}

// The fuzz smoke path's seeded RNG (its other items are not used here).
#[allow(dead_code)]
#[path = "../../../../fuzz/targets/smoke.rs"]
mod smoke;
use smoke::Rng;

/// One small damage: a YAML-significant character inserted or replaced, a character
/// deleted, a line repeated, or a line's indent changed.
fn mutate(text: &str, rng: &mut Rng) -> String {
    const SPECIAL: &[&str] = &[
        " ",
        ":",
        ": ",
        "'",
        "\"",
        "#",
        " #",
        "{",
        "}",
        "[",
        "]",
        ",",
        "- ",
        "-",
        "&a ",
        "*a",
        "!",
        "|",
        ">",
        "?",
        "\\",
        "\t",
        "\n",
        "\n  ",
        "~",
        "null",
        "true",
        "1",
        "0x1",
        "yes",
        "1:2",
        "2024-01-01",
    ];
    let mut bytes = text.as_bytes().to_vec();
    match rng.below(5) {
        0 | 1 => {
            let at = rng.below(bytes.len());
            let what = SPECIAL[rng.below(SPECIAL.len())].as_bytes();
            if rng.below(2) == 0 && at < bytes.len() {
                bytes.remove(at);
            }
            bytes.splice(at..at, what.iter().copied());
        }
        2 => {
            if !bytes.is_empty() {
                let at = rng.below(bytes.len());
                bytes.remove(at);
            }
        }
        3 => {
            let lines: Vec<&str> = text.split('\n').collect();
            let i = rng.below(lines.len());
            let mut out = lines.clone();
            out.insert(i, lines[i]);
            return out.join("\n");
        }
        _ => {
            let lines: Vec<&str> = text.split('\n').collect();
            let i = rng.below(lines.len());
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            out[i] = match rng.below(3) {
                0 => format!("  {}", out[i]),
                1 => out[i].strip_prefix("  ").unwrap_or(&out[i]).to_string(),
                _ => out[i].trim_start().to_string(),
            };
            return out.join("\n");
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `TACK_DIFF_ROUNDS` sets the rounds per file (600 by default) for a longer search.
#[test]
fn damaged_lockfiles_are_refused_or_read_as_the_general_parser_reads_them() {
    let mut rng = Rng(0x7ac4_1ab0);
    let mut taken = 0;
    let mut refused = 0;
    for rel in [
        "crates/lockfile/tests/fixtures/small.yaml",
        "crates/lockfile/tests/fixtures/workspace-features.yaml",
        "crates/lockfile/tests/fixtures/git-and-legacy.yaml",
        "fuzz/seeds/lockfile/literal-blocks.yaml",
    ] {
        let text = std::fs::read_to_string(repo_file(rel)).unwrap();
        let rounds: usize = std::env::var("TACK_DIFF_ROUNDS").map_or(600, |n| n.parse().unwrap());
        for round in 0..rounds {
            let mut damaged = mutate(&text, &mut rng);
            if round % 3 == 0 {
                damaged = mutate(&damaged, &mut rng);
            }
            match super::parse_lockfile(&damaged) {
                Some(fast) => {
                    taken += 1;
                    let slow = general(&damaged);
                    assert!(
                        slow.as_ref() == Some(&fast),
                        "{rel}, round {round}: the fast reader took text the general parser {}\n{damaged}",
                        if slow.is_some() { "reads differently" } else { "refuses" }
                    );
                }
                None => refused += 1,
            }
        }
    }
    // Both outcomes must occur, or the test checks nothing.
    assert!(
        taken > 300 && refused > 300,
        "taken {taken}, refused {refused}"
    );
}

/// Plain scalars YAML may read as something other than a string, in string fields, keys,
/// flow collections and free-form values: refused or read as the general parser reads them.
#[test]
fn ambiguous_plain_scalars_are_never_guessed() {
    let scalars = [
        "1",
        "1.0",
        "-1",
        "007",
        "1e3",
        "0x1F",
        "0o17",
        ".inf",
        "-.Inf",
        ".nan",
        "true",
        "False",
        "null",
        "~",
        "NULL",
        "yes",
        "No",
        "on",
        "y",
        "1:30",
        "2024-01-01",
        "<<",
        "1_000",
    ];
    let mut checked = 0;
    for s in scalars {
        for doc in [
            format!("lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      a:\n        specifier: {s}\n        version: {s}\n"),
            format!("lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      {s}:\n        specifier: '1'\n        version: '1'\n"),
            format!("lockfileVersion: '9.0'\npackages:\n  a@1.0.0:\n    resolution: {{integrity: {s}}}\n    engines: {{node: {s}}}\n    cpu: [{s}]\n"),
            format!("lockfileVersion: '9.0'\nimporters:\n  .:\n    dependenciesMeta:\n      a:\n        injected: {s}\n"),
            format!("lockfileVersion: '9.0'\npackages:\n  a@1.0.0:\n    resolution: {{integrity: x}}\n    bundledDependencies: {s}\n    hasBin: {s}\n"),
            format!("lockfileVersion: {s}\nsettings:\n  peersSuffixMaxLength: {s}\n"),
        ] {
            if let Some(fast) = super::parse_lockfile(&doc) {
                checked += 1;
                assert_eq!(Some(fast), general(&doc), "{doc}");
            }
        }
    }
    assert!(checked > 0);
}

/// Every escape YAML's double quotes know (js-yaml, and so pnpm, writes `\a`, `\e`, `\N`,
/// `\_`, `\L`, `\P`, `\xHH`, …) is read by the fast path, as the general parser reads it; an
/// unknown escape is refused.
#[test]
fn double_quoted_escapes_take_the_fast_path() {
    let escapes = [
        r"\0",
        r"\a",
        r"\b",
        r"\t",
        r"\n",
        r"\v",
        r"\f",
        r"\r",
        r"\e",
        r"\ ",
        r#"\""#,
        r"\/",
        r"\\",
        r"\N",
        r"\_",
        r"\L",
        r"\P",
        r"\x1F",
        r"\x7F",
        r"\uFEFF",
        r"\U0001F600",
    ];
    for escape in escapes {
        let doc = format!(
            "lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      \"a{escape}b\":\n        specifier: \"link:a{escape}b\"\n        version: \"link:a{escape}b\"\n"
        );
        let fast = super::parse_lockfile(&doc).unwrap_or_else(|| panic!("{escape:?} refused"));
        assert_eq!(Some(fast), general(&doc), "{escape}");
    }
    let unknown = "lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      a:\n        specifier: \"\\q\"\n        version: '1'\n";
    assert_eq!(super::parse_lockfile(unknown), None);
}

/// Literal blocks as pnpm (and tack's writer) writes them, in the middle of an entry, at the
/// end of one (before the blank line between entries) and at the end of the text: read by
/// the fast path, as the general parser reads them, or refused.
#[test]
fn literal_blocks_are_read_as_the_general_parser_reads_them() {
    let messages = [
        "line one\nline two",
        "ends with a line feed\n",
        "ends with two\n\n",
        " starts with a space\nsecond",
        "\n starts with a line feed and a space",
        "\nstarts with a line feed",
        "a blank line\n\ninside",
        "  \nthe first line only spaces",
        "trailing spaces   \n  indented\n",
        "'quotes' \"and\" # : \\ and é\nx",
        "- a dash\nkey: value",
        "\n",
        "\n\n",
        "x\n\n\n",
    ];
    let mut taken = 0;
    for message in messages {
        let mut block = String::new();
        crate::yaml_scalar::push_block_value(&mut block, message, 4);
        let doc = format!(
            "lockfileVersion: '9.0'\n\npackages:\n\n  a@1.0.0:\n    resolution: {{integrity: sha512-a}}\n    deprecated: {block}\n    hasBin: true\n\n  b@1.0.0:\n    resolution: {{integrity: sha512-b}}\n    deprecated: {block}\n\n  c@1.0.0:\n    resolution: {{integrity: sha512-c}}\n    deprecated: {block}\n"
        );
        let slow = general(&doc).unwrap_or_else(|| panic!("the general parser refused {doc:?}"));
        assert_eq!(
            slow.packages["a@1.0.0"].deprecated.as_deref(),
            Some(message),
            "{doc:?}"
        );
        if let Some(fast) = super::parse_lockfile(&doc) {
            taken += 1;
            assert_eq!(Some(fast), Some(slow), "{doc:?}");
        }
    }
    // All but the blocks of blank lines only, and the line of spaces past the indent.
    assert_eq!(taken, messages.len() - 3);
}
