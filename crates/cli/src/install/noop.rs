//! The no-op gate: decide "Already up to date" from file metadata and the settings alone, before
//! parsing the lockfile or starting any runtime.
//!
//! The last install recorded, in the workspace state file, the mtime and size of the lockfile,
//! every manifest, `pnpm-workspace.yaml`, the patch files and the pnpmfile, and the settings it
//! ran with (from every layer: the global `config.yaml`, `PNPM_CONFIG_*`, the command line), as
//! pnpm 12 records its settings there for the same purpose. It also wrote
//! `.pnpm/.tack-markers`, the completion marker of every package directory and the path of
//! every project's link to a direct dependency. When all stamps and flags match and every
//! marker still exists, nothing can have changed the tree tack would build. A missing marker
//! (a damaged package dir) sends the run down the full path, which repairs it. So does a link
//! that no longer resolves, as pnpm 12 relinks it ([`LinkCheck`]). A store whose `index.db`
//! is gone (wiped between runs) also sends a tree with packages down the full path, which
//! re-fetches them into the store. A state recorded for another directory (the tree was
//! copied or moved here) decides nothing either.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tack_config::Config;
use tack_linker::{read_workspace_state, LinkPlan, COMPLETION_MARKER};

use crate::error::CliError;

/// The marker list's file name inside the virtual store (dot files are not packages).
pub const MARKERS_FILE: &str = ".tack-markers";

/// Which recorded links to direct dependencies send an install down the full path. A link
/// that resolves is never looked into (pnpm 12 leaves one aimed elsewhere, or a directory in
/// its place, as it is), nor is a `.bin` shim or a hoisted link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkCheck {
    /// A link that is missing or dangling: with `--frozen-lockfile`, pnpm 12 skips its quick
    /// check, and its install links the projects again when one of them does not resolve.
    Unresolved,
    /// Only a dangling link: pnpm 12's quick check (`install` without `--frozen-lockfile`)
    /// takes a missing one for a dependency that is not installed, and says "Already up to
    /// date".
    Dangling,
}

impl LinkCheck {
    /// Whether the link at `path` sends the install down the full path (one `stat`, and an
    /// `lstat` for a link that does not resolve).
    fn is_broken(self, path: &Path) -> bool {
        std::fs::metadata(path).is_err()
            && (self == LinkCheck::Unresolved || std::fs::symlink_metadata(path).is_ok())
    }
}

/// Settings that change how an install runs but not the tree it builds: changing one of them
/// alone (`tack install` after `tack install --frozen-lockfile`) keeps a no-op a no-op. Any
/// other setting some layer sets is compared, so a setting this list misses costs a full
/// install, never a wrong "Already up to date".
const RUN_ONLY_SETTINGS: &[&str] = &[
    "frozenLockfile",
    "preferFrozenLockfile",
    "reporter",
    "offline",
    "preferOffline",
    "networkConcurrency",
    "childConcurrency",
    "fetchRetries",
    "fetchRetryFactor",
    "fetchRetryMintimeout",
    "fetchRetryMaxtimeout",
    "fetchTimeout",
    "ignoreScripts",
    "minimumReleaseAge",
    "minimumReleaseAgeExclude",
    "minimumReleaseAgeIgnoreMissingTime",
    "trustLockfile",
    "trustPolicy",
    "pmOnFail",
];

/// The settings an install records in the workspace state and the gate compares: every setting
/// some layer sets, by pnpm's names, except [`RUN_ONLY_SETTINGS`], with the dependency groups
/// it includes as pnpm records them (`dev`, `optional`, `production`). With
/// `useGitBranchLockfile`, the lockfile's name (`lockfile`) is recorded too: another branch
/// installs another lockfile.
pub fn recorded_settings(config: &Config, lockfile: &str) -> Map<String, Value> {
    let mut map = match serde_json::to_value(&config.settings) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    map.retain(|key, _| !RUN_ONLY_SETTINGS.contains(&key.as_str()));
    let include = &config.include;
    map.insert("dev".into(), Value::Bool(include.dev_dependencies));
    map.insert(
        "optional".into(),
        Value::Bool(include.optional_dependencies),
    );
    map.insert("production".into(), Value::Bool(include.dependencies));
    if config.use_git_branch_lockfile {
        map.insert("tackLockfile".into(), Value::from(lockfile));
    }
    map
}

