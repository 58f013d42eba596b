//! `DirFd`: an open directory, for `*at()` calls relative to it.
//!
//! A warm install links ~20k CAS files and stats as many. Given absolute paths, the kernel
//! walks every component of both paths for every call (`<store>/v11/files/ab/<hex>` and
//! `<project>/node_modules/.pnpm/<dir>/node_modules/<name>/<rel>`), and that walk showed up
//! as a tenth of a warm install's CPU. Relative to an open `files/` directory and an open
//! package directory, each call walks only the last one or two components.
//!
//! These calls are a fast path only: callers fall back to the path-based primitives on any
//! error, so the error handling (and messages) of those primitives still apply.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An open directory (`O_PATH | O_DIRECTORY` on Linux: no read permission needed).
#[derive(Debug)]
pub struct DirFd(OwnedFd);

/// What [`DirFd::stat`] reports of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// A regular file (after following a symlink).
    pub is_file: bool,
    pub len: u64,
    /// Modification time in milliseconds since the epoch.
    pub mtime_ms: i64,
    /// Any of the mode's exec bits is set.
    pub exec_bits: bool,
}

#[cfg(target_os = "linux")]
const OPEN_FLAGS: libc::c_int = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
#[cfg(not(target_os = "linux"))]
const OPEN_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;

