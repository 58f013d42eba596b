//! Gunzip + untar + CAS write of one tarball, from any `Read`, with caps.
//!
//! This is the blocking half of the fetch pipeline and is also usable on its own (tests,
//! benches, local tarballs). It keeps regular files and hard links (resolved to the
//! earlier entry's content, as pnpm does), drops directories, symlinks and everything
//! else, refuses escaping paths, and enforces caps against decompression bombs and lying
//! size fields: total unpacked bytes, entry count and per-entry size, with preallocation
//! from an untrusted header bounded and fallible. Files are written to the CAS in batches
//! while the archive is still being read, a batch of many files in parallel.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::read::GzDecoder;
use indexmap::IndexMap;
use serde_json::Value;
use sha2::{Digest, Sha512};
use tack_store_dir::sha512_many;

use crate::batch_writer::{write_batch, ActiveUnpack};
use crate::buffers::PooledBuf;
use crate::entry_path::sanitize_entry_path;
use crate::error::FetchError;
use crate::inflate::{gunzip_one_shot, is_gzip, Inflated};
use crate::manifest::{parse_bundled_manifest, requires_build, PLACEHOLDER_PACKAGE_JSON};

/// Limits on what one tarball may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractCaps {
    /// Sum of all kept file sizes (and the decompressed stream, plus header overhead).
    pub max_unpacked_bytes: u64,
    /// Tar entries of any type.
    pub max_entries: u64,
    /// One file's size.
    pub max_entry_bytes: u64,
}

impl Default for ExtractCaps {
    /// 2 GiB unpacked, 200 000 entries, 512 MiB per file: well above the largest npm
    /// packages (a few hundred MiB, tens of thousands of files), well below a bomb.
    fn default() -> Self {
        Self {
            max_unpacked_bytes: 2 << 30,
            max_entries: 200_000,
            max_entry_bytes: 512 << 20,
        }
    }
}

/// Why a file could not be written to the CAS: the message, and whether the disk (or a
/// quota) is full, which gets its own error code and advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasWriteError {
    pub message: String,
    pub disk_full: bool,
}

impl std::fmt::Display for CasWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where extracted file contents go: the CAS in production, anything in tests.
///
/// `write` stores `content` (as an executable when `exec`) and returns its sha512 hex.
pub trait CasSink: Sync {
    fn write(&self, content: &[u8], exec: bool) -> Result<String, CasWriteError>;

    /// Stores files whose sha512 the extractor already computed (it hashes a whole batch
    /// side by side, see [`tack_store_dir::sha512_many`]), with the results in the order of
    /// `files`. A sink that names files by digest overrides this to skip hashing again; by
    /// default each file goes through [`CasSink::write`].
    fn write_hashed(&self, files: &[HashedFile<'_>]) -> Vec<Result<String, CasWriteError>> {
        files
            .iter()
            .map(|f| self.write(f.content, f.exec))
            .collect()
    }
}

/// A file to store, with the sha512 of its content.
#[derive(Debug, Clone, Copy)]
pub struct HashedFile<'a> {
    /// Its path inside the package (sanitised: `/`-separated normal components).
    pub path: &'a str,
    pub digest: [u8; 64],
    pub content: &'a [u8],
    pub exec: bool,
}

/// Checks the digest of the compressed archive against what the lockfile expects. Given
/// to an extraction, the archive's sha512 is computed with its first batch of files and
/// judged before any of them is stored (see [`unpack_verified_tarball_bytes`]).
pub type TarballVerdict<'a> = &'a (dyn Fn(&[u8; 64]) -> Result<(), FetchError> + Sync);

/// An archive whose digest is still to be judged.
#[derive(Clone, Copy)]
struct PendingCheck<'a> {
    archive: &'a [u8],
    verdict: TarballVerdict<'a>,
}

impl PendingCheck<'_> {
    /// Judges the archive hashed on its own (no batch of files to share the lanes with).
    fn judge_alone(&self) -> Result<(), FetchError> {
        (self.verdict)(&Sha512::digest(self.archive).into())
    }
}

