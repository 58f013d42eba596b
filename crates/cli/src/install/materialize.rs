//! Gets every package of the plan into the virtual store, overlapping the three kinds of work:
//! one batched `index.db` read for the whole plan, downloads on the async runtime, and
//! imports (on a small thread pool from the store, on the runtime's blocking threads after a
//! download) as soon as a package's files are known.
//!
//! Per package:
//! - row in the index and the package dir already complete → reused, no file is touched;
//! - row in the index → verify its files (mtime fast path) and import;
//! - no row, or a row that fails verification → fetch, then import.
//!
//! Right before each import the build step ([`Builds::prepare`]) decides whether the package
//! is copied rather than hard-linked and whether its side-effects cache entry is imported.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use indexmap::IndexMap;
use tack_linker::{
    create_fresh_package_dir_at, import_package_at, ChildLinks, EarlyBins, EarlyTopLevel,
    FilesFrom, FurtherDirs, ImportOutcome, ImportSummary, LinkPlan, PackageImporter, StoreFile,
    COMPLETION_MARKER,
};
use tack_store_dir::msgpackr::{self, RowView};
use tack_store_dir::{
    is_valid_digest, on_same_device, verify_files, verify_row_files, PackageFilesIndex, StoreDir,
    StoreIndex, VerifiedFilesCache,
};
use tack_tarball::{DirectTarget, Fetcher, PackageDir, PackageToFetch};

use super::build::{Builds, Prep};
use super::git_fetch;
use super::git_jobs::GitJobs;
use super::git_source::{GitOrigin, GitSource};
use super::import_gate::ImportGate;
use super::plan::{InstallPlan, Source};
use crate::error::CliError;
use crate::reporter::{Event, Reporter};

/// What materializing did, for the summary.
pub struct Materialized {
    pub summary: ImportSummary,
    /// Per package (plan order): what is kept of its store index row, when it has one.
    rows: Vec<Option<KeptRow>>,
    /// Per package: how the build step prepared its import (`None` when it was not imported).
    pub preps: Vec<Option<Prep>>,
}

/// What the build step may still need of a package's index row.
enum KeptRow {
    /// The row decoded whole (a download's new row, or a row read from the store that had
    /// to be decoded whole).
    Whole(Arc<PackageFilesIndex>),
    /// A row read from the store and imported without its manifest
    /// ([`msgpackr::decode_view`], [`msgpackr::decode_lean`]). Its bytes are kept only for
    /// a package the build step may build, patch or write back: for the others, the rest of
    /// the install needs no more than whether it requires a build.
    Read {
        requires_build: bool,
        bytes: Option<Vec<u8>>,
    },
}

impl Materialized {
    /// Whether package `i`'s row says it requires a build (`None` without a row).
    pub fn row_requires_build(&self, i: usize) -> Option<bool> {
        match self.rows.get(i)?.as_ref()? {
            KeptRow::Whole(row) => Some(super::build::row_requires_build(row)),
            KeptRow::Read { requires_build, .. } => Some(*requires_build),
        }
    }

    /// Package `i`'s row with its manifest, decoded again from its bytes when it was read
    /// without. `None` without a row, and for a row read from the store whose package the
    /// build step neither builds nor patches (its manifest is then read from the package).
    pub fn full_row(&self, i: usize) -> Option<std::borrow::Cow<'_, PackageFilesIndex>> {
        match self.rows.get(i)?.as_ref()? {
            KeptRow::Whole(row) => Some(std::borrow::Cow::Borrowed(row)),
            // It was read once, and its manifest's shape checked then: `None` here would take
            // a damaged index (read again meanwhile, by another process).
            KeptRow::Read { bytes, .. } => msgpackr::decode(bytes.as_deref()?)
                .ok()
                .map(std::borrow::Cow::Owned),
        }
    }
}

