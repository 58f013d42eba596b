//! Importing one package into the virtual store: `<vs>/<dir>/node_modules/<name>`.
//!
//! This is the hot loop of a warm install, so it does the minimum: one `stat` of the
//! completion marker to decide whether the package is already there, one `mkdir` per unique
//! directory (sorted, parents first), one import call per file, and the marker
//! (`package.json`) last. A directory without its marker is a partial import from an
//! interrupted run: it is wiped and imported again (completed in place instead when the slot
//! is shared by every project of the store, see [`LinkPlan::shared_slots`]). Packages that
//! will be built or patched are cloned or copied so their scripts never write through a
//! hardlink into the store.

use crate::error::LinkError;
use crate::names::{check_package_name, check_rel_path};
use crate::packlist::{Entry, PacklistError};
use crate::plan::{package_dir_in, LinkPlan, PackageFiles, PackageHome, PlannedPackage};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use tack_fs::{FsError, ImportMethod, ImportedVia, Importer};

/// The file whose presence marks a complete package directory.
pub const COMPLETION_MARKER: &str = "package.json";

/// The importers used for packages: the configured one, and the clone-or-copy one for
/// packages that must not be hard-linked. Share one across threads.
#[derive(Debug)]
pub struct PackageImporter {
    normal: Importer,
    reflink: Importer,
    copy: Importer,
    reflink_works: AtomicBool,
    /// The CAS `files/` directory (its path bytes and an open handle), found from the first
    /// package's files; `None` inside when it could not be opened.
    cas_dir: OnceLock<Option<(Vec<u8>, tack_fs::DirFd)>>,
    /// Import complete packages again (`--force`), see [`LinkPlan::force`].
    reimport: bool,
    /// Complete a partial package directory in place rather than wipe it: its slot is
    /// shared ([`LinkPlan::shared_slots`]) and another install may be filling it now.
    repair_in_place: bool,
}

impl PackageImporter {
    /// Importers for `method` (`packageImportMethod`).
    pub fn new(method: ImportMethod) -> Self {
        PackageImporter {
            normal: Importer::new(method),
            reflink: Importer::new(ImportMethod::Reflink),
            copy: Importer::new(ImportMethod::Copy),
            reflink_works: AtomicBool::new(true),
            cas_dir: OnceLock::new(),
            reimport: false,
            repair_in_place: false,
        }
    }

    /// Importers for `plan`: its `packageImportMethod`, and with `--force`, complete
    /// packages imported again.
    pub fn for_plan(plan: &LinkPlan) -> Self {
        PackageImporter {
            reimport: plan.reimports_complete_packages(),
            repair_in_place: plan.shared_slots,
            ..PackageImporter::new(plan.import_method)
        }
    }

    /// The open CAS `files/` directory, found as the grandparent of a CAS file
    /// (`files/XX/<name>`), if `src` lies in it.
    fn cas_dir(&self, src: &Path) -> Option<&(Vec<u8>, tack_fs::DirFd)> {
        self.cas_dir_at(src.parent()?.parent()?)
    }

    /// The open CAS `files/` directory, if it is `files` (the first one asked for is
    /// opened and kept; an import from another store takes the slow path).
    fn cas_dir_at(&self, files: &Path) -> Option<&(Vec<u8>, tack_fs::DirFd)> {
        let found = self
            .cas_dir
            .get_or_init(|| {
                let dir = tack_fs::DirFd::open(files).ok()?;
                Some((files.as_os_str().as_bytes().to_vec(), dir))
            })
            .as_ref()?;
        (found.0 == files.as_os_str().as_bytes()).then_some(found)
    }

    /// Whether packages that need no copy are hard-linked from the store: the configured
    /// method links, and has not fallen back to clones or copies.
    pub fn links_from_store(&self) -> bool {
        matches!(
            self.normal.method(),
            ImportMethod::Auto | ImportMethod::Hardlink
        ) && self.normal.current_tier() == ImportedVia::Hardlink
    }

    /// Clone if the filesystem can, else copy (pnpm's `clone-or-copy`).
    fn clone_or_copy(&self, src: &Path, dst: &Path) -> Result<ImportedVia, FsError> {
        if self.reflink_works.load(Ordering::Relaxed) {
            match self.reflink.import_file(src, dst) {
                Ok(via) => return Ok(via),
                Err(FsError::ReflinkUnsupported { .. }) => {
                    self.reflink_works.store(false, Ordering::Relaxed)
                }
                Err(e) => return Err(e),
            }
        }
        self.copy.import_file(src, dst)
    }

