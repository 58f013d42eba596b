//! Bins: which commands a package declares, which package wins a name, and writing the
//! shims into a `.bin` directory.
//!
//! Commands come from the manifest's `bin` (a string: the unscoped package name; a map: its
//! entries) or, without `bin`, every file under `directories.bin`. Names that are empty,
//! `.`/`..`, not URL-safe (except `$`) or whose target leaves the package are skipped with a
//! warning, as pnpm does. Conflicts: the package named like the command wins, then the
//! higher version of the same package, then the lexically smaller package name (what
//! pnpm 12.21 does; pnpm 11's docs describe the greater one).

use crate::bin_fields::BinFields;
use crate::error::LinkError;
use crate::names::is_valid_bin_name;
use crate::shim::{interpreter_from_script, posix_shim, Interpreter};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// One command a package provides.
#[derive(Debug, Clone)]
pub(crate) struct BinCommand {
    pub name: String,
    /// Absolute path of the target file (through the package's real directory).
    pub target: PathBuf,
    pub pkg_name: String,
    pub pkg_version: String,
    /// The package's real directory.
    pub pkg_dir: PathBuf,
    /// `<vs>/<dir>/node_modules` when the package lives in the virtual store.
    pub slot_modules: Option<PathBuf>,
    pub interpreter: Interpreter,
    /// The target file does not exist (yet): other packages' and projects' `.bin`
    /// directories get its shim, the package's own does not (pnpm 12 the same).
    pub target_missing: bool,
}

/// Reads `pkg_dir/package.json` and returns its usable commands (the targets of a package in
/// the virtual store chmod'ed 0755; a missing target is a command too, see below).
/// A missing manifest gives no commands.
pub(crate) fn commands_of(
    package: &str,
    pkg_dir: &Path,
    slot_modules: Option<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<Vec<BinCommand>, LinkError> {
    let chmod = slot_modules.is_some();
    read_commands(package, pkg_dir, slot_modules, chmod, warnings)
}

/// [`commands_of`], the targets chmod'ed only with `chmod`: the hoisted layout makes only the
/// targets of the commands its `.bin` directories list executable (see [`make_executable`]).
pub(crate) fn read_commands(
    package: &str,
    pkg_dir: &Path,
    slot_modules: Option<PathBuf>,
    chmod: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<BinCommand>, LinkError> {
    let manifest_path = pkg_dir.join("package.json");
    let text = match std::fs::read(&manifest_path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LinkError::io("read", &manifest_path, package, e)),
    };
    let manifest = BinFields::parse(&text).map_err(|source| LinkError::BadManifest {
        package: package.to_string(),
        path: manifest_path.clone(),
        source,
    })?;
    let pkg_name = manifest.name.as_str().unwrap_or_default().to_string();
    let pkg_version = manifest.version.as_str().unwrap_or_default().to_string();

    let mut raw: Vec<(String, String)> = Vec::new();
    match &manifest.bin {
        serde_json::Value::String(target) => {
            let unscoped = pkg_name.rsplit('/').next().unwrap_or(&pkg_name);
            raw.push((unscoped.to_string(), target.clone()));
        }
        serde_json::Value::Object(map) => {
            for (name, target) in map {
                if let Some(target) = target.as_str() {
                    let name = match name.strip_prefix('@') {
                        Some(rest) => rest.split_once('/').map_or(name.as_str(), |(_, n)| n),
                        None => name.as_str(),
                    };
                    raw.push((name.to_string(), target.to_string()));
                }
            }
        }
        _ => {
            if let Some(dir) = manifest.directories["bin"].as_str() {
                let root = normalize(&pkg_dir.join(dir));
                if root.starts_with(pkg_dir) {
                    let mut files = Vec::new();
                    walk_files(&root, &mut files);
                    files.sort();
                    for file in files {
                        if let (Some(name), Ok(rel)) = (
                            file.file_name().and_then(|n| n.to_str()),
                            file.strip_prefix(pkg_dir),
                        ) {
                            raw.push((name.to_string(), rel.to_string_lossy().into_owned()));
                        }
                    }
                }
            }
        }
    }

    let mut out = Vec::new();
    for (name, rel_target) in raw {
        let target = normalize(&pkg_dir.join(&rel_target));
        if !is_valid_bin_name(&name) || !target.starts_with(pkg_dir) || target == pkg_dir {
            warnings.push(format!(
                "Skipping bin {name:?} of {package}: the name is not a valid command name or its \
                 target {rel_target:?} is outside the package"
            ));
            continue;
        }
        let mut target_missing = false;
        match std::fs::metadata(&target) {
            // A package in the virtual store gets executable bin targets; a workspace
            // project's (or another `link:` directory's) files are the user's, and pnpm 12
            // leaves their modes alone.
            Ok(meta) if meta.is_file() => {
                if chmod && meta.permissions().mode() & 0o777 != 0o755 {
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                        .map_err(|e| LinkError::io("chmod", &target, package, e))?;
                }
            }
            // A target a build has yet to make (a workspace project's `dist/cli.js`): pnpm 12
            // writes its shim all the same, the runtime taken from the file's extension.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                target_missing = true;
            }
            _ => {
                warnings.push(format!(
                    "Skipping bin {name:?} of {package}: its target {} is not a file",
                    target.display()
                ));
                continue;
            }
        }
        out.push(BinCommand {
            name,
            interpreter: read_interpreter(&target),
            target,
            pkg_name: pkg_name.clone(),
            pkg_version: pkg_version.clone(),
            pkg_dir: pkg_dir.to_path_buf(),
            slot_modules: slot_modules.clone(),
            target_missing,
        });
    }
    Ok(out)
}

