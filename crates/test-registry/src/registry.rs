//! `TestRegistry`: the handle tests hold. It starts the server on 127.0.0.1 (in the
//! caller's tokio runtime, or on its own runtime thread for sync tests), exposes the
//! control surface (faults, auth, packages, request log) and shuts the server down on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::auth::AuthRules;
use crate::catalog::{normalize, Catalog};
use crate::error::RegistryError;
use crate::fault::{Fault, FaultTable};
use crate::fixtures::{default_fixtures_dir, load_fixtures};
use crate::log::RequestRecord;
use crate::mirror::Mirror;
use crate::package::{tarball_path, PackageDef};
use crate::server::{serve, Shared};
use crate::shaping::Pacer;
use crate::tls::{server_config, ClientAuth};

/// How to start a registry.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Fixture tree to serve; `Default` uses the fixtures committed with this crate, `None`
    /// serves no fixtures.
    pub fixtures_dir: Option<PathBuf>,
    /// A mirror directory filled by `scripts/fill-mirror.sh`.
    pub mirror_dir: Option<PathBuf>,
    /// Added once per connection and once per request.
    pub rtt: Option<Duration>,
    /// Cap shared by all connections.
    pub bandwidth_bytes_per_sec: Option<u64>,
    /// 0 picks a free port.
    pub port: u16,
    /// Serve `https://` with the committed test identity (see [`crate::test_ca_path`]).
    pub tls: bool,
    /// With `tls`: whether clients must present a certificate (see [`ClientAuth`]).
    pub client_auth: ClientAuth,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            fixtures_dir: Some(default_fixtures_dir()),
            mirror_dir: None,
            rtt: None,
            bandwidth_bytes_per_sec: None,
            port: 0,
            tls: false,
            client_auth: ClientAuth::None,
        }
    }
}

impl RegistryOptions {
    /// No fixtures, no mirror: an empty registry for `add_package`.
    pub fn empty() -> Self {
        RegistryOptions {
            fixtures_dir: None,
            ..RegistryOptions::default()
        }
    }
}

/// A running registry. Dropping it stops the server.
#[derive(Debug)]
pub struct TestRegistry {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestRegistry {
    /// Starts the server as a task on the current tokio runtime.
    pub async fn start(opts: RegistryOptions) -> Result<Self, RegistryError> {
        let listener = TcpListener::bind(("127.0.0.1", opts.port))
            .await
            .map_err(|source| RegistryError::Bind {
                port: opts.port,
                source,
            })?;
        let (shared, addr) = build_shared(&opts, &listener)?;
        let (tx, rx) = oneshot::channel();
        tokio::spawn(serve(listener, shared.clone(), rx));
        Ok(TestRegistry {
            shared,
            addr,
            shutdown: Mutex::new(Some(tx)),
            thread: None,
        })
    }

