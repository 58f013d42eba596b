//! `<store>/links`: pnpm's global virtual store, where pnpm 12 keeps one copy of a package per
//! store for every project to link to. tack uses it for config dependencies, as pnpm 12 does:
//! `node_modules/.pnpm-config/<name>` links to
//! `<store>/links/<@scope or @>/<name>/<version>/<hash>/node_modules/<name>`.
//!
//! The hash must be pnpm's own, so that a project installed by either tool links to the same
//! directory ([`crate::slot_hash`]). A config dependency has no dependencies and no build, so
//! its slot is a leaf's, built for no engine.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::layout::StoreDir;
use crate::slot_hash::{leaf_dependency_hash, slot_hash, SlotInputs};

/// The directory below `links/` where pnpm 12 places a dependency-free package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalLink {
    /// `<store>/links/<@scope or @>/<name>/<version>`: the slots of this version.
    pub versions_dir: PathBuf,
    /// The slot's name, pnpm's 64-hex hash.
    pub slot: String,
    /// `name` or `@scope/name`.
    pub name: String,
}

impl GlobalLink {
    /// Where `name@version` with `integrity` lives in `store`; `None` when the name or the
    /// version is not a plain path segment (a lockfile could hold `../x`).
    pub fn of(store: &StoreDir, name: &str, version: &str, integrity: &str) -> Option<GlobalLink> {
        let (scope, bare) = match name.strip_prefix('@') {
            Some(scoped) => {
                let (scope, bare) = scoped.split_once('/')?;
                (format!("@{scope}"), bare)
            }
            None => ("@".to_string(), name),
        };
        if !plain_segment(&scope[1..]) && scope != "@"
            || !plain_segment(bare)
            || !plain_segment(version)
        {
            return None;
        }
        let versions_dir = links_dir(store).join(scope).join(bare).join(version);
        Some(GlobalLink {
            versions_dir,
            slot: leaf_hash(name, version, integrity),
            name: name.to_string(),
        })
    }

    /// `<versions_dir>/<slot>/node_modules/<name>`: the package's files.
    pub fn package_dir(&self) -> PathBuf {
        self.versions_dir
            .join(&self.slot)
            .join("node_modules")
            .join(&self.name)
    }
}

/// `<store>/links`, the root of the global virtual store.
pub fn links_dir(store: &StoreDir) -> PathBuf {
    store.root().join("links")
}

/// `<store>/projects`, where every install records its project.
fn projects_dir(store: &StoreDir) -> PathBuf {
    store.root().join("projects")
}

fn plain_segment(segment: &str) -> bool {
    !segment.is_empty() && segment != "." && segment != ".." && !segment.contains(['/', '\\', '\0'])
}

/// pnpm's slot hash of a package without dependencies, built for no engine.
fn leaf_hash(name: &str, version: &str, integrity: &str) -> String {
    let deps = leaf_dependency_hash(&format!("{name}@{version}:{integrity}"));
    slot_hash(&deps, SlotInputs::default())
}

/// Records `project_dir` in `<store>/projects`, as pnpm 12 does on every install: a symlink
/// named by the first 32 hex digits of the sha256 of the directory's path, pointing at it, so
/// that a store prune can tell which projects may still link into `links/`. Left alone when
/// it is right already, or when the store lies inside the project; a failure costs only
/// that record, so it is returned for the caller to report, never fatal.
pub fn register_project(store: &StoreDir, project_dir: &Path) -> std::io::Result<()> {
    if store.root().starts_with(project_dir) {
        return Ok(());
    }
    let projects = projects_dir(store);
    let name = &hex::encode(Sha256::digest(project_dir.to_string_lossy().as_bytes()))[..32];
    let link = projects.join(name);
    match std::fs::read_link(&link) {
        Ok(existing) if existing == project_dir => return Ok(()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(&projects)?;
    let tmp = tack_fs::temp_sibling(&link).map_err(std::io::Error::other)?;
    std::os::unix::fs::symlink(project_dir, &tmp)?;
    std::fs::rename(&tmp, &link).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The projects recorded in `<store>/projects` that still exist, as pnpm 12 reads them for a
/// prune: only symlinks count, and one whose project directory is gone is removed. Anything
/// but a missing directory (a permission error, a project on an unmounted disk) keeps the
/// record, and the project counts as not there for this prune.
pub fn registered_projects(store: &StoreDir) -> std::io::Result<Vec<PathBuf>> {
    let dir = projects_dir(store);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut projects = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_name().as_encoded_bytes().starts_with(b".")
            || !entry.file_type().is_ok_and(|t| t.is_symlink())
        {
            continue;
        }
        let link = entry.path();
        let Ok(target) = std::fs::read_link(&link) else {
            continue;
        };
        let target = dir.join(target);
        match std::fs::metadata(&target) {
            Ok(_) => projects.push(target),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_file(&link);
            }
            Err(_) => {}
        }
    }
    projects.sort();
    Ok(projects)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots pnpm 12.21 made for two packages of the test registry (observed in
    /// `<store>/links` after `pnpm install` with them as config dependencies).
    #[test]
    fn slots_match_pnpm() {
        let store = StoreDir::new("/s/v11");
        let plain = GlobalLink::of(
            &store,
            "tack-config-allow",
            "1.0.0",
            "sha512-9TjfPRW2X0zQFwI952okOux7OudqdBfrraAG3P5rLxs7DAuDqLdKRPObzr9fEQAxti6U8HTNPevNpOWAolAPTQ==",
        )
        .expect("valid");
        assert_eq!(
            plain.package_dir(),
            Path::new("/s/v11/links/@/tack-config-allow/1.0.0/b083fba8b062b696444dade2fc73aa0cc8f6102e7b1334930d538712cf65706e/node_modules/tack-config-allow")
        );
        let scoped = GlobalLink::of(
            &store,
            "@tack-test/pnpm-plugin-cfg",
            "1.0.0",
            "sha512-ZCc2klgvFfFpQiXVJgMwhXVr4hrjFJRLoBSn92I2aUKErMcKXAkWVh2LX48BXkYZG+fiZE8RszZ4wr7pqtGocw==",
        )
        .expect("valid");
        assert_eq!(
            scoped.package_dir(),
            Path::new("/s/v11/links/@tack-test/pnpm-plugin-cfg/1.0.0/8cde3f7ada7a181df0e567f874bf5b87ddddfd45f2036aa3fe7a35daf1c9ca4e/node_modules/@tack-test/pnpm-plugin-cfg")
        );
    }

    #[test]
    fn names_and_versions_that_leave_links_are_refused() {
        let store = StoreDir::new("/s/v11");
        assert!(GlobalLink::of(&store, "x", "..", "sha512-A").is_none());
        assert!(GlobalLink::of(&store, "x", "1.0.0/../../y", "sha512-A").is_none());
        assert!(GlobalLink::of(&store, "@../x", "1.0.0", "sha512-A").is_none());
        assert!(GlobalLink::of(&store, "..", "1.0.0", "sha512-A").is_none());
    }

    #[test]
    fn a_project_is_registered_once_by_its_path_hash() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = StoreDir::new(tmp.path().join("store/v11"));
        let project = tmp.path().join("project");
        register_project(&store, &project).expect("registered");
        register_project(&store, &project).expect("again");
        let name = &hex::encode(Sha256::digest(project.to_string_lossy().as_bytes()))[..32];
        let link = store.root().join("projects").join(name);
        assert_eq!(std::fs::read_link(link).expect("a link"), project);
        assert_eq!(
            std::fs::read_dir(store.root().join("projects"))
                .expect("listed")
                .count(),
            1
        );
    }
}
