//! Reusable byte buffers for downloaded bodies and inflated archives.
//!
//! A cold install of the medium fixture reads ~120 MB of tarballs and inflates them into
//! ~210 MB of tar data. Allocated fresh for every package, buffers of that size come from
//! `mmap` and go back with `munmap`, so each one is faulted in page by page and the kernel
//! zeroes every page first: that was about a sixth of a cold install's CPU. A buffer taken
//! from here keeps its pages mapped from one package to the next.
//!
//! The pool never keeps a buffer above [`LARGEST_KEPT`], so a project with a few huge
//! tarballs does not keep their memory for the whole install, and its buffers, handed out
//! and idle together, stay within [`POOL_BYTES`]. Idle buffers used to be capped on their
//! own (96 MiB): at the peak of a cold install they held 30–77 MiB that nothing used, on top
//! of the live ones, and were the larger part of the difference between a peak of 100 and
//! one of 140 MiB.
//!
//! Nor does the pool keep or hand out buffers below [`SMALLEST_KEPT`] (malloc reuses those
//! well), and it hands an idle buffer only to a request of at least a quarter of its size.
//! Once the largest archives were unpacked first (see `unpack_queue.rs`), their buffers went
//! on to hold small bodies, so the next mid-sized archive found nothing idle that fitted and
//! took new memory: 60% more bytes faulted in per cold install. An idle buffer that no
//! request takes gives way, largest first, when new memory would take live and idle
//! buffers over [`POOL_BYTES`].

use parking_lot::Mutex;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Most bytes the pool's buffers may hold in all, handed out or idle. A buffer handed back
/// is freed rather than kept when keeping it would go over: the idle buffers fill what
/// the live ones leave, so they never add to the install's peak memory. With 48 MiB here,
/// idle buffers filled the room up to it for most of a cold install of the medium fixture,
/// and its peak RSS with a wiped store was 93.5 MiB (median of ten); with 32 MiB it was
/// 84 MiB, in the same time (ten alternating pairs, 1.006 and 0.963 paired): about 25% more
/// page faults, which the cores absorb.
const POOL_BYTES: usize = 32 << 20;
/// Buffers with a larger capacity are freed rather than kept. Few archives inflate to more
/// (four in the medium fixture: a compiler, a native binary, two bundlers), so keeping
/// theirs saved little faulting, and an idle 11 MiB buffer from the native binary was part
/// of the install's peak whenever the compiler's 23 MiB was inflated after it: with 16 MiB
/// here the highest peak of ten installs was 95 MiB, with 8 MiB 88 MiB.
const LARGEST_KEPT: usize = 8 << 20;
/// Smaller buffers come from malloc and go back to it: its arenas reuse them without new
/// pages, and most bodies are this small.
const SMALLEST_KEPT: usize = 64 << 10;
/// An idle buffer goes only to a request of at least its capacity over this.
const LARGEST_WASTE: usize = 4;

struct Pool {
    idle: Vec<Vec<u8>>,
    bytes: usize,
}

/// The capacity of the buffers handed out and not yet back.
static IN_USE: AtomicUsize = AtomicUsize::new(0);

static POOL: Mutex<Pool> = Mutex::new(Pool {
    idle: Vec::new(),
    bytes: 0,
});

/// A buffer that goes back to the pool when dropped. Its length is whatever the last user
/// left (see [`PooledBuf::resize_for_overwrite`]); [`PooledBuf::take`] callers that append
/// call `clear` first.
pub(crate) struct PooledBuf {
    buf: Vec<u8>,
    /// The capacity counted in [`IN_USE`] when it was taken: a caller may grow the buffer
    /// past it (a streamed entry larger than its announced size), and what is given back
    /// must be what was counted.
    counted: usize,
}