/// Threads that import files: two per core (at least two, at most eight).
fn import_threads() -> usize {
    import_threads_for(std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Linking is kernel work, and a `linkat` waits on the disk whenever the inode-table block of
/// the store file it links is no longer cached (the kernel must raise the file's link
/// count): in a warm medium install whose store had not been touched for a while, the two
/// import threads of a 2-core machine spent 114 ms of a 210 ms install blocked there. A
/// second thread per core runs while the first waits: alternating warm installs on two
/// cores, four threads against two took 0.88–0.91× the time with the store's blocks evicted
/// and 0.97–0.98× with them cached; eight gained more when evicted (0.86×) but lost a
/// little when cached.
fn import_threads_for(cores: usize) -> usize {
    cores.saturating_mul(2).clamp(2, 8)
}

enum Next {
    Done(ImportOutcome, Prep),
    Fetch,
    /// The package dir was complete already: nothing was verified or written.
    Complete,
    /// The index row could not be decoded (the reason): the package is fetched again.
    Corrupt(String),
}

/// Where an import task takes its package from.
enum Local {
    /// A store index row, still encoded: the import thread decodes it, so decoding overlaps
    /// the imports instead of being a phase of its own before them.
    Row(Vec<u8>),
    /// A directory (an injected workspace package).
    Directory,
}

/// What deciding on a package with an index row needs: whether it can be imported from
/// the store, and importing it when it can.
struct FromStore<'a> {
    plan: &'a InstallPlan,
    store: &'a StoreDir,
    verified: &'a VerifiedFilesCache,
    /// Whether the store's files are verified (`verify-store-integrity`).
    verify: bool,
    filler: &'a SlotFiller,
    builds: &'a Builds,
}

impl FromStore<'_> {
    /// Package `index` from its decoded `row`, with its side-effects cache entry when the
    /// build step takes one.
    fn row(&self, index: usize, row: &PackageFilesIndex) -> Result<Next, CliError> {
        let mut prep = self.builds.prepare(self.plan, index, Some(row))?;
        let usable = |row: &PackageFilesIndex| {
            if self.verify {
                verify_row_files(self.store, row, self.verified)
            } else {
                digests_valid(row)
            }
        };
        let built_row;
        let mut chosen = None;
        if let Some(cached) = prep.cached_files.take() {
            // The package as built: its base files with the cache entry applied.
            built_row = PackageFilesIndex {
                files: cached.clone(),
                side_effects: None,
                ..row.clone()
            };
            if usable(&built_row) {
                prep.cached_files = Some(cached);
                chosen = Some(&built_row);
            } else {
                let (requires_build, patched) = self.builds.needs(index, row);
                prep = prep.without_cache(requires_build, patched);
            }
        }
        let chosen = match chosen {
            Some(built) => built,
            None if usable(row) => row,
            None => return Ok(Next::Fetch),
        };
        let files = store_files(chosen, Some(self.verified));
        let built_here = super::build::row_requires_build(row) || self.builds.is_patched(index);
        let outcome =
            self.filler
                .fill_from_store(self.plan, index, &files, prep.force_copy, built_here)?;
        Ok(Next::Done(outcome, prep))
    }

    /// [`FromStore::row`] for a row read in place ([`msgpackr::decode_view`]): no
    /// side-effects entries, so the build step only decides between links and copies.
    fn view(&self, index: usize, view: &RowView<'_>) -> Result<Next, CliError> {
        let prep = self
            .builds
            .prepare_without_cache(index, view.requires_build);
        let files = view.files.iter().map(|(_, f)| *f);
        let usable = if self.verify {
            verify_files(self.store, view.algo, files, self.verified)
        } else {
            view.files.iter().all(|(_, f)| is_valid_digest(f.digest))
        };
        if !usable {
            return Ok(Next::Fetch);
        }
        let files: Vec<StoreFile<'_>> = view
            .files
            .iter()
            .map(|(rel_path, f)| StoreFile {
                rel_path,
                digest: f.digest,
                executable: f.is_executable(),
                copy: self.verified.mode_changed(f.digest, f.is_executable()),
            })
            .collect();
        let built_here = view.requires_build || self.builds.is_patched(index);
        let outcome =
            self.filler
                .fill_from_store(self.plan, index, &files, prep.force_copy, built_here)?;
        Ok(Next::Done(outcome, prep))
    }
}

/// Whether every digest of `row` can name a CAS file (all a row needs when the store is
/// not verified: a malformed digest never becomes a path).
fn digests_valid(row: &PackageFilesIndex) -> bool {
    row.files.values().all(|info| is_valid_digest(&info.digest))
}

/// The files of `row` for an import, borrowed from it; those `verified` found with changed
/// exec bits are copied.
fn store_files<'r>(
    row: &'r PackageFilesIndex,
    verified: Option<&VerifiedFilesCache>,
) -> Vec<StoreFile<'r>> {
    row.files
        .iter()
        .map(|(rel_path, info)| StoreFile {
            rel_path,
            digest: &info.digest,
            executable: info.is_executable(),
            copy: verified.is_some_and(|v| v.mode_changed(&info.digest, info.is_executable())),
        })
        .collect()
}

/// What an import task needs to fill a package's slot in the virtual store: the file
/// importers, every package's resolved child links, the store's `files/` directory, and the
/// `.bin` directories waiting for packages to be in place.
struct SlotFiller {
    importer: PackageImporter,
    child_links: ChildLinks,
    files_dir: std::path::PathBuf,
    /// `None` in the hoisted layout, which has no per-package `.bin` (see `hoisted_link`).
    early_bins: Option<Arc<EarlyBins>>,
    /// The hoisted layout's further directories, made as their packages come in place.
    further_dirs: Option<Arc<FurtherDirs>>,
    /// Which packages are imported into a staging directory to be built there.
    builds: Arc<Builds>,
}

impl SlotFiller {
    /// Package `i` is complete (`fresh`: this install imported it): the `.bin` directories
    /// waiting for it may be written, and in the hoisted layout its further directories are
    /// made, on this import thread while the others still import.
    fn in_place(&self, plan: &InstallPlan, i: usize, fresh: bool) -> Result<(), CliError> {
        if let Some(early_bins) = &self.early_bins {
            early_bins.in_place(&plan.link, i, fresh);
        }
        if let Some(further_dirs) = &self.further_dirs {
            further_dirs.package_in_place(&plan.link, i, fresh)?;
        }
        Ok(())
    }

    /// Imports package `i` from `files`, then, when the import created its slot, makes its
    /// child links on the same thread (a reused slot keeps its links; the linker checks them).
    ///
    /// `built_here`: the build step builds or patches the package in its directory. Such a
    /// directory that the last complete install did not have was left by one that stopped
    /// before its end, between the copy and the build: it is imported again, so that the
    /// build and the patch start from the package's own files.
    fn fill(
        &self,
        plan: &InstallPlan,
        i: usize,
        files: FilesFrom<'_>,
        force_copy: bool,
        built_here: bool,
    ) -> Result<ImportOutcome, CliError> {
        let link = &plan.link;
        // A shared slot's package is never built in its directory (see
        // `tack_build::stage`): a complete one there is whole, and another project's.
        if built_here && !link.shared_slots && !plan.recorded.get(i).copied().unwrap_or(false) {
            forget_marker(link, i);
        }
        let outcome = match self.builds.build_stage(i, force_copy) {
            Some(stage) => {
                let pkg = &link.packages[i];
                let stage_dir = tack_linker::build_stage_dir(&link.virtual_store_dir, pkg, stage);
                self.builds.remember_stage(stage_dir);
                let outcome = tack_linker::import_package_staged(
                    pkg,
                    files,
                    force_copy,
                    &link.virtual_store_dir,
                    stage,
                    &self.importer,
                )?;
                if outcome != ImportOutcome::Reused {
                    if let Some(early_bins) = &self.early_bins {
                        early_bins.mark_staged(i);
                    }
                }
                outcome
            }
            None => import_package_at(
                &link.packages[i],
                files,
                force_copy,
                link.home(i),
                &self.importer,
            )?,
        };
        match outcome {
            // The hoisted layout has no child links: Node finds a package's dependencies
            // up the tree.
            _ if link.hoisted.is_some() => {}
            ImportOutcome::Reused => {}
            ImportOutcome::Repaired => self.child_links.link_again(link, i)?,
            ImportOutcome::Imported => self.child_links.link_fresh(link, i)?,
        }
        Ok(outcome)
    }

