//! The fetcher: bounded concurrency, in-process dedup, the retry loop, offline mode, and
//! publishing the index row once a package is fully and verifiably in the CAS.
//!
//! Dedup uses one `tokio::sync::OnceCell` per package key. The map guard is dropped
//! before any `.await`; waiters wait on the cell itself, so none can miss the wake-up, and
//! if the task driving the download is cancelled another waiter takes over. A failure
//! wakes every waiter with the same error and then leaves the map, so a later call may
//! try again.

use std::sync::Arc;

use dashmap::DashMap;
use tack_store_dir::{
    check_pkg_files_integrity, git_hosted_store_index_key, store_index_key, CasWriter, IndexWriter,
    PackageFilesIndex, StoreIndex, VerifiedFilesCache,
};
use tokio::sync::{OnceCell, Semaphore};

use crate::cas::into_index_row;
use crate::client::HttpClient;
use crate::download::Attempt;
use crate::download::SlowBody;
use crate::error::FetchError;
use crate::integrity::ExpectedIntegrity;
use crate::large_archives::LargeArchives;
use crate::network_window::NetworkShare;
use crate::options::{FetchEvent, FetcherOptions};
use crate::package_dir::DirectTarget;
use crate::unpack_job::{UnpackJob, GROUP_LIMITS};
use crate::unpack_queue::UnpackQueue;
use crate::url::redact_url;

/// One locked package to bring into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageToFetch {
    /// pnpm's package id (`name@version`, or the bare resolution id for URL deps).
    pub pkg_id: String,
    pub name: String,
    pub version: String,
    /// The lockfile's SRI string.
    pub integrity: Option<String>,
    /// The absolute tarball URL (see [`crate::resolve_tarball_url`]).
    pub tarball_url: String,
    /// A git host's archive of a commit (a git-hosted dependency), which pnpm fetches
    /// without an integrity when the lockfile pins none. Its files are prepared and packed
    /// before the package's own row is written (see [`Fetcher::record_row`]), so without an
    /// integrity no row is recorded for the archive itself: its key would be the package's.
    pub git_archive: bool,
}

type Slot = Arc<OnceCell<Result<Arc<PackageFilesIndex>, FetchError>>>;

