//! `AtomicWrite`: publish a metadata file (`.modules.yaml`, `lock.yaml`, state files) so
//! that readers see either the old content or the complete new content, never a mix.
//!
//! The recipe: write into an exclusive temp sibling (its name contains [`TEMP_INFIX`]),
//! optionally check its sha512, stamp the mtime, fsync it, rename it over the target, then
//! fsync the parent directory as a best effort so the rename itself survives a crash.
//! Building the request touches nothing; only a terminal call creates the temp file, and
//! every failure deletes it again, so an error never leaves debris.
//!
//! The async variant reads from an async reader on the caller's task and hands chunks to a
//! blocking writer over a bounded channel (memory stays bounded for large files). An
//! explicit end-of-stream message is the only thing that lets the writer commit: if the
//! reader fails, or the caller's future is dropped mid-stream, the channel closes without
//! it and the writer discards the temp file, so a truncated file is never published.
//!
//! [`TEMP_INFIX`]: crate::TEMP_INFIX

use crate::error::FsError;
use crate::temp::{create_temp_sibling, parent_dir, TempGuard};
use sha2::{Digest, Sha512};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncReadExt};

const CHUNK: usize = 64 * 1024;
const CHANNEL_DEPTH: usize = 8;

/// A request to publish one file atomically. Configuring it performs no IO.
#[derive(Debug, Clone)]
#[must_use = "an AtomicWrite does nothing until a write_* or copy_from_file call"]
pub struct AtomicWrite {
    target: PathBuf,
    expected_sha512: Option<String>,
    mtime: Option<SystemTime>,
    mode: Option<u32>,
    durable: bool,
}

impl AtomicWrite {
    /// A request to replace `target`. Missing parent directories are created at write time.
    pub fn new(target: impl Into<PathBuf>) -> Self {
        AtomicWrite {
            target: target.into(),
            expected_sha512: None,
            mtime: None,
            mode: None,
            durable: true,
        }
    }

    /// Skip both fsyncs (the file's and its directory's). The publish stays atomic: a crash
    /// still leaves either the old file or the new one, because the rename is what makes it
    /// visible. Only durability across a power loss is given up, which suits files that are
    /// cheap to rewrite and written by the hundred (`.bin` shims): an fsync each costs more
    /// than the rest of a warm install's linking.
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// Publish only if the content's sha512 (lowercase or uppercase hex) equals
    /// `expected_hex`; otherwise fail with [`FsError::HashMismatch`] and leave the target as
    /// it was.
    pub fn verify_sha512(mut self, expected_hex: impl Into<String>) -> Self {
        self.expected_sha512 = Some(expected_hex.into());
        self
    }

    /// Stamp this modification time on the file before it is renamed into place.
    pub fn mtime(mut self, t: SystemTime) -> Self {
        self.mtime = Some(t);
        self
    }

    /// Set these permission bits explicitly (not subject to the umask). Without it the file
    /// gets `0o666` minus the umask, like any newly created file.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// The path this request publishes.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Publish `bytes`.
    pub fn write_bytes(self, bytes: &[u8]) -> Result<(), FsError> {
        let mut w = self.begin()?;
        w.write(bytes)?;
        w.commit()
    }