    /// Finishes package `i` after its download filled its directory directly (see
    /// [`DirectTarget`]): its child links, or, when it must be copied after all (its
    /// manifest asks for a build), a fresh import with copies in place of the links.
    fn adopt_filled(
        &self,
        plan: &InstallPlan,
        i: usize,
        row: &PackageFilesIndex,
        force_copy: bool,
    ) -> Result<ImportOutcome, CliError> {
        let link = &plan.link;
        if force_copy {
            let dir = link.package_dir(&link.packages[i]);
            let removed = if link.hoisted.is_some() {
                // What is placed below it stays.
                tack_linker::clear_except_modules(&dir).map(|_| ())
            } else {
                std::fs::remove_dir_all(&dir)
            };
            removed.map_err(|source| tack_linker::LinkError::Io {
                op: "remove (to copy the package instead)",
                path: dir.clone(),
                package: link.packages[i].dep_path.clone(),
                source,
            })?;
            return self.fill_from_store(plan, i, &store_files(row, None), true, true);
        }
        if link.hoisted.is_none() {
            self.child_links.link_fresh(link, i)?;
        }
        Ok(ImportOutcome::Imported)
    }

    /// [`SlotFiller::fill`] from files in the store.
    fn fill_from_store(
        &self,
        plan: &InstallPlan,
        i: usize,
        files: &[StoreFile<'_>],
        force_copy: bool,
        built_here: bool,
    ) -> Result<ImportOutcome, CliError> {
        let files = FilesFrom::Store {
            files_dir: &self.files_dir,
            files,
        };
        self.fill(plan, i, files, force_copy, built_here)
    }
}

/// How long the main thread sleeps between looks at the imports' and downloads' results.
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(1);

/// The next result of an import or a download (`sender` names which, for the error when
/// every sender is gone). Polled rather than waited for: a blocked receiver is woken by a
/// futex call from the sending thread for every package, and the two sides contend on the
/// channel's waker lock. In a warm install that was about 2,000 futex calls (and as many
/// context switches) for 750 packages, on two cores that the imports keep busy; a cold
/// install's downloads woke this thread 880 times. Nothing here is urgent: the results are
/// only gathered for the end of the phase, so a millisecond's delay costs at most a
/// millisecond once.
fn poll(rx: &std::sync::mpsc::Receiver<Message>, sender: &str) -> Result<Message, CliError> {
    loop {
        match rx.try_recv() {
            Ok(message) => return Ok(message),
            Err(std::sync::mpsc::TryRecvError::Empty) => std::thread::sleep(POLL_INTERVAL),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                return Err(CliError::new(
                    "ERR_TACK_INTERNAL",
                    format!("{sender} stopped without reporting"),
                ))
            }
        }
    }
}

/// Rows asked for in the first index query; later queries ask for twice as many each.
const FIRST_INDEX_QUERY: usize = 64;

/// What an import task of phase 1 needs, shared by all of them.
struct LocalImports {
    tx: std::sync::mpsc::Sender<Message>,
    /// Made by the first import: a cold install imports nothing from the store, and a pool
    /// made anyway had its idle threads spinning for work (337 `sched_yield` calls in a
    /// small cold install).
    pool: std::cell::OnceCell<rayon::ThreadPool>,
    filler: Arc<SlotFiller>,
    verified: Arc<VerifiedFilesCache>,
    store: StoreDir,
    plan: Arc<InstallPlan>,
    builds: Arc<Builds>,
    verify: bool,
    virtual_store_existed: bool,
    gate: Arc<ImportGate>,
}

