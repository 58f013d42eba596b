//! The store integrity verifier: decides whether the CAS files an index row names can be
//! reused, and removes the ones that are damaged.
//!
//! Fast path (no lock): one `stat`; a file whose mtime is within 100 ms of the row's
//! `checkedAt` is trusted, exactly as pnpm does. Slow path: anything that may delete takes
//! [`tack_fs::cas_write_lock`] first and re-stats under it, because a writer in this process
//! may be halfway through writing that very path — deleting it then would surface as ENOENT
//! when the writer's package is linked. Only under the lock is a file re-hashed or removed.
//!
//! The same `stat` tells whether a file's exec bits still match its name: linking a bin chmods
//! its target through the hard link, so a plain CAS file can become executable. pnpm 12 then
//! imports that file as a copy with the mode its name gives (and the bin step chmods the copy);
//! the cache remembers such files ([`VerifiedFilesCache::mode_changed`]) for the importer.

use crate::index_row::{CafsFileInfo, CafsFileRef, PackageFilesIndex};
use crate::layout::StoreDir;
use sha2::{Digest, Sha512};
use std::collections::HashSet;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

/// Slack between a file's mtime and the row's `checkedAt`, as in pnpm.
const MTIME_SLACK_MS: f64 = 100.0;

/// CAS files already verified during this install; shared by every package so a file
/// used by many packages is checked once.
#[derive(Debug)]
pub struct VerifiedFilesCache {
    set: VerifiedSet,
    /// Verified files whose exec bits differ from their name's (see the module doc); rare, so
    /// a locked set behind a flag that keeps the lookup of every other file lock-free.
    mode_changed: parking_lot::Mutex<HashSet<CasKey>>,
    any_mode_changed: AtomicBool,
    /// The store's `files/` directory, opened once for relative stats (`None` inside when it
    /// could not be opened: then paths are stat'ed whole).
    files_dir: OnceLock<Option<(PathBuf, tack_fs::DirFd)>>,
}

impl Default for VerifiedFilesCache {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

/// One CAS file, by the first 128 bits of its sha512 and whether it is the `-exec`
/// variant (folded into the last bit of the second word). 128 bits of a sha512 tell the
/// files of a store apart: two different files share them with odds of about 2^-88 in a
/// store of millions of files, and even a chosen collision would only spare one file its
/// `stat` in one install, never put it at another file's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CasKey {
    /// Digest bits 0..64; never 0, which marks an empty slot of [`VerifiedSet`].
    high: u64,
    /// Digest bits 64..128, the last one flipped for the `-exec` variant; never 0 (see
    /// [`VerifiedSet`]).
    low: u64,
}

impl CasKey {
    /// `None` for a digest that is not 128 lowercase hex digits (what
    /// [`crate::layout::is_valid_digest`] accepts), checked in the same pass as the prefix is
    /// read.
    fn new(hex_digest: &str, executable: bool) -> Option<CasKey> {
        let bytes = hex_digest.as_bytes();
        if bytes.len() != 128 {
            return None;
        }
        let mut valid = true;
        for &c in bytes {
            valid &= c.is_ascii_digit() | (b'a'..=b'f').contains(&c);
        }
        if !valid {
            return None;
        }
        let nibble = |c: u8| if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
        let word = |digits: &[u8]| {
            digits
                .iter()
                .fold(0u64, |w, &c| (w << 4) | u64::from(nibble(c)))
        };
        // A zero word would read as an empty slot: such a digest shares its key with the
        // one whose word is 1, which only costs the pair a `stat`'s worth of caching.
        let high = word(&bytes[..16]).max(1);
        let low = (word(&bytes[16..32]) ^ u64::from(executable)).max(1);
        Some(CasKey { high, low })
    }
}

/// A set of [`CasKey`]s that the import threads probe and fill without a lock: open
/// addressing over a fixed table of atomic word pairs. The `DashSet` it replaced took a
/// shard lock and two cache misses per call, and its inserts and probes (one of each per
/// file) were 8% of a warm install's user time.
///
/// It is a cache, so it may forget but never invent: an insert that finds no free slot
/// within [`MAX_PROBES`] is dropped (that file is just `stat`ed again), and a key whose
/// second word is not yet published reads as absent.
struct VerifiedSet {
    slots: Box<[Slot]>,
    mask: usize,
    len: AtomicUsize,
    /// Keys kept at most (three quarters of the slots): a full table would make every
    /// lookup of an absent key probe [`MAX_PROBES`] slots, which is what happened when a
    /// project's packages averaged far more files than the table was sized for.
    limit: usize,
}

