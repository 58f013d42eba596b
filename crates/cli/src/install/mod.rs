//! `tack install --frozen-lockfile`: the product. This module only orchestrates; each step is
//! owned by a crate (see `plans/ARCHITECTURE.md`):
//!
//! 1. the no-op gate ([`noop`]) answers "Already up to date" from file stamps alone;
//! 2. config + lockfile + frozen checks + installability;
//! 3. [`plan`] builds the package list and the link plan;
//! 4. [`materialize`] fills the store and the virtual store (index read, verify, fetch, import);
//! 5. the linker finishes (symlinks, hoisting, bins, state files);
//! 6. [`build`] patches and builds dependencies and runs the projects' install scripts, and the
//!    reporter summarizes.

mod blocked_dirs;
mod build;
mod config_deps;
mod fetch_order;
mod filter;
mod filtered;
mod git_env;
mod git_fetch;
mod git_jobs;
mod git_source;
mod global_slots;
mod hoisted_counts;
mod hoisted_layout;
mod import_gate;
mod in_progress;
mod materialize;
mod missing_optional;
mod modules_conflict;
pub mod noop;
mod package_manager;
pub mod plan;
mod project_graph;
mod project_lock;
mod release_age;
mod summary;
mod trust_policy;
mod unsupported_settings;
mod update_config;
mod verdict_gate;
mod verified_lockfiles;
mod withdraw;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use tack_config::{CliOverrides, Config, ConfigInputs};
use tack_linker::{
    check_compat, read_modules_yaml, CompatAction, IncludedGroups, WorkspaceStateInput,
};
use tack_lockfile::Lockfile;
use tack_store_dir::{resolve_store_dir, IndexWriter, StoreDir, StoreDirInputs};

use crate::args::InstallArgs;
use crate::error::CliError;
use crate::reporter::{Event, Reporter};

/// Environment as a map, so config loading stays hermetic and testable.
pub fn env_map() -> BTreeMap<String, String> {
    std::env::vars().collect()
}

/// The directory tack runs in: `--dir` or the current directory, made absolute.
pub fn working_dir(dir: Option<&Path>) -> Result<PathBuf, CliError> {
    let cwd = std::env::current_dir().map_err(|e| {
        CliError::new(
            "ERR_TACK_CWD",
            format!("cannot read the current directory: {e}"),
        )
    })?;
    Ok(match dir {
        Some(d) if d.is_absolute() => d.to_path_buf(),
        Some(d) => cwd.join(d),
        None => cwd,
    })
}

fn overrides(args: &InstallArgs) -> CliOverrides {
    CliOverrides {
        store_dir: args.store_dir.clone(),
        offline: args.offline,
        prefer_offline: args.prefer_offline,
        frozen_lockfile: if args.frozen_lockfile {
            Some(true)
        } else if args.no_frozen_lockfile {
            Some(false)
        } else {
            None
        },
        prefer_frozen_lockfile: if args.prefer_frozen_lockfile {
            Some(true)
        } else {
            args.no_prefer_frozen_lockfile.then_some(false)
        },
        prod: args.prod,
        dev: args.dev,
        no_optional: args.no_optional,
        ignore_scripts: args.ignore_scripts,
        node_linker: args.node_linker.clone(),
        package_import_method: args.package_import_method.clone(),
        virtual_store_dir: args.virtual_store_dir.clone(),
        network_concurrency: args.network_concurrency,
        child_concurrency: args.child_concurrency,
        os: args.os.clone(),
        cpu: args.cpu.clone(),
        libc: args.libc.clone(),
        // `--config.registry=…` is the `--registry` flag spelt as a setting.
        registry: args.registry.clone().or_else(|| {
            args.config
                .iter()
                .rev()
                .find(|(key, _)| key == "registry")
                .map(|(_, url)| url.clone())
        }),
        settings: args
            .shamefully_hoist
            .then(|| ("shamefullyHoist".to_string(), "true".to_string()))
            .into_iter()
            .chain(
                args.ignore_pnpmfile
                    .then(|| ("ignorePnpmfile".to_string(), "true".to_string())),
            )
            .chain(
                args.trust_lockfile
                    .then(|| ("trustLockfile".to_string(), "true".to_string())),
            )
            .chain(
                [
                    ("ignoreScripts", args.no_ignore_scripts),
                    ("offline", args.no_offline),
                    ("preferOffline", args.no_prefer_offline),
                ]
                .into_iter()
                .filter(|(_, given)| *given)
                .map(|(key, _)| (key.to_string(), "false".to_string())),
            )
            .chain(args.compat.settings())
            .chain(
                args.config
                    .iter()
                    .filter(|(key, _)| key != "registry")
                    .cloned(),
            )
            .collect(),
        allow_build: args.allow_build.clone(),
        ..CliOverrides::default()
    }
}

/// Whether a lockfile importer has no dependency of any kind.
fn no_dependencies(importer: &tack_lockfile::ProjectSnapshot) -> bool {
    importer.dependencies.is_empty()
        && importer.dev_dependencies.is_empty()
        && importer.optional_dependencies.is_empty()
}

/// Flags of `pnpm install` that need dependency resolution, which tack does not do.
fn refuse_resolution_flags(args: &InstallArgs) -> Result<(), CliError> {
    let flag = [
        (args.lockfile_only, "--lockfile-only"),
        (args.fix_lockfile, "--fix-lockfile"),
        (args.resolution_only, "--resolution-only"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag));
    match flag {
        None => Ok(()),
        Some(flag) => Err(CliError::new(
            "ERR_TACK_UNSUPPORTED_FLAG",
            format!("`{flag}` needs dependency resolution, which tack does not do: it installs from the lockfile as it is"),
        )
        .with_help(format!("Run `pnpm install {flag}` to write the lockfile, then `tack install --frozen-lockfile`. Nothing was written."))),
    }
}

/// The project `tack install` runs for, as pnpm finds it: the nearest directory from `cwd`
/// up that has a `package.json` (inside the workspace, when there is one; the workspace root
/// otherwise). Outside a workspace, no `package.json` at all is `ERR_PNPM_NO_PKG_MANIFEST`.
fn project_dir(cwd: &Path, workspace_root: Option<&Path>) -> Result<PathBuf, CliError> {
    let nearest = cwd
        .ancestors()
        .take_while(|dir| workspace_root.is_none_or(|root| dir.starts_with(root)))
        .find(|dir| dir.join("package.json").is_file());
    match (nearest, workspace_root) {
        (Some(dir), _) => Ok(dir.to_path_buf()),
        (None, Some(root)) => Ok(root.to_path_buf()),
        (None, None) => Err(CliError::new(
            "ERR_PNPM_NO_PKG_MANIFEST",
            format!("No package.json found in {}", cwd.display()),
        )
        .with_help("Run tack in a project directory (or pass --dir): it installs the project whose package.json is in this directory or above it.")),
    }
}

/// Whether `project_dir` is one of the projects of the workspace at `root` (its
/// `packages` globs). A directory with a `package.json` inside a workspace's tree but not
/// among its projects is a project of its own to pnpm 12: its own lockfile, not the
/// workspace's (observed: `ERR_PNPM_NO_LOCKFILE` there, rather than a workspace install).
fn is_workspace_project(root: &Path, project_dir: &Path) -> Result<bool, CliError> {
    let mut warnings = Vec::new();
    let globs = tack_config::WorkspaceManifest::read_from_dir(root, &mut warnings)?
        .map(|ws| ws.packages)
        .unwrap_or_default();
    Ok(tack_config::find_workspace_projects(root, &globs)?
        .iter()
        .any(|project| project.dir == project_dir))
}

