//! The link plan: everything the linker needs, self-contained.
//!
//! The linker never reads the lockfile, the store index or the network. The CLI builds a
//! [`LinkPlan`] from the lockfile and the fetch results (CAS paths per file) and hands it
//! over. Keeping the plan plain data lets the linker be tested with hand-made plans and fake
//! CAS directories, and keeps format knowledge (dep paths, dir names) in the lockfile crate.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use tack_fs::ImportMethod;

/// Everything needed to build one `node_modules` tree (one workspace root).
#[derive(Debug, Clone)]
pub struct LinkPlan {
    /// The workspace root (the directory holding `pnpm-lock.yaml`).
    pub lockfile_dir: PathBuf,
    /// Name of the modules directory in each importer, normally `node_modules`.
    pub modules_dir_name: String,
    /// Absolute virtual store dir, normally `<root>/node_modules/.pnpm`: where packages live.
    pub virtual_store_dir: PathBuf,
    /// Where the install keeps its own state: `lock.yaml`, the hidden hoisting directory
    /// (`node_modules`, with its `.bin`) and the no-op markers. The virtual store itself
    /// everywhere but under the global virtual store, whose packages live in the store's
    /// shared `links` directory while each project's state stays in `node_modules/.pnpm`.
    pub install_state_dir: PathBuf,
    /// Packages live in the store's global virtual store (`enableGlobalVirtualStore`), in
    /// slots every project of the store shares: an install never removes one (`store prune`
    /// does), and repairs a partial one in place instead of wiping it, because another
    /// install may be filling it at the same moment.
    pub shared_slots: bool,
    /// `virtualStoreDirMaxLength` (recorded in `.modules.yaml`; dir names are computed by the
    /// caller).
    pub virtual_store_dir_max_length: usize,
    /// `modulesCacheMaxAge` in minutes: the virtual store keeps the packages the lockfile no
    /// longer has until its last prune (`.modules.yaml#prunedAt`) is older than this (0: it
    /// prunes every time).
    pub modules_cache_max_age_minutes: u64,
    /// One entry per installable snapshot.
    pub packages: Vec<PlannedPackage>,
    /// The root importer (`.`) and every workspace project that is linked.
    pub importers: Vec<PlannedImporter>,
    /// `hoistPattern` (default `["*"]`); empty turns private hoisting off.
    pub hoist_pattern: Vec<String>,
    /// `extendNodePath` (default true): with `false` the shims set no `NODE_PATH` at all.
    pub extend_node_path: bool,
    /// `preferSymlinkedExecutables` (default false): `.bin` entries are symlinks, not shims.
    pub prefer_symlinked_executables: bool,
    /// `hoist` (default true). With `hoist: false` the pattern above is empty and, as pnpm 12
    /// does, `.modules.yaml` records no `hoistPattern` at all.
    pub hoist: bool,
    /// `publicHoistPattern` (default `[]`; `["*"]` with `shamefullyHoist`; `None`, unset, with
    /// an explicit `shamefullyHoist: false`: nothing is hoisted publicly, nor recorded).
    pub public_hoist_pattern: Option<Vec<String>>,
    /// `hoistWorkspacePackages` (default true).
    pub hoist_workspace_packages: bool,
    /// `packageImportMethod`.
    pub import_method: ImportMethod,
    /// What goes into `.modules.yaml` besides the layout facts above.
    pub modules_state: ModulesStateInput,
    /// The rendered current lockfile for `node_modules/.pnpm/lock.yaml`; left unset, the
    /// file is deleted. A `OnceLock` so that it can be rendered while packages are imported
    /// (the plan is shared with the import threads by then) and set before the state files
    /// are written.
    pub current_lockfile_yaml: std::sync::OnceLock<String>,
    /// The workspace state file; `None` leaves it alone.
    pub workspace_state: Option<WorkspaceStateInput>,
    /// Workspace projects a filtered install does not link: `(importer id, name, dir)`. They
    /// are still hoisted (pnpm hoists every workspace project), and their own
    /// `node_modules` are left alone.
    pub unlinked_projects: Vec<(String, String, PathBuf)>,
    /// The aliases of the direct dependencies the last complete install recorded for each
    /// importer (by id, from its `.pnpm/lock.yaml`). The link of one this plan drops is
    /// removed wherever it points: a `link:` dependency taken out of `package.json`, or a
    /// project taken out of the workspace, as pnpm 12 removes them.
    pub recorded_direct_deps: HashMap<String, HashSet<String>>,
    /// What a filtered install leaves in place for the projects it does not select.
    pub kept_for_other_projects: KeptPackages,
    /// A filtered install (`--filter`): the hidden hoisting directory keeps the links the last
    /// install made, as pnpm 12 prunes none of them then.
    pub filtered: bool,
    /// `--force`: every package is imported again, complete or not, and swapped in whole
    /// (pnpm 12 re-imports them all), except in shared slots (see
    /// [`LinkPlan::reimports_complete_packages`]); no link of the last install is trusted.
    pub force: bool,
    /// `nodeLinker: hoisted`: where each package's directory goes instead of the virtual
    /// store. `None` for pnpm's isolated layout.
    pub hoisted: Option<HoistedLayout>,
}

