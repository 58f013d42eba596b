//! Holds the project's links back until the lockfile's supply-chain verdict is in, and takes
//! a rejected lockfile's packages out of the virtual store again.
//!
//! The check (`release_age.rs`) runs while the install downloads and imports, so that a
//! distant registry's round trips cost no more than the install itself. What the install
//! does before the verdict stays out of the project's reach: packages go into the CAS
//! (content only) and into their own directories of the virtual store, which nothing in the
//! project links to until the linker's last step. That step, the builds and the state files
//! wait for the verdict. A rejected lockfile's package directories that were not there
//! before the install are then removed, each moved aside first so that an install killed
//! while removing it leaves no directory that looks complete. Packages that were there
//! already stay. The record of the last complete install (`.pnpm/lock.yaml`) and the no-op
//! gate's markers, which the install set aside before it changed the tree, are put back
//! only when the tree is that install's again: it was finished, and every package directory
//! that was there was reused as it was (not imported again for `--force`, a directory
//! dependency, or a built package whose dependencies changed). Otherwise they stay away and
//! the in-progress sentinel stays, and the next install checks and repairs what is there.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tack_linker::{ImportOutcome, LinkPlan};

use super::release_age::PendingCheck;
use super::{in_progress, noop};
use crate::error::CliError;

/// A pending verdict and what the tree had before the install changed it.
pub struct VerdictGate {
    check: PendingCheck,
    before: Option<TreeBefore>,
}

/// What the modules dir and the virtual store held before the install.
struct TreeBefore {
    root_modules: PathBuf,
    root_modules_existed: bool,
    virtual_store: PathBuf,
    /// Where `lock.yaml` and the no-op markers live (the virtual store, unless its packages
    /// are the global virtual store's).
    state_dir: PathBuf,
    /// The virtual store's entries, or `None` when there was no virtual store.
    entries: Option<HashSet<OsString>>,
    /// Package dirs that were there, by dep path: their outcome decides whether the tree is
    /// the last install's again.
    existing_packages: Vec<String>,
    /// The last complete install's record, when the tree is one.
    recorded: Option<RecordedState>,
}

/// The files of the virtual store that vouch for the tree: `None` for one that was absent.
struct RecordedState {
    lock_yaml: Option<Vec<u8>>,
    markers: Option<Vec<u8>>,
}

impl VerdictGate {
    /// Notes what the tree of `link` holds, if the verdict is still to come. Called before
    /// the install changes the tree: a verdict in already is taken at once, and a rejected
    /// lockfile then changes nothing at all.
    pub fn new(check: PendingCheck, link: &LinkPlan) -> Result<Self, CliError> {
        let check = check.early_verdict()?;
        // A virtual store that cannot be listed whole: nothing is known to be this install's,
        // so nothing will be removed.
        let before = check
            .is_running()
            .then(|| listed(&link.virtual_store_dir))
            .flatten();
        let before = before.map(|entries| {
            let root_modules = link.root_modules_dir();
            let existing_packages = entries.as_ref().map_or_else(Vec::new, |entries| {
                link.packages
                    .iter()
                    .filter(|pkg| entries.contains(std::ffi::OsStr::new(&pkg.dir_name)))
                    .map(|pkg| pkg.dep_path.clone())
                    .collect()
            });
            let state = &link.install_state_dir;
            let finished = !root_modules.join(in_progress::IN_PROGRESS_FILE).exists();
            let recorded = (entries.is_some() && finished).then(|| RecordedState {
                lock_yaml: std::fs::read(link.current_lockfile_path()).ok(),
                markers: std::fs::read(state.join(noop::MARKERS_FILE)).ok(),
            });
            TreeBefore {
                root_modules_existed: root_modules.exists(),
                recorded,
                existing_packages,
                root_modules,
                virtual_store: link.virtual_store_dir.clone(),
                state_dir: state.clone(),
                entries,
            }
        });
        Ok(Self { check, before })
    }

    /// Whether the verdict is still to come: nothing of the project's own may be linked.
    pub fn is_pending(&self) -> bool {
        self.check.is_running()
    }

    /// Waits for the verdict. On a rejection (or metadata that could not be read), removes
    /// the package directories of `link` this install added and returns the check's error.
    /// `outcomes` are the imports' (`None` when they did not all finish: then nothing is
    /// removed, since a download cut short may still be unpacking into its directory, and
    /// would make it again under the path just cleared; what it leaves is not linked into
    /// the project, and has no completion marker unless it is whole).
    pub fn pass(
        self,
        link: &LinkPlan,
        outcomes: Option<&HashMap<String, ImportOutcome>>,
    ) -> Result<(), CliError> {
        let Self { check, before } = self;
        let Err(error) = check.verdict() else {
            return Ok(());
        };
        if let (Some(before), Some(outcomes)) = (before, outcomes) {
            before.restore(link, outcomes);
        }
        Err(error)
    }
}

impl TreeBefore {
    /// Removes what the install added to the virtual store (and the modules dir, when it
    /// made it). Best effort: a directory that cannot be removed was never linked into the
    /// project, and the next install finds it incomplete or checks it again.
    fn restore(&self, link: &LinkPlan, outcomes: &HashMap<String, ImportOutcome>) {
        match &self.entries {
            // The global virtual store's slots are shared with every project on the machine,
            // and are content, like the store's files: they stay.
            _ if self.virtual_store != self.state_dir => {}
            // Everything in the virtual store is this install's.
            None => remove_aside(&self.virtual_store),
            Some(entries) => {
                for pkg in &link.packages {
                    if !entries.contains(std::ffi::OsStr::new(&pkg.dir_name)) {
                        remove_aside(&self.virtual_store.join(&pkg.dir_name));
                    }
                }
            }
        }
        if !self.root_modules_existed {
            remove_aside(&self.root_modules);
        }
        let untouched = self
            .existing_packages
            .iter()
            .all(|dep_path| outcomes.get(dep_path) == Some(&ImportOutcome::Reused));
        if let Some(recorded) = self.recorded.as_ref().filter(|_| untouched) {
            let files = [
                ("lock.yaml", &recorded.lock_yaml),
                (noop::MARKERS_FILE, &recorded.markers),
            ];
            for (name, bytes) in files {
                if let Some(bytes) = bytes {
                    let path = self.state_dir.join(name);
                    let _ = tack_fs::AtomicWrite::new(&path).write_bytes(bytes);
                }
            }
            in_progress::end(&self.root_modules);
        }
    }
}

/// The entries of `dir`: `Some(None)` when it does not exist, `None` when it cannot be
/// listed whole.
fn listed(dir: &Path) -> Option<Option<HashSet<OsString>>> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(None),
        Err(_) => None,
        Ok(entries) => entries
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<Result<HashSet<_>, _>>()
            .ok()
            .map(Some),
    }
}

/// Moves `dir` aside (one rename: it is gone from its path at once), then deletes it.
fn remove_aside(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let Ok(aside) = tack_fs::temp_sibling(dir) else {
        return;
    };
    if std::fs::rename(dir, &aside).is_ok() {
        let _ = std::fs::remove_dir_all(&aside);
    }
}
