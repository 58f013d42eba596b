//! Config dependencies (`configDependencies` in `pnpm-workspace.yaml`), installed the way
//! pnpm 12 installs them, before anything else an install reads: settings may point into
//! `node_modules/.pnpm-config/<name>` (patch files, a plugin's pnpmfile, whose checksum the
//! lockfile holds), and a fresh checkout has nothing there yet.
//!
//! Each one is locked in the lockfile's env document ([`EnvLockfile`]), fetched into the store
//! like any package, imported once per store into pnpm's global virtual store
//! ([`GlobalLink`]: the directory pnpm 12 would make, so either tool reuses the other's), and
//! linked from `.pnpm-config/<name>`. Entries of `.pnpm-config` no longer declared are removed.
//! Nothing here runs a config dependency's code: a plugin's `updateConfig` hook runs once
//! they are all in place (see `update_config`).
//!
//! Safe against a concurrent install of another project on the same store: a package
//! directory is marked complete by its `package.json`, linked last (see
//! [`import_package_at`]), and a link is replaced by renaming a new one over it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tack_config::{Config, ConfigDependency, WantedConfigDependency};
use tack_fs::{FsError, ImportMethod};
use tack_linker::{
    import_package_at, FilesFrom, PackageFiles, PackageHome, PackageImporter, PlannedPackage,
};
use tack_lockfile::EnvLockfile;
use tack_store_dir::{
    store_index_key, verify_row_files, GlobalLink, IndexWriter, PackageFilesIndex, StoreDir,
    StoreIndex, VerifiedFilesCache,
};
use tack_tarball::{FetcherOptions, PackageToFetch};

use crate::error::CliError;
use crate::reporter::{Event, Reporter};

/// A config dependency as the lockfile pins it.
struct Locked {
    name: String,
    version: String,
    integrity: String,
    /// The recorded tarball URL, when the dependency does not come from the registry's own.
    tarball: Option<String>,
    link: GlobalLink,
}

impl Locked {
    fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    fn store_key(&self) -> String {
        store_index_key(&self.integrity, &self.id())
    }
}

/// Installs the workspace's config dependencies, when it declares any: checks them against
/// the lockfile's env document, brings missing ones into the store and its `links/`, links
/// each from `node_modules/.pnpm-config`, and removes links no longer declared. Prints
/// pnpm 12's two lines only when something changed.
pub fn install(
    config: &Config,
    store: &StoreDir,
    lockfile_path: &Path,
    fetch_options: impl FnOnce() -> FetcherOptions,
    reporter: &Arc<Reporter>,
) -> Result<(), CliError> {
    let declared = tack_config::config_dependencies(config)?;
    if declared.is_empty() {
        return Ok(());
    }
    let env = EnvLockfile::read_from_path(lockfile_path)?;
    let locked = locked_versions(&declared, env.as_ref(), store)?;
    let modules_dir = tack_config::config_modules_dir(config);
    let mut announced = false;
    let mut announce = || {
        if !std::mem::replace(&mut announced, true) {
            reporter.emit(Event::Info("Installing config dependencies...".to_string()));
        }
    };

    let missing: Vec<&Locked> = locked
        .iter()
        .filter(|dep| !dep.link.package_dir().join("package.json").is_file())
        .collect();
    if !missing.is_empty() {
        announce();
        let rows = rows_for(&missing, store, config, fetch_options, reporter)?;
        let importer = PackageImporter::new(ImportMethod::Auto);
        for dep in &missing {
            let row = rows.get(&dep.store_key()).ok_or_else(|| {
                CliError::new(
                    "ERR_TACK_INTERNAL",
                    format!(
                        "config dependency {} was fetched but has no files",
                        dep.id()
                    ),
                )
            })?;
            import_into_links(dep, row, store, &importer)?;
        }
    }

    let mut installed = Vec::new();
    for dep in &locked {
        let link = modules_dir.join(&dep.name);
        let target = dep.link.package_dir();
        if links_to(&link, &target) {
            continue;
        }
        announce();
        link_config_dependency(&target, &link)?;
        installed.push(dep.id());
    }
    let declared_names: BTreeSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    for stale in undeclared_entries(&modules_dir, &declared_names)? {
        announce();
        remove_entry(&stale)?;
    }
    if !installed.is_empty() {
        reporter.emit(Event::Info(format!(
            "Installed config dependencies: {}",
            installed.join(", ")
        )));
    }
    Ok(())
}

