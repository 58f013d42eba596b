//! `tack store path|status|prune|verify`: thin printing over `tack_store_dir::commands`.

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;

use tack_config::CliOverrides;
use tack_lockfile::Lockfile;
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
            let report = prune::prune(&store, &prune::PruneOptions::default())?;
            println!("Removed all cached metadata files");
            println!(
                "Removed {} file{} ({})",
                report.removed_files,
                if report.removed_files == 1 { "" } else { "s" },
                human_bytes(report.removed_bytes)
            );
            println!(
                "Removed {} package{}",
                report.removed_packages,
                if report.removed_packages == 1 {
                    ""
                } else {
                    "s"
                }
            );
            if report.removed_side_effects > 0 {
                println!(
                    "Removed {} cached build{} whose files were removed",
                    report.removed_side_effects,
                    if report.removed_side_effects == 1 {
                        ""
                    } else {
                        "s"
                    }
                );
            }
            if report.skipped_young_files > 0 {
                println!(
                    "Kept {} unreferenced file(s) written in the last {} minutes (an install may be using them)",
                    report.skipped_young_files,
                    prune::PruneOptions::default().grace_period.as_secs() / 60
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

fn human_bytes(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MB {
        format!("{:.1} MB", bytes as f64 / MB)
    } else {
        format!("{:.1} kB", bytes as f64 / 1024.0)
    }
}