impl LocalImports {
    /// Imports package `i` from `local` on the import pool; the result comes back as a
    /// [`Message::Local`].
    fn spawn(&self, i: usize, local: Local) -> Result<(), CliError> {
        let pool = match self.pool.get() {
            Some(pool) => pool,
            None => {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(import_threads())
                    .thread_name(|i| format!("tack-import-{i}"))
                    .build()
                    .map_err(|e| {
                        CliError::new(
                            "ERR_TACK_THREAD_POOL",
                            format!("could not start import threads: {e}"),
                        )
                    })?;
                self.pool.get_or_init(|| pool)
            }
        };
        let (tx, filler, verified, store, plan, builds) = (
            self.tx.clone(),
            Arc::clone(&self.filler),
            Arc::clone(&self.verified),
            self.store.clone(),
            Arc::clone(&self.plan),
            Arc::clone(&self.builds),
        );
        let (verify, virtual_store_existed) = (self.verify, self.virtual_store_existed);
        let gate = Arc::clone(&self.gate);
        pool.spawn(move || {
            // The install failed meanwhile: nobody waits for this result.
            let Some(_entered) = gate.enter() else {
                return;
            };
            let mut kept = None;
            // A package the build step builds or patches is complete only if the last
            // complete install had it (see `SlotFiller::fill`).
            let complete = |requires_build: bool| {
                virtual_store_existed
                    && !plan.link.reimports_complete_packages()
                    && (plan.recorded.get(i).copied().unwrap_or(false)
                        || !(requires_build || builds.is_patched(i)))
                    && package_dir_complete(&plan.link, i)
            };
            // The bytes of a row read without its manifest are kept only for a package the
            // build step may need it whole for (see `KeptRow::Read`).
            let keep = |bytes: Vec<u8>, requires_build: bool| KeptRow::Read {
                requires_build,
                bytes: (requires_build || builds.is_patched(i)).then_some(bytes),
            };
            let from_store = FromStore {
                plan: &plan,
                store: &store,
                verified: &verified,
                verify,
                filler: &filler,
                builds: &builds,
            };
            let result = match local {
                Local::Row(bytes) => {
                    let viewed = msgpackr::decode_view(&bytes).map(|view| {
                        let requires_build = view.requires_build;
                        let next = if complete(requires_build) {
                            Ok(Next::Complete)
                        } else {
                            from_store.view(i, &view)
                        };
                        (next, requires_build)
                    });
                    match viewed {
                        Some((next, requires_build)) => {
                            kept = Some(keep(bytes, requires_build));
                            next
                        }
                        None => match msgpackr::decode_lean(&bytes) {
                            Err(error) => Ok(Next::Corrupt(error.to_string())),
                            Ok((decoded, manifest_skipped)) => {
                                let next = if complete(decoded.requires_build.unwrap_or(true)) {
                                    Ok(Next::Complete)
                                } else {
                                    from_store.row(i, &decoded)
                                };
                                kept = Some(match decoded.requires_build {
                                    Some(requires_build) if manifest_skipped => {
                                        keep(bytes, requires_build)
                                    }
                                    _ => KeptRow::Whole(Arc::new(decoded)),
                                });
                                next
                            }
                        },
                    }
                }
                Local::Directory => builds.prepare(&plan, i, None).and_then(|prep| {
                    let files = &plan.link.packages[i].files;
                    filler
                        .fill(&plan, i, FilesFrom::Plan(files), prep.force_copy, false)
                        .map(|o| Next::Done(o, prep))
                }),
            };
            let in_place = match &result {
                Ok(Next::Done(outcome, _)) => {
                    filler.in_place(&plan, i, *outcome != ImportOutcome::Reused)
                }
                Ok(Next::Complete) => filler.in_place(&plan, i, false),
                // Fetched in phase 2, which reports it in place then.
                Ok(Next::Fetch | Next::Corrupt(_)) | Err(_) => Ok(()),
            };
            let result = in_place.and(result);
            // The row travels back with the result rather than being cloned up front.
            let _ = tx.send(Message::Local(i, result, kept));
        });
        Ok(())
    }
}

/// Removes the completion marker of package `index`, so that its import starts afresh.
fn forget_marker(plan: &LinkPlan, index: usize) {
    let _ = std::fs::remove_file(
        plan.package_dir(&plan.packages[index])
            .join(COMPLETION_MARKER),
    );
}

fn package_dir_complete(plan: &LinkPlan, index: usize) -> bool {
    // A regular file: a hostile archive can leave a directory of that name behind.
    plan.package_dir(&plan.packages[index])
        .join(COMPLETION_MARKER)
        .is_file()
}

/// How [`materialize`] goes about it.
#[derive(Debug, Clone, Copy)]
pub struct MaterializeOptions<'a> {
    /// `verifyStoreIntegrity`: a row's files are checked before they are linked.
    pub verify_store_integrity: bool,
    /// In a new virtual store, make the importers' and the hoisted links while packages are
    /// imported. Off while the lockfile's supply-chain verdict is still to come: those links
    /// are the project's, and wait for it (`verdict_gate.rs`); the linker's last step makes
    /// them then.
    pub link_top_level_early: bool,
    /// Told when the top level begins to be made early, so that a failed install can take
    /// it back (see `withdraw`).
    pub early_top_level: &'a EarlyTopLevel,
}