    /// Starts the server on its own thread and tokio runtime, for sync tests.
    pub fn start_blocking(opts: RegistryOptions) -> Result<Self, RegistryError> {
        let std_listener =
            std::net::TcpListener::bind(("127.0.0.1", opts.port)).map_err(|source| {
                RegistryError::Bind {
                    port: opts.port,
                    source,
                }
            })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|source| RegistryError::Bind {
                port: opts.port,
                source,
            })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(RegistryError::Runtime)?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(|source| RegistryError::Bind {
                port: opts.port,
                source,
            })?
        };
        let (shared, addr) = build_shared(&opts, &listener)?;
        let (tx, rx) = oneshot::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tack-test-registry".into())
            .spawn(move || runtime.block_on(serve(listener, thread_shared, rx)))
            .map_err(RegistryError::Runtime)?;
        Ok(TestRegistry {
            shared,
            addr,
            shutdown: Mutex::new(Some(tx)),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/` (`https://` with TLS)
    pub fn url(&self) -> String {
        format!("{}/", self.shared.base)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/<name>/-/<scopeless>-<version>.tgz`
    pub fn tarball_url(&self, name: &str, version: &str) -> String {
        format!("{}{}", self.shared.base, tarball_path(name, version))
    }

    /// The advertised `dist.integrity` of a version (after overrides).
    pub fn integrity(&self, name: &str, version: &str) -> Option<String> {
        self.shared
            .catalog
            .lock()
            .version(name, version)
            .and_then(|e| e.integrity())
    }

    /// The bytes served for a version's tarball.
    pub fn tarball(&self, name: &str, version: &str) -> Option<Vec<u8>> {
        self.shared
            .catalog
            .lock()
            .version(name, version)
            .map(|e| e.tarball.to_vec())
    }

    /// The abbreviated manifest fields as published (package.json plus overrides).
    pub fn manifest(&self, name: &str, version: &str) -> Option<Map<String, Value>> {
        self.shared
            .catalog
            .lock()
            .version(name, version)
            .map(|e| e.manifest.clone())
    }

    /// Every `(name, version)` served from memory, sorted.
    pub fn packages(&self) -> Vec<(String, String)> {
        self.shared.catalog.lock().list()
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.faults.lock().push(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.faults.lock().clear();
    }

    /// Requires an `Authorization` header on every path (`None` lifts the requirement).
    /// The value is a whole header value (`Bearer t`, `Basic …`) or a bare token (`Bearer`).
    pub fn require_auth(&self, token_or_basic: Option<String>) {
        self.shared.auth.lock().set_global(token_or_basic);
    }

    /// Like [`require_auth`](Self::require_auth) for paths starting with `prefix` (e.g.
    /// `/@private/`); the longest matching prefix wins over the global rule.
    pub fn require_auth_for(&self, prefix: &str, token_or_basic: Option<String>) {
        self.shared
            .auth
            .lock()
            .set_prefix(normalize(prefix), token_or_basic);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.lock().clone()
    }

    /// How many requests named `path` (as sent or percent-decoded, without host).
    pub fn request_count(&self, path: &str) -> usize {
        self.shared
            .log
            .lock()
            .iter()
            .filter(|r| r.is_for(path))
            .count()
    }

    pub fn clear_requests(&self) {
        self.shared.log.lock().clear();
    }

    /// The most requests being answered at once (read, and not yet written in full) since
    /// the start.
    pub fn peak_in_flight(&self) -> usize {
        self.shared.in_flight.peak()
    }

    /// Packs and adds (or replaces) a version.
    pub fn add_package(&self, pkg: PackageDef) {
        self.shared.catalog.lock().add(pkg);
    }

    /// Serves `bytes` verbatim at `path` (e.g. a hostile tarball at a version's tarball path).
    pub fn serve_raw(&self, path: &str, bytes: Vec<u8>) {
        self.shared
            .catalog
            .lock()
            .serve_raw(path, Bytes::from(bytes));
    }

    /// Replaces (or with `None`, removes) a version's advertised `dist.integrity`; the
    /// `shasum` stays, so `None` makes a sha1-only version. False if the version is unknown.
    pub fn set_integrity(&self, name: &str, version: &str, integrity: Option<String>) -> bool {
        let mut dist = Map::new();
        dist.insert(
            "integrity".into(),
            integrity.map(Value::String).unwrap_or(Value::Null),
        );
        let mut overrides = Map::new();
        overrides.insert("dist".into(), Value::Object(dist));
        self.override_manifest(name, version, &overrides)
    }

    /// Applies packument overrides to a version (see `PackageDef::manifest_overrides`).
    pub fn override_manifest(
        &self,
        name: &str,
        version: &str,
        overrides: &Map<String, Value>,
    ) -> bool {
        self.shared
            .catalog
            .lock()
            .override_manifest(name, version, overrides)
    }

    /// Stops the server now (also done on drop).
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.lock().take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn build_shared(
    opts: &RegistryOptions,
    listener: &TcpListener,
) -> Result<(Arc<Shared>, SocketAddr), RegistryError> {
    let addr = listener
        .local_addr()
        .map_err(|source| RegistryError::Bind {
            port: opts.port,
            source,
        })?;
    let mut catalog = Catalog::default();
    if let Some(dir) = &opts.fixtures_dir {
        for def in load_fixtures(dir)? {
            catalog.add(def);
        }
    }
    let shared = Shared {
        catalog: Mutex::new(catalog),
        faults: Mutex::new(FaultTable::default()),
        log: Mutex::new(Vec::new()),
        auth: Mutex::new(AuthRules::default()),
        mirror: opts.mirror_dir.clone().map(Mirror::new),
        rtt: opts.rtt,
        pacer: opts.bandwidth_bytes_per_sec.map(Pacer::new),
        base: format!(
            "{}://127.0.0.1:{}",
            if opts.tls { "https" } else { "http" },
            addr.port()
        ),
        tls: if opts.tls {
            Some(server_config(opts.client_auth)?)
        } else {
            None
        },
        in_flight: Default::default(),
    };
    Ok((Arc::new(shared), addr))
}
