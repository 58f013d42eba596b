//! `CasWriter`: the CAS writes of one install, remembering which files it already put in
//! place so that a file shipped by many packages is written once.
//!
//! Why it exists: about one file in five of a real project is byte-identical to a file of
//! another package (a `LICENSE`, an empty `index.js`). Without memory, every copy after the
//! first went through [`tack_fs::ensure_file`] again: an unnamed `O_TMPFILE` inode was
//! created and filled, `linkat` failed with `EEXIST`, the existing file was read back to
//! compare, and the inode was freed. On ext4 each freed inode is then skipped, for 60 s or
//! more, by every later inode allocation in its group, so the ~4k duplicates of a cold
//! install of the medium fixture made the install's own inode allocations scan past them
//! (`find_inode_bit` → `recently_deleted` was 15% of a cold install's CPU).
//!
//! The memory is per writer, and so per install: it records what *this* writer completed
//! or verified, never what some other process might have done to the store since.

use crate::error::StoreError;
use crate::layout::StoreDir;
use dashmap::DashSet;
use sha2::{Digest, Sha512};
use std::path::Path;
use std::sync::OnceLock;

/// A sha512 digest plus the exec bit: the identity of one CAS path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CasKey {
    digest: [u8; 64],
    exec: bool,
}

impl std::hash::Hash for CasKey {
    /// The first eight bytes of a sha512 are already as uniform as a hash gets: SipHash
    /// over all 65 bytes was about 2% of a cold install's user time. Only this process's
    /// own writes go in, so no one can choose colliding keys; the worst is a slower lookup.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.digest[..8]);
        state.write_u64(u64::from_le_bytes(word) ^ u64::from(self.exec));
    }
}

