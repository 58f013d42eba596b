//! Unpacking a download straight into the package directory it is installed to.
//!
//! Normally a downloaded file is written into the CAS and the linker later hard-links it
//! into `node_modules/.pnpm/<dir>/node_modules/<name>`. When the install has just created
//! that directory for the package, the extractor can instead create each file there and
//! give it its CAS name ([`tack_fs::place_file`]): one directory operation less per file,
//! about a tenth of a cold install's system time.
//!
//! The directory must look incomplete until it is: the linker takes a package directory
//! whose marker file (`package.json`) exists for a finished import. So the marker is only
//! written to the CAS while unpacking, and linked into the directory last, by
//! [`DirSink::complete`], after every other file of the final index row is in place. Files
//! the archive does not carry as one regular entry per path (hard-link entries, a
//! duplicated path, a placeholder `package.json`) are linked from the CAS at that point,
//! as an import would.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tack_fs::{DirFd, ImportMethod, Importer};
use tack_store_dir::CasWriter;

use crate::error::FetchError;
use crate::extract::{CasSink, CasWriteError, HashedFile, UnpackedPackage};

/// A package directory that this install has just created, empty, for one download to fill.
#[derive(Debug)]
pub struct PackageDir {
    pub path: PathBuf,
    pub fd: DirFd,
    /// The file that marks the directory complete; linked last.
    pub marker: &'static str,
}

type Opener = Box<dyn FnOnce() -> Option<PackageDir> + Send>;

enum State {
    Unopened(Opener),
    Open(Arc<PackageDir>),
    Unavailable,
}

/// Where one download may unpack to, opened by the download that first needs it (so the
/// directory is only created when the package really is unpacked here, on the unpacking
/// thread). Give one to [`crate::Fetcher::fetch_into`] and ask [`DirectTarget::filled`]
/// afterwards: only then is the package complete in its directory.
pub struct DirectTarget {
    state: Mutex<State>,
    filled: AtomicBool,
}

impl std::fmt::Debug for DirectTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectTarget")
            .field("filled", &self.filled())
            .finish_non_exhaustive()
    }
}

impl DirectTarget {
    /// `open` creates the directory, or answers `None` when it cannot or should not (it
    /// exists already): the package is then only written to the CAS.
    pub fn new(open: impl FnOnce() -> Option<PackageDir> + Send + 'static) -> Arc<Self> {
        Arc::new(DirectTarget {
            state: Mutex::new(State::Unopened(Box::new(open))),
            filled: AtomicBool::new(false),
        })
    }

    /// Whether a download unpacked the whole package into the directory, marker included.
    pub fn filled(&self) -> bool {
        self.filled.load(Ordering::Acquire)
    }

    /// The directory, opened on the first call.
    pub(crate) fn open(&self) -> Option<Arc<PackageDir>> {
        let mut state = self.state.lock();
        if let State::Open(dir) = &*state {
            return Some(Arc::clone(dir));
        }
        let State::Unopened(open) = std::mem::replace(&mut *state, State::Unavailable) else {
            return None;
        };
        let dir = Arc::new(open()?);
        *state = State::Open(Arc::clone(&dir));
        Some(dir)
    }

    pub(crate) fn mark_filled(&self) {
        self.filled.store(true, Ordering::Release);
    }
}

/// What one placed path holds: its digest and exec bit.
type PlacedAs = ([u8; 64], bool);

/// The CAS sink of a download that unpacks into a [`PackageDir`].
pub(crate) struct DirSink<'a> {
    cas: &'a CasWriter,
    dir: &'a PackageDir,
    /// Directories made so far inside the package.
    made: Mutex<std::collections::HashSet<String>>,
    /// What each placed path holds: (digest, exec), or `None` once a path was placed twice
    /// (two writers of one batch may finish in either order, so only a re-link is sure).
    placed: Mutex<HashMap<String, Option<PlacedAs>>>,
}

impl<'a> DirSink<'a> {
    pub(crate) fn new(cas: &'a CasWriter, dir: &'a PackageDir) -> Self {
        DirSink {
            cas,
            dir,
            made: Mutex::new(std::collections::HashSet::new()),
            placed: Mutex::new(HashMap::new()),
        }
    }