/// Loads the configuration for `cwd` (used by `install` and the `store` commands).
pub fn load_config(cwd: &Path, cli: CliOverrides, reporter: &Reporter) -> Result<Config, CliError> {
    load_config_for(cwd, None, cli, reporter)
}

/// [`load_config`] with the workspace root given (`None`: the nearest `pnpm-workspace.yaml`
/// up from `cwd`, or `cwd` itself).
fn load_config_for(
    cwd: &Path,
    workspace_root: Option<PathBuf>,
    cli: CliOverrides,
    reporter: &Reporter,
) -> Result<Config, CliError> {
    let (config, warnings) = Config::load(config_inputs(cwd, workspace_root, cli, None))?;
    for warning in warnings {
        reporter.warn(warning.to_string());
    }
    Ok(config)
}

fn config_inputs(
    cwd: &Path,
    workspace_root: Option<PathBuf>,
    cli: CliOverrides,
    update_config: Option<serde_json::Map<String, serde_json::Value>>,
) -> ConfigInputs {
    ConfigInputs {
        cwd: cwd.to_path_buf(),
        workspace_root,
        env: env_map(),
        cli,
        npm_registry_probe: None,
        update_config,
    }
}

/// The configuration once more, with the settings the pnpmfiles' `updateConfig` hooks changed
/// over every layer (its warnings were printed by the first load).
fn reload_with_hooks(
    cwd: &Path,
    workspace_root: Option<PathBuf>,
    cli: CliOverrides,
    changed: serde_json::Map<String, serde_json::Value>,
) -> Result<Config, CliError> {
    let (config, _) = Config::load(config_inputs(cwd, workspace_root, cli, Some(changed)))?;
    Ok(config)
}