    /// One file of a copy of a package made elsewhere (see `hoisted_link`): linked as the
    /// plan imports, or cloned or copied when `force_copy`.
    pub(crate) fn import_for_copy(
        &self,
        force_copy: bool,
        src: &Path,
        dst: &Path,
    ) -> Result<(), FsError> {
        self.import(force_copy, src, dst).map(|_| ())
    }

    fn import(&self, force_copy: bool, src: &Path, dst: &Path) -> Result<ImportedVia, FsError> {
        if force_copy {
            self.clone_or_copy(src, dst)
        } else {
            self.normal.import_file(src, dst)
        }
    }
}

/// What [`import_package`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The directory was complete already; nothing was written.
    Reused,
    /// The package was imported into a fresh directory.
    Imported,
    /// A partial directory (no marker) was wiped and imported again.
    Repaired,
}

/// Imports `pkg` into `<virtual_store_dir>/<dir>/node_modules/<name>` unless it is already
/// complete. Safe to call from many threads for different packages.
pub fn import_package(
    pkg: &PlannedPackage,
    virtual_store_dir: &Path,
    importer: &PackageImporter,
) -> Result<ImportOutcome, LinkError> {
    import_package_from(
        pkg,
        FilesFrom::Plan(&pkg.files),
        pkg.force_copy,
        virtual_store_dir,
        importer,
    )
}

/// One file of a package in the store, borrowed from its index row: nothing is built or
/// copied per file before the link (a warm install links about 20k of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreFile<'a> {
    /// Path inside the package, e.g. `lib/index.js`.
    pub rel_path: &'a str,
    /// The content's sha512, 128 lowercase hex digits (it names the CAS file).
    pub digest: &'a str,
    /// The `-exec` variant of the CAS file.
    pub executable: bool,
    /// Copy it even when the package is linked: its CAS file's exec bits no longer match its
    /// name (a bin chmodded through a hard link), and pnpm 12 then imports a copy with the mode
    /// the name gives (see `tack_store_dir::VerifiedFilesCache::mode_changed`).
    pub copy: bool,
}

/// Where an import takes a package's files from.
#[derive(Debug, Clone, Copy)]
pub enum FilesFrom<'a> {
    /// As the plan lists them.
    Plan(&'a PackageFiles),
    /// Files of the store whose `files/` directory is `files_dir`.
    Store {
        files_dir: &'a Path,
        files: &'a [StoreFile<'a>],
    },
}

/// [`import_package`] with the files and the copy decision given apart from the plan's
/// package, so a caller that learns them at install time need not clone the package.
pub fn import_package_from(
    pkg: &PlannedPackage,
    files: FilesFrom<'_>,
    force_copy: bool,
    virtual_store_dir: &Path,
    importer: &PackageImporter,
) -> Result<ImportOutcome, LinkError> {
    import_package_at(
        pkg,
        files,
        force_copy,
        PackageHome::VirtualStore(virtual_store_dir),
        importer,
    )
}