/// What each declaration is locked to, or pnpm 12's error when the lockfile's env document
/// does not say (`--frozen-lockfile` or not: tack installs only what a lockfile locks).
fn locked_versions(
    declared: &[ConfigDependency],
    env: Option<&EnvLockfile>,
    store: &StoreDir,
) -> Result<Vec<Locked>, CliError> {
    let empty = EnvLockfile::default();
    let env = env.unwrap_or(&empty);
    if let Some(extra) = env
        .config_dependencies
        .keys()
        .find(|name| !declared.iter().any(|d| &d.name == *name))
    {
        return Err(outdated(&format!(
            "the lockfile locks {extra}, which pnpm-workspace.yaml no longer declares"
        )));
    }
    declared
        .iter()
        .map(|dep| {
            let Some(entry) = env.config_dependencies.get(&dep.name) else {
                return Err(outdated(&format!(
                    "{} is declared in pnpm-workspace.yaml but not locked",
                    dep.name
                )));
            };
            let id = format!("{}@{}", dep.name, entry.version);
            let resolution = env.packages.get(&id).ok_or_else(|| {
                corrupted(&format!(
                    "missing packages entry for \"{id}\" referenced from importers['.'].configDependencies"
                ))
            })?;
            let integrity = resolution
                .integrity()
                .ok_or_else(|| corrupted(&format!("missing integrity for \"{id}\"")))?;
            let mut tarball = match resolution {
                tack_lockfile::Resolution::Registry { .. } => None,
                tack_lockfile::Resolution::Tarball { tarball, .. } => Some(tarball.clone()),
                other => {
                    return Err(corrupted(&format!(
                        "\"{id}\" has a resolution a config dependency cannot have: {other:?}"
                    )))
                }
            };
            match &dep.wanted {
                WantedConfigDependency::Specifier(specifier) if *specifier != entry.specifier => {
                    return Err(outdated(&format!(
                        "{} is declared as {specifier:?}, the lockfile has {:?}",
                        dep.name, entry.specifier
                    )))
                }
                WantedConfigDependency::Specifier(_) => {}
                WantedConfigDependency::Pinned {
                    version,
                    integrity: pinned,
                    tarball: pinned_tarball,
                } => {
                    if *version != entry.version || pinned != integrity {
                        return Err(CliError::new(
                            "ERR_PNPM_BAD_CONFIG_DEP",
                            format!(
                                "Configuration dependency \"{}@{version}\" does not match its configured integrity: the lockfile has {id} with {integrity}",
                                dep.name
                            ),
                        )
                        .with_help("Declare the version the lockfile locks, or update the lockfile with `pnpm install`."));
                    }
                    if pinned_tarball.is_some() {
                        tarball.clone_from(pinned_tarball);
                    }
                }
            }
            let link = GlobalLink::of(store, &dep.name, &entry.version, integrity).ok_or_else(|| {
                CliError::new(
                    "ERR_PNPM_INVALID_CONFIG_DEP_VERSION",
                    format!(
                        "The lockfile locks config dependency {} to {:?}, which is not a version",
                        dep.name, entry.version
                    ),
                )
                .with_help("Restore pnpm-lock.yaml from version control, or lock the config dependency again with `pnpm install`.")
            })?;
            Ok(Locked {
                name: dep.name.clone(),
                version: entry.version.clone(),
                integrity: integrity.to_string(),
                tarball,
                link,
            })
        })
        .collect()
}