/// Passes on the one word [`CasKey`] hashes to (anything else is folded in, FNV-style).
#[derive(Debug, Clone, Copy, Default)]
struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, word: u64) {
        self.0 ^= word;
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type KeyBuild = std::hash::BuildHasherDefault<WordHasher>;

/// Writes CAS files into one store and skips those it has already written or verified.
#[derive(Debug)]
pub struct CasWriter {
    store: StoreDir,
    done: DashSet<CasKey, KeyBuild>,
    /// The store's `files/` directory, open once it exists: files are linked into the CAS
    /// relative to it (see [`tack_fs::CasPlace`]).
    files_dir: OnceLock<tack_fs::DirFd>,
}

impl CasWriter {
    pub fn new(store: StoreDir) -> Self {
        CasWriter {
            store,
            done: DashSet::with_hasher(KeyBuild::default()),
            files_dir: OnceLock::new(),
        }
    }

    /// The store's `files/` directory, opened on first use; `None` while it cannot be opened
    /// (not made yet: the links then take the whole path, and the next file tries again).
    fn files_dir(&self) -> Option<&tack_fs::DirFd> {
        if let Some(dir) = self.files_dir.get() {
            return Some(dir);
        }
        let dir = tack_fs::DirFd::open(&self.store.files_dir()).ok()?;
        Some(self.files_dir.get_or_init(|| dir))
    }

    /// Hashes `content`, makes sure its CAS path holds it (see
    /// [`StoreDir::write_cas_file`]) unless this writer already did, and returns the hex
    /// digest.
    pub fn write(&self, content: &[u8], executable: bool) -> Result<String, StoreError> {
        self.write_hashed(&Sha512::digest(content).into(), content, executable)
    }

    /// Makes sure the CAS path of `content`, whose sha512 the caller computed as `digest`,
    /// holds it unless this writer already did, and returns the hex digest. The extractor
    /// hashes a batch of files together (see [`crate::sha512_many`]) and hands them here.
    pub fn write_hashed(
        &self,
        digest: &[u8; 64],
        content: &[u8],
        executable: bool,
    ) -> Result<String, StoreError> {
        let hex_digest = hex_of(digest);
        let key = CasKey {
            digest: *digest,
            exec: executable,
        };
        if self.done.contains(&key) {
            return Ok(hex_digest);
        }
        self.store.put_cas_file(&hex_digest, content, executable)?;
        self.done.insert(key);
        Ok(hex_digest)
    }

    /// [`CasWriter::write_hashed`] for a file that is also installed at `rel` in the package
    /// directory `dir` (open; `dir_path` names it in errors), which this install has just
    /// created: the file is written there and given its CAS name ([`tack_fs::place_file`]),
    /// or, when this writer already put that CAS file in place, linked from the store.
    pub fn place_hashed(
        &self,
        digest: &[u8; 64],
        content: &[u8],
        executable: bool,
        dir: &tack_fs::DirFd,
        dir_path: &Path,
        rel: &Path,
    ) -> Result<String, StoreError> {
        let hex_digest = hex_of(digest);
        let key = CasKey {
            digest: *digest,
            exec: executable,
        };
        let cas_path = self.store.cas_path(&hex_digest, executable);
        let name = tack_fs::CasName::new(&hex_digest, executable);
        let in_files = self.files_dir().zip(name.as_ref().map(|n| n.as_path()));
        if self.done.contains(&key) {
            // Put in place by this writer already: link it, or, when it cannot be linked
            // (a duplicate entry, too many links), give the package its own copy.
            let linked = match in_files {
                Some((files, name)) => files.hard_link(name, dir, rel),
                None => dir.hard_link_in(&cas_path, rel),
            };
            if linked.is_err() {
                tack_fs::write_in_dir(dir, dir_path, rel, content, executable)?;
            }
            return Ok(hex_digest);
        }
        let cas = tack_fs::CasPlace {
            path: &cas_path,
            in_files,
        };
        tack_fs::place_file(dir, dir_path, rel, cas, content, executable)?;
        self.done.insert(key);
        Ok(hex_digest)
    }

    /// The store this writer writes into.
    pub fn store(&self) -> &StoreDir {
        &self.store
    }

    /// How many distinct CAS paths this writer has put in place or verified.
    pub fn files_written(&self) -> usize {
        self.done.len()
    }
}

/// The lowercase hex of a digest, written into one buffer (`hex::encode` pushes it a char
/// at a time).
fn hex_of(digest: &[u8; 64]) -> String {
    let mut buf = [0u8; 128];
    // Cannot fail: the buffer is exactly twice the digest.
    let _ = hex::encode_to_slice(digest, &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_written_twice_is_put_in_place_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreDir::new(dir.path().join("v11"));
        store.ensure_root().unwrap();
        let writer = CasWriter::new(store.clone());
        let digest = writer.write(b"MIT License", false).unwrap();
        let path = store.cas_path(&digest, false);
        // Were the second write to reach the disk, it would find this foreign content,
        // call it torn and heal it back to the right bytes.
        std::fs::write(&path, b"something else").unwrap();
        assert_eq!(writer.write(b"MIT License", false).unwrap(), digest);
        assert_eq!(std::fs::read(&path).unwrap(), b"something else");
        // The exec bit names another path, so that one is written.
        let exec = writer.write(b"MIT License", true).unwrap();
        assert_eq!(
            std::fs::read(store.cas_path(&exec, true)).unwrap(),
            b"MIT License"
        );
        assert_eq!(writer.files_written(), 2);
        // A new writer (a new install) trusts nothing and heals.
        CasWriter::new(store).write(b"MIT License", false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"MIT License");
    }

    #[test]
    fn write_hashed_puts_each_file_where_write_would() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreDir::new(dir.path().join("v11"));
        store.ensure_root().unwrap();
        let writer = CasWriter::new(store.clone());
        let contents: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; usize::from(i) * 70]).collect();
        let messages: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
        let digests = crate::sha512_many(&messages);
        for (i, (content, digest)) in messages.iter().zip(&digests).enumerate() {
            let exec = i % 3 == 0;
            let hex_digest = writer.write_hashed(digest, content, exec).unwrap();
            assert_eq!(hex_digest, hex::encode(Sha512::digest(content)));
            assert_eq!(
                std::fs::read(store.cas_path(&hex_digest, exec)).unwrap(),
                *content
            );
        }
        assert_eq!(writer.files_written(), 20);
    }

    /// A file two packages ship is placed by the first (its package file becomes the CAS file)
    /// and hard-linked into the second, both relative to the store's open `files/` directory
    /// once it exists: one inode, three names.
    #[test]
    fn a_file_placed_twice_is_one_inode_in_both_packages_and_the_store() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = StoreDir::new(dir.path().join("v11"));
        store.ensure_root().unwrap();
        std::fs::create_dir_all(store.files_dir()).unwrap();
        let writer = CasWriter::new(store.clone());
        let content = b"module.exports = 1;\n";
        let digest: [u8; 64] = Sha512::digest(content).into();
        let mut inodes = Vec::new();
        for package in ["a", "b"] {
            let pkg = dir.path().join(package);
            std::fs::create_dir_all(&pkg).unwrap();
            let fd = tack_fs::DirFd::open(&pkg).unwrap();
            let rel = Path::new("index.js");
            writer
                .place_hashed(&digest, content, false, &fd, &pkg, rel)
                .unwrap();
            inodes.push(std::fs::metadata(pkg.join(rel)).unwrap().ino());
        }
        let cas = std::fs::metadata(store.cas_path(&hex_of(&digest), false)).unwrap();
        assert_eq!(inodes, [cas.ino(), cas.ino()]);
        assert!(
            writer.files_dir.get().is_some(),
            "linked relative to files/"
        );
    }
}
