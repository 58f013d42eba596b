//! The request log: one record per request, so tests can assert what a client asked for
//! and how often (e.g. that a tarball was downloaded exactly once).

/// One served (or failed) request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The client's address, as the connection came in (what `local-address` binds).
    pub peer: std::net::IpAddr,
    pub method: String,
    /// The path as sent (with any query), e.g. `/@scope%2fname`.
    pub path: String,
    /// The percent-decoded path without its query, e.g. `/@scope/name`.
    pub decoded_path: String,
    /// The status sent; 0 when the connection was reset before a status line.
    pub status: u16,
    /// The `Authorization` header, when one was sent.
    pub authorization: Option<String>,
    /// The `Accept` header, when one was sent.
    pub accept: Option<String>,
    /// The `Accept-Encoding` header, when one was sent.
    pub accept_encoding: Option<String>,
    /// The label of the fault applied, if any (see `FaultKind::label`).
    pub fault: Option<&'static str>,
}

impl RequestRecord {
    pub fn has_auth(&self) -> bool {
        self.authorization.is_some()
    }

    /// True when `path` names this request, as sent or decoded.
    pub fn is_for(&self, path: &str) -> bool {
        self.path == path || self.decoded_path == path
    }
}
