//! `ensure_file`: put the bytes of a content-addressed file at its final CAS path.
//!
//! A cold install writes ~100k CAS files, so the common path must be cheap: no temp name
//! and no rename. On Linux the file is created unnamed with `O_TMPFILE` in the shard
//! directory, filled, given its mode, and then given its name with `linkat`. The name
//! therefore only ever appears on a complete file, which matters because another *process*
//! (a concurrent install sharing the store) may be reading it, and the process-local
//! [`cas_write_lock`] cannot protect it. `linkat` fails with `EEXIST` rather than replacing,
//! so a file that someone else finished first is never clobbered.
//!
//! Where `O_TMPFILE` is unsupported (overlayfs in some containers, tmpfs on old kernels:
//! `EOPNOTSUPP`/`EISDIR`/`EINVAL`), the same contract is kept with an exclusive temp sibling
//! that is `link()`ed to the final name (still never replacing), or renamed where the
//! filesystem has no hardlinks. The choice is remembered process-wide.
//!
//! When the path already exists, "exists" is only a claim: a crash may have left a torn
//! file in an older store, or a foreign tool may have put a directory or symlink there.
//! The existing entry is checked (size first, then bytes against the in-memory buffer, no
//! re-hash) and replaced atomically (temp + rename) when wrong.

use crate::error::FsError;
use crate::lock::cas_write_lock;
use crate::retry::retry_fd_pressure;
use crate::temp::{create_temp_sibling, parent_dir};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// What [`ensure_file`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsureOutcome {
    /// The file did not exist; it was written.
    Created,
    /// A file with exactly these bytes was already there; nothing was written.
    Existing,
    /// Something wrong was there (torn or different file, directory, symlink); it was
    /// replaced atomically.
    Healed,
}

pub(crate) const EXEC_MODE: u32 = 0o755;
pub(crate) const FILE_MODE: u32 = 0o644;

/// Set once `O_TMPFILE` has been seen to be unsupported, so it is not probed per file.
static NO_TMPFILE: AtomicBool = AtomicBool::new(false);

/// Writes `content` at the CAS path `path` (mode 0o755 if `executable`, else 0o644), or
/// verifies and heals what is already there. Holds [`cas_write_lock`] while it works.
///
/// The parent (shard) directory is expected to exist; it is created once if it does not.
pub fn ensure_file(
    path: &Path,
    content: &[u8],
    executable: bool,
) -> Result<EnsureOutcome, FsError> {
    let mode = if executable { EXEC_MODE } else { FILE_MODE };
    let _guard = cas_write_lock(path).lock();
    match create_complete(path, content, mode) {
        Ok(()) => Ok(EnsureOutcome::Created),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => verify_or_heal(path, content, mode),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = parent_dir(path)?;
            std::fs::create_dir_all(parent)
                .map_err(|e| FsError::io("create directory", parent, e))?;
            match create_complete(path, content, mode) {
                Ok(()) => Ok(EnsureOutcome::Created),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    verify_or_heal(path, content, mode)
                }
                Err(e) => Err(FsError::io("write", path, e)),
            }
        }
        Err(e) => Err(FsError::io("write", path, e)),
    }
}

/// Makes `path` appear with the full `content`, or fails with `AlreadyExists` without
/// touching an existing entry. `NotFound` means the parent directory is missing.
fn create_complete(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if !NO_TMPFILE.load(Ordering::Relaxed) {
        match linux::create_via_tmpfile(path, content, mode) {
            Ok(()) => return Ok(()),
            Err(linux::TmpfileError::Unsupported) => NO_TMPFILE.store(true, Ordering::Relaxed),
            Err(linux::TmpfileError::Io(e)) => return Err(e),
        }
    }
    create_via_temp_link(path, content, mode)
}

