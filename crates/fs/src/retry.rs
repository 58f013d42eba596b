//! Retry on file-descriptor pressure.
//!
//! A cold install opens tens of thousands of files from many threads at once. When the
//! process (`EMFILE`) or the system (`ENFILE`) runs out of descriptors, the right answer is
//! to wait for other threads to close theirs, not to fail the install. The backoff starts
//! at 2 ms, doubles up to 200 ms, and gives up after a bounded number of rounds so a real
//! leak still surfaces as an error.

use std::io;
use std::time::Duration;

const ROUNDS: u32 = 32;
const FIRST: Duration = Duration::from_millis(2);
const CAP: Duration = Duration::from_millis(200);

/// True for "too many open files" (per process or system-wide).
pub(crate) fn is_fd_pressure(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Runs `op`, retrying with backoff while it fails with `EMFILE`/`ENFILE`.
pub(crate) fn retry_fd_pressure<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut delay = FIRST;
    let mut round = 0;
    loop {
        match op() {
            Err(e) if is_fd_pressure(&e) && round < ROUNDS => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(CAP);
                round += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_emfile_then_succeeds() {
        let mut calls = 0;
        let r = retry_fd_pressure(|| {
            calls += 1;
            if calls < 3 {
                Err(io::Error::from_raw_os_error(libc::EMFILE))
            } else {
                Ok(7)
            }
        });
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls, 3);
    }

    #[test]
    fn other_errors_are_not_retried() {
        let mut calls = 0;
        let r: io::Result<()> = retry_fd_pressure(|| {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc::EACCES))
        });
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
