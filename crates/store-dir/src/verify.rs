//! The store integrity verifier: decides whether the CAS files an index row names can be
//! reused, and removes the ones that are damaged.
//!
//! Fast path (no lock): one `stat`; a file whose mtime is within 100 ms of the row's
//! `checkedAt` is trusted, exactly as pnpm does. Slow path: anything that may delete takes
//! [`tack_fs::cas_write_lock`] first and re-stats under it, because a writer in this process
//! may be halfway through writing that very path — deleting it then would surface as ENOENT
//! when the writer's package is linked. Only under the lock is a file re-hashed or removed.

use crate::index_row::{CafsFileInfo, PackageFilesIndex};
use crate::layout::{is_valid_digest, StoreDir};
use dashmap::DashSet;
use sha2::{Digest, Sha512};
use std::fs::Metadata;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

/// Slack between a file's mtime and the row's `checkedAt`, as in pnpm.
const MTIME_SLACK_MS: f64 = 100.0;

/// CAS files already verified during this install; shared by every package so a file
/// used by many packages is checked once.
#[derive(Debug, Default)]
pub struct VerifiedFilesCache {
    // Keyed by the digest's first 192 bits and the exec flag ([`CasKey`]): no allocation
    // and no hashing of a long path per file (both showed up in warm-install profiles,
    // one lookup per file).
    set: DashSet<CasKey, BuildHasherDefault<DigestPrefixHasher>>,
    /// The store's `files/` directory, opened once for relative stats (`None` inside when it
    /// could not be opened: then paths are stat'ed whole).
    files_dir: OnceLock<Option<(PathBuf, tack_fs::DirFd)>>,
}

/// One CAS file, by the first 192 bits of its sha512 and whether it is the `-exec`
/// variant. A set entry of 24 bytes instead of the 128 hex digits: inserting and probing
/// 129-byte keys (copies and `memcmp`s) was 5-10% of a warm install's user time. 192 bits
/// of a sha512 tell the files of a store apart: two different files share them with odds
/// of about 2^-150 in a store of millions of files, and even a chosen collision would only
/// spare one file its `stat` in one install, never put it at another file's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CasKey {
    high: u128,
    low: u64,
    executable: bool,
}

impl CasKey {
    /// `None` for a digest that is not 128 lowercase hex digits (what
    /// [`is_valid_digest`] accepts), checked in the same pass as the prefix is read.
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
        let mut high = 0u128;
        for &c in &bytes[..32] {
            high = (high << 4) | u128::from(nibble(c));
        }
        let mut low = 0u64;
        for &c in &bytes[32..48] {
            low = (low << 4) | u64::from(nibble(c));
        }
        Some(CasKey {
            high,
            low,
            executable,
        })
    }
}

impl Hash for CasKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // A sha512 is uniformly spread already: 64 of its bits are a good hash.
        state.write_u64((self.high as u64) ^ u64::from(self.executable));
    }
}

/// Passes [`CasKey`]'s digest prefix through as the hash.
#[derive(Debug, Default)]
struct DigestPrefixHasher(u64);

impl Hasher for DigestPrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used by `CasKey`; fold anything else in rather than ignore it.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

impl VerifiedFilesCache {
    /// A cache sized for about `files` entries up front: growing it one rehash at a time
    /// copied every 129-byte key again and again (the set's insert was 4-5% of a warm
    /// install's user time).
    pub fn with_capacity(files: usize) -> Self {
        VerifiedFilesCache {
            set: DashSet::with_capacity_and_hasher(files, BuildHasherDefault::default()),
            files_dir: OnceLock::new(),
        }
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
        CasKey::new(hex_digest, executable).is_some_and(|key| self.set.contains(&key))
    }
    /// Records the file with this hex digest as verified.
    pub fn insert(&self, hex_digest: &str, executable: bool) {
        if let Some(key) = CasKey::new(hex_digest, executable) {
            self.set.insert(key);
        }
    }
    pub fn len(&self) -> usize {
        self.set.len()
    }
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
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
    let mut passed = row.algo == "sha512";
    let mut files = Vec::with_capacity(row.files.len());
    let files_dir = cache.files_dir(store);
    for (rel_path, info) in &row.files {
        let executable = info.is_executable();
        // Validates the digest too: a malformed one never becomes a path.
        let Some(key) = CasKey::new(&info.digest, executable) else {
            passed = false;
            continue;
        };
        let cas_path = store.cas_path(&info.digest, executable);
        if !cache.set.contains(&key) {
            let intact = match files_dir {
                Some(dir) => verify_file_at(dir, cas_rel(&cas_path), &cas_path, info),
                None => verify_file(&cas_path, info),
            };
            if intact {
                cache.set.insert(key);
            } else {
                passed = false;
            }
        }
        files.push(StoreFileRef {
            rel_path: rel_path.clone(),
            cas_path,
            executable,
        });
    }
    VerifyResult { passed, files }
}

