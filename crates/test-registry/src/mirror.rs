//! Serves a mirror directory filled by `scripts/fill-mirror.sh`: real tarballs laid out as
//! their URL paths (`<dir>/<name>/-/<scopeless>-<version>.tgz`). Packuments are synthesized
//! on first request from the tarballs' own `package.json`.

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;

use crate::error::RegistryError;
use crate::package::VersionEntry;

/// A mirror root.
#[derive(Debug, Clone)]
pub struct Mirror {
    root: PathBuf,
}

impl Mirror {
    pub fn new(root: PathBuf) -> Self {
        Mirror { root }
    }

    /// The file for a decoded request path, if it stays inside the root and exists.
    pub fn file_for(&self, decoded_path: &str) -> Option<PathBuf> {
        let rel = Path::new(decoded_path.trim_start_matches('/'));
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        let path = self.root.join(rel);
        path.is_file().then_some(path)
    }

    /// Every version of `name` held in the mirror (empty when the name is unknown).
    pub fn load_package(&self, name: &str) -> Result<Vec<(String, VersionEntry)>, RegistryError> {
        let Some(dir) = self.file_dir(name) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut paths: Vec<PathBuf> = fs_err::read_dir(&dir)
            .map_err(|e| RegistryError::io(&dir, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
            .collect();
        paths.sort();
        for path in paths {
            let bytes = fs_err::read(&path).map_err(|e| RegistryError::io(&path, e))?;
            let entry = VersionEntry::from_tgz(Bytes::from(bytes)).map_err(|message| {
                RegistryError::BadTarball {
                    path: path.clone(),
                    message,
                }
            })?;
            let version = entry
                .manifest
                .get("version")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            if let Some(version) = version {
                out.push((version, entry));
            }
        }
        Ok(out)
    }

    fn file_dir(&self, name: &str) -> Option<PathBuf> {
        let rel = Path::new(name);
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        let dir = self.root.join(rel).join("-");
        dir.is_dir().then_some(dir)
    }
}