fn outdated(reason: &str) -> CliError {
    CliError::new(
        "ERR_PNPM_FROZEN_LOCKFILE_WITH_OUTDATED_LOCKFILE",
        format!(
            "install configurational dependencies: Cannot update configDependencies with \"frozen-lockfile\" because the lockfile is not up to date ({reason})"
        ),
    )
    .with_help("Lock the config dependencies with `pnpm install`, then commit pnpm-lock.yaml. Nothing was installed.")
}

fn corrupted(reason: &str) -> CliError {
    CliError::new(
        "ERR_PNPM_ENV_LOCKFILE_CORRUPTED",
        format!("pnpm-lock.yaml is corrupted or incomplete: {reason}"),
    )
    .with_help("Restore pnpm-lock.yaml from version control, or lock the config dependencies again with `pnpm install`.")
}

/// The store's index rows of `deps`, fetching those the store lacks or holds damaged.
fn rows_for(
    deps: &[&Locked],
    store: &StoreDir,
    config: &Config,
    fetch_options: impl FnOnce() -> FetcherOptions,
    reporter: &Reporter,
) -> Result<HashMap<String, Arc<PackageFilesIndex>>, CliError> {
    let keys: Vec<String> = deps.iter().map(|dep| dep.store_key()).collect();
    let mut rows: HashMap<String, Arc<PackageFilesIndex>> = HashMap::new();
    if store.index_db_path().exists() {
        let cache = VerifiedFilesCache::with_capacity(64);
        for (key, row) in StoreIndex::open(store)?.get_many(&keys)? {
            if verify_row_files(store, &row, &cache) {
                // pnpm 12 counts config dependencies in the install's progress line.
                reporter.emit(Event::FoundInStore {
                    package_id: key.clone(),
                });
                rows.insert(key, Arc::new(row));
            }
        }
    }
    let to_fetch: Vec<&Locked> = deps
        .iter()
        .copied()
        .filter(|dep| !rows.contains_key(&dep.store_key()))
        .collect();
    if to_fetch.is_empty() {
        return Ok(rows);
    }
    if config.offline {
        let names: Vec<String> = to_fetch.iter().map(|dep| dep.id()).collect();
        return Err(CliError::new(
            "ERR_PNPM_NO_OFFLINE_TARBALL",
            format!(
                "config dependencies are not in the store and --offline forbids downloading them: {}",
                names.join(", ")
            ),
        )
        .with_help("Run the install once without --offline to fill the store."));
    }
    store.ensure_root()?;
    let writer = Arc::new(IndexWriter::spawn(store)?);
    let fetched = fetch_all(&to_fetch, config, fetch_options(), Arc::clone(&writer));
    if let Ok(fetched) = &fetched {
        for (key, _) in fetched {
            reporter.emit(Event::Fetched {
                package_id: key.clone(),
            });
        }
    }
    // Committed before anything is linked to the files, error or not: what was downloaded
    // is kept for the next run.
    let finished = writer.finish();
    rows.extend(fetched?);
    finished?;
    Ok(rows)
}

fn fetch_all(
    deps: &[&Locked],
    config: &Config,
    options: FetcherOptions,
    writer: Arc<IndexWriter>,
) -> Result<Vec<(String, Arc<PackageFilesIndex>)>, CliError> {
    let runtime = crate::fetch::runtime(None)?;
    let fetcher = crate::fetch::fetcher(options, writer, None)?;
    let packages: Vec<PackageToFetch> = deps
        .iter()
        .map(|dep| {
            let registry = config.registries.for_package(&dep.name);
            PackageToFetch {
                pkg_id: dep.id(),
                name: dep.name.clone(),
                version: dep.version.clone(),
                integrity: Some(dep.integrity.clone()),
                tarball_url: tack_tarball::resolve_tarball_url(
                    registry,
                    dep.tarball.as_deref(),
                    &dep.name,
                    &dep.version,
                ),
                git_archive: false,
            }
        })
        .collect();
    runtime.block_on(async {
        let fetches = packages.iter().map(|pkg| fetcher.fetch(pkg));
        let results = futures_util::future::join_all(fetches).await;
        fetcher.all_fetched();
        packages
            .iter()
            .zip(results)
            .map(|(pkg, row)| Ok((fetcher.index_key(pkg), row?)))
            .collect()
    })
}

