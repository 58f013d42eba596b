//! `place_file`: write a file where a package is being installed, then give it its CAS name.
//!
//! [`crate::ensure_file`] creates a CAS file as an unnamed `O_TMPFILE` inode in its shard
//! directory, names it with `linkat`, and the importer links it a second time into the
//! package directory: three directory operations per file. A download that unpacks straight
//! into a package directory this install has just created can do with two: create the file
//! under its name in the package directory, fill and close it, and `linkat` it to its CAS
//! path. On the 2-core benchmark VM that loop took about a tenth less system time for the
//! medium fixture's 22k files.
//!
//! The CAS keeps its contract: the CAS name only ever appears on a complete file (the
//! file is closed before the link), `linkat` never replaces an entry, and the link is made
//! under [`cas_write_lock`], as every CAS write is. When the CAS path exists already, it is
//! checked and healed exactly as [`crate::ensure_file`] does, and the package keeps its own
//! complete copy. When the store cannot be linked to (another filesystem, no hard links),
//! the CAS file is written the usual way and the package file stays a copy.
//!
//! The package directory is the caller's to make safe: nothing marks it complete here.

use crate::dir_fd::DirFd;
use crate::ensure_file::{ensure_file, fill, verify_or_heal, EnsureOutcome, EXEC_MODE, FILE_MODE};
use crate::error::FsError;
use crate::lock::cas_write_lock;
use crate::temp::parent_dir;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once linking a package file into the store failed for a reason that will not go
/// away (another filesystem, no hard links): later files skip the attempt.
static NO_STORE_LINK: AtomicBool = AtomicBool::new(false);

/// What [`place_file`] did, and what it found at the CAS path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// The package file is the CAS file: one inode, two names.
    Linked(EnsureOutcome),
    /// The package file is a copy (the store cannot be linked to); the CAS path was made
    /// right separately.
    Copied(EnsureOutcome),
}

/// Where a file goes in the CAS: its whole path (for errors and the rare paths), and the same
/// place relative to the store's `files/` directory (`XX/<rest>`) when the caller holds that
/// directory open. A link made relative to it spares the kernel the walk of every directory
/// above it, once per file: about 1% of a cold install's CPU with a store ten directories
/// deep.
#[derive(Debug, Clone, Copy)]
pub struct CasPlace<'a> {
    /// The CAS path.
    pub path: &'a Path,
    /// The store's open `files/` directory, and the CAS path relative to it.
    pub in_files: Option<(&'a DirFd, &'a Path)>,
}

/// Creates `rel` inside the package directory `dir` (open; `dir_path` names it in errors)
/// with `content` and mode 0o755 if `executable` (else 0o644), then gives the same inode the
/// CAS path `cas_path`. An existing entry at `rel` (a duplicate archive entry) is replaced.
pub fn place_file(
    dir: &DirFd,
    dir_path: &Path,
    rel: &Path,
    cas: CasPlace<'_>,
    content: &[u8],
    executable: bool,
) -> Result<Placed, FsError> {
    let mode = if executable { EXEC_MODE } else { FILE_MODE };
    let file = create_filled(dir, dir_path, rel, content, mode)?;
    name_in_store(file, dir, dir_path, rel, cas, content, executable)
}

