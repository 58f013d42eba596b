//! One attempt at one package: GET the tarball and stream it through gunzip + untar +
//! CAS writes on a blocking thread while it downloads, hashing the compressed bytes for
//! the integrity check on the way.
//!
//! The attempt returns the unpacked package only when the body was complete and its
//! digest matched; publishing the row is the caller's job, after that.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use reqwest::header::RETRY_AFTER;
use std::sync::Arc;
use tack_store_dir::CasWriter;
use tokio::sync::{mpsc, oneshot, Semaphore, SemaphorePermit};

use crate::auth::AuthTable;
use crate::buffers::PooledBuf;
use crate::client::HttpClient;
use crate::error::FetchError;
use crate::extract::{unpack_tarball, ExtractCaps, UnpackedPackage};
use crate::failure::{
    self, is_client_certificate_page, is_html, CLIENT_CERTIFICATE_PAGE_HINT, PAGE_READ_LIMIT,
};
use crate::integrity::{to_sri, Algorithm, ExpectedIntegrity, IntegrityHasher};
use crate::large_archives::LargeArchives;
use crate::network_window::NetworkWindow;
use crate::package_dir::DirectTarget;
use crate::request::{self, Get, SendError, MAX_REDIRECTS};
use crate::retry::parse_retry_after;
use crate::stream::{ChannelReader, Chunk};
use crate::unpack_job::{queue_job, UnpackJob};
use crate::unpack_queue::UnpackQueue;
use crate::url::{host_and_port, origin, redact_url, strip_userinfo};

/// Chunks buffered between the network and the extractor.
const CHANNEL_CHUNKS: usize = 32;

/// What one attempt needs.
pub(crate) struct Attempt<'a> {
    pub client: &'a HttpClient,
    pub auth: &'a AuthTable,
    /// Writes the files; shared by every download of the install.
    pub cas: &'a Arc<CasWriter>,
    pub caps: ExtractCaps,
    /// See [`crate::FetcherOptions::whole_body_max`].
    pub whole_body_max: u64,
    pub slow_body: SlowBody,
    pub idle_timeout: Duration,
    pub pkg_id: &'a str,
    pub name: &'a str,
    pub url: &'a str,
    pub expected: Option<&'a ExpectedIntegrity>,
    /// Bodies read whole wait here for a worker (see `unpack_queue.rs`).
    pub unpack_queue: &'a Arc<UnpackQueue<UnpackJob>>,
    /// Streamed extractions at once (see [`Attempt::run_streamed`]).
    pub stream_slots: &'a Semaphore,
    /// See [`crate::FetcherOptions::body_budget_kib`].
    pub body_budget: &'a Semaphore,
    /// Its size in KiB: a body larger than the whole budget waits for all of it.
    pub body_budget_kib: u32,
    /// See [`crate::FetcherOptions::large_archive_budget_kib`].
    pub large_archives: &'a LargeArchives,
    /// Where a body read whole may be unpacked to (see [`crate::DirectTarget`]).
    pub target: Option<&'a Arc<DirectTarget>>,
    /// Told how long the response took to its headers.
    pub network: &'a NetworkWindow,
}

/// When a body being read whole goes on as a streamed one instead (see
/// [`crate::FetcherOptions::slow_body_min`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlowBody {
    pub min: u64,
    pub after: Duration,
}

impl SlowBody {
    /// Whether a body of `len` bytes, `received` of them in after `elapsed`, is slow.
    pub(crate) fn is_slow(&self, len: u64, received: u64, elapsed: Duration) -> bool {
        len >= self.min && received < len / 2 && elapsed >= self.after
    }
}

/// A failed attempt, with the server's `Retry-After` when it sent one.
pub(crate) struct AttemptError {
    pub error: FetchError,
    pub retry_after: Option<Duration>,
}