/// [`import_package_from`] into either layout's directory: with [`PackageHome::Hoisted`]
/// the package's own `node_modules` (the packages placed below it) is left in place when a
/// partial directory is cleared.
pub fn import_package_at(
    pkg: &PlannedPackage,
    files: FilesFrom<'_>,
    force_copy: bool,
    home: PackageHome<'_>,
    importer: &PackageImporter,
) -> Result<ImportOutcome, LinkError> {
    check_package_name(&pkg.dep_path, "name", &pkg.name)?;
    let (pkg_dir, slot, hoisted) = match home {
        PackageHome::VirtualStore(virtual_store_dir) => {
            check_rel_path(&pkg.dep_path, "virtual store dir name", &pkg.dir_name)?;
            (
                package_dir_in(virtual_store_dir, pkg),
                virtual_store_dir.join(&pkg.dir_name),
                false,
            )
        }
        PackageHome::Hoisted(dir) => (dir.to_path_buf(), dir.to_path_buf(), true),
    };
    let walked: Vec<(String, Entry)>;
    let items: Vec<Item<'_>> = match files {
        FilesFrom::Plan(PackageFiles::Cas(list)) => {
            collect_items(list, |(rel, src)| Item::new(pkg, rel, Src::Path(src)))?
        }
        FilesFrom::Plan(PackageFiles::Directory(src)) => {
            walked = walk_sorted(pkg, src)?;
            collect_items(&walked, |(rel, entry)| {
                let src = match entry {
                    Entry::File(src) => Src::Path(src),
                    Entry::Symlink(text) => Src::Symlink(text),
                    Entry::DirectoriesOnly => Src::Nothing,
                };
                Item::new(pkg, rel, src)
            })?
        }
        FilesFrom::Store { files_dir, files } => collect_items(files, |f| {
            // Checked here, before anything is created; the name itself is made on the
            // stack where the file is linked.
            if tack_fs::CasName::new(f.digest, f.executable).is_none() {
                return Err(LinkError::UnsafePath {
                    package: pkg.dep_path.clone(),
                    what: "store file digest",
                    value: f.digest.to_string(),
                });
            }
            let src = Src::Cas {
                files_dir,
                digest: f.digest,
                executable: f.executable,
            };
            let mut item = Item::new(pkg, f.rel_path, src)?;
            item.copy = f.copy;
            Ok(item)
        })?,
    };
    let marker = marker_of(&items);

    // A slot (`<vs>/<dir>`) that this call creates is fresh: nothing to check or wipe, and
    // the dirs below it are made one `mkdir` each. That is the common case of a cold or
    // warm install, where it saves a stat, a failed `opendir` and two failed `mkdir`s per
    // package. An existing slot may hold a complete package or a partial one. (A hoisted
    // package's slot is its own directory.)
    let mut outcome = ImportOutcome::Imported;
    // The package dir, open, when this call created it: its dirs and links are then made
    // relative to it, so the kernel walks one or two components per call instead of the
    // whole path (about ten in a project's virtual store).
    let mut pkg_fd = None;
    // A directory source (a `file:` directory, an injected workspace project) may have
    // changed since it was imported: pnpm 12 imports it again on every install, and so does
    // this (a store file never changes under its name, so a complete store package is kept).
    let from_directory = matches!(files, FilesFrom::Plan(PackageFiles::Directory(_)));
    // `--force` imports every package again the same way. (Not in the hoisted layout: the
    // install clears those directories before importing, keeping what is nested in them.)
    let again = (from_directory || importer.reimport) && !hoisted;
    // Where the files go: the package dir, or, for a package imported again over a complete
    // one, a staging sibling swapped in at the end (see `swap_in`), so that the package is
    // never missing or half there for a process reading it meanwhile.
    let mut staged = None;
    if create_fresh_slot(&slot, &pkg.dep_path)? {
        pkg_fd = if hoisted {
            tack_fs::DirFd::open(&pkg_dir).ok()
        } else {
            create_dirs_below_slot(&slot, &pkg.name, &pkg.dep_path)?
        };
    } else if again && pkg_dir.join(COMPLETION_MARKER).is_file() {
        let stage = tack_fs::temp_sibling(&pkg_dir).map_err(|e| LinkError::fs(&pkg.dep_path, e))?;
        std::fs::create_dir(&stage)
            .map_err(|e| LinkError::io("create directory", &stage, &pkg.dep_path, e))?;
        staged = Some(stage);
        outcome = ImportOutcome::Repaired;
    } else {
        if let Some(marker) = marker.filter(|_| !again) {
            match std::fs::symlink_metadata(pkg_dir.join(marker)) {
                // Only a regular file marks the package complete: an archive with
                // `package.json/x` and no `package.json` leaves a directory there.
                Ok(meta) if meta.is_file() => return Ok(ImportOutcome::Reused),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(LinkError::io(
                        "stat",
                        pkg_dir.join(marker),
                        &pkg.dep_path,
                        e,
                    ))
                }
            }
        }
        let cleared = if from_directory && !hoisted {
            // A directory dependency's slot has the project's path in its name, and one
            // install of a project runs at a time: its partial copy is removed, never
            // completed, so that no symlink an earlier import made from another state of the
            // source is followed (its `node_modules` is part of what is imported).
            std::fs::remove_dir_all(&pkg_dir).map(|()| true)
        } else if importer.repair_in_place && !hoisted {
            // Every file is placed again below, each one whole at once (an existing one is
            // replaced by a rename), and the marker last: two installs completing the same
            // shared slot side by side both finish with the whole package.
            Ok(true)
        } else {
            // A package's own `node_modules` stays: in the hoisted layout the packages placed
            // below it, in a slot a build's cache (`node_modules/.tmp`), which pnpm 12 keeps
            // when it imports the package again (`--force`).
            clear_except_modules(&pkg_dir)
        };
        match cleared {
            Ok(any) => {
                if any {
                    outcome = ImportOutcome::Repaired;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(LinkError::io(
                    "remove partial package dir",
                    &pkg_dir,
                    &pkg.dep_path,
                    e,
                ))
            }
        }
        std::fs::create_dir_all(&pkg_dir)
            .map_err(|e| LinkError::io("create directory", &pkg_dir, &pkg.dep_path, e))?;
    }
    let dest = staged.as_deref().unwrap_or(&pkg_dir);
    for dir in unique_parent_dirs(&items) {
        let made = match &pkg_fd {
            Some(fd) => fd.mkdir(Path::new(dir)),
            None => std::fs::create_dir(dest.join(dir)),
        };
        match made {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                let path = dest.join(dir);
                return Err(LinkError::io("create directory", path, &pkg.dep_path, e));
            }
        }
    }

    let is_dir_source = matches!(files, FilesFrom::Plan(PackageFiles::Directory(_)));
    let linker = FastLinker::new(importer, files, force_copy, dest, pkg_fd);
    let place = |item: &Item<'_>| -> Result<(), LinkError> {
        match item.src {
            Src::Symlink(text) => return place_symlink(text, &dest.join(item.rel), &pkg.dep_path),
            Src::Nothing => return Ok(()),
            Src::Path(_) | Src::Cas { .. } => {}
        }
        if !item.copy && linker.link(item) {
            return Ok(());
        }
        import_one(
            importer,
            pkg,
            force_copy || item.copy,
            is_dir_source,
            &item.src.path(),
            &dest.join(item.rel),
        )
    };
    let mut marker_item = None;
    for item in &items {
        if Some(item.rel) == marker {
            marker_item = Some(item);
            continue;
        }
        place(item)?;
    }
    if let Some(item) = marker_item {
        // Last, and never seen half written: a hard link is whole at once; a copy is
        // filled under a temporary name and renamed to the marker's, so that an install
        // killed during the copy leaves the package incomplete rather than complete with a
        // torn `package.json`. (A symlink, which a directory dependency may have there, is
        // made under a temporary name too.)
        if let Src::Symlink(_) = item.src {
            place(item)?;
        } else if item.copy || !linker.link(item) {
            let marker_path = dest.join(item.rel);
            let tmp =
                tack_fs::temp_sibling(&marker_path).map_err(|e| LinkError::fs(&pkg.dep_path, e))?;
            let copied = import_one(
                importer,
                pkg,
                force_copy || item.copy,
                is_dir_source,
                &item.src.path(),
                &tmp,
            )
            .and_then(|()| {
                std::fs::rename(&tmp, &marker_path)
                    .map_err(|e| LinkError::io("rename into place", &tmp, &pkg.dep_path, e))
            });
            if copied.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            copied?;
        }
    }
    if let Some(stage) = &staged {
        swap_in(stage, &pkg_dir, &pkg.dep_path)?;
    }
    Ok(outcome)
}