    /// Makes every directory above `rel` inside the package.
    fn make_parents(&self, rel: &str) -> Result<(), tack_fs::FsError> {
        // Usually the whole parent is made already: one look instead of one per level.
        match rel.rfind('/') {
            None => return Ok(()),
            Some(last) if self.made.lock().contains(&rel[..last]) => return Ok(()),
            Some(_) => {}
        }
        let mut end = 0;
        while let Some(slash) = rel[end..].find('/') {
            end += slash;
            let parent = &rel[..end];
            end += 1;
            if self.made.lock().contains(parent) {
                continue;
            }
            match self.dir.fd.mkdir(Path::new(parent)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(tack_fs::FsError::Io {
                        op: "create directory",
                        path: self.dir.path.join(parent),
                        source: e,
                    })
                }
            }
            self.made.lock().insert(parent.to_string());
        }
        Ok(())
    }

    fn place(&self, f: &HashedFile<'_>) -> Result<String, CasWriteError> {
        if f.path == self.dir.marker {
            return self
                .cas
                .write_hashed(&f.digest, f.content, f.exec)
                .map_err(|e| crate::cas::write_error(&e));
        }
        self.make_parents(f.path)
            .map_err(|e| crate::cas::write_error(&e.into()))?;
        let digest = self
            .cas
            .place_hashed(
                &f.digest,
                f.content,
                f.exec,
                &self.dir.fd,
                &self.dir.path,
                Path::new(f.path),
            )
            .map_err(|e| crate::cas::write_error(&e))?;
        let mut placed = self.placed.lock();
        let entry = placed.entry(f.path.to_string());
        match entry {
            std::collections::hash_map::Entry::Occupied(mut twice) => {
                twice.insert(None);
            }
            std::collections::hash_map::Entry::Vacant(first) => {
                first.insert(Some((f.digest, f.exec)));
            }
        }
        Ok(digest)
    }

    /// Puts in place every file of `unpacked` that was not placed as it is in the row, then
    /// the marker, last. Call only when the unpack succeeded.
    pub(crate) fn complete(&self, unpacked: &UnpackedPackage, pkg: &str) -> Result<(), FetchError> {
        let store = self.cas.store();
        let importer = Importer::new(ImportMethod::Auto);
        let placed = std::mem::take(&mut *self.placed.lock());
        let link = |rel: &str, digest: &str, exec: bool| -> Result<(), tack_fs::FsError> {
            self.make_parents(rel)?;
            let src = store.cas_path(digest, exec);
            importer.import_file(&src, &self.dir.path.join(rel))?;
            Ok(())
        };
        let failed = |e: tack_fs::FsError| {
            let e = crate::cas::write_error(&e.into());
            FetchError::Store {
                pkg: pkg.to_string(),
                message: e.message,
                disk_full: e.disk_full,
            }
        };
        let mut marker = None;
        for (rel, info) in &unpacked.files {
            let exec = info.mode & 0o111 != 0;
            if rel == self.dir.marker {
                marker = Some((rel, &info.digest, exec));
                continue;
            }
            let as_placed =
                placed
                    .get(rel)
                    .and_then(Option::as_ref)
                    .is_some_and(|(digest, placed_exec)| {
                        *placed_exec == exec && same_digest(digest, &info.digest)
                    });
            if !as_placed {
                link(rel, &info.digest, exec).map_err(failed)?;
            }
        }
        if let Some((rel, digest, exec)) = marker {
            link(rel, digest, exec).map_err(failed)?;
        }
        Ok(())
    }
}

impl CasSink for DirSink<'_> {
    fn write(&self, content: &[u8], exec: bool) -> Result<String, CasWriteError> {
        CasSink::write(self.cas, content, exec)
    }

    fn write_hashed(&self, files: &[HashedFile<'_>]) -> Vec<Result<String, CasWriteError>> {
        files.iter().map(|f| self.place(f)).collect()
    }
}

/// Whether the hex digest of a row names the digest `bytes`.
fn same_digest(bytes: &[u8; 64], hex_digest: &str) -> bool {
    let mut decoded = [0u8; 64];
    hex::decode_to_slice(hex_digest, &mut decoded).is_ok() && decoded == *bytes
}
