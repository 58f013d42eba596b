//! What an unpack worker does: takes jobs from the [`UnpackQueue`], unpacks each body into
//! the CAS (or straight into its package directory), and sends each result back to the
//! download that is waiting for it.
//!
//! A group of small bodies whose archives are all judged by SHA-512, the usual case, goes
//! through `extract::unpack_verified_group`, so that their files share the hash lanes.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use tack_store_dir::CasWriter;
use tokio::sync::oneshot;

use crate::buffers::PooledBuf;
use crate::error::FetchError;
use crate::extract::{
    unpack_tarball_bytes, unpack_verified_group, unpack_verified_tarball_bytes, CasSink,
    ExtractCaps, GroupMember, UnpackedPackage,
};
use crate::integrity::{to_sri, Algorithm, ExpectedIntegrity, IntegrityHasher};
use crate::package_dir::{DirSink, DirectTarget, PackageDir};
use crate::unpack_queue::{GroupLimits, UnpackQueue};

/// Bodies of at most 256 KiB (most npm tarballs) go in groups of up to eight bodies and
/// 256 KiB: enough files to keep the hash lanes busy, and about a MiB of inflated tar. Twice
/// that (16 bodies, 512 KiB) raised the peak RSS of a cold install of the medium fixture by
/// about 4 MiB.
pub(crate) const GROUP_LIMITS: GroupLimits = GroupLimits {
    member_max_bytes: 256 << 10,
    group_max_bytes: 256 << 10,
    max_members: 8,
};

/// One body read whole, what it takes to judge and write it, and where its result goes.
pub(crate) struct UnpackJob {
    pub body: PooledBuf,
    pub pkg: String,
    /// The tarball's URL as errors show it.
    pub shown_url: String,
    pub expected: Option<ExpectedIntegrity>,
    pub target: Option<Arc<DirectTarget>>,
    pub cas: Arc<CasWriter>,
    pub caps: ExtractCaps,
    pub done: oneshot::Sender<Result<UnpackedPackage, FetchError>>,
}

/// Queues `job` for a body of `bytes`, starting a worker on a blocking thread when fewer
/// run than the queue allows. Must be called inside the Tokio runtime.
pub(crate) fn queue_job(queue: &Arc<UnpackQueue<UnpackJob>>, bytes: u64, job: UnpackJob) {
    if queue.push(bytes, job) {
        let queue = Arc::clone(queue);
        tokio::task::spawn_blocking(move || work(&queue));
    }
}

/// A worker: groups until none waits. A panic while unpacking a group drops its jobs,
/// so their downloads get an error, and the worker goes on with the next group.
fn work(queue: &UnpackQueue<UnpackJob>) {
    while let Some(group) = queue.next_group() {
        // A download that went away (its install failed, say) no longer wants its body.
        let group: Vec<UnpackJob> = group.into_iter().filter(|j| !j.done.is_closed()).collect();
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| unpack_group(group)));
    }
}

fn unpack_group(jobs: Vec<UnpackJob>) {
    let (mut grouped, mut alone): (Vec<UnpackJob>, Vec<UnpackJob>) = jobs
        .into_iter()
        .partition(|j| j.expected.as_ref().map(|e| e.algorithm) == Some(Algorithm::Sha512));
    if grouped.len() < 2 {
        alone.append(&mut grouped);
    }
    for job in alone {
        let result = job.unpack_alone();
        let _ = job.done.send(result);
    }
    if !grouped.is_empty() {
        unpack_together(grouped);
    }
}

/// Where one member of a group writes: its package directory, or only the CAS.
enum Sink<'a> {
    Dir(DirSink<'a>),
    Cas(&'a CasWriter),
}

impl Sink<'_> {
    fn as_dyn(&self) -> &dyn CasSink {
        match self {
            Sink::Dir(sink) => sink,
            Sink::Cas(cas) => *cas,
        }
    }
}