/// Runs the whole materialization. `make_fetcher` is called only when a package must be
/// downloaded, and gives `None` offline. On an error, no import is left running (see
/// `import_gate`).
pub fn materialize(
    plan: &Arc<InstallPlan>,
    store: &StoreDir,
    make_fetcher: impl FnOnce() -> Result<Option<Fetcher>, CliError>,
    options: MaterializeOptions<'_>,
    reporter: &Reporter,
    runtime: &tokio::runtime::Runtime,
    builds: &Arc<Builds>,
) -> Result<Materialized, CliError> {
    let gate = Arc::new(ImportGate::default());
    let gate_guard = CloseGateOnError(Some(&gate));
    let gate = &gate;
    let link = &plan.link;
    // In a fresh virtual store no package dir can be complete: skip one failing stat per
    // package. (A concurrent install filling it meanwhile is still handled: the import
    // itself finds an existing slot and checks its marker.)
    let virtual_store_existed = link.virtual_store_dir.exists();
    let mut kept_rows: Vec<Option<KeptRow>> = std::iter::repeat_with(|| None)
        .take(link.packages.len())
        .collect();
    let mut preps: Vec<Option<Prep>> = vec![None; link.packages.len()];
    // pnpm 12 counts, over a tree whose install recorded its lockfile, only the packages it
    // has to import: those the record lacks, and those it has whose directory is not complete.
    // The first are announced now, the others once their directory has been looked at.
    // In the hoisted layout it counts every package of the tree as resolved, and each one in
    // the store as reused, whether its directory is in place or not, the peer variants it
    // places nowhere included (with the files of the variant it places); it counts as added
    // each directory not left in place (see `hoisted_counts`).
    // (Nothing at all where it would not install: see `HoistedCounts::unannounced`.)
    let hoisted = link.hoisted.is_some();
    let unannounced = plan.hoisted_counts.unannounced;
    let recorded = |i: usize| !hoisted && plan.recorded.get(i).copied().unwrap_or(false);
    let announce = |i: usize| {
        reporter.emit(Event::Resolved {
            package_id: plan.sources[i].package_id.clone(),
        })
    };
    let mut unplaced_of: HashMap<usize, Vec<&str>> = HashMap::new();
    for unplaced in plan.hoisted_counts.unplaced.iter().filter(|_| !unannounced) {
        reporter.emit(Event::Resolved {
            package_id: unplaced.package_id.clone(),
        });
        if let Some(placed) = unplaced.placed {
            unplaced_of
                .entry(placed)
                .or_default()
                .push(&unplaced.package_id);
        }
    }
    let found_in_store = |i: usize| {
        if plan.sources[i].source.store_key().is_some() && !unannounced {
            let unplaced = unplaced_of.get(&i).into_iter().flatten().copied();
            for package_id in std::iter::once(plan.sources[i].package_id.as_str()).chain(unplaced) {
                reporter.emit(Event::FoundInStore {
                    package_id: package_id.to_string(),
                });
            }
        }
    };
    let hoisted_imports = |i: usize| {
        let count = plan.hoisted_counts.added.get(i).copied().unwrap_or(0);
        for _ in 0..count {
            reporter.emit(Event::Imported {
                package_id: plan.sources[i].package_id.clone(),
            });
        }
    };
    for i in (0..plan.sources.len()).filter(|&i| !recorded(i) && !unannounced) {
        announce(i);
    }
    let (tx, rx) = std::sync::mpsc::channel::<Message>();
    let locals = LocalImports {
        tx: tx.clone(),
        pool: std::cell::OnceCell::new(),
        filler: Arc::new(SlotFiller {
            importer: PackageImporter::for_plan(link),
            child_links: ChildLinks::new(link)?,
            files_dir: store.files_dir(),
            early_bins: link
                .hoisted
                .is_none()
                .then(|| Arc::new(EarlyBins::new(link))),
            further_dirs: FurtherDirs::for_plan(link).map(Arc::new),
            builds: Arc::clone(builds),
        }),
        // Packages hold about 30 files each on average; a little room too many costs
        // less than rehashing as the set grows.
        verified: Arc::new(VerifiedFilesCache::with_capacity(
            link.packages.len().saturating_mul(32),
        )),
        store: store.clone(),
        plan: Arc::clone(plan),
        builds: Arc::clone(builds),
        verify: options.verify_store_integrity,
        virtual_store_existed,
        gate: Arc::clone(gate),
    };

    // Phase 1: everything the store (or a source dir) can serve, on the import pool. Rows
    // are read a query at a time and each package goes to the pool as soon as its row is
    // read, so imports start while the rest of the index is still being read.
    let mut pending = 0usize;
    let mut to_fetch = Vec::new();
    // Filled as the results come in: this thread mostly waits for them meanwhile, and the
    // 900 dep paths copied into it at the end were half a millisecond with no other work.
    let mut summary = ImportSummary {
        virtual_store_created: !virtual_store_existed,
        ..ImportSummary::default()
    };
    summary.outcomes.reserve(link.packages.len());
    summary.children_linked.reserve(link.packages.len());
    let record = |summary: &mut ImportSummary, i: usize, outcome: ImportOutcome| {
        let dep_path = &link.packages[i].dep_path;
        summary.record(dep_path.clone(), outcome);
        if outcome != ImportOutcome::Reused {
            summary.record_children_linked(dep_path.clone());
        }
    };
    // Peer variants of one package share its store key, and so its row.
    let mut users: HashMap<&str, Vec<usize>> = HashMap::with_capacity(plan.sources.len());
    let mut keys: Vec<&str> = Vec::with_capacity(plan.sources.len());
    for (i, src) in plan.sources.iter().enumerate() {
        match &src.source {
            Source::Directory(_) => {
                locals.spawn(i, Local::Directory)?;
                pending += 1;
            }
            Source::Tarball { store_key, url, .. } => {
                let list = users.entry(store_key.as_str()).or_default();
                // A local tarball is read and judged on every install, as pnpm 12 does in a
                // frozen install: its row is not looked up, so that a file changed under an
                // unchanged lockfile fails the integrity check instead of going unnoticed.
                if list.is_empty() && tack_tarball::local_tarball_path(url).is_none() {
                    keys.push(store_key);
                }
                list.push(i);
            }
            Source::Git(git) => {
                let list = users.entry(git.store_key.as_str()).or_default();
                if list.is_empty() {
                    keys.push(&git.store_key);
                }
                list.push(i);
            }
        }
    }
    // A store without `index.db` (a cold install, a wiped store) has no rows to read, and
    // creating the database here (schema, WAL, syncs: about 9 ms) would delay the first
    // download; the index writer creates it on its own thread. If another install creates
    // it meanwhile, this one only fetches what it could have reused.
    let index = if store.index_db_path().exists() {
        Some(StoreIndex::open(store)?)
    } else {
        None
    };
    if let Some(index) = &index {
        let mut failed = None;
        index.get_many_raw_each(&keys, FIRST_INDEX_QUERY, |rows| {
            for (key, bytes) in rows {
                if failed.is_some() {
                    return;
                }
                let Some(list) = users.remove(key.as_str()) else {
                    continue;
                };
                let Some((&last, others)) = list.split_last() else {
                    continue;
                };
                let spawned = others
                    .iter()
                    .try_for_each(|&i| locals.spawn(i, Local::Row(bytes.clone())))
                    .and_then(|()| locals.spawn(last, Local::Row(bytes)));
                match spawned {
                    Ok(()) => pending += list.len(),
                    Err(e) => failed = Some(e),
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
    }
    drop(index);
    tack_fs::phase_timer::mark("index query");
    // What the index does not have is downloaded, in plan order.
    to_fetch.extend(users.into_values().flatten());
    to_fetch.sort_unstable();
    let filler = Arc::clone(&locals.filler);
    // The pool outlives the tasks it was given: they report to this thread below.
    let _pool = locals.pool.into_inner();
    drop(locals.tx);
    // In a new virtual store, nothing stale stands in the way of the importer and hoisted
    // links: this thread makes them while the pool imports (or the runtime downloads).
    let mut top_level_linked = None;
    let mut link_top_level = || -> Result<(), CliError> {
        if options.link_top_level_early && !virtual_store_existed && top_level_linked.is_none() {
            let early = options.early_top_level;
            let hoisted = tack_linker::link_top_level(link, early, filler.early_bins.as_ref())?;
            if let Some(early_bins) = &filler.early_bins {
                early_bins.hoisting_known(link, &hoisted);
            }
            top_level_linked = Some(hoisted);
        }
        Ok(())
    };
    if pending > 0 {
        link_top_level()?;
    }
    while pending > 0 {
        let Message::Local(i, result, row) = poll(&rx, "an import thread")? else {
            continue;
        };
        pending -= 1;
        kept_rows[i] = row;
        match result? {
            Next::Done(outcome, prep) => {
                preps[i] = Some(prep);
                let in_place = (hoisted || recorded(i)) && outcome == ImportOutcome::Reused;
                if hoisted {
                    found_in_store(i);
                    hoisted_imports(i);
                } else if !in_place {
                    if recorded(i) {
                        announce(i);
                    }
                    found_in_store(i);
                    reporter.emit(Event::Imported {
                        package_id: plan.sources[i].package_id.clone(),
                    });
                }
                record(&mut summary, i, outcome);
            }
            Next::Fetch => to_fetch.push(i),
            Next::Complete => {
                // In place already; one the record lacks is linked anew, which pnpm 12
                // counts as added.
                if hoisted {
                    found_in_store(i);
                    hoisted_imports(i);
                } else if !recorded(i) {
                    found_in_store(i);
                    reporter.emit(Event::Imported {
                        package_id: plan.sources[i].package_id.clone(),
                    });
                }
                record(&mut summary, i, ImportOutcome::Reused);
            }
            Next::Corrupt(error) => {
                if let Some(store_key) = plan.sources[i].source.store_key() {
                    reporter.warn(format!(
                        "The store index row {store_key} could not be decoded ({error}); the package will be fetched again"
                    ));
                }
                to_fetch.push(i);
            }
        }
    }

    tack_fs::phase_timer::mark("verify + import from store");
    // Phase 2: downloads on the runtime; each package is finished (imported, or only given
    // its child links when its download unpacked it in place) as soon as its files are in
    // the store: on the runtime thread that downloaded it when that is a few `symlink`
    // calls, on the runtime's blocking threads otherwise, at most `import_threads()` at once.
    // Not on the import pool: its rayon threads spin, yielding, each time they run out of
    // work, and in a cold install they ran out after every package (about 7k context
    // switches for the medium fixture, on two cores the downloads keep busy).
    for &i in to_fetch.iter().filter(|&&i| recorded(i)) {
        announce(i);
    }
    if !to_fetch.is_empty() {
        let imports = Arc::new(tokio::sync::Semaphore::new(import_threads()));
        let Some(fetcher) = make_fetcher()? else {
            let names: Vec<&str> = to_fetch
                .iter()
                .map(|&i| plan.sources[i].package_id.as_str())
                .collect();
            return Err(CliError::new(
                "ERR_PNPM_NO_OFFLINE_TARBALL",
                format!(
                    "{} package(s) are not in the store and --offline forbids downloading them: {}",
                    names.len(),
                    names.join(", ")
                ),
            )
            .with_help("Run the install once without --offline to fill the store."));
        };
        // A download may unpack straight into its package directory when the package is
        // hard-linked from the store like any other (see `DirectTarget`).
        let direct = filler.importer.links_from_store()
            && on_same_device(&filler.files_dir, &link.virtual_store_dir);
        // Large archives are mostly near the importers: asked for first, they are not left
        // to unpack alone at the end.
        super::fetch_order::nearest_first(link, &mut to_fetch);
        // The last download to end seals the index writer: its last batch is committed
        // while the remaining imports run. Waiting for the install's end, the last 150 ms
        // of rows and the checkpoint on close took 6–23 ms with nothing else left to do.
        let unfetched = Arc::new(AtomicUsize::new(to_fetch.len()));
        let mut downloads = 0usize;
        // Clones and preparations (a nested install each) run two at a time, once per
        // store key: the peer variants of one git dependency share its checkout and row.
        let git_slots = Arc::new(tokio::sync::Semaphore::new(2));
        // Whatever way this function returns, no clone or preparation outlives it.
        let git_jobs = CancelOnReturn(Arc::new(GitJobs::default()));
        let mut git_variants: IndexMap<&str, Vec<usize>> = IndexMap::new();
        for &i in &to_fetch {
            if let Source::Git(git) = &plan.sources[i].source {
                git_variants.entry(&git.store_key).or_default().push(i);
            }
        }
        for indices in git_variants.into_values() {
            let Source::Git(git) = &plan.sources[indices[0]].source else {
                continue;
            };
            downloads += indices.len();
            let task = GitTask {
                indices,
                git: git.as_ref().clone(),
                store: store.clone(),
                fetcher: fetcher.clone(),
                unfetched: Arc::clone(&unfetched),
                tx: tx.clone(),
                filler: Arc::clone(&filler),
                imports: Arc::clone(&imports),
                plan: Arc::clone(plan),
                builds: Arc::clone(builds),
                slots: Arc::clone(&git_slots),
                jobs: Arc::clone(&git_jobs.0),
                gate: Arc::clone(gate),
            };
            runtime.spawn(task.run());
        }
        for &i in &to_fetch {
            let Source::Tarball { integrity, url, .. } = &plan.sources[i].source else {
                continue;
            };
            downloads += 1;
            // Not a package this install may build in a shared slot: its package directory
            // must not appear before its build is done.
            let target = (direct && !builds.is_patched(i) && builds.build_stage(i, true).is_none())
                .then(|| {
                    let plan = Arc::clone(plan);
                    DirectTarget::new(move || {
                        let link = &plan.link;
                        let created = create_fresh_package_dir_at(&link.packages[i], link.home(i));
                        // An error here is met again, and reported, by the ordinary import.
                        let (path, fd) = created.ok().flatten()?;
                        Some(PackageDir {
                            path,
                            fd,
                            marker: COMPLETION_MARKER,
                        })
                    })
                });
            let pkg = &link.packages[i];
            let request = PackageToFetch {
                pkg_id: plan.sources[i].package_id.clone(),
                name: pkg.name.clone(),
                version: pkg.version.clone(),
                integrity: Some(integrity.clone()),
                tarball_url: url.clone(),
                git_archive: false,
            };
            let (fetcher, unfetched, tx, filler, imports, plan, builds, gate) = (
                fetcher.clone(),
                Arc::clone(&unfetched),
                tx.clone(),
                Arc::clone(&filler),
                Arc::clone(&imports),
                Arc::clone(plan),
                Arc::clone(builds),
                Arc::clone(gate),
            );
            runtime.spawn(async move {
                let fetched = fetcher.fetch_into(&request, target.clone()).await;
                if unfetched.fetch_sub(1, Ordering::AcqRel) == 1 {
                    fetcher.all_fetched();
                }
                let row = match fetched {
                    Ok(row) => row,
                    Err(err) => {
                        let _ = tx.send(Message::Fetched(i, Err(CliError::from(err))));
                        return;
                    }
                };
                let filled = target.as_ref().is_some_and(|t| t.filled());
                // A package with bins may complete its dependents' `.bin` directories, up to
                // every importer's: possibly thousands of shims, too long to hold up a thread
                // that serves downloads.
                let in_place = filled
                    && !plan.link.packages[i].has_bin
                    && !super::build::row_requires_build(&row);
                let finish = move || {
                    let Some(_entered) = gate.enter() else {
                        return;
                    };
                    let result = finish_fetched(&plan, &builds, &filler, i, row, filled);
                    let _ = tx.send(Message::Fetched(i, result));
                };
                // A package its download unpacked in place only needs its child links (a few
                // `symlink` calls) and perhaps its own `.bin` directory: that is done here,
                // on the runtime thread that finished the download. Handed to the blocking
                // pool instead, every package cost two thread wake-ups (the pool's, then this
                // task's), and the pool's lock was contended: about 900 of a cold medium
                // install's 2,300 voluntary context switches. A package still to be imported
                // from the store (or copied, because it will be built) is real file work and
                // goes to the blocking pool, at most `import_threads()` at once.
                if in_place {
                    finish();
                    return;
                }
                // Closed only if the runtime is going away; then the import runs unlimited.
                let permit = imports.acquire_owned().await.ok();
                drop(tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    finish();
                }));
            });
        }
        drop(fetcher);
        // Only the downloads hold senders now: one that ends without reporting (a panic)
        // ends the wait below with an error once the others are done, instead of hanging.
        drop(tx);
        link_top_level()?;
        for _ in 0..downloads {
            let Message::Fetched(i, result) = poll(&rx, "a download")? else {
                continue;
            };
            let (outcome, prep, row) = result?;
            preps[i] = Some(prep);
            kept_rows[i] = Some(KeptRow::Whole(row));
            // pnpm 12 counts a cloned repository as added, not downloaded.
            let cloned = matches!(&plan.sources[i].source,
                Source::Git(git) if matches!(git.origin, GitOrigin::Clone(_)));
            if !cloned {
                reporter.emit(Event::Fetched {
                    package_id: plan.sources[i].package_id.clone(),
                });
            }
            if hoisted {
                hoisted_imports(i);
            } else if outcome != ImportOutcome::Reused {
                reporter.emit(Event::Imported {
                    package_id: plan.sources[i].package_id.clone(),
                });
            }
            record(&mut summary, i, outcome);
        }
    }

    tack_fs::phase_timer::mark("fetch + import");
    summary.top_level_linked = top_level_linked;
    summary.early_bins = filler.early_bins.clone();
    summary.further_dirs = filler.further_dirs.clone();
    gate_guard.disarm();
    Ok(Materialized {
        summary,
        rows: kept_rows,
        preps,
    })
}

/// Closes the import gate, waiting for the imports under way, when [`materialize`] returns
/// early with an error (or unwinds); disarmed on its way to success.
struct CloseGateOnError<'a>(Option<&'a ImportGate>);

impl CloseGateOnError<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CloseGateOnError<'_> {
    fn drop(&mut self) {
        if let Some(gate) = self.0 {
            gate.close_and_wait();
        }
    }
}

