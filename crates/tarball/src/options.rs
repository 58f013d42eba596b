//! The fetcher's settings and progress events, with pnpm's defaults.

use std::sync::Arc;
use std::time::Duration;

use tack_store_dir::StoreDir;

use crate::auth::AuthTable;
use crate::extract::ExtractCaps;
use crate::network_window::NetworkShare;
use crate::proxy::ProxyOptions;
use crate::retry::RetryPolicy;
use crate::trust::TrustOptions;

/// Something worth telling the user while fetching.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FetchEvent {
    /// A package is in the store and its row is queued.
    Fetched { pkg_id: String, bytes: u64 },
    /// An attempt failed and will be tried again after `delay`.
    Retry {
        pkg_id: String,
        /// Redacted.
        url: String,
        /// 1-based number of the retry about to happen.
        attempt: u32,
        max_retries: u32,
        reason: String,
        delay: Duration,
    },
    /// Something was set up differently from what the settings asked, and the install goes
    /// on (an unreadable `NODE_EXTRA_CA_CERTS`).
    Warning { message: String },
}

/// Receives [`FetchEvent`]s; called from whatever task fetches the package.
pub type EventSink = Arc<dyn Fn(&FetchEvent) + Send + Sync>;

/// How to fetch.
#[derive(Clone)]
pub struct FetcherOptions {
    pub store: StoreDir,
    pub auth: AuthTable,
    /// Tarball downloads in flight at once (`network-concurrency`): the most, unless
    /// [`FetcherOptions::network_concurrency_set`].
    pub network_concurrency: usize,
    /// The user set `network-concurrency`: exactly that many downloads are in flight. When
    /// not, fewer are until the answers show a distant or slow registry (see
    /// `network_window.rs`).
    pub network_concurrency_set: bool,
    pub retry: RetryPolicy,
    /// Longest wait for the response head or the next body chunk (`fetch-timeout`); reset
    /// on every chunk, so a slow but moving download is never killed.
    pub idle_timeout: Duration,
    /// Never touch the network; packages must be in the store already.
    pub offline: bool,
    pub user_agent: String,
    /// The certificate authorities trusted (`ca`, `cafile`, `strict-ssl`, Node's variables).
    pub trust: TrustOptions,
    /// The proxies (`proxy`, `https-proxy`, `no-proxy`, the variables).
    pub proxy: ProxyOptions,
    /// `local-address`: the IP address of this machine that connections are made from, as
    /// given in `.npmrc` (checked when the client is built).
    pub local_address: Option<String>,
    /// Refuse tarballs whose resolution has no integrity (frozen lockfile).
    pub require_integrity: bool,
    /// Picks `built` vs `not-built` in the key of integrity-less packages.
    pub ignore_scripts: bool,
    pub caps: ExtractCaps,
    /// Bodies announced (`Content-Length`) at most this large are read whole, checked, and
    /// unpacked from memory with a one-shot gunzip; larger or unannounced ones stream into
    /// the extractor while they download. `0` streams everything.
    pub whole_body_max: u64,
    /// A body read whole that is this large and still less than half in after
    /// [`FetcherOptions::slow_body_after`] goes on as a streamed one: its files are
    /// unpacked while the rest arrives, instead of all at once after its last byte. Over a
    /// slow link the largest tarballs arrive last (every connection gets its share of the
    /// link), and unpacking them after the link went quiet was the tail of an install.
    pub slow_body_min: u64,
    /// See [`FetcherOptions::slow_body_min`]. 150 ms: on loopback, with both cores busy
    /// unpacking, the largest bodies of the medium fixture (1–4.4 MB) took 2–40 ms to read
    /// whole, and with 40 ms here one to five of them per cold install went on streamed,
    /// inflated by the streaming decoder (about 60 ms more CPU for TypeScript alone). Over
    /// the emulated link of the benchmarks (200 Mbit/s, 50 ms) each of them still had less
    /// than 200 KB in at 150 ms, and all five went on streamed.
    pub slow_body_after: Duration,
    /// Workers unpacking (hashing, inflating, writing to the CAS) whole bodies at once.
    /// Unpacking is CPU-bound: with one per download, threads that each hold a whole
    /// inflated tarball fought for two cores. Streamed bodies have slots of their own, twice
    /// as many: they hold a few MiB each and mostly wait for the network. A worker takes the
    /// largest body waiting, and small ones in groups (see `unpack_queue.rs`).
    pub unpack_concurrency: usize,
    /// Memory (KiB) that bodies read whole may hold between their download and the end of
    /// their unpacking. Such a body gives its download slot back as soon as it is read, so
    /// that downloads go on while the cores unpack; this budget bounds the bodies waiting.
    pub body_budget_kib: u32,
    /// Inflated tar (KiB) that the archives inflating to more than 2 MiB may hold at once;
    /// smaller archives are not counted. One larger than the budget runs alone among them.
    pub large_archive_budget_kib: u32,
    pub on_event: Option<EventSink>,
    /// The window this fetcher's requests share with other users of these options (see
    /// [`FetcherOptions::share_network`]); `None`: a window of its own.
    pub network: Option<NetworkShare>,
}

