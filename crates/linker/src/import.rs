//! Importing one package into the virtual store: `<vs>/<dir>/node_modules/<name>`.
//!
//! This is the hot loop of a warm install, so it does the minimum: one `stat` of the
//! completion marker to decide whether the package is already there, one `mkdir` per unique
//! directory (sorted, parents first), one import call per file, and the marker
//! (`package.json`) last. A directory without its marker is a partial import from an
//! interrupted run: it is wiped and imported again. Packages that will be built or patched
//! are cloned or copied so their scripts never write through a hardlink into the store.

use crate::error::LinkError;
use crate::names::{check_package_name, check_rel_path};
use crate::plan::{package_dir_in, PackageFiles, PlannedPackage};
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
        }
    }

    /// The open CAS `files/` directory, found as the grandparent of a CAS file
    /// (`files/XX/<name>`), if `src` lies in it.
    fn cas_dir(&self, src: &Path) -> Option<&(Vec<u8>, tack_fs::DirFd)> {
        let found = self
            .cas_dir
            .get_or_init(|| {
                let files = src.parent()?.parent()?;
                let dir = tack_fs::DirFd::open(files).ok()?;
                Some((files.as_os_str().as_bytes().to_vec(), dir))
            })
            .as_ref()?;
        src.as_os_str()
            .as_bytes()
            .starts_with(&found.0)
            .then_some(found)
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
    import_package_from(pkg, &pkg.files, pkg.force_copy, virtual_store_dir, importer)
}

