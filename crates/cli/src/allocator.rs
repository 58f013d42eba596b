//! Tuning glibc's allocator for a short-lived process that allocates on several threads.
//!
//! Each thread that allocates gets an arena of its own, and glibc grows a thread arena's
//! heap by `mprotect`-ing it a few pages at a time, and gives memory back at the top as
//! soon as it is freed. A warm install of the medium fixture made about 2,000 `mprotect`
//! calls that way, as the import threads' per-package allocations grew and shrank the
//! heaps. Growing by a larger step and keeping what was freed at the top removes nearly
//! all of them. Only address space is reserved up front: pages become resident (and count
//! towards RSS) when they are first written, as before.
//!
//! Setting `M_TOP_PAD` also fixes glibc's mmap threshold at 128 KiB (any of the pad, trim and
//! mmap settings turns off its dynamic threshold), so every allocation of 128 KiB or more is
//! its own `mmap`, faulted in and returned on `free`. That is deliberate: letting the arenas
//! keep such blocks (an mmap threshold of 1, 4 or 32 MiB) cut a cold install's minor faults
//! from about 39k to 34k, 31k and 27k, but raised its peak RSS by 5, 13 and 27 MiB, and the
//! wall time did not move beyond the noise (session 31, `plans/performance-next.md`).

/// Extra bytes asked of the kernel each time a heap grows (glibc's default is 128 KiB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_PAD: libc::c_int = 8 << 20;

/// Arenas per core (glibc's default is eight on 64-bit systems).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS_PER_CORE: usize = 2;

/// Applies the tuning; call first thing in `main`, before other threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let arenas = usable_cores()
        .saturating_mul(ARENAS_PER_CORE)
        .max(ARENAS_PER_CORE);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other
    // thread exists, and a refused setting (return 0) leaves glibc's defaults in place.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 2 * TOP_PAD);
        libc::mallopt(
            libc::M_ARENA_MAX,
            libc::c_int::try_from(arenas).unwrap_or(libc::c_int::MAX),
        );
    }
}

/// The cores this process may run on, from its affinity mask: one syscall, where
/// `std::thread::available_parallelism` also reads the cgroup's CPU quota (five more files,
/// on the no-op path). A quota only makes the arena count generous.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn usable_cores() -> usize {
    // SAFETY: `cpu_set_t` is plain data, valid when zeroed; `sched_getaffinity` writes at
    // most `size_of::<cpu_set_t>()` bytes into it, and `CPU_COUNT` only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            usize::try_from(libc::CPU_COUNT(&set)).unwrap_or(1).max(1)
        } else {
            1
        }
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// How many arenas glibc has made so far, from `malloc_info`'s report.
    fn arenas() -> usize {
        let mut buf: *mut libc::c_char = std::ptr::null_mut();
        let mut len: libc::size_t = 0;
        // SAFETY: `open_memstream` gets valid pointers to write the buffer and its length
        // to; the stream is closed before they are read, and the buffer is freed with
        // `free`, as its documentation requires.
        unsafe {
            let stream = libc::open_memstream(&mut buf, &mut len);
            assert!(!stream.is_null());
            assert_eq!(libc::malloc_info(0, stream), 0);
            libc::fclose(stream);
            let report = std::slice::from_raw_parts(buf.cast::<u8>(), len).to_vec();
            libc::free(buf.cast());
            String::from_utf8_lossy(&report)
                .matches("<heap nr=")
                .count()
        }
    }

    #[test]
    fn many_threads_share_a_few_arenas() {
        tune();
        // Sixteen threads allocating at once would get an arena each (glibc allows eight
        // per core); after `tune` they share two per core.
        let threads = 16;
        let all_alive = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let all_alive = Arc::clone(&all_alive);
                std::thread::spawn(move || {
                    all_alive.wait();
                    let held = std::hint::black_box(vec![1u8; 4096]);
                    all_alive.wait();
                    drop(held);
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("thread");
        }
        let allowed = usable_cores() * ARENAS_PER_CORE;
        assert!(
            arenas() <= allowed,
            "{} arenas, at most {allowed} expected",
            arenas()
        );
    }
}