/// The store directory for a loaded configuration (`…/v11`).
pub fn store_dir_for(config: &Config) -> StoreDir {
    let env = env_map();
    let path = |key: &str| env.get(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    StoreDir::new(resolve_store_dir(&StoreDirInputs {
        store_dir: config.store_dir.clone(),
        pnpm_home: path("PNPM_HOME"),
        xdg_data_home: path("XDG_DATA_HOME"),
        home: path("HOME"),
        project_dir: config.lockfile_dir.clone(),
    }))
}

/// Runs `tack install`.
pub fn run(
    dir: Option<&Path>,
    args: &InstallArgs,
    reporter: &Arc<Reporter>,
) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    tack_fs::phase_timer::mark("start");
    refuse_resolution_flags(args)?;
    if let Some((flag, why)) = args.compat.refused() {
        return Err(CliError::new(
            "ERR_TACK_UNSUPPORTED_FLAG",
            format!("`{flag}` {why}"),
        )
        .with_help(format!(
            "Run this install with pnpm (`pnpm install {flag}`), or leave the flag out. Nothing was written."
        )));
    }
    let with_root_filter;
    let args =
        if args.workspace_root && args.filter.is_empty() && args.compat.filter_prod.is_empty() {
            with_root_filter = InstallArgs {
                filter: vec![".".to_string()],
                ..args.clone()
            };
            &with_root_filter
        } else {
            args
        };
    // `--filter` or `--filter-prod`.
    let no_filter = args.filter.is_empty() && args.compat.filter_prod.is_empty();
    let cwd = working_dir(dir)?;
    let workspace_root = tack_config::find_workspace_root(&cwd);
    let project_dir = project_dir(&cwd, workspace_root.as_deref())?;
    let standalone = match &workspace_root {
        Some(root) if *root != project_dir => !is_workspace_project(root, &project_dir)?,
        _ => false,
    };
    let root = match workspace_root {
        Some(root) if !standalone => root,
        _ => project_dir.clone(),
    };

    let mut config = load_config_for(
        &project_dir,
        standalone.then(|| project_dir.clone()),
        overrides(args),
        reporter,
    )?;
    // Run from a workspace project, pnpm 12 reports as that project: its summary, paths
    // relative to it, and the workspace's own lines (`Packages: +N`, "Already up to date")
    // left out.
    if project_dir != config.lockfile_dir {
        reporter.set_workspace_prefix(
            tack_fs::relative_path(&project_dir, &config.lockfile_dir)
                .display()
                .to_string(),
        );
    }
    unsupported_settings::refuse_unsupported_settings(&config)?;
    // pnpm 12's configuration warnings, printed on every install (a no-op one too), and its
    // refusal of a project declared for another package manager.
    if let Ok(root) = tack_config::read_manifest(&config.lockfile_dir.join("package.json")) {
        let pm_on_fail = config.settings.pm_on_fail.as_deref();
        if let Some(warning) = package_manager::check(&root, pm_on_fail)? {
            reporter.emit(Event::EarlyWarning(warning));
        }
        if let Some(warning) = root.ignored_pnpm_field_warning() {
            reporter.emit(Event::EarlyWarning(warning));
        }
    }
    warn_of_version_references(&config, reporter);
    let store = store_dir_for(&config);
    // The node version is usually remembered (see `node_probe`), and read here: the no-op
    // gate compares it (`engines` decide which optional packages are installed, and whether
    // the projects may be). Otherwise `node --version` costs a process spawn: it runs while
    // the lockfile loads. Not a thread in both cases: with both cores parsing the lockfile, a
    // new thread waited up to 3 ms for a core, and the plan waited for it.
    let cached_host = tack_config::installability::HostInfo::current().with_node_from_cache();
    let branch = if config.use_git_branch_lockfile {
        tack_lockfile::current_git_branch(&config.lockfile_dir)
    } else {
        None
    };
    let lockfile_name =
        tack_lockfile::lockfile_name(config.use_git_branch_lockfile, branch.as_deref());
    // pnpm 12 records every project it installs in the store (see `register_project`), and
    // installs the config dependencies before anything else, a no-op install included.
    if let Err(e) = tack_store_dir::register_project(&store, &config.lockfile_dir) {
        reporter.warn(format!(
            "could not record {} in {}: {e}",
            config.lockfile_dir.display(),
            store.root().join("projects").display()
        ));
    }
    config_deps::install(
        &config,
        &store,
        &config.lockfile_dir.join(&lockfile_name),
        || crate::fetch::options(&config, &store, Arc::clone(reporter)),
        reporter,
    )?;
    // The config dependencies' plugins and the workspace's pnpmfile may change settings (a
    // catalog, `allowBuilds`); pnpm 12 runs their `updateConfig` hooks before anything
    // reads them.
    if let Some(changed) = update_config::changed_settings(&config)? {
        config = reload_with_hooks(
            &project_dir,
            standalone.then(|| project_dir.clone()),
            overrides(args),
            changed,
        )?;
        unsupported_settings::refuse_unsupported_settings(&config)?;
    }
    let mut settings = noop::recorded_settings(&config, &lockfile_name);
    let gate_settings = noop::with_node_version(
        settings.clone(),
        cached_host
            .as_ref()
            .map(|host| host.node_version.as_deref()),
    );
    // `--force` installs every package again, however complete the tree looks. pnpm 12 runs
    // the root project's `preinstall` on every install, over an unchanged tree too: the full
    // path runs it (and, over a tree that needs nothing, nothing else).
    let runs_preinstall = !config.ignore_scripts && build::root_has_preinstall(&config);
    let up_to_date = (no_filter && !args.compat.force && !runs_preinstall)
        .then(|| {
            let modules = root.join(&config.modules_dir);
            let dirs = noop::TreeDirs {
                root: &root,
                modules: &modules,
                virtual_store: &config.virtual_store_dir,
            };
            let links = match args.frozen_lockfile {
                true => noop::LinkCheck::Unresolved,
                false => noop::LinkCheck::Dangling,
            };
            noop::is_up_to_date(&dirs, &gate_settings, store.root(), links)
        })
        .flatten();
    if let Some(projects) = up_to_date {
        // pnpm 12's lines: with `--frozen-lockfile` given, it skips its own quick check and
        // says the lockfile needs no resolution; without, "Already up to date". The frozen
        // install checks the lockfile's supply chain even then (a verdict is usually cached).
        if projects > 1 {
            reporter.emit(Event::Scope { projects });
        }
        if args.frozen_lockfile {
            release_age::check(
                &config,
                None,
                &config.lockfile_dir.join(&lockfile_name),
                || crate::fetch::options(&config, &store, Arc::clone(reporter)),
                reporter,
            )?;
        }
        reporter.emit(if args.frozen_lockfile {
            Event::LockfileUpToDate
        } else {
            Event::AlreadyUpToDate
        });
        reporter.emit(Event::Done {
            elapsed: started.elapsed(),
        });
        return Ok(ExitCode::SUCCESS);
    }

    // Held to the end of the install (see `project_lock`).
    let _project_lock = project_lock::lock_project(&config.lockfile_dir, reporter)?;
    tack_fs::phase_timer::mark("config and no-op gate");
    let mut host_probe = cached_host.ok_or_else(|| {
        std::thread::spawn(|| {
            let started = std::time::Instant::now();
            let host = tack_config::installability::HostInfo::current().with_node_from_path();
            tack_fs::phase_timer::note("node --version", started);
            host
        })
    });
    let lockfile_path = config.lockfile_dir.join(&lockfile_name);
    // A store without an index serves nothing, so this install will download. Its HTTP
    // client (a few ms of one core, before the first request can go out) is built here, on
    // a thread of its own, while this one reads the lockfile and plans; and the store's
    // shard directories are made ahead of the first files, on another. Otherwise the client
    // is built only if something turns out to be missing.
    let has_index = store.index_db_path().exists();
    if !has_index {
        blocked_dirs::check_store(&store)?;
    }
    let cold_store = !config.offline && !has_index;
    // One set of network options for the downloads and the supply-chain check: they share
    // one window of requests in flight (see `NetworkShare`).
    let fetch_options = crate::fetch::options(&config, &store, Arc::clone(reporter));
    let mut early_client =
        cold_store.then(|| crate::fetch::EarlyClient::start(fetch_options.clone()));
    if cold_store {
        // Detached: nothing waits for it (see `make_shards_ahead`).
        drop(store.make_shards_ahead());
    }
    tack_fs::phase_timer::mark("store setup");
    // Stamped and digested before it is read: an edit in between is seen by the next run.
    let mut lockfile_stamp = tack_linker::stamp_with_digest(&lockfile_path);
    let lockfile = Lockfile::read_from_path(&lockfile_path)?;
    tack_fs::phase_timer::mark("lockfile parse");
    let projects = projects(&config)?;
    // pnpm 12's first line in a workspace, unless `--filter` narrows the install.
    if projects.len() > 1 && no_filter {
        reporter.emit(Event::Scope {
            projects: projects.len(),
        });
    }
    tack_config::frozen::check_frozen_lockfile(
        &config,
        lockfile.as_ref(),
        &projects,
        !args.ignore_manifest_check,
    )?;
    // pnpm 12 says nothing of a lockfile none of whose projects has a dependency, nor of one
    // whose filtered install selects no project; said once the selection is known.
    let mut lockfile_up_to_date = false;
    let lockfile = match lockfile {
        Some(lockfile) => {
            lockfile_up_to_date = !lockfile.importers.values().all(no_dependencies);
            lockfile
        }
        // No lockfile, and no project has a dependency (else the check above failed): pnpm 12
        // writes the lockfile such projects have, `--frozen-lockfile` or not, and installs
        // them (their `node_modules` state, their own lifecycle scripts).
        None => {
            let fresh = tack_config::frozen::lockfile_without_dependencies(&config, &projects)?;
            tack_fs::AtomicWrite::new(&lockfile_path)
                .write_bytes(fresh.to_yaml_string().as_bytes())?;
            lockfile_stamp = tack_linker::stamp_with_digest(&lockfile_path);
            fresh
        }
    };
    if runs_preinstall {
        // Its lines come first, as pnpm 12 prints them; the node version it is told is the
        // builds' (pnpm's `nodeVersion`, else the node on PATH).
        let host = host_probe.unwrap_or_else(|probe| {
            probe
                .join()
                .unwrap_or_else(|_| tack_config::installability::HostInfo::current())
        });
        let node_version = config
            .node_version
            .as_deref()
            .or(host.node_version.as_deref());
        build::run_root_preinstall(&config, node_version, reporter)?;
        host_probe = Ok(host);
    }
    // Decided here when it can be (a cached verdict, the policy off); otherwise the registry
    // is asked while the install downloads and imports, and nothing is linked into the
    // project before the verdict (see `verdict_gate`).
    let supply_chain = release_age::start(
        &config,
        Some(&lockfile),
        &lockfile_path,
        || fetch_options.clone(),
        reporter,
    )?;
    if no_filter && projects.len() > 1 {
        let all: BTreeSet<String> = projects.iter().map(|p| p.importer_id.clone()).collect();
        check_cycles(&lockfile, &projects, &all, &config, reporter)?;
    }
    let importer_ids: Vec<String> = if no_filter {
        // The lockfile's importers whose projects are there: pnpm 12 leaves out one whose
        // directory is gone (a project deleted, the lockfile not yet updated), rather than
        // making its directory again to link its dependencies into.
        lockfile
            .importers
            .keys()
            .filter(|id| *id == "." || projects.iter().any(|p| p.importer_id == **id))
            .cloned()
            .collect()
    } else {
        let selected = filter::select_importers(
            &lockfile,
            &projects,
            &cwd,
            (&args.filter, &args.compat.filter_prod),
            &config.include,
        )?;
        match selected {
            Some(selected) => {
                reporter.emit(Event::ScopeSelected {
                    selected: selected.chosen.len(),
                    projects: projects.len(),
                });
                check_cycles(&lockfile, &projects, &selected.chosen, &config, reporter)?;
                selected.importer_ids
            }
            // pnpm 12 installs nothing, and fails only when asked to.
            None if args.fail_if_no_match => {
                reporter.emit(Event::ScopeNone {
                    projects: projects.len(),
                });
                return Err(CliError::new(
                    "ERR_PNPM_NO_MATCHING_PROJECTS",
                    format!(
                        "No projects matched the filters in \"{}\"",
                        config.lockfile_dir.display()
                    ),
                )
                .with_help("Use a project name from its package.json (wildcards allowed) or a path like ./packages/a."));
            }
            None => {
                reporter.emit(Event::ScopeNone {
                    projects: projects.len(),
                });
                // Nothing is installed, but a rejected lockfile still fails the command.
                supply_chain.verdict()?;
                reporter.emit(Event::Done {
                    elapsed: started.elapsed(),
                });
                return Ok(ExitCode::SUCCESS);
            }
        }
    };

    // The projects whose own scripts run and whose engines are checked: the selected ones,
    // even where the hoisted layout places the dependencies of more.
    let selected_ids = importer_ids.clone();
    let hoisted = config.node_linker == tack_config::NodeLinker::Hoisted;
    let importer_ids = if hoisted && !no_filter {
        filtered::with_recorded_hoisted_importers(
            importer_ids,
            &config.lockfile_dir.join(&config.modules_dir),
            &config.virtual_store_dir,
            &lockfile,
            &|id| id == "." || projects.iter().any(|p| p.importer_id == id),
        )
    } else {
        importer_ids
    };
    let selection = plan::Selection {
        importer_ids: &importer_ids,
        prod: config.include.dependencies,
        dev: config.include.dev_dependencies,
        optional: config.include.optional_dependencies,
    };
    // `.pnpm/lock.yaml` is needed only when the state files are written, and depends on the
    // lockfile and the selection alone. Rendering it (a few ms of one core for a large
    // lockfile) starts here, on a thread of its own, so that it runs while this thread
    // filters and plans on the other core, not while both cores import.
    let lockfile = Arc::new(lockfile);
    let mut render = {
        let (wanted, selected) = (Arc::clone(&lockfile), selection.to_owned());
        std::thread::Builder::new()
            .name("tack-lock-yaml".to_string())
            .spawn(move || current_lockfile(&wanted, &selected.as_selection()))
            .ok()
    };
    // The hoisted layout's tree depends on the lockfile and the selection alone too, and
    // nothing is imported before it is known: the hoister starts now, beside the filtering
    // and the plan (a few milliseconds each).
    let peers = hoisted_layout::PeerNames::for_auto_install_peers(config.auto_install_peers);
    let hoisting = hoisted
        .then(|| {
            let (wanted, selected) = (Arc::clone(&lockfile), selection.to_owned());
            std::thread::Builder::new()
                .name("tack-hoister".to_string())
                .spawn(move || {
                    hoisted_layout::hoisted_tree(&wanted, &selected.as_selection(), peers)
                })
                .ok()
        })
        .flatten();
    let mut host = host_probe.unwrap_or_else(|probe| {
        probe
            .join()
            .unwrap_or_else(|_| tack_config::installability::HostInfo::current())
    });
    settings = noop::with_node_version(settings, Some(host.node_version.as_deref()));
    // pnpm's `nodeVersion`: the version `engines.node` is checked against, whatever node runs.
    if let Some(version) = &config.node_version {
        host.node_version = Some(version.trim_start_matches('v').to_string());
    }
    for project in projects
        .iter()
        .filter(|p| selected_ids.contains(&p.importer_id))
    {
        if let Some(warning) = tack_config::project_engines::check_project_engines(
            &project.dir,
            &project.manifest.engines,
            host.node_version.as_deref(),
            config.engine_strict,
        )? {
            reporter.warn(warning.to_string());
        }
    }
    let filtered = tack_config::installability::filter_lockfile(
        &lockfile,
        &importer_ids,
        config.include,
        &host,
        &config.supported_architectures,
        config.engine_strict,
    )?;
    // In pnpm 12's words (its code is not printed), before "Lockfile is up to date".
    for warning in &filtered.warnings {
        reporter.warn(warning.message.clone());
    }
    if lockfile_up_to_date {
        reporter.emit(Event::LockfileUpToDate);
    }
    for skipped in &filtered.skipped {
        reporter.emit(Event::SkippedOptional {
            package_id: skipped.clone(),
            reason: "it is not compatible with this platform".to_string(),
        });
    }
    let installable: HashSet<String> = filtered.installable.iter().cloned().collect();
    let mut install_plan = plan::build(&lockfile, &config, &selection, &installable)?;
    blocked_dirs::check(&install_plan.link)?;
    install_plan.skipped = filtered.modules_skipped();
    install_plan.unselected = importer_ids
        .iter()
        .filter(|id| !selected_ids.contains(id))
        .cloned()
        .collect();
    // Kept for the counts of an install over the same lockfile (see `hoisted_counts`).
    let mut placed_tree = None;
    if hoisted {
        let tree = match hoisting {
            Some(handle) => handle
                .join()
                .map_err(|_| CliError::new("ERR_TACK_INTERNAL", "the hoister's thread failed"))?,
            // No thread could be started: the tree is made here.
            None => hoisted_layout::hoisted_tree(&lockfile, &selection, peers),
        };
        let placed = hoisted_layout::place(
            &tree,
            &lockfile,
            &config.lockfile_dir,
            &config.modules_dir,
            &|dep_path| installable.contains(dep_path),
        )?;
        hoisted_layout::apply(
            &mut install_plan,
            placed,
            config.settings.prefer_symlinked_executables,
        )?;
        placed_tree = Some(tree);
    }

    if config.settings.enable_global_virtual_store == Some(true) && !hoisted {
        global_slots::place_in_global_store(
            &mut install_plan,
            &lockfile,
            &config,
            &store,
            host.node_version.as_deref(),
        )?;
    }
    tack_fs::phase_timer::mark("plan");
    store.ensure_root()?;
    let link = &mut install_plan.link;
    link.force = args.compat.force;
    link.filtered = !no_filter;
    link.unlinked_projects = projects
        .iter()
        .filter(|p| !importer_ids.contains(&p.importer_id))
        .filter_map(|p| {
            p.manifest
                .name
                .clone()
                .map(|name| (p.importer_id.clone(), name, p.dir.clone()))
        })
        .collect();
    if config.settings.dedupe_direct_deps == Some(true) && link.hoisted.is_none() {
        plan::dedupe_direct_deps(link, &lockfile, &config.lockfile_dir, &installable);
    }
    link.modules_state.store_dir = store.root().to_path_buf();
    link.modules_state.included = IncludedGroups {
        dependencies: config.include.dependencies,
        dev_dependencies: config.include.dev_dependencies,
        optional_dependencies: config.include.optional_dependencies,
    };
    link.modules_state.skipped = install_plan.skipped.clone();
    // Every workspace project goes into the state and its manifest into the stamps, linked
    // or not: one without dependencies that gains some is no longer installable from this
    // lockfile.
    let other_projects: Vec<(PathBuf, tack_linker::ProjectInfo)> = projects
        .iter()
        .filter(|p| !importer_ids.contains(&p.importer_id))
        .map(|p| {
            (
                p.dir.clone(),
                tack_linker::ProjectInfo {
                    name: p.manifest.name.clone(),
                    version: p.manifest.version.clone(),
                },
            )
        })
        .collect();
    let manifest_stamps: std::collections::HashMap<PathBuf, &tack_linker::FileStamp> = projects
        .iter()
        .map(|p| (p.dir.join("package.json"), &p.stamp))
        .collect();
    let workspace_yaml_stamp = config
        .workspace_manifest
        .as_ref()
        .and_then(|ws| Some((ws.path.as_path(), ws.stamp.as_ref()?)));
    link.workspace_state = Some(WorkspaceStateInput {
        settings,
        filtered_install: !no_filter,
        pnpmfiles: tack_config::checksums::loaded_pnpmfiles(&config)
            .unwrap_or_default()
            .iter()
            .map(|path| path.to_string_lossy().into_owned())
            .collect(),
        config_dependencies: config
            .settings
            .config_dependencies
            .clone()
            .filter(|declared| declared.as_object().is_none_or(|map| !map.is_empty())),
        // Stamped as they were read, not when the state is written: a lockfile or manifest
        // changed while this install runs must not be recorded as installed. The lockfile's,
        // the manifests' and `pnpm-workspace.yaml`'s stamps are those taken as they were read
        // (see `tack_config::input_stamp`); pnpmfiles and patches are stamped now.
        validated_files: Vec::new(),
        stamped_files: noop::validated_files(
            &config.lockfile_dir,
            &lockfile_path,
            link.importers
                .iter()
                .map(|importer| importer.dir.as_path())
                .chain(other_projects.iter().map(|(dir, _)| dir.as_path())),
            config
                .patched_dependencies
                .values()
                .map(|rel| config.workspace_root.join(rel))
                .chain(config.pnpmfiles.iter().flatten().cloned()),
        )
        .into_iter()
        .filter_map(|file| {
            let stamp = if file == lockfile_path {
                lockfile_stamp.clone()
            } else if let Some(stamp) = manifest_stamps.get(&file) {
                Some((*stamp).clone())
            } else if let Some(stamp) = workspace_yaml_stamp.filter(|(path, _)| *path == file) {
                Some(stamp.1.clone())
            } else {
                tack_linker::stamp_with_digest(&file)
            };
            stamp.map(|stamp| (file, stamp))
        })
        .chain(noop::directory_source_stamps(
            link.packages.iter().filter_map(|pkg| match &pkg.files {
                tack_linker::PackageFiles::Directory(dir) => Some(dir.clone()),
                tack_linker::PackageFiles::Cas(_) => None,
            }),
        ))
        .collect(),
        other_projects,
    });

    // pnpm 12 records the setting with its keys sorted (by code unit, `JSONStream` before
    // `abc`), whatever their order in pnpm-workspace.yaml.
    let mut allow_builds: Vec<_> = config.allow_builds.clone().into_iter().collect();
    allow_builds.sort_by(|a, b| a.0.cmp(&b.0));
    link.modules_state.allow_builds = allow_builds.into_iter().collect();
    let root_modules = link.root_modules_dir();
    // pnpm 12 prints the store context only for a virtual store that was not there before,
    // even when it recreates the modules dir (another store, another hoist pattern).
    let had_virtual_store = link.virtual_store_dir.exists();
    // A verdict in already stops a rejected lockfile before anything changes (a purge of an
    // incompatible tree, the root project's `preinstall`).
    let supply_chain = supply_chain.early_verdict()?;
    // The last install's state, when this one keeps its tree (the hoisted layout starts
    // from what it placed).
    let mut kept_modules = None;
    if let Some(existing) = read_modules_yaml(&root_modules) {
        match check_compat(&existing, link)? {
            CompatAction::Keep => kept_modules = Some(existing),
            // Silently, as pnpm 12 recreates it.
            // A filtered install would take the other projects' trees with it.
            CompatAction::PurgeAndReinstall { reason } if !no_filter => {
                return Err(modules_conflict::filtered_install_refused(
                    &reason, &existing, link,
                ));
            }
            CompatAction::PurgeAndReinstall { reason: _ } => {
                // A virtual store outside the modules dir (`virtualStoreDir: .vstore`) goes
                // too: its packages are linked from the old store, and its recorded lockfile
                // would let them be trusted.
                let recorded_vstore = (!existing.virtual_store_dir.is_empty())
                    .then(|| plan::normalize(&root_modules.join(&existing.virtual_store_dir)));
                purge_modules_dir(&root_modules)?;
                if let Some(vstore) = recorded_vstore.filter(|vs| {
                    !vs.starts_with(&root_modules)
                        && !config.lockfile_dir.starts_with(vs)
                        && vs.join("lock.yaml").is_file()
                }) {
                    purge_modules_dir(&vstore)?;
                }
            }
        }
    }

    // An install of no package (no dependencies, links to workspace projects only, or
    // `--prod` of dev dependencies only): pnpm 12 prints no store context and no progress,
    // and says "Already up to date". Nor does it over an existing virtual store, recorded
    // lockfile or not (observed: a deleted `.pnpm/lock.yaml`, a deleted package directory,
    // `--force`).
    let nothing_to_import = link.packages.is_empty();
    if !nothing_to_import && !had_virtual_store {
        reporter.emit(Event::Context {
            store_dir: store.root().display().to_string(),
            virtual_store_dir: tack_fs::relative_path(&project_dir, &link.virtual_store_dir)
                .display()
                .to_string(),
        });
    }

    let runtime = crate::fetch::runtime(Some(2))?;
    let builds = Arc::new(build::Builds::new(
        &lockfile,
        &install_plan,
        &config,
        host.node_version.as_deref(),
    )?);
    // Built only when something must be downloaded: the HTTP client loads its root
    // certificates (unless `early_client` did that already), and the index writer
    // opens SQLite and starts a thread, none of which a warm install needs.
    let mut index_writer = WriterGuard {
        writer: None,
        reporter,
    };
    let make_fetcher = || -> Result<Option<tack_tarball::Fetcher>, CliError> {
        if config.offline {
            return Ok(None);
        }
        let writer = Arc::new(IndexWriter::spawn(&store)?);
        index_writer.writer = Some(Arc::clone(&writer));
        crate::fetch::fetcher(fetch_options.clone(), writer, early_client.take()).map(Some)
    };
    let rendered_lockfile = |render: Option<std::thread::JoinHandle<String>>| match render {
        Some(render) => render.join().map_err(|_| {
            CliError::new(
                "ERR_TACK_INTERNAL",
                "rendering node_modules/.pnpm/lock.yaml failed",
            )
        }),
        // No thread could be started: render it here.
        None => Ok(current_lockfile(&lockfile, &selection)),
    };
    // Over an existing virtual store, the record of the last complete install is checked
    // before anything changes: the same lockfile and layout let the linker trust the reused
    // packages' links; otherwise the record is deleted first (see
    // `tack_linker::check_recorded_tree`).
    let mut rendered = None;
    let mut trusted_tree = false;
    // The lockfile the last install recorded: the summary lists the direct dependencies that
    // changed since.
    let mut previous_current = summary::Recorded::Nothing;
    // Whether `.pnpm/lock.yaml` would record no dependency of any project.
    let mut current_is_empty = current_installs_nothing(&lockfile, &selection);
    let verdict_gate = verdict_gate::VerdictGate::new(supply_chain, &install_plan.link)?;
    let verdict_gate = if install_plan.link.hoisted.is_some() {
        // The hoisted layout's package directories are the project's own `node_modules`:
        // nothing goes there before the verdict.
        verdict_gate.pass(&install_plan.link, None)?;
        None
    } else {
        Some(verdict_gate)
    };
    let modules_dir_created = !install_plan.link.root_modules_dir().exists();
    if let Some(layout) = install_plan.link.hoisted.as_mut() {
        layout.fresh = modules_dir_created;
    }
    let interrupted = in_progress::begin(&install_plan.link.root_modules_dir())?;
    // pnpm 12 counts what the last install left in place before anything is cleared.
    let in_place = hoisted_counts::dirs_in_place(&install_plan.link, kept_modules.as_ref());
    install_plan.hoisted_counts.added =
        hoisted_counts::added_by_package(&install_plan.link, &in_place);
    hoisted_layout::clear_for_import(
        &install_plan.link,
        kept_modules.as_ref(),
        &in_place,
        !interrupted,
    )?;
    if install_plan.link.install_state_dir.exists() {
        // The no-op check's list goes first: until this install writes it again at its very
        // end, the next one cannot answer "Already up to date" over what this one changes.
        build::forget_markers(&install_plan.link);
        let mut yaml = rendered_lockfile(render.take())?;
        let recorded_path = install_plan.link.current_lockfile_path();
        let recorded = std::fs::read(&recorded_path).ok();
        let parse_recorded = |old: &[u8]| {
            std::str::from_utf8(old)
                .ok()
                .and_then(|old| Lockfile::from_str(old, &recorded_path).ok())
        };
        let mut parsed = None;
        if !no_filter {
            // The projects this install leaves alone stay recorded as they were.
            if let Some(old) = recorded.as_deref().and_then(parse_recorded) {
                let current = narrowed_lockfile(&lockfile, &selection)
                    .unwrap_or_else(|| Lockfile::clone(&lockfile));
                let others = filtered::merge_recorded(current, &old, &importer_ids, &lockfile);
                yaml = others.merged.to_yaml_string();
                let max_length = config.virtual_store_dir_max_length;
                install_plan.link.kept_for_other_projects = tack_linker::KeptPackages {
                    dir_names: others
                        .kept
                        .iter()
                        .map(|dep_path| tack_lockfile::dep_path_to_filename(dep_path, max_length))
                        .collect(),
                    dep_paths: others.kept,
                };
                // The optional packages skipped for the projects left alone stay recorded
                // as skipped, as pnpm 12 keeps them.
                if let Some(recorded) = kept_modules.as_ref() {
                    let skipped =
                        build::with_kept(&install_plan.skipped, &recorded.skipped, &install_plan);
                    install_plan.link.modules_state.skipped = skipped.clone();
                    install_plan.skipped = skipped;
                }
                current_is_empty = is_empty_lockfile(&others.merged);
                parsed = Some(old);
            }
        }
        previous_current = match recorded.as_deref() {
            Some(old) if old == yaml.as_bytes() => summary::Recorded::Same,
            Some(old) => parsed
                .or_else(|| parse_recorded(old))
                .map_or(summary::Recorded::Nothing, |old| {
                    summary::Recorded::Other(Box::new(old))
                }),
            None => summary::Recorded::Nothing,
        };
        // An optional package whose directory is gone (its build failed last time) is not
        // in the record as pnpm 12 reads it: listed again, and its dependents linked anew.
        let missing = missing_optional::missing(&install_plan.link, &lockfile);
        if !missing.is_empty() {
            previous_current = match previous_current {
                summary::Recorded::Same => recorded.as_deref().and_then(parse_recorded).map_or(
                    summary::Recorded::Nothing,
                    |old| {
                        summary::Recorded::Other(Box::new(missing_optional::without(
                            &old, &missing,
                        )))
                    },
                ),
                summary::Recorded::Other(old) => {
                    summary::Recorded::Other(Box::new(missing_optional::without(&old, &missing)))
                }
                summary::Recorded::Nothing => summary::Recorded::Nothing,
            };
        }
        trusted_tree =
            tack_linker::check_recorded_tree(&install_plan.link, Some(&yaml), recorded.as_deref())?
                && same_direct_dedupe(&install_plan.link)
                && !args.compat.force;
        rendered = Some(yaml);
    }
    // pnpm 12 counts a package as removed when the recorded lockfile has it and this one
    // does not, whether or not the prune deletes its directory now; peer variants of one
    // version dropped together count once.
    let mut dropped_since_recorded = None;
    // What this install records (with the packages kept for the projects it leaves alone).
    let mut recorded_now = HashSet::new();
    if let summary::Recorded::Other(previous) = &previous_current {
        recorded_now = plan::reachable(&lockfile, &selection)
            .into_iter()
            .chain(
                install_plan
                    .link
                    .kept_for_other_projects
                    .dep_paths
                    .iter()
                    .cloned(),
            )
            .collect();
        let now = &recorded_now;
        dropped_since_recorded = Some(
            previous
                .snapshots
                .keys()
                .filter(|dep_path| !now.contains(*dep_path))
                .map(|dep_path| tack_lockfile::remove_suffix(dep_path))
                .collect::<HashSet<_>>()
                .len(),
        );
        install_plan.link.recorded_direct_deps = previous
            .importers
            .iter()
            .map(|(id, importer)| {
                let aliases = importer.all_deps().map(|(alias, ..)| alias.clone());
                (id.clone(), aliases.collect())
            })
            .collect();
    }
    let hoisted_removed = match &placed_tree {
        Some(tree) => Some(hoisted_counts::removed_since(
            &install_plan.link,
            &previous_current,
            tree,
            &lockfile,
            installable.len() == lockfile.snapshots.len(),
            &config.modules_dir,
            peers,
        )?),
        None => None,
    };
    let linked_already = match previous_current {
        summary::Recorded::Nothing => summary::linked_already(&install_plan.link, &project_dir),
        _ => HashSet::new(),
    };
    // Under the global virtual store every package counts as recorded: pnpm 12 counts only
    // the slots it has to fill, whatever this project's record says. With `--force` none
    // does: pnpm 12 counts every package as added, and builds again in its stage a package
    // allowed to build (its cached build, if any, put in instead of running the scripts).
    let shared = install_plan.link.shared_slots;
    let force = install_plan.link.force;
    install_plan.recorded = install_plan
        .link
        .packages
        .iter()
        .map(|pkg| {
            !force
                && (shared
                    || !interrupted
                        && previous_current.has_package(&pkg.dep_path, &lockfile, &recorded_now))
        })
        .collect();
    // A filtered install is never one of these: pnpm 12 says "Already up to date" there, and
    // so it does when the dependency groups changed (`--prod`, then a full install of a project
    // without dev dependencies).
    let same_groups = kept_modules
        .as_ref()
        .is_some_and(|recorded| recorded.included == install_plan.link.modules_state.included);
    // Without the last install's workspace state pnpm 12 takes no tree as untouched: it says
    // "Already up to date" and lists the optional dependencies it skips. (Read before this
    // install writes its own, once its dependencies are built.)
    let without_state =
        tack_linker::read_workspace_state(&install_plan.link.lockfile_dir.join("node_modules"))
            .is_none();
    // In the hoisted layout, an install over the same lockfile whose every directory is in
    // place is one pnpm 12 does not run at all: nothing is counted, not even as resolved
    // (see `untouched` below; this layout links no direct dependency again but `link:` ones,
    // which its record lists too).
    let counts = &mut install_plan.hoisted_counts;
    counts.unannounced = hoisted
        && matches!(previous_current, summary::Recorded::Same)
        && no_filter
        && same_groups
        && counts.added.iter().all(|&n| n == 0);
    tack_fs::phase_timer::mark("setup");
    // Shared with the import threads as it is: cloning the plan per install (or per
    // package) showed up in warm-install profiles.
    let install_plan = Arc::new(install_plan);
    // From here until the linker's last step is done, an error takes back the links made.
    let early_top_level = tack_linker::EarlyTopLevel::default();
    let unless_linked =
        withdraw::WithdrawUnlessLinked::new(&install_plan.link, &early_top_level, reporter);
    let result = materialize::materialize(
        &install_plan,
        &store,
        make_fetcher,
        materialize::MaterializeOptions {
            verify_store_integrity: config.verify_store_integrity,
            link_top_level_early: install_plan.link.hoisted.is_none()
                && verdict_gate.as_ref().is_none_or(|gate| !gate.is_pending()),
            early_top_level: &early_top_level,
        },
        reporter,
        &runtime,
        &builds,
    );
    runtime.shutdown_background();
    // On an error, `index_writer` still waits for the rows queued so far (see
    // `WriterGuard`), so the next run reuses what was downloaded.
    // pnpm 12's order: a rejected lockfile's error goes before a download's.
    let mut materialized = match result {
        Ok(materialized) => materialized,
        Err(error) => {
            return Err(verdict_gate
                .and_then(|gate| gate.pass(&install_plan.link, None).err())
                .unwrap_or(error))
        }
    };
    materialized.summary.trusted_tree = trusted_tree;
    let rendered = match rendered {
        Some(rendered) => rendered,
        None => rendered_lockfile(render.take())?,
    };
    // Set once, here: nothing else sets it. Left unset, the linker removes `.pnpm/lock.yaml`:
    // pnpm 12 records no lockfile whose importers install nothing (and makes no `.pnpm`).
    if !current_is_empty {
        let _ = install_plan.link.current_lockfile_yaml.set(rendered);
    }
    // What is left to build is known now; the state files record the build step's outcome.
    let build_graph = builds.graph(&install_plan, &materialized);
    tack_fs::phase_timer::mark("build graph");

    // The writer commits its last rows, and SQLite checkpoints the WAL as it closes (two
    // fsyncs; the earlier batches were checkpointed as they were committed), while the
    // links are made.
    if let Some(writer) = &index_writer.writer {
        writer.seal();
    }
    // The project's links, its state files and the builds wait for the lockfile's verdict.
    if let Some(gate) = verdict_gate {
        gate.pass(&install_plan.link, Some(&materialized.summary.outcomes))?;
    }
    tack_fs::phase_timer::mark("supply-chain verdict");
    let report = tack_linker::finish(&install_plan.link, &materialized.summary)?;
    unless_linked.linked();
    for warning in &report.warnings {
        reporter.warn(warning.clone());
    }
    tack_fs::phase_timer::mark("linker finish");
    if let Some(writer) = &index_writer.writer {
        writer.finish()?;
    }
    tack_fs::phase_timer::mark("index flushed");
    // Linked: pnpm 12 prints the counts and the final progress line before any build output.
    // A package found in place that the recorded lockfile lacks is linked anew: pnpm 12
    // counts it as added.
    let linked_anew = install_plan
        .link
        .packages
        .iter()
        .zip(&install_plan.recorded)
        .filter(|(pkg, recorded)| {
            !**recorded
                && materialized.summary.outcomes.get(&pkg.dep_path)
                    == Some(&tack_linker::ImportOutcome::Reused)
        })
        .count();
    let (added, removed) = match hoisted_removed {
        // Directories, as pnpm 12 counts them in the hoisted layout (see `hoisted_counts`);
        // the imports announced each one added.
        Some(removed) => (install_plan.hoisted_counts.added.iter().sum(), removed),
        // A filtered install removes nothing, and pnpm 12 counts nothing removed then,
        // whatever the lockfile dropped since the last install.
        None => (
            report.imported + report.repaired + linked_anew,
            dropped_since_recorded
                .filter(|_| no_filter)
                .unwrap_or(report.removed_packages.len()),
        ),
    };
    let quiet = nothing_to_import && added == 0 && removed == 0;
    let entries = summary::summary(
        &install_plan,
        &materialized.summary,
        &lockfile,
        &selection,
        &previous_current,
        &project_dir,
        &summary::Linked {
            already: &linked_already,
            anew: &report.linked_anew,
            without_state,
        },
    );
    // Over a tree that needed nothing (the lockfile it records is this one, and nothing was
    // added, removed or linked again: its inputs touched, a setting changed that changes no
    // package), pnpm 12 says no more than that the lockfile is up to date: no "Already up to
    // date", and no ignored builds again.
    let relinked_only = matches!(previous_current, summary::Recorded::Same);
    // (In the hoisted layout, all that is removed over the same lockfile is what this host
    // skips, which pnpm 12 counts only when it installs anything.)
    let removed_anything = removed > 0 && hoisted_removed.is_none();
    let untouched = relinked_only
        && !without_state
        && no_filter
        && same_groups
        && added == 0
        && !removed_anything
        && entries.is_empty()
        && report.linked_anew.is_empty();
    // pnpm 12 says so whenever no package was added or removed, over a tree that needed
    // something: even while it lists the direct dependencies it linked or unlinked (one
    // removed from package.json that another package still uses, a workspace project linked,
    // one moved to the group installed alone), or the links it made again to complete slots
    // of the global virtual store; before any build output and before its final progress line.
    if quiet || (added == 0 && removed == 0 && !untouched) {
        reporter.emit(Event::AlreadyUpToDate);
    }
    if !quiet {
        // What this host skips is not counted over a tree pnpm 12 would not install again.
        let removed = if untouched { 0 } else { removed };
        reporter.emit(Event::ImportingDone { added, removed });
    }
    if untouched {
        builds.leave_ignored_unsaid();
    }
    let built = builds.run(
        &install_plan,
        &build_graph,
        &materialized,
        &report,
        &store,
        &config,
        reporter,
    );
    let discarded = builds.discarded();
    if built.is_ok() && (builds.changed_packages() || !discarded.is_empty()) {
        // A package built in its first hoisted directory is copied to its others (not one
        // the build step took out of the tree).
        let copied: Vec<bool> = materialized
            .preps
            .iter()
            .zip(&install_plan.link.packages)
            .map(|(prep, pkg)| {
                prep.as_ref().is_some_and(|prep| prep.force_copy)
                    && !discarded.contains(&pkg.dep_path)
            })
            .collect();
        tack_linker::copy_built_packages(&install_plan.link, &|i| {
            copied.get(i).copied().unwrap_or(false)
        })?;
        // Scripts may have replaced bin targets (a native binary instead of a JS launcher),
        // and the packages whose build failed are gone.
        tack_linker::relink_bins(&install_plan.link, &discarded)?;
    }
    if !matches!(built, Ok(None)) {
        // The next run must not answer "Already up to date" for a tree whose builds failed
        // or were refused.
        build::forget_markers(&install_plan.link);
    }
    let deferred = built?;
    // Every build and patch this install had to run ran (ignored builds are recorded as such).
    in_progress::end(&install_plan.link.root_modules_dir());
    if deferred.is_none() {
        noop::write_markers(&install_plan.link)?;
    }

    tack_fs::phase_timer::mark("builds + markers");
    if !entries.is_empty() || (!quiet && (added > 0 || removed > 0)) {
        reporter.emit(Event::Summary(entries));
    }
    if let Some(err) = deferred {
        return Err(err);
    }
    reporter.emit(Event::Done {
        elapsed: started.elapsed(),
    });
    // The process exits next. Freeing every index row and lockfile entry one allocation at
    // a time took a few ms at the end of a warm install, for memory the OS takes back at
    // once; `tack` runs one install per process. The plan and the build facts (a path per
    // package and edge) went the same way.
    std::mem::forget(materialized);
    std::mem::forget(lockfile);
    std::mem::forget(install_plan);
    std::mem::forget(builds);
    std::mem::forget(build_graph);
    Ok(ExitCode::SUCCESS)
}

