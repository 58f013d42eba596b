//! `store prune`'s first step: the slots of the global virtual store (`<store>/links`) that
//! no registered project links to any more, as pnpm 12 prunes them. It runs before the CAS
//! files are pruned, because a removed slot drops the last link of its files.
//!
//! Mark and sweep, as in pnpm: every project in `<store>/projects` is searched for its
//! `node_modules` directories (the root's and each workspace package's); every symlink in
//! them (and in the directories below them, `.pnpm` aside) that points into `links/` marks
//! its slot, `<@scope or @>/<name>/<version>/<hash>`, and that slot's own `node_modules` is
//! walked in turn. A slot nothing marked is removed. With no registered project, or none that
//! links into `links/`, nothing is removed: that store's users are unknown (pnpm 12 says so
//! in the same words).
//!
//! Two safeguards pnpm does not have: a slot younger than the grace period is kept (an install
//! may have just imported it and not linked it yet), and a slot is moved into `tmp/` before
//! it is deleted, so that a prune cut short never leaves a slot that holds its `package.json`
//! (the completion marker installs trust) but not all of its files.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::commands::prune::{is_young, PruneOptions};
use crate::error::StoreError;
use crate::global_links::{links_dir, registered_projects};
use crate::layout::StoreDir;

/// What the global virtual store's prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LinksOutcome {
    /// The store has no `links/` directory.
    #[default]
    NoLinks,
    /// No project is registered in `<store>/projects`: nothing was removed.
    NoProjects,
    /// `projects` are registered, and none links into `links/`: nothing was removed.
    Unused { projects: usize },
    /// The slots no project reaches were removed, but for those younger than the grace period.
    Swept {
        projects: usize,
        removed: u64,
        kept_young: u64,
    },
}

/// Removes the slots of `<store>/links` that no registered project links to.
pub fn prune_links(
    store: &StoreDir,
    options: &PruneOptions,
    now: SystemTime,
) -> Result<LinksOutcome, StoreError> {
    let links = links_dir(store);
    if !links.is_dir() {
        return Ok(LinksOutcome::NoLinks);
    }
    let projects = registered_projects(store)
        .map_err(|e| StoreError::io("read the registered projects in", store.root(), e))?;
    if projects.is_empty() {
        return Ok(LinksOutcome::NoProjects);
    }
    let mut marker = Marker::new(&links);
    for project in &projects {
        for modules_dir in node_modules_dirs(project)? {
            marker.walk(modules_dir)?;
        }
    }
    if marker.reachable.is_empty() {
        return Ok(LinksOutcome::Unused {
            projects: projects.len(),
        });
    }
    let mut sweep = Sweep {
        store,
        options,
        now,
        reachable: &marker.reachable,
        removed: 0,
        kept_young: 0,
    };
    sweep.run(&links)?;
    Ok(LinksOutcome::Swept {
        projects: projects.len(),
        removed: sweep.removed,
        kept_young: sweep.kept_young,
    })
}

/// The `node_modules` directories of a project: every one below it, not descending into
/// them nor into directories whose names start with a dot.
fn node_modules_dirs(project: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut found = Vec::new();
    let mut pending = vec![project.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for (name, path) in subdirs(&dir)? {
            if name == "node_modules" {
                found.push(path);
            } else if !name.starts_with('.') {
                pending.push(path);
            }
        }
    }
    Ok(found)
}

/// The real subdirectories of `dir` (symlinks not followed), with their names; none when
/// `dir` is gone or no directory.
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_absent(&e) => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("read directory", dir, e)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("read directory", dir, e))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            dirs.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            ));
        }
    }
    Ok(dirs)
}

