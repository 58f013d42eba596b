//! One GET through the install's clients: the client and the credentials of each URL, and
//! redirects followed hop by hop when the client leaves them to us
//! ([`HttpClient::redirects_per_hop`]), as pnpm picks its agent and auth per URL. Tarball
//! downloads and metadata reads both go through here; each turns a [`SendError`] into its
//! own error, which names what it was fetching.

use std::time::Duration;

use reqwest::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, LOCATION};

use crate::auth::AuthTable;
use crate::client::HttpClient;
use crate::url::strip_userinfo;

/// Redirects followed hop by hop before a request gives up, as reqwest's own policy.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// Why no response came back.
pub(crate) enum SendError {
    /// No response headers within the idle timeout.
    Idle,
    /// The connection failed (or reqwest refused the request).
    Network(reqwest::Error),
    /// More than [`MAX_REDIRECTS`] hops.
    TooManyRedirects,
}

/// What to send.
pub(crate) struct Get<'a> {
    pub client: &'a HttpClient,
    pub auth: &'a AuthTable,
    pub idle_timeout: Duration,
    /// The URL the credentials are looked up for (it may carry `user:pass@`).
    pub auth_url: String,
    /// The URL requested: `auth_url` without its userinfo.
    pub request_url: String,
    /// The package's scope (`@acme`), for scoped credentials.
    pub scope: Option<&'a str>,
    /// The `Accept` header, when the server must be told which document to send.
    pub accept: Option<&'a str>,
    /// The `Accept-Encoding` header. Tarballs ask for `identity`: their bytes are what their
    /// integrity covers. Metadata asks for `gzip` and inflates the body itself (reqwest is
    /// built without transparent decompression, so nothing else is ever decoded).
    pub accept_encoding: &'static str,
}

/// Sends `get`. Once a redirect has left https for
/// http, no credential follows: it would travel in clear (reqwest, following redirects
/// itself, drops it on any such change as well).
pub(crate) async fn send(get: Get<'_>) -> Result<reqwest::Response, SendError> {
    let Get {
        client,
        auth,
        idle_timeout,
        mut auth_url,
        mut request_url,
        scope,
        accept,
        accept_encoding,
    } = get;
    let mut downgraded = false;
    for _ in 0..=MAX_REDIRECTS {
        let mut request = client
            .for_url(&request_url)
            .get(&request_url)
            .header(ACCEPT_ENCODING, accept_encoding);
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        if let Some(header) = (!downgraded)
            .then(|| auth.header_for(&auth_url, scope))
            .flatten()
        {
            request = request.header(AUTHORIZATION, header);
        }
        let response = match tokio::time::timeout(idle_timeout, request.send()).await {
            Err(_) => return Err(SendError::Idle),
            Ok(Err(e)) => return Err(SendError::Network(e)),
            Ok(Ok(r)) => r,
        };
        if !(client.redirects_per_hop() && response.status().is_redirection()) {
            return Ok(response);
        }
        let next = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|location| response.url().join(location).ok());
        let Some(next) = next else {
            return Ok(response);
        };
        downgraded |= response.url().scheme() == "https" && next.scheme() == "http";
        request_url = strip_userinfo(next.as_str());
        auth_url = next.to_string();
    }
    Err(SendError::TooManyRedirects)
}