impl PooledBuf {
    /// An idle buffer with room for `capacity` bytes (the smallest that fits). When none
    /// fits, the largest idle buffer is grown: its pages stay mapped and only the growth is
    /// new (glibc grows a large block with `mremap`, without copying). A new buffer when no
    /// idle one is at most [`LARGEST_WASTE`] times the request (idle buffers then give way, see
    /// [`make_room`]), and always for a request below [`SMALLEST_KEPT`]. `None` when the
    /// memory cannot be reserved.
    pub(crate) fn take(capacity: usize) -> Option<Self> {
        let reused = (capacity >= SMALLEST_KEPT).then(|| {
            let mut pool = POOL.lock();
            // The smallest buffer that fits ranks first; failing that, the largest.
            let rank = |b: &Vec<u8>| match b.capacity() {
                cap if cap >= capacity => (false, cap),
                cap => (true, usize::MAX - cap),
            };
            let best = pool
                .idle
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() / LARGEST_WASTE <= capacity)
                .min_by_key(|(_, b)| rank(b))
                .map(|(i, _)| i);
            match best {
                Some(i) => {
                    let buf = pool.idle.swap_remove(i);
                    pool.bytes -= buf.capacity();
                    (Some(buf), Vec::new())
                }
                // New memory: idle buffers no request took give way, largest first, so
                // that live and idle together stay within the cap.
                None => (None, make_room(&mut pool, capacity)),
            }
        });
        let (reused, given_way) = reused.unwrap_or_default();
        // Freed outside the lock, and before the new memory is asked for.
        drop(given_way);
        let mut buf = reused.unwrap_or_default();
        let missing = capacity.saturating_sub(buf.len());
        buf.try_reserve_exact(missing).ok()?;
        let counted = buf.capacity();
        IN_USE.fetch_add(counted, Ordering::Relaxed);
        Some(PooledBuf { buf, counted })
    }

    /// The bytes, taken out of the pool for good (no copy).
    pub(crate) fn into_vec(mut self) -> Vec<u8> {
        IN_USE.fetch_sub(std::mem::take(&mut self.counted), Ordering::Relaxed);
        std::mem::take(&mut self.buf)
    }

    /// Makes the length exactly `len` for a caller that overwrites every byte: bytes a
    /// previous user left are kept as they are, and only growth is zero-filled.
    pub(crate) fn resize_for_overwrite(&mut self, len: usize) {
        if self.buf.len() >= len {
            self.buf.truncate(len);
        } else {
            self.buf.resize(len, 0);
        }
    }
}

impl Deref for PooledBuf {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl DerefMut for PooledBuf {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let counted = std::mem::take(&mut self.counted);
        let in_use = IN_USE
            .fetch_sub(counted, Ordering::Relaxed)
            .saturating_sub(counted);
        let size = buf.capacity();
        if !(SMALLEST_KEPT..=LARGEST_KEPT).contains(&size) {
            return;
        }
        let mut pool = POOL.lock();
        if in_use + pool.bytes + size <= POOL_BYTES {
            pool.bytes += size;
            pool.idle.push(buf);
        }
    }
}

