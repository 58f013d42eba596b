//! Reading a package's metadata (its packument) from its registry.
//!
//! A frozen install resolves nothing, so it reads metadata for one reason only: pnpm 11+
//! checks the lockfile's versions against `minimumReleaseAge` before it trusts them, and the
//! publish times are in the packument. The abbreviated document (`Accept:
//! application/vnd.npm.install-v1+json`) is small and says when the package last changed;
//! the full one has every version's `time`. Both go through the install's clients, proxies
//! and credentials (`request.rs`), and are retried as a tarball is.
//!
//! Two things make a lockfile's check cheap on a distant registry, where it costs a round
//! trip per package name:
//! - as many requests in flight as the downloads would have: the same adaptive window
//!   (`network_window.rs`), which opens to `network-concurrency` once the answers show a
//!   distant registry (pnpm 12 keeps 64 in flight);
//! - gzip: a packument is JSON, a tenth of its size compressed, and registries serve it so
//!   when asked. The body is inflated here, up to [`MAX_PACKUMENT_BYTES`].

use std::io::Read as _;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_ENCODING, RETRY_AFTER};
use serde_json::Value;

use crate::auth::AuthTable;
use crate::client::HttpClient;
use crate::error::FetchError;
use crate::failure;
use crate::network_window::NetworkShare;
use crate::options::FetcherOptions;
use crate::request::{self, Get, SendError, MAX_REDIRECTS};
use crate::retry::{parse_retry_after, RetryPolicy};
use crate::url::{host_and_port, origin, redact_url, strip_userinfo};

/// The largest packument inflated (the largest on a public registry are a few hundred MB
/// uncompressed); past it the body is refused rather than held in memory.
pub const MAX_PACKUMENT_BYTES: u64 = 1 << 30;

/// The media type of the abbreviated packument.
const ABBREVIATED: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
/// The full packument.
const FULL: &str = "application/json";

/// Which document to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackumentKind {
    /// `modified` and the versions' manifests, without publish times.
    Abbreviated,
    /// Everything, `time` included.
    Full,
}

/// Reads packuments with the install's network settings. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MetadataClient {
    client: HttpClient,
    auth: AuthTable,
    retry: RetryPolicy,
    idle_timeout: Duration,
    window: NetworkShare,
    max_in_flight: usize,
}

impl MetadataClient {
    /// A client with `opts`' auth, retries, timeout and TLS/proxy settings.
    pub fn new(opts: &FetcherOptions) -> Result<Self, FetchError> {
        Ok(Self {
            client: HttpClient::new(opts)?,
            auth: opts.auth.clone(),
            retry: opts.retry,
            idle_timeout: opts.idle_timeout,
            window: opts.network_share(),
            max_in_flight: opts.network_concurrency.max(1),
        })
    }

    /// The most requests [`MetadataClient::packument`] lets be in flight at once: callers
    /// may ask for this many packuments at once, and the window holds back the ones it has
    /// no place for.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// The packument of `name` on `registry` (a URL ending in `/`); an error status is
    /// [`FetchError::MetadataStatus`]. Transient failures (connection errors, stalls, 5xx,
    /// 429) are retried with the install's retry policy.
    pub async fn packument(
        &self,
        registry: &str,
        name: &str,
        kind: PackumentKind,
    ) -> Result<Value, FetchError> {
        let url = format!("{registry}{}", name.replace('/', "%2f"));
        let mut attempt = 0;
        loop {
            match self.try_once(&url, name, kind).await {
                Err((error, retry_after))
                    if error.is_retryable() && attempt < self.retry.retries =>
                {
                    attempt += 1;
                    tokio::time::sleep(self.retry.delay_with_hint(attempt, retry_after)).await;
                }
                Err((error, _)) => return Err(error),
                Ok(document) => return Ok(document),
            }
        }
    }

    async fn try_once(
        &self,
        url: &str,
        name: &str,
        kind: PackumentKind,
    ) -> Result<Value, (FetchError, Option<Duration>)> {
        let shown = redact_url(url);
        let scope = name
            .starts_with('@')
            .then(|| name.split_once('/').map_or(name, |(s, _)| s));
        let get = Get {
            client: &self.client,
            auth: &self.auth,
            idle_timeout: self.idle_timeout,
            auth_url: url.to_string(),
            request_url: strip_userinfo(url),
            scope,
            accept: Some(match kind {
                PackumentKind::Abbreviated => ABBREVIATED,
                PackumentKind::Full => FULL,
            }),
            accept_encoding: "gzip",
        };
        // Held until the body is read: a place in the window is a request on the wire.
        let _place = self.window.window().acquire().await.map_err(|_| {
            let error = FetchError::BadMetadata {
                pkg: name.to_string(),
                url: shown.clone(),
                message: "the metadata reader was shut down".to_string(),
            };
            (error, None)
        })?;
        let asked = Instant::now();
        let response = request::send(get).await.map_err(|e| {
            let error = match e {
                SendError::Idle => self.idle_error(name, &shown),
                SendError::Network(e) => failure::network_error(name, &self.client, url, &e),
                SendError::TooManyRedirects => FetchError::TooManyRedirects {
                    pkg: name.to_string(),
                    url: shown.clone(),
                    message: format!("more than {MAX_REDIRECTS} redirects"),
                },
            };
            (error, None)
        })?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let hint = FetchError::status_hint(status, &origin(&shown));
            let (pkg, url) = (name.to_string(), shown.clone());
            // A 407 is the proxy's answer, not the registry's: tack's own proxy error says so.
            let error = if status == 407 {
                FetchError::HttpStatus {
                    pkg,
                    url,
                    status,
                    hint,
                }
            } else {
                FetchError::MetadataStatus {
                    pkg,
                    url,
                    status,
                    hint,
                }
            };
            return Err((error, retry_after));
        }
        self.window
            .window()
            .first_byte_after(&host_and_port(url), asked.elapsed());
        let gzipped = response.headers().get(CONTENT_ENCODING).is_some_and(|v| {
            let v = v.as_bytes();
            v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip")
        });
        let body = match tokio::time::timeout(self.idle_timeout, response.bytes()).await {
            Err(_) => return Err((self.idle_error(name, &shown), None)),
            Ok(Err(e)) => {
                return Err((failure::network_error(name, &self.client, url, &e), None));
            }
            Ok(Ok(body)) => body,
        };
        let bad = |message: String| {
            let error = FetchError::BadMetadata {
                pkg: name.to_string(),
                url: shown.clone(),
                message,
            };
            (error, None)
        };
        let parsed = if gzipped {
            serde_json::from_slice(&gunzip(&body).map_err(bad)?)
        } else {
            serde_json::from_slice(&body)
        };
        parsed.map_err(|e| bad(e.to_string()))
    }

    fn idle_error(&self, name: &str, shown: &str) -> FetchError {
        FetchError::IdleTimeout {
            pkg: name.to_string(),
            url: shown.to_string(),
            timeout: self.idle_timeout,
        }
    }
}

/// Inflates a gzipped body, up to [`MAX_PACKUMENT_BYTES`].
fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut inflated = Vec::with_capacity(body.len().saturating_mul(4));
    flate2::read::GzDecoder::new(body)
        .take(MAX_PACKUMENT_BYTES + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| format!("its gzip encoding is broken: {e}"))?;
    if inflated.len() as u64 > MAX_PACKUMENT_BYTES {
        return Err(format!(
            "it inflates to more than {} MiB",
            MAX_PACKUMENT_BYTES >> 20
        ));
    }
    Ok(inflated)
}