/// The install's index writer, if it started one. Whichever way `run` returns, dropping
/// this waits for the writer's last commit: every row queued names files that are complete
/// in the CAS, and a row lost at exit only costs a re-fetch, but costs it every time. The
/// writer's own `Drop` is not enough: a fetcher task that the runtime's background
/// shutdown has not dropped yet may hold the last `Arc`, and the process would exit first.
/// The success path calls `finish` itself to report its error; a second call is a no-op.
struct WriterGuard<'r> {
    writer: Option<Arc<IndexWriter>>,
    reporter: &'r Reporter,
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        if let Some(writer) = &self.writer {
            if let Err(e) = writer.finish() {
                self.reporter.warn(e.to_string());
            }
        }
    }
}

/// The current lockfile (`node_modules/.pnpm/lock.yaml`): the wanted one with the excluded
/// dependency groups dropped from the selected importers (unselected ones are dropped whole,
/// as `--filter` does; over an earlier install, [`filtered::merge_recorded`] puts back what
/// it recorded for them), and only the packages those importers still reach. Skipped optional
/// packages stay in it; snapshots are kept as they are (observed with pnpm 12 for `--prod` and
/// `--no-optional`).
fn current_lockfile(wanted: &Lockfile, selection: &plan::Selection<'_>) -> String {
    match narrowed_lockfile(wanted, selection) {
        Some(current) => current.to_yaml_string(),
        None => wanted.to_yaml_string(),
    }
}

