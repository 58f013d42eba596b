//! `StoreDir`: the on-disk layout of a pnpm v11 store (`files/XX/<126 hex>[-exec]`,
//! `index.db`, `tmp/`) and the one way tack puts content into it.
//!
//! Every crate computes CAS paths through [`StoreDir::cas_path`] so that tack and pnpm
//! always agree on where a digest lives.

use crate::error::StoreError;
use sha2::{Digest, Sha512};
use std::path::{Path, PathBuf};

/// The suffix pnpm (and tack) appends to the store path.
pub const STORE_VERSION: &str = "v11";

/// A pnpm v11 store. `root` is the `.../v11` directory itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDir {
    root: PathBuf,
}

impl StoreDir {
    /// A store rooted at `root` (the `v11` directory; nothing is appended here — see
    /// [`crate::resolve_store_dir`] for pnpm's path rules).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StoreDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/files`.
    pub fn files_dir(&self) -> PathBuf {
        self.root.join("files")
    }

    /// `<root>/index.db`.
    pub fn index_db_path(&self) -> PathBuf {
        self.root.join("index.db")
    }

    /// `<root>/tmp`, for staging.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Make sure `files/` and `tmp/` exist, leaving the 256 shard directories to the first
    /// file written into each ([`tack_fs::ensure_file`] creates a missing parent, as pnpm
    /// does) or to [`StoreDir::make_shards_ahead`]. Creating all 256 shards here was a
    /// serial ~10 ms (far more on a disk still reusing freed inodes) before the first
    /// download started.
    pub fn ensure_root(&self) -> Result<(), StoreError> {
        for dir in [self.files_dir(), self.tmp_dir()] {
            if !dir.is_dir() {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| StoreError::io("create directory", &dir, e))?;
            }
        }
        Ok(())
    }

    /// Creates the 256 shard directories on a thread of its own, for an install that is
    /// about to write files into a store that has none yet: it starts before the lockfile
    /// is read, and is done (about 7 ms of one core here) about when the first body is
    /// unpacked.
    ///
    /// Left to the first file of each shard, those `mkdir`s ran on the unpack workers
    /// while the cold install was busiest. Each one holds `files/`'s lock, and a worker
    /// linking a file into a shard that did not exist yet waits for that lock to look the
    /// name up: in a cold install of the small fixture (52 packages, 1,000 files, nearly
    /// every shard used) the workers spent about 40 ms blocked on it, against a 70 ms
    /// download-and-unpack phase. Nothing depends on the thread: a file whose shard is not
    /// there yet still creates it, and an error here is left for that path to report.
    pub fn make_shards_ahead(&self) -> Option<std::thread::JoinHandle<()>> {
        let files = self.files_dir();
        std::thread::Builder::new()
            .name("tack-shards".into())
            .spawn(move || {
                if std::fs::create_dir_all(&files).is_err() {
                    return;
                }
                let mut path = files.join("00");
                for shard in 0..=255u8 {
                    path.set_file_name(format!("{shard:02x}"));
                    // An existing shard (another install, or a worker that got there
                    // first) is what this wants anyway.
                    let _ = std::fs::create_dir(&path);
                }
            })
            .ok()
    }

    /// Make sure `files/00..ff` and `tmp/` exist: the full layout, for tests and benches
    /// that want every shard up front (an install uses [`StoreDir::ensure_root`]). On a
    /// warm store this costs one `stat`
    /// (of `files/ff`, the last shard created), never one syscall per shard.
    pub fn ensure_layout(&self) -> Result<(), StoreError> {
        let files = self.files_dir();
        if files.join("ff").is_dir() && self.tmp_dir().is_dir() {
            return Ok(());
        }
        for shard in 0..=255u8 {
            let dir = files.join(format!("{shard:02x}"));
            std::fs::create_dir_all(&dir)
                .map_err(|e| StoreError::io("create directory", &dir, e))?;
        }
        let tmp = self.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(|e| StoreError::io("create directory", &tmp, e))?;
        Ok(())
    }

    /// `files/XX/<rest>[-exec]` for a lowercase hex sha512 digest.
    pub fn cas_path(&self, hex_digest: &str, executable: bool) -> PathBuf {
        // One allocation: this runs once per file of every package an install touches.
        // A digest read from a damaged or hostile `index.db` may be anything: one that does
        // not start with two ASCII bytes gets a path that names no CAS file (a miss), never a
        // panic.
        let (shard, rest) = hex_digest
            .split_at_checked(hex_digest.len().min(2))
            .unwrap_or(("", hex_digest));
        let root = self.root.as_os_str();
        let mut path = std::ffi::OsString::with_capacity(root.len() + hex_digest.len() + 14);
        path.push(root);
        path.push("/files/");
        path.push(shard);
        path.push("/");
        path.push(rest);
        if executable {
            path.push("-exec");
        }
        PathBuf::from(path)
    }

    /// Hash `content`, write it to its CAS path (or verify what is there) and return the
    /// hex digest. Holds `cas_write_lock` for the path while writing (inside `ensure_file`).
    pub fn write_cas_file(&self, content: &[u8], executable: bool) -> Result<String, StoreError> {
        let digest = hex::encode(Sha512::digest(content));
        self.put_cas_file(&digest, content, executable)?;
        Ok(digest)
    }

    /// Write `content`, whose sha512 hex digest the caller computed, to its CAS path (or
    /// verify what is there).
    pub(crate) fn put_cas_file(
        &self,
        hex_digest: &str,
        content: &[u8],
        executable: bool,
    ) -> Result<(), StoreError> {
        let path = self.cas_path(hex_digest, executable);
        tack_fs::ensure_file(&path, content, executable)?;
        Ok(())
    }
}

/// Whether `digest` looks like a sha512 hex digest (128 lowercase hex chars); anything
/// else must not be turned into a path.
pub fn is_valid_digest(digest: &str) -> bool {
    digest.len() == 128
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A digest from a damaged `index.db` whose second byte is inside a multi-byte character
    /// used to panic the install's task; it names no CAS file instead.
    #[test]
    fn a_digest_that_is_not_hex_names_no_cas_file_and_does_not_panic() {
        let store = StoreDir::new("/store/v11");
        assert_eq!(
            store.cas_path("ab12", true),
            Path::new("/store/v11/files/ab/12-exec")
        );
        assert_eq!(
            store.cas_path("a\u{e9}b12", false),
            Path::new("/store/v11/files//a\u{e9}b12")
        );
        assert_eq!(store.cas_path("a", false), Path::new("/store/v11/files/a/"));
    }

    #[test]
    fn shards_made_ahead_are_all_256_and_existing_ones_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreDir::new(dir.path().join("v11"));
        // One shard is there already, with a file in it.
        std::fs::create_dir_all(store.files_dir().join("7f")).unwrap();
        std::fs::write(store.files_dir().join("7f/kept"), b"x").unwrap();

        let handle = store.make_shards_ahead().expect("thread started");
        handle.join().unwrap();

        let mut shards: Vec<String> = std::fs::read_dir(store.files_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        shards.sort();
        let expected: Vec<String> = (0..=255u8).map(|s| format!("{s:02x}")).collect();
        assert_eq!(shards, expected);
        assert_eq!(
            std::fs::read(store.files_dir().join("7f/kept")).unwrap(),
            b"x"
        );
    }
}