/// The directories of `nodeLinker: hoisted`: real package directories in `node_modules`,
/// nested where a version could not go higher (see `hoisted_tree`).
#[derive(Debug, Clone, Default)]
pub struct HoistedLayout {
    /// Per package of the plan (same index): its first directory, where it is imported.
    pub dirs: Vec<PathBuf>,
    /// The further directories of packages placed more than once: `(package index, dir)`.
    /// They are copies of the first, made once it is complete.
    pub more_dirs: Vec<(usize, PathBuf)>,
    /// The root modules directory did not exist when this install began, so no package
    /// directory's own `node_modules` predates it: none holds a `.bin` another install left.
    pub fresh: bool,
    /// Index of each package by dep path.
    by_dep_path: HashMap<String, usize>,
}

impl HoistedLayout {
    /// `dirs[i]` is the directory of `packages[i]`.
    pub fn new(
        packages: &[PlannedPackage],
        dirs: Vec<PathBuf>,
        more_dirs: Vec<(usize, PathBuf)>,
    ) -> Self {
        let by_dep_path = packages
            .iter()
            .enumerate()
            .map(|(i, pkg)| (pkg.dep_path.clone(), i))
            .collect();
        HoistedLayout {
            dirs,
            more_dirs,
            fresh: false,
            by_dep_path,
        }
    }

    /// The first directory of the package with this dep path.
    pub fn dir_of(&self, dep_path: &str) -> Option<&Path> {
        self.by_dep_path
            .get(dep_path)
            .and_then(|&i| self.dirs.get(i))
            .map(PathBuf::as_path)
    }

    /// Every directory with the index of its package: first ones, then further copies.
    pub fn all_dirs(&self) -> impl Iterator<Item = (usize, &Path)> {
        self.dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| (i, dir.as_path()))
            .chain(self.more_dirs.iter().map(|(i, dir)| (*i, dir.as_path())))
    }
}

/// Where an import puts a package's files.
#[derive(Debug, Clone, Copy)]
pub enum PackageHome<'a> {
    /// `<virtual store>/<dir_name>/node_modules/<name>`: the isolated layout.
    VirtualStore(&'a Path),
    /// This directory itself: the hoisted layout. Its `node_modules` holds the packages
    /// placed below it, and survives when the package is imported again.
    Hoisted(&'a Path),
}

/// The packages a filtered install does not install but keeps: the ones the projects it does
/// not select reach, as the last install recorded them. pnpm 12 keeps their directories
/// (whatever the prune), their hoisted links and their `injectedDeps` entries.
#[derive(Debug, Clone, Default)]
pub struct KeptPackages {
    /// Their dep paths.
    pub dep_paths: HashSet<String>,
    /// Their directory names in the virtual store.
    pub dir_names: HashSet<String>,
}

/// How a package's files reach its virtual-store directory.
#[derive(Debug, Clone)]
pub enum PackageFiles {
    /// Files in the CAS: `(relative path inside the package, CAS file path)`. The CAS name's
    /// `-exec` suffix gives the exec bit.
    Cas(Vec<(String, PathBuf)>),
    /// A `file:` directory or an injected workspace project: every file under this directory
    /// except `node_modules`, hard-linked (or copied) from the source.
    Directory(PathBuf),
}

/// Where a dependency edge points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChildTarget {
    /// A package of the plan, by its dep path.
    DepPath(String),
    /// A `link:` target or a workspace project: an absolute directory.
    Link(PathBuf),
}