/// Downloads packages into the store. Cheap to clone; clones share the client, the
/// concurrency limit and the dedup map.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    opts: FetcherOptions,
    client: HttpClient,
    network: NetworkShare,
    /// Bodies read whole waiting for one of [`FetcherOptions::unpack_concurrency`] workers.
    unpack: Arc<UnpackQueue<UnpackJob>>,
    /// Streamed extractions at once: twice [`FetcherOptions::unpack_concurrency`].
    streams: Semaphore,
    /// See [`FetcherOptions::body_budget_kib`].
    bodies: Semaphore,
    /// See [`FetcherOptions::large_archive_budget_kib`].
    large_archives: LargeArchives,
    index_writer: Arc<IndexWriter>,
    /// Every download's CAS writes go through this one writer, so a file shipped by many
    /// packages is written once.
    cas: Arc<CasWriter>,
    inflight: DashMap<String, Slot>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Builds the shared HTTP client ([`HttpClient::new`]) and the fetcher around it.
    pub fn new(opts: FetcherOptions, index_writer: Arc<IndexWriter>) -> Result<Self, FetchError> {
        let client = HttpClient::new(&opts)?;
        Ok(Self::with_client(opts, client, index_writer))
    }

    /// The fetcher around a client built beforehand (see [`HttpClient`]) for the same
    /// options.
    pub fn with_client(
        opts: FetcherOptions,
        client: HttpClient,
        index_writer: Arc<IndexWriter>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                cas: Arc::new(CasWriter::new(opts.store.clone())),
                network: opts.network_share(),
                unpack: Arc::new(UnpackQueue::new(opts.unpack_concurrency, GROUP_LIMITS)),
                streams: Semaphore::new(2 * opts.unpack_concurrency.max(1)),
                bodies: Semaphore::new(opts.body_budget_kib.max(1) as usize),
                large_archives: LargeArchives::new(opts.large_archive_budget_kib),
                opts,
                client,
                index_writer,
                inflight: DashMap::new(),
            }),
        }
    }

    /// Brings `pkg` into the store and returns its index row (already queued to the
    /// index writer). Concurrent calls for the same package share one download.
    pub async fn fetch(&self, pkg: &PackageToFetch) -> Result<Arc<PackageFilesIndex>, FetchError> {
        self.fetch_into(pkg, None).await
    }

    /// [`Fetcher::fetch`], unpacking straight into `target`'s package directory when this
    /// call is the one that downloads (a concurrent call for the same package may be) and
    /// the body is read whole; [`DirectTarget::filled`] tells afterwards whether it was.
    pub async fn fetch_into(
        &self,
        pkg: &PackageToFetch,
        target: Option<Arc<DirectTarget>>,
    ) -> Result<Arc<PackageFilesIndex>, FetchError> {
        let key = self.index_key(pkg);
        // The guard lives only for this statement: never across an `.await`.
        let slot: Slot = Arc::clone(self.inner.inflight.entry(key.clone()).or_default().value());
        let result = slot
            .get_or_init(|| self.fetch_uncached(pkg, key.clone(), target))
            .await
            .clone();
        if result.is_err() {
            self.inner
                .inflight
                .remove_if(&key, |_, v| Arc::ptr_eq(v, &slot));
        }
        result
    }

    /// Says that every package this install needs has been fetched: the index writer
    /// commits its last rows now (see [`IndexWriter::seal`]), while the install finishes
    /// its imports, instead of when the install is done. A row of a fetch that ends after
    /// this call is not recorded: that package is only downloaded again next time.
    pub fn all_fetched(&self) {
        self.inner.index_writer.seal();
    }

    /// Queues a row this fetcher did not download itself (a git dependency's prepared
    /// files) for the index writer. Call it before [`Fetcher::all_fetched`]: a row queued
    /// after the writer is sealed is not recorded.
    pub fn record_row(&self, key: String, row: Arc<PackageFilesIndex>) {
        self.inner.index_writer.queue(key, row);
    }

    /// The `index.db` key the row is published under.
    pub fn index_key(&self, pkg: &PackageToFetch) -> String {
        match &pkg.integrity {
            Some(integrity) => store_index_key(integrity, &pkg.pkg_id),
            None => git_hosted_store_index_key(&pkg.pkg_id, !self.inner.opts.ignore_scripts),
        }
    }

    async fn fetch_uncached(
        &self,
        pkg: &PackageToFetch,
        key: String,
        target: Option<Arc<DirectTarget>>,
    ) -> Result<Arc<PackageFilesIndex>, FetchError> {
        let opts = &self.inner.opts;
        let shown_url = redact_url(&pkg.tarball_url);
        let expected =
            match &pkg.integrity {
                Some(sri) => Some(ExpectedIntegrity::parse(sri).ok_or_else(|| {
                    FetchError::InvalidIntegrity {
                        pkg: pkg.pkg_id.clone(),
                        value: sri.clone(),
                    }
                })?),
                None if opts.require_integrity && !pkg.git_archive => {
                    return Err(FetchError::MissingIntegrity {
                        pkg: pkg.pkg_id.clone(),
                        url: shown_url,
                    });
                }
                None => None,
            };
        if opts.offline {
            return self.load_offline(pkg, key, shown_url).await;
        }

        let mut retry = 0;
        let downloaded = loop {
            let attempt = Attempt {
                client: &self.inner.client,
                auth: &opts.auth,
                cas: &self.inner.cas,
                caps: opts.caps,
                whole_body_max: opts.whole_body_max,
                slow_body: SlowBody {
                    min: opts.slow_body_min,
                    after: opts.slow_body_after,
                },
                idle_timeout: opts.idle_timeout,
                pkg_id: &pkg.pkg_id,
                name: &pkg.name,
                url: &pkg.tarball_url,
                expected: expected.as_ref(),
                unpack_queue: &self.inner.unpack,
                stream_slots: &self.inner.streams,
                body_budget: &self.inner.bodies,
                body_budget_kib: opts.body_budget_kib,
                large_archives: &self.inner.large_archives,
                target: target.as_ref(),
                network: self.inner.network.window(),
            };
            let outcome =
                {
                    let permit = self.inner.network.window().acquire().await.map_err(|e| {
                        FetchError::Task {
                            pkg: pkg.pkg_id.clone(),
                            message: e.to_string(),
                        }
                    })?;
                    attempt.run(permit).await
                };
            match outcome {
                Ok(d) => break d,
                // A local tarball reads the same bytes again: nothing to wait for.
                Err(failed)
                    if failed.error.is_retryable()
                        && retry < opts.retry.retries
                        && crate::url::local_tarball_path(&pkg.tarball_url).is_none() =>
                {
                    retry += 1;
                    let delay = opts.retry.delay_with_hint(retry, failed.retry_after);
                    if let Some(sink) = &opts.on_event {
                        sink(&FetchEvent::Retry {
                            pkg_id: pkg.pkg_id.clone(),
                            url: shown_url.clone(),
                            attempt: retry,
                            max_retries: opts.retry.retries,
                            reason: failed.error.to_string(),
                            delay,
                        });
                    }
                    tokio::time::sleep(delay).await;
                }
                Err(failed) => return Err(failed.error),
            }
        };
        // Every file is in the CAS and the digest matched: now the row may be published.
        let row = Arc::new(into_index_row(downloaded.unpacked));
        if !(pkg.git_archive && pkg.integrity.is_none()) {
            self.inner.index_writer.queue(key, Arc::clone(&row));
        }
        if let Some(sink) = &opts.on_event {
            sink(&FetchEvent::Fetched {
                pkg_id: pkg.pkg_id.clone(),
                bytes: downloaded.bytes,
            });
        }
        Ok(row)
    }

    /// `--offline`: the row must be in `index.db` and its files intact.
    async fn load_offline(
        &self,
        pkg: &PackageToFetch,
        key: String,
        shown_url: String,
    ) -> Result<Arc<PackageFilesIndex>, FetchError> {
        let store = self.inner.opts.store.clone();
        let pkg_id = pkg.pkg_id.clone();
        let missing = FetchError::NoOfflineTarball {
            pkg: pkg.pkg_id.clone(),
            url: shown_url,
        };
        let found = tokio::task::spawn_blocking(move || {
            let index = StoreIndex::open(&store).ok()?;
            let mut rows = index.get_many(std::slice::from_ref(&key)).ok()?;
            let row = rows.remove(&key)?;
            check_pkg_files_integrity(&store, &row, &VerifiedFilesCache::default())
                .passed
                .then_some(row)
        })
        .await
        .map_err(|e| FetchError::Task {
            pkg: pkg_id,
            message: e.to_string(),
        })?;
        found.map(Arc::new).ok_or(missing)
    }
}
