//! Which files of a directory dependency (a `file:` directory, an injected workspace project)
//! are imported. pnpm 12 does not take the whole directory: it takes what `npm pack` would put
//! in the package (npm-packlist's rules), observed file by file against pnpm 12:
//!
//! - never: version-control directories, lockfiles, editor and OS leftovers, `.npmrc`, the
//!   ignore files themselves, and `node_modules` ([`DEFAULT_RULES`]);
//! - not what the directory's `.npmignore` ignores, or its `.gitignore` when it has no
//!   `.npmignore` (gitignore syntax; a deeper file's rules win; a directory ignored is not
//!   entered);
//! - with a `files` field, only the entries it lists (a directory entry takes everything
//!   below it), and the root's own ignore file is not read;
//! - always: `package.json`, the root's `README`, `LICENSE`, `LICENCE` and `COPYING` (with
//!   any extension), and the files `main` and `bin` name.

use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use serde_json::Value;

/// npm-packlist's built-in rules, applied before the package's own and not overridable.
const DEFAULT_RULES: &[&str] = &[
    ".npmignore",
    ".gitignore",
    "**/.git",
    "**/.svn",
    "**/.hg",
    "**/CVS",
    "/.lock-wscript",
    "/.wafpickle-*",
    "/build/config.gypi",
    "npm-debug.log",
    "**/.npmrc",
    ".*.swp",
    ".DS_Store",
    "._*",
    "*.orig",
    "/package-lock.json",
    "/yarn.lock",
    "/pnpm-lock.yaml",
    "/archived-packages",
    "node_modules",
];

/// Root files always included, by their name before any extension, case-insensitively
/// (`README.md`, `LICENSE`, `licence.txt`; not `README_INTERNAL.md`, as pnpm 12 packs).
const ALWAYS_INCLUDED_STEMS: &[&str] = &["readme", "license", "licence", "copying"];

/// The files of the directory package at `dir`, as `(path inside the package, source path)`,
/// sorted by path. Symlinks are left out.
pub fn package_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let manifest: Value = std::fs::read(dir.join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_slice(&text).ok())
        .unwrap_or(Value::Null);
    let files_field: Option<Vec<&str>> = manifest
        .get("files")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect());
    let listed = files_field
        .as_ref()
        .map(|entries| files_matcher(dir, entries));
    let forced = forced_files(&manifest);
    let defaults = matcher(dir, DEFAULT_RULES.iter().copied());

    let mut walk = Walk {
        root: dir,
        defaults,
        listed,
        forced,
        out: Vec::new(),
    };
    let mut stack = Vec::new();
    walk.dir(dir, &mut stack)?;
    let mut out = walk.out;
    out.sort();
    Ok(out)
}

struct Walk<'a> {
    root: &'a Path,
    defaults: Gitignore,
    /// The `files` field as a matcher: a path it "ignores" is listed.
    listed: Option<Gitignore>,
    /// `main` and `bin` targets, relative, `/`-separated.
    forced: Vec<String>,
    out: Vec<(String, PathBuf)>,
}

impl Walk<'_> {
    /// Walks `dir` with `stack`, the ignore rules of its ancestors (deepest last).
    fn dir(&mut self, dir: &Path, stack: &mut Vec<Gitignore>) -> std::io::Result<()> {
        let is_root = dir == self.root;
        // The root's own ignore file is not read when `files` lists what to take.
        let own = if is_root && self.listed.is_some() {
            None
        } else {
            ignore_file_rules(dir)
        };
        let pushed = own.is_some();
        if let Some(rules) = own {
            stack.push(rules);
        }
        let mut entries: Vec<std::fs::DirEntry> =
            std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                continue;
            }
            let Ok(rel) = path.strip_prefix(self.root) else {
                continue;
            };
            let Some(rel) = rel.to_str().map(|r| r.replace('\\', "/")) else {
                continue;
            };
            let is_dir = kind.is_dir();
            if !is_dir && is_root && self.always_included(&rel) {
                self.out.push((rel, path));
                continue;
            }
            if !is_dir && self.forced.contains(&rel) {
                self.out.push((rel, path));
                continue;
            }
            if self.defaults.matched(&path, is_dir).is_ignore() || ignored(stack, &path, is_dir) {
                continue;
            }
            if is_dir {
                self.dir(&path, stack)?;
            } else if self.is_listed(&path) {
                self.out.push((rel, path));
            }
        }
        if pushed {
            stack.pop();
        }
        Ok(())
    }

    fn always_included(&self, rel: &str) -> bool {
        let lower = rel.to_lowercase();
        let stem = lower.split('.').next().unwrap_or_default();
        lower == "package.json" || !lower.contains('/') && ALWAYS_INCLUDED_STEMS.contains(&stem)
    }

    /// Whether the `files` field takes `path` (everything, without one).
    fn is_listed(&self, path: &Path) -> bool {
        match &self.listed {
            None => true,
            Some(listed) => listed.matched_path_or_any_parents(path, false).is_ignore(),
        }
    }
}

/// Whether the deepest ignore file with a rule for `path` ignores it.
fn ignored(stack: &[Gitignore], path: &Path, is_dir: bool) -> bool {
    for rules in stack.iter().rev() {
        match rules.matched(path, is_dir) {
            Match::Ignore(_) => return true,
            Match::Whitelist(_) => return false,
            Match::None => {}
        }
    }
    false
}

/// The rules of `dir`'s `.npmignore`, or of its `.gitignore` when it has none.
fn ignore_file_rules(dir: &Path) -> Option<Gitignore> {
    [".npmignore", ".gitignore"].iter().find_map(|name| {
        let file = dir.join(name);
        file.is_file().then(|| {
            let mut builder = GitignoreBuilder::new(dir);
            let _ = builder.add(&file);
            builder.build().unwrap_or_else(|_| Gitignore::empty())
        })
    })
}

/// A matcher of `rules` rooted at `dir`; a rule that does not parse is left out.
fn matcher<'r>(dir: &Path, rules: impl IntoIterator<Item = &'r str>) -> Gitignore {
    let mut builder = GitignoreBuilder::new(dir);
    for rule in rules {
        let _ = builder.add_line(None, rule);
    }
    builder.build().unwrap_or_else(|_| Gitignore::empty())
}

/// The `files` entries as gitignore rules (`./lib/` → `lib`; `!x` excludes again).
fn files_matcher(dir: &Path, entries: &[&str]) -> Gitignore {
    let rules: Vec<String> = entries
        .iter()
        .map(|entry| {
            let (negated, body) = match entry.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, *entry),
            };
            let body = body.trim_start_matches("./").trim_end_matches('/');
            if negated {
                format!("!{body}")
            } else {
                body.to_string()
            }
        })
        .collect();
    matcher(dir, rules.iter().map(String::as_str))
}

/// The files `main` and `bin` name, relative and `/`-separated.
fn forced_files(manifest: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |path: &str| {
        let clean: Vec<&str> = path
            .split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .collect();
        if !clean.contains(&"..") && !clean.is_empty() {
            out.push(clean.join("/"));
        }
    };
    if let Some(main) = manifest.get("main").and_then(Value::as_str) {
        push(main);
    }
    match manifest.get("bin") {
        Some(Value::String(bin)) => push(bin),
        Some(Value::Object(bins)) => bins.values().filter_map(Value::as_str).for_each(push),
        _ => {}
    }
    out
}