/// [`import_package`] with the files and the copy decision given apart from the plan's
/// package, so a caller that learns them at install time need not clone the package.
pub fn import_package_from(
    pkg: &PlannedPackage,
    files: &PackageFiles,
    force_copy: bool,
    virtual_store_dir: &Path,
    importer: &PackageImporter,
) -> Result<ImportOutcome, LinkError> {
    let source = Source { files, force_copy };
    check_package_name(&pkg.dep_path, "name", &pkg.name)?;
    check_rel_path(&pkg.dep_path, "virtual store dir name", &pkg.dir_name)?;
    let pkg_dir = package_dir_in(virtual_store_dir, pkg);
    let files = collect_files(pkg, source.files)?;
    let marker = marker_of(&files);

    // A slot (`<vs>/<dir>`) that this call creates is fresh: nothing to check or wipe, and
    // the dirs below it are made one `mkdir` each. That is the common case of a cold or
    // warm install, where it saves a stat, a failed `opendir` and two failed `mkdir`s per
    // package. An existing slot may hold a complete package or a partial one.
    let slot = virtual_store_dir.join(&pkg.dir_name);
    let mut outcome = ImportOutcome::Imported;
    if create_fresh_slot(&slot, &pkg.dep_path)? {
        create_dirs_below_slot(&slot, &pkg.name, &pkg.dep_path)?;
    } else {
        if let Some(marker) = marker {
            match std::fs::symlink_metadata(pkg_dir.join(marker)) {
                Ok(_) => return Ok(ImportOutcome::Reused),
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
        match std::fs::remove_dir_all(&pkg_dir) {
            Ok(()) => outcome = ImportOutcome::Repaired,
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
    for dir in unique_parent_dirs(&files) {
        let path = pkg_dir.join(dir);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(LinkError::io("create directory", &path, &pkg.dep_path, e)),
        }
    }

    let is_dir_source = matches!(source.files, PackageFiles::Directory(_));
    let linker = FastLinker::new(importer, &source, &pkg_dir);
    let place = |rel: &str, src: &Path| -> Result<(), LinkError> {
        if linker.link(src, rel) {
            return Ok(());
        }
        import_one(
            importer,
            pkg,
            &source,
            is_dir_source,
            src,
            &pkg_dir.join(rel),
        )
    };
    let mut marker_file = None;
    for (rel, src) in files.iter() {
        if Some(rel.as_str()) == marker {
            marker_file = Some((rel, src));
            continue;
        }
        place(rel, src)?;
    }
    if let Some((rel, src)) = marker_file {
        place(rel, src)?;
    }
    Ok(outcome)
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
    fn new(importer: &'a PackageImporter, source: &Source<'_>, pkg_dir: &Path) -> Self {
        let hardlinks = !source.force_copy
            && matches!(source.files, PackageFiles::Cas(_))
            && matches!(
                importer.normal.method(),
                ImportMethod::Auto | ImportMethod::Hardlink
            )
            && importer.normal.current_tier() == ImportedVia::Hardlink;
        let first_src = match source.files {
            PackageFiles::Cas(files) => files.first().map(|(_, src)| src.as_path()),
            PackageFiles::Directory(_) => None,
        };
        let cas = first_src
            .filter(|_| hardlinks)
            .and_then(|src| importer.cas_dir(src));
        FastLinker {
            pkg_dir: cas.and_then(|_| tack_fs::DirFd::open(pkg_dir).ok()),
            cas,
        }
    }

    /// Links `src` to `rel` in the package dir; `false` when the caller must import it.
    fn link(&self, src: &Path, rel: &str) -> bool {
        let (Some((files_dir, files_fd)), Some(pkg_fd)) = (self.cas, &self.pkg_dir) else {
            return false;
        };
        let bytes = src.as_os_str().as_bytes();
        let Some(src_rel) = bytes
            .strip_prefix(files_dir.as_slice())
            .and_then(|rest| rest.strip_prefix(b"/"))
        else {
            return false;
        };
        let src_rel = Path::new(std::ffi::OsStr::from_bytes(src_rel));
        files_fd.hard_link(src_rel, pkg_fd, Path::new(rel)).is_ok()
    }
}

/// Where one import takes its files from, and whether it must copy them.
struct Source<'a> {
    files: &'a PackageFiles,
    force_copy: bool,
}

fn import_one(
    importer: &PackageImporter,
    pkg: &PlannedPackage,
    source: &Source<'_>,
    is_dir_source: bool,
    src: &Path,
    dst: &Path,
) -> Result<(), LinkError> {
    let via = importer
        .import(source.force_copy, src, dst)
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

/// `node_modules`, the `@scope` dir if any, and the package dir, in a slot just created.
fn create_dirs_below_slot(slot: &Path, name: &str, package: &str) -> Result<(), LinkError> {
    let mkdir = |dir: &Path| {
        std::fs::create_dir(dir).map_err(|e| LinkError::io("create directory", dir, package, e))
    };
    let mut dir = slot.join("node_modules");
    mkdir(&dir)?;
    for part in name.split('/') {
        dir.push(part);
        mkdir(&dir)?;
    }
    Ok(())
}

/// The file list as `(relative path, source path)`, validated; borrowed from the plan when
/// the files come from the store.
fn collect_files<'a>(
    pkg: &PlannedPackage,
    files: &'a PackageFiles,
) -> Result<Cow<'a, [(String, PathBuf)]>, LinkError> {
    match files {
        PackageFiles::Cas(files) => {
            for (rel, _) in files {
                check_rel_path(&pkg.dep_path, "file path", rel)?;
            }
            Ok(Cow::Borrowed(files.as_slice()))
        }
        PackageFiles::Directory(src) => {
            let mut out = Vec::new();
            walk_source_dir(&pkg.dep_path, src, src, &mut out)?;
            out.sort();
            Ok(Cow::Owned(out))
        }
    }
}

/// Every regular file under `dir`, skipping `node_modules` directories and symlinks.
fn walk_source_dir(
    package: &str,
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), LinkError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| LinkError::io("read directory", dir, package, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LinkError::io("read directory", dir, package, e))?;
        let path = entry.path();
        let ty = entry
            .file_type()
            .map_err(|e| LinkError::io("stat", &path, package, e))?;
        if ty.is_dir() {
            if entry.file_name() != "node_modules" {
                walk_source_dir(package, root, &path, out)?;
            }
        } else if ty.is_file() {
            if let Ok(rel) = path.strip_prefix(root) {
                if let Some(rel) = rel.to_str() {
                    out.push((rel.to_string(), path.clone()));
                }
            }
        }
    }
    Ok(())
}

/// `package.json` if the package has one, else its lexically smallest file.
fn marker_of(files: &[(String, PathBuf)]) -> Option<&str> {
    if files.iter().any(|(rel, _)| rel == COMPLETION_MARKER) {
        return Some(COMPLETION_MARKER);
    }
    files.iter().map(|(rel, _)| rel.as_str()).min()
}

/// Every directory (and its ancestors) that holds a file, sorted so parents come first (a
/// parent is a prefix of its children, so it sorts before them). Borrowed from the file
/// paths, which the caller validated (`/`-separated, no empty or `..` parts): one
/// allocation and `Path` comparison per file here showed up in warm-install profiles.
fn unique_parent_dirs(files: &[(String, PathBuf)]) -> BTreeSet<&str> {
    let mut dirs = BTreeSet::new();
    for (rel, _) in files {
        let mut rest = rel.as_str();
        while let Some(slash) = rest.rfind('/') {
            rest = &rest[..slash];
            if rest.is_empty() || !dirs.insert(rest) {
                break;
            }
        }
    }
    dirs
}