/// The staging directory named `stage` (`.pnpm-<8 hex>`) in the slot of `pkg`:
/// `<virtual_store_dir>/<dir>/node_modules/<stage>`, beside the package directory.
pub fn build_stage_dir(virtual_store_dir: &Path, pkg: &PlannedPackage, stage: &str) -> PathBuf {
    virtual_store_dir
        .join(&pkg.dir_name)
        .join("node_modules")
        .join(stage)
}

/// Imports `pkg`, which this install will build in a shared slot, into the staging
/// directory `stage` of its slot ([`build_stage_dir`]) rather than its package directory:
/// the build step moves it there once its scripts succeed (`tack_build::stage`), as pnpm 12
/// builds in the global virtual store, so that no other install ever finds the package
/// directory unbuilt. A complete package directory is a finished build (nothing else puts
/// one in such a slot) and is reused as it is.
pub fn import_package_staged(
    pkg: &PlannedPackage,
    files: FilesFrom<'_>,
    force_copy: bool,
    virtual_store_dir: &Path,
    stage: &str,
    importer: &PackageImporter,
) -> Result<ImportOutcome, LinkError> {
    check_package_name(&pkg.dep_path, "name", &pkg.name)?;
    check_rel_path(&pkg.dep_path, "virtual store dir name", &pkg.dir_name)?;
    check_rel_path(&pkg.dep_path, "staging directory name", stage)?;
    let marker = package_dir_in(virtual_store_dir, pkg).join(COMPLETION_MARKER);
    match std::fs::symlink_metadata(&marker) {
        Ok(meta) if meta.is_file() => return Ok(ImportOutcome::Reused),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(LinkError::io("stat", marker, &pkg.dep_path, e)),
    }
    let stage_dir = build_stage_dir(virtual_store_dir, pkg, stage);
    // Left by an earlier attempt of this install (a store file that failed verification
    // sends the package back to be fetched): start over.
    remove_if_present(&stage_dir, &pkg.dep_path)?;
    if let Some(modules) = stage_dir.parent() {
        std::fs::create_dir_all(modules)
            .map_err(|e| LinkError::io("create directory", modules, &pkg.dep_path, e))?;
    }
    // The staging directory is filled as a directory of its own (a hoisted package's
    // directory is one): created here, its files placed, the marker last.
    import_package_at(
        pkg,
        files,
        force_copy,
        PackageHome::Hoisted(&stage_dir),
        importer,
    )?;
    Ok(ImportOutcome::Imported)
}