/// Jobs whose archives are judged by SHA-512, hashed in one batch.
fn unpack_together(jobs: Vec<UnpackJob>) {
    let dirs: Vec<Option<Arc<PackageDir>>> = jobs
        .iter()
        .map(|j| j.target.as_ref().and_then(|t| t.open()))
        .collect();
    let sinks: Vec<Sink<'_>> = jobs
        .iter()
        .zip(&dirs)
        .map(|(job, dir)| match dir {
            Some(dir) => Sink::Dir(DirSink::new(&job.cas, dir)),
            None => Sink::Cas(&job.cas),
        })
        .collect();
    let verdicts: Vec<_> = jobs
        .iter()
        .map(|job| move |digest: &[u8; 64]| job.judge(digest))
        .collect();
    let members: Vec<GroupMember<'_>> = jobs
        .iter()
        .zip(&sinks)
        .zip(&verdicts)
        .map(|((job, sink), verdict)| GroupMember {
            body: &job.body,
            pkg: &job.pkg,
            sink: sink.as_dyn(),
            verdict,
        })
        .collect();
    let caps = jobs[0].caps;
    let results = unpack_verified_group(&members, &caps);
    drop(members);
    let finished: Vec<Result<UnpackedPackage, FetchError>> = results
        .into_iter()
        .zip(&sinks)
        .zip(&jobs)
        .map(|((result, sink), job)| {
            let unpacked = result?;
            if let Sink::Dir(sink) = sink {
                job.complete_in(sink, &unpacked)?;
            }
            Ok(unpacked)
        })
        .collect();
    drop(verdicts);
    drop(sinks);
    for (job, result) in jobs.into_iter().zip(finished) {
        let _ = job.done.send(result);
    }
}

impl UnpackJob {
    /// The archive's verdict: matches what the lockfile expects, or an integrity error.
    fn judge(&self, digest: &[u8]) -> Result<(), FetchError> {
        match &self.expected {
            Some(expected) if !expected.matches(digest) => Err(FetchError::Integrity {
                pkg: self.pkg.clone(),
                url: self.shown_url.clone(),
                expected: expected.display(),
                actual: to_sri(expected.algorithm, digest),
            }),
            _ => Ok(()),
        }
    }

    /// Finishes a package unpacked into its own directory through `sink`, and tells its
    /// target the directory is filled.
    fn complete_in(
        &self,
        sink: &DirSink<'_>,
        unpacked: &UnpackedPackage,
    ) -> Result<(), FetchError> {
        sink.complete(unpacked, &self.pkg)?;
        if let Some(target) = &self.target {
            target.mark_filled();
        }
        Ok(())
    }

    /// Unpacks this body on its own.
    fn unpack_alone(&self) -> Result<UnpackedPackage, FetchError> {
        let body = &self.body[..];
        let cas = &*self.cas;
        match &self.expected {
            // The usual case: the digest is computed with the first batch of files.
            Some(expected) if expected.algorithm == Algorithm::Sha512 => {
                let verdict = |digest: &[u8; 64]| self.judge(digest);
                let Some(dir) = self.target.as_ref().and_then(|t| t.open()) else {
                    return unpack_verified_tarball_bytes(
                        body, &self.pkg, cas, &self.caps, &verdict,
                    );
                };
                let sink = DirSink::new(cas, &dir);
                let unpacked =
                    unpack_verified_tarball_bytes(body, &self.pkg, &sink, &self.caps, &verdict)?;
                self.complete_in(&sink, &unpacked)?;
                Ok(unpacked)
            }
            Some(expected) => {
                let mut hasher = IntegrityHasher::new(expected.algorithm);
                hasher.update(body);
                let (_, digest) = hasher.finish();
                self.judge(&digest)?;
                unpack_tarball_bytes(body, &self.pkg, cas, &self.caps)
            }
            None => unpack_tarball_bytes(body, &self.pkg, cas, &self.caps),
        }
    }
}