impl From<FetchError> for AttemptError {
    fn from(error: FetchError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

/// A successful attempt.
pub(crate) struct Downloaded {
    pub unpacked: UnpackedPackage,
    pub bytes: u64,
}

impl<'a> Attempt<'a> {
    /// Downloads and unpacks. `network` is the download's share of `network-concurrency`:
    /// a body read whole gives it back before it waits for an unpack worker (its memory counts
    /// against the body budget instead), a streamed one holds it to the end.
    pub(crate) async fn run(
        &self,
        network: SemaphorePermit<'_>,
    ) -> Result<Downloaded, AttemptError> {
        if let Some(path) = crate::url::local_tarball_path(self.url) {
            drop(network);
            return self.run_local(path).await;
        }
        let shown_url = redact_url(self.url);
        let request_url = strip_userinfo(self.url);
        let scope = self
            .name
            .starts_with('@')
            .then(|| self.name.split_once('/').map_or(self.name, |(s, _)| s));
        let asked = Instant::now();
        let response = self.send(&shown_url, request_url, scope).await?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let mut hint = FetchError::status_hint(status.as_u16(), &origin(&shown_url));
            if status.as_u16() == 400 && self.wants_client_certificate(response).await {
                hint = CLIENT_CERTIFICATE_PAGE_HINT.to_string();
            }
            return Err(AttemptError {
                error: FetchError::HttpStatus {
                    pkg: self.pkg_id.to_string(),
                    url: shown_url.clone(),
                    status: status.as_u16(),
                    hint,
                },
                retry_after,
            });
        }
        // Only now: a front server's quick error page says nothing of the registry's distance.
        self.network
            .first_byte_after(&host_and_port(self.url), asked.elapsed());
        let content_length = response.content_length();
        if let Some(len) = content_length.filter(|len| *len <= self.whole_body_max) {
            return self.run_buffered(response, len, shown_url, network).await;
        }

        let slot = self
            .stream_slots
            .acquire()
            .await
            .map_err(|e| self.task_error(e))?;
        self.run_streamed(
            response.bytes_stream(),
            None,
            content_length,
            shown_url,
            slot,
        )
        .await
    }

    /// Streams the body through gunzip + untar + CAS writes on a blocking thread while it
    /// downloads, hashing it for the integrity check on the way. `prefix` is what was read
    /// before the body was handed over (see [`Attempt::run_buffered`]).
    ///
    /// A streamed extraction holds a stream slot (`_slot`) and no unpack worker: it holds a
    /// few chunks and a few MiB of files (see `HELD_BYTES` in `extract.rs`), not a whole
    /// body, and spends most of its time waiting for the network. When it held an unpack
    /// slot for that time, every whole-body unpack stalled behind a few slow downloads.
    async fn run_streamed<S>(
        &self,
        mut body: S,
        prefix: Option<Bytes>,
        content_length: Option<u64>,
        shown_url: String,
        _slot: SemaphorePermit<'_>,
    ) -> Result<Downloaded, AttemptError>
    where
        S: Stream<Item = reqwest::Result<Bytes>> + Unpin,
    {
        let algorithm = self.expected.map_or(Algorithm::Sha512, |e| e.algorithm);
        let (tx, rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
        let extractor = {
            let cas = Arc::clone(self.cas);
            let caps = self.caps;
            let pkg = self.pkg_id.to_string();
            tokio::task::spawn_blocking(move || {
                let mut reader = ChannelReader::new(rx, IntegrityHasher::new(algorithm));
                let result = unpack_tarball(&mut reader, &pkg, &*cas, &caps);
                // Hash whatever the extractor did not need (gzip padding, or the rest of
                // the body after a failure) so the integrity verdict covers every byte.
                let drained = reader.drain();
                let complete = drained.is_ok() && reader.ended();
                let (hasher, received) = reader.finish();
                (result, hasher.finish(), received, complete)
            })
        };

        let mut pending = prefix.filter(|bytes| !bytes.is_empty());
        let mut received: u64 = 0;
        let download_error: Option<FetchError> = loop {
            let next = match pending.take() {
                Some(bytes) => Ok(Some(Ok(bytes))),
                None => tokio::time::timeout(self.idle_timeout, body.next()).await,
            };
            match next {
                Err(_) => break Some(self.idle_error(&shown_url)),
                Ok(None) => {
                    if let Some(expected) = content_length.filter(|cl| *cl != received) {
                        break Some(self.truncated(&shown_url, expected, received));
                    }
                    // The extractor may have stopped already; then it does not need `End`.
                    let _ = tx.send(Chunk::End).await;
                    break None;
                }
                Ok(Some(Ok(bytes))) => {
                    received += bytes.len() as u64;
                    if let Some(expected) = content_length.filter(|cl| received > *cl) {
                        break Some(self.truncated(&shown_url, expected, received));
                    }
                    if tx.send(Chunk::Data(bytes)).await.is_err() {
                        // The extractor gave up; its error explains why.
                        break None;
                    }
                }
                Ok(Some(Err(e))) => {
                    break Some(match content_length {
                        Some(expected) if received < expected => {
                            self.truncated(&shown_url, expected, received)
                        }
                        _ => self.network_error(&shown_url, &e),
                    });
                }
            }
        };
        drop(tx);
        drop(body);
        let joined = extractor.await;
        if let Some(error) = download_error {
            return Err(error.into());
        }
        let (result, (algo, digest), hashed, complete) = joined.map_err(|e| self.task_error(e))?;
        if let Some(expected) = self.expected {
            // Only a complete body gives a meaningful verdict.
            if complete && !expected.matches(&digest) {
                return Err(FetchError::Integrity {
                    pkg: self.pkg_id.to_string(),
                    url: shown_url,
                    expected: expected.display(),
                    actual: to_sri(algo, &digest),
                }
                .into());
            }
        }
        let unpacked = result?;
        if !complete {
            return Err(self
                .truncated(&shown_url, content_length.unwrap_or(received), hashed)
                .into());
        }
        Ok(Downloaded {
            unpacked,
            bytes: received,
        })
    }

    /// A body of known, modest size: read it whole and unpack it from memory. Its sha512 is
    /// checked with the first batch of files, before any of them is stored
    /// ([`unpack_verified_tarball_bytes`]); an older algorithm is checked before unpacking.
    /// Nothing reaches the CAS unless the digest matched.
    /// A large body that arrives slowly goes on as a streamed one
    /// ([`Attempt::run_streamed`]): then, as for every streamed body, files reach the CAS
    /// before the digest is known (content-addressed, they are right whatever the verdict),
    /// and the row is published only after it matched.
    async fn run_buffered(
        &self,
        response: reqwest::Response,
        len: u64,
        shown_url: String,
        network: SemaphorePermit<'_>,
    ) -> Result<Downloaded, AttemptError> {
        let kib = u32::try_from(len.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .min(self.body_budget_kib.max(1));
        let _memory = self
            .body_budget
            .acquire_many(kib)
            .await
            .map_err(|e| self.task_error(e))?;
        let mut body = response.bytes_stream();
        let reading_since = Instant::now();
        // `len` is at most `whole_body_max`, so the announced size is safe to reserve.
        let mut buf = PooledBuf::take(usize::try_from(len).unwrap_or(0)).ok_or_else(|| {
            FetchError::OutOfMemory {
                pkg: self.pkg_id.to_string(),
                bytes: len,
            }
        })?;
        buf.clear();
        loop {
            match tokio::time::timeout(self.idle_timeout, body.next()).await {
                Err(_) => return Err(self.idle_error(&shown_url).into()),
                Ok(None) => break,
                Ok(Some(Ok(bytes))) => {
                    if (buf.len() + bytes.len()) as u64 > len {
                        let received = (buf.len() + bytes.len()) as u64;
                        return Err(self.truncated(&shown_url, len, received).into());
                    }
                    buf.extend_from_slice(&bytes);
                    let elapsed = reading_since.elapsed();
                    let slow = self.slow_body.is_slow(len, buf.len() as u64, elapsed);
                    // Only when a stream slot is free: otherwise the body is read whole.
                    if let Some(slot) = slow.then(|| self.stream_slots.try_acquire().ok()).flatten()
                    {
                        tack_fs::phase_timer::note(
                            &format!(
                                "{} of {len} bytes in: {} goes on streamed",
                                buf.len(),
                                self.pkg_id
                            ),
                            reading_since,
                        );
                        // Unpack what is in while the rest arrives. The stream holds its own
                        // few MiB from here on, so the body budget goes back.
                        let prefix = Bytes::from(buf.into_vec());
                        drop(_memory);
                        return self
                            .run_streamed(body, Some(prefix), Some(len), shown_url, slot)
                            .await;
                    }
                }
                Ok(Some(Err(e))) => {
                    let received = buf.len() as u64;
                    return Err(if received < len {
                        self.truncated(&shown_url, len, received)
                    } else {
                        self.network_error(&shown_url, &e)
                    }
                    .into());
                }
            }
        }
        drop(body);
        drop(network);
        if buf.len() as u64 != len {
            return Err(self.truncated(&shown_url, len, buf.len() as u64).into());
        }
        self.unpack_whole(buf, len, shown_url).await
    }

    /// A `file:` tarball (`file:///abs/path.tgz`, see [`crate::url::local_tarball_path`]): read
    /// from disk whole, then judged and unpacked as a downloaded body is.
    async fn run_local(&self, path: &std::path::Path) -> Result<Downloaded, AttemptError> {
        let read_error = |e: std::io::Error| FetchError::LocalTarball {
            pkg: self.pkg_id.to_string(),
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let bytes = tokio::fs::read(path).await.map_err(read_error)?;
        let len = bytes.len() as u64;
        let mut buf = PooledBuf::take(bytes.len()).ok_or_else(|| FetchError::OutOfMemory {
            pkg: self.pkg_id.to_string(),
            bytes: len,
        })?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        drop(bytes);
        self.unpack_whole(buf, len, self.url.to_string()).await
    }

    /// Hands a whole body to an unpack worker and waits for the unpacked package (judged
    /// against the expected integrity there).
    async fn unpack_whole(
        &self,
        buf: PooledBuf,
        len: u64,
        shown_url: String,
    ) -> Result<Downloaded, AttemptError> {
        let _room = self
            .large_archives
            .room_for(&buf)
            .await
            .map_err(|e| self.task_error(e))?;
        let (done, result) = oneshot::channel();
        let job = UnpackJob {
            body: buf,
            pkg: self.pkg_id.to_string(),
            shown_url,
            expected: self.expected.cloned(),
            target: self.target.cloned(),
            cas: Arc::clone(self.cas),
            caps: self.caps,
            done,
        };
        queue_job(self.unpack_queue, len, job);
        // The body's memory and its room among the large archives are held until here.
        let unpacked = result
            .await
            .map_err(|_| self.task_error("the unpack worker stopped before it answered"))??;
        Ok(Downloaded {
            unpacked,
            bytes: len,
        })
    }

    /// A task or semaphore of this download failed (a join error, a closed semaphore).
    fn task_error(&self, e: impl std::fmt::Display) -> FetchError {
        FetchError::Task {
            pkg: self.pkg_id.to_string(),
            message: e.to_string(),
        }
    }

    fn idle_error(&self, url: &str) -> FetchError {
        FetchError::IdleTimeout {
            pkg: self.pkg_id.to_string(),
            url: url.to_string(),
            timeout: self.idle_timeout,
        }
    }

    /// Sends the GET through `request::send` (the client and credentials of each hop).
    async fn send(
        &self,
        shown_url: &str,
        request_url: String,
        scope: Option<&str>,
    ) -> Result<reqwest::Response, AttemptError> {
        let get = Get {
            client: self.client,
            auth: self.auth,
            idle_timeout: self.idle_timeout,
            auth_url: self.url.to_string(),
            request_url,
            scope,
            accept: None,
            accept_encoding: "identity",
        };
        request::send(get).await.map_err(|e| match e {
            SendError::Idle => self.idle_error(shown_url).into(),
            SendError::Network(e) => self.network_error(shown_url, &e).into(),
            SendError::TooManyRedirects => FetchError::TooManyRedirects {
                pkg: self.pkg_id.to_string(),
                url: shown_url.to_string(),
                message: format!("more than {MAX_REDIRECTS} redirects"),
            }
            .into(),
        })
    }

    /// Whether a 400's page is nginx's for a missing or refused client certificate, which
    /// it sends under `ssl_verify_client optional` instead of ending the handshake. Reads at
    /// most the page's first 8 KiB, and for at most [`PAGE_READ_LIMIT`] (a 400 is never
    /// retried, so this only delays the error by that much).
    async fn wants_client_certificate(&self, mut response: reqwest::Response) -> bool {
        const MAX: usize = 8 << 10;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !content_type.as_deref().is_some_and(is_html) {
            return false;
        }
        let deadline = tokio::time::Instant::now() + self.idle_timeout.min(PAGE_READ_LIMIT);
        let mut page = Vec::new();
        while page.len() < MAX {
            match tokio::time::timeout_at(deadline, response.chunk()).await {
                Ok(Ok(Some(chunk))) => page.extend_from_slice(&chunk),
                _ => break,
            }
        }
        is_client_certificate_page(&page)
    }

    fn truncated(&self, url: &str, expected: u64, received: u64) -> FetchError {
        FetchError::Truncated {
            pkg: self.pkg_id.to_string(),
            url: url.to_string(),
            expected,
            received,
        }
    }

    fn network_error(&self, url: &str, e: &reqwest::Error) -> FetchError {
        failure::network_error(self.pkg_id, self.client, url, e)
    }
}

#[cfg(test)]
mod tests {
    use super::SlowBody;
    use std::time::Duration;

    #[test]
    fn a_body_is_slow_when_large_late_and_less_than_half_in() {
        let rule = SlowBody {
            min: 1 << 20,
            after: Duration::from_millis(40),
        };
        let late = Duration::from_millis(50);
        assert!(rule.is_slow(2 << 20, 100_000, late));
        // Too early to tell, small enough to wait for, or mostly in already.
        assert!(!rule.is_slow(2 << 20, 100_000, Duration::from_millis(10)));
        assert!(!rule.is_slow(512 << 10, 1_000, late));
        assert!(!rule.is_slow(2 << 20, 1 << 20, late));
    }
}
