//! Loads fixture packages from a directory tree `<dir>/<name or @scope/name>/<version>/…`,
//! each version directory holding the package's files, with the exec bit taken from disk.

use std::path::{Path, PathBuf};

use crate::error::RegistryError;
use crate::package::PackageDef;

/// The fixtures committed with this crate.
pub fn default_fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Reads every package version under `dir`, in a stable order.
pub fn load_fixtures(dir: &Path) -> Result<Vec<PackageDef>, RegistryError> {
    let mut defs = Vec::new();
    for entry in sorted_dir(dir)? {
        let file_name = entry.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(file_name) = file_name else { continue };
        if !entry.is_dir() {
            continue;
        }
        if file_name.starts_with('@') {
            for inner in sorted_dir(&entry)? {
                if let Some(n) = inner.file_name() {
                    if inner.is_dir() {
                        let name = format!("{file_name}/{}", n.to_string_lossy());
                        load_versions(&name, &inner, &mut defs)?;
                    }
                }
            }
        } else {
            load_versions(&file_name, &entry, &mut defs)?;
        }
    }
    Ok(defs)
}

fn load_versions(name: &str, dir: &Path, out: &mut Vec<PackageDef>) -> Result<(), RegistryError> {
    for version_dir in sorted_dir(dir)? {
        if !version_dir.is_dir() {
            continue;
        }
        let Some(version) = version_dir.file_name() else {
            continue;
        };
        let mut def = PackageDef::new(name, version.to_string_lossy());
        collect_files(&version_dir, "", &mut def.files)?;
        let manifest = version_dir.join("package.json");
        if !def.files.iter().any(|(p, _, _)| p == "package.json") {
            return Err(RegistryError::BadManifest {
                path: manifest,
                message: "missing".into(),
            });
        }
        if let Some((_, bytes, _)) = def.files.iter().find(|(p, _, _)| p == "package.json") {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(bytes) {
                return Err(RegistryError::BadManifest {
                    path: manifest,
                    message: e.to_string(),
                });
            }
        }
        out.push(def);
    }
    Ok(())
}

fn collect_files(
    dir: &Path,
    prefix: &str,
    out: &mut Vec<(String, Vec<u8>, u32)>,
) -> Result<(), RegistryError> {
    for path in sorted_dir(dir)? {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = fs_err::metadata(&path).map_err(|e| RegistryError::io(&path, e))?;
        if meta.is_dir() {
            collect_files(&path, &rel, out)?;
        } else {
            let bytes = fs_err::read(&path).map_err(|e| RegistryError::io(&path, e))?;
            out.push((rel, bytes, file_mode(&meta)));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn file_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode()
}

#[cfg(not(unix))]
fn file_mode(_meta: &std::fs::Metadata) -> u32 {
    0o644
}

fn sorted_dir(dir: &Path) -> Result<Vec<PathBuf>, RegistryError> {
    let mut paths = Vec::new();
    for entry in fs_err::read_dir(dir).map_err(|e| RegistryError::io(dir, e))? {
        let entry = entry.map_err(|e| RegistryError::io(dir, e))?;
        paths.push(entry.path());
    }
    paths.sort();
    Ok(paths)
}