/// Empties the package directory `dir` but for its `node_modules` (in the hoisted layout,
/// where the packages placed below it live). `Ok(true)` when anything was removed. A symlink
/// or a file at `dir` is removed itself, and so is one named `node_modules`: nothing is ever
/// removed or written through a link.
pub fn clear_except_modules(dir: &Path) -> io::Result<bool> {
    if !std::fs::symlink_metadata(dir)?.is_dir() {
        std::fs::remove_file(dir)?;
        return Ok(true);
    }
    let mut any = false;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == "node_modules" && entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
        any = true;
    }
    Ok(any)
}

/// Removes the directory at `path` if there is one.
fn remove_if_present(path: &Path, package: &str) -> Result<(), LinkError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LinkError::io("remove", path, package, e)),
    }
}

/// Puts the complete package at `stage` in place of `pkg_dir`: the old one is renamed aside,
/// the new one renamed in, the old one removed. The name is missing only between the two
/// renames, never half filled. What the old one holds in its own `node_modules` (a build's
/// cache, such as `node_modules/.tmp`) goes into the new one, as pnpm 12 keeps it, but for
/// the entries the new one brings itself.
fn swap_in(stage: &Path, pkg_dir: &Path, package: &str) -> Result<(), LinkError> {
    keep_modules_dir(
        &pkg_dir.join("node_modules"),
        &stage.join("node_modules"),
        package,
    )?;
    let aside = tack_fs::temp_sibling(pkg_dir).map_err(|e| LinkError::fs(package, e))?;
    let moved_aside = match std::fs::rename(pkg_dir, &aside) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(LinkError::io("rename aside", pkg_dir, package, e)),
    };
    std::fs::rename(stage, pkg_dir)
        .map_err(|e| LinkError::io("rename into place", stage, package, e))?;
    if moved_aside {
        remove_if_present(&aside, package)?;
    }
    Ok(())
}

/// Moves the `old` modules directory of a package imported again to `new`, or, when the new
/// package brings one, each of its entries the new one does not have.
fn keep_modules_dir(old: &Path, new: &Path, package: &str) -> Result<(), LinkError> {
    if !std::fs::symlink_metadata(old).is_ok_and(|meta| meta.is_dir()) {
        return Ok(());
    }
    let entries = match std::fs::symlink_metadata(new) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return std::fs::rename(old, new)
                .map_err(|e| LinkError::io("move into place", old, package, e));
        }
        Err(e) => return Err(LinkError::io("stat", new, package, e)),
        Ok(meta) if !meta.is_dir() => return Ok(()),
        Ok(_) => std::fs::read_dir(old).map_err(|e| LinkError::io("read", old, package, e))?,
    };
    for entry in entries {
        let entry = entry.map_err(|e| LinkError::io("read", old, package, e))?;
        let to = new.join(entry.file_name());
        if std::fs::symlink_metadata(&to).is_err() {
            std::fs::rename(entry.path(), &to)
                .map_err(|e| LinkError::io("move into place", entry.path(), package, e))?;
        }
    }
    Ok(())
}