/// `cmds` aimed through `link_dir`, a child link that is not there (see
/// [`crate::PlannedPackage::unlinked_optional_children`]): the target keeps its path inside
/// the package but starts at the link; `NODE_PATH` stays the package's real one.
pub(crate) fn through_missing_link(cmds: &[BinCommand], link_dir: &Path) -> Vec<BinCommand> {
    cmds.iter()
        .filter_map(|cmd| {
            let inside = cmd.target.strip_prefix(&cmd.pkg_dir).ok()?;
            Some(BinCommand {
                target: link_dir.join(inside),
                ..cmd.clone()
            })
        })
        .collect()
}

/// The commands of the packages a package ships in its own `node_modules` (its
/// `bundledDependencies`), for its own `.bin` directory: every directory there, `@scope/*`
/// ones included, whether or not `bundledDependencies` names it, as pnpm 12 links them. Their
/// shims put the bundled package's `node_modules`, then the shipping package's, on
/// `NODE_PATH`. A bundled manifest that is not JSON is skipped with a warning: it is the
/// publisher's, and the package itself installs fine.
pub(crate) fn bundled_commands(
    package: &str,
    pkg_dir: &Path,
    chmod: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<BinCommand>, LinkError> {
    let modules = pkg_dir.join("node_modules");
    // Every entry there, `@scope/*` expanded, that is a directory of its own.
    let dirs = crate::symlinks::list_entries(&modules, package)?
        .into_iter()
        .filter(|(_, path, is_link)| !is_link && path.is_dir())
        .map(|(_, path, _)| path);
    let mut out = Vec::new();
    for dir in dirs {
        match read_commands(package, &dir, Some(modules.clone()), chmod, warnings) {
            Ok(cmds) => out.extend(cmds),
            Err(LinkError::BadManifest { path, source, .. }) => warnings.push(format!(
                "Skipping the bins of {}, bundled by {package}: {source}",
                path.display()
            )),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn read_interpreter(target: &Path) -> Interpreter {
    let mut buf = [0u8; 512];
    let n = std::fs::File::open(target)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    if buf[..n].starts_with(b"#!") {
        return interpreter_from_script(&buf[..n]);
    }
    // No shebang: like cmd-shim, pick the runtime from the extension; anything else (a
    // native binary, e.g. what esbuild's postinstall installs) is executed directly.
    match target.extension().and_then(|e| e.to_str()) {
        Some("js" | "cjs" | "mjs") => Interpreter::default(),
        Some("sh") => Interpreter {
            prog: "sh".to_string(),
            args: String::new(),
        },
        _ => Interpreter {
            prog: String::new(),
            args: String::new(),
        },
    }
}

fn walk_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk_files(&path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Whether the package is the natural owner of a command name.
fn owns(pkg_name: &str, bin: &str) -> bool {
    pkg_name == bin
        || (bin == "npx" && pkg_name == "npm")
        || (matches!(bin, "pnpm" | "pn" | "pnpx" | "pnx")
            && matches!(pkg_name, "pnpm" | "@pnpm/exe"))
}

/// True when `a` should take the command name over `b`.
fn beats(a: &BinCommand, b: &BinCommand) -> bool {
    let (ao, bo) = (owns(&a.pkg_name, &a.name), owns(&b.pkg_name, &b.name));
    if ao != bo {
        return ao;
    }
    if a.pkg_name == b.pkg_name {
        return compare_semver(&a.pkg_version, &b.pkg_version) == Ordering::Greater;
    }
    locale_compare(&a.pkg_name, &b.pkg_name) == Ordering::Less
}

/// Chooses one command per name. Earlier tiers always win over later ones (direct deps over
/// publicly hoisted packages); within a tier the conflict rules apply.
pub(crate) fn resolve_conflicts<'a>(
    tiers: &[Vec<&'a BinCommand>],
) -> BTreeMap<String, &'a BinCommand> {
    let mut chosen: BTreeMap<String, &BinCommand> = BTreeMap::new();
    for tier in tiers {
        let mut this_tier: BTreeMap<String, &BinCommand> = BTreeMap::new();
        for cmd in tier {
            if chosen.contains_key(&cmd.name) {
                continue;
            }
            match this_tier.get(&cmd.name) {
                Some(current) if !beats(cmd, current) => {}
                _ => {
                    this_tier.insert(cmd.name.clone(), cmd);
                }
            }
        }
        chosen.extend(this_tier);
    }
    chosen
}

/// Makes the targets of the `chosen` commands of packages (not of `link:` directories, which
/// are the user's) executable, as the hoisted layout does for the commands a `.bin` lists: the
/// target of a command that lost its name to another package keeps its mode there (observed
/// with pnpm 12.21; the isolated layout makes every command's target executable).
pub(crate) fn make_executable(chosen: &BTreeMap<String, &BinCommand>) -> Result<(), LinkError> {
    for cmd in chosen.values() {
        if cmd.slot_modules.is_none() || cmd.target_missing {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&cmd.target) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o777 != 0o755 {
            std::fs::set_permissions(&cmd.target, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| LinkError::io("chmod", &cmd.target, &cmd.pkg_name, e))?;
        }
    }
    Ok(())
}

/// Where a `.bin` directory lives, which decides how carefully it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinDirState {
    /// In a package slot this install created (imported or repaired just now): the
    /// directory cannot exist yet, so its shims are created directly
    /// ([`tack_fs::write_new_file`]) and nothing needs pruning.
    InFreshSlot,
    /// Anywhere else: existing shims are compared, replaced atomically, and pruned.
    MayExist,
}

/// Writes the shims for `chosen` into `bin_dir`; a shim whose text is already right is left
/// alone. With `prune`, other entries of `bin_dir` are removed. Returns the shims written.
pub(crate) fn write_bin_dir(
    bin_dir: &Path,
    chosen: &BTreeMap<String, &BinCommand>,
    node_paths: ShimNodePaths<'_>,
    prune: bool,
    state: BinDirState,
) -> Result<usize, LinkError> {
    if state == BinDirState::InFreshSlot {
        if chosen.is_empty() {
            return Ok(0);
        }
        match create_new_dir(bin_dir) {
            Ok(true) if node_paths.symlinks => return link_bin_dir(bin_dir, chosen, false),
            Ok(true) => return write_fresh_bin_dir(bin_dir, chosen, node_paths),
            // Shipped in the tarball (bundled dependencies) or made by a concurrent install
            // of the same tree: the careful path below.
            Ok(false) => {}
            Err(e) => {
                let pkg = chosen.values().next().map_or("", |c| c.pkg_name.as_str());
                return Err(LinkError::io("create directory", bin_dir, pkg, e));
            }
        }
    }
    if node_paths.symlinks && !node_paths.shim_projects {
        return link_bin_dir(bin_dir, chosen, prune);
    }
    let mut written = 0;
    let mut dir_ready = false;
    for (name, cmd) in chosen {
        let shim_path = bin_dir.join(name);
        let symlinked = node_paths.symlinks && cmd.slot_modules.is_some();
        if symlinked || is_symlinked_command(name) {
            if !dir_ready {
                std::fs::create_dir_all(bin_dir)
                    .map_err(|e| LinkError::io("create directory", bin_dir, &cmd.pkg_name, e))?;
                dir_ready = true;
            }
            link_command(bin_dir, name, cmd)?;
            continue;
        }
        let text = shim_text(bin_dir, cmd, node_paths);
        if let Ok(existing) = std::fs::read(&shim_path) {
            if existing == text.as_bytes() {
                continue;
            }
        }
        if !dir_ready {
            std::fs::create_dir_all(bin_dir)
                .map_err(|e| LinkError::io("create directory", bin_dir, &cmd.pkg_name, e))?;
            dir_ready = true;
        }
        replace_shim(&shim_path, &text, &cmd.pkg_name)?;
        written += 1;
    }
    if prune {
        let keep: HashSet<&str> = chosen.keys().map(String::as_str).collect();
        prune_bin_dir(bin_dir, &keep)?;
    }
    Ok(written)
}

/// [`write_bin_dir`] with symlinks instead of shims (`preferSymlinkedExecutables`): a link
/// already right is left alone, anything else at its name is replaced atomically.
fn link_bin_dir(
    bin_dir: &Path,
    chosen: &BTreeMap<String, &BinCommand>,
    prune: bool,
) -> Result<usize, LinkError> {
    for (name, cmd) in chosen {
        link_command(bin_dir, name, cmd)?;
    }
    if prune {
        let keep: HashSet<&str> = chosen.keys().map(String::as_str).collect();
        prune_bin_dir(bin_dir, &keep)?;
    }
    Ok(chosen.len())
}

/// A command named `node` is a symlink to its target even among shims, as pnpm 12 writes it
/// (a shim would run the target with `node`, that is, with itself).
fn is_symlinked_command(name: &str) -> bool {
    name == "node"
}

/// `bin_dir/name` as a relative symlink to the command's target file.
fn link_command(bin_dir: &Path, name: &str, cmd: &BinCommand) -> Result<(), LinkError> {
    tack_fs::symlink_dir(&cmd.target, &bin_dir.join(name))
        .map_err(|e| LinkError::fs(&cmd.pkg_name, e))
}

/// Creates `dir` (and its parent, usually the package's missing `node_modules`): `true`
/// when this call created `dir`, `false` when it was there already.
fn create_new_dir(dir: &Path) -> io::Result<bool> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match std::fs::create_dir(dir) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Creates every shim of `chosen` in `bin_dir`, which this install has just created. A shim
/// that exists anyway (another install got there first) is replaced atomically.
fn write_fresh_bin_dir(
    bin_dir: &Path,
    chosen: &BTreeMap<String, &BinCommand>,
    node_paths: ShimNodePaths<'_>,
) -> Result<usize, LinkError> {
    for (name, cmd) in chosen {
        let shim_path = bin_dir.join(name);
        if is_symlinked_command(name) {
            link_command(bin_dir, name, cmd)?;
            continue;
        }
        let text = shim_text(bin_dir, cmd, node_paths);
        let created = tack_fs::write_new_file(&shim_path, text.as_bytes(), 0o755)
            .map_err(|e| LinkError::fs(&cmd.pkg_name, e))?;
        if !created {
            replace_shim(&shim_path, &text, &cmd.pkg_name)?;
        }
    }
    Ok(chosen.len())
}

/// Publishes a shim over whatever is at `path`, atomically (temp sibling and rename). Not
/// fsynced: shims are cheap to rewrite and written by the hundred.
fn replace_shim(path: &Path, text: &str, pkg_name: &str) -> Result<(), LinkError> {
    tack_fs::AtomicWrite::new(path)
        .mode(0o755)
        .durable(false)
        .write_bytes(text.as_bytes())
        .map_err(|e| LinkError::fs(pkg_name, e))
}

/// Removes the symlinks and shims of `bin_dir` that are not in `keep`, as pnpm 12 prunes a
/// `.bin`: any other file (a script someone put there) stays, and so does a directory (observed
/// with pnpm 12.21: of a tree npm left, its symlinks go and its plain files stay). A dir left
/// empty stays, as pnpm 12 leaves it (observed for a project's `.bin` and the hidden
/// `.pnpm/node_modules/.bin` once their last command is gone). A temporary file is another
/// install's shim on its way in (a slot of the global virtual store is shared, and two installs
/// of one project may overlap): it is left alone, and an entry another install removed first is
/// no error.
pub(crate) fn prune_bin_dir(bin_dir: &Path, keep: &HashSet<&str>) -> Result<(), LinkError> {
    let entries = match std::fs::read_dir(bin_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LinkError::io("read directory", bin_dir, ".bin", e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = name
            .to_str()
            .is_none_or(|n| !keep.contains(n) && !n.contains(tack_fs::TEMP_INFIX));
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if stale && !kind.is_dir() {
            let path = entry.path();
            if !kind.is_symlink() && !is_shim_file(&path) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LinkError::io("remove bin", &path, ".bin", e)),
            }
        }
    }
    Ok(())
}

/// How the shims pnpm 12 prunes begin: its own (the header tack writes too, see `shim.rs`),
/// and those of `cmd-shim`, which pnpm wrote before. A file is judged by its first bytes, read
/// only for an entry no command claims.
const SHIM_PREFIXES: [&[u8]; 2] = [
    b"#!/bin/sh\n# Resolve $0 through symlinks",
    b"#!/bin/sh\nbasedir=",
];

/// Whether the file at `path` is a shim (see [`SHIM_PREFIXES`]); one that cannot be read is not.
fn is_shim_file(path: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 64];
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut len = 0;
    while len < head.len() {
        match file.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    SHIM_PREFIXES.iter().any(|p| head[..len].starts_with(p))
}

fn rel(from: &Path, to: &Path) -> String {
    tack_fs::relative_path(from, to)
        .to_string_lossy()
        .into_owned()
}

/// The directories a shim puts on `NODE_PATH` besides its package's own.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ShimNodePaths<'a> {
    /// A project's own modules directory when it is not named `node_modules` (`modulesDir`),
    /// which Node would not search: first, in the project's `.bin` shims (pnpm 12's `..`).
    pub own_modules: Option<&'a Path>,
    /// `<vs>/node_modules`, when anything is privately hoisted: last.
    pub hoisted: Option<&'a Path>,
    /// `preferSymlinkedExecutables`: each command is a relative symlink to its target file
    /// (the package's real path), not a shim, so nothing goes on `NODE_PATH` at all.
    pub symlinks: bool,
    /// With `symlinks`, the commands of workspace projects and other `link:` directories
    /// still get shims, as pnpm 12 writes them in the hoisted layout.
    pub shim_projects: bool,
    /// Under the global virtual store, the project's root: a `NODE_PATH` entry or a target
    /// outside it (in the store's shared slots) is written as an absolute path, as pnpm 12
    /// writes it (the command itself still runs the target by its relative path).
    pub absolute_outside: Option<&'a Path>,
}

/// pnpm 12's shim for `cmd` placed in `bin_dir`. pnpm sets `NODE_PATH` only when it has
/// directories to add besides the package's own (`hoist: false` and no renamed modules
/// directory: no `NODE_PATH` at all, not even the package's own directories).
fn shim_text(bin_dir: &Path, cmd: &BinCommand, node_paths: ShimNodePaths<'_>) -> String {
    let outside = |path: &Path| {
        node_paths
            .absolute_outside
            .is_some_and(|root| !path.starts_with(root))
    };
    let named = |path: &Path| {
        if outside(path) {
            path.to_string_lossy().into_owned()
        } else {
            rel(bin_dir, path)
        }
    };
    let target = rel(bin_dir, &cmd.target);
    let trailer = named(&cmd.target);
    let mut node_path = Vec::new();
    // Under the global virtual store a slot's own shims add the slot's directories alone:
    // the slot is shared, so no project's hoisting directory goes on its `NODE_PATH`.
    let shared_slot_shim = outside(bin_dir);
    if node_paths.own_modules.is_none() && node_paths.hoisted.is_none() {
        return posix_shim(&target, &trailer, &node_path, &cmd.interpreter);
    }
    if let Some(own) = node_paths.own_modules {
        node_path.push(named(own));
    }
    // A bin of a workspace project or `link:` target (no virtual-store slot): pnpm 12 puts
    // only the hoisted modules dir on NODE_PATH, even when the project has its own node_modules.
    if let Some(slot) = &cmd.slot_modules {
        node_path.push(named(&cmd.pkg_dir.join("node_modules")));
        node_path.push(named(slot));
    }
    if let Some(h) = node_paths.hoisted.filter(|_| !shared_slot_shim) {
        node_path.push(named(h));
    }
    posix_shim(&target, &trailer, &node_path, &cmd.interpreter)
}

/// Semver order (`1.10.0 > 1.9.0`, a release above its prereleases), by node-semver's rules;
/// versions that do not parse compare as text, after every version that does.
pub(crate) fn compare_semver(a: &str, b: &str) -> Ordering {
    match (
        node_semver::Version::parse(a),
        node_semver::Version::parse(b),
    ) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// An approximation of JavaScript's `localeCompare` for package names: punctuation before
/// digits before letters, letters compared case-insensitively first, lowercase first on ties.
pub(crate) fn locale_compare(a: &str, b: &str) -> Ordering {
    fn key(c: char) -> (u8, char) {
        let class = if c.is_alphabetic() {
            2
        } else if c.is_numeric() {
            1
        } else {
            0
        };
        (class, c.to_lowercase().next().unwrap_or(c))
    }
    let primary = a.chars().map(key).cmp(b.chars().map(key));
    primary.then_with(|| {
        // Lowercase sorts before uppercase in the default collation.
        let flip = |c: char| {
            if c.is_lowercase() {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c.to_lowercase().next().unwrap_or(c)
            }
        };
        a.chars().map(flip).cmp(b.chars().map(flip))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_order() {
        assert_eq!(compare_semver("1.10.0", "1.9.0"), Ordering::Greater);
        assert_eq!(compare_semver("2.0.0", "2.0.0-rc.1"), Ordering::Greater);
        assert_eq!(compare_semver("2.0.0-rc.2", "2.0.0-rc.10"), Ordering::Less);
    }

    #[test]
    fn locale_order() {
        assert_eq!(locale_compare("b", "A"), Ordering::Greater);
        assert_eq!(locale_compare("a", "A"), Ordering::Less);
        assert_eq!(locale_compare("a-b", "ab"), Ordering::Less);
    }
}
