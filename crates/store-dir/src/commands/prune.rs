//! `store prune`: remove the global virtual store's slots no registered project links to
//! (`prune_links`), then CAS files no project links to (link count 1), then the index rows
//! whose files are gone, the side-effects cache entries whose added files are gone,
//! stale staging files in `tmp/`, and the damaged indexes an install set aside
//! (`index.db.corrupt-*`, see `index_repair.rs`). The files of the packages the registered projects
//! have installed are kept whatever their link count (see [`PruneOptions::in_use_keys`]).
//!
//! Safe against installs running at the same time: a file younger than the grace period
//! is never removed (a concurrent install may have just written it and not linked it yet;
//! tack writes an index row only after its files are complete), and each removal takes
//! `cas_write_lock` and re-checks the link count and age under it, so a writer in this
//! process is never raced. Across processes nothing stronger than the grace period exists,
//! as in pnpm.

use crate::commands::prune_links::{prune_links, LinksOutcome};
use crate::error::StoreError;
use crate::index_db::StoreIndex;
use crate::index_row::{CafsFileInfo, PackageFilesIndex};
use crate::layout::StoreDir;
use crate::msgpackr;
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How index rows are scanned: this many keys per query.
const ROW_CHUNK: usize = 900;

/// Prune settings.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Files modified less than this long ago are kept.
    pub grace_period: Duration,
    /// Index keys of the packages the registered projects have installed (their
    /// `node_modules/.pnpm/lock.yaml`): every file their rows name is kept, linked or not, as
    /// pnpm 12 keeps them. A patched or built package is a copy, so its base files have no
    /// other link, and the next install of that project needs them.
    pub in_use_keys: HashSet<String>,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            grace_period: Duration::from_secs(10 * 60),
            in_use_keys: HashSet::new(),
        }
    }
}

/// What [`prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub removed_files: u64,
    pub removed_bytes: u64,
    /// Index rows deleted because a file they name is gone.
    pub removed_packages: u64,
    /// Index rows kept because they do not decode (a newer pnpm's, or damaged): which files
    /// they need cannot be told, so they are left for `store verify` to judge.
    pub undecodable_rows: u64,
    /// Side-effects cache entries (cached builds) dropped because a file they add is gone.
    pub removed_side_effects: u64,
    /// Unreferenced files kept because they are younger than the grace period.
    pub skipped_young_files: u64,
    /// Entries removed from `tmp/`.
    pub removed_tmp_entries: u64,
    /// Damaged indexes an install set aside (`index.db.corrupt-*`, with their `-wal` and
    /// `-shm`), removed once older than the grace period.
    pub removed_set_aside_indexes: u64,
    /// What became of `<store>/links`.
    pub links: LinksOutcome,
}

/// Prune the store. See the module docs for the safety rules.
pub fn prune(store: &StoreDir, options: &PruneOptions) -> Result<PruneReport, StoreError> {
    let mut report = PruneReport::default();
    let now = SystemTime::now();
    report.links = prune_links(store, options, now)?;
    let in_use = files_in_use(store, &options.in_use_keys)?;
    let files_dir = store.files_dir();
    if files_dir.is_dir() {
        for shard in read_dir(&files_dir)? {
            let shard = shard.map_err(|e| StoreError::io("read directory", &files_dir, e))?;
            let shard_path = shard.path();
            if !shard_path.is_dir() {
                continue;
            }
            for entry in read_dir(&shard_path)? {
                let entry = entry.map_err(|e| StoreError::io("read directory", &shard_path, e))?;
                let path = entry.path();
                if !in_use.contains(&path) {
                    prune_file(&path, now, options, &mut report);
                }
            }
        }
    }
    prune_rows(store, &mut report)?;
    prune_tmp(store, now, options, &mut report);
    prune_set_aside_indexes(store, now, options, &mut report);
    Ok(report)
}

/// The CAS paths the rows of `keys` name: their files and their cached builds' files.
fn files_in_use(store: &StoreDir, keys: &HashSet<String>) -> Result<HashSet<PathBuf>, StoreError> {
    let mut paths = HashSet::new();
    if keys.is_empty() || !store.index_db_path().exists() {
        return Ok(paths);
    }
    let index = StoreIndex::open(store)?;
    let keys: Vec<String> = keys.iter().cloned().collect();
    for chunk in keys.chunks(ROW_CHUNK) {
        for (_, data) in index.get_many_raw(chunk)? {
            let Ok(row) = msgpackr::decode(&data) else {
                continue;
            };
            let added = row
                .side_effects
                .iter()
                .flat_map(|entries| entries.values())
                .filter_map(|diff| diff.added.as_ref())
                .flat_map(|added| added.values());
            for info in row.files.values().chain(added) {
                if crate::layout::is_valid_digest(&info.digest) {
                    paths.insert(store.cas_path(&info.digest, info.is_executable()));
                }
            }
        }
    }
    Ok(paths)
}