/// Fallback: exclusive temp sibling, then `link()` to the final name (never replaces).
fn create_via_temp_link(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    let (file, mut guard) = match create_temp_sibling(path, mode) {
        Ok(x) => x,
        Err(e) => return Err(into_io(e)),
    };
    fill(&file, content, mode)?;
    drop(file);
    match std::fs::hard_link(guard.path(), path) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) || is_unsupported(&e) => {
            // No hardlinks on this filesystem. A rename may replace a file another
            // process completed meanwhile, but that file has the same content: harmless.
            if std::fs::symlink_metadata(path).is_ok() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            std::fs::rename(guard.path(), path)?;
            guard.disarm();
            Ok(())
        }
        Err(e) => Err(e),
    }
    // `guard` drops here and unlinks the temp name; the final name keeps the inode.
}

fn into_io(e: FsError) -> io::Error {
    match e {
        FsError::Io { source, .. } => source,
        other => io::Error::other(other.to_string()),
    }
}

/// Writes the content and makes sure the mode is exactly `mode`. The file was created with
/// `mode`, which the kernel masked with the umask; only when the umask removed some of its
/// bits is a `fchmod` needed (a cold install saves one syscall per file under the usual
/// `022`).
pub(crate) fn fill(mut file: &File, content: &[u8], mode: u32) -> io::Result<()> {
    file.write_all(content)?;
    if umask_keeps(mode) {
        return Ok(());
    }
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Whether creating a file with `mode` yields exactly `mode` under the process umask. An
/// unknown umask counts as "no", so the mode is then always set explicitly.
pub(crate) fn umask_keeps(mode: u32) -> bool {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    UMASK
        .get_or_init(read_umask)
        .is_some_and(|umask| mode & umask == 0)
}

/// The umask from `/proc/self/status` (reading it with `umask(2)` would briefly change it,
/// which races with other threads creating files).
fn read_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)
    )
}

/// Checks an existing entry at `path` and replaces it atomically when it is not a regular
/// file holding exactly `content`. An `-exec` file (`mode` with exec bits) that lost them gets
/// them back; a plain file that gained them keeps them: linking a bin chmods its target
/// through the hard link, pnpm leaves the store file so, and taking the bits back would take
/// them from the bin of every tree that links the file (a race within one install, where a
/// package that ships the same content is unpacked after the bin was linked).
pub(crate) fn verify_or_heal(
    path: &Path,
    content: &[u8],
    mode: u32,
) -> Result<EnsureOutcome, FsError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(FsError::io("stat", path, e)),
    };
    match meta {
        Some(m) if m.file_type().is_dir() => {
            std::fs::remove_dir_all(path).map_err(|e| FsError::io("remove directory", path, e))?;
        }
        Some(m)
            if m.file_type().is_file()
                && m.len() == content.len() as u64
                && file_equals(path, content)? =>
        {
            let found = m.permissions().mode() & 0o777;
            // Exec bits an `-exec` file lost come back, and read bits anything lost (a file
            // left 0o600 by a restrictive umask would be unreadable to other users of the
            // store); exec bits a plain file gained stay.
            let wanted = (found | (mode & 0o111) | 0o444) & 0o777;
            let wanted = if mode & 0o111 != 0 && found & 0o111 == 0 {
                mode | (found & 0o222)
            } else {
                wanted
            };
            if wanted != found {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))
                    .map_err(|e| FsError::io("chmod", path, e))?;
            }
            return Ok(EnsureOutcome::Existing);
        }
        _ => {}
    }
    replace_atomically(path, content, mode)?;
    Ok(EnsureOutcome::Healed)
}

fn replace_atomically(path: &Path, content: &[u8], mode: u32) -> Result<(), FsError> {
    let (file, mut guard) = create_temp_sibling(path, mode)?;
    fill(&file, content, mode).map_err(|e| FsError::io("write", guard.path(), e))?;
    drop(file);
    std::fs::rename(guard.path(), path)
        .map_err(|e| FsError::io2("rename", guard.path(), path, e))?;
    guard.disarm();
    Ok(())
}

/// Compares the file at `path` with `content` in 64 KiB chunks, stopping at the first
/// difference. A file that vanished compares unequal (and gets rewritten).
fn file_equals(path: &Path, content: &[u8]) -> Result<bool, FsError> {
    let mut f = match retry_fd_pressure(|| File::open(path)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(FsError::io("open", path, e)),
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut rest = content;
    loop {
        let n = match f.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FsError::io("read", path, e)),
        };
        if n == 0 {
            return Ok(rest.is_empty());
        }
        if n > rest.len() || buf[..n] != rest[..n] {
            return Ok(false);
        }
        rest = &rest[n..];
    }
}

