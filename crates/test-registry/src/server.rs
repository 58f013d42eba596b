//! The accept loop and the per-request pipeline: read the request, apply shaping and any
//! matching fault, check auth, route to a packument or a tarball, write the response the
//! way the fault says, and log the outcome.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::auth::AuthRules;
use crate::catalog::Catalog;
use crate::fault::{FaultKind, FaultTable};
use crate::http::{percent_decode, read_request, send, Request, Response};
use crate::log::RequestRecord;
use crate::mirror::Mirror;
use crate::packument::{render, ABBREVIATED_MEDIA_TYPE};
use crate::shaping::Pacer;
use crate::tls::Conn;

/// State shared by the handle and every connection.
#[derive(Debug)]
pub struct Shared {
    pub catalog: Mutex<Catalog>,
    pub faults: Mutex<FaultTable>,
    pub log: Mutex<Vec<RequestRecord>>,
    pub auth: Mutex<AuthRules>,
    pub mirror: Option<Mirror>,
    pub rtt: Option<std::time::Duration>,
    pub pacer: Option<Pacer>,
    /// `http://127.0.0.1:PORT` (no trailing slash), `https://` when `tls` is set.
    pub base: String,
    /// Wraps every connection in TLS when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Requests read and not yet answered in full, and the most there were at once.
    pub in_flight: InFlight,
}

/// Counts the requests being answered, for tests of how many a client sends at once.
#[derive(Debug, Default)]
pub struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl InFlight {
    /// Counts one more request until the guard is dropped (also when its task is aborted
    /// or panics).
    fn enter(&self) -> Answering<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Answering(self)
    }

    /// The most requests there were at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// One request being answered (see [`InFlight::enter`]).