/// One file of an unpacked package, as the index row records it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnpackedFile {
    /// sha512 hex of the content.
    pub digest: String,
    /// The raw tar header mode.
    pub mode: u32,
    pub size: u64,
    /// Milliseconds since the epoch, taken after the file was in the CAS.
    pub checked_at: f64,
}

/// The result of unpacking one tarball.
#[derive(Debug, Clone, PartialEq)]
pub struct UnpackedPackage {
    /// Package-relative path → file, in archive order (a later duplicate replaces the entry).
    pub files: IndexMap<String, UnpackedFile>,
    /// The normalized bundled manifest (`None` when `package.json` is missing or not JSON).
    pub manifest: Option<Value>,
    pub requires_build: bool,
    /// Paths whose file in `files` is not simply the one regular entry the sink was given
    /// for that path: a path the archive carries more than once, a hard-link entry, the
    /// placeholder `package.json`. A sink that puts files in place by path must put these
    /// again from the CAS (see `DirSink::complete`).
    pub rewritten: Vec<String>,
}

/// Don't trust an entry header for more than this much preallocation at once.
const MAX_UNTRUSTED_PREALLOC: u64 = 64 << 20;
/// Flush pending files to the CAS when they add up to this much ...
const BATCH_BYTES: usize = 16 << 20;
/// ... or when the pending files read out of a stream (copies, unlike slices of an archive
/// in memory) add up to this much: a streamed extraction holds no more, and its files reach
/// the CAS while the rest of the body is still arriving.
const HELD_BYTES: usize = 2 << 20;

/// A file's bytes: read out of a streamed archive, or a slice of an archive in memory.
enum Content<'a> {
    Owned(Vec<u8>),
    /// A large streamed entry, in a pooled buffer (see [`POOLED_ENTRY_MIN`]).
    Pooled(PooledBuf),
    Borrowed(&'a [u8]),
}

impl Content<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Content::Owned(v) => v,
            Content::Pooled(b) => b,
            Content::Borrowed(b) => b,
        }
    }
}

/// Streamed entries at least this large are read into a pooled buffer: a fresh allocation
/// of that size is `mmap`ed and faulted in page by page, and the few large packages that
/// are streamed (over [`crate::FetcherOptions::whole_body_max`]) are mostly such files.
const POOLED_ENTRY_MIN: u64 = 128 << 10;

struct PendingFile<'a> {
    path: String,
    content: Content<'a>,
    mode: u32,
    seq: usize,
}

/// A regular-file entry that passed the path and size checks.
struct Admitted {
    path: String,
    size: u64,
    mode: u32,
}

/// Unpacks a gzipped (or raw) tar from `reader` into `sink`.
///
/// `pkg` names the package in errors. The reader is read up to the end of the gzip
/// member (so its CRC is checked); bytes after that are left unread.
pub fn unpack_tarball<R: Read>(
    reader: R,
    pkg: &str,
    sink: &dyn CasSink,
    caps: &ExtractCaps,
) -> Result<UnpackedPackage, FetchError> {
    unpack_stream(reader, pkg, sink, caps, None)
}