/// `settings` with the version of the node in use (`engines` decide which optional packages
/// are installed and whether the projects may be): `Some(None)` when there is no node on PATH,
/// `None` when it is not known without asking node, which no recorded state can match.
pub fn with_node_version(
    mut settings: Map<String, Value>,
    node: Option<Option<&str>>,
) -> Map<String, Value> {
    let value = match node {
        Some(version) => version.map_or(Value::Null, Value::from),
        None => Value::from("(not known without running node)"),
    };
    settings.insert("tackNodeVersion".into(), value);
    settings
}

/// Inputs at the workspace root that change an install by existing: recorded when present,
/// and a state that does not list one that exists now is stale (a `pnpm-workspace.yaml` with
/// settings, or a pnpmfile, added since the last install).
const OPTIONAL_INPUTS: [&str; 3] = ["pnpm-workspace.yaml", ".pnpmfile.mjs", ".pnpmfile.cjs"];

/// Where an install of the workspace at `root` puts its tree: the root's modules directory
/// (`modulesDir`, where `.modules.yaml` is) and the virtual store (`virtualStoreDir`, where
/// the marker list is).
pub struct TreeDirs<'a> {
    pub root: &'a Path,
    pub modules: &'a Path,
    pub virtual_store: &'a Path,
}

/// `Some` when the tree at `dirs` is exactly what an install with `settings` (see
/// [`recorded_settings`]) into the store at `store_root` would build, its links to direct
/// dependencies checked as `links` says: how many workspace projects (with a `package.json`)
/// the last install installed, for the `Scope:` line.
pub fn is_up_to_date(
    dirs: &TreeDirs<'_>,
    settings: &Map<String, Value>,
    store_root: &Path,
    links: LinkCheck,
) -> Option<usize> {
    let TreeDirs {
        root,
        modules,
        virtual_store: vstore,
    } = *dirs;
    // A tack install stopped before its end (killed, a build failed) left this.
    if modules.join(super::in_progress::IN_PROGRESS_FILE).exists() {
        return None;
    }
    // pnpm 12 keeps the workspace state in the root's `node_modules` whatever `modulesDir`
    // says; `.modules.yaml` and the virtual store are in the tree itself.
    let state = read_workspace_state(&root.join("node_modules"))?;
    // A filtered install linked only part of the workspace.
    if state.filtered_install {
        return None;
    }
    // A tree copied or moved from another directory carries the state of the project it was
    // built for, whose stamps are of that project's files (absolute paths): they say nothing
    // of the files here.
    if !state.projects.contains_key(root.to_string_lossy().as_ref()) {
        return None;
    }
    if &state.settings != settings {
        return None;
    }
    let validation = state.validation.as_ref()?;
    // The lockfile and manifests are under `root` (a directory dependency may be outside it,
    // `file:../shared`); a state of another tree was refused above by its projects.
    let files: Vec<PathBuf> = validation.files.keys().map(PathBuf::from).collect();
    if !files.iter().any(|file| file.starts_with(root)) || !state.inputs_unchanged(&files) {
        return None;
    }
    let appeared = OPTIONAL_INPUTS.iter().any(|name| {
        let path = root.join(name);
        !validation
            .files
            .contains_key(path.to_string_lossy().as_ref())
            && path.exists()
    });
    if appeared {
        return None;
    }
    // A wiped or replaced store must be refilled even though node_modules looks complete, and
    // a tree linked from another store than this install's is relinked from it (pnpm 12 does).
    let modules_yaml = tack_linker::read_modules_yaml(modules)?;
    if Path::new(&modules_yaml.store_dir) != store_root {
        return None;
    }
    // Without the recorded lockfile pnpm 12 links every package again.
    if !vstore.join("lock.yaml").is_file() {
        return None;
    }
    let Ok(record) = std::fs::read_to_string(vstore.join(MARKERS_FILE)) else {
        return None;
    };
    let Record {
        markers,
        links: direct_links,
    } = complete_record(&record)?;
    // A tree of links to workspace projects only needs no store (none was made).
    if !markers.is_empty() && !store_root.join("index.db").is_file() {
        return None;
    }
    if !markers.iter().all(|rel| vstore.join(rel).exists()) {
        return None;
    }
    if direct_links
        .iter()
        .any(|rel| links.is_broken(&vstore.join(rel)))
    {
        return None;
    }
    Some(
        state
            .projects
            .keys()
            .filter(|dir| {
                let manifest = Path::new(dir.as_str()).join("package.json");
                validation
                    .files
                    .contains_key(manifest.to_string_lossy().as_ref())
            })
            .count(),
    )
}