fn read_dir(dir: &Path) -> Result<std::fs::ReadDir, StoreError> {
    std::fs::read_dir(dir).map_err(|e| StoreError::io("read directory", dir, e))
}

pub(crate) fn is_young(meta: &std::fs::Metadata, now: SystemTime, options: &PruneOptions) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        // An mtime in the future counts as young.
        .is_none_or(|age| age < options.grace_period)
}

fn prune_file(path: &Path, now: SystemTime, options: &PruneOptions, report: &mut PruneReport) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_file() || meta.nlink() != 1 {
        return;
    }
    if is_young(&meta, now, options) {
        report.skipped_young_files += 1;
        return;
    }
    let _guard = tack_fs::cas_write_lock(path).lock();
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_file() || meta.nlink() != 1 || is_young(&meta, now, options) {
        return;
    }
    if std::fs::remove_file(path).is_ok() {
        report.removed_files += 1;
        report.removed_bytes += meta.len();
    }
}

fn prune_rows(store: &StoreDir, report: &mut PruneReport) -> Result<(), StoreError> {
    if !store.index_db_path().exists() {
        return Ok(());
    }
    let index = StoreIndex::open(store)?;
    let keys = index.all_keys()?;
    let mut doomed = Vec::new();
    let mut stale_builds = Vec::new();
    for chunk in keys.chunks(ROW_CHUNK) {
        for (key, data) in index.get_many_raw(chunk)? {
            match msgpackr::decode(&data) {
                Ok(row) if row.files.values().any(|info| is_gone(store, info)) => doomed.push(key),
                Ok(row) if !stale_side_effects(store, &row).is_empty() => stale_builds.push(key),
                Ok(_) => {}
                Err(_) => report.undecodable_rows += 1,
            }
        }
    }
    index.delete(&doomed)?;
    report.removed_packages = doomed.len() as u64;
    // A build's own files (a copied package's) are linked by no project, so they go like
    // any other; the side-effects entry naming them goes with them, or the next install
    // would take the build from the cache and find its files missing. Judged again inside
    // the write, against the row as it is then.
    // By key: a retried transaction judges every row again.
    let mut dropped = std::collections::HashMap::new();
    index.update_many(&stale_builds, |key, row| {
        let mut row = row?;
        let stale = stale_side_effects(store, &row);
        if stale.is_empty() {
            return None;
        }
        let entries = row.side_effects.as_mut()?;
        entries.retain(|key, _| !stale.contains(key));
        dropped.insert(key.to_string(), stale.len() as u64);
        Some(row)
    })?;
    report.removed_side_effects = dropped.values().sum();
    Ok(())
}

/// Whether the CAS file of `info` is missing (or its digest names none).
fn is_gone(store: &StoreDir, info: &CafsFileInfo) -> bool {
    !crate::layout::is_valid_digest(&info.digest)
        || !store.cas_path(&info.digest, info.is_executable()).is_file()
}

/// The keys of the side-effects entries of `row` that add a file the store no longer has.
fn stale_side_effects(store: &StoreDir, row: &PackageFilesIndex) -> Vec<String> {
    let Some(entries) = &row.side_effects else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|(_, diff)| {
            diff.added
                .as_ref()
                .is_some_and(|added| added.values().any(|info| is_gone(store, info)))
        })
        .map(|(key, _)| key.clone())
        .collect()
}

fn prune_tmp(store: &StoreDir, now: SystemTime, options: &PruneOptions, report: &mut PruneReport) {
    let Ok(entries) = std::fs::read_dir(store.tmp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if is_young(&meta, now, options) {
            continue;
        }
        let removed = if meta.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if removed.is_ok() {
            report.removed_tmp_entries += 1;
        }
    }
}

/// Removes the damaged indexes installs set aside. They are kept for a while only so that
/// someone who wonders what happened can look; nothing reads them, and each may be as large
/// as the index it replaced. Judged by when they were set aside (the name's seconds), not
/// by their mtime, which is the damaged file's own.
fn prune_set_aside_indexes(
    store: &StoreDir,
    now: SystemTime,
    options: &PruneOptions,
    report: &mut PruneReport,
) {
    let Ok(entries) = std::fs::read_dir(store.root()) else {
        return;
    };
    let now_secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(set_aside_at) = name.to_str().and_then(set_aside_seconds) else {
            continue;
        };
        if now_secs.saturating_sub(set_aside_at) < options.grace_period.as_secs() {
            continue;
        }
        let path = entry.path();
        let is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        if is_file && std::fs::remove_file(&path).is_ok() && !name_has_sidecar_suffix(&name) {
            report.removed_set_aside_indexes += 1;
        }
    }
}

/// When the index named `name` was set aside: the seconds of
/// `index.db.corrupt-<seconds>-<pid>[-wal|-shm]`; `None` for any other name.
fn set_aside_seconds(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("index.db.corrupt-")?;
    let (seconds, _) = rest.split_once('-')?;
    seconds.parse().ok()
}

fn name_has_sidecar_suffix(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.ends_with("-wal") || name.ends_with("-shm")
}
