//! Frozen-lockfile checks, in pnpm's order (§5.2): lockfile settings vs configuration
//! (`ERR_PNPM_LOCKFILE_CONFIG_MISMATCH`), a missing lockfile (`ERR_PNPM_NO_LOCKFILE`), then each
//! project's `package.json` vs its importer (`satisfiesPackageManifest`,
//! `ERR_PNPM_OUTDATED_LOCKFILE`), with pnpm 12's failure-reason wording. (The lockfile version is
//! checked when it is read.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tack_lockfile::{Lockfile, ProjectSnapshot};

use crate::checksums;
use crate::config::Config;
use crate::error::ConfigError;
use crate::manifest::Manifest;
use crate::projects::Project;

/// Runs every frozen check. `lockfile` is `None` when there is no (or an empty) lockfile.
/// Without `manifests` (`--ignore-manifest-check`), the projects' `package.json` files are not
/// compared with their importers.
pub fn check_frozen_lockfile(
    config: &Config,
    lockfile: Option<&Lockfile>,
    projects: &[Project],
    manifests: bool,
) -> Result<(), ConfigError> {
    let Some(lockfile) = lockfile else {
        if projects.iter().any(|p| p.manifest.has_dependencies()) {
            return Err(ConfigError::NoLockfile {
                dir: config.lockfile_dir.clone(),
            });
        }
        return Ok(());
    };
    let root_manifest = projects
        .iter()
        .find(|p| p.importer_id == ".")
        .map(|p| &p.manifest);
    check_settings(config, lockfile, root_manifest)?;
    if !manifests {
        return Ok(());
    }
    let overrides = wanted_overrides(config, root_manifest);
    for project in projects {
        check_importer(config, lockfile, project, &overrides)?;
        check_linked_projects(lockfile, project, projects)?;
    }
    Ok(())
}

/// pnpm's `checkLinkedPackagesAreUpToDate`: a `workspace:` dependency linked to a project
/// (`link:../b`) must still accept that project's version. A version bump without a new
/// lockfile (`workspace:^1.0.0` and `b` now at 2.0.0) is an outdated lockfile to pnpm 12.
fn check_linked_projects(
    lockfile: &Lockfile,
    project: &Project,
    projects: &[Project],
) -> Result<(), ConfigError> {
    let Some(importer) = lockfile.importers.get(&project.importer_id) else {
        return Ok(());
    };
    for (alias, dep, _) in importer.all_deps() {
        let (Some(target), Some(range)) = (
            dep.version.strip_prefix("link:"),
            dep.specifier.strip_prefix("workspace:"),
        ) else {
            continue;
        };
        // `workspace:*`, `workspace:^`, `workspace:~` accept any version.
        if matches!(range, "" | "*" | "^" | "~") {
            continue;
        }
        let dir = tack_fs::normalize_lexically(&project.dir.join(target));
        let Some(version) = projects
            .iter()
            .find(|p| p.dir == dir)
            .and_then(|p| p.manifest.version.as_deref())
        else {
            continue;
        };
        let (Ok(range_parsed), Ok(version_parsed)) = (
            node_semver::Range::parse(range),
            node_semver::Version::parse(version),
        ) else {
            continue;
        };
        if !range_parsed.satisfies(&version_parsed) {
            let manifest = if project.importer_id == "." {
                "package.json".to_string()
            } else {
                format!("{}/package.json", project.importer_id)
            };
            return Err(ConfigError::OutdatedLockfile {
                manifest,
                reason: format!("local dependency \"{alias}\" at \"{target}\" is outdated"),
            });
        }
    }
    Ok(())
}

/// An override's `$name` (pnpm's version reference, deprecated but still applied): the
/// root manifest's specifier for `name`, which pnpm records in the lockfile in its place.
fn version_reference<'m>(root_manifest: Option<&'m Manifest>, value: &str) -> Option<&'m str> {
    let name = value.strip_prefix('$')?;
    let manifest = root_manifest?;
    [
        &manifest.dependencies,
        &manifest.dev_dependencies,
        &manifest.optional_dependencies,
        &manifest.peer_dependencies,
    ]
    .into_iter()
    .find_map(|deps| deps.get(name))
    .map(String::as_str)
}

