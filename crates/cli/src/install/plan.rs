//! Turns the lockfile and the configuration into the two lists a frozen install works from:
//! the packages to materialize (with where their files come from) and the linker's plan.
//!
//! All format knowledge stays in the crates that own it: dep paths and virtual-store names
//! come from `tack-lockfile`, tarball URLs from `tack-tarball`, the layout from `tack-linker`.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use tack_config::Config;
use tack_linker::{
    ChildTarget, DepGroup, ImporterDep, LinkPlan, PackageFiles, PlannedImporter, PlannedPackage,
};
use tack_lockfile::{dep_path_to_filename, ref_to_dep_path, Lockfile, Resolution};

use super::git_source::GitSource;
use crate::error::CliError;

/// Where one package's files come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A tarball (registry or URL) whose files live in the CAS under `store_key`.
    Tarball {
        store_key: String,
        integrity: String,
        url: String,
    },
    /// A `file:` directory, hard-linked from the source.
    Directory(PathBuf),
    /// A git dependency, whose prepared files live in the CAS under its `store_key` once
    /// `git_fetch` has made them.
    Git(Box<GitSource>),
}

impl Source {
    /// The `index.db` key of the package's files, for those the store serves.
    pub fn store_key(&self) -> Option<&str> {
        match self {
            Source::Tarball { store_key, .. } => Some(store_key),
            Source::Git(git) => Some(&git.store_key),
            Source::Directory(_) => None,
        }
    }
}

/// One package of the install, parallel to `LinkPlan::packages` (same index).
#[derive(Debug, Clone)]
pub struct PackageSource {
    pub package_id: String,
    pub source: Source,
}

/// The install plan: the linker's plan plus where each package's files come from.
pub struct InstallPlan {
    pub link: LinkPlan,
    pub sources: Vec<PackageSource>,
    /// Dep paths left out because they do not fit this platform (optional only).
    pub skipped: Vec<String>,
    /// By package index: whether the last complete install (its `.pnpm/lock.yaml`) had the
    /// package. Set once that record is read; empty before. All `true` under the global
    /// virtual store, whose complete slots count as in place whatever the project recorded.
    pub recorded: Vec<bool>,
    /// Importers installed without being selected (a filtered install in the hoisted layout
    /// places the projects the last one had too): their own scripts do not run.
    pub unselected: HashSet<String>,
    /// The hoisted layout's counts, as pnpm 12 makes them (see `hoisted_counts`).
    pub hoisted_counts: HoistedCounts,
}

/// What pnpm 12 counts in the hoisted layout besides the packages it places: it counts
/// directories, not packages, and every snapshot of the lockfile as resolved.
#[derive(Debug, Default)]
pub struct HoistedCounts {
    /// By package index: how many of its directories are counted as added (all of them but
    /// those the last install left in place).
    pub added: Vec<usize>,
    /// The snapshots the layout places nowhere (peer variants of a placed version), each
    /// with the index of the package of its version that is placed, if any.
    pub unplaced: Vec<Unplaced>,
    /// Nothing is counted at all: pnpm 12 would not install (the same lockfile, every
    /// directory in place).
    pub unannounced: bool,
}

/// A snapshot the hoisted layout places nowhere (see [`HoistedCounts::unplaced`]).
#[derive(Debug)]
pub struct Unplaced {
    pub package_id: String,
    /// The package index of the placed snapshot of the same version: its files serve both.
    pub placed: Option<usize>,
}

/// Which importers and groups to install.
pub struct Selection<'a> {
    pub importer_ids: &'a [String],
    pub dev: bool,
    pub prod: bool,
    pub optional: bool,
}

impl Selection<'_> {
    /// Whether a project's own `optionalDependencies` are installed (see
    /// [`tack_config::IncludedDeps::project_optional_dependencies`]).
    pub fn project_optional(&self) -> bool {
        self.optional && self.prod
    }

    /// The same selection, owning its project ids: for a thread of its own.
    pub fn to_owned(&self) -> OwnedSelection {
        OwnedSelection {
            importer_ids: self.importer_ids.to_vec(),
            prod: self.prod,
            dev: self.dev,
            optional: self.optional,
        }
    }
}

/// A [`Selection`] that owns its project ids (see [`Selection::to_owned`]).
#[derive(Debug, Clone)]
pub struct OwnedSelection {
    importer_ids: Vec<String>,
    prod: bool,
    dev: bool,
    optional: bool,
}