/// Gives the just-written package file `file` (at `rel` in `dir`) the CAS path `cas_path`,
/// or, when it cannot be linked, writes the CAS file from `content`.
fn name_in_store(
    file: File,
    dir: &DirFd,
    dir_path: &Path,
    rel: &Path,
    cas: CasPlace<'_>,
    content: &[u8],
    executable: bool,
) -> Result<Placed, FsError> {
    let mode = if executable { EXEC_MODE } else { FILE_MODE };
    let cas_path = cas.path;
    if !NO_STORE_LINK.load(Ordering::Relaxed) {
        let guard = cas_write_lock(cas_path).lock();
        let mut linked = link_to_store(&file, dir, rel, cas);
        if matches!(&linked, Err(e) if e.kind() == io::ErrorKind::NotFound) {
            // The shard directory is missing (a store made by hand, or pruned meanwhile).
            let shard = parent_dir(cas_path)?;
            std::fs::create_dir_all(shard)
                .map_err(|e| FsError::io("create directory", shard, e))?;
            linked = link_to_store(&file, dir, rel, cas);
        }
        drop(file);
        match linked {
            Ok(()) => return Ok(Placed::Linked(EnsureOutcome::Created)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let outcome = verify_or_heal(cas_path, content, mode)?;
                drop(guard);
                let linked = link_to_existing(dir, dir_path, rel, cas_path, content, mode)?;
                return Ok(if linked {
                    Placed::Linked(outcome)
                } else {
                    Placed::Copied(outcome)
                });
            }
            Err(e) if cannot_link_into_store(&e) => {
                if e.raw_os_error() != Some(libc::EMLINK) {
                    NO_STORE_LINK.store(true, Ordering::Relaxed);
                }
            }
            // The file lost its last name: another writer of the same batch took `rel` for
            // the archive's second entry of that path, and an inode without a name cannot be
            // linked again. The CAS file is written from the content instead; the package
            // keeps whichever entry its caller puts last.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(FsError::io2("hardlink", dir_path.join(rel), cas_path, e)),
        }
        // `ensure_file` takes the same stripe.
        drop(guard);
    }
    ensure_file(cas_path, content, executable).map(Placed::Copied)
}

/// Writes `content` at `rel` inside the open directory `dir` (`dir_path` names it in
/// errors), mode 0o755 if `executable` (else 0o644), replacing an existing file there. The
/// file is not published atomically: this is for a package directory that is not marked
/// complete yet. A failed write removes what it started.
pub fn write_in_dir(
    dir: &DirFd,
    dir_path: &Path,
    rel: &Path,
    content: &[u8],
    executable: bool,
) -> Result<(), FsError> {
    let mode = if executable { EXEC_MODE } else { FILE_MODE };
    create_filled(dir, dir_path, rel, content, mode).map(drop)
}

/// [`write_in_dir`], returning the file still open.
fn create_filled(
    dir: &DirFd,
    dir_path: &Path,
    rel: &Path,
    content: &[u8],
    mode: u32,
) -> Result<File, FsError> {
    let mut created = dir.create_new(rel, mode);
    // An entry of the same path: replace it. Two writers of one batch may race for a path
    // the archive carries twice; whichever wins, the caller puts the right one last.
    for _ in 0..3 {
        match created {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                created = dir.unlink(rel).and_then(|()| dir.create_new(rel, mode));
            }
            _ => break,
        }
    }
    let file = created.map_err(|e| FsError::io("create", dir_path.join(rel), e))?;
    if let Err(e) = fill(&file, content, mode) {
        drop(file);
        // Best effort: the error that matters is the write's.
        let _ = dir.unlink(rel);
        return Err(FsError::io("write", dir_path.join(rel), e));
    }
    Ok(file)
}