/// One snapshot to install into the virtual store.
#[derive(Debug, Clone)]
pub struct PlannedPackage {
    /// The lockfile dep path (`foo@1.0.0(peer@2.0.0)`), used as the key everywhere.
    pub dep_path: String,
    /// `depPathToFilename(dep_path)`, computed by the caller: `.pnpm/<dir_name>`.
    pub dir_name: String,
    /// The package name (`@scope/name`).
    pub name: String,
    /// The package version (for bin conflicts and reporting).
    pub version: String,
    /// Where the files come from.
    pub files: PackageFiles,
    /// `dependencies` ∪ `optionalDependencies` of the snapshot: `(alias, target)`.
    pub children: Vec<(String, ChildTarget)>,
    /// The lockfile's `hasBin`: the manifest is read after import to find the commands.
    pub has_bin: bool,
    /// The lockfile's `bundledDependencies`: the bins of what the package ships in its own
    /// `node_modules` go into its `.bin` directory too.
    pub has_bundled_dependencies: bool,
    /// With `--no-optional`: the snapshot's `optionalDependencies` that are installed anyway
    /// (another package needs them) but not linked here. pnpm 12 still lists their bins in this
    /// package's `.bin`, each shim aiming through the child link that is not there
    /// (`../../../<alias>/<bin>`), so the tree has the same dangling shims.
    pub unlinked_optional_children: Vec<(String, ChildTarget)>,
    /// The package will run build scripts or be patched: import by reflink or copy, never hardlink.
    pub force_copy: bool,
}

/// Which dependency group an importer's direct dependency belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DepGroup {
    /// `dependencies`
    Prod,
    /// `devDependencies`
    Dev,
    /// `optionalDependencies`
    Optional,
}

/// A direct dependency of an importer.
#[derive(Debug, Clone)]
pub struct ImporterDep {
    /// The name under `<importer>/node_modules`.
    pub alias: String,
    /// What it points at.
    pub target: ChildTarget,
    /// Its group (for the summary).
    pub group: DepGroup,
}

/// A project of the workspace (the root is id `.`).
#[derive(Debug, Clone)]
pub struct PlannedImporter {
    /// The lockfile importer id (`.`, `packages/a`).
    pub id: String,
    /// Absolute project directory.
    pub dir: PathBuf,
    /// The project's manifest name, used to hoist workspace packages (`None`: not hoisted).
    pub name: Option<String>,
    /// The project's manifest version (workspace state).
    pub version: Option<String>,
    /// Direct dependencies that are included by this install.
    pub deps: Vec<ImporterDep>,
    /// The peers the direct dependencies were resolved with (each one's snapshot
    /// `dependencies` that its package lists under `peerDependencies`), without repeats.
    /// pnpm 12 links their bins into this project's `.bin` too, after the direct
    /// dependencies' (an auto-installed peer such as `storybook` for `@storybook/react`),
    /// but only under `autoInstallPeers` (empty without it).
    pub peers_of_deps: Vec<ChildTarget>,
    /// All of the direct dependencies the lockfile gives this install, when
    /// `dedupeDirectDeps` left some out of `deps` (`None`: `deps` is all of them). pnpm 12
    /// hoists from the lockfile's graph, so hoisting starts from these.
    pub undeduped_deps: Option<Vec<ImporterDep>>,
}

impl PlannedImporter {
    /// Every direct dependency the lockfile gives this install, linked or left out by
    /// `dedupeDirectDeps`: what hoisting starts from and what orders the projects' scripts.
    pub fn all_deps(&self) -> &[ImporterDep] {
        self.undeduped_deps.as_deref().unwrap_or(&self.deps)
    }
}

/// The `.modules.yaml` fields that come from the caller's settings.
#[derive(Debug, Clone, Default)]
pub struct ModulesStateInput {
    /// The store dir, with its `v11` suffix.
    pub store_dir: PathBuf,
    /// `included` dependency groups.
    pub included: IncludedGroups,
    /// Dep paths of skipped (uninstallable optional) packages.
    pub skipped: Vec<String>,
    /// Dep paths whose builds were ignored by policy.
    pub ignored_builds: Vec<String>,
    /// The `allowBuilds` setting as JSON (`{}` when unset).
    pub allow_builds: serde_json::Map<String, serde_json::Value>,
    /// `packageManager`, e.g. `pnpm@12.21.0`.
    pub package_manager: String,
}