/// Imports `dep`'s files from the store into its directory below `links/`.
fn import_into_links(
    dep: &Locked,
    row: &PackageFilesIndex,
    store: &StoreDir,
    importer: &PackageImporter,
) -> Result<(), CliError> {
    let files = row
        .files
        .iter()
        .map(|(rel, info)| {
            (
                rel.clone(),
                store.cas_path(&info.digest, info.is_executable()),
            )
        })
        .collect();
    let package = PlannedPackage {
        dep_path: dep.id(),
        dir_name: dep.link.slot.clone(),
        name: dep.name.clone(),
        version: dep.version.clone(),
        files: PackageFiles::Cas(files),
        children: Vec::new(),
        has_bin: false,
        has_bundled_dependencies: false,
        unlinked_optional_children: Vec::new(),
        force_copy: false,
    };
    import_package_at(
        &package,
        FilesFrom::Plan(&package.files),
        false,
        PackageHome::VirtualStore(&dep.link.versions_dir),
        importer,
    )?;
    Ok(())
}

/// Whether `link` is a symlink that leads to `target`.
fn links_to(link: &Path, target: &Path) -> bool {
    let Ok(text) = std::fs::read_link(link) else {
        return false;
    };
    let Some(parent) = link.parent() else {
        return false;
    };
    tack_fs::relative_path(parent, target) == text || text == target
}

/// Links `.pnpm-config/<name>` to `target`. pnpm 10 imported config dependencies there as
/// directories: one in the way is pnpm's to replace, never the user's.
fn link_config_dependency(target: &Path, link: &Path) -> Result<(), CliError> {
    match tack_fs::symlink_dir(target, link) {
        Err(FsError::DirectoryInTheWay { .. }) => {
            fs_err::remove_dir_all(link).map_err(fs_error)?;
            tack_fs::symlink_dir(target, link)?;
            Ok(())
        }
        other => Ok(other?),
    }
}

/// The entries of `.pnpm-config` (scope directories looked into, dot-entries skipped) that
/// name no declared config dependency.
fn undeclared_entries(
    modules_dir: &Path,
    declared: &BTreeSet<&str>,
) -> Result<Vec<PathBuf>, CliError> {
    let mut stale = Vec::new();
    for (name, path) in dir_entries(modules_dir)? {
        if name.starts_with('.') {
            continue;
        }
        let is_scope_dir = name.starts_with('@')
            && std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_dir());
        if is_scope_dir {
            for (inner, inner_path) in dir_entries(&path)? {
                if !inner.starts_with('.') && !declared.contains(format!("{name}/{inner}").as_str())
                {
                    stale.push(inner_path);
                }
            }
        } else if !declared.contains(name.as_str()) {
            stale.push(path);
        }
    }
    Ok(stale)
}

fn dir_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, CliError> {
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fs_error(e)),
    };
    let mut listed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(fs_error)?;
        listed.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    listed.sort();
    Ok(listed)
}

/// Removes a link (never what it points at), or a directory pnpm 10 left.
fn remove_entry(path: &Path) -> Result<(), CliError> {
    let removed = match fs_err::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs_err::remove_dir_all(path),
        Ok(_) => fs_err::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    removed.map_err(fs_error)
}

/// A failure in `node_modules/.pnpm-config` (the error names the path).
fn fs_error(e: std::io::Error) -> CliError {
    CliError::new("ERR_TACK_CONFIG_DEPS_IO", e.to_string()).with_help(
        "Check the permissions of node_modules/.pnpm-config, or remove it and install again.",
    )
}