/// Whether no importer of `lockfile` has a dependency (pnpm's `isEmptyLockfile`).
fn is_empty_lockfile(lockfile: &Lockfile) -> bool {
    lockfile
        .importers
        .values()
        .all(|importer| importer.all_deps().next().is_none())
}

/// Whether the current lockfile of `selection` ([`narrowed_lockfile`]) has no dependency in
/// any importer, without building it.
fn current_installs_nothing(wanted: &Lockfile, selection: &plan::Selection<'_>) -> bool {
    wanted
        .importers
        .iter()
        .filter(|(id, _)| selection.importer_ids.contains(*id))
        .all(|(_, importer)| {
            (!selection.prod || importer.dependencies.is_empty())
                && (!selection.dev || importer.dev_dependencies.is_empty())
                && (!selection.project_optional() || importer.optional_dependencies.is_empty())
        })
}

/// The part of `wanted` that `selection` installs, or `None` when that is all of it.
fn narrowed_lockfile(wanted: &Lockfile, selection: &plan::Selection<'_>) -> Option<Lockfile> {
    let all_importers = wanted
        .importers
        .keys()
        .all(|id| selection.importer_ids.contains(id));
    if selection.prod && selection.dev && selection.optional && all_importers {
        return None;
    }
    let mut current = wanted.clone();
    current
        .importers
        .retain(|id, _| selection.importer_ids.contains(id));
    for importer in current.importers.values_mut() {
        if !selection.prod {
            importer.dependencies.clear();
        }
        if !selection.dev {
            importer.dev_dependencies.clear();
        }
        if !selection.project_optional() {
            importer.optional_dependencies.clear();
        }
    }
    let reachable: HashSet<String> = plan::reachable(wanted, selection).into_iter().collect();
    current
        .snapshots
        .retain(|dep_path, _| reachable.contains(dep_path));
    let packages: HashSet<&str> = reachable
        .iter()
        .map(|d| tack_lockfile::remove_suffix(d))
        .collect();
    current
        .packages
        .retain(|key, _| packages.contains(key.as_str()));
    Some(current)
}

