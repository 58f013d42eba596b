//! A forward HTTP proxy on loopback, so that tests can show which installs go through a
//! proxy (`proxy`, `https-proxy`, `no-proxy` in `.npmrc`, or the variables) and that they
//! still work when they do.
//!
//! It speaks the two forms a client uses: `CONNECT host:port` for an `https://` URL (a
//! tunnel the TLS handshake then runs through), and a request whose target is the whole URL
//! (`GET http://host:port/path`) for an `http://` one, which it passes on unchanged to that
//! host (the test registry takes such a target as its path). Either way, after the first
//! request head the connection is a byte pipe to the origin. Each connection's origin is
//! logged; that log is what the tests look at.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::error::RegistryError;

/// How a connection reached its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedConnection {
    /// `CONNECT` or the method of an absolute-form request.
    pub method: String,
    /// `host:port` of the origin.
    pub origin: String,
}

/// A running proxy. Dropping it stops it.
#[derive(Debug)]
pub struct TestProxy {
    addr: SocketAddr,
    /// `user:password` the proxy asks for, when it asks.
    credentials: Option<String>,
    log: Arc<Mutex<Vec<ProxiedConnection>>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestProxy {
    /// Starts the proxy on a free port of 127.0.0.1.
    pub fn start_blocking() -> Result<Self, RegistryError> {
        Self::start(None)
    }

    /// A proxy that answers `407 Proxy Authentication Required` to a connection whose first
    /// request does not carry `Proxy-Authorization: Basic` with `user:password`.
    pub fn start_with_credentials(user: &str, password: &str) -> Result<Self, RegistryError> {
        Self::start(Some(format!("{user}:{password}")))
    }

    fn start(credentials: Option<String>) -> Result<Self, RegistryError> {
        let bind = |source| RegistryError::Bind { port: 0, source };
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(bind)?;
        std_listener.set_nonblocking(true).map_err(bind)?;
        let addr = std_listener.local_addr().map_err(bind)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(RegistryError::Runtime)?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(bind)?
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = oneshot::channel();
        let thread_log = Arc::clone(&log);
        let wanted = credentials.as_deref().map(basic);
        let thread = std::thread::Builder::new()
            .name("tack-test-proxy".into())
            .spawn(move || runtime.block_on(serve(listener, thread_log, wanted, rx)))
            .map_err(RegistryError::Runtime)?;
        Ok(Self {
            addr,
            credentials,
            log,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, for a `proxy=` line (without the credentials it asks for).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://user:password@127.0.0.1:PORT`, with the credentials it asks for
    /// (percent-encoded, as a URL needs them).
    pub fn url_with_credentials(&self) -> String {
        let encode = |part: &str| {
            part.chars()
                .map(|c| match c {
                    '@' => "%40".to_string(),
                    '/' => "%2F".to_string(),
                    ':' => "%3A".to_string(),
                    '%' => "%25".to_string(),
                    c => c.to_string(),
                })
                .collect::<String>()
        };
        match self.credentials.as_deref().and_then(|c| c.split_once(':')) {
            Some((user, password)) => {
                format!("http://{}:{}@{}", encode(user), encode(password), self.addr)
            }
            None => self.url(),
        }
    }

    /// The connections carried so far.
    pub fn connections(&self) -> Vec<ProxiedConnection> {
        self.log.lock().clone()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The `Proxy-Authorization` value for `user:password`.
fn basic(credentials: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

async fn serve(
    listener: TcpListener,
    log: Arc<Mutex<Vec<ProxiedConnection>>>,
    wanted: Option<String>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    conns.spawn(carry(stream, Arc::clone(&log), wanted.clone()));
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

/// Reads the first request head, connects to its origin and pipes the rest.
async fn carry(
    mut client: TcpStream,
    log: Arc<Mutex<Vec<ProxiedConnection>>>,
    wanted: Option<String>,
) {
    let mut head = Vec::new();
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 4096];
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    };
    let line = String::from_utf8_lossy(&head[..end])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let origin = if method == "CONNECT" {
        target.to_string()
    } else {
        let rest = target.strip_prefix("http://").unwrap_or_default();
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() || authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        }
    };
    if let Some(wanted) = wanted {
        let head_text = String::from_utf8_lossy(&head[..end]);
        let given = head_text.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("proxy-authorization")
                .then(|| value.trim().to_string())
        });
        if given.as_deref() != Some(wanted.as_str()) {
            let _ = client
                .write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                      Proxy-Authenticate: Basic realm=\"tack-test-proxy\"\r\n\
                      Content-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        }
    }
    if origin.is_empty() {
        let _ = client
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    }
    log.lock().push(ProxiedConnection {
        method: method.to_string(),
        origin: origin.clone(),
    });
    let Ok(mut upstream) = TcpStream::connect(&origin).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    if method == "CONNECT" {
        if client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        // Anything sent after the CONNECT head already belongs to the tunnel.
        if upstream.write_all(&head[end..]).await.is_err() {
            return;
        }
    } else if upstream.write_all(&head).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