/// Links the open `file` (also at `rel` in `dir`) to the CAS path `cas`, never replacing an
/// entry.
/// On Linux by its descriptor, so the CAS name goes to exactly the inode written here,
/// whatever happened to `rel` meanwhile; by name where that cannot work.
fn link_to_store(file: &File, dir: &DirFd, rel: &Path, cas: CasPlace<'_>) -> io::Result<()> {
    let cas_path = cas.path;
    #[cfg(target_os = "linux")]
    {
        use crate::ensure_file::linux::{cstr, link_open_file, TmpfileError};
        use std::os::unix::ffi::OsStrExt;
        let (at, name) = match cas.in_files {
            Some((files, name)) => (files.raw_fd(), name),
            None => (libc::AT_FDCWD, cas_path),
        };
        match link_open_file(file, at, &cstr(name.as_os_str().as_bytes())?) {
            Ok(()) => return Ok(()),
            Err(TmpfileError::Io(e)) => return Err(e),
            Err(TmpfileError::Unsupported) => {}
        }
    }
    dir.hard_link_out(rel, cas_path)?;
    // By name, the link may have reached another writer's inode (a duplicate archive entry
    // replaced `rel` meanwhile): the CAS name is taken back and the caller writes the CAS
    // file from this file's content. The caller holds `cas_write_lock`.
    let ours = file.metadata()?;
    let linked = std::fs::symlink_metadata(cas_path)?;
    if (linked.dev(), linked.ino()) != (ours.dev(), ours.ino()) {
        std::fs::remove_file(cas_path)?;
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    Ok(())
}

/// Replaces the package's own copy at `rel` with a link to the CAS file that was there
/// first (checked, or healed, by the caller), as an import from the store would link it.
/// The directory is not complete yet, so nothing reads `rel` while it is briefly missing.
/// `true`: linked. `false`: the package keeps a copy (the old name could not be removed, or
/// the link failed and the copy was written again). An error means `rel` is missing: the
/// copy could not be written again, and the package must not be completed.
fn link_to_existing(
    dir: &DirFd,
    dir_path: &Path,
    rel: &Path,
    cas_path: &Path,
    content: &[u8],
    mode: u32,
) -> Result<bool, FsError> {
    if dir.unlink(rel).is_err() {
        return Ok(false);
    }
    if dir.hard_link_in(cas_path, rel).is_ok() {
        return Ok(true);
    }
    write_in_dir(dir, dir_path, rel, content, mode == EXEC_MODE)?;
    Ok(false)
}

/// Errors that say this file cannot get a second name in the store, though the store can
/// still be written: another filesystem, no hard links there, or too many links already.
fn cannot_link_into_store(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV) | Some(libc::EPERM) | Some(libc::EOPNOTSUPP) | Some(libc::EMLINK)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    struct Setup {
        _tmp: tempfile::TempDir,
        pkg: std::path::PathBuf,
        pkg_fd: DirFd,
        cas: std::path::PathBuf,
        /// Held for the whole test: `NO_STORE_LINK` is the process's, and one test sets it.
        _serial: std::sync::MutexGuard<'static, ()>,
    }

    /// Serializes these tests when they share a process (`cargo test`; nextest runs each
    /// alone).
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// The CAS path alone, walked whole by each link.
    fn whole(path: &Path) -> CasPlace<'_> {
        CasPlace {
            path,
            in_files: None,
        }
    }

    fn setup() -> Setup {
        let serial = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        NO_STORE_LINK.store(false, Ordering::Relaxed);
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path().join("pkg");
        std::fs::create_dir_all(pkg.join("lib")).unwrap();
        let cas = tmp.path().join("files/ab/cdef-exec");
        let pkg_fd = DirFd::open(&pkg).unwrap();
        Setup {
            _tmp: tmp,
            pkg,
            pkg_fd,
            cas,
            _serial: serial,
        }
    }

    /// A duplicate archive entry's writer unlinked and recreated `rel` between this file's
    /// write and its link: its inode has no name left and cannot be linked. The CAS file is
    /// written from the content instead (this used to fail the package's download).
    #[test]
    fn a_file_that_lost_its_name_to_a_duplicate_entry_is_written_to_the_store() {
        let s = setup();
        let rel = Path::new("lib/a.js");
        let file = create_filled(&s.pkg_fd, &s.pkg, rel, b"first", EXEC_MODE).unwrap();
        s.pkg_fd.unlink(rel).unwrap();
        let placed = name_in_store(file, &s.pkg_fd, &s.pkg, rel, whole(&s.cas), b"first", true);
        assert_eq!(placed.unwrap(), Placed::Copied(EnsureOutcome::Created));
        assert_eq!(std::fs::read(&s.cas).unwrap(), b"first");
        let mode = std::fs::metadata(&s.cas).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn the_package_file_becomes_the_cas_file() {
        let s = setup();
        let placed = place_file(
            &s.pkg_fd,
            &s.pkg,
            Path::new("lib/a.js"),
            whole(&s.cas),
            b"hi",
            true,
        );
        assert_eq!(placed.unwrap(), Placed::Linked(EnsureOutcome::Created));
        let in_pkg = std::fs::metadata(s.pkg.join("lib/a.js")).unwrap();
        let in_cas = std::fs::metadata(&s.cas).unwrap();
        assert_eq!(in_pkg.ino(), in_cas.ino(), "one inode, two names");
        assert_eq!(in_cas.permissions().mode() & 0o777, 0o755);
        assert_eq!(std::fs::read(&s.cas).unwrap(), b"hi");
    }

    #[test]
    fn an_existing_cas_file_is_checked_healed_and_linked() {
        let s = setup();
        std::fs::create_dir_all(s.cas.parent().unwrap()).unwrap();
        std::fs::write(&s.cas, b"torn").unwrap();
        std::fs::set_permissions(&s.cas, std::fs::Permissions::from_mode(0o755)).unwrap();
        let placed = place_file(
            &s.pkg_fd,
            &s.pkg,
            Path::new("a.js"),
            whole(&s.cas),
            b"whole",
            true,
        );
        assert_eq!(placed.unwrap(), Placed::Linked(EnsureOutcome::Healed));
        assert_eq!(std::fs::read(&s.cas).unwrap(), b"whole");
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(&s.pkg.join("a.js")),
            ino(&s.cas),
            "linked as an import would"
        );
        // The right content is left alone, and linked too.
        let again = place_file(
            &s.pkg_fd,
            &s.pkg,
            Path::new("b.js"),
            whole(&s.cas),
            b"whole",
            true,
        );
        assert_eq!(again.unwrap(), Placed::Linked(EnsureOutcome::Existing));
        assert_eq!(ino(&s.pkg.join("b.js")), ino(&s.cas));
    }

    #[test]
    fn a_duplicate_entry_replaces_the_earlier_file() {
        let s = setup();
        let other = s.cas.with_file_name("0123");
        place_file(
            &s.pkg_fd,
            &s.pkg,
            Path::new("a.js"),
            whole(&other),
            b"first",
            false,
        )
        .unwrap();
        place_file(
            &s.pkg_fd,
            &s.pkg,
            Path::new("a.js"),
            whole(&s.cas),
            b"second",
            true,
        )
        .unwrap();
        assert_eq!(std::fs::read(s.pkg.join("a.js")).unwrap(), b"second");
        assert_eq!(
            std::fs::read(&other).unwrap(),
            b"first",
            "the CAS keeps both"
        );
    }

    #[test]
    fn a_store_on_another_filesystem_gets_its_own_copy() {
        let s = setup();
        // /dev/shm is a tmpfs on Linux hosts, the temp dir usually is not.
        let other = tempfile::tempdir_in("/dev/shm").unwrap();
        let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
        assert_ne!(dev(other.path()), dev(&s.pkg), "need two filesystems");
        let cas = other.path().join("files/ab/cdef");
        for rel in ["a.js", "b.js"] {
            let placed = place_file(&s.pkg_fd, &s.pkg, Path::new(rel), whole(&cas), b"x", false);
            assert!(matches!(placed.unwrap(), Placed::Copied(_)));
            assert_eq!(std::fs::read(s.pkg.join(rel)).unwrap(), b"x");
        }
        assert_eq!(std::fs::read(&cas).unwrap(), b"x");
        assert!(
            NO_STORE_LINK.load(Ordering::Relaxed),
            "tried once, not per file"
        );
    }

    #[test]
    fn a_missing_package_dir_is_an_error_naming_the_path() {
        let s = setup();
        let err = place_file(
            &s.pkg_fd,
            &s.pkg,
            Path::new("no/a.js"),
            whole(&s.cas),
            b"x",
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no/a.js"), "{err}");
        assert!(!s.cas.exists(), "nothing reached the store");
    }

    /// Linked relative to the store's open `files/` directory, the shard directory made when
    /// it is missing (a store whose shards were not made ahead): the same result as by the
    /// whole path.
    #[test]
    fn a_link_relative_to_the_files_dir_makes_its_shard_and_names_the_same_inode() {
        let s = setup();
        let files_path = s.cas.parent().unwrap().parent().unwrap();
        std::fs::create_dir_all(files_path).unwrap();
        let files = DirFd::open(files_path).unwrap();
        for (rel, name) in [("a.js", "ab/cdef-exec"), ("b.js", "ab/0123-exec")] {
            let path = files_path.join(name);
            let cas = CasPlace {
                path: &path,
                in_files: Some((&files, Path::new(name))),
            };
            let placed = place_file(&s.pkg_fd, &s.pkg, Path::new(rel), cas, b"hi", true);
            assert_eq!(placed.unwrap(), Placed::Linked(EnsureOutcome::Created));
            let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
            assert_eq!(ino(&s.pkg.join(rel)), ino(&path), "one inode, two names");
        }
    }
}