/// The projects a frozen install checks against the lockfile: the root and, in a workspace,
/// every project matched by `packages`.
fn projects(config: &Config) -> Result<Vec<tack_config::Project>, CliError> {
    let globs = config
        .workspace_manifest
        .as_ref()
        .map(|ws| ws.packages.clone())
        .unwrap_or_default();
    Ok(tack_config::find_workspace_projects(
        &config.workspace_root,
        &globs,
    )?)
}

/// Empties a modules dir whose layout is incompatible, keeping nothing half-removed behind:
/// the dir is first renamed aside, then deleted.
/// Moves `modules_dir` (a modules dir or a virtual store) aside and removes it.
fn purge_modules_dir(modules_dir: &Path) -> Result<(), CliError> {
    let aside = tack_fs::temp_sibling(modules_dir).map_err(CliError::from)?;
    fs_err::rename(modules_dir, &aside)
        .and_then(|()| fs_err::remove_dir_all(&aside))
        .map_err(|e| CliError::new("ERR_TACK_PURGE", e.to_string()))
}

/// pnpm 12's deprecation of `$name` override values, in its words, on every install.
fn warn_of_version_references(config: &Config, reporter: &Reporter) {
    let users: Vec<&str> = config
        .overrides
        .iter()
        .filter(|(_, value)| value.starts_with('$'))
        .map(|(selector, _)| selector.as_str())
        .collect();
    if !users.is_empty() {
        reporter.warn(format!(
            "The \"$\" version reference syntax in overrides is deprecated (used by: {}). Define the version in a catalog and reference it with the \"catalog:\" protocol instead. See https://pnpm.io/catalogs",
            users.join(", ")
        ));
    }
}