/// Package `i` after its download: given its child links when the download unpacked it
/// in place (`filled`), imported from the store otherwise; its `.bin` directory and its
/// dependents' are written as soon as they are complete.
fn finish_fetched(
    plan: &InstallPlan,
    builds: &Builds,
    filler: &SlotFiller,
    i: usize,
    row: Arc<PackageFilesIndex>,
    filled: bool,
) -> Result<(ImportOutcome, Prep, Arc<PackageFilesIndex>), CliError> {
    if !digests_valid(&row) {
        return Err(CliError::new(
            "ERR_TACK_BAD_INDEX_ROW",
            format!(
                "the store index row of {} names a malformed digest",
                plan.link.packages[i].dep_path
            ),
        ));
    }
    let prep = builds.prepare(plan, i, Some(&row))?;
    // A fresh row's base files are imported: no cached build.
    let (requires_build, patched) = builds.needs(i, &row);
    let prep = prep.without_cache(requires_build, patched);
    let outcome = if filled {
        filler.adopt_filled(plan, i, &row, prep.force_copy)?
    } else {
        filler.fill_from_store(
            plan,
            i,
            &store_files(&row, None),
            prep.force_copy,
            requires_build || patched,
        )?
    };
    filler.in_place(plan, i, outcome != ImportOutcome::Reused)?;
    Ok((outcome, prep, row))
}