#[repr(C)]
struct Slot {
    high: AtomicU64,
    low: AtomicU64,
}

/// Probes per lookup before giving up; with the table at most half full, runs are short.
const MAX_PROBES: usize = 64;

impl VerifiedSet {
    /// Room for about `keys` keys at half load (at least 1024 slots).
    fn with_capacity(keys: usize) -> Self {
        let n = keys.saturating_mul(2).max(1024).next_power_of_two();
        // Zeroed by the allocator (fresh pages from the kernel for a large table), not
        // written slot by slot: the table (1 MiB for the medium fixture) is made before the
        // first import, and filling it there cost a few tenths of a millisecond while both
        // cores waited. Its pages are touched as the import threads first probe them.
        let slots = Box::<[Slot]>::new_zeroed_slice(n);
        // SAFETY: a `Slot` is two `AtomicU64`s, for which all-zero bytes are a valid value
        // (0, an empty slot), and the allocation is zeroed.
        let slots = unsafe { slots.assume_init() };
        VerifiedSet {
            slots,
            mask: n - 1,
            len: AtomicUsize::new(0),
            limit: n / 4 * 3,
        }
    }

    /// The slots to probe for `key`, in order (the digest's bits are already uniform).
    fn probe(&self, key: CasKey) -> impl Iterator<Item = &Slot> {
        let start = key.high as usize;
        (0..MAX_PROBES.min(self.slots.len())).map(move |i| &self.slots[(start + i) & self.mask])
    }

    /// Asks the CPU to start loading `key`'s first slot. A probe is about one cache miss
    /// (the table is a megabyte, probed at random): issued before the `stat` of the file
    /// before it, the miss is served while that syscall runs, not after.
    fn prefetch(&self, key: CasKey) {
        let slot: *const Slot = &self.slots[key.high as usize & self.mask];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is only a hint: it reads nothing into the program, never
        // faults, and its `sse` is part of every x86_64 CPU.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(slot.cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    fn contains(&self, key: CasKey) -> bool {
        for slot in self.probe(key) {
            match slot.high.load(Ordering::Acquire) {
                0 => return false,
                high if high == key.high && slot.low.load(Ordering::Acquire) == key.low => {
                    return true
                }
                _ => {}
            }
        }
        false
    }

    fn insert(&self, key: CasKey) {
        // Past the limit the cache only forgets: the file is `stat`ed again next time.
        if self.len.load(Ordering::Relaxed) >= self.limit {
            return;
        }
        for slot in self.probe(key) {
            let high =
                match slot
                    .high
                    .compare_exchange(0, key.high, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        slot.low.store(key.low, Ordering::Release);
                        self.len.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(high) => high,
                };
            if high == key.high {
                match slot.low.load(Ordering::Acquire) {
                    // Present, or being inserted by another thread (most likely the same
                    // key): either way nothing is lost by stopping.
                    low if low == key.low || low == 0 => return,
                    _ => {}
                }
            }
        }
    }
}

impl std::fmt::Debug for VerifiedSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedSet")
            .field("slots", &self.slots.len())
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish()
    }
}

impl VerifiedFilesCache {
    /// A cache sized for about `files` entries up front (it never grows: see
    /// [`VerifiedSet`]).
    pub fn with_capacity(files: usize) -> Self {
        VerifiedFilesCache {
            set: VerifiedSet::with_capacity(files),
            mode_changed: parking_lot::Mutex::new(HashSet::new()),
            any_mode_changed: AtomicBool::new(false),
            files_dir: OnceLock::new(),
        }
    }

    /// Whether the file with this hex digest was found, when it was verified in this install,
    /// with exec bits its name does not give it: it must be copied, not linked.
    pub fn mode_changed(&self, hex_digest: &str, executable: bool) -> bool {
        self.any_mode_changed.load(Ordering::Acquire)
            && CasKey::new(hex_digest, executable)
                .is_some_and(|key| self.mode_changed.lock().contains(&key))
    }

    fn note_mode_changed(&self, key: CasKey) {
        self.mode_changed.lock().insert(key);
        self.any_mode_changed.store(true, Ordering::Release);
    }