impl OwnedSelection {
    pub fn as_selection(&self) -> Selection<'_> {
        Selection {
            importer_ids: &self.importer_ids,
            prod: self.prod,
            dev: self.dev,
            optional: self.optional,
        }
    }
}

/// Builds the plan for `lockfile` rooted at `config.lockfile_dir`, installing `installable`
/// dep paths (everything reachable that fits the platform).
pub fn build(
    lockfile: &Lockfile,
    config: &Config,
    selection: &Selection<'_>,
    installable: &HashSet<String>,
) -> Result<InstallPlan, CliError> {
    let root = &config.lockfile_dir;
    let mut link = LinkPlan::new(root.clone());
    link.modules_dir_name = config.modules_dir.clone();
    link.virtual_store_dir = config.virtual_store_dir.clone();
    link.install_state_dir = config.virtual_store_dir.clone();
    link.virtual_store_dir_max_length = config.virtual_store_dir_max_length;
    link.modules_cache_max_age_minutes = config.modules_cache_max_age;
    link.hoist_pattern = if config.hoist {
        config.hoist_pattern.clone()
    } else {
        Vec::new()
    };
    link.hoist = config.hoist;
    link.extend_node_path = config.settings.extend_node_path.unwrap_or(true);
    link.prefer_symlinked_executables = config
        .settings
        .prefer_symlinked_executables
        .unwrap_or(false);
    link.public_hoist_pattern = config.public_hoist_pattern.clone();
    link.hoist_workspace_packages = config.hoist_workspace_packages;

    for id in selection.importer_ids {
        let Some(project) = lockfile.importers.get(id) else {
            continue;
        };
        let dir = importer_dir(root, id);
        let manifest = tack_config::read_manifest(&dir.join("package.json")).ok();
        let mut deps = Vec::new();
        for (alias, dep, group) in project.all_deps() {
            check_package_name(alias, &format!("importers[{id}].{alias}"))?;
            let group = match group {
                tack_lockfile::DepGroup::Prod if selection.prod => DepGroup::Prod,
                tack_lockfile::DepGroup::Dev if selection.dev => DepGroup::Dev,
                tack_lockfile::DepGroup::Optional if selection.project_optional() => {
                    DepGroup::Optional
                }
                _ => continue,
            };
            let target = match dep.version.strip_prefix("link:") {
                Some(rel) => ChildTarget::Link(normalize(&dir.join(rel))),
                None => match ref_to_dep_path(&dep.version, alias) {
                    Some(dep_path) if installable.contains(&dep_path) => {
                        ChildTarget::DepPath(dep_path)
                    }
                    _ => continue,
                },
            };
            deps.push(ImporterDep {
                alias: alias.clone(),
                target,
                group,
            });
        }
        if config.exclude_links_from_lockfile {
            if let Some(manifest) = &manifest {
                links_left_out_of_the_lockfile(manifest, &dir, selection, &mut deps)?;
            }
        }
        // pnpm 12 links the peers' bins only where it installs missing peers itself.
        let peers_of_deps = if config.auto_install_peers {
            peers_of_direct_deps(lockfile, root, &deps, installable)
        } else {
            Vec::new()
        };
        link.importers.push(PlannedImporter {
            id: id.clone(),
            dir,
            name: manifest.as_ref().and_then(|m| m.name.clone()),
            version: manifest.as_ref().and_then(|m| m.version.clone()),
            deps,
            peers_of_deps,
            undeduped_deps: None,
        });
    }

    let mut sources = Vec::new();
    // Built only for a lockfile with git dependencies: it says whether each is prepared.
    let mut git_policy = None;
    // Keep the lockfile's order: it is sorted, so the plan is deterministic.
    for (dep_path, snapshot) in &lockfile.snapshots {
        if !installable.contains(dep_path) {
            continue;
        }
        let (name, version) = lockfile.name_version(dep_path);
        check_package_name(&name, dep_path)?;
        let info = lockfile.package(dep_path).ok_or_else(|| {
            CliError::new(
                "ERR_PNPM_PACKAGE_MANAGER_MISSING_PACKAGE_METADATA",
                format!(
                    "Lockfile has a snapshot entry `{dep_path}` with no matching metadata entry \
                     (`{}`) in `packages:`.",
                    tack_lockfile::remove_suffix(dep_path)
                ),
            )
            .with_help("The lockfile is damaged: restore it from version control, or run `pnpm install` to rewrite it.")
        })?;
        let package_id = lockfile.package_id(dep_path);
        let mut children = Vec::new();
        let optional_children = snapshot
            .optional_dependencies
            .iter()
            .filter(|_| selection.optional);
        for (alias, reference) in snapshot.dependencies.iter().chain(optional_children) {
            check_package_name(alias, dep_path)?;
            if let Some(target) = child_target(root, alias, reference, installable) {
                children.push((alias.clone(), target));
            }
        }
        let mut unlinked_optional_children = Vec::new();
        if !selection.optional {
            for (alias, reference) in &snapshot.optional_dependencies {
                check_package_name(alias, dep_path)?;
                if let Some(target) = child_target(root, alias, reference, installable) {
                    unlinked_optional_children.push((alias.clone(), target));
                }
            }
        }
        let (source, files) = match &info.resolution {
            Resolution::Directory { directory } => {
                let dir = normalize(&root.join(directory));
                (Source::Directory(dir.clone()), PackageFiles::Directory(dir))
            }
            resolution @ (Resolution::Git { .. }
            | Resolution::Tarball {
                git_hosted: true, ..
            }) => {
                let policy = git_policy.get_or_insert_with(|| {
                    tack_build::BuildPolicy::new(
                        &config.allow_builds,
                        config.dangerously_allow_all_builds,
                        None,
                        None,
                    )
                });
                let git = GitSource::from_resolution(
                    resolution,
                    tack_lockfile::remove_suffix(dep_path),
                    &name,
                    &package_id,
                    config,
                    policy,
                )?
                .ok_or_else(|| unsupported_resolution(dep_path, resolution))?;
                (Source::Git(Box::new(git)), PackageFiles::Cas(Vec::new()))
            }
            resolution => {
                let integrity = resolution.integrity().map(str::to_owned).ok_or_else(|| {
                    CliError::new(
                        "ERR_PNPM_MISSING_TARBALL_INTEGRITY",
                        format!("The lockfile entry of {dep_path} has no integrity"),
                    )
                    .with_help("A frozen install refuses tarballs it cannot verify. Re-resolve the package with `pnpm install` so the lockfile records its integrity.")
                })?;
                check_integrity(dep_path, &integrity)?;
                let registry = config.registries.for_package(&name);
                let url = match resolution {
                    Resolution::Registry { .. } => {
                        tack_tarball::tarball_url(registry, &name, &version)
                    }
                    // A dependency on a local `.tgz`: read from disk, relative to the
                    // lockfile's directory (it was fetched from the registry as if it were a
                    // path there).
                    Resolution::Tarball { tarball, .. } if tarball.starts_with("file:") => {
                        let path = normalize(&root.join(&tarball["file:".len()..]));
                        format!("file://{}", path.display())
                    }
                    Resolution::Tarball { tarball, .. } => {
                        tack_tarball::resolve_tarball_url(registry, Some(tarball), &name, &version)
                    }
                    other => return Err(unsupported_resolution(dep_path, other)),
                };
                let store_key = tack_store_dir::store_index_key(&integrity, &package_id);
                (
                    Source::Tarball {
                        store_key,
                        integrity,
                        url,
                    },
                    PackageFiles::Cas(Vec::new()),
                )
            }
        };
        link.packages.push(PlannedPackage {
            dep_path: dep_path.clone(),
            dir_name: dep_path_to_filename(dep_path, config.virtual_store_dir_max_length),
            name,
            version,
            files,
            children,
            has_bin: info.has_bin,
            // pnpm's `hasBundledDependencies`: the field is there, whatever it holds.
            has_bundled_dependencies: info.bundled_dependencies.is_some(),
            unlinked_optional_children,
            force_copy: false,
        });
        sources.push(PackageSource { package_id, source });
    }
    Ok(InstallPlan {
        link,
        sources,
        skipped: Vec::new(),
        recorded: Vec::new(),
        unselected: HashSet::new(),
        hoisted_counts: HoistedCounts::default(),
    })
}