/// What the marker list records, each path relative to the install's state directory.
#[derive(Debug, PartialEq, Eq)]
struct Record<'a> {
    /// Every package directory's completion marker.
    markers: Vec<&'a str>,
    /// Every project's link to a direct dependency ([`tack_linker::direct_link_paths`]).
    links: Vec<&'a str>,
}

/// The line that ends a section of the marker list: how many paths of `kind` precede it.
fn section_trailer(count: usize, kind: &str) -> String {
    format!("# {count} {kind}\n")
}

/// The record of a list whose two sections, the markers then the links, each end with their
/// trailer and have as many paths as it says; `None` for a list cut short. The list is not
/// fsynced, so after a power loss it may be empty or torn, and an empty list must not read
/// as "every marker exists".
fn complete_record(text: &str) -> Option<Record<'_>> {
    let body = text.strip_suffix('\n')?;
    let mut sections = Vec::new();
    let mut paths = Vec::new();
    for line in body.split('\n') {
        match line.strip_prefix("# ") {
            Some(trailer) => {
                let (count, kind) = trailer.split_once(' ')?;
                if count.parse::<usize>().ok()? != paths.len() {
                    return None;
                }
                sections.push((kind, std::mem::take(&mut paths)));
            }
            None if line.is_empty() => return None,
            None => paths.push(line),
        }
    }
    match <[_; 2]>::try_from(sections) {
        Ok([("markers", markers), ("links", links)]) if paths.is_empty() => {
            Some(Record { markers, links })
        }
        _ => None,
    }
}

/// The files whose stamps decide the no-op: the lockfile, `pnpm-workspace.yaml`, every
/// importer's `package.json`, the patch files of `patchedDependencies` (pnpm 12 records them
/// too: an edited patch no longer matches the lockfile's hash), the pnpmfile (its checksum is
/// in the lockfile), the default one or those the `pnpmfile` setting names (`config_files`,
/// with the patch files). Files that may appear later without being listed here are checked apart
/// ([`OPTIONAL_INPUTS`]); the directory dependencies are stamped apart too
/// ([`directory_source_stamps`]).
pub fn validated_files<'a>(
    lockfile_dir: &Path,
    lockfile: &Path,
    project_dirs: impl IntoIterator<Item = &'a Path>,
    config_files: impl IntoIterator<Item = PathBuf>,
) -> Vec<PathBuf> {
    let mut files = vec![lockfile.to_path_buf()];
    for name in OPTIONAL_INPUTS {
        let path = lockfile_dir.join(name);
        if path.exists() {
            files.push(path);
        }
    }
    for dir in project_dirs {
        files.push(dir.join("package.json"));
    }
    files.extend(config_files);
    files.sort();
    files.dedup();
    files
}

/// The stamps of every file and directory of the directory dependencies (`file:` directories,
/// injected projects), which pnpm 12 imports again when they change (a directory's stamp
/// changes when an entry is added, removed or renamed in it). Taken before the packages are
/// imported, so that an edit made while this install runs is seen by the next one.
pub fn directory_source_stamps(
    directory_sources: impl IntoIterator<Item = PathBuf>,
) -> Vec<(PathBuf, tack_linker::FileStamp)> {
    let mut paths = Vec::new();
    for dir in directory_sources {
        walk_source(&dir, &mut paths);
    }
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| tack_linker::stamp(&path).map(|stamp| (path, stamp)))
        .collect()
}