/// pnpm 12's check of the workspace projects an install selects (`scope`): cycles among them
/// are a warning, an error with `disallowWorkspaceCycles`, nothing with
/// `ignoreWorkspaceCycles`.
fn check_cycles(
    lockfile: &Lockfile,
    projects: &[tack_config::Project],
    scope: &BTreeSet<String>,
    config: &Config,
    reporter: &Reporter,
) -> Result<(), CliError> {
    if config.settings.ignore_workspace_cycles == Some(true) {
        return Ok(());
    }
    let cycles = project_graph::ProjectGraph::new(lockfile, projects).cycles(scope);
    if cycles.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = cycles
        .iter()
        .map(|cycle| {
            let dirs: Vec<String> = cycle.iter().map(|d| d.display().to_string()).collect();
            dirs.join(", ")
        })
        .collect();
    let message = format!(
        "There are cyclic workspace dependencies: {}",
        listed.join("; ")
    );
    if config.settings.disallow_workspace_cycles == Some(true) {
        return Err(CliError::new("ERR_PNPM_DISALLOW_WORKSPACE_CYCLES", message).with_help(
            "Break the cycle (a project's dependencies, devDependencies and optionalDependencies count), or set disallowWorkspaceCycles: false.",
        ));
    }
    reporter.warn(message);
    Ok(())
}

/// Whether the last install linked the projects' direct dependencies with the
/// `dedupeDirectDeps` this one has: the setting changes which links a workspace project has,
/// and neither the lockfile nor `.modules.yaml` records it (the workspace state does, as
/// pnpm 12 writes it). Trusted across a change, the links of the other value stayed.
fn same_direct_dedupe(link: &tack_linker::LinkPlan) -> bool {
    let key = "dedupeDirectDeps";
    let recorded = tack_linker::read_workspace_state(&link.root_modules_dir());
    let wanted = link
        .workspace_state
        .as_ref()
        .map(|state| state.settings.get(key));
    let recorded = recorded.as_ref().map(|state| state.settings.get(key));
    let as_bool =
        |value: Option<&serde_json::Value>| value.and_then(|v| v.as_bool()).unwrap_or(false);
    match (wanted, recorded) {
        (Some(wanted), Some(recorded)) => as_bool(wanted) == as_bool(recorded),
        // No state is written: nothing to compare.
        (None, _) => true,
        (Some(_), None) => false,
    }
}