/// Where a snapshot's dependency `alias: reference` points, if it is installed: a `link:`
/// is relative to the lockfile's directory.
fn child_target(
    root: &Path,
    alias: &str,
    reference: &str,
    installable: &HashSet<String>,
) -> Option<ChildTarget> {
    match reference.strip_prefix("link:") {
        Some(rel) => Some(ChildTarget::Link(normalize(&root.join(rel)))),
        None => ref_to_dep_path(reference, alias)
            .filter(|child| installable.contains(child))
            .map(ChildTarget::DepPath),
    }
}

/// The peers the importer's direct dependencies were resolved with: each one's snapshot
/// `dependencies` that its package lists under `peerDependencies`. pnpm 12 links their bins
/// into the importer's `.bin`, after the direct dependencies' (observed: a required peer
/// installed for a direct dependency, but not an optional peer, which the snapshot lists
/// under `optionalDependencies`, nor a peer of a peer, nor a peer of a deeper package).
/// `dedupeDirectDeps`: a workspace project does not link (nor give bins to) a direct
/// dependency whose target the root's `node_modules` already links, as pnpm 12 does; Node
/// finds it there. pnpm links the root's direct dependencies and hoists publicly first, then
/// compares targets, whatever the alias: a project's `is-number` goes when `is-number@7.0.0`
/// is publicly hoisted, not only when the root depends on it. Call it once the plan is
/// complete (hoisting reads the packages and the unlinked projects). Nothing changes when
/// the root is not installed.
pub fn dedupe_direct_deps(
    link: &mut LinkPlan,
    lockfile: &Lockfile,
    root: &Path,
    installable: &HashSet<String>,
) {
    let Some(root_importer) = link.importers.iter().find(|i| i.id == ".") else {
        return;
    };
    let mut at_root: HashSet<ChildTarget> = root_importer
        .deps
        .iter()
        .map(|d| d.target.clone())
        .collect();
    at_root.extend(
        tack_linker::compute_hoisting(link)
            .into_iter()
            .filter(|h| h.kind == tack_linker::HoistKind::Public)
            .map(|h| h.target),
    );
    for importer in link.importers.iter_mut().filter(|i| i.id != ".") {
        let kept: Vec<ImporterDep> = importer
            .deps
            .iter()
            .filter(|d| !at_root.contains(&d.target))
            .cloned()
            .collect();
        if kept.len() == importer.deps.len() {
            continue;
        }
        // None without `autoInstallPeers`, and none from fewer dependencies either.
        if !importer.peers_of_deps.is_empty() {
            importer.peers_of_deps = peers_of_direct_deps(lockfile, root, &kept, installable);
        }
        importer.undeduped_deps = Some(std::mem::replace(&mut importer.deps, kept));
    }
}