#[cfg(target_os = "linux")]
pub(crate) mod linux {
    //! `O_TMPFILE` + `linkat`: the file gets its name only once it is complete.

    use super::{fill, is_unsupported};
    use crate::retry::retry_fd_pressure;
    use std::ffi::CString;
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Cleared once `linkat(AT_EMPTY_PATH)` has been refused (no `CAP_DAC_READ_SEARCH`).
    pub(super) static EMPTY_PATH_LINK: AtomicBool = AtomicBool::new(true);

    pub(crate) enum TmpfileError {
        /// The filesystem (or kernel) cannot do it; use the fallback from now on.
        Unsupported,
        Io(io::Error),
    }

    impl From<io::Error> for TmpfileError {
        fn from(e: io::Error) -> Self {
            TmpfileError::Io(e)
        }
    }

    pub(super) fn create_via_tmpfile(
        path: &Path,
        content: &[u8],
        mode: u32,
    ) -> Result<(), TmpfileError> {
        let parent = super::parent_dir(path).map_err(|e| TmpfileError::Io(super::into_io(e)))?;
        let c_parent = cstr(parent.as_os_str().as_bytes())?;
        let c_path = cstr(path.as_os_str().as_bytes())?;
        let fd = retry_fd_pressure(|| {
            // SAFETY: c_parent is a valid NUL-terminated string; open has no other
            // preconditions. The returned fd is owned by the File below.
            let fd = unsafe {
                libc::open(
                    c_parent.as_ptr(),
                    libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC,
                    mode as libc::c_uint,
                )
            };
            if fd < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(fd)
            }
        });
        let fd = match fd {
            Ok(fd) => fd,
            Err(e) if is_unsupported(&e) => return Err(TmpfileError::Unsupported),
            Err(e) => return Err(TmpfileError::Io(e)),
        };
        // SAFETY: fd is a freshly opened descriptor that nothing else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        fill(&file, content, mode)?;
        link_open_file(&file, libc::AT_FDCWD, &c_path)
    }

    /// Gives the open file `file` the name `c_path` (relative to the directory `at`, or
    /// `AT_FDCWD`) without ever replacing an entry, by its descriptor rather than by any other
    /// name it has: what gets the name is exactly the inode this process wrote.
    /// `Unsupported` when neither way works here.
    pub(crate) fn link_open_file(
        file: &File,
        at: libc::c_int,
        c_path: &CString,
    ) -> Result<(), TmpfileError> {
        // `AT_EMPTY_PATH` names the file by its descriptor: no walk through /proc. The
        // kernel may require `CAP_DAC_READ_SEARCH` for it (root on a host has it; a
        // container's root usually does not); when it refuses it answers `ENOENT`, and the
        // /proc link below, which needs no capability, is used from then on. A missing
        // parent directory answers `ENOENT` too; that is told apart below.
        let mut refused = false;
        if EMPTY_PATH_LINK.load(Ordering::Relaxed) {
            let link_by_fd = || {
                // SAFETY: the empty string and `c_path` are valid and NUL-terminated; the
                // fd stays open (owned by `file`) for the duration of the call.
                let rc = unsafe {
                    libc::linkat(
                        file.as_raw_fd(),
                        c"".as_ptr(),
                        at,
                        c_path.as_ptr(),
                        libc::AT_EMPTY_PATH,
                    )
                };
                if rc == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            };
            match link_by_fd() {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(TmpfileError::Io(e)),
                Err(e) => {
                    #[cfg(test)]
                    if let Some(between) = AFTER_FIRST_TRY.with(|hook| hook.borrow_mut().take()) {
                        between();
                    }
                    // Refused, or the parent directory is missing. A missing parent is the
                    // caller's to make. A parent that exists now may have been made by
                    // another thread since the attempt (a cold install makes the store's
                    // shard directories as it goes), so the link is tried once more before
                    // the descriptor is given up for good: concluded from one `ENOENT`, a
                    // race turned every later link of the install into a walk through /proc.
                    if !parent_exists(at, c_path) {
                        return Err(TmpfileError::Io(e));
                    }
                    match link_by_fd() {
                        Ok(()) => return Ok(()),
                        Err(e) if e.kind() != io::ErrorKind::NotFound => {
                            return Err(TmpfileError::Io(e))
                        }
                        Err(_) => refused = true,
                    }
                }
            }
        }
        // Linking an O_TMPFILE through /proc needs no capability.
        let proc_path = cstr(format!("/proc/self/fd/{}", file.as_raw_fd()).as_bytes())?;
        // SAFETY: both strings are valid and NUL-terminated; the fd stays open (owned
        // by `file`) for the duration of the call.
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc_path.as_ptr(),
                at,
                c_path.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if rc == 0 {
            if refused {
                EMPTY_PATH_LINK.store(false, Ordering::Relaxed);
            }
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::NotFound && std::fs::metadata("/proc/self/fd").is_err() {
            // No /proc: cannot name the unnamed file this way.
            return Err(TmpfileError::Unsupported);
        }
        Err(TmpfileError::Io(e))
    }

    #[cfg(test)]
    thread_local! {
        /// Run once, after the next `AT_EMPTY_PATH` link that answers `ENOENT`: lets a
        /// test make the parent directory appear there, as another thread can.
        pub(crate) static AFTER_FIRST_TRY: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
            const { std::cell::RefCell::new(None) };
    }

    /// Whether the directory `c_path` (relative to `at`) would be created in exists.
    fn parent_exists(at: libc::c_int, c_path: &CString) -> bool {
        let path = Path::new(std::ffi::OsStr::from_bytes(c_path.as_bytes()));
        let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
            return true; // `at` itself, or the root
        };
        let Ok(c_parent) = cstr(parent.as_os_str().as_bytes()) else {
            return false;
        };
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: c_parent is valid and NUL-terminated; st is written by the call and read
        // only when it succeeded.
        let rc = unsafe { libc::fstatat(at, c_parent.as_ptr(), st.as_mut_ptr(), 0) };
        // SAFETY: fstatat returned 0, so it filled st.
        rc == 0 && unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFDIR
    }

    pub(crate) fn cstr(bytes: &[u8]) -> io::Result<CString> {
        CString::new(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    }
}