struct Answering<'a>(&'a InFlight);

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts connections until `shutdown` fires; dropping out aborts every connection.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                if let Ok((stream, peer)) = accepted {
                    let peer = peer.ip();
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    match shared.tls.clone() {
                        None => conns.spawn(connection(stream, peer, shared)),
                        Some(config) => conns.spawn(async move {
                            // A client that refuses the certificate ends the handshake.
                            let acceptor = tokio_rustls::TlsAcceptor::from(config);
                            if let Ok(stream) = acceptor.accept(stream).await {
                                connection(stream, peer, shared).await;
                            }
                        }),
                    };
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

/// What to do with the connection after a response.
enum After {
    KeepAlive,
    Close,
    Reset,
}

async fn connection(mut stream: impl Conn, peer: IpAddr, shared: Arc<Shared>) {
    if let Some(rtt) = shared.rtt {
        // The TCP handshake costs a round trip on a real link.
        tokio::time::sleep(rtt).await;
    }
    let mut buf = Vec::new();
    loop {
        let req = match read_request(&mut stream, &mut buf).await {
            Ok(Some(req)) => req,
            _ => return,
        };
        let answering = shared.in_flight.enter();
        let handled = handle(&mut stream, &req, peer, &shared).await;
        drop(answering);
        match handled {
            Ok(After::KeepAlive) if req.keep_alive => continue,
            Ok(After::Reset) => {
                stream.reset_on_close();
                return;
            }
            _ => return,
        }
    }
}

async fn handle(
    stream: &mut impl Conn,
    req: &Request,
    peer: IpAddr,
    shared: &Shared,
) -> std::io::Result<After> {
    let raw_path = req.target.clone();
    let decoded = percent_decode(raw_path.split('?').next().unwrap_or_default());
    let authorization = req.header("authorization").map(str::to_owned);
    let fault = shared.faults.lock().take(&[&raw_path, &decoded]);
    let mut record = RequestRecord {
        peer,
        method: req.method.clone(),
        path: raw_path,
        decoded_path: decoded.clone(),
        status: 0,
        authorization: authorization.clone(),
        accept: req.header("accept").map(str::to_owned),
        accept_encoding: req.header("accept-encoding").map(str::to_owned),
        fault: fault.as_ref().map(FaultKind::label),
    };
    if let Some(rtt) = shared.rtt {
        tokio::time::sleep(rtt).await;
    }
    if let Some(FaultKind::Delay(d)) = fault {
        tokio::time::sleep(d).await;
    }
    if fault == Some(FaultKind::Reset) {
        shared.log.lock().push(record);
        return Ok(After::Reset);
    }
    let allowed = shared
        .auth
        .lock()
        .allows(&decoded, authorization.as_deref());
    let mut response = if !allowed {
        let mut r = Response::json_error(401, "authorization required");
        r.headers.push((
            "WWW-Authenticate".into(),
            "Bearer realm=\"tack-test-registry\"".into(),
        ));
        r
    } else {
        match &fault {
            Some(FaultKind::Status { code, retry_after }) => {
                let mut r = Response::json_error(*code, "injected fault");
                if let Some(secs) = retry_after {
                    r.headers.push(("Retry-After".into(), secs.to_string()));
                }
                r
            }
            Some(FaultKind::Page { code, html }) => {
                Response::new(*code, "text/html", html.clone().into_bytes())
            }
            Some(FaultKind::Redirect { to }) => {
                let mut r = Response::new(302, "text/plain", Vec::new());
                r.headers.push(("Location".into(), format!("{to}{}", req.target)));
                r
            }
            Some(FaultKind::HtmlPage) => Response::new(
                200,
                "text/html; charset=utf-8",
                b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>The proxy could not reach the registry.</p></body></html>\n".to_vec(),
            ),
            _ => route(req, &decoded, shared).await,
        }
    };
    if fault == Some(FaultKind::Corrupt) && !response.body.is_empty() {
        let mut body = response.body.to_vec();
        let mid = body.len() / 2;
        body[mid] ^= 0xff;
        response.body = Bytes::from(body);
    }
    record.status = response.status;
    shared.log.lock().push(record);
    write_response(stream, req, &response, fault.as_ref(), shared).await
}

async fn write_response(
    stream: &mut impl Conn,
    req: &Request,
    response: &Response,
    fault: Option<&FaultKind>,
    shared: &Shared,
) -> std::io::Result<After> {
    let pacer = shared.pacer.as_ref();
    let body: &[u8] = if req.method == "HEAD" {
        &[]
    } else {
        &response.body
    };
    let full_len = response.body.len() as u64;
    match fault {
        Some(FaultKind::Truncate { send: n }) => {
            send(stream, &response.head_bytes(full_len, false), pacer, None).await?;
            send(stream, &body[..(*n).min(body.len())], pacer, None).await?;
            Ok(After::Close)
        }
        Some(FaultKind::ResetAfter { after }) => {
            send(stream, &response.head_bytes(full_len, false), pacer, None).await?;
            send(stream, &body[..(*after).min(body.len())], pacer, None).await?;
            Ok(After::Reset)
        }
        Some(FaultKind::WrongContentLength { declared }) => {
            send(stream, &response.head_bytes(*declared, false), pacer, None).await?;
            send(stream, body, pacer, None).await?;
            Ok(After::Close)
        }
        Some(FaultKind::SlowDrip { bytes, every }) => {
            send(
                stream,
                &response.head_bytes(full_len, req.keep_alive),
                pacer,
                None,
            )
            .await?;
            send(stream, body, pacer, Some((*bytes, *every))).await?;
            Ok(After::KeepAlive)
        }
        _ => {
            send(
                stream,
                &response.head_bytes(full_len, req.keep_alive),
                pacer,
                None,
            )
            .await?;
            send(stream, body, pacer, None).await?;
            Ok(After::KeepAlive)
        }
    }
}

async fn route(req: &Request, decoded: &str, shared: &Shared) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::json_error(405, "method not allowed");
    }
    let raw = shared.catalog.lock().raw(decoded);
    if let Some(bytes) = raw {
        return tarball_response(bytes);
    }
    if decoded.contains("/-/") {
        return tarball(decoded, shared).await;
    }
    let name = decoded.trim_start_matches('/').trim_end_matches('/');
    if name.is_empty() {
        return Response::new(200, "application/json", b"{}".to_vec());
    }
    let abbreviated = req
        .header("accept")
        .is_some_and(|a| a.contains(ABBREVIATED_MEDIA_TYPE));
    if !shared.catalog.lock().has_package(name) {
        load_from_mirror(name, shared).await;
    }
    let doc = {
        let catalog = shared.catalog.lock();
        catalog
            .versions(name)
            .map(|vs| render(name, vs, &shared.base, abbreviated))
    };
    match doc {
        Some(doc) => {
            let content_type = if abbreviated {
                ABBREVIATED_MEDIA_TYPE
            } else {
                "application/json"
            };
            let json = serde_json::to_vec(&doc).unwrap_or_default();
            // Gzipped when asked, as registries serve metadata.
            let gzip = req
                .header("accept-encoding")
                .is_some_and(|a| a.split(',').any(|e| e.trim().starts_with("gzip")));
            if gzip {
                let mut response = Response::new(200, content_type, gzip_fast(&json));
                response
                    .headers
                    .push(("Content-Encoding".into(), "gzip".into()));
                response
            } else {
                Response::new(200, content_type, json)
            }
        }
        None => Response::json_error(404, &format!("package {name} not found")),
    }
}

async fn tarball(decoded: &str, shared: &Shared) -> Response {
    let found = shared.catalog.lock().tarball(decoded);
    if let Some(bytes) = found {
        return tarball_response(bytes);
    }
    if let Some(path) = shared.mirror.as_ref().and_then(|m| m.file_for(decoded)) {
        if let Ok(bytes) = tokio::fs::read(&path).await {
            return tarball_response(Bytes::from(bytes));
        }
    }
    Response::json_error(404, &format!("tarball {decoded} not found"))
}

async fn load_from_mirror(name: &str, shared: &Shared) {
    let Some(mirror) = shared.mirror.clone() else {
        return;
    };
    let owned = name.to_string();
    let loaded = tokio::task::spawn_blocking(move || mirror.load_package(&owned)).await;
    if let Ok(Ok(versions)) = loaded {
        let mut catalog = shared.catalog.lock();
        for (version, entry) in versions {
            catalog.insert(name.to_string(), version, entry);
        }
    }
}

fn tarball_response(bytes: Bytes) -> Response {
    Response::new(200, "application/octet-stream", bytes)
}

/// Gzips a packument at flate2's fastest level: rendered per request, on the same cores as
/// the client under test (registries keep theirs compressed).
fn gzip_fast(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if enc.write_all(data).is_err() {
        return Vec::new();
    }
    enc.finish().unwrap_or_default()
}
