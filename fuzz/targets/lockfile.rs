//! The lockfile fuzz target's body, shared by the libFuzzer binary (`fuzz_targets/lockfile.rs`)
//! and the stable smoke test (`crates/lockfile/tests/fuzz_regressions.rs`).
//!
//! Any text must parse or fail with an error, never panic or hang; the fast readers must read
//! it as the general parser does or leave it to it; a parsed lockfile must
//! survive the writer and read back as itself, and every snapshot key must go through the
//! dep-path helpers.

use std::path::Path;
use tack_lockfile::{dep_path_to_filename, package_id, parse_dep_path, Lockfile};

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Every fast path reads what the general parser reads, or leaves the text to it.
    if let Some(difference) = tack_lockfile::fast_read_disagreement(text) {
        panic!("a fast path disagrees with the general parser:\n{difference}\n--- input\n{text}");
    }
    let path = Path::new("pnpm-lock.yaml");
    let Ok(lockfile) = Lockfile::from_str(text, path) else {
        return;
    };
    for key in lockfile.snapshots.keys().chain(lockfile.packages.keys()) {
        let _ = dep_path_to_filename(key, 120);
        let _ = dep_path_to_filename(key, 40);
        let _ = parse_dep_path(key);
        let _ = package_id(key, None);
    }
    let written = lockfile.to_yaml_string();
    match Lockfile::from_str(&written, path) {
        Err(err) => panic!(
            "the writer's output does not parse again: {err}\n--- input\n{text}\n--- written\n{written}"
        ),
        // What the writer wrote reads back as what it wrote: no value is changed by its
        // quoting, escapes or literal blocks. (Compared as written, not as read: an empty
        // `settings:` is read as a section and written as none, both meaning the same.) Not
        // with a `|+` block: a value ending in two line feeds keeps the blank line pnpm puts
        // after each entry, so it gains a line feed each time it is read, in pnpm as here
        // (`|2+` when it also starts with a space).
        Ok(again) if !written.contains("|+\n") && !written.contains("|2+\n") => {
            let rewritten = again.to_yaml_string();
            assert!(
                rewritten == written,
                "the writer's output reads back differently\n--- input\n{text}\n--- written\n{written}\n--- written again\n{rewritten}"
            );
        }
        Ok(_) => {}
    }
}
