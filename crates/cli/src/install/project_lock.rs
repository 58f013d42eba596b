//! One install at a time per project.
//!
//! Two installs of one project at once (a second terminal, an editor's install on open, a
//! CI step retried while the first still runs) would otherwise work in the same package
//! directories: one can find another's directory half filled and start over in it while the
//! first is still linking into it by path, and both write the state files. The store needs
//! no such lock (its writes are atomic per file); the project's tree does.
//!
//! The lock is an advisory `flock` on the lockfile directory itself: nothing is written to
//! the project, so a tree stays byte for byte pnpm's, and the kernel releases the lock when
//! the process ends, however it ends. Only tack takes it; pnpm does not.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::error::CliError;
use crate::reporter::Reporter;

/// Held for the rest of an install; dropping it releases the lock.
#[derive(Debug)]
pub struct ProjectLock {
    _dir: OwnedFd,
}

/// Takes the lock of the project at `lockfile_dir`, waiting (and saying so) while another
/// tack install of it holds it.
pub fn lock_project(lockfile_dir: &Path, reporter: &Reporter) -> Result<ProjectLock, CliError> {
    let failed = |e: std::io::Error| {
        CliError::new(
            "ERR_TACK_PROJECT_LOCK",
            format!(
                "cannot lock {} for this install: {e}",
                lockfile_dir.display()
            ),
        )
    };
    let dir: OwnedFd = std::fs::File::open(lockfile_dir).map_err(failed)?.into();
    if !flock(&dir, libc::LOCK_EX | libc::LOCK_NB).map_err(failed)? {
        reporter.warn(format!(
            "Waiting for another tack install in {} to finish",
            lockfile_dir.display()
        ));
        flock(&dir, libc::LOCK_EX).map_err(failed)?;
    }
    Ok(ProjectLock { _dir: dir })
}

/// `flock(fd, op)`; `false` when a non-blocking request finds the lock held.
fn flock(fd: &OwnedFd, op: libc::c_int) -> std::io::Result<bool> {
    loop {
        // SAFETY: the fd is open for the duration of the call.
        if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(err),
        }
    }
}
