//! Which entries of a directory dependency (a `file:` directory, an injected workspace project)
//! are imported, and as what. pnpm 12 does not take the whole directory: it takes what `npm pack`
//! would put in the package (npm-packlist's rules), observed entry by entry against pnpm 12:
//!
//! - never: version-control directories, lockfiles, editor and OS leftovers, `.npmrc`, the
//!   ignore files themselves, and the package's own `node_modules` ([`DEFAULT_RULES`]), even
//!   when `files` lists it; a `node_modules` deeper down (a nested project's, with its `.bin`)
//!   is taken like any other directory;
//! - not what the directory's `.npmignore` ignores, or its `.gitignore` when it has no
//!   `.npmignore` (gitignore syntax; a deeper file's rules win; a directory ignored is not
//!   entered);
//! - with a `files` field, only the entries it lists (a directory entry takes everything
//!   below it; an entry is a path from the root, wildcards or not: `lib` is not `src/lib`,
//!   `*.js` only the root's scripts; a `!` entry excludes at any depth, and the last entry
//!   that matches wins), and the root's own ignore file is not read;
//! - always: `package.json`, the root's `README`, `LICENSE`, `LICENCE` and `COPYING` (with
//!   any extension), and the files `main` and `bin` name.
//!
//! A symlink is an entry like a file (a `dir/` rule does not match a symlink to a directory),
//! and is never followed by the walk. What becomes of it ([`Entry`]):
//!
//! - it is listed only if its target is inside the package: a relative text must stay in the
//!   package read textually from the symlink's directory (`../../pkg/x` from `links/` does
//!   not, even though it resolves back in), and the path must resolve inside the package, or
//!   not resolve because a part of it is missing (one that loops or runs into a file is left
//!   out). An absolute text is made relative first: to where it resolves, when that is inside
//!   the package; when it does not resolve, to the text below the package's path;
//! - a listed symlink whose target, read textually, is a listed entry, a directory above one
//!   or the package itself stays a symlink with that relative text (`links/in -> ../index.js`,
//!   `links/dir -> ../lib`, `links/up -> ..`);
//! - any other listed symlink that resolves to a file inside the package is imported as that
//!   file (one to a file the rules leave out, such as `../.git/HEAD` or one in the package's
//!   own `node_modules`, or one that reaches its file through another symlink); one to a
//!   directory, or one that does not resolve, is not imported, but the directories above it
//!   are made, as for any listed entry (pnpm 12 makes them, empty if nothing else is there).
//!
//! One difference, for safety: a text that passes through a symlink to a directory on its way
//! (`../dirlink/../x`) can resolve elsewhere in the copy than in the source, out of the package
//! through a link to `.`; pnpm 12 keeps such a text, tack imports it as a file when it
//! resolves to one inside the package and leaves it out otherwise. So every symlink an import
//! makes is relative and resolves inside the package's copy, or not at all, and every file it
//! reads is inside the package.

use std::collections::HashSet;
use std::io;
use std::path::{Component, Path, PathBuf};

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
    "/node_modules",
];

/// Root files always included, by their name before any extension, case-insensitively
/// (`README.md`, `LICENSE`, `licence.txt`; not `README_INTERNAL.md`, as pnpm 12 packs).
const ALWAYS_INCLUDED_STEMS: &[&str] = &["readme", "license", "licence", "copying"];

/// What one listed path of a directory package becomes in its copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A file with the content (and mode) of the file at this path: the regular file at the
    /// entry's own path, or the file inside the package a symlink there resolves to.
    File(PathBuf),
    /// A symlink with this text: relative, and resolving inside the package's copy or not at
    /// all.
    Symlink(PathBuf),
    /// A symlink pnpm 12 lists but does not import: only the directories above it are made.
    DirectoriesOnly,
}

/// Why the entries of a directory package could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum PacklistError {
    /// A directory of the package could not be read, or the package's own path resolved.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done (`read directory`, `resolve`).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl PacklistError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        PacklistError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The entries of the directory package at `dir`, as `(path inside the package, entry)`,
