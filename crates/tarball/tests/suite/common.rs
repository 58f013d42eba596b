//! Shared setup: a registry on loopback, a store in a temp dir, a fetcher with fast retries.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tack_store_dir::{IndexWriter, PackageFilesIndex, StoreDir, StoreIndex};
use tack_tarball::{FetchEvent, Fetcher, FetcherOptions, PackageToFetch, RetryPolicy};
use tack_test_registry::{PackageDef, RegistryOptions, TestRegistry};
use tempfile::TempDir;

pub struct Env {
    pub registry: TestRegistry,
    pub dir: TempDir,
    pub store: StoreDir,
    pub events: Arc<Mutex<Vec<FetchEvent>>>,
}

impl Env {
    pub async fn new() -> Env {
        Env::with_registry(TestRegistry::start(RegistryOptions::empty()).await.unwrap()).await
    }

    /// A fresh store (and temp dir) in front of an existing registry.
    pub async fn with_registry(registry: TestRegistry) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sentinel")).unwrap();
        let store = StoreDir::new(dir.path().join("store").join("v11"));
        store.ensure_layout().unwrap();
        Env {
            registry,
            dir,
            store,
            events: Arc::default(),
        }
    }

    /// Fast retries (1–60 ms), a generous idle timeout.
    pub fn options(&self) -> FetcherOptions {
        let mut opts = FetcherOptions::new(self.store.clone());
        opts.retry = RetryPolicy {
            retries: 2,
            factor: 2,
            min_timeout: Duration::from_millis(1),
            max_timeout: Duration::from_millis(60),
        };
        opts.idle_timeout = Duration::from_secs(20);
        let events = Arc::clone(&self.events);
        opts.on_event = Some(Arc::new(move |e: &FetchEvent| {
            events.lock().push(e.clone())
        }));
        opts
    }

    pub fn fetcher(&self, opts: FetcherOptions) -> (Fetcher, Arc<IndexWriter>) {
        let writer = Arc::new(IndexWriter::spawn(&self.store).unwrap());
        (Fetcher::new(opts, Arc::clone(&writer)).unwrap(), writer)
    }

    pub fn add(&self, def: PackageDef) -> PackageToFetch {
        let (name, version) = (def.name.clone(), def.version.clone());
        self.registry.add_package(def);
        self.pkg(&name, &version)
    }

    pub fn pkg(&self, name: &str, version: &str) -> PackageToFetch {
        PackageToFetch {
            pkg_id: format!("{name}@{version}"),
            name: name.to_string(),
            version: version.to_string(),
            integrity: self.registry.integrity(name, version),
            tarball_url: self.registry.tarball_url(name, version),
            git_archive: false,
        }
    }

    /// Serves `bytes` as the tarball of `name@1.0.0` and returns the package to fetch,
    /// with the matching sha512 integrity.
    pub fn raw(&self, name: &str, bytes: Vec<u8>) -> PackageToFetch {
        let path = format!("/{name}/-/{name}-1.0.0.tgz");
        let integrity = tack_tarball::sha512_sri(&bytes);
        self.registry.serve_raw(&path, bytes);
        PackageToFetch {
            pkg_id: format!("{name}@1.0.0"),
            name: name.to_string(),
            version: "1.0.0".to_string(),
            integrity: Some(integrity),
            tarball_url: format!("{}{}", self.registry.url(), &path[1..]),
            git_archive: false,
        }
    }

    /// The request path of a package's tarball (`/name/-/name-1.0.0.tgz`).
    pub fn path_of(&self, pkg: &PackageToFetch) -> String {
        let base = self.registry.url();
        format!("/{}", pkg.tarball_url.strip_prefix(base.as_str()).unwrap())
    }

    /// Flushes the index writer (drops `fetcher` first) and reads back rows for `keys`.
    pub fn rows(
        &self,
        fetcher: Fetcher,
        writer: Arc<IndexWriter>,
        keys: &[String],
    ) -> HashMap<String, PackageFilesIndex> {
        drop(fetcher);
        Arc::try_unwrap(writer)
            .expect("writer still shared")
            .finish()
            .unwrap();
        StoreIndex::open(&self.store)
            .unwrap()
            .get_many(keys)
            .unwrap()
    }

    /// Everything under the temp dir outside the store: must stay just the empty sentinel.
    pub fn assert_nothing_outside_store(&self) {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["sentinel", "store"]);
        assert_eq!(
            std::fs::read_dir(self.dir.path().join("sentinel"))
                .unwrap()
                .count(),
            0
        );
        let store_top: Vec<String> = std::fs::read_dir(self.dir.path().join("store"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(store_top, ["v11"]);
    }
}

pub fn sha512_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha512::digest(bytes))
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// One raw tar entry: path bytes are written verbatim into the header (no validation).
pub struct RawEntry<'a> {
    pub path: &'a [u8],
    pub kind: u8,
    pub link: &'a [u8],
    pub data: &'a [u8],
    pub mode: u32,
    /// Overrides the size field (a lying header); `None` uses `data.len()`.
    pub claimed_size: Option<u64>,
}

impl<'a> RawEntry<'a> {
    pub fn file(path: &'a str, data: &'a [u8]) -> Self {
        RawEntry {
            path: path.as_bytes(),
            kind: b'0',
            link: b"",
            data,
            mode: 0o644,
            claimed_size: None,
        }
    }
}

/// A ustar stream built from raw headers, so hostile paths survive.
pub fn raw_tar(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut header = tar::Header::new_ustar();
        {
            let raw = header.as_ustar_mut().unwrap();
            raw.name = [0; 100];
            raw.name[..e.path.len()].copy_from_slice(e.path);
            raw.linkname = [0; 100];
            raw.linkname[..e.link.len()].copy_from_slice(e.link);
            raw.typeflag = [e.kind];
        }
        header.set_mode(e.mode);
        header.set_size(e.claimed_size.unwrap_or(e.data.len() as u64));
        header.set_mtime(0);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(e.data);
        let pad = (512 - e.data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}