/// Creates the package directory of `pkg` in a slot that did not exist yet, for a caller
/// that fills it itself (a download unpacking straight into it), and returns it open.
/// `None` when the slot exists: it may hold a complete or a partial package, which
/// [`import_package_from`] knows how to handle. The caller must write
/// [`COMPLETION_MARKER`] last, as an import does.
pub fn create_fresh_package_dir(
    pkg: &PlannedPackage,
    virtual_store_dir: &Path,
) -> Result<Option<(PathBuf, tack_fs::DirFd)>, LinkError> {
    create_fresh_package_dir_at(pkg, PackageHome::VirtualStore(virtual_store_dir))
}

/// [`create_fresh_package_dir`] in either layout.
pub fn create_fresh_package_dir_at(
    pkg: &PlannedPackage,
    home: PackageHome<'_>,
) -> Result<Option<(PathBuf, tack_fs::DirFd)>, LinkError> {
    let virtual_store_dir = match home {
        PackageHome::VirtualStore(dir) => dir,
        PackageHome::Hoisted(dir) => {
            check_package_name(&pkg.dep_path, "name", &pkg.name)?;
            if !create_fresh_slot(dir, &pkg.dep_path)? {
                return Ok(None);
            }
            let fd = tack_fs::DirFd::open(dir)
                .map_err(|e| LinkError::io("open", dir, &pkg.dep_path, e))?;
            return Ok(Some((dir.to_path_buf(), fd)));
        }
    };
    check_package_name(&pkg.dep_path, "name", &pkg.name)?;
    check_rel_path(&pkg.dep_path, "virtual store dir name", &pkg.dir_name)?;
    let slot = virtual_store_dir.join(&pkg.dir_name);
    if !create_fresh_slot(&slot, &pkg.dep_path)? {
        return Ok(None);
    }
    let pkg_dir = package_dir_in(virtual_store_dir, pkg);
    let fd = match create_dirs_below_slot(&slot, &pkg.name, &pkg.dep_path)? {
        Some(fd) => fd,
        None => tack_fs::DirFd::open(&pkg_dir)
            .map_err(|e| LinkError::io("open", &pkg_dir, &pkg.dep_path, e))?,
    };
    Ok(Some((pkg_dir, fd)))
}

/// One file to import: where it goes in the package and where its content is.
struct Item<'a> {
    rel: &'a str,
    src: Src<'a>,
    /// Copied whatever the package's import method (see [`StoreFile::copy`]).
    copy: bool,
}

impl<'a> Item<'a> {
    /// The item, once its path inside the package is known to be safe.
    fn new(pkg: &PlannedPackage, rel: &'a str, src: Src<'a>) -> Result<Self, LinkError> {
        check_rel_path(&pkg.dep_path, "file path", rel)?;
        // The packlist makes every kept symlink relative; an absolute one would name a path
        // of this machine from inside the package.
        if let Src::Symlink(text) = src {
            if text.is_absolute() || text.as_os_str().is_empty() {
                return Err(LinkError::UnsafePath {
                    package: pkg.dep_path.clone(),
                    what: "symlink target",
                    value: text.to_string_lossy().into_owned(),
                });
            }
        }
        Ok(Item {
            rel,
            src,
            copy: false,
        })
    }
}

/// `list` mapped to items, in one allocation.
fn collect_items<'a, T>(
    list: &'a [T],
    item: impl Fn(&'a T) -> Result<Item<'a>, LinkError>,
) -> Result<Vec<Item<'a>>, LinkError> {
    let mut items = Vec::with_capacity(list.len());
    for entry in list {
        items.push(item(entry)?);
    }
    Ok(items)
}