/// [`unpack_tarball`], judging `check`'s archive with the first batch of files.
fn unpack_stream<'a, R: Read>(
    reader: R,
    pkg: &'a str,
    sink: &'a dyn CasSink,
    caps: &'a ExtractCaps,
    check: Option<PendingCheck<'a>>,
) -> Result<UnpackedPackage, FetchError> {
    let mut buffered = BufReader::with_capacity(64 * 1024, reader);
    let is_gzip = {
        let head = buffered.fill_buf().map_err(|e| bad(pkg, &e))?;
        // A streamed body may show fewer bytes than a tar header first: the tar reader judges
        // those.
        let no_archive = head.len() >= 512 && !is_gzip(head) && !looks_like_tar(head);
        if head.is_empty() || no_archive {
            return Err(FetchError::Unrecognized {
                pkg: pkg.to_string(),
            });
        }
        is_gzip(head)
    };
    let decoded: Box<dyn Read> = if is_gzip {
        Box::new(GzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let tripped = Arc::new(AtomicBool::new(false));
    let limit = decompressed_limit(caps);
    let limited = LimitReader {
        inner: decoded,
        remaining: limit,
        tripped: Arc::clone(&tripped),
    };
    let mut unpacker = Unpacker::new(pkg, sink, caps, check);
    let mut archive = tar::Archive::new(limited);
    let stream_err = |e: io::Error, tripped: &AtomicBool| {
        if tripped.load(Ordering::SeqCst) {
            FetchError::TooLarge {
                pkg: pkg.to_string(),
                what: "unpacked size",
                limit: caps.max_unpacked_bytes,
            }
        } else {
            bad(pkg, &e)
        }
    };
    {
        let entries = archive.entries().map_err(|e| stream_err(e, &tripped))?;
        for (seq, entry) in entries.enumerate() {
            let entry = entry.map_err(|e| stream_err(e, &tripped))?;
            unpacker
                .entry(seq, entry)
                .map_err(|e| e.or_stream(|io| stream_err(io, &tripped)))?;
        }
    }
    // Read the gzip trailer so its CRC and length are checked; anything after the tar's
    // end-of-archive blocks counts against the cap.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|e| stream_err(e, &tripped))?;
    unpacker.finish()
}

/// The largest archive (uncompressed) that [`unpack_tarball_bytes`] inflates in memory in
/// one shot; a larger one is streamed. Bounds the memory of one extraction.
pub const ONE_SHOT_MAX_TAR_BYTES: usize = 64 << 20;

/// Unpacks a whole downloaded tarball held in memory into `sink`, the fast way when it can:
/// a gzip member that inflates to at most [`ONE_SHOT_MAX_TAR_BYTES`] is inflated in one
/// call and its files are hashed and written straight from that buffer, with no per-file
/// copy. Anything else (larger, not gzip, corrupt, a lying trailer) goes through
/// [`unpack_tarball`], which enforces the same caps and names the problem.
pub fn unpack_tarball_bytes(
    body: &[u8],
    pkg: &str,
    sink: &dyn CasSink,
    caps: &ExtractCaps,
) -> Result<UnpackedPackage, FetchError> {
    unpack_bytes(body, pkg, sink, caps, None)
}

/// [`unpack_tarball_bytes`] for a body whose sha512 must be judged by `verdict` before any
/// of its files is stored.
///
/// The body's digest is computed together with the first batch of files, in the lanes of
/// [`tack_store_dir::sha512_many`], instead of alone before inflating: a tarball is usually
/// the longest message of its batch, and hashing it alone was a tenth of a cold install's
/// user time. No file reaches the sink before the verdict. When the archive fails before
/// it was judged (corrupt, too large), the verdict on its digest is given first: a
/// tampered download is reported as an integrity failure, whatever it does to the archive.
pub fn unpack_verified_tarball_bytes(
    body: &[u8],
    pkg: &str,
    sink: &dyn CasSink,
    caps: &ExtractCaps,
    verdict: TarballVerdict<'_>,
) -> Result<UnpackedPackage, FetchError> {
    let check = PendingCheck {
        archive: body,
        verdict,
    };
    unpack_bytes(body, pkg, sink, caps, Some(check)).map_err(|e| judged_first(e, check))
}

/// The error of an extraction that failed, or the integrity failure of its archive when
/// the archive does not match: a tampered download is reported as such, whatever it does
/// to the extraction.
fn judged_first(e: FetchError, check: PendingCheck<'_>) -> FetchError {
    match e {
        FetchError::Integrity { .. } => e,
        other => check.judge_alone().err().unwrap_or(other),
    }
}

/// One body of a group given to [`unpack_verified_group`].
#[derive(Clone, Copy)]
pub struct GroupMember<'a> {
    /// The downloaded archive.
    pub body: &'a [u8],
    /// The package, as errors name it.
    pub pkg: &'a str,
    pub sink: &'a dyn CasSink,
    /// Judges the archive's sha512 (see [`unpack_verified_tarball_bytes`]).
    pub verdict: TarballVerdict<'a>,
}

/// [`unpack_verified_tarball_bytes`] for several bodies at once, with one result per member
/// in their order. Each member is inflated and walked as it would be alone, and then the
/// files and archives of all of them are hashed in one [`sha512_many`] batch before each
/// member is judged and written.
///
/// A small package has too few files to keep the hash lanes full: its batch runs narrow,
/// then its longest message alone, and in a cold install of the medium fixture those narrow
/// ends took most of the hashing time. The files of several small packages fill each
/// other's lanes. A member's failure is its own: the others are judged and written anyway.
pub fn unpack_verified_group(
    members: &[GroupMember<'_>],
    caps: &ExtractCaps,
) -> Vec<Result<UnpackedPackage, FetchError>> {
    let max = one_shot_max(caps);
    let tars: Vec<Option<Inflated>> = members
        .iter()
        .map(|m| {
            is_gzip(m.body)
                .then(|| gunzip_one_shot(m.body, max))
                .flatten()
        })
        .collect();
    // The group counts as one unpack (see `batch_writer.rs`), as it runs on one thread.
    let _active = ActiveUnpack::start();
    let mut results: Vec<Option<Result<UnpackedPackage, FetchError>>> =
        members.iter().map(|_| None).collect();
    let mut walked = Vec::with_capacity(members.len());
    for (i, (member, tar)) in members.iter().zip(&tars).enumerate() {
        let check = PendingCheck {
            archive: member.body,
            verdict: member.verdict,
        };
        let Some(tar) = tar else {
            // Not gzip, or too large to inflate in one call: the streaming path, alone.
            results[i] = Some(unpack_verified_tarball_bytes(
                member.body,
                member.pkg,
                member.sink,
                caps,
                member.verdict,
            ));
            continue;
        };
        let mut unpacker = Unpacker::new(member.pkg, member.sink, caps, Some(check));
        unpacker.deferred = true;
        unpacker._active = None;
        match walk_in_memory(&mut unpacker, &tar.bytes) {
            Ok(()) => walked.push((i, check, unpacker)),
            Err(e) => results[i] = Some(Err(judged_first(e, check))),
        }
    }
    let mut messages = Vec::new();
    let mut ends = Vec::with_capacity(walked.len());
    for (_, _, unpacker) in &walked {
        unpacker.batch_messages(&mut messages);
        ends.push(messages.len());
    }
    let mut hashes = sha512_many(&messages).into_iter();
    drop(messages);
    let mut start = 0;
    for ((i, check, mut unpacker), end) in walked.into_iter().zip(ends) {
        let batch: Vec<[u8; 64]> = hashes.by_ref().take(end - start).collect();
        start = end;
        let stored = unpacker.store_batch(batch).and_then(|()| unpacker.finish());
        results[i] = Some(stored.map_err(|e| judged_first(e, check)));
    }
    results
        .into_iter()
        .zip(members)
        .map(|(result, member)| {
            result.unwrap_or_else(|| {
                Err(FetchError::Task {
                    pkg: member.pkg.to_string(),
                    message: "a member of an unpack group was left without a result".to_string(),
                })
            })
        })
        .collect()
}

/// The largest tar [`unpack_bytes`] inflates in one call within `caps`.
fn one_shot_max(caps: &ExtractCaps) -> usize {
    usize::try_from(decompressed_limit(caps))
        .unwrap_or(usize::MAX)
        .min(ONE_SHOT_MAX_TAR_BYTES)
}

/// The one-shot path when the body inflates in one call, the streaming one otherwise; both
/// judge `check` with their first batch.
fn unpack_bytes<'a>(
    body: &'a [u8],
    pkg: &'a str,
    sink: &'a dyn CasSink,
    caps: &'a ExtractCaps,
    check: Option<PendingCheck<'a>>,
) -> Result<UnpackedPackage, FetchError> {
    let max = one_shot_max(caps);
    match is_gzip(body).then(|| gunzip_one_shot(body, max)).flatten() {
        Some(tar) => unpack_tar_in_memory(&tar.bytes, pkg, sink, caps, check),
        None => unpack_stream(body, pkg, sink, caps, check),
    }
}

/// Walks an uncompressed tar held in memory; file contents are slices of `tar`.
fn unpack_tar_in_memory<'a>(
    tar: &'a [u8],
    pkg: &'a str,
    sink: &'a dyn CasSink,
    caps: &'a ExtractCaps,
    check: Option<PendingCheck<'a>>,
) -> Result<UnpackedPackage, FetchError> {
    let mut unpacker = Unpacker::new(pkg, sink, caps, check);
    walk_in_memory(&mut unpacker, tar)?;
    unpacker.finish()
}