/// sha256 hex of a patch file with CRLF turned into LF (`calcPatchHashes`).
pub fn patch_file_hash(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read(path)?;
    let mut normalized = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\r' && text.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        normalized.push(text[i]);
        i += 1;
    }
    Ok(hex::encode(Sha256::digest(&normalized)))
}

fn mismatch(field: &str) -> ConfigError {
    ConfigError::LockfileConfigMismatch {
        field: field.to_string(),
    }
}

/// `overrides` as the lockfile records them: `$name` references and `catalog:` specs resolved.
fn wanted_overrides(config: &Config, root_manifest: Option<&Manifest>) -> IndexMap<String, String> {
    config
        .overrides
        .iter()
        .map(|(k, v)| {
            let v = version_reference(root_manifest, v).unwrap_or(v);
            (k.clone(), resolve_catalog_spec(config, k, v))
        })
        .collect()
}

/// `patchedDependencies` as the lockfile records them: the hash of each patch file.
fn wanted_patch_hashes(config: &Config) -> Result<IndexMap<String, String>, ConfigError> {
    let mut patch_hashes = IndexMap::new();
    for (key, rel) in &config.patched_dependencies {
        let path = config.workspace_root.join(rel);
        let hash = patch_file_hash(&path).map_err(|source| ConfigError::PatchFileNotFound {
            key: key.clone(),
            path: path.clone(),
            source,
        })?;
        patch_hashes.insert(key.clone(), hash);
    }
    Ok(patch_hashes)
}

/// The lockfile pnpm 12 writes for projects none of which has a dependency, when there is no
/// lockfile (with `--frozen-lockfile` too, observed): the settings it records, and an empty
/// importer per project. It passes [`check_settings`] by construction.
pub fn lockfile_without_dependencies(
    config: &Config,
    projects: &[Project],
) -> Result<Lockfile, ConfigError> {
    let root_manifest = projects
        .iter()
        .find(|p| p.importer_id == ".")
        .map(|p| &p.manifest);
    let pnpmfile_checksum = checksums::wanted_pnpmfile_checksum(config)?;
    let patch_hashes = wanted_patch_hashes(config)?;
    let mut importers: Vec<&str> = projects.iter().map(|p| p.importer_id.as_str()).collect();
    importers.sort();
    Ok(Lockfile {
        lockfile_version: "9.0".to_string(),
        settings: Some(tack_lockfile::LockfileSettings {
            auto_install_peers: Some(config.auto_install_peers),
            exclude_links_from_lockfile: Some(config.exclude_links_from_lockfile),
            dedupe_peers: config.dedupe_peers.then_some(true),
            peers_suffix_max_length: (config.peers_suffix_max_length != 1000)
                .then_some(config.peers_suffix_max_length),
            inject_workspace_packages: config.inject_workspace_packages.then_some(true),
        }),
        overrides: wanted_overrides(config, root_manifest),
        package_extensions_checksum: checksums::package_extensions_checksum(
            config.settings.package_extensions.as_ref(),
        ),
        pnpmfile_checksum,
        patched_dependencies: (!patch_hashes.is_empty()).then_some(patch_hashes),
        importers: importers
            .into_iter()
            .map(|id| (id.to_string(), Default::default()))
            .collect(),
        ignored_optional_dependencies: config.ignored_optional_dependencies.clone(),
        ..Lockfile::default()
    })
}