/// Where one file's content is.
enum Src<'a> {
    /// A file at this path (in the CAS or in a source directory).
    Path(&'a Path),
    /// A symlink of a directory dependency with this text, relative and resolving inside the
    /// package (see [`crate::packlist`]): made, never followed.
    Symlink(&'a Path),
    /// Nothing to place: a directory dependency's entry that only makes the directories above
    /// it.
    Nothing,
    /// A CAS file in the store's `files/` directory `files_dir`, by its digest (checked
    /// to be one). Not its [`tack_fs::CasName`]: 136 bytes per file made the list of a
    /// large package fresh memory to fault in, for a name the link makes in nanoseconds.
    Cas {
        files_dir: &'a Path,
        digest: &'a str,
        executable: bool,
    },
}

impl Src<'_> {
    /// The source as a whole path (built only off the fast path).
    fn path(&self) -> Cow<'_, Path> {
        match self {
            Src::Cas {
                files_dir,
                digest,
                executable,
            } => match tack_fs::CasName::new(digest, *executable) {
                Some(name) => Cow::Owned(files_dir.join(name.as_path())),
                // Not reached: the digest was checked when the item was made.
                None => Cow::Borrowed(files_dir),
            },
            Src::Path(path) => Cow::Borrowed(path),
            // Not reached: symlinks and entries without content are placed apart.
            Src::Symlink(_) | Src::Nothing => Cow::Borrowed(Path::new("")),
        }
    }
}

/// Hard links made relative to the open CAS `files/` directory and the open package
/// directory ([`tack_fs::DirFd`]), when the package is hard-linked from the store at all.
/// Anything it cannot do (a copy, a source outside the store, any error) it leaves to
/// [`import_one`], which knows the fallbacks and reports errors with their paths.
struct FastLinker<'a> {
    cas: Option<&'a (Vec<u8>, tack_fs::DirFd)>,
    pkg_dir: Option<tack_fs::DirFd>,
}

impl<'a> FastLinker<'a> {
    /// `pkg_fd` is the package dir if the caller has it open already.
    fn new(
        importer: &'a PackageImporter,
        files: FilesFrom<'_>,
        force_copy: bool,
        pkg_dir: &Path,
        pkg_fd: Option<tack_fs::DirFd>,
    ) -> Self {
        let hardlinks = !force_copy
            && matches!(
                importer.normal.method(),
                ImportMethod::Auto | ImportMethod::Hardlink
            )
            && importer.normal.current_tier() == ImportedVia::Hardlink;
        let cas = match files {
            _ if !hardlinks => None,
            FilesFrom::Plan(PackageFiles::Cas(files)) => {
                files.first().and_then(|(_, src)| importer.cas_dir(src))
            }
            FilesFrom::Plan(PackageFiles::Directory(_)) => None,
            FilesFrom::Store { files_dir, .. } => importer.cas_dir_at(files_dir),
        };
        FastLinker {
            pkg_dir: cas.and_then(|_| pkg_fd.or_else(|| tack_fs::DirFd::open(pkg_dir).ok())),
            cas,
        }
    }

    /// Links `item` into the package dir; `false` when the caller must import it.
    fn link(&self, item: &Item<'_>) -> bool {
        let (Some((files_dir, files_fd)), Some(pkg_fd)) = (self.cas, &self.pkg_dir) else {
            return false;
        };
        let name;
        let src_rel = match &item.src {
            Src::Cas {
                files_dir: dir,
                digest,
                executable,
            } => {
                if dir.as_os_str().as_bytes() != files_dir.as_slice() {
                    return false;
                }
                let Some(made) = tack_fs::CasName::new(digest, *executable) else {
                    return false;
                };
                name = made;
                name.as_path()
            }
            Src::Path(src) => {
                let Some(rel) = src
                    .as_os_str()
                    .as_bytes()
                    .strip_prefix(files_dir.as_slice())
                    .and_then(|rest| rest.strip_prefix(b"/"))
                else {
                    return false;
                };
                Path::new(std::ffi::OsStr::from_bytes(rel))
            }
            Src::Symlink(_) | Src::Nothing => return false,
        };
        files_fd
            .hard_link(src_rel, pkg_fd, Path::new(item.rel))
            .is_ok()
    }
}

fn import_one(
    importer: &PackageImporter,
    pkg: &PlannedPackage,
    force_copy: bool,
    is_dir_source: bool,
    src: &Path,
    dst: &Path,
) -> Result<(), LinkError> {
    let via = importer
        .import(force_copy, src, dst)
        .map_err(|e| LinkError::fs(&pkg.dep_path, e))?;
    // A copy of a plain source file takes its mode from the CAS name; a directory source has
    // no `-exec` names, so keep the source file's own mode.
    if is_dir_source && via != ImportedVia::Hardlink {
        let meta =
            std::fs::metadata(src).map_err(|e| LinkError::io("stat", src, &pkg.dep_path, e))?;
        std::fs::set_permissions(dst, meta.permissions())
            .map_err(|e| LinkError::io("chmod", dst, &pkg.dep_path, e))?;
    }
    Ok(())
}