/// Gives every entry of `tar` to `unpacker`.
fn walk_in_memory<'a>(unpacker: &mut Unpacker<'a>, tar: &'a [u8]) -> Result<(), FetchError> {
    let pkg = unpacker.pkg;
    let mut archive = tar::Archive::new(io::Cursor::new(tar));
    let entries = archive.entries_with_seek().map_err(|e| bad(pkg, &e))?;
    for (seq, entry) in entries.enumerate() {
        let entry = entry.map_err(|e| bad(pkg, &e))?;
        unpacker
            .entry_in(seq, &entry, tar)
            .map_err(|e| e.or_stream(|io| bad(pkg, &io)))?;
    }
    Ok(())
}

/// How many decompressed bytes an archive within `caps` can take, headers and padding
/// included.
fn decompressed_limit(caps: &ExtractCaps) -> u64 {
    caps.max_unpacked_bytes
        .saturating_add(caps.max_entries.saturating_mul(1536))
        .saturating_add(1 << 20)
}

/// Either a finished error or an IO error from the stream to classify.
enum EntryError {
    Done(FetchError),
    Stream(io::Error),
}

impl EntryError {
    fn or_stream(self, f: impl FnOnce(io::Error) -> FetchError) -> FetchError {
        match self {
            Self::Done(e) => e,
            Self::Stream(e) => f(e),
        }
    }
}