fn is_absent(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// The mark phase: which slots the projects' symlinks reach.
struct Marker {
    links: PathBuf,
    /// `links` with its symlinks resolved, for targets that reach it through another path.
    links_real: Option<PathBuf>,
    /// Slots, relative to `links`: `<@scope or @>/<name>/<version>/<hash>`.
    reachable: HashSet<PathBuf>,
    /// Directories walked already, by device and inode (links may form cycles).
    visited: HashSet<(u64, u64)>,
}

impl Marker {
    fn new(links: &Path) -> Self {
        Marker {
            links: links.to_path_buf(),
            links_real: std::fs::canonicalize(links).ok(),
            reachable: HashSet::new(),
            visited: HashSet::new(),
        }
    }

    fn walk(&mut self, start: PathBuf) -> Result<(), StoreError> {
        use std::os::unix::fs::MetadataExt;
        let mut pending = vec![start];
        while let Some(dir) = pending.pop() {
            let Ok(meta) = std::fs::metadata(&dir) else {
                continue;
            };
            if !self.visited.insert((meta.dev(), meta.ino())) {
                continue;
            }
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if is_absent(&e) => continue,
                Err(e) => return Err(StoreError::io("read directory", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| StoreError::io("read directory", &dir, e))?;
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_symlink() {
                    if let Some(slot) = self.slot_of(&dir, &entry.path()) {
                        pending.push(self.links.join(&slot).join("node_modules"));
                        self.reachable.insert(slot);
                    }
                } else if kind.is_dir() && entry.file_name() != ".pnpm" {
                    pending.push(entry.path());
                }
            }
        }
        Ok(())
    }

    /// The slot the symlink at `link` (in `dir`) points into, if it points into `links/`.
    fn slot_of(&self, dir: &Path, link: &Path) -> Option<PathBuf> {
        let target = dir.join(std::fs::read_link(link).ok()?);
        let relative = match tack_fs::normalize_lexically(&target).strip_prefix(&self.links) {
            Ok(relative) => relative.to_path_buf(),
            Err(_) => {
                let real = std::fs::canonicalize(&target).ok()?;
                real.strip_prefix(self.links_real.as_ref()?)
                    .ok()?
                    .to_path_buf()
            }
        };
        let mut slot = PathBuf::new();
        for part in relative.components() {
            if part.as_os_str() == "node_modules" {
                return Some(slot);
            }
            slot.push(part);
        }
        None
    }
}

/// The sweep phase: `links/<@scope or @>/<name>/<version>/<hash>`, four levels, as pnpm 12
/// lays them out. A first level that is no scope is not pnpm 12's and is left alone.
struct Sweep<'a> {
    store: &'a StoreDir,
    options: &'a PruneOptions,
    now: SystemTime,
    reachable: &'a HashSet<PathBuf>,
    removed: u64,
    kept_young: u64,
}

impl Sweep<'_> {
    fn run(&mut self, links: &Path) -> Result<(), StoreError> {
        for (scope, scope_dir) in subdirs(links)? {
            if !scope.starts_with('@') {
                continue;
            }
            let names = subdirs(&scope_dir)?;
            let mut emptied_names = 0;
            for (name, name_dir) in &names {
                let versions = subdirs(name_dir)?;
                let mut emptied_versions = 0;
                for (version, version_dir) in &versions {
                    let hashes = subdirs(version_dir)?;
                    let mut removed_hashes = 0;
                    for (hash, hash_dir) in &hashes {
                        let slot: PathBuf = [scope.as_str(), name, version, hash].iter().collect();
                        if self.reachable.contains(&slot) {
                            continue;
                        }
                        if std::fs::symlink_metadata(hash_dir)
                            .is_ok_and(|meta| is_young(&meta, self.now, self.options))
                        {
                            self.kept_young += 1;
                            continue;
                        }
                        self.remove_slot(hash_dir)?;
                        self.removed += 1;
                        removed_hashes += 1;
                    }
                    if removed_hashes > 0
                        && removed_hashes == hashes.len()
                        && std::fs::remove_dir(version_dir).is_ok()
                    {
                        emptied_versions += 1;
                    }
                }
                if emptied_versions > 0
                    && emptied_versions == versions.len()
                    && std::fs::remove_dir(name_dir).is_ok()
                {
                    emptied_names += 1;
                }
            }
            if emptied_names > 0 && emptied_names == names.len() {
                let _ = std::fs::remove_dir(&scope_dir);
            }
        }
        Ok(())
    }

    /// Moves the slot into `tmp/` (one rename: it is there whole or not at all), then
    /// deletes it; what a cut-short delete leaves in `tmp/` goes with the next prune.
    fn remove_slot(&self, slot: &Path) -> Result<(), StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = self.store.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(|e| StoreError::io("create directory", &tmp, e))?;
        let doomed = tmp.join(format!(
            "pruned-link-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::rename(slot, &doomed).map_err(|e| StoreError::io("move aside", slot, e))?;
        let _ = std::fs::remove_dir_all(&doomed);
        Ok(())
    }
}