    /// The open `files/` directory of `store`, if it is the store this cache first saw.
    fn files_dir(&self, store: &StoreDir) -> Option<&tack_fs::DirFd> {
        let (path, dir) = self
            .files_dir
            .get_or_init(|| {
                let path = store.files_dir();
                tack_fs::DirFd::open(&path).ok().map(|dir| (path, dir))
            })
            .as_ref()?;
        (path.as_path() == store.files_dir()).then_some(dir)
    }

    /// Whether the file with this hex digest was verified in this install.
    pub fn contains(&self, hex_digest: &str, executable: bool) -> bool {
        CasKey::new(hex_digest, executable).is_some_and(|key| self.set.contains(key))
    }
    /// Records the file with this hex digest as verified.
    pub fn insert(&self, hex_digest: &str, executable: bool) {
        if let Some(key) = CasKey::new(hex_digest, executable) {
            self.set.insert(key);
        }
    }
    pub fn len(&self) -> usize {
        self.set.len.load(Ordering::Relaxed)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Outcome of verifying one row.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyResult {
    /// Every file is present and intact.
    pub passed: bool,
    /// Every file of the row with its CAS path (also when `passed` is false).
    pub files: Vec<StoreFileRef>,
}

/// Where one file of a package lives in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFileRef {
    /// Path inside the package, e.g. `lib/index.js`.
    pub rel_path: String,
    pub cas_path: PathBuf,
    pub executable: bool,
}

/// Verify every file of `row`. Damaged files are removed from the store (see
/// [`verify_file`]); the row passes only when all files are good.
pub fn check_pkg_files_integrity(
    store: &StoreDir,
    row: &PackageFilesIndex,
    cache: &VerifiedFilesCache,
) -> VerifyResult {
    let passed = verify_row_files(store, row, cache);
    let files = row
        .files
        .iter()
        .map(|(rel_path, info)| StoreFileRef {
            rel_path: rel_path.clone(),
            cas_path: store.cas_path(&info.digest, info.is_executable()),
            executable: info.is_executable(),
        })
        .collect();
    VerifyResult { passed, files }
}

/// Whether every file of `row` is present and intact, checking each distinct CAS file
/// once per `cache`. Every file is looked at even after one failed, so that each damaged
/// one is removed (see [`verify_file`]).
pub fn verify_row_files(
    store: &StoreDir,
    row: &PackageFilesIndex,
    cache: &VerifiedFilesCache,
) -> bool {
    let files = row.files.values().map(CafsFileRef::from);
    verify_files(store, &row.algo, files, cache)
}

/// [`verify_row_files`] for a row's files however they were read (`algo` is the row's).
pub fn verify_files<'a>(
    store: &StoreDir,
    algo: &str,
    files: impl IntoIterator<Item = CafsFileRef<'a>>,
    cache: &VerifiedFilesCache,
) -> bool {
    let mut passed = algo == "sha512";
    let files_dir = cache.files_dir(store);
    // Each file's key is made one file ahead, so that its slot is fetched while the file
    // before it is `stat`ed.
    let mut files = files.into_iter().map(|info| {
        let executable = info.is_executable();
        // Validates the digest too: a malformed one never becomes a path.
        (info, executable, CasKey::new(info.digest, executable))
    });
    let mut next = files.next();
    while let Some((info, executable, key)) = next {
        next = files.next();
        if let Some((_, _, Some(ahead))) = next {
            cache.set.prefetch(ahead);
        }
        let Some(key) = key else {
            passed = false;
            continue;
        };
        if cache.set.contains(key) {
            continue;
        }
        let intact = match (files_dir, tack_fs::CasName::new(info.digest, executable)) {
            (Some(dir), Some(name)) => verify_file_at(dir, name.as_path(), store, info),
            _ => verify_file_ref(&store.cas_path(info.digest, executable), info),
        };
        match intact {
            Some(exec_bits) => {
                if exec_bits != executable {
                    cache.note_mode_changed(key);
                }
                cache.set.insert(key);
            }
            None => passed = false,
        }
    }
    passed
}

/// Whether the CAS file at `path` holds the content `info` describes. A damaged file
/// (wrong size, wrong hash, a directory in its place) is removed; a missing one is a miss.
pub fn verify_file(path: &Path, info: &CafsFileInfo) -> bool {
    verify_file_ref(path, CafsFileRef::from(info)).is_some()
}