#[cfg(test)]
mod tests {
    //! The `O_TMPFILE`-less fallback cannot be reached on this host's filesystems, so it is
    //! forced here through the process-wide switch (nextest runs each test in its own
    //! process, so the switch does not leak into other tests).

    use super::*;
    use std::sync::atomic::AtomicBool as Flag;

    fn no_temps(dir: &Path) -> bool {
        std::fs::read_dir(dir).unwrap().all(|e| {
            !e.unwrap()
                .file_name()
                .to_string_lossy()
                .contains(crate::TEMP_INFIX)
        })
    }

    /// Both ways of naming an unnamed file work: by its descriptor (`AT_EMPTY_PATH`) and
    /// through /proc. The switch ends up on exactly when the kernel lets this process link
    /// by descriptor.
    #[cfg(target_os = "linux")]
    #[test]
    fn tmpfile_links_by_descriptor_or_through_proc() {
        for by_descriptor in [true, false] {
            linux::EMPTY_PATH_LINK.store(by_descriptor, Ordering::SeqCst);
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("shard").join("blob");
            assert_eq!(
                ensure_file(&p, b"abc", false).unwrap(),
                EnsureOutcome::Created
            );
            assert_eq!(std::fs::read(&p).unwrap(), b"abc");
            assert_eq!(
                ensure_file(&p, b"abc", false).unwrap(),
                EnsureOutcome::Existing
            );
            assert!(no_temps(&dir.path().join("shard")));
            if by_descriptor {
                assert_eq!(
                    linux::EMPTY_PATH_LINK.load(Ordering::SeqCst),
                    links_by_descriptor(dir.path()),
                    "the switch does not match what the kernel allows"
                );
            }
        }
    }