impl std::fmt::Debug for FetcherOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetcherOptions")
            .field("store", &self.store.root())
            .field("auth", &self.auth)
            .field("network_concurrency", &self.network_concurrency)
            .field("network_concurrency_set", &self.network_concurrency_set)
            .field("retry", &self.retry)
            .field("idle_timeout", &self.idle_timeout)
            .field("offline", &self.offline)
            .field("user_agent", &self.user_agent)
            .field("trust", &self.trust)
            .field("local_address", &self.local_address)
            .field("require_integrity", &self.require_integrity)
            .field("caps", &self.caps)
            .field("whole_body_max", &self.whole_body_max)
            .field("slow_body_min", &self.slow_body_min)
            .field("slow_body_after", &self.slow_body_after)
            .field("unpack_concurrency", &self.unpack_concurrency)
            .field("body_budget_kib", &self.body_budget_kib)
            .field("large_archive_budget_kib", &self.large_archive_budget_kib)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

impl FetcherOptions {
    /// pnpm's defaults for everything but the store.
    pub fn new(store: StoreDir) -> Self {
        Self {
            store,
            auth: AuthTable::default(),
            network_concurrency: default_network_concurrency(),
            network_concurrency_set: false,
            retry: RetryPolicy::default(),
            idle_timeout: Duration::from_secs(60),
            offline: false,
            user_agent: default_user_agent(),
            trust: TrustOptions::default(),
            proxy: ProxyOptions::default(),
            local_address: None,
            require_integrity: false,
            ignore_scripts: false,
            caps: ExtractCaps::default(),
            whole_body_max: DEFAULT_WHOLE_BODY_MAX,
            slow_body_min: 1 << 20,
            slow_body_after: Duration::from_millis(150),
            unpack_concurrency: default_unpack_concurrency(),
            body_budget_kib: default_body_budget_kib(),
            large_archive_budget_kib: DEFAULT_LARGE_ARCHIVE_BUDGET_KIB,
            on_event: None,
            network: None,
        }
    }

    /// Makes the clones of these options share one network window, sized by the
    /// concurrency settings as they are now: a fetcher and a [`crate::MetadataClient`] built
    /// from them keep `network-concurrency` between them.
    pub fn share_network(&mut self) {
        self.network = Some(NetworkShare::for_options(self));
    }

    /// The shared window, or a new one of these options' own.
    pub(crate) fn network_share(&self) -> NetworkShare {
        self.network
            .clone()
            .unwrap_or_else(|| NetworkShare::for_options(self))
    }
}

/// Most npm tarballs are far below 4 MiB, and a few large ones (a compiler, a native
/// binary) sit just above it. Read whole, such a body is inflated by libdeflate in one call
/// instead of by the streaming decoder: the 4.4 MB tarball of the medium fixture's
/// TypeScript cost about 60 ms of CPU streamed, a cold install's largest single item after
/// hashing. The body budget ([`default_body_budget_kib`]) still bounds how many are held
/// at once.
pub const DEFAULT_WHOLE_BODY_MAX: u64 = 8 << 20;

/// Room for the largest archive of a typical project (a compiler's tar is 20–25 MiB), or
/// for two or three bundlers' at once. In the medium fixture four archives inflate to
/// 10–24 MiB each; with four unpack workers they were often inflated together, about 60 MiB
/// of a cold install's peak.
pub const DEFAULT_LARGE_ARCHIVE_BUDGET_KIB: u32 = 24 << 10;

/// The body size the body budget is counted in: two of them per unpack worker.
const BUDGETED_BODY: u64 = 2 << 20;

/// At most 128 downloads in flight, whatever the machine. Tarball downloads are
/// latency-bound: each request waits a round trip before its first byte, and HTTP/1.1 sends
/// one request per connection at a time. pnpm 12 keeps `clamp(3 × (cores − 1), 64, 96)`; a
/// cold install of the medium fixture over the emulated 50 ms / 200 Mbit link took 2.05 s
/// with 64 and 1.89 s with 128 (256 gained nothing more). Near the registry fewer are in
/// flight unless the user set the number (see `network_window.rs`).
pub fn default_network_concurrency() -> usize {
    128
}

/// Room for two bodies of 2 MiB per unpack worker (16 MiB on two cores): enough to keep every
/// worker fed (most npm tarballs are far smaller, and a larger one takes what it needs up
/// to the whole budget), and small enough that bodies downloaded faster than they can be
/// unpacked (a fast link, a slow machine) do not pile up in memory. With the large-archive
/// budget and the pool's cap, peak RSS of a medium install with a wiped store was
/// 93–105 MiB with 16 MiB here, against 103–117 MiB with 32 MiB.
pub fn default_body_budget_kib() -> u32 {
    let bytes = 2 * default_unpack_concurrency() as u64 * BUDGETED_BODY;
    u32::try_from(bytes / 1024).unwrap_or(u32::MAX)
}

/// Two unpacks per core: one keeps the core busy, the other covers the moments a writer
/// waits on the disk.
pub fn default_unpack_concurrency() -> usize {
    2 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `tack/<version> <os> <arch>`.
pub fn default_user_agent() -> String {
    format!(
        "tack/{} {} {}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