/// Takes idle buffers out of the pool, largest first, until `capacity` bytes of new memory
/// fit beside the live and idle ones within [`POOL_BYTES`]; returns them for the caller to
/// free once the lock is released.
fn make_room(pool: &mut Pool, capacity: usize) -> Vec<Vec<u8>> {
    let mut given_way = Vec::new();
    let live = IN_USE.load(Ordering::Relaxed);
    while live + pool.bytes + capacity > POOL_BYTES {
        let Some(largest) = pool
            .idle
            .iter()
            .enumerate()
            .max_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i)
        else {
            break;
        };
        let buf = pool.idle.swap_remove(largest);
        pool.bytes -= buf.capacity();
        given_way.push(buf);
    }
    given_way
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool is one per process: tests that look at it take turns, each starting from an
    /// empty pool (nextest runs each test in a process of its own, `cargo test` runs them on
    /// threads of one).
    static TURN: Mutex<()> = Mutex::new(());

    fn turn() -> parking_lot::MutexGuard<'static, ()> {
        let turn = TURN.lock();
        let mut pool = POOL.lock();
        pool.idle.clear();
        pool.bytes = 0;
        turn
    }

    #[test]
    fn a_returned_buffer_is_reused_with_its_memory() {
        let _turn = turn();
        let mut first = PooledBuf::take(300_000).unwrap();
        first.resize_for_overwrite(300_000);
        first[299_999] = 7;
        let ptr = first.as_ptr();
        drop(first);
        // Look for our buffer among a few takes.
        let taken: Vec<PooledBuf> = (0..8).map(|_| PooledBuf::take(200_000).unwrap()).collect();
        let again = taken.iter().find(|b| b.as_ptr() == ptr).expect("reused");
        assert!(again.capacity() >= 300_000);
        // Left as it was: a caller that overwrites everything pays for no zeroing.
        assert_eq!(again.len(), 300_000);
    }

    #[test]
    fn a_larger_request_grows_the_largest_idle_buffer() {
        let _turn = turn();
        let mut first = PooledBuf::take(1 << 20).unwrap();
        first.resize_for_overwrite(1 << 20);
        first[0] = 0xab;
        drop(first);
        // No idle buffer holds 3 MiB, so ours (the only one) is grown, keeping its bytes,
        // instead of a new one being made.
        let grown = PooledBuf::take(3 << 20).unwrap();
        assert!(grown.capacity() >= 3 << 20);
        assert_eq!(grown.len(), 1 << 20);
        assert_eq!(grown[0], 0xab);
    }

    #[test]
    fn a_large_idle_buffer_is_not_spent_on_a_small_request() {
        let _turn = turn();
        let large = PooledBuf::take(8 << 20).unwrap();
        let large_ptr = large.as_ptr();
        drop(large);
        // A quarter of its size or less: new memory, and the large buffer stays idle for
        // the next large archive.
        let small = PooledBuf::take(1 << 20).unwrap();
        assert_ne!(small.as_ptr(), large_ptr);
        assert!(POOL.lock().idle.iter().any(|b| b.as_ptr() == large_ptr));
        let fitting = PooledBuf::take(3 << 20).unwrap();
        assert_eq!(fitting.as_ptr(), large_ptr);
    }

    #[test]
    fn idle_buffers_no_request_takes_give_way_to_new_memory() {
        let _turn = turn();
        // Three large buffers go idle (21 MiB); small requests cannot take them.
        let large: Vec<PooledBuf> = (0..3).map(|_| PooledBuf::take(7 << 20).unwrap()).collect();
        drop(large);
        assert_eq!(POOL.lock().bytes, 3 * (7 << 20));
        let live: Vec<PooledBuf> = (0..12).map(|_| PooledBuf::take(1 << 20).unwrap()).collect();
        // 12 MiB live: one idle buffer gave way to stay within the cap of 32 MiB.
        let idle = POOL.lock().bytes;
        assert!(IN_USE.load(Ordering::Relaxed) + idle <= POOL_BYTES);
        assert_eq!(idle, 2 * (7 << 20));
        drop(live);
    }

    #[test]
    fn a_buffer_grown_past_its_request_gives_back_what_was_counted() {
        let _turn = turn();
        let before = IN_USE.load(Ordering::Relaxed);
        let mut buf = PooledBuf::take(100 << 10).unwrap();
        buf.clear();
        buf.extend(std::iter::repeat_n(1u8, 300 << 10));
        drop(buf);
        assert_eq!(IN_USE.load(Ordering::Relaxed), before);
        let buf = PooledBuf::take(100 << 10).unwrap();
        let _whole = buf.into_vec();
        assert_eq!(IN_USE.load(Ordering::Relaxed), before);
    }

    #[test]
    fn buffers_malloc_reuses_well_are_not_kept() {
        let _turn = turn();
        let tiny = PooledBuf::take(SMALLEST_KEPT - 1).unwrap();
        let ptr = tiny.as_ptr();
        drop(tiny);
        assert!(POOL.lock().idle.iter().all(|b| b.as_ptr() != ptr));
    }

    #[test]
    fn resize_for_overwrite_zero_fills_only_growth() {
        let _turn = turn();
        let mut buf = PooledBuf::take(16).unwrap();
        buf.clear();
        buf.extend_from_slice(&[1, 2, 3]);
        buf.resize_for_overwrite(5);
        assert_eq!(&buf[..], &[1, 2, 3, 0, 0]);
        buf.resize_for_overwrite(2);
        assert_eq!(&buf[..], &[1, 2]);
    }

    #[test]
    fn idle_buffers_only_fill_the_room_live_ones_leave() {
        let _turn = turn();
        // 28 MiB handed out: a 6 MiB buffer handed back now would take the pool over its
        // 32 MiB, so it is freed.
        let held: Vec<PooledBuf> = (0..4).map(|_| PooledBuf::take(7 << 20).unwrap()).collect();
        let returned = PooledBuf::take(6 << 20).unwrap();
        let freed = returned.as_ptr();
        drop(returned);
        assert!(POOL.lock().idle.iter().all(|b| b.as_ptr() != freed));
        // Once they are back, the same buffers fit beside each other.
        let ptrs: Vec<*const u8> = held.iter().map(|b| b.as_ptr()).collect();
        drop(held);
        let pool = POOL.lock();
        assert_eq!(
            pool.idle
                .iter()
                .filter(|b| ptrs.contains(&b.as_ptr()))
                .count(),
            4
        );
        assert!(pool.bytes <= POOL_BYTES);
    }

    #[test]
    fn a_large_archives_buffer_is_not_kept_idle() {
        let _turn = turn();
        // A native binary's tar (11 MiB in the medium fixture): kept idle, it stayed resident
        // while the compiler's 23 MiB tar was inflated, at the install's peak.
        let tar = PooledBuf::take(11 << 20).unwrap();
        let ptr = tar.as_ptr();
        drop(tar);
        let pool = POOL.lock();
        assert!(pool.idle.iter().all(|b| b.as_ptr() != ptr));
        assert_eq!(pool.bytes, 0);
    }

    #[test]
    fn huge_buffers_are_not_kept() {
        let _turn = turn();
        let big = PooledBuf::take(LARGEST_KEPT + 1).unwrap();
        let ptr = big.as_ptr();
        drop(big);
        let pool = POOL.lock();
        assert!(pool.idle.iter().all(|b| b.as_ptr() != ptr));
        assert!(pool.bytes <= POOL_BYTES);
    }
}