impl From<FetchError> for EntryError {
    fn from(e: FetchError) -> Self {
        Self::Done(e)
    }
}

struct Unpacker<'a> {
    pkg: &'a str,
    sink: &'a dyn CasSink,
    caps: &'a ExtractCaps,
    files: IndexMap<String, UnpackedFile>,
    /// The archive position that produced each path's current entry.
    seqs: HashMap<String, usize>,
    /// Hard links: (seq, path, target path).
    links: Vec<(usize, String, String)>,
    pending: Vec<PendingFile<'a>>,
    pending_bytes: usize,
    /// The part of `pending_bytes` that is copies (see [`HELD_BYTES`]).
    held_bytes: usize,
    total: u64,
    /// The bytes of the latest `package.json` entry.
    package_json: Option<Vec<u8>>,
    /// The archive to judge before the first file is stored.
    check: Option<PendingCheck<'a>>,
    /// See [`UnpackedPackage::rewritten`].
    rewritten: Vec<String>,
    /// Set for a member of a group: every file waits for the group's one batch (see
    /// [`unpack_verified_group`]), however many bytes are pending.
    deferred: bool,
    /// This unpack counted as running (see `batch_writer.rs`); a group's members share the
    /// group's count.
    _active: Option<ActiveUnpack>,
}