/// `getOutdatedLockfileSetting`.
pub fn check_settings(
    config: &Config,
    lockfile: &Lockfile,
    root_manifest: Option<&Manifest>,
) -> Result<(), ConfigError> {
    for (catalog_name, entries) in &lockfile.catalogs {
        for (dep, entry) in entries {
            let configured = config.catalogs.get(catalog_name).and_then(|c| c.get(dep));
            if configured != Some(&entry.specifier) {
                return Err(mismatch("catalogs"));
            }
        }
    }
    let overrides = wanted_overrides(config, root_manifest);
    if !same_map(&lockfile.overrides, &overrides) {
        return Err(mismatch("overrides"));
    }
    let extensions_checksum =
        checksums::package_extensions_checksum(config.settings.package_extensions.as_ref());
    if lockfile.package_extensions_checksum != extensions_checksum {
        return Err(mismatch("packageExtensionsChecksum"));
    }
    let mut wanted: Vec<&String> = config.ignored_optional_dependencies.iter().collect();
    let mut locked: Vec<&String> = lockfile.ignored_optional_dependencies.iter().collect();
    wanted.sort();
    locked.sort();
    if wanted != locked {
        return Err(mismatch("ignoredOptionalDependencies"));
    }
    let patch_hashes = wanted_patch_hashes(config)?;
    let locked_patches = lockfile.patched_dependencies.clone().unwrap_or_default();
    if !same_map(&locked_patches, &patch_hashes) {
        return Err(mismatch("patchedDependencies"));
    }
    let settings = lockfile.settings.clone().unwrap_or_default();
    if settings
        .auto_install_peers
        .is_some_and(|v| v != config.auto_install_peers)
    {
        return Err(mismatch("settings.autoInstallPeers"));
    }
    if settings
        .exclude_links_from_lockfile
        .is_some_and(|v| v != config.exclude_links_from_lockfile)
    {
        return Err(mismatch("settings.excludeLinksFromLockfile"));
    }
    if settings.peers_suffix_max_length.unwrap_or(1000) != config.peers_suffix_max_length {
        return Err(mismatch("settings.peersSuffixMaxLength"));
    }
    if settings.dedupe_peers.unwrap_or(false) != config.dedupe_peers {
        return Err(mismatch("settings.dedupePeers"));
    }
    // Under `ignorePnpmfile` pnpm 12 loads no pnpmfile and compares no checksum (observed: a
    // lockfile with one installs, as one without does).
    if !config.ignore_pnpmfile
        && lockfile.pnpmfile_checksum != checksums::wanted_pnpmfile_checksum(config)?
    {
        return Err(mismatch("pnpmfileChecksum"));
    }
    if settings.inject_workspace_packages.unwrap_or(false) != config.inject_workspace_packages {
        return Err(mismatch("settings.injectWorkspacePackages"));
    }
    Ok(())
}

fn same_map(a: &IndexMap<String, String>, b: &IndexMap<String, String>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

/// `catalog:` / `catalog:<name>` in an override resolves to the catalog's specifier.
fn resolve_catalog_spec(config: &Config, selector: &str, spec: &str) -> String {
    let Some(name) = spec.strip_prefix("catalog:") else {
        return spec.to_string();
    };
    let catalog = if name.is_empty() { "default" } else { name };
    let dep = selector
        .rsplit('>')
        .next()
        .map(|s| match s.get(1..).and_then(|r| r.find('@')) {
            Some(at) => &s[..at + 1],
            None => s,
        })
        .unwrap_or(selector);
    config
        .catalogs
        .get(catalog)
        .and_then(|c| c.get(dep))
        .cloned()
        .unwrap_or_else(|| spec.to_string())
}

/// `satisfiesPackageManifest` for one project.
fn check_importer(
    config: &Config,
    lockfile: &Lockfile,
    project: &Project,
    overrides: &IndexMap<String, String>,
) -> Result<(), ConfigError> {
    let Some(importer) = lockfile.importers.get(&project.importer_id) else {
        // A project with no dependencies at all needs no importer: pnpm 12 installs such a
        // workspace from a lockfile resolved before the project was added.
        if has_no_dependencies(&project.manifest) {
            return Ok(());
        }
        return Err(ConfigError::MissingImporter {
            importer_id: project.importer_id.clone(),
        });
    };
    let manifest_name = if project.importer_id == "." {
        "package.json".to_string()
    } else {
        format!("{}/package.json", project.importer_id)
    };
    let outdated = |reason: String| ConfigError::OutdatedLockfile {
        manifest: manifest_name.clone(),
        reason,
    };
    // pnpm compares the manifest as its overrides leave it.
    let overridden;
    let manifest = if overrides.is_empty() {
        &project.manifest
    } else {
        overridden = crate::overrides::apply_to_project(
            &project.manifest,
            overrides,
            &config.workspace_root,
            &project.dir,
        );
        &overridden
    };
    match satisfies_manifest(config, importer, manifest) {
        Ok(()) => Ok(()),
        Err(Reason::Specifiers(diff)) => Err(outdated(format!(
            "specifiers in the lockfile don't match specifiers in package.json:\n* in importers[\"{}\"]:\n{diff}",
            project.importer_id
        ))),
        Err(Reason::Other(text)) => Err(outdated(text)),
    }
}

/// Whether `manifest` declares no dependency of any kind.
pub fn has_no_dependencies(manifest: &crate::manifest::Manifest) -> bool {
    manifest.dependencies.is_empty()
        && manifest.dev_dependencies.is_empty()
        && manifest.optional_dependencies.is_empty()
        && manifest.peer_dependencies.is_empty()
}

/// One dependency field: its name, the lockfile block, and the manifest deps counted in it.
type Group<'a> = (
    &'static str,
    &'a IndexMap<String, tack_lockfile::ImporterDep>,
    Vec<(&'a str, &'a str)>,
);

