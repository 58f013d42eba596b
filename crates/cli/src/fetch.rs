//! Builds the tarball fetcher from the configuration: registries, auth, retries, timeouts and
//! concurrency, with retries reported through the reporter. Its HTTP client may be built
//! ahead, on a thread of its own ([`EarlyClient`]), when the install will surely download.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tack_config::Config;
use tack_store_dir::{IndexWriter, StoreDir};
use tack_tarball::{
    split_registry_key, AuthTable, FetchError, FetchEvent, Fetcher, FetcherOptions, HttpClient,
    ProxyOptions, RegistryTls, RetryPolicy, TrustOptions,
};

use crate::error::CliError;
use crate::reporter::{Event, Reporter};

/// pnpm's user agent shape: `<tool>/<version> npm/? node/? <platform> <arch>`.
fn user_agent() -> String {
    format!(
        "tack/{} npm/? node/? {} {}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The fetcher's options for `config`: registries, auth, retries, timeouts and concurrency,
/// with retries reported through `reporter`.
pub fn options(config: &Config, store: &StoreDir, reporter: Arc<Reporter>) -> FetcherOptions {
    let mut options = FetcherOptions::new(store.clone());
    options.auth = AuthTable::from_npmrc(&config.raw_npmrc);
    // pnpm 12 sizes the pool from the core count unless `networkConcurrency` is set.
    if let Some(explicit) = config.settings.network_concurrency {
        options.network_concurrency = explicit;
        options.network_concurrency_set = true;
    }
    options.retry = RetryPolicy {
        retries: config.fetch_retries,
        factor: config.fetch_retry_factor.max(1.0) as u32,
        min_timeout: Duration::from_millis(config.fetch_retry_mintimeout),
        max_timeout: Duration::from_millis(config.fetch_retry_maxtimeout),
    };
    options.idle_timeout = Duration::from_millis(config.fetch_timeout);
    options.offline = config.offline;
    options.user_agent = user_agent();
    options.trust = trust(config);
    options.proxy = ProxyOptions::resolve(
        |key| config.raw_npmrc.get(key).cloned(),
        |name| std::env::var(name).ok(),
    );
    options.local_address = config.raw_npmrc.get("local-address").cloned();
    // A frozen install refuses a tarball it cannot verify.
    options.require_integrity = true;
    options.ignore_scripts = config.ignore_scripts;
    options.on_event = Some(Arc::new(move |event: &FetchEvent| {
        if let FetchEvent::Warning { message } = event {
            reporter.warn(message.clone());
        } else if let FetchEvent::Retry {
            pkg_id,
            url,
            attempt,
            max_retries,
            reason,
            delay,
        } = event
        {
            reporter.emit(Event::Retry {
                package_id: pkg_id.clone(),
                attempt: *attempt,
                reason: format!(
                    "{reason} (GET {url}); retry {attempt} of {max_retries} in {:.1}s",
                    delay.as_secs_f64()
                ),
            });
        }
    }));
    // Whatever is built from clones of these options (the downloads, the supply-chain
    // check's metadata reads) keeps `network-concurrency` between them.
    options.share_network();
    options
}

/// The authorities to trust: `ca`, `cafile` and `strict-ssl` from `.npmrc`, and Node's
/// `NODE_EXTRA_CA_CERTS` and `NODE_USE_SYSTEM_CA`; the client certificate (`cert`, `key`);
/// and the TLS settings of single registries (`//host/:certfile`, ...). See
/// `tack_tarball::TrustOptions`.
fn trust(config: &Config) -> TrustOptions {
    let env = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
    let setting = |key: &str| config.raw_npmrc.get(key).filter(|v| !v.is_empty()).cloned();
    let cafile = config.raw_npmrc.get("cafile").filter(|v| !v.is_empty());
    // pnpm reads these files as given: relative to where the command runs.
    let resolve = |path: &str| config.cwd.join(path);
    let mut registries: BTreeMap<String, RegistryTls> = BTreeMap::new();
    for (key, value) in &config.raw_npmrc {
        let Some((registry, name)) = split_registry_key(key) else {
            continue;
        };
        let mut tls = registries.get(&registry).cloned().unwrap_or_default();
        if !value.is_empty() && tls.set(name, value, resolve) {
            registries.insert(registry, tls);
        }
    }
    TrustOptions {
        cert: setting("cert"),
        key: setting("key"),
        registries,
        ca: config
            .raw_npmrc
            .get("ca")
            .filter(|v| !v.is_empty())
            .cloned(),
        // npm reads `cafile` as a path: `~/` is the home directory, and a relative one is
        // taken from where the command runs.
        cafile: cafile.map(|path| match path.strip_prefix("~/").zip(env("HOME")) {
            Some((rest, home)) => PathBuf::from(home).join(rest),
            None => config.cwd.join(path),
        }),
        extra_ca_file: env("NODE_EXTRA_CA_CERTS").map(PathBuf::from),
        system_ca: env("NODE_USE_SYSTEM_CA").is_some_and(|v| v == "1"),
        strict_ssl: config.strict_ssl,
    }
}

/// The HTTP client being built on a thread of its own, with the options it was built for
/// (see [`HttpClient`]).
pub struct EarlyClient(JoinHandle<(FetcherOptions, Result<HttpClient, FetchError>)>);

impl EarlyClient {
    /// Starts building the client for `options`.
    pub fn start(options: FetcherOptions) -> Self {
        Self(std::thread::spawn(move || {
            let client = HttpClient::new(&options);
            (options, client)
        }))
    }
}

/// The fetcher, around the client `early` built if there is one.
pub fn fetcher(
    options: FetcherOptions,
    index_writer: Arc<IndexWriter>,
    early: Option<EarlyClient>,
) -> Result<Fetcher, CliError> {
    let built = early.and_then(|EarlyClient(handle)| handle.join().ok());
    let (options, client) = match built {
        Some((options, client)) => (options, client?),
        None => {
            let client = HttpClient::new(&options)?;
            (options, client)
        }
    };
    Ok(Fetcher::with_client(options, client, index_writer))
}

/// A tokio runtime for an install's network work: one thread (`workers: None`), or a pool.
pub fn runtime(workers: Option<usize>) -> Result<tokio::runtime::Runtime, CliError> {
    let mut builder = match workers {
        None => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
    };
    builder.enable_all().build().map_err(|e| {
        CliError::new(
            "ERR_TACK_RUNTIME",
            format!("could not start the async runtime: {e}"),
        )
    })
}
