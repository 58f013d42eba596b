//! The tarball fetcher: one locked package in, a verified index row whose files are all in
//! the CAS out. Download, integrity check, gunzip, untar and CAS write, with retries.
//!
//! Flow of one package: [`Fetcher::fetch`] dedups concurrent calls, takes a network
//! permit, GETs the URL with the right auth header, and streams the body over a bounded
//! channel into a blocking extractor ([`unpack_tarball`]) that gunzips, untars, sanitises
//! paths, enforces [`ExtractCaps`] and writes files to the CAS while the download is still
//! running. The compressed bytes are hashed on the way; only when the body is complete and
//! its digest matches the lockfile's integrity is the index row queued. Transient failures
//! retry the whole attempt with backoff ([`RetryPolicy`]). [`Fetcher::fetch_into`] may also
//! unpack a whole body straight into the package directory it is installed to
//! ([`DirectTarget`]), each file there and in the CAS as one inode.

mod auth;
mod batch_writer;
mod buffers;
mod cas;
mod client;
mod client_tls;
mod dns_cache;
mod download;
mod entry_path;
mod error;
mod extract;
mod failure;
mod fetcher;
mod inflate;
mod integrity;
mod large_archives;
mod manifest;
mod network_window;
mod options;
mod package_dir;
mod packument;
mod proxy;
mod request;
mod retry;
mod stream;
mod trust;
mod unpack_job;
mod unpack_queue;
mod url;

pub use auth::AuthTable;
pub use cas::{extract_tarball, into_index_row};
pub use client::HttpClient;
pub use client_tls::{split_registry_key, Pem, RegistryTls};
pub use error::FetchError;
pub use extract::{
    unpack_tarball, unpack_tarball_bytes, unpack_verified_group, unpack_verified_tarball_bytes,
    CasSink, CasWriteError, ExtractCaps, GroupMember, HashedFile, TarballVerdict, UnpackedFile,
    UnpackedPackage, ONE_SHOT_MAX_TAR_BYTES,
};
pub use fetcher::{Fetcher, PackageToFetch};
pub use integrity::{sha512_sri, to_sri, Algorithm, ExpectedIntegrity, IntegrityHasher};
pub use manifest::{
    gyp_opted_out, normalize_bundled_manifest, requires_build, PLACEHOLDER_PACKAGE_JSON,
};
pub use network_window::NetworkShare;
pub use options::{
    default_network_concurrency, default_user_agent, EventSink, FetchEvent, FetcherOptions,
    DEFAULT_LARGE_ARCHIVE_BUDGET_KIB, DEFAULT_WHOLE_BODY_MAX,
};
pub use package_dir::{DirectTarget, PackageDir};
pub use packument::{MetadataClient, PackumentKind};
pub use proxy::ProxyOptions;
pub use retry::{parse_retry_after, RetryPolicy};
pub use trust::TrustOptions;
pub use url::{
    local_tarball_path, normalize_registry, redact_url, resolve_tarball_url, tarball_url,
};