enum Reason {
    Specifiers(String),
    Other(String),
}

fn satisfies_manifest(
    config: &Config,
    importer: &ProjectSnapshot,
    manifest: &Manifest,
) -> Result<(), Reason> {
    // pnpm drops them from the manifest's optionalDependencies only, matched as patterns
    // (`@esbuild/*`, negations).
    let ignored_matcher = crate::Matcher::new(&config.ignored_optional_dependencies);
    let ignored: BTreeSet<&str> = manifest
        .optional_dependencies
        .keys()
        .map(String::as_str)
        .filter(|name| {
            ignored_matcher.matches(name)
                && !manifest.dependencies.contains_key(*name)
                && !manifest.dev_dependencies.contains_key(*name)
        })
        .collect();
    // existingDeps = {...dev, ...prod, ...optional} (later wins), plus peers with autoInstallPeers.
    let mut existing: BTreeMap<&str, &str> = BTreeMap::new();
    for deps in [
        &manifest.dev_dependencies,
        &manifest.dependencies,
        &manifest.optional_dependencies,
    ] {
        for (name, spec) in deps {
            existing.insert(name, spec);
        }
    }
    let mut prod: IndexMap<&str, &str> = manifest
        .dependencies
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if config.auto_install_peers {
        for (name, spec) in &manifest.peer_dependencies {
            if !existing.contains_key(name.as_str()) {
                existing.insert(name, spec);
                prod.insert(name, spec);
            }
        }
    }
    existing.retain(|name, _| !ignored.contains(name));
    let mut specifiers: BTreeMap<&str, &str> = importer
        .all_deps()
        .map(|(alias, dep, _)| (alias.as_str(), dep.specifier.as_str()))
        .collect();
    if config.exclude_links_from_lockfile {
        existing.retain(|_, spec| !spec.starts_with("link:"));
        specifiers.retain(|_, spec| !spec.starts_with("link:"));
    }
    if existing != specifiers {
        return Err(Reason::Specifiers(diff_specifiers(&specifiers, &existing)));
    }
    if importer.publish_directory.as_deref() != manifest.publish_directory() {
        return Err(Reason::Other(format!(
            "\"publishDirectory\" in the lockfile ({}) doesn't match \"publishConfig.directory\" in package.json ({})",
            importer.publish_directory.as_deref().unwrap_or("undefined"),
            manifest.publish_directory().unwrap_or("undefined")
        )));
    }
    let locked_meta = Value::Object(importer.dependencies_meta.clone().into_iter().collect());
    let manifest_meta = manifest
        .dependencies_meta
        .clone()
        .unwrap_or_else(|| Value::Object(Default::default()));
    if locked_meta != manifest_meta {
        return Err(Reason::Other(format!(
            "importer dependencies meta ({locked_meta}) doesn't match package manifest \
             dependencies meta ({manifest_meta})"
        )));
    }
    let groups: [Group<'_>; 3] = [
        (
            "dependencies",
            &importer.dependencies,
            prod.iter()
                .filter(|(n, _)| !manifest.optional_dependencies.contains_key(**n))
                .map(|(n, s)| (*n, *s))
                .collect(),
        ),
        (
            "devDependencies",
            &importer.dev_dependencies,
            manifest
                .dev_dependencies
                .iter()
                .filter(|(n, _)| {
                    !manifest.optional_dependencies.contains_key(*n)
                        && !prod.contains_key(n.as_str())
                })
                .map(|(n, s)| (n.as_str(), s.as_str()))
                .collect(),
        ),
        (
            "optionalDependencies",
            &importer.optional_dependencies,
            manifest
                .optional_dependencies
                .iter()
                .map(|(n, s)| (n.as_str(), s.as_str()))
                .collect(),
        ),
    ];
    for (field, locked, wanted) in groups {
        let wanted: Vec<(&str, &str)> = wanted
            .into_iter()
            .filter(|(n, s)| {
                !(ignored.contains(n)
                    || config.exclude_links_from_lockfile && s.starts_with("link:"))
            })
            .collect();
        let non_linked = locked
            .values()
            .filter(|d| !d.version.starts_with("link:") && !d.version.starts_with("file:"))
            .count();
        if wanted.len() != locked.len() && wanted.len() != non_linked {
            return Err(Reason::Other(format!(
                "\"{field}\" in the lockfile ({}) doesn't match the same field in package.json ({})",
                locked.keys().cloned().collect::<Vec<_>>().join(", "),
                wanted.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )));
        }
        for (name, spec) in wanted {
            let Some(dep) = locked.get(name) else {
                return Err(Reason::Other(format!(
                    "importer {field}.{name} specifier {} don't match package manifest specifier ({spec})",
                    specifiers.get(name).copied().unwrap_or("undefined")
                )));
            };
            if dep.specifier != spec {
                return Err(Reason::Other(format!(
                    "importer {field}.{name} specifier {} don't match package manifest specifier ({spec})",
                    dep.specifier
                )));
            }
            // The locked version without its peers or patch suffix (`17.0.2(react@17.0.2)`):
            // with it, no version parses and the check was skipped.
            if let (Ok(range), Ok(version)) = (
                node_semver::Range::parse(spec),
                node_semver::Version::parse(tack_lockfile::remove_suffix(&dep.version)),
            ) {
                if !range.satisfies(&version) {
                    return Err(Reason::Other(format!(
                        "The importer resolution of {name}@{} doesn't satisfy the specifier {spec} in package.json",
                        dep.version
                    )));
                }
            }
        }
    }
    Ok(())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// pnpm 12's `diffFlatRecords` rendering.
fn diff_specifiers(locked: &BTreeMap<&str, &str>, manifest: &BTreeMap<&str, &str>) -> String {
    let added: Vec<String> = manifest
        .iter()
        .filter(|(n, _)| !locked.contains_key(*n))
        .map(|(n, s)| format!("{n}@{s}"))
        .collect();
    let removed: Vec<String> = locked
        .iter()
        .filter(|(n, _)| !manifest.contains_key(*n))
        .map(|(n, s)| format!("{n}@{s}"))
        .collect();
    let modified: Vec<String> = manifest
        .iter()
        .filter_map(|(n, s)| {
            let l = locked.get(n)?;
            (l != s).then(|| format!("  - {n} (lockfile: {l}, manifest: {s})"))
        })
        .collect();
    let mut lines = Vec::new();
    if !added.is_empty() {
        lines.push(format!(
            "* {}: {}",
            plural(
                added.len(),
                "dependency was added",
                "dependencies were added"
            ),
            added.join(", ")
        ));
    }
    if !removed.is_empty() {
        lines.push(format!(
            "* {}: {}",
            plural(
                removed.len(),
                "dependency was removed",
                "dependencies were removed"
            ),
            removed.join(", ")
        ));
    }
    if !modified.is_empty() {
        lines.push(format!(
            "* {}:",
            plural(
                modified.len(),
                "dependency is mismatched",
                "dependencies are mismatched"
            )
        ));
        lines.extend(modified);
    }
    lines.join("\n")
}