/// The dependency groups an install includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncludedGroups {
    /// `dependencies`
    pub dependencies: bool,
    /// `devDependencies`
    pub dev_dependencies: bool,
    /// `optionalDependencies`
    pub optional_dependencies: bool,
}

impl Default for IncludedGroups {
    fn default() -> Self {
        IncludedGroups {
            dependencies: true,
            dev_dependencies: true,
            optional_dependencies: true,
        }
    }
}

/// The workspace state file's inputs (`node_modules/.pnpm-workspace-state-v1.json`).
#[derive(Debug, Clone, Default)]
pub struct WorkspaceStateInput {
    /// `settings`, as the CLI resolved them (an object of pnpm's workspace-state keys).
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// `filteredInstall`.
    pub filtered_install: bool,
    /// `pnpmfiles`.
    pub pnpmfiles: Vec<String>,
    /// `configDependencies`, as `pnpm-workspace.yaml` declares them (`None`: not declared).
    pub config_dependencies: Option<serde_json::Value>,
    /// Files whose mtime and size are recorded for the no-op check: the lockfile and every
    /// manifest (absolute paths), stamped when the state is written.
    pub validated_files: Vec<PathBuf>,
    /// Files stamped already, before the packages were imported: the sources of directory
    /// dependencies, so that an edit during the install is seen by the next one.
    pub stamped_files: Vec<(PathBuf, crate::workspace_state::FileStamp)>,
    /// The workspace projects this install links nothing for (left out by `--filter`, or
    /// without dependencies and without an importer): pnpm 12 records every project.
    pub other_projects: Vec<(PathBuf, crate::workspace_state::ProjectInfo)>,
}

impl LinkPlan {
    /// Whether complete package directories are imported again (`--force`). Not in shared
    /// slots: pnpm 12.21 leaves a complete slot as it is under `--force` (observed: no file
    /// linked again, the same directory inodes), and swapping one in place would pull it from
    /// under every other project of the store that uses it at that moment.
    pub fn reimports_complete_packages(&self) -> bool {
        self.force && !self.shared_slots
    }

    /// Every named workspace project but the root, installed by this install or not (a
    /// filtered one), sorted by importer id: `(importer id, name, dir)`. pnpm 12 links and
    /// hoists them all.
    pub fn named_workspace_projects(&self) -> Vec<(&str, &str, &Path)> {
        let mut projects: Vec<(&str, &str, &Path)> = self
            .importers
            .iter()
            .filter(|importer| importer.id != ".")
            .filter_map(|importer| {
                let name = importer.name.as_deref()?;
                Some((importer.id.as_str(), name, importer.dir.as_path()))
            })
            .chain(
                self.unlinked_projects
                    .iter()
                    .map(|(id, name, dir)| (id.as_str(), name.as_str(), dir.as_path())),
            )
            .collect();
        projects.sort_by(|a, b| a.0.cmp(b.0));
        projects
    }

    /// A plan with pnpm's defaults for the workspace root `lockfile_dir`: `node_modules`,
    /// `.pnpm`, max length 120, hoist `*`, no public hoisting, `auto` import.
    pub fn new(lockfile_dir: impl Into<PathBuf>) -> Self {
        let lockfile_dir = lockfile_dir.into();
        let virtual_store_dir = lockfile_dir.join("node_modules").join(".pnpm");
        LinkPlan {
            lockfile_dir,
            modules_dir_name: "node_modules".to_string(),
            install_state_dir: virtual_store_dir.clone(),
            virtual_store_dir,
            shared_slots: false,
            virtual_store_dir_max_length: 120,
            modules_cache_max_age_minutes: 7 * 24 * 60,
            packages: Vec::new(),
            importers: Vec::new(),
            hoist_pattern: vec!["*".to_string()],
            hoist: true,
            extend_node_path: true,
            prefer_symlinked_executables: false,
            public_hoist_pattern: Some(Vec::new()),
            hoist_workspace_packages: true,
            import_method: ImportMethod::Auto,
            modules_state: ModulesStateInput {
                package_manager: "pnpm@12.21.0".to_string(),
                ..ModulesStateInput::default()
            },
            current_lockfile_yaml: std::sync::OnceLock::new(),
            workspace_state: None,
            unlinked_projects: Vec::new(),
            recorded_direct_deps: HashMap::new(),
            kept_for_other_projects: KeptPackages::default(),
            filtered: false,
            force: false,
            hoisted: None,
        }
    }

