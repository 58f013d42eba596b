//! One DNS lookup per host name for a whole install.
//!
//! The HTTP clients' default resolver asks the system (`getaddrinfo`) for every new
//! connection it tries, and its pool tries one for every request that finds no idle
//! connection at that moment. An install sends hundreds of requests to one registry, so a
//! real install made five lookups or more for every connection it kept: 182 DNS queries
//! for 33 connections in a supply-chain check of 92 packages, and on a resolver that drops
//! a reply now and then each lost one costs glibc's five-second retry. pnpm keeps its
//! lookups in a cache too. Here every name is looked up once, by the first request that
//! needs it; the requests that need it meanwhile wait for that lookup instead of starting
//! their own. A lookup that fails is not kept, so the next request asks again.
//!
//! The addresses are kept for the life of the process (an install), in the order the
//! system gave them: the connector tries them in turn as before.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use parking_lot::Mutex;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::OnceCell;

/// How a name is looked up: the system's resolver, or a test's.
type Lookup = dyn Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync;

/// The addresses of one name, once looked up.
type Entry = Arc<OnceCell<Arc<[SocketAddr]>>>;

/// A resolver for the HTTP clients that looks each name up once (see the module doc).
pub(crate) struct CachingResolver {
    names: Mutex<HashMap<String, Entry>>,
    lookup: Arc<Lookup>,
}

impl CachingResolver {
    /// Looks names up with the system's resolver (`getaddrinfo`, on a blocking thread).
    pub(crate) fn system() -> Self {
        Self::with_lookup(Arc::new(|host: &str| {
            (host, 0).to_socket_addrs().map(Iterator::collect)
        }))
    }

    fn with_lookup(lookup: Arc<Lookup>) -> Self {
        Self {
            names: Mutex::new(HashMap::new()),
            lookup,
        }
    }

    /// The addresses of `host`, looked up by this call or an earlier one. Owns what it
    /// uses (this name's entry, not the table), as a resolver's future must.
    fn addresses(&self, host: String) -> impl Future<Output = io::Result<Arc<[SocketAddr]>>> {
        let entry = Arc::clone(self.names.lock().entry(host.clone()).or_default());
        let lookup = Arc::clone(&self.lookup);
        async move {
            let found = entry
                .get_or_try_init(|| async move {
                    let name = host.clone();
                    let found = tokio::task::spawn_blocking(move || lookup(&name))
                        .await
                        .map_err(io::Error::other)??;
                    if found.is_empty() {
                        return Err(io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("{host} has no address"),
                        ));
                    }
                    Ok(Arc::<[SocketAddr]>::from(found))
                })
                .await?;
            Ok(Arc::clone(found))
        }
    }
}

impl Resolve for CachingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let found = self.addresses(name.as_str().to_string());
        Box::pin(async move {
            let found = found.await?;
            // Owns the shared list: no copy of it per connection.
            Ok(Box::new((0..found.len()).map(move |i| found[i])) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(fail_first: usize) -> (Arc<CachingResolver>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let resolver = CachingResolver::with_lookup(Arc::new(move |host: &str| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            // Slow enough that every concurrent request arrives while it runs.
            std::thread::sleep(std::time::Duration::from_millis(50));
            if n < fail_first {
                return Err(io::Error::other(format!("{host}: no reply")));
            }
            Ok(vec!["127.0.0.1:0".parse().expect("an address")])
        }));
        (Arc::new(resolver), calls)
    }

    fn name(host: &str) -> Name {
        host.parse().expect("a host name")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_at_once_share_one_lookup() {
        let (resolver, calls) = counting(0);
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let resolver = Arc::clone(&resolver);
            tasks.push(tokio::spawn(async move {
                resolver
                    .resolve(name("registry.test"))
                    .await
                    .map(Iterator::collect::<Vec<_>>)
                    .map_err(|e| e.to_string())
            }));
        }
        for task in tasks {
            let addrs = task.await.expect("join").expect("resolved");
            assert_eq!(addrs, vec!["127.0.0.1:0".parse().expect("an address")]);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let again = resolver.resolve(name("registry.test")).await;
        assert_eq!(again.map(Iterator::count).ok(), Some(1));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "looked up again");
        let other = resolver.resolve(name("other.test")).await;
        assert_eq!(other.map(Iterator::count).ok(), Some(1));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "another name shares a lookup"
        );
    }

    #[tokio::test]
    async fn a_failed_lookup_is_not_kept() {
        let (resolver, calls) = counting(1);
        let err = resolver
            .resolve(name("registry.test"))
            .await
            .err()
            .expect("the first lookup fails");
        assert!(err.to_string().contains("no reply"), "{err}");
        let again = resolver.resolve(name("registry.test")).await;
        assert_eq!(again.map(Iterator::count).ok(), Some(1), "asked again");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