/// sorted by path (see the module's documentation for the rules).
pub fn package_entries(dir: &Path) -> Result<Vec<(String, Entry)>, PacklistError> {
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
        files: Vec::new(),
        links: Vec::new(),
    };
    let mut stack = Vec::new();
    walk.dir(dir, &mut stack)?;
    let Walk { files, links, .. } = walk;
    let mut out: Vec<(String, Entry)> = Vec::with_capacity(files.len() + links.len());
    if !links.is_empty() {
        let real_root = dir
            .canonicalize()
            .map_err(|e| PacklistError::io("resolve", dir, e))?;
        let links: Vec<(String, PathBuf, PathBuf)> = links
            .into_iter()
            .filter_map(|(rel, path)| {
                let text = listed_link_text(dir, &real_root, &rel, &path)?;
                Some((rel, path, text))
            })
            .collect();
        let present = present_paths(files.iter().map(|(rel, _)| rel), links.iter().map(|l| &l.0));
        for (rel, path, text) in links {
            let entry = match textual_target(dir, &rel, &text) {
                Some(target) if !target.through_symlink && present.contains(&target.rel) => {
                    Entry::Symlink(text)
                }
                _ => match resolved_file(&path, &real_root) {
                    Some(file) => Entry::File(file),
                    None => Entry::DirectoriesOnly,
                },
            };
            out.push((rel, entry));
        }
    }
    out.extend(
        files
            .into_iter()
            .map(|(rel, path)| (rel, Entry::File(path))),
    );
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The files of the directory package at `dir` ([`package_entries`] without the symlinks it
/// keeps or leaves out), as `(path inside the package, source path)`, sorted by path: what a
/// store that holds files only (a git dependency's packed checkout) can take.
pub fn package_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, PacklistError> {
    Ok(package_entries(dir)?
        .into_iter()
        .filter_map(|(rel, entry)| match entry {
            Entry::File(path) => Some((rel, path)),
            Entry::Symlink(_) | Entry::DirectoriesOnly => None,
        })
        .collect())
}

/// The text a listed symlink keeps, relative: `None` when pnpm 12 does not list the symlink
/// at `path` (`rel` in the package at `root`, which resolves to `real_root`) at all.
fn listed_link_text(root: &Path, real_root: &Path, rel: &str, path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_link(path).ok()?;
    let resolved = std::fs::canonicalize(path);
    let text = if text.is_absolute() {
        let inside = match &resolved {
            Ok(real) => real.strip_prefix(real_root).ok()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => text
                .strip_prefix(real_root)
                .or_else(|_| text.strip_prefix(root))
                .ok()?,
            Err(_) => return None,
        };
        relative_text(parent_of(rel), inside)
    } else {
        text
    };
    textual_target(root, rel, &text)?;
    match resolved {
        Ok(real) if real.starts_with(real_root) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(text),
        Ok(_) | Err(_) => None,
    }
}

/// Where a symlink's relative `text` leads, read textually from the directory of the symlink
/// `rel` in the package at `root`.
struct TextualTarget {
    /// The target's path inside the package (`""` for the package itself).
    rel: String,
    /// Whether the text passes through a symlink on its way (not as its last part), where the
    /// path it names may differ from the path read textually.
    through_symlink: bool,
}

/// [`TextualTarget`] of `text` from the symlink `rel`; `None` when the text leaves the
/// package at some point (`..` above the package), is absolute or is not UTF-8.
fn textual_target(root: &Path, rel: &str, text: &Path) -> Option<TextualTarget> {
    let mut at: Vec<&str> = parent_of(rel)
        .split('/')
        .filter(|c| !c.is_empty())
        .collect();
    let parts: Vec<Component<'_>> = text.components().collect();
    let mut through_symlink = false;
    for (i, part) in parts.iter().enumerate() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                at.pop()?;
            }
            Component::Normal(name) => {
                let name = name.to_str()?;
                at.push(name);
                let last = i + 1 == parts.len();
                if !last && !through_symlink {
                    let below = root.join(at.join("/"));
                    through_symlink = std::fs::symlink_metadata(below)
                        .is_ok_and(|meta| meta.file_type().is_symlink());
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(TextualTarget {
        rel: at.join("/"),
        through_symlink,
    })
}

/// The relative text from the directory `from` (inside the package, `/`-separated) to `to`
/// (inside the package, as written: a `..` in it is kept, as pnpm 12 keeps it), `.` for the
/// directory itself.
fn relative_text(from: &str, to: &Path) -> PathBuf {
    let from: Vec<&str> = from.split('/').filter(|c| !c.is_empty()).collect();
    let to: Vec<Component<'_>> = to
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    let shared = from
        .iter()
        .zip(&to)
        .take_while(|(a, b)| matches!(b, Component::Normal(name) if name.to_str() == Some(**a)))
        .count();
    let mut out = PathBuf::new();
    for _ in shared..from.len() {
        out.push("..");
    }
    for part in &to[shared..] {
        out.push(part.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The paths a symlink may keep pointing at: every listed entry (a symlink left out later
/// included, as pnpm 12 counts it), every directory above one, and the package itself (`""`).
fn present_paths<'a>(
    files: impl Iterator<Item = &'a String>,
    links: impl Iterator<Item = &'a String>,
) -> HashSet<String> {
    let mut present = HashSet::from([String::new()]);
    for rel in files.chain(links) {
        let mut rest = rel.as_str();
        present.insert(rest.to_string());
        while let Some(slash) = rest.rfind('/') {
            rest = &rest[..slash];
            if !present.insert(rest.to_string()) {
                break;
            }
        }
    }
    present
}

/// The file inside the package (resolved to `real_root`) that the symlink at `path` resolves
/// to, if it resolves to a regular file there.
fn resolved_file(path: &Path, real_root: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(path).ok()?;
    let inside = real.starts_with(real_root) && std::fs::metadata(&real).is_ok_and(|m| m.is_file());
    inside.then_some(real)
}

/// The directory part of the `/`-separated path `rel` (`""` at the package's root).
fn parent_of(rel: &str) -> &str {
    rel.rfind('/').map_or("", |slash| &rel[..slash])
}

struct Walk<'a> {
    root: &'a Path,
    defaults: Gitignore,
    /// The `files` field as a matcher: a path it "ignores" is listed.
    listed: Option<Gitignore>,
    /// `main` and `bin` targets, relative, `/`-separated.
    forced: Vec<String>,
    /// The files taken, `(path inside the package, source path)`.
    files: Vec<(String, PathBuf)>,
    /// The symlinks the rules take, `(path inside the package, source path)`: what becomes
    /// of them is decided once every entry is known.
    links: Vec<(String, PathBuf)>,
}

impl Walk<'_> {
    /// Walks `dir` with `stack`, the ignore rules of its ancestors (deepest last).
    fn dir(&mut self, dir: &Path, stack: &mut Vec<Gitignore>) -> Result<(), PacklistError> {
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
        let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
            .and_then(|entries| entries.collect::<Result<_, _>>())
            .map_err(|e| PacklistError::io("read directory", dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| PacklistError::io("read the type of", &path, e))?;
            let Ok(rel) = path.strip_prefix(self.root) else {
                continue;
            };
            let Some(rel) = rel.to_str().map(|r| r.replace('\\', "/")) else {
                continue;
            };
            // A symlink is matched as a file, whatever it points at, and never entered.
            let is_dir = kind.is_dir();
            let taken = match kind.is_symlink() {
                true => &mut self.links,
                false => &mut self.files,
            };
            if !is_dir && (is_root && always_included(&rel) || self.forced.contains(&rel)) {
                taken.push((rel, path));
                continue;
            }
            if self.defaults.matched(&path, is_dir).is_ignore() || ignored(stack, &path, is_dir) {
                continue;
            }
            if is_dir {
                self.dir(&path, stack)?;
            } else if self.is_listed(&path) {
                let taken = match kind.is_symlink() {
                    true => &mut self.links,
                    false => &mut self.files,
                };
                taken.push((rel, path));
            }
        }
        if pushed {
            stack.pop();
        }
        Ok(())
    }

    /// Whether the `files` field takes `path` (everything, without one).
    fn is_listed(&self, path: &Path) -> bool {
        match &self.listed {
            None => true,
            Some(listed) => listed.matched_path_or_any_parents(path, false).is_ignore(),
        }
    }
}

/// Whether the root entry `rel` is always taken (`package.json`, `README`, `LICENSE`, ...).
fn always_included(rel: &str) -> bool {
    let lower = rel.to_lowercase();
    let stem = lower.split('.').next().unwrap_or_default();
    lower == "package.json" || !lower.contains('/') && ALWAYS_INCLUDED_STEMS.contains(&stem)
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

/// The `files` entries as gitignore rules, in their order (the last that matches wins), as
/// pnpm 12 packs them:
/// - an entry that takes names paths from the package's root, wildcards or not (`./lib/` is
///   `lib`): `lib` takes `lib`, not `src/lib`, and `*.js` only the root's scripts (`**/*.js`
///   takes them all);
/// - `!x` excludes again as an ignore file reads it, unanchored (`!c.js` or `!sub` at any
///   depth), and a directory so excluded takes everything below it out (`lib` then `!lib/sub`
///   leaves out `lib/sub/c.js`; `!lib/sub` then `lib` does not).
fn files_matcher(dir: &Path, entries: &[&str]) -> Gitignore {
    let rules: Vec<String> = entries
        .iter()
        .flat_map(|entry| match entry.strip_prefix('!') {
            Some(excluded) => {
                let excluded = excluded.trim_end_matches('/');
                // `sub` matches at any depth, `sub/**` only at the root.
                let depth = if excluded.contains('/') { "" } else { "**/" };
                vec![format!("!{excluded}"), format!("!{depth}{excluded}/**")]
            }
            // Everything below a directory taken, as its own rule: a later entry that takes
            // wins over an earlier `!` one for the paths below it too.
            None => {
                let body = entry.trim_start_matches("./").trim_end_matches('/');
                let anchored = match body.starts_with('/') {
                    true => body.to_string(),
                    false => format!("/{body}"),
                };
                vec![format!("{anchored}/**"), anchored]
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A package at `<tmp>/pkg` with `manifest` and the files `(path, content)`.
    fn package(manifest: &str, files: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("pkg");
        fs_err::create_dir_all(&root).unwrap();
        fs_err::write(root.join("package.json"), manifest).unwrap();
        for rel in files {
            let path = root.join(rel);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, rel).unwrap();
        }
        (tmp, root)
    }

    fn link(root: &Path, rel: &str, text: impl AsRef<Path>) {
        let path = root.join(rel);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(text, path).unwrap();
    }

    /// The entries of `root`, each as `path: what`, a file named by its source's path inside
    /// the package.
    fn listing(root: &Path) -> Vec<String> {
        let real_root = root.canonicalize().unwrap();
        package_entries(root)
            .unwrap()
            .into_iter()
            .map(|(rel, entry)| match entry {
                Entry::File(src) => {
                    let inside = src
                        .strip_prefix(root)
                        .or_else(|_| src.strip_prefix(&real_root))
                        .unwrap();
                    format!("{rel}: file {}", inside.display())
                }
                Entry::Symlink(text) => format!("{rel}: link {}", text.display()),
                Entry::DirectoriesOnly => format!("{rel}: dirs"),
            })
            .collect()
    }

    #[test]
    fn only_the_packages_own_node_modules_is_left_out() {
        let files = [
            "index.js",
            "node_modules/y/index.js",
            "sub/node_modules/x/index.js",
            "sub/node_modules/.bin/tool",
            "sub/node_modules/.modules.yaml",
            "a/b/node_modules/z/index.js",
        ];
        let (_tmp, root) = package(r#"{"name": "p"}"#, &files);
        assert_eq!(
            listing(&root),
            [
                "a/b/node_modules/z/index.js: file a/b/node_modules/z/index.js",
                "index.js: file index.js",
                "package.json: file package.json",
                "sub/node_modules/.bin/tool: file sub/node_modules/.bin/tool",
                "sub/node_modules/.modules.yaml: file sub/node_modules/.modules.yaml",
                "sub/node_modules/x/index.js: file sub/node_modules/x/index.js",
            ]
        );
        // Listing it in `files` does not take the package's own `node_modules` either, nor
        // one deeper down: a name in `files` is a path from the root.
        let manifest = r#"{"name": "p", "files": ["node_modules", "sub"]}"#;
        let (_tmp, root) = package(manifest, &files);
        assert_eq!(
            listing(&root),
            [
                "package.json: file package.json",
                "sub/node_modules/.bin/tool: file sub/node_modules/.bin/tool",
                "sub/node_modules/.modules.yaml: file sub/node_modules/.modules.yaml",
                "sub/node_modules/x/index.js: file sub/node_modules/x/index.js",
            ]
        );
    }

    #[test]
    fn symlinks_to_entries_inside_stay_symlinks_with_their_text() {
        let (_tmp, root) = package(r#"{"name": "p"}"#, &["index.js", "lib/a.js"]);
        link(&root, "links/in", "../index.js");
        link(&root, "links/dotted", "./../lib/../index.js");
        link(&root, "links/dir", "../lib");
        link(&root, "links/up", "..");
        link(&root, "links/deep/root", "../..");
        link(&root, "links/chain", "in");
        link(&root, "dirlink", "lib");
        link(&root, "links/to-dirlink", "../dirlink");
        // Absolute texts that resolve inside are made relative to where they resolve.
        link(&root, "links/abs", root.join("lib/../index.js"));
        link(&root, "links/abs-via-dirlink", root.join("dirlink/a.js"));
        link(&root, "links/abs-root", &root);
        link(&root, "abs-self", &root);
        assert_eq!(
            listing(&root),
            [
                "abs-self: link .",
                "dirlink: link lib",
                "index.js: file index.js",
                "lib/a.js: file lib/a.js",
                "links/abs: link ../index.js",
                "links/abs-root: link ..",
                "links/abs-via-dirlink: link ../lib/a.js",
                "links/chain: link in",
                "links/deep/root: link ../..",
                "links/dir: link ../lib",
                "links/dotted: link ./../lib/../index.js",
                "links/in: link ../index.js",
                "links/to-dirlink: link ../dirlink",
                "links/up: link ..",
                "package.json: file package.json",
            ]
        );
    }

    #[test]
    fn symlinks_that_lead_out_of_the_package_are_left_out() {
        let (tmp, root) = package(r#"{"name": "p"}"#, &["index.js"]);
        let outside = tmp.path().join("outside");
        fs_err::create_dir_all(&outside).unwrap();
        fs_err::write(outside.join("f"), "secret").unwrap();
        link(&root, "out/up", "../../package.json");
        link(&root, "out/back-in", "../../pkg/index.js");
        link(&root, "out/abs", outside.join("f"));
        link(&root, "out/abs-missing", outside.join("missing"));
        link(&root, "outdir", &outside);
        link(&root, "out/via-outdir", "../outdir/f");
        link(&root, "out/loop-a", "loop-b");
        link(&root, "out/loop-b", "loop-a");
        link(&root, "out/through-a-file", "../index.js/..");
        assert_eq!(
            listing(&root),
            ["index.js: file index.js", "package.json: file package.json"]
        );
    }

    #[test]
    fn symlinks_to_what_is_not_taken_become_copies_or_only_directories() {
        let (_tmp, root) = package(
            r#"{"name": "p"}"#,
            &[
                "index.js",
                "lib/a.js",
                ".git/HEAD",
                "node_modules/y/index.js",
                "ignored.txt",
            ],
        );
        fs_err::write(root.join(".npmignore"), "ignored.txt\n").unwrap();
        link(&root, "dirlink", "lib");
        link(&root, "links/to-git", "../.git/HEAD");
        link(&root, "links/to-own-modules", "../node_modules/y/index.js");
        link(&root, "links/to-ignored", "../ignored.txt");
        link(&root, "links/through-dirlink", "../dirlink/a.js");
        link(&root, "links/abs-to-git", root.join(".git/HEAD"));
        // A symlink whose target was left out is no listed entry to keep pointing at.
        link(&root, "links/to-left-out", "../links/back-in");
        link(&root, "links/back-in", "../../pkg/index.js");
        // Listed, but nothing to import: only the directories above them are made.
        link(&root, "broken/a", "../missing");
        link(&root, "broken/b", "a");
        link(&root, "dirs/git", "../.git");
        link(&root, "dirs/abs-missing", root.join("missing"));
        assert_eq!(
            listing(&root),
            [
                "broken/a: dirs",
                "broken/b: link a",
                "dirlink: link lib",
                "dirs/abs-missing: dirs",
                "dirs/git: dirs",
                "index.js: file index.js",
                "lib/a.js: file lib/a.js",
                "links/abs-to-git: file .git/HEAD",
                "links/through-dirlink: file lib/a.js",
                "links/to-git: file .git/HEAD",
                "links/to-ignored: file ignored.txt",
                "links/to-left-out: file index.js",
                "links/to-own-modules: file node_modules/y/index.js",
                "package.json: file package.json",
            ]
        );
    }

    /// pnpm 12 keeps a text that passes through a symlinked directory before a `..`; the copy
    /// may resolve it out of the package, so tack takes the file it resolves to instead.
    #[test]
    fn a_text_through_a_symlinked_directory_is_not_kept() {
        let (_tmp, root) = package(r#"{"name": "p"}"#, &["x.js", "a/b/x.js", "a/b/c/y.js"]);
        link(&root, "deep", "a/b/c");
        link(&root, "links/x", "../deep/../x.js");
        assert_eq!(
            listing(&root),
            [
                "a/b/c/y.js: file a/b/c/y.js",
                "a/b/x.js: file a/b/x.js",
                "deep: link a/b/c",
                "links/x: file a/b/x.js",
                "package.json: file package.json",
                "x.js: file x.js",
            ]
        );
    }

    #[test]
    fn the_rules_match_a_symlink_as_a_file() {
        let (_tmp, root) = package(
            r#"{"name": "p", "main": "main-link"}"#,
            &["index.js", "lib/a.js"],
        );
        fs_err::write(root.join(".npmignore"), "dir-only/\nlinks/ignored\n").unwrap();
        link(&root, "dir-only", "lib");
        link(&root, "links/ignored", "../index.js");
        link(&root, "links/.DS_Store", "../index.js");
        link(&root, "main-link", "index.js");
        link(&root, "README", "lib/a.js");
        assert_eq!(
            listing(&root),
            [
                "README: link lib/a.js",
                "dir-only: link lib",
                "index.js: file index.js",
                "lib/a.js: file lib/a.js",
                "main-link: link index.js",
                "package.json: file package.json",
            ]
        );
        // With `files`, a symlink is taken when listed or forced, and one to what `files`
        // leaves out is a copy (a directory: nothing).
        let (_tmp, root) = package(
            r#"{"name": "p", "main": "main-link", "files": ["links", "lib/a.js"]}"#,
            &["index.js", "lib/a.js", "lib/b.js"],
        );
        link(&root, "links/in", "../index.js");
        link(&root, "links/a", "../lib/a.js");
        link(&root, "links/lib", "../lib");
        link(&root, "links/self", "..");
        link(&root, "main-link", "index.js");
        link(&root, "unlisted", "index.js");
        assert_eq!(
            listing(&root),
            [
                "lib/a.js: file lib/a.js",
                "links/a: link ../lib/a.js",
                "links/in: file index.js",
                "links/lib: link ../lib",
                "links/self: link ..",
                "main-link: file index.js",
                "package.json: file package.json",
            ]
        );
    }

    #[test]
    fn an_absolute_text_is_made_relative_to_the_symlinks_directory() {
        for (from, to, text) in [
            ("links", "index.js", "../index.js"),
            ("", "lib/a.js", "lib/a.js"),
            ("", "", "."),
            ("links/deep", "", "../.."),
            ("lib", "lib/missing/../a.js", "missing/../a.js"),
            (
                "lib/deep",
                "lib/missing/../../index.js",
                "../missing/../../index.js",
            ),
        ] {
            assert_eq!(
                relative_text(from, Path::new(to)),
                Path::new(text),
                "{from} → {to}"
            );
        }
    }
}