    /// Whether shims put the hidden hoisting directory (`<vs>/node_modules`) on `NODE_PATH`:
    /// when anything is privately hoisted and `extendNodePath` is on.
    pub fn shims_add_hoisted_dir(&self) -> bool {
        self.extend_node_path && !self.hoist_pattern.is_empty()
    }

    /// `<install state>/node_modules`: the hidden hoisting directory.
    pub fn hidden_modules_dir(&self) -> PathBuf {
        self.install_state_dir.join("node_modules")
    }

    /// `<install state>/lock.yaml`: the lockfile of what is installed.
    pub fn current_lockfile_path(&self) -> PathBuf {
        self.install_state_dir.join("lock.yaml")
    }

    /// `<vs>/<dir_name>/node_modules`: where a package and the links to its dependencies live.
    pub fn slot_modules_dir(&self, pkg: &PlannedPackage) -> PathBuf {
        self.virtual_store_dir
            .join(&pkg.dir_name)
            .join("node_modules")
    }

    /// `<root>/node_modules`.
    pub fn root_modules_dir(&self) -> PathBuf {
        self.lockfile_dir.join(&self.modules_dir_name)
    }

    /// `<vs>/<dir_name>/node_modules/<name>`, or its hoisted directory: where a package's
    /// files live.
    pub fn package_dir(&self, pkg: &PlannedPackage) -> PathBuf {
        match self.hoisted.as_ref().and_then(|h| h.dir_of(&pkg.dep_path)) {
            Some(dir) => dir.to_path_buf(),
            None => package_dir_in(&self.virtual_store_dir, pkg),
        }
    }

    /// Where package `index` is imported.
    pub fn home(&self, index: usize) -> PackageHome<'_> {
        match self.hoisted.as_ref().and_then(|h| h.dirs.get(index)) {
            Some(dir) => PackageHome::Hoisted(dir),
            None => PackageHome::VirtualStore(&self.virtual_store_dir),
        }
    }

    /// Each package's index in [`LinkPlan::packages`], by dep path.
    pub fn indexes_by_dep_path(&self) -> std::collections::HashMap<&str, usize> {
        self.packages
            .iter()
            .enumerate()
            .map(|(i, p)| (p.dep_path.as_str(), i))
            .collect()
    }
}

/// `<vs>/<dir_name>/node_modules/<name>` for a given virtual store.
///
/// Built in one allocation of the final size: a warm install asks for every package's
/// directory several times, and three `join`s (three allocations and copies each time) were
/// 2% of its user time.
pub fn package_dir_in(virtual_store_dir: &std::path::Path, pkg: &PlannedPackage) -> PathBuf {
    const MODULES: &str = "node_modules";
    let len = virtual_store_dir.as_os_str().len()
        + pkg.dir_name.len()
        + MODULES.len()
        + pkg.name.len()
        + 3;
    let mut dir = PathBuf::with_capacity(len);
    dir.push(virtual_store_dir);
    dir.push(&pkg.dir_name);
    dir.push(MODULES);
    dir.push(&pkg.name);
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_dir_is_the_joined_path() {
        let vs = std::path::Path::new("/p/node_modules/.pnpm");
        for (dir_name, name) in [("a@1.0.0", "a"), ("@s+b@2.0.0_c@1.0.0", "@s/b")] {
            let pkg = PlannedPackage {
                dep_path: String::new(),
                dir_name: dir_name.to_string(),
                name: name.to_string(),
                version: String::new(),
                files: PackageFiles::Cas(Vec::new()),
                children: Vec::new(),
                has_bin: false,
                has_bundled_dependencies: false,
                unlinked_optional_children: Vec::new(),
                force_copy: false,
            };
            let joined = vs.join(dir_name).join("node_modules").join(name);
            let built = package_dir_in(vs, &pkg);
            assert_eq!(built, joined);
            assert!(built.capacity() >= built.as_os_str().len());
        }
    }
}