/// A git dependency the store lacks: its commit is checked out, prepared and packed (see
/// `git_fetch`), its row recorded, then each of its variants (`indices`, one per set of
/// peers) is imported like a downloaded package.
struct GitTask {
    indices: Vec<usize>,
    git: GitSource,
    store: StoreDir,
    fetcher: Fetcher,
    unfetched: Arc<AtomicUsize>,
    tx: std::sync::mpsc::Sender<Message>,
    filler: Arc<SlotFiller>,
    imports: Arc<tokio::sync::Semaphore>,
    plan: Arc<InstallPlan>,
    builds: Arc<Builds>,
    slots: Arc<tokio::sync::Semaphore>,
    jobs: Arc<GitJobs>,
    gate: Arc<ImportGate>,
}

impl GitTask {
    async fn run(self) {
        let slot = Arc::clone(&self.slots).acquire_owned().await.ok();
        let made = self.make_row().await;
        drop(slot);
        // After the row is queued: the last fetch to end seals the index writer.
        let variants = self.indices.len();
        if self.unfetched.fetch_sub(variants, Ordering::AcqRel) == variants {
            self.fetcher.all_fetched();
        }
        let row = match made {
            Ok(row) => row,
            Err(err) => {
                // One error ends the install; the other variants need not report.
                let _ = self.tx.send(Message::Fetched(self.indices[0], Err(err)));
                return;
            }
        };
        for &i in &self.indices {
            let permit = Arc::clone(&self.imports).acquire_owned().await.ok();
            let (tx, filler, plan, builds, row, gate) = (
                self.tx.clone(),
                Arc::clone(&self.filler),
                Arc::clone(&self.plan),
                Arc::clone(&self.builds),
                Arc::clone(&row),
                Arc::clone(&self.gate),
            );
            drop(tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let Some(_entered) = gate.enter() else {
                    return;
                };
                let result = finish_fetched(&plan, &builds, &filler, i, row, false);
                let _ = tx.send(Message::Fetched(i, result));
            }));
        }
    }

    /// The package's prepared row, recorded in the store.
    async fn make_row(&self) -> Result<Arc<PackageFilesIndex>, CliError> {
        let pkg = &self.plan.link.packages[self.indices[0]];
        let archive = match &self.git.origin {
            GitOrigin::Archive { url, integrity } => {
                let request = PackageToFetch {
                    pkg_id: self.git.package_id.clone(),
                    name: pkg.name.clone(),
                    version: pkg.version.clone(),
                    integrity: integrity.clone(),
                    tarball_url: url.clone(),
                    git_archive: true,
                };
                Some(self.fetcher.fetch_into(&request, None).await?)
            }
            GitOrigin::Clone(_) => None,
        };
        let (store, git, dep_path) = (self.store.clone(), self.git.clone(), pkg.dep_path.clone());
        let jobs = Arc::clone(&self.jobs);
        let row = tokio::task::spawn_blocking(move || {
            // Held until the scratch directory is gone: a cancelled install waits for it.
            let Some(_job) = jobs.start() else {
                return Err(CliError::new(
                    "ERR_TACK_CANCELLED",
                    format!("{dep_path} was not fetched: the install failed"),
                ));
            };
            let scratch = git_fetch::scratch_dir()?;
            let checkout = scratch.path().join("checkout");
            match (&git.origin, archive) {
                (GitOrigin::Clone(origin), _) => {
                    git_fetch::clone_commit(&jobs, &dep_path, origin, &checkout)?
                }
                (GitOrigin::Archive { .. }, Some(row)) => {
                    git_fetch::copy_archive_files(&store, &row, &checkout)?
                }
                (GitOrigin::Archive { .. }, None) => {}
            }
            git_fetch::pack(&jobs, &store, &git, &dep_path, &checkout)
        })
        .await
        .map_err(|e| CliError::new("ERR_TACK_INTERNAL", e.to_string()))??;
        let row = Arc::new(row);
        self.fetcher
            .record_row(self.git.store_key.clone(), Arc::clone(&row));
        Ok(row)
    }
}

/// Cancels the install's git jobs and waits for them when dropped (see `git_jobs`).
struct CancelOnReturn(Arc<GitJobs>);

impl Drop for CancelOnReturn {
    fn drop(&mut self) {
        self.0.cancel_and_wait();
    }
}

enum Message {
    /// The package, what became of it, and what is kept of its row.
    Local(usize, Result<Next, CliError>, Option<KeptRow>),
    Fetched(
        usize,
        Result<(ImportOutcome, Prep, Arc<PackageFilesIndex>), CliError>,
    ),
}

#[cfg(test)]
mod tests {
    use super::import_threads_for;

    #[test]
    fn imports_run_on_two_threads_per_core_from_two_to_eight() {
        assert_eq!(import_threads_for(0), 2);
        assert_eq!(import_threads_for(1), 2);
        assert_eq!(import_threads_for(2), 4);
        assert_eq!(import_threads_for(3), 6);
        assert_eq!(import_threads_for(64), 8);
    }
}