impl DirFd {
    /// Opens the directory at `path`.
    pub fn open(path: &Path) -> io::Result<DirFd> {
        let c_path = cstring(path.as_os_str().as_bytes())?;
        // SAFETY: c_path is a valid NUL-terminated string; the fd is owned below.
        let fd = unsafe { libc::open(c_path.as_ptr(), OPEN_FLAGS) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a freshly opened descriptor that nothing else owns.
        Ok(DirFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The descriptor, for calls made relative to this directory within the crate.
    pub(crate) fn raw_fd(&self) -> std::os::unix::io::RawFd {
        self.0.as_raw_fd()
    }

    /// Hard-links `src` (relative to `self`) to `dst` (relative to `dst_dir`); never
    /// replaces an existing `dst` (`EEXIST`).
    pub fn hard_link(&self, src: &Path, dst_dir: &DirFd, dst: &Path) -> io::Result<()> {
        let rc = with_relative(src, |c_src| {
            with_relative(dst, |c_dst| {
                // SAFETY: both strings are valid and NUL-terminated; both fds are open for
                // the call.
                Ok(unsafe {
                    libc::linkat(
                        self.0.as_raw_fd(),
                        c_src.as_ptr(),
                        dst_dir.0.as_raw_fd(),
                        c_dst.as_ptr(),
                        0,
                    )
                })
            })
        })?;
        zero_or_errno(rc)
    }

    /// Hard-links `src` (relative to `self`) to the path `dst` (absolute, or relative to the
    /// working directory); never replaces an existing `dst` (`EEXIST`).
    pub fn hard_link_out(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let c_dst = cstring(dst.as_os_str().as_bytes())?;
        let rc = with_relative(src, |c_src| {
            // SAFETY: both strings are valid and NUL-terminated; the fd is open for the call.
            Ok(unsafe {
                libc::linkat(
                    self.0.as_raw_fd(),
                    c_src.as_ptr(),
                    libc::AT_FDCWD,
                    c_dst.as_ptr(),
                    0,
                )
            })
        })?;
        zero_or_errno(rc)
    }

    /// Hard-links the path `src` (absolute, or relative to the working directory) to `dst`
    /// (relative to `self`); never replaces an existing `dst` (`EEXIST`).
    pub fn hard_link_in(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let c_src = cstring(src.as_os_str().as_bytes())?;
        let rc = with_relative(dst, |c_dst| {
            // SAFETY: both strings are valid and NUL-terminated; the fd is open for the call.
            Ok(unsafe {
                libc::linkat(
                    libc::AT_FDCWD,
                    c_src.as_ptr(),
                    self.0.as_raw_fd(),
                    c_dst.as_ptr(),
                    0,
                )
            })
        })?;
        zero_or_errno(rc)
    }

    /// Creates the regular file `rel` (relative to `self`) with `mode` before the umask,
    /// open for writing; fails with `EEXIST` rather than open an existing entry.
    pub fn create_new(&self, rel: &Path, mode: u32) -> io::Result<std::fs::File> {
        let fd = with_relative(rel, |c_rel| {
            // SAFETY: c_rel is valid and NUL-terminated; the fd is open for the call.
            Ok(unsafe {
                libc::openat(
                    self.0.as_raw_fd(),
                    c_rel.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                    mode as libc::c_uint,
                )
            })
        })?;
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a freshly opened descriptor that nothing else owns.
        Ok(unsafe { std::fs::File::from_raw_fd(fd) })
    }

    /// Removes the file (not directory) `rel` relative to `self`.
    pub fn unlink(&self, rel: &Path) -> io::Result<()> {
        let rc = with_relative(rel, |c_rel| {
            // SAFETY: c_rel is valid and NUL-terminated; the fd is open for the call.
            Ok(unsafe { libc::unlinkat(self.0.as_raw_fd(), c_rel.as_ptr(), 0) })
        })?;
        zero_or_errno(rc)
    }

    /// Creates the directory `rel` (relative to `self`), mode `0o777` before the umask as
    /// `std::fs::create_dir` does.
    pub fn mkdir(&self, rel: &Path) -> io::Result<()> {
        let rc = with_relative(rel, |c_rel| {
            // SAFETY: c_rel is valid and NUL-terminated; the fd is open for the call.
            Ok(unsafe { libc::mkdirat(self.0.as_raw_fd(), c_rel.as_ptr(), 0o777) })
        })?;
        zero_or_errno(rc)
    }

    /// Opens the directory `rel` (relative to `self`).
    pub fn open_dir(&self, rel: &Path) -> io::Result<DirFd> {
        let fd = with_relative(rel, |c_rel| {
            // SAFETY: c_rel is valid and NUL-terminated; the fd is open for the call.
            Ok(unsafe { libc::openat(self.0.as_raw_fd(), c_rel.as_ptr(), OPEN_FLAGS) })
        })?;
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a freshly opened descriptor that nothing else owns.
        Ok(DirFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Creates the symlink `rel` (relative to `self`) with the text `target`; never
    /// replaces an existing entry (`EEXIST`).
    pub fn symlink(&self, target: &Path, rel: &Path) -> io::Result<()> {
        let c_target = cstring(target.as_os_str().as_bytes())?;
        let rc = with_relative(rel, |c_rel| {
            // SAFETY: both strings are valid and NUL-terminated; the fd is open for the call.
            Ok(unsafe { libc::symlinkat(c_target.as_ptr(), self.0.as_raw_fd(), c_rel.as_ptr()) })
        })?;
        zero_or_errno(rc)
    }

    /// Stats `rel` (relative to `self`), following a final symlink as `std::fs::metadata`
    /// does.
    pub fn stat(&self, rel: &Path) -> io::Result<FileStat> {
        // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let rc = with_relative(rel, |c_rel| {
            // SAFETY: c_rel is valid and NUL-terminated, `st` is a valid out pointer, and
            // the fd is open for the call.
            Ok(unsafe { libc::fstatat(self.0.as_raw_fd(), c_rel.as_ptr(), &mut st, 0) })
        })?;
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(FileStat {
            is_file: st.st_mode & libc::S_IFMT == libc::S_IFREG,
            len: st.st_size as u64,
            mtime_ms: st.st_mtime * 1000 + st.st_mtime_nsec / 1_000_000,
            exec_bits: st.st_mode & 0o111 != 0,
        })
    }
}

/// Calls `f` with a relative path as a C string; absolute paths are refused (they would
/// ignore the fd). Paths that fit are terminated in a stack buffer: these calls run once
/// per installed file, and a heap `CString` each showed up in warm-install profiles.
fn with_relative<T>(path: &Path, f: impl FnOnce(&CStr) -> io::Result<T>) -> io::Result<T> {
    const STACK: usize = 384;
    let bytes = path.as_os_str().as_bytes();
    if path.is_absolute() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    if bytes.len() >= STACK {
        return f(&cstring(bytes)?);
    }
    let mut buf = [0u8; STACK];
    buf[..bytes.len()].copy_from_slice(bytes);
    let c = CStr::from_bytes_with_nul(&buf[..=bytes.len()])
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    f(c)
}

/// A libc call's `0`-or-`-1` result as an `io::Result` (the error read from `errno`).
fn zero_or_errno(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_stats_relative_to_open_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("files");
        std::fs::create_dir_all(store.join("ab")).unwrap();
        std::fs::write(store.join("ab/cdef"), b"hello").unwrap();
        let pkg = tmp.path().join("pkg");
        std::fs::create_dir_all(pkg.join("lib")).unwrap();

        let files = DirFd::open(&store).unwrap();
        let pkg_fd = DirFd::open(&pkg).unwrap();
        let st = files.stat(Path::new("ab/cdef")).unwrap();
        assert!(st.is_file);
        assert_eq!(st.len, 5);
        assert!(st.mtime_ms > 0);

        files
            .hard_link(Path::new("ab/cdef"), &pkg_fd, Path::new("lib/x.js"))
            .unwrap();
        assert_eq!(std::fs::read(pkg.join("lib/x.js")).unwrap(), b"hello");
        let again = files.hard_link(Path::new("ab/cdef"), &pkg_fd, Path::new("lib/x.js"));
        assert_eq!(again.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        let missing = files.stat(Path::new("ab/nope")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(!files.stat(Path::new("ab")).unwrap().is_file);
        assert_eq!(
            files.stat(&store.join("ab/cdef")).unwrap_err().kind(),
            io::ErrorKind::InvalidInput,
            "an absolute path must not silently ignore the directory"
        );
    }

    #[test]
    fn makes_dirs_and_symlinks_relative_to_open_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = DirFd::open(tmp.path()).unwrap();
        root.mkdir(Path::new("a")).unwrap();
        root.mkdir(Path::new("a/b")).unwrap();
        assert!(tmp.path().join("a/b").is_dir());
        let again = root.mkdir(Path::new("a/b")).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        let missing = root.mkdir(Path::new("x/y")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);

        let b = root.open_dir(Path::new("a/b")).unwrap();
        b.mkdir(Path::new("c")).unwrap();
        assert!(tmp.path().join("a/b/c").is_dir());
        b.symlink(Path::new("../../a"), Path::new("link")).unwrap();
        assert_eq!(
            std::fs::read_link(tmp.path().join("a/b/link")).unwrap(),
            Path::new("../../a")
        );
        assert!(tmp.path().join("a/b/link/b/c").is_dir());
        let taken = b
            .symlink(Path::new("elsewhere"), Path::new("link"))
            .unwrap_err();
        assert_eq!(taken.kind(), io::ErrorKind::AlreadyExists);
        assert!(root.open_dir(Path::new("nope")).is_err());
        assert_eq!(
            b.mkdir(&tmp.path().join("z")).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
