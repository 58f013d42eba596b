//! Builds the tarball fetcher from the configuration: registries, auth, retries, timeouts and
//! concurrency, with retries reported through the reporter.

use std::sync::Arc;
use std::time::Duration;

use tack_config::Config;
use tack_store_dir::{IndexWriter, StoreDir};
use tack_tarball::{AuthTable, FetchEvent, Fetcher, FetcherOptions, RetryPolicy};

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

pub fn fetcher(
    config: &Config,
    store: &StoreDir,
    index_writer: Arc<IndexWriter>,
    reporter: Arc<Reporter>,
) -> Result<Fetcher, CliError> {
    let mut options = FetcherOptions::new(store.clone());
    options.auth = AuthTable::from_npmrc(&config.raw_npmrc);
    // pnpm 12 sizes the pool from the core count unless `networkConcurrency` is set.
    if let Some(explicit) = config.settings.network_concurrency {
        options.network_concurrency = explicit;
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
    // A frozen install refuses a tarball it cannot verify.
    options.require_integrity = true;
    options.ignore_scripts = config.ignore_scripts;
    options.on_event = Some(Arc::new(move |event: &FetchEvent| {
        if let FetchEvent::Retry {
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
    Ok(Fetcher::new(options, index_writer)?)
}