/// Map a row to CAS paths without touching the disk (`verifyStoreIntegrity: false`).
/// Fails only on a malformed digest.
pub fn file_refs_without_verifying(
    store: &StoreDir,
    row: &PackageFilesIndex,
) -> Option<Vec<StoreFileRef>> {
    row.files
        .iter()
        .map(|(rel_path, info)| {
            is_valid_digest(&info.digest).then(|| StoreFileRef {
                rel_path: rel_path.clone(),
                cas_path: store.cas_path(&info.digest, info.is_executable()),
                executable: info.is_executable(),
            })
        })
        .collect()
}

/// Whether the CAS file at `path` holds the content `info` describes. A damaged file
/// (wrong size, wrong hash, a directory in its place) is removed; a missing one is a miss.
pub fn verify_file(path: &Path, info: &CafsFileInfo) -> bool {
    // Fast path: no lock, one stat. The size comes with the stat for free, so a file cut
    // short within pnpm's 100 ms mtime slack is still caught (pnpm checks only the mtime).
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == info.size && !is_modified(&meta, info) => true,
        Err(_) => false,
        Ok(_) => verify_file_slow(path, info),
    }
}

/// [`verify_file`] with the fast-path stat made relative to the open `files/` directory
/// (`rel` is `XX/<rest>[-exec]`), which spares the kernel the walk of the whole store path.
fn verify_file_at(files: &tack_fs::DirFd, rel: &Path, path: &Path, info: &CafsFileInfo) -> bool {
    match files.stat(rel) {
        Ok(st) if st.is_file && st.len == info.size && !modified_at(st.mtime_ms as f64, info) => {
            true
        }
        Err(_) => false,
        Ok(_) => verify_file_slow(path, info),
    }
}

/// The locked re-check behind a failed fast path: re-stat, and re-hash or remove.
fn verify_file_slow(path: &Path, info: &CafsFileInfo) -> bool {
    // A concurrent writer in this process holds this lock while it writes.
    let _guard = tack_fs::cas_write_lock(path).lock();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(_) => return false,
    };
    if !meta.is_file() {
        remove_stale_entry(path, &meta);
        return false;
    }
    // Writers publish complete files only (and this process's writers hold the lock), so a
    // size that differs from the row's is damage, never a write in flight.
    if meta.len() != info.size {
        remove_stale_entry(path, &meta);
        return false;
    }
    if !is_modified(&meta, info) {
        return true;
    }
    match sha512_hex_of_file(path) {
        Ok(hex) if hex == info.digest => true,
        Ok(_) => {
            remove_stale_entry(path, &meta);
            false
        }
        // Unreadable (e.g. permissions): not reusable, but not proven bad either.
        Err(_) => false,
    }
}

/// pnpm's rule: modified when `mtimeMs - checkedAt > 100`; no `checkedAt` means 0.
fn is_modified(meta: &Metadata, info: &CafsFileInfo) -> bool {
    let mtime_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    modified_at(mtime_ms, info)
}

fn modified_at(mtime_ms: f64, info: &CafsFileInfo) -> bool {
    mtime_ms - info.checked_at.unwrap_or(0.0) > MTIME_SLACK_MS
}

/// Streamed sha512 of a file, as lowercase hex.
pub(crate) fn sha512_hex_of_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
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

/// Remove whatever sits at a CAS path that failed verification. Errors are ignored: the
/// next writer heals the path anyway (`ensure_file` replaces bad entries).
fn remove_stale_entry(path: &Path, meta: &Metadata) {
    let _ = if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
}

/// `XX/<rest>[-exec]`: the last two components of a CAS path, relative to `files/`.
fn cas_rel(cas_path: &Path) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    let bytes = cas_path.as_os_str().as_bytes();
    let mut slashes = bytes.iter().enumerate().rev().filter(|(_, b)| **b == b'/');
    let start = slashes.nth(1).map_or(0, |(i, _)| i + 1);
    Path::new(std::ffi::OsStr::from_bytes(&bytes[start..]))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn cas_rel_is_the_shard_and_the_name() {
        let store = StoreDir::new("/x/store/v11");
        let path = store.cas_path(&"ab".repeat(64), true);
        assert_eq!(
            cas_rel(&path),
            Path::new(&format!("ab/{}-exec", "ab".repeat(63)))
        );
    }
}