impl<'a> Unpacker<'a> {
    fn new(
        pkg: &'a str,
        sink: &'a dyn CasSink,
        caps: &'a ExtractCaps,
        check: Option<PendingCheck<'a>>,
    ) -> Self {
        Unpacker {
            pkg,
            sink,
            caps,
            files: IndexMap::new(),
            seqs: HashMap::new(),
            links: Vec::new(),
            pending: Vec::new(),
            pending_bytes: 0,
            held_bytes: 0,
            total: 0,
            package_json: None,
            check,
            rewritten: Vec::new(),
            deferred: false,
            _active: Some(ActiveUnpack::start()),
        }
    }

    /// A streamed entry: its bytes are read out of the archive.
    fn entry<R: Read>(
        &mut self,
        seq: usize,
        mut entry: tar::Entry<'_, R>,
    ) -> Result<(), EntryError> {
        let Some(file) = self.admit(seq, &entry)? else {
            return Ok(());
        };
        let reserve = file.size.min(MAX_UNTRUSTED_PREALLOC);
        let out_of_memory = || FetchError::OutOfMemory {
            pkg: self.pkg.to_string(),
            bytes: reserve,
        };
        let mut read = |buf: &mut Vec<u8>| (&mut entry).take(file.size).read_to_end(buf);
        let content = if file.size >= POOLED_ENTRY_MIN {
            let mut buf = PooledBuf::take(reserve as usize).ok_or_else(out_of_memory)?;
            buf.clear();
            read(&mut buf).map_err(EntryError::Stream)?;
            Content::Pooled(buf)
        } else {
            let mut buf = Vec::new();
            buf.try_reserve_exact(reserve as usize)
                .map_err(|_| out_of_memory())?;
            read(&mut buf).map_err(EntryError::Stream)?;
            Content::Owned(buf)
        };
        let got = content.bytes().len();
        if got as u64 != file.size {
            return Err(self.cut_short(&entry.path_bytes(), got, file.size).into());
        }
        self.push(seq, file, content).map_err(EntryError::Done)
    }

    /// An entry of an archive held in memory: its bytes are a slice of `archive`, found from
    /// the entry's data offset, so nothing is copied.
    fn entry_in<R: Read>(
        &mut self,
        seq: usize,
        entry: &tar::Entry<'_, R>,
        archive: &'a [u8],
    ) -> Result<(), EntryError> {
        let Some(file) = self.admit(seq, entry)? else {
            return Ok(());
        };
        let start = usize::try_from(entry.raw_file_position()).unwrap_or(usize::MAX);
        let end = usize::try_from(file.size)
            .ok()
            .and_then(|size| start.checked_add(size))
            .filter(|end| *end <= archive.len());
        let Some(end) = end else {
            let available = archive.len().saturating_sub(start);
            return Err(self
                .cut_short(&entry.path_bytes(), available, file.size)
                .into());
        };
        self.push(seq, file, Content::Borrowed(&archive[start..end]))
            .map_err(EntryError::Done)
    }

    /// The checks every entry passes before its bytes are looked at: the entry count, a safe
    /// path, a kept type (hard links are noted for [`Unpacker::finish`]) and the size caps.
    fn admit<R: Read>(
        &mut self,
        seq: usize,
        entry: &tar::Entry<'_, R>,
    ) -> Result<Option<Admitted>, EntryError> {
        if seq as u64 >= self.caps.max_entries {
            return Err(self.too_large("entry count", self.caps.max_entries).into());
        }
        let kind = entry.header().entry_type();
        let raw_path = entry.path_bytes();
        let path =
            sanitize_entry_path(&raw_path).map_err(|reason| self.unsafe_path(&raw_path, reason))?;
        let keep_file = matches!(kind.as_byte(), b'0' | b'\0');
        let is_link = kind.is_hard_link();
        if !keep_file && !is_link {
            return Ok(None); // directories, symlinks, fifos, devices, sparse, …
        }
        let Some(path) = path else {
            return Ok(None);
        };
        if is_link {
            let target = entry
                .link_name_bytes()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let target =
                sanitize_entry_path(&target).map_err(|reason| self.unsafe_path(&target, reason))?;
            if let Some(target) = target {
                self.links.push((seq, path, target));
            }
            return Ok(None);
        }
        let size = entry.size();
        if size > self.caps.max_entry_bytes {
            return Err(self
                .too_large("per-file size", self.caps.max_entry_bytes)
                .into());
        }
        if self.total.saturating_add(size) > self.caps.max_unpacked_bytes {
            return Err(self
                .too_large("unpacked size", self.caps.max_unpacked_bytes)
                .into());
        }
        let mode = entry.header().mode().map_err(EntryError::Stream)?;
        Ok(Some(Admitted { path, size, mode }))
    }