/// Under `excludeLinksFromLockfile` the lockfile leaves a project's `link:` dependencies out,
/// and pnpm 12 links them from its `package.json`: each one `deps` does not have yet, in its
/// group, when the install includes that group.
fn links_left_out_of_the_lockfile(
    manifest: &tack_config::Manifest,
    dir: &Path,
    selection: &Selection<'_>,
    deps: &mut Vec<ImporterDep>,
) -> Result<(), CliError> {
    let groups = [
        (&manifest.dependencies, DepGroup::Prod, selection.prod),
        (&manifest.dev_dependencies, DepGroup::Dev, selection.dev),
        (
            &manifest.optional_dependencies,
            DepGroup::Optional,
            selection.project_optional(),
        ),
    ];
    for (specs, group, included) in groups {
        for (alias, spec) in specs {
            let Some(rel) = spec.strip_prefix("link:") else {
                continue;
            };
            if !included || deps.iter().any(|d| d.alias == *alias) {
                continue;
            }
            check_package_name(alias, &format!("package.json: {alias}"))?;
            deps.push(ImporterDep {
                alias: alias.clone(),
                target: ChildTarget::Link(normalize(&dir.join(rel))),
                group,
            });
        }
    }
    Ok(())
}

fn peers_of_direct_deps(
    lockfile: &Lockfile,
    root: &Path,
    deps: &[ImporterDep],
    installable: &HashSet<String>,
) -> Vec<ChildTarget> {
    let mut peers: Vec<ChildTarget> = Vec::new();
    for dep in deps {
        let ChildTarget::DepPath(dep_path) = &dep.target else {
            continue;
        };
        let (Some(snapshot), Some(info)) =
            (lockfile.snapshots.get(dep_path), lockfile.package(dep_path))
        else {
            continue;
        };
        for (alias, reference) in &snapshot.dependencies {
            if !info.peer_dependencies.contains_key(alias) {
                continue;
            }
            if let Some(target) = child_target(root, alias, reference, installable) {
                if !peers.contains(&target) {
                    peers.push(target);
                }
            }
        }
    }
    peers
}

/// A git dependency (a clone, or a git host's tarball): pnpm builds its files by running the
/// package's `prepare` script and packing what `npm pack` would keep, which tack does not do
/// yet. Refused before anything is fetched or linked, instead of installing a tree pnpm would
/// not build (a git host's tarball holds the whole repository) or asking for an integrity
/// that pnpm never records for these.
fn unsupported_resolution(dep_path: &str, resolution: &Resolution) -> CliError {
    CliError::new(
        "ERR_TACK_UNSUPPORTED_RESOLUTION",
        format!("{dep_path} has a resolution tack cannot install yet: {resolution:?}"),
    )
    .with_help("Install this project with pnpm; its lockfile and store stay usable by tack for other projects.")
}