/// `Some(exec_bits)` when the file is intact (with whether any exec bit of its mode is set),
/// `None` when it is missing or damaged.
fn verify_file_ref(path: &Path, info: CafsFileRef<'_>) -> Option<bool> {
    // Fast path: no lock, one stat. The size comes with the stat for free, so a file cut
    // short within pnpm's 100 ms mtime slack is still caught (pnpm checks only the mtime).
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == info.size && !is_modified(&meta, info) => {
            Some(exec_bits(&meta))
        }
        Err(_) => None,
        Ok(_) => verify_file_slow(path, info),
    }
}

fn exec_bits(meta: &Metadata) -> bool {
    meta.permissions().mode() & 0o111 != 0
}

/// [`verify_file`] with the fast-path stat made relative to the open `files/` directory
/// (`rel` is `XX/<rest>[-exec]`), which spares the kernel the walk of the whole store path.
/// The whole path is built only for the slow path.
fn verify_file_at(
    files: &tack_fs::DirFd,
    rel: &Path,
    store: &StoreDir,
    info: CafsFileRef<'_>,
) -> Option<bool> {
    match files.stat(rel) {
        Ok(st) if st.is_file && st.len == info.size && !modified_at(st.mtime_ms as f64, info) => {
            Some(st.exec_bits)
        }
        Err(_) => None,
        Ok(_) => verify_file_slow(&store.cas_path(info.digest, info.is_executable()), info),
    }
}

/// The locked re-check behind a failed fast path: re-stat, and re-hash or remove.
fn verify_file_slow(path: &Path, info: CafsFileRef<'_>) -> Option<bool> {
    // A concurrent writer in this process holds this lock while it writes.
    let _guard = tack_fs::cas_write_lock(path).lock();
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        remove_stale_entry(path, &meta);
        return None;
    }
    // Writers publish complete files only (and this process's writers hold the lock), so a
    // size that differs from the row's is damage, never a write in flight.
    if meta.len() != info.size {
        remove_stale_entry(path, &meta);
        return None;
    }
    if !is_modified(&meta, info) {
        return Some(exec_bits(&meta));
    }
    // Hashed through one open file, and judged by what that file is: another process may
    // rename a healed copy over the path meanwhile, and that one must not be removed.
    let Ok(mut file) = std::fs::File::open(path) else {
        // Unreadable (e.g. permissions): not reusable, but not proven bad either.
        return None;
    };
    let Ok(opened) = file.metadata() else {
        return None;
    };
    match sha512_hex_of_reader(&mut file) {
        Ok(hex) if hex == info.digest => Some(exec_bits(&opened)),
        Ok(_) => {
            remove_stale_entry(path, &opened);
            None
        }
        Err(_) => None,
    }
}

/// pnpm's rule: modified when `mtimeMs - checkedAt > 100`; no `checkedAt` means 0.
fn is_modified(meta: &Metadata, info: CafsFileRef<'_>) -> bool {
    let mtime_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    modified_at(mtime_ms, info)
}

fn modified_at(mtime_ms: f64, info: CafsFileRef<'_>) -> bool {
    mtime_ms - info.checked_at.unwrap_or(0.0) > MTIME_SLACK_MS
}

/// Streamed sha512 of a file, as lowercase hex.
pub(crate) fn sha512_hex_of_file(path: &Path) -> std::io::Result<String> {
    sha512_hex_of_reader(&mut std::fs::File::open(path)?)
}