/// `dir` and everything below it except its own `node_modules` (a deeper one, such as a nested
/// project's, is walked: an import takes it): more than an import of a directory dependency
/// takes (see `tack_linker`'s packlist), so an edit of an ignored file costs a full install,
/// never a stale copy. A symlink that resolves inside `dir` is recorded and not entered: its
/// stamp is that of what it resolves to, which an import may take as a copy (a file in the
/// package's own `node_modules` included). One that leads out of `dir` is not imported and
/// not recorded.
fn walk_source(dir: &Path, out: &mut Vec<PathBuf>) {
    let real_root = dir.canonicalize().ok();
    walk_source_below(dir, real_root.as_deref(), true, out);
}

fn walk_source_below(dir: &Path, real_root: Option<&Path>, is_root: bool, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && !(is_root && entry.file_name() == "node_modules") {
            walk_source_below(&entry.path(), real_root, false, out);
        } else if kind.is_file() {
            out.push(entry.path());
        } else if kind.is_symlink() {
            let path = entry.path();
            let inside = path
                .canonicalize()
                .is_ok_and(|real| real_root.is_some_and(|root| real.starts_with(root)));
            if inside {
                out.push(path);
            }
        }
    }
}

/// Records every package's completion marker and every project's link to a direct dependency
/// for the next run's gate, each section with the trailer that tells a complete list from one
/// a power loss cut short (it is not fsynced).
pub fn write_markers(plan: &LinkPlan) -> Result<(), CliError> {
    // A tree with nothing to link has no virtual store (pnpm 12 makes none), and the gate
    // takes it down the full path, which costs a few milliseconds there.
    if plan.packages.is_empty() && !plan.install_state_dir.is_dir() {
        return Ok(());
    }
    let mut text = String::new();
    let mut count = 0;
    match &plan.hoisted {
        // Every directory of the hoisted layout, relative to the install's state directory.
        Some(layout) => {
            for (_, dir) in layout.all_dirs() {
                let rel = tack_fs::relative_path(&plan.install_state_dir, dir);
                text.push_str(&format!("{}/{COMPLETION_MARKER}\n", rel.display()));
                count += 1;
            }
        }
        // Relative to the install's state directory, which is the virtual store unless the
        // packages live in the global virtual store.
        None => {
            let prefix = match plan.install_state_dir == plan.virtual_store_dir {
                true => String::new(),
                false => {
                    let rel =
                        tack_fs::relative_path(&plan.install_state_dir, &plan.virtual_store_dir);
                    format!("{}/", rel.display())
                }
            };
            for pkg in &plan.packages {
                text.push_str(&format!(
                    "{prefix}{}/node_modules/{}/{COMPLETION_MARKER}\n",
                    pkg.dir_name, pkg.name
                ));
                count += 1;
            }
        }
    }
    text.push_str(&section_trailer(count, "markers"));
    let links = tack_linker::direct_link_paths(plan);
    for link in &links {
        let rel = tack_fs::relative_path(&plan.install_state_dir, link);
        text.push_str(&format!("{}\n", rel.display()));
    }
    text.push_str(&section_trailer(links.len(), "links"));
    tack_fs::AtomicWrite::new(plan.install_state_dir.join(MARKERS_FILE))
        .durable(false)
        .write_bytes(text.as_bytes())
        .map_err(CliError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list of `markers` then `links`, each section with its trailer.
    fn list(markers: &[&str], links: &[&str]) -> String {
        let mut text = String::new();
        for marker in markers {
            text.push_str(&format!("{marker}\n"));
        }
        text.push_str(&section_trailer(markers.len(), "markers"));
        for link in links {
            text.push_str(&format!("{link}\n"));
        }
        text.push_str(&section_trailer(links.len(), "links"));
        text
    }

    #[test]
    fn a_marker_list_counts_itself() {
        let markers = [
            "a/node_modules/a/package.json",
            "b/node_modules/b/package.json",
        ];
        let text = list(&markers, &["../a"]);
        assert_eq!(
            complete_record(&text),
            Some(Record {
                markers: markers.to_vec(),
                links: vec!["../a"]
            })
        );
        let empty = list(&[], &[]);
        assert_eq!(
            complete_record(&empty),
            Some(Record {
                markers: vec![],
                links: vec![]
            })
        );
    }

    /// The list names each package relative to the state directory: the bare slot path when
    /// the packages live there, a path into the shared slots when they do not. The projects'
    /// links to their direct dependencies follow.
    #[test]
    fn markers_are_written_relative_to_the_install_state() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut plan = LinkPlan::new(tmp.path());
        plan.packages.push(tack_linker::PlannedPackage {
            dep_path: "a@1.0.0".to_string(),
            dir_name: "a@1.0.0".to_string(),
            name: "a".to_string(),
            version: "1.0.0".to_string(),
            files: tack_linker::PackageFiles::Cas(Vec::new()),
            children: Vec::new(),
            has_bin: false,
            has_bundled_dependencies: false,
            unlinked_optional_children: Vec::new(),
            force_copy: false,
        });
        for (id, dir, alias) in [(".", "", "@s/a"), ("packages/b", "packages/b", "a")] {
            plan.importers.push(tack_linker::PlannedImporter {
                id: id.to_string(),
                dir: tmp.path().join(dir),
                name: None,
                version: None,
                deps: vec![tack_linker::ImporterDep {
                    alias: alias.to_string(),
                    target: tack_linker::ChildTarget::DepPath("a@1.0.0".to_string()),
                    group: tack_linker::DepGroup::Prod,
                }],
                peers_of_deps: Vec::new(),
                undeduped_deps: None,
            });
        }
        fs_err::create_dir_all(&plan.install_state_dir).expect("state dir");
        let written = |plan: &LinkPlan| {
            write_markers(plan).expect("markers");
            fs_err::read_to_string(plan.install_state_dir.join(MARKERS_FILE)).expect("list")
        };
        let links = ["../@s/a", "../../packages/b/node_modules/a"];
        let expected = list(&["a@1.0.0/node_modules/a/package.json"], &links);
        assert_eq!(written(&plan), expected);
        plan.virtual_store_dir = tmp.path().join("store/links");
        plan.packages[0].dir_name = "@/a/1.0.0/abc".to_string();
        let expected = list(
            &["../../store/links/@/a/1.0.0/abc/node_modules/a/package.json"],
            &links,
        );
        assert_eq!(written(&plan), expected);
    }

    #[test]
    fn a_list_cut_short_is_not_complete() {
        let text = list(
            &[
                "a/node_modules/a/package.json",
                "b/node_modules/b/package.json",
            ],
            &["../a", "../b"],
        );
        // What a power loss can leave of an unsynced file: nothing, a prefix, zeroes.
        assert_eq!(complete_record(""), None);
        for cut in 1..text.len() {
            assert_eq!(complete_record(&text[..cut]), None, "cut at {cut}");
        }
        assert_eq!(complete_record(&"\0".repeat(text.len())), None);
        // A trailer that does not match its section.
        let wrong = format!(
            "a/node_modules/a/package.json\n{}{}",
            section_trailer(2, "markers"),
            section_trailer(0, "links")
        );
        assert_eq!(complete_record(&wrong), None);
        // The sections in the other order, or one alone.
        let swapped = format!(
            "{}{}",
            section_trailer(0, "links"),
            section_trailer(0, "markers")
        );
        assert_eq!(complete_record(&swapped), None);
        // The old formats: no trailer, and the markers alone.
        assert_eq!(complete_record("a/node_modules/a/package.json\n"), None);
        let markers_only = format!(
            "a/node_modules/a/package.json\n{}",
            section_trailer(1, "markers")
        );
        assert_eq!(complete_record(&markers_only), None);
    }

    /// A link that resolves passes either check, wherever it leads; a missing one fails only
    /// the frozen install's, a dangling one both.
    #[test]
    fn links_are_checked_as_pnpm_checks_them() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        fs_err::create_dir_all(dir.join("target")).expect("target");
        std::os::unix::fs::symlink("target", dir.join("ok")).expect("link");
        std::os::unix::fs::symlink("gone", dir.join("dangling")).expect("link");
        fs_err::create_dir_all(dir.join("a-dir")).expect("dir");
        let cases = [
            ("ok", false, false),
            ("a-dir", false, false),
            ("missing", true, false),
            ("dangling", true, true),
        ];
        for (name, unresolved, dangling) in cases {
            let path = dir.join(name);
            assert_eq!(LinkCheck::Unresolved.is_broken(&path), unresolved, "{name}");
            assert_eq!(LinkCheck::Dangling.is_broken(&path), dangling, "{name}");
        }
    }
}