/// Refuses a package name that could escape `node_modules` when used as a path: pnpm only
/// accepts npm package names (`name` or `@scope/name`, no `.`/`..` segments, no separators
/// beyond the scope's).
pub(super) fn check_package_name(name: &str, dep_path: &str) -> Result<(), CliError> {
    let segments: Vec<&str> = name.split('/').collect();
    let valid_segment = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && !s.contains('\\')
            && !s.contains('\0')
            && !s.starts_with('.')
    };
    let ok = match segments.as_slice() {
        [single] => valid_segment(single) && !single.starts_with('@'),
        [scope, rest] => {
            scope.starts_with('@') && valid_segment(&scope[1..]) && valid_segment(rest)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(CliError::new(
            "ERR_PNPM_INVALID_PACKAGE_NAME",
            format!("The lockfile entry {dep_path} names an invalid package: {name:?}"),
        )
        .with_help("Package names are `name` or `@scope/name` without path segments like `..`; the lockfile may have been tampered with: restore it from version control."))
    }
}

/// Refuses, before anything is written, an `integrity` no tarball can pass, with pnpm 12's
/// codes: one without a known algorithm (`sha1`, `sha256`, `sha384`, `sha512`) the lockfile is
/// broken for; one whose digest is not base64 no download can match.
fn check_integrity(dep_path: &str, integrity: &str) -> Result<(), CliError> {
    if tack_tarball::ExpectedIntegrity::parse(integrity).is_some() {
        return Ok(());
    }
    let known_algorithm = integrity.split_whitespace().any(|token| {
        token
            .split_once('-')
            .is_some_and(|(algorithm, _)| tack_tarball::Algorithm::parse(algorithm).is_some())
    });
    let help = "The lockfile is damaged: restore pnpm-lock.yaml from version control, or run \
                `pnpm install` to rewrite the package's entry.";
    let error = if known_algorithm {
        CliError::new(
            "ERR_PNPM_TARBALL_INTEGRITY",
            format!(
                "The integrity {integrity:?} recorded for {dep_path} is no valid digest: no \
                 tarball can match it"
            ),
        )
    } else {
        CliError::new(
            "ERR_PNPM_BROKEN_LOCKFILE",
            format!(
                "The lockfile is broken: the integrity {integrity:?} recorded for {dep_path} is \
                 not an SRI string (sha512-…)"
            ),
        )
    };
    Err(error.with_help(help))
}

/// Every dep path reachable from the selected importers through the selected groups.
pub fn reachable(lockfile: &Lockfile, selection: &Selection<'_>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut queue = VecDeque::new();
    for id in selection.importer_ids {
        let Some(project) = lockfile.importers.get(id) else {
            continue;
        };
        for (alias, dep, group) in project.all_deps() {
            let included = match group {
                tack_lockfile::DepGroup::Prod => selection.prod,
                tack_lockfile::DepGroup::Dev => selection.dev,
                tack_lockfile::DepGroup::Optional => selection.project_optional(),
            };
            if included {
                if let Some(dep_path) = ref_to_dep_path(&dep.version, alias) {
                    queue.push_back(dep_path);
                }
            }
        }
    }
    while let Some(dep_path) = queue.pop_front() {
        if !seen.insert(dep_path.clone()) {
            continue;
        }
        order.push(dep_path.clone());
        if let Some(snapshot) = lockfile.snapshots.get(&dep_path) {
            let optional = snapshot
                .optional_dependencies
                .iter()
                .filter(|_| selection.optional);
            for (alias, reference) in snapshot.dependencies.iter().chain(optional) {
                if let Some(child) = ref_to_dep_path(reference, alias) {
                    if !seen.contains(&child) {
                        queue.push_back(child);
                    }
                }
            }
        }
    }
    order
}

/// `.` is the lockfile dir; other importer ids are POSIX paths relative to it.
pub fn importer_dir(root: &Path, id: &str) -> PathBuf {
    if id == "." {
        root.to_path_buf()
    } else {
        normalize(&root.join(id))
    }
}

/// Lexically resolves `.` and `..` (the paths come from the lockfile, not the filesystem).
pub use tack_fs::normalize_lexically as normalize;