/// Streamed sha512 of what `file` reads, as lowercase hex.
fn sha512_hex_of_reader(file: &mut impl Read) -> std::io::Result<String> {
    let mut hasher = Sha512::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Remove whatever sits at a CAS path that failed verification, if it is still the entry
/// that was judged (`meta`): another process may have healed the path since, by renaming a
/// good copy over it. Errors are ignored: the next writer heals the path anyway
/// (`ensure_file` replaces bad entries).
fn remove_stale_entry(path: &Path, meta: &Metadata) {
    use std::os::unix::fs::MetadataExt;
    let still_there = std::fs::symlink_metadata(path)
        .is_ok_and(|now| now.dev() == meta.dev() && now.ino() == meta.ino());
    if !still_there {
        return;
    }
    let _ = if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::is_valid_digest;

    /// A bad file judged by one process and healed by another (a good copy renamed over its
    /// path) before the first removes it: the healed file stays.
    #[test]
    fn a_file_healed_meanwhile_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cas-file");
        std::fs::write(&path, "torn").unwrap();
        let judged = std::fs::symlink_metadata(&path).unwrap();
        let healed = dir.path().join("healed");
        std::fs::write(&healed, "good").unwrap();
        std::fs::rename(&healed, &path).unwrap();
        remove_stale_entry(&path, &judged);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "good");
        // The entry that was judged goes.
        let judged = std::fs::symlink_metadata(&path).unwrap();
        remove_stale_entry(&path, &judged);
        assert!(!path.exists());
    }

    #[test]
    fn the_verified_set_stops_filling_at_three_quarters() {
        let set = VerifiedSet::with_capacity(0);
        assert_eq!(set.slots.len(), 1024);
        let key = |i: u64| CasKey {
            high: i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            low: i + 1,
        };
        for i in 0..2000 {
            set.insert(key(i));
        }
        assert_eq!(set.len.load(Ordering::Relaxed), 768);
        // What it kept it still finds, and an absent key meets an empty slot.
        assert!(set.contains(key(0)));
        assert!(!set.contains(key(5000)));
    }

    #[test]
    fn cas_keys_take_only_what_is_valid_digest_takes() {
        let good = "0123456789abcdef".repeat(8);
        assert!(CasKey::new(&good, false).is_some());
        assert_ne!(CasKey::new(&good, false), CasKey::new(&good, true));
        for bad in [
            good.to_uppercase(),
            good[..127].to_string(),
            format!("{good}0"),
            format!("../{}", &good[3..]),
            format!("{}g", &good[..127]),
        ] {
            assert_eq!(CasKey::new(&bad, false).is_some(), is_valid_digest(&bad));
            assert!(CasKey::new(&bad, false).is_none(), "{bad}");
        }
    }

    /// A key for `i` whose bits are spread like a digest's (splitmix64).
    fn key(i: u64) -> CasKey {
        let mix = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            z ^ (z >> 31)
        };
        let (a, b) = (mix(2 * i + 1), mix(2 * i + 2));
        CasKey::new(
            &format!("{a:016x}{b:016x}{}", "0".repeat(96)),
            i.is_multiple_of(3),
        )
        .unwrap()
    }

    #[test]
    fn the_set_holds_what_was_inserted_and_nothing_else() {
        let set = VerifiedSet::with_capacity(5000);
        for i in 0..5000 {
            set.insert(key(i));
        }
        assert_eq!(set.len.load(Ordering::Relaxed), 5000);
        assert!((0..5000).all(|i| set.contains(key(i))));
        assert!((5000..10_000).all(|i| !set.contains(key(i))));
        // Same first word, another second word: a different file.
        let mut twin = key(1);
        twin.low ^= 2;
        assert!(!set.contains(twin));
        set.insert(twin);
        assert!(set.contains(twin) && set.contains(key(1)));
    }

    #[test]
    fn a_full_set_forgets_but_never_invents() {
        // Every key lands in the same run of slots: the table fills up and later inserts
        // are dropped, yet no lookup of an absent key ever says yes.
        let set = VerifiedSet::with_capacity(0);
        let colliding = |i: u64| CasKey {
            high: 1 + (i << 20),
            low: i + 1,
        };
        for i in 0..(MAX_PROBES as u64 + 10) {
            set.insert(colliding(i));
        }
        assert_eq!(set.len.load(Ordering::Relaxed), MAX_PROBES);
        assert!((0..MAX_PROBES as u64).all(|i| set.contains(colliding(i))));
        assert!((MAX_PROBES as u64..MAX_PROBES as u64 + 10).all(|i| !set.contains(colliding(i))));
    }

    #[test]
    fn threads_filling_the_set_at_once_lose_no_key() {
        let set = VerifiedSet::with_capacity(40_000);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let set = &set;
                // Overlapping ranges: the same keys are inserted from two threads at once.
                s.spawn(move || (t * 5000..t * 5000 + 10_000).for_each(|i| set.insert(key(i))));
            }
        });
        assert!((0..25_000).all(|i| set.contains(key(i))));
        assert_eq!(set.len.load(Ordering::Relaxed), 25_000);
    }
}