    /// Queues an admitted file for the CAS, writing the queue out once it is large enough.
    fn push(&mut self, seq: usize, file: Admitted, content: Content<'a>) -> Result<(), FetchError> {
        self.total += file.size;
        if file.path == "package.json" {
            self.package_json = Some(content.bytes().to_vec());
        }
        self.pending_bytes += content.bytes().len();
        if !matches!(content, Content::Borrowed(_)) {
            self.held_bytes += content.bytes().len();
        }
        self.pending.push(PendingFile {
            path: file.path,
            content,
            mode: file.mode,
            seq,
        });
        if !self.deferred && (self.pending_bytes >= BATCH_BYTES || self.held_bytes >= HELD_BYTES) {
            self.flush()?;
        }
        Ok(())
    }

    fn cut_short(&self, raw_path: &[u8], got: usize, size: u64) -> FetchError {
        FetchError::BadTarball {
            pkg: self.pkg.to_string(),
            detail: format!(
                "entry {:?} is cut short ({got} of {size} bytes)",
                String::from_utf8_lossy(raw_path),
            ),
        }
    }

    fn flush(&mut self) -> Result<(), FetchError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // The whole batch is hashed in one call, so that short files of the whole batch fill
        // the lanes beside its long ones. (Hashed in chunks, as it once was, each chunk ended
        // with its longest file hashed alone.)
        let mut messages = Vec::with_capacity(self.pending.len() + 1);
        self.batch_messages(&mut messages);
        let hashes = sha512_many(&messages);
        drop(messages);
        self.store_batch(hashes)
    }

    /// The messages the pending batch hashes, in order: its files, then the archive if it
    /// is still to be judged.
    fn batch_messages<'s>(&'s self, messages: &mut Vec<&'s [u8]>) {
        messages.extend(self.pending.iter().map(|f| f.content.bytes()));
        if let Some(check) = &self.check {
            messages.push(check.archive);
        }
    }

    /// Judges the archive (if still to be judged) and writes the pending batch, given the
    /// digests of [`Unpacker::batch_messages`] in its order.
    fn store_batch(&mut self, mut hashes: Vec<[u8; 64]>) -> Result<(), FetchError> {
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        self.held_bytes = 0;
        if let Some(check) = self.check.take() {
            // `sha512_many` gives one digest per message; were one missing, the zero digest
            // matches no expectation, so the archive is refused, never waved through.
            let archive_digest = hashes.pop().unwrap_or([0; 64]);
            (check.verdict)(&archive_digest)?;
        }
        if batch.is_empty() {
            return Ok(());
        }
        if hashes.len() != batch.len() {
            // Never store a batch whose files and digests do not pair up.
            return Err(FetchError::Task {
                pkg: self.pkg.to_string(),
                message: format!("{} digests for {} files", hashes.len(), batch.len()),
            });
        }
        let hashed: Vec<HashedFile<'_>> = batch
            .iter()
            .zip(hashes)
            .map(|(f, digest)| HashedFile {
                path: &f.path,
                digest,
                content: f.content.bytes(),
                exec: f.mode & 0o111 != 0,
            })
            .collect();
        let digests = write_batch(self.sink, &hashed);
        drop(hashed);
        let checked_at = now_ms();
        for (file, digest) in batch.into_iter().zip(digests) {
            let digest = digest.map_err(|e| FetchError::Store {
                pkg: self.pkg.to_string(),
                message: e.message,
                disk_full: e.disk_full,
            })?;
            if self.seqs.insert(file.path.clone(), file.seq).is_some() {
                self.rewritten.push(file.path.clone());
            }
            self.files.insert(
                file.path,
                UnpackedFile {
                    digest,
                    mode: file.mode,
                    size: file.content.bytes().len() as u64,
                    checked_at,
                },
            );
        }
        Ok(())
    }

    fn finish(mut self) -> Result<UnpackedPackage, FetchError> {
        self.flush()?;
        // An archive without a single file was never hashed with a batch.
        if let Some(check) = self.check.take() {
            check.judge_alone()?;
        }
        // Hard links take the content of the entry they name, unless a later regular
        // entry replaced the link's own path.
        for (seq, path, target) in std::mem::take(&mut self.links) {
            let newer_exists = self.seqs.get(&path).is_some_and(|s| *s > seq);
            if newer_exists {
                continue;
            }
            if let Some(info) = self.files.get(&target).cloned() {
                self.seqs.insert(path.clone(), seq);
                self.rewritten.push(path.clone());
                self.files.insert(path, info);
            }
        }
        if !self.files.contains_key("package.json") {
            let content = PLACEHOLDER_PACKAGE_JSON.as_bytes();
            let digest = self
                .sink
                .write(content, false)
                .map_err(|e| FetchError::Store {
                    pkg: self.pkg.to_string(),
                    message: e.message,
                    disk_full: e.disk_full,
                })?;
            self.rewritten.push("package.json".to_string());
            self.files.insert(
                "package.json".to_string(),
                UnpackedFile {
                    digest,
                    mode: 0o644,
                    size: content.len() as u64,
                    checked_at: now_ms(),
                },
            );
        }
        // The bundled fields keep `scripts` and `gypfile`, all that `requires_build` reads.
        let manifest = self
            .package_json
            .as_deref()
            .and_then(parse_bundled_manifest);
        let requires_build =
            requires_build(manifest.as_ref(), self.files.keys().map(String::as_str));
        Ok(UnpackedPackage {
            manifest,
            files: self.files,
            requires_build,
            rewritten: self.rewritten,
        })
    }

    fn unsafe_path(&self, raw: &[u8], reason: &str) -> EntryError {
        EntryError::Done(FetchError::UnsafePath {
            pkg: self.pkg.to_string(),
            entry: String::from_utf8_lossy(raw).into_owned(),
            reason: reason.to_string(),
        })
    }

    fn too_large(&self, what: &'static str, limit: u64) -> FetchError {
        FetchError::TooLarge {
            pkg: self.pkg.to_string(),
            what,
            limit,
        }
    }
}

/// Whether `head` (at least one 512-byte block) starts with a tar header: the `ustar` magic,
/// or (an old-style header) a checksum that matches. A body that is neither this nor gzip is
/// refused as pnpm 12 refuses it, before any entry is read.
fn looks_like_tar(head: &[u8]) -> bool {
    let Some(header) = head.get(..512) else {
        return false;
    };
    if &header[257..262] == b"ustar" {
        return true;
    }
    let recorded = std::str::from_utf8(&header[148..156])
        .ok()
        .map(|field| field.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|field| u32::from_str_radix(field, 8).ok());
    let sum: u32 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    recorded == Some(sum)
}

fn bad(pkg: &str, e: &io::Error) -> FetchError {
    FetchError::BadTarball {
        pkg: pkg.to_string(),
        detail: e.to_string(),
    }
}

/// Milliseconds since the epoch, as pnpm's `checkedAt`.
pub(crate) fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Counts decompressed bytes and fails once the budget is spent.
struct LimitReader<R> {
    inner: R,
    remaining: u64,
    tripped: Arc<AtomicBool>,
}

impl<R: Read> Read for LimitReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.remaining {
            self.tripped.store(true, Ordering::SeqCst);
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}