    /// A shard directory made by another thread between the descriptor link's `ENOENT`
    /// and the next attempt: the file is linked by descriptor, and later links keep that
    /// way (once, this race switched a whole install over to links through /proc).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_parent_made_meanwhile_does_not_give_up_the_descriptor_link() {
        let dir = tempfile::tempdir().unwrap();
        linux::EMPTY_PATH_LINK.store(true, Ordering::SeqCst);
        let file = std::fs::File::create(dir.path().join("source")).unwrap();
        // A parent that is missing is the caller's to make, and changes nothing, whether
        // or not this process may link by descriptor.
        let missing =
            linux::cstr(dir.path().join("none/blob").as_os_str().as_encoded_bytes()).unwrap();
        assert!(matches!(
            linux::link_open_file(&file, libc::AT_FDCWD, &missing),
            Err(linux::TmpfileError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
        assert!(linux::EMPTY_PATH_LINK.load(Ordering::SeqCst));
        // The race itself needs a process that may link by descriptor (root on a host).
        assert!(
            links_by_descriptor(dir.path()),
            "this test needs linkat(AT_EMPTY_PATH), which needs CAP_DAC_READ_SEARCH"
        );
        let shard = dir.path().join("shard");
        let made = shard.clone();
        linux::AFTER_FIRST_TRY.with(|hook| {
            *hook.borrow_mut() = Some(Box::new(move || std::fs::create_dir(&made).unwrap()));
        });
        let p = shard.join("blob");
        // `ensure_file` makes a missing shard itself; here the shard appears only after
        // the first attempt failed, so the outcome depends on the retry.
        let c_path = linux::cstr(p.as_os_str().as_encoded_bytes()).unwrap();
        assert!(linux::link_open_file(&file, libc::AT_FDCWD, &c_path).is_ok());
        assert_eq!(std::fs::read(&p).unwrap(), b"");
        assert!(
            linux::EMPTY_PATH_LINK.load(Ordering::SeqCst),
            "one ENOENT from a missing parent gave up linking by descriptor"
        );
    }

    /// Whether this process may `linkat(AT_EMPTY_PATH)` an unnamed file into `dir`.
    #[cfg(target_os = "linux")]
    fn links_by_descriptor(dir: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let c_dir = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        let c_to = std::ffi::CString::new(dir.join("probe").as_os_str().as_bytes()).unwrap();
        // SAFETY: valid NUL-terminated strings; the fd is closed right after.
        unsafe {
            let fd = libc::open(c_dir.as_ptr(), libc::O_TMPFILE | libc::O_WRONLY, 0o644);
            assert!(fd >= 0);
            let rc = libc::linkat(
                fd,
                c"".as_ptr(),
                libc::AT_FDCWD,
                c_to.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
            libc::close(fd);
            rc == 0
        }
    }

    #[test]
    fn fallback_creates_complete_files_and_never_replaces() {
        NO_TMPFILE.store(true, Ordering::SeqCst);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("blob-exec");
        assert_eq!(
            ensure_file(&p, b"abc", true).unwrap(),
            EnsureOutcome::Created
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let e = create_via_temp_link(&p, b"xyz", 0o644).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
        assert_eq!(
            ensure_file(&p, b"abcd", true).unwrap(),
            EnsureOutcome::Healed
        );
        assert!(no_temps(dir.path()));
    }

    #[test]
    fn fallback_threads_never_see_torn_files() {
        NO_TMPFILE.store(true, Ordering::SeqCst);
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..8).map(|i| dir.path().join(format!("f{i}"))).collect();
        let content = vec![7u8; 4 * 1024 * 1024];
        let stop = Flag::new(false);
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    for p in &paths {
                        if let Ok(m) = std::fs::metadata(p) {
                            assert_eq!(m.len(), content.len() as u64, "torn {}", p.display());
                        }
                    }
                }
            });
            let writers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        for p in &paths {
                            ensure_file(p, &content, false).unwrap();
                        }
                    })
                })
                .collect();
            for w in writers {
                w.join().unwrap();
            }
            stop.store(true, Ordering::SeqCst);
            reader.join().unwrap();
        });
        assert!(no_temps(dir.path()));
    }
}