    /// Publish everything `r` yields up to its EOF. A read error publishes nothing.
    pub fn write_from_reader(self, mut r: impl Read) -> Result<(), FsError> {
        let mut w = self.begin()?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(w.source_error(e)),
            };
            w.write(&buf[..n])?;
        }
        w.commit()
    }

    /// Publish everything the async reader `r` yields up to its EOF, with bounded memory.
    ///
    /// The file is written on a blocking thread. If `r` fails, or this future is dropped
    /// before `r` reaches EOF, nothing is published and the temp file is removed.
    /// Must be awaited inside a tokio runtime (the writer runs on `spawn_blocking`).
    pub async fn write_from_async_reader(
        self,
        mut r: impl AsyncRead + Unpin + Send,
    ) -> Result<(), FsError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(CHANNEL_DEPTH);
        let target = self.target.clone();
        let writer = tokio::task::spawn_blocking(move || -> Result<(), FsError> {
            let mut w = self.begin()?;
            loop {
                match rx.blocking_recv() {
                    Some(Msg::Chunk(c)) => w.write(&c)?,
                    Some(Msg::End) => return w.commit(),
                    // Closed without End: the producer failed, was dropped or was cancelled.
                    // Dropping `w` removes the temp file.
                    None => {
                        return Err(FsError::StreamAborted {
                            path: w.target.clone(),
                        })
                    }
                }
            }
        });

        let produced: Result<(), io::Error> = async {
            loop {
                let mut buf = Vec::with_capacity(CHUNK);
                let n = (&mut r).take(CHUNK as u64).read_to_end(&mut buf).await?;
                if n == 0 {
                    // The writer may already have failed; its error is reported below.
                    let _ = tx.send(Msg::End).await;
                    return Ok(());
                }
                if tx.send(Msg::Chunk(buf)).await.is_err() {
                    // The writer stopped early (its own IO error); it reports why.
                    return Ok(());
                }
            }
        }
        .await;
        drop(tx);

        let written = match writer.await {
            Ok(r) => r,
            Err(join) => Err(FsError::io(
                "write",
                target.clone(),
                io::Error::other(format!("writer thread failed: {join}")),
            )),
        };
        match produced {
            Err(e) => Err(FsError::Source {
                path: target,
                source: e,
            }),
            Ok(()) => written,
        }
    }

    /// Publish a copy of the file at `src` (the kernel copies when it can).
    pub fn copy_from_file(self, src: &Path) -> Result<(), FsError> {
        let mut from = File::open(src).map_err(|e| FsError::io("open", src, e))?;
        if self.expected_sha512.is_some() {
            return self.write_from_reader(from).map_err(|e| match e {
                FsError::Source { source, .. } => FsError::io("read", src, source),
                other => other,
            });
        }
        let mut w = self.begin()?;
        // std's File-to-File copy uses copy_file_range/sendfile on Linux.
        io::copy(&mut from, &mut w.file)
            .map_err(|e| FsError::io2("copy", src, w.guard.path(), e))?;
        w.commit()
    }

    fn begin(self) -> Result<Writer, FsError> {
        let parent = parent_dir(&self.target)?;
        std::fs::create_dir_all(parent).map_err(|e| FsError::io("create directory", parent, e))?;
        let (file, guard) = create_temp_sibling(&self.target, 0o666)?;
        let hasher = self.expected_sha512.as_ref().map(|_| Sha512::new());
        Ok(Writer {
            file,
            guard,
            hasher,
            target: self.target.clone(),
            req: self,
        })
    }
}

enum Msg {
    Chunk(Vec<u8>),
    End,
}

/// An open temp file on its way to becoming the target. Dropping it without `commit`
/// deletes the temp file.
struct Writer {
    file: File,
    guard: TempGuard,
    hasher: Option<Sha512>,
    req: AtomicWrite,
    target: PathBuf,
}

impl Writer {
    fn write(&mut self, bytes: &[u8]) -> Result<(), FsError> {
        if let Some(h) = &mut self.hasher {
            h.update(bytes);
        }
        self.file
            .write_all(bytes)
            .map_err(|e| FsError::io("write", self.guard.path(), e))
    }

    fn source_error(&self, e: io::Error) -> FsError {
        FsError::Source {
            path: self.target.clone(),
            source: e,
        }
    }

    fn commit(mut self) -> Result<(), FsError> {
        if let (Some(h), Some(expected)) = (self.hasher.take(), &self.req.expected_sha512) {
            let actual = hex::encode(h.finalize());
            if !actual.eq_ignore_ascii_case(expected.trim()) {
                return Err(FsError::HashMismatch {
                    path: self.target.clone(),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        let tmp = self.guard.path().to_path_buf();
        if let Some(mode) = self.req.mode {
            self.file
                .set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(|e| FsError::io("chmod", &tmp, e))?;
        }
        if let Some(t) = self.req.mtime {
            self.file
                .set_modified(t)
                .map_err(|e| FsError::io("set mtime", &tmp, e))?;
        }
        if self.req.durable {
            self.file
                .sync_all()
                .map_err(|e| FsError::io("fsync", &tmp, e))?;
        }
        std::fs::rename(&tmp, &self.target)
            .map_err(|e| FsError::io2("rename", &tmp, &self.target, e))?;
        self.guard.disarm();
        if !self.req.durable {
            return Ok(());
        }
        if let Ok(parent) = parent_dir(&self.target) {
            // Best effort: makes the rename durable; some filesystems refuse dir fsync.
            if let Ok(d) = File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}
