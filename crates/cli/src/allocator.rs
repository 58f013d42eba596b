//! Tuning glibc's allocator for a short-lived process that allocates on several threads.
//!
//! Each thread that allocates gets an arena of its own, and glibc grows a thread arena's
//! heap by `mprotect`-ing it a few pages at a time, and gives memory back at the top as
//! soon as it is freed. A warm install of the medium fixture made about 2,000 `mprotect`
//! calls that way, as the import threads' per-package allocations grew and shrank the
//! heaps. Growing by a larger step and keeping what was freed at the top removes nearly
//! all of them. Only address space is reserved up front: pages become resident (and count
//! towards RSS) when they are first written, as before.

/// Extra bytes asked of the kernel each time a heap grows (glibc's default is 128 KiB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_PAD: libc::c_int = 8 << 20;

/// Applies the tuning; call first thing in `main`, before other threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other
    // thread exists, and a refused setting (return 0) leaves glibc's defaults in place.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 2 * TOP_PAD);
    }
}
