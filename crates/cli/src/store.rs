//! `tack store path|status|prune|verify`: thin printing over `tack_store_dir::commands`.

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;

use tack_config::CliOverrides;
use tack_lockfile::Lockfile;
use tack_store_dir::commands::prune_links::LinksOutcome;
use tack_store_dir::commands::{prune, status, verify};
use tack_store_dir::StoreIndex;

use crate::args::{StoreArgs, StoreCommand};
use crate::error::CliError;
use crate::install::{self, plan};
use crate::reporter::Reporter;

pub fn run(
    dir: Option<&Path>,
    command: &StoreCommand,
    reporter: &Reporter,
) -> Result<ExitCode, CliError> {
    let (StoreCommand::Path(args)
    | StoreCommand::Status(args)
    | StoreCommand::Prune(args)
    | StoreCommand::Verify(args)) = command;
    let cwd = install::working_dir(dir)?;
    let config = install::load_config(&cwd, overrides(args), reporter)?;
    let store = install::store_dir_for(&config);
    // Opening the index creates it: a mistyped `--store-dir` would become an empty store
    // reported "intact".
    if !matches!(command, StoreCommand::Path(_)) && !store.root().is_dir() {
        return Err(CliError::new(
            "ERR_TACK_NO_STORE",
            format!("There is no store at {}", store.root().display()),
        )
        .with_help("Check --store-dir (or storeDir): `tack store path` prints the store this project uses."));
    }
    match command {
        StoreCommand::Path(_) => {
            println!("{}", store.root().display());
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::Status(_) => store_status(&config, &store),
        StoreCommand::Prune(_) => {
            let options = prune::PruneOptions {
                in_use_keys: keys_in_use(&store),
                ..prune::PruneOptions::default()
            };
            let report = prune::prune(&store, &options)?;
            print_links_outcome(&report.links, &options);
            // pnpm 12 writes these lines to stderr, sizes in bytes.
            eprintln!("Removed all cached metadata files");
            eprintln!(
                "Removed {} file{} ({} bytes)",
                report.removed_files,
                plural(report.removed_files),
                report.removed_bytes
            );
            eprintln!(
                "Removed {} package{}",
                report.removed_packages,
                plural(report.removed_packages)
            );
            if report.undecodable_rows > 0 {
                eprintln!(
                    "Kept {} package index entr{} that could not be read",
                    report.undecodable_rows,
                    if report.undecodable_rows == 1 {
                        "y"
                    } else {
                        "ies"
                    }
                );
            }
            if report.removed_side_effects > 0 {
                eprintln!(
                    "Removed {} cached build{} whose files were removed",
                    report.removed_side_effects,
                    plural(report.removed_side_effects)
                );
            }
            if report.removed_set_aside_indexes > 0 {
                eprintln!(
                    "Removed {} damaged store index{} set aside by an earlier install",
                    report.removed_set_aside_indexes,
                    if report.removed_set_aside_indexes == 1 {
                        ""
                    } else {
                        "es"
                    }
                );
            }
            if report.skipped_young_files > 0 {
                eprintln!(
                    "Kept {} unreferenced file(s) written in the last {} minutes (an install may be using them)",
                    report.skipped_young_files,
                    options.grace_period.as_secs() / 60
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::Verify(_) => {
            let report = verify::verify_store(&store)?;
            println!(
                "Checked {} packages ({} files) in {}",
                report.checked_packages,
                report.checked_files,
                store.root().display()
            );
            if report.ok() {
                println!("The store is intact");
                return Ok(ExitCode::SUCCESS);
            }
            for key in &report.corrupt_rows {
                println!("  undecodable index row dropped: {key}");
            }
            for pkg in &report.bad_packages {
                println!("  damaged package dropped (it will be fetched again): {pkg}");
            }
            for file in &report.bad_files {
                println!("  removed bad file: {}", file.display());
            }
            Err(CliError::new(
                "ERR_TACK_STORE_CORRUPTED",
                format!(
                    "{} package(s) in the store had damaged files; they were removed from the index",
                    report.bad_packages.len() + report.corrupt_rows.len()
                ),
            )
            .with_help("The next `tack install` downloads the removed packages again."))
        }
    }
}

/// The index keys of the packages every registered project has installed, from the record of
/// its last complete install (`lock.yaml` in its virtual store, as `.modules.yaml` places
/// it). A project whose record is missing or unreadable protects nothing, as with pnpm 12.
/// Git dependencies are keyed by their prepared build and are not counted.
fn keys_in_use(store: &tack_store_dir::StoreDir) -> HashSet<String> {
    let mut keys = HashSet::new();
    for project in tack_store_dir::registered_projects(store).unwrap_or_default() {
        let modules_dir = project.join("node_modules");
        let virtual_store = tack_linker::read_modules_yaml(&modules_dir)
            .map(|state| state.virtual_store_dir)
            .filter(|dir| !dir.is_empty())
            .map_or_else(|| modules_dir.join(".pnpm"), |dir| modules_dir.join(dir));
        let Ok(Some(lockfile)) = Lockfile::read_from_path(&virtual_store.join("lock.yaml")) else {
            continue;
        };
        for dep_path in lockfile.snapshots.keys() {
            let Some(info) = lockfile.package(dep_path) else {
                continue;
            };
            if matches!(
                info.resolution,
                tack_lockfile::Resolution::Git { .. }
                    | tack_lockfile::Resolution::Tarball {
                        git_hosted: true,
                        ..
                    }
            ) {
                continue;
            }
            if let Some(integrity) = info.resolution.integrity() {
                keys.insert(tack_store_dir::store_index_key(
                    integrity,
                    &lockfile.package_id(dep_path),
                ));
            }
        }
    }
    keys
}

/// pnpm 12's lines for the global virtual store's prune, and tack's for the slots it kept.
fn print_links_outcome(outcome: &LinksOutcome, options: &prune::PruneOptions) {
    match outcome {
        LinksOutcome::NoLinks => {}
        LinksOutcome::NoProjects => eprintln!("No registered projects for global virtual store"),
        LinksOutcome::Unused { projects } => {
            eprintln!("Checking {projects} registered project(s) for global virtual store usage");
            eprintln!("No registered project uses the global virtual store");
        }
        LinksOutcome::Swept {
            projects,
            removed,
            kept_young,
        } => {
            eprintln!("Checking {projects} registered project(s) for global virtual store usage");
            match removed {
                0 => eprintln!("No unused packages found in global virtual store"),
                1 => eprintln!("Removed 1 package from global virtual store"),
                n => eprintln!("Removed {n} packages from global virtual store"),
            }
            if *kept_young > 0 {
                eprintln!(
                    "Kept {kept_young} unused package(s) of the global virtual store made in the last {} minutes (an install may be linking them)",
                    options.grace_period.as_secs() / 60
                );
            }
        }
    }
}

fn overrides(args: &StoreArgs) -> CliOverrides {
    CliOverrides {
        store_dir: args.store_dir.clone(),
        ..CliOverrides::default()
    }
}

/// Compares every package directory of the installed tree with its index row.
fn store_status(
    config: &tack_config::Config,
    store: &tack_store_dir::StoreDir,
) -> Result<ExitCode, CliError> {
    let current = config.virtual_store_dir.join("lock.yaml");
    let wanted = config.lockfile_dir.join("pnpm-lock.yaml");
    let lockfile = match Lockfile::read_from_path(&current)? {
        Some(l) => l,
        None => Lockfile::read_from_path(&wanted)?.ok_or_else(|| {
            CliError::new(
                "ERR_PNPM_NO_LOCKFILE",
                format!("No lockfile found in {}", config.lockfile_dir.display()),
            )
            .with_help("Run `tack install` first.")
        })?,
    };
    let ids: Vec<String> = lockfile.importers.keys().cloned().collect();
    let selection = plan::Selection {
        importer_ids: &ids,
        prod: true,
        dev: true,
        optional: true,
    };
    let installable: HashSet<String> = plan::reachable(&lockfile, &selection).into_iter().collect();
    let built = plan::build(&lockfile, config, &selection, &installable)?;
    let mut keyed = Vec::new();
    for (pkg, src) in built.link.packages.iter().zip(&built.sources) {
        if let Some(store_key) = src.source.store_key() {
            let dir = built.link.package_dir(pkg);
            if dir.exists() {
                keyed.push((store_key.to_string(), dir, pkg.dep_path.clone()));
            }
        }
    }
    let keys: Vec<String> = keyed.iter().map(|(k, _, _)| k.clone()).collect();
    let rows = StoreIndex::open(store)?.get_many(&keys)?;
    // A package without its record (dropped by `store verify` or `prune`, or one that does not
    // decode) cannot be checked: it is reported, never counted as untouched.
    let unknown: Vec<&str> = keyed
        .iter()
        .filter(|(key, _, _)| !rows.contains_key(key))
        .map(|(_, _, dep_path)| dep_path.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(CliError::new(
            "ERR_TACK_STORE_STATUS_UNKNOWN",
            format!(
                "{} installed package(s) have no record in the store, so they could not be checked: {}",
                unknown.len(),
                unknown.join(", ")
            ),
        )
        .with_help("Run `tack install` to fetch them into the store again, then `tack store status`."));
    }
    let pairs: Vec<(&Path, &tack_store_dir::PackageFilesIndex)> = keyed
        .iter()
        .filter_map(|(key, dir, _)| rows.get(key).map(|row| (dir.as_path(), row)))
        .collect();
    let mut report = status::status(pairs);
    // A built or patched package differs from its base files by a side-effects cache entry:
    // it is untouched when it matches the base files with one of its entries applied.
    report.modified.retain(|m| {
        let Some((key, _, _)) = keyed.iter().find(|(_, dir, _)| *dir == m.package_dir) else {
            return true;
        };
        let Some(row) = rows.get(key) else {
            return true;
        };
        let entries = row
            .side_effects
            .as_ref()
            .map(|e| e.keys().cloned().collect::<Vec<_>>());
        !entries.unwrap_or_default().iter().any(|cache_key| {
            let Ok(Some(files)) = tack_build::apply_side_effects(row, cache_key) else {
                return false;
            };
            let built = tack_store_dir::PackageFilesIndex {
                files,
                side_effects: None,
                ..row.clone()
            };
            status::status([(m.package_dir.as_path(), &built)]).untouched()
        })
    });
    if report.untouched() {
        println!("Packages in the store are untouched");
        return Ok(ExitCode::SUCCESS);
    }
    let list: Vec<String> = report
        .modified
        .iter()
        .map(|m| {
            let dep_path = keyed
                .iter()
                .find(|(_, dir, _)| *dir == m.package_dir)
                .map(|(_, _, d)| d.as_str())
                .unwrap_or("?");
            format!("{dep_path} ({})", m.files.join(", "))
        })
        .collect();
    Err(CliError::new(
        "ERR_PNPM_MODIFIED_DEPENDENCY",
        format!("Packages in the store have been mutated:\n  {}", list.join("\n  ")),
    )
    .with_help("Reinstall the listed packages: remove their node_modules/.pnpm directories and run `tack install`."))
}

fn plural(count: u64) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}