/// Makes the symlink `link` with the relative `text` of a directory dependency's entry: under
/// a temporary name, then renamed into place, so that it replaces whatever an interrupted
/// import left there and is never missing once there.
fn place_symlink(text: &Path, link: &Path, package: &str) -> Result<(), LinkError> {
    let tmp = tack_fs::temp_sibling(link).map_err(|e| LinkError::fs(package, e))?;
    std::os::unix::fs::symlink(text, &tmp)
        .map_err(|e| LinkError::io("create symlink", &tmp, package, e))?;
    std::fs::rename(&tmp, link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        LinkError::io("rename into place", link, package, e)
    })
}

/// Creates `<vs>/<dir>`; `true` when this call created it, `false` when it existed.
fn create_fresh_slot(slot: &Path, package: &str) -> Result<bool, LinkError> {
    match std::fs::create_dir(slot) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = slot.parent().unwrap_or(slot);
            std::fs::create_dir_all(parent)
                .map_err(|e| LinkError::io("create directory", parent, package, e))?;
            match std::fs::create_dir(slot) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(LinkError::io("create directory", slot, package, e)),
            }
        }
        Err(e) => Err(LinkError::io("create directory", slot, package, e)),
    }
}

/// `node_modules`, the `@scope` dir if any, and the package dir, in a slot just created;
/// returns the package dir open (`None` if the slot could not be opened: then the dirs are
/// made by whole path).
fn create_dirs_below_slot(
    slot: &Path,
    name: &str,
    package: &str,
) -> Result<Option<tack_fs::DirFd>, LinkError> {
    let mut rel = PathBuf::from("node_modules");
    let Ok(slot_fd) = tack_fs::DirFd::open(slot) else {
        let mkdir = |dir: &Path| {
            std::fs::create_dir(dir).map_err(|e| LinkError::io("create directory", dir, package, e))
        };
        mkdir(&slot.join(&rel))?;
        for part in name.split('/') {
            rel.push(part);
            mkdir(&slot.join(&rel))?;
        }
        return Ok(None);
    };
    let mkdir = |rel: &Path| {
        slot_fd
            .mkdir(rel)
            .map_err(|e| LinkError::io("create directory", slot.join(rel), package, e))
    };
    mkdir(&rel)?;
    for part in name.split('/') {
        rel.push(part);
        mkdir(&rel)?;
    }
    Ok(slot_fd.open_dir(&rel).ok())
}

/// The entries of the directory package `pkg` at `src`, sorted: what `npm pack` would take
/// (see [`crate::packlist`]).
fn walk_sorted(pkg: &PlannedPackage, src: &Path) -> Result<Vec<(String, Entry)>, LinkError> {
    crate::packlist::package_entries(src).map_err(|e| match e {
        PacklistError::Io { op, path, source } => LinkError::io(op, path, &pkg.dep_path, source),
    })
}

/// `package.json` if the package has one, else its lexically smallest file (an entry that
/// only makes directories is none).
fn marker_of<'a>(files: &[Item<'a>]) -> Option<&'a str> {
    let placed = files
        .iter()
        .filter(|item| !matches!(item.src, Src::Nothing));
    if placed.clone().any(|item| item.rel == COMPLETION_MARKER) {
        return Some(COMPLETION_MARKER);
    }
    placed.map(|item| item.rel).min()
}

/// Every directory (and its ancestors) that holds a file, sorted so parents come first (a
/// parent is a prefix of its children, so it sorts before them). Borrowed from the file
/// paths, which the caller validated (`/`-separated, no empty or `..` parts): one
/// allocation and `Path` comparison per file here showed up in warm-install profiles.
fn unique_parent_dirs<'a>(files: &[Item<'a>]) -> BTreeSet<&'a str> {
    let mut dirs = BTreeSet::new();
    for item in files {
        let mut rest = item.rel;
        while let Some(slash) = rest.rfind('/') {
            rest = &rest[..slash];
            if rest.is_empty() || !dirs.insert(rest) {
                break;
            }
        }
    }
    dirs
}
