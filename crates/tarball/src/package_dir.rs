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

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tack_fs::{DirFd, FsError, ImportMethod, Importer};
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

/// The CAS sink of a download that unpacks into a [`PackageDir`].
pub(crate) struct DirSink<'a> {
    cas: &'a CasWriter,
    dir: &'a PackageDir,
    /// Directories made so far inside the package.
    made: Mutex<HashSet<String>>,
}

impl<'a> DirSink<'a> {
    pub(crate) fn new(cas: &'a CasWriter, dir: &'a PackageDir) -> Self {
        DirSink {
            cas,
            dir,
            made: Mutex::new(HashSet::new()),
        }
    }

    /// Makes every directory above each of `paths` inside the package. One lock for the
    /// lot: the writers of a batch share this sink.
    fn make_parents<'p>(&self, paths: impl Iterator<Item = &'p str>) -> Result<(), FsError> {
        let mut made = self.made.lock();
        for rel in paths {
            // Usually the whole parent is made already: one look instead of one per level.
            match rel.rfind('/') {
                Some(last) if !made.contains(&rel[..last]) => {}
                _ => continue,
            }
            let mut end = 0;
            while let Some(slash) = rel[end..].find('/') {
                end += slash;
                let parent = &rel[..end];
                end += 1;
                if made.contains(parent) {
                    continue;
                }
                match self.dir.fd.mkdir(Path::new(parent)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(source) => {
                        return Err(FsError::Io {
                            op: "create directory",
                            path: self.dir.path.join(parent),
                            source,
                        })
                    }
                }
                made.insert(parent.to_string());
            }
        }
        Ok(())
    }

    fn place(&self, f: &HashedFile<'_>) -> Result<String, CasWriteError> {
        let digest = if f.path == self.dir.marker {
            self.cas.write_hashed(&f.digest, f.content, f.exec)
        } else {
            let rel = Path::new(f.path);
            let (fd, dir) = (&self.dir.fd, &self.dir.path);
            self.cas
                .place_hashed(&f.digest, f.content, f.exec, fd, dir, rel)
        };
        digest.map_err(|e| crate::cas::write_error(&e))
    }

    /// Puts in place, from the CAS, every file of `unpacked` that the archive did not give
    /// as one regular entry ([`UnpackedPackage::rewritten`]), then the marker, last. Call
    /// only when the unpack succeeded: every other file of the row is in place then.
    pub(crate) fn complete(&self, unpacked: &UnpackedPackage, pkg: &str) -> Result<(), FetchError> {
        let store = self.cas.store();
        let importer = Importer::new(ImportMethod::Auto);
        let link = |rel: &str| -> Result<(), FsError> {
            let Some(info) = unpacked.files.get(rel) else {
                return Ok(());
            };
            self.make_parents(std::iter::once(rel))?;
            let src = store.cas_path(&info.digest, info.mode & 0o111 != 0);
            // Through the directory's descriptor, as every other file went in: should another
            // process have removed this directory and made a new one at its path, the link
            // fails here instead of completing that one, half filled, with this marker. The
            // name may hold the archive's earlier entry for the path; the directory is not
            // complete yet, so nothing reads it while it is briefly missing.
            let rel_path = Path::new(rel);
            let _ = self.dir.fd.unlink(rel_path);
            match self.dir.fd.hard_link_in(&src, rel_path) {
                Ok(()) => Ok(()),
                // No second link to this file (too many links, another filesystem): a copy.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TooManyLinks | std::io::ErrorKind::CrossesDevices
                    ) =>
                {
                    importer
                        .import_file(&src, &self.dir.path.join(rel))
                        .map(|_| ())
                }
                Err(source) => Err(FsError::Io2 {
                    op: "hardlink",
                    from: src,
                    to: self.dir.path.join(rel),
                    source,
                }),
            }
        };
        let failed = |e: FsError| {
            let e = crate::cas::write_error(&e.into());
            FetchError::Store {
                pkg: pkg.to_string(),
                message: e.message,
                disk_full: e.disk_full,
            }
        };
        let mut again: Vec<&str> = unpacked.rewritten.iter().map(String::as_str).collect();
        again.sort_unstable();
        again.dedup();
        for rel in again.into_iter().filter(|rel| *rel != self.dir.marker) {
            link(rel).map_err(failed)?;
        }
        // A package with install scripts is built in a copy: the install replaces this
        // directory of hard links with one. Without its marker it never passes for complete,
        // so a build that runs after an install stopped in between cannot write through the
        // links into the store.
        if unpacked.requires_build {
            return Ok(());
        }
        link(self.dir.marker).map_err(failed)
    }
}

impl CasSink for DirSink<'_> {
    fn write(&self, content: &[u8], exec: bool) -> Result<String, CasWriteError> {
        CasSink::write(self.cas, content, exec)
    }

    fn write_hashed(&self, files: &[HashedFile<'_>]) -> Vec<Result<String, CasWriteError>> {
        if let Err(e) = self.make_parents(files.iter().map(|f| f.path)) {
            let e = crate::cas::write_error(&e.into());
            return files.iter().map(|_| Err(e.clone())).collect();
        }
        files.iter().map(|f| self.place(f)).collect()
    }
}
