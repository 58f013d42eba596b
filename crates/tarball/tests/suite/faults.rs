//! A failing registry: retries, immediate failures, integrity mismatches, stalls, dedup.

use std::time::Duration;

use tack_tarball::{FetchError, FetchEvent};
use tack_test_registry::{Fault, FaultKind, PackageDef};

use crate::common::{sha512_hex, Env};

fn simple(name: &str) -> PackageDef {
    PackageDef::new(name, "1.0.0").file("index.js", format!("// {name}\n").repeat(200), 0o644)
}

fn retry_reasons(env: &Env) -> Vec<String> {
    env.events
        .lock()
        .iter()
        .filter_map(|e| match e {
            FetchEvent::Retry { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrity_mismatch_fails_and_publishes_no_row() {
    let env = Env::new().await;
    let mut pkg = env.add(simple("tampered"));
    let other = env.add(simple("other"));
    pkg.integrity = other.integrity.clone();
    let (fetcher, writer) = env.fetcher(env.options());
    let err = fetcher.fetch(&pkg).await.unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_INTEGRITY");
    let msg = err.to_string();
    for needle in [
        "tampered@1.0.0",
        pkg.tarball_url.as_str(),
        other.integrity.as_deref().unwrap(),
        env.registry
            .integrity("tampered", "1.0.0")
            .unwrap()
            .as_str(),
        "lockfile",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
    // Retried like pnpm (a damaged body may be a one-off), then given up: 1 + 2 retries.
    assert_eq!(env.registry.request_count(&env.path_of(&pkg)), 3);
    // Orphan CAS files may exist (content-addressed, harmless); the row must not.
    let key = fetcher.index_key(&pkg);
    let rows = env.rows(fetcher, writer, std::slice::from_ref(&key));
    assert!(
        rows.is_empty(),
        "a row was published for a tarball that failed its integrity check"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrity_mismatch_while_streaming_publishes_no_row() {
    let env = Env::new().await;
    let mut pkg = env.add(simple("tampered-streamed"));
    let other = env.add(simple("other"));
    pkg.integrity = other.integrity.clone();
    let mut opts = env.options();
    opts.whole_body_max = 0;
    let (fetcher, writer) = env.fetcher(opts);
    let err = fetcher.fetch(&pkg).await.unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_INTEGRITY", "{err}");
    assert_eq!(env.registry.request_count(&env.path_of(&pkg)), 3);
    let key = fetcher.index_key(&pkg);
    assert!(env.rows(fetcher, writer, &[key]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_body_is_an_integrity_error() {
    let env = Env::new().await;
    let pkg = env.add(simple("flipped"));
    env.registry
        .inject(Fault::new(env.path_of(&pkg), FaultKind::Corrupt));
    let (fetcher, writer) = env.fetcher(env.options());
    let err = fetcher.fetch(&pkg).await.unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_INTEGRITY", "{err}");
    let key = fetcher.index_key(&pkg);
    assert!(env.rows(fetcher, writer, &[key]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_body_once_is_retried() {
    let env = Env::new().await;
    let pkg = env.add(simple("flipped-once"));
    env.registry
        .inject(Fault::new(env.path_of(&pkg), FaultKind::Corrupt).times(1));
    let (fetcher, _writer) = env.fetcher(env.options());
    fetcher.fetch(&pkg).await.unwrap();
    assert_eq!(env.registry.request_count(&env.path_of(&pkg)), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_500_503_then_success() {
    let env = Env::new().await;
    let pkg = env.add(simple("flaky"));
    let path = env.path_of(&pkg);
    env.registry
        .inject(Fault::new(&path, FaultKind::Truncate { send: 100 }).times(1));
    env.registry.inject(Fault::status(&path, 500).times(1));
    env.registry.inject(Fault::status(&path, 503).times(1));
    let mut opts = env.options();
    opts.retry.retries = 3;
    let (fetcher, writer) = env.fetcher(opts);
    let row = fetcher.fetch(&pkg).await.unwrap();
    assert!(row.files.contains_key("index.js"));

    let log: Vec<(u16, Option<&str>)> = env
        .registry
        .requests()
        .iter()
        .filter(|r| r.is_for(&path))
        .map(|r| (r.status, r.fault))
        .collect();
    // The log is appended as responses finish, so compare as a set, not in order.
    let mut seen = log.clone();
    seen.sort();
    assert_eq!(seen.len(), 4, "{log:?}");
    assert!(
        seen.contains(&(500, Some("status"))) && seen.contains(&(503, Some("status"))),
        "{log:?}"
    );
    assert!(seen.iter().any(|(_, f)| *f == Some("truncate")), "{log:?}");
    assert_eq!(
        seen.iter().filter(|r| **r == (200, None)).count(),
        1,
        "{log:?}"
    );
    let reasons = retry_reasons(&env);
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].contains("truncated") || reasons[0].contains("flaky"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("500") && reasons[2].contains("503"),
        "{reasons:?}"
    );
    let key = fetcher.index_key(&pkg);
    assert_eq!(
        env.rows(fetcher, writer, std::slice::from_ref(&key)).len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_out_on_a_persistent_500() {
    let env = Env::new().await;
    let pkg = env.add(simple("down"));
    env.registry.inject(Fault::status(env.path_of(&pkg), 500));
    let (fetcher, _w) = env.fetcher(env.options());
    let err = fetcher.fetch(&pkg).await.unwrap_err();
    assert!(
        matches!(err, FetchError::HttpStatus { status: 500, .. }),
        "{err}"
    );
    assert_eq!(env.registry.request_count(&env.path_of(&pkg)), 3); // 1 + 2 retries
    assert_eq!(retry_reasons(&env).len(), 2);
}

/// pnpm retries 409 and 420 as it retries 408, 429 and 5xx, and gives up on a status with
/// `ERR_PNPM_TARBALL_HTTP_STATUS`, the status in the message; 400 is not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_are_retried_and_named_as_pnpm_does() {
    let env = Env::new().await;
    for (name, status, retried) in [
        ("conflict", 409, true),
        ("calm", 420, true),
        ("bad", 400, false),
    ] {
        let pkg = env.add(simple(name));
        env.registry
            .inject(Fault::status(env.path_of(&pkg), status).times(1));
        let (fetcher, _w) = env.fetcher(env.options());
        let fetched = fetcher.fetch(&pkg).await;
        assert_eq!(fetched.is_ok(), retried, "{status}: {fetched:?}");
        let expected_requests = if retried { 2 } else { 1 };
        assert_eq!(
            env.registry.request_count(&env.path_of(&pkg)),
            expected_requests,
            "{status}"
        );
    }
    let pkg = env.add(simple("down-for-good"));
    env.registry.inject(Fault::status(env.path_of(&pkg), 503));
    let mut opts = env.options();
    opts.retry.retries = 0;
    let (fetcher, _w) = env.fetcher(opts);
    let err = fetcher.fetch(&pkg).await.unwrap_err();
    assert!(
        matches!(err, FetchError::HttpStatus { status: 503, .. }),
        "{err}"
    );
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_HTTP_STATUS", "{err}");
    assert!(err.to_string().contains("failed with 503"), "{err}");
}

/// A tarball URL that is no URL (a registry setting without its scheme) fails at once with a
/// message about the setting; it was retried as a network error for about a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_tarball_url_fails_at_once_naming_the_setting() {
    let env = Env::new().await;
    let mut pkg = env.pkg("nowhere", "1.0.0");
    pkg.tarball_url = "https://exa mple.test/nowhere/-/nowhere-1.0.0.tgz".to_string();
    pkg.integrity = Some(tack_tarball::sha512_sri(b"x"));
    let (fetcher, _w) = env.fetcher(env.options());
    let started = std::time::Instant::now();
    let err = fetcher.fetch(&pkg).await.unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_BAD_TARBALL_URL", "{err}");
    assert!(err.to_string().contains("registry"), "{err}");
    assert!(retry_reasons(&env).is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let env = Env::new().await;
    let pkg = env.add(simple("throttled"));
    let path = env.path_of(&pkg);
    env.registry.inject(
        Fault::new(
            &path,
            FaultKind::Status {
                code: 429,
                retry_after: Some(1),
            },
        )
        .times(1),
    );
    let mut opts = env.options();
    opts.retry.max_timeout = Duration::from_secs(5);
    let (fetcher, _w) = env.fetcher(opts);
    fetcher.fetch(&pkg).await.unwrap();
    let delays: Vec<Duration> = env
        .events
        .lock()
        .iter()
        .filter_map(|e| match e {
            FetchEvent::Retry { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(delays, [Duration::from_secs(1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_fails_at_once() {
    let env = Env::new().await;
    let mut pkg = env.pkg("ghost", "1.0.0");
    pkg.tarball_url = format!("{}ghost/-/ghost-1.0.0.tgz", env.registry.url());
    pkg.integrity = Some(tack_tarball::sha512_sri(b"x"));
    let (fetcher, _w) = env.fetcher(env.options());
    let err = fetcher.fetch(&pkg).await.unwrap_err();
    assert!(
        matches!(err, FetchError::HttpStatus { status: 404, .. }),
        "{err}"
    );
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_HTTP_STATUS", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("ghost@1.0.0") && msg.contains("registry URL"),
        "{msg}"
    );
    assert_eq!(env.registry.request_count("/ghost/-/ghost-1.0.0.tgz"), 1);
    assert!(retry_reasons(&env).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_fetches_download_once() {
    let env = Env::new().await;
    let pkg = env.add(simple("popular"));
    // Slow the one download down so the others really overlap it.
    env.registry.inject(
        Fault::new(
            env.path_of(&pkg),
            FaultKind::Delay(Duration::from_millis(300)),
        )
        .times(1),
    );
    let (fetcher, _w) = env.fetcher(env.options());
    // All eight are polled once before any can finish, so they all meet in one slot.
    let rows: Vec<_> = futures_util::future::join_all((0..8).map(|_| fetcher.fetch(&pkg)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(rows.iter().all(|r| std::sync::Arc::ptr_eq(r, &rows[0])));
    assert_eq!(env.registry.request_count(&env.path_of(&pkg)), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_failure_wakes_every_waiter_and_can_be_retried_later() {
    let mut env = Env::new().await;
    // A slow registry, so every waiter has joined before the failure comes back.
    env.registry = tack_test_registry::TestRegistry::start(tack_test_registry::RegistryOptions {
        rtt: Some(Duration::from_millis(300)),
        ..tack_test_registry::RegistryOptions::empty()
    })
    .await
    .unwrap();
    let pkg = env.add(simple("shaky"));
    let path = env.path_of(&pkg);
    env.registry.inject(Fault::status(&path, 403).times(1));
    let (fetcher, _w) = env.fetcher(env.options());
    let all = futures_util::future::join_all((0..8).map(|_| fetcher.fetch(&pkg)));
    let results = tokio::time::timeout(Duration::from_secs(30), all)
        .await
        .expect("a waiter hung");
    for result in results {
        let log = env.registry.requests();
        match result {
            Ok(_) => panic!("a waiter succeeded: {log:#?}"),
            Err(e) => assert!(
                matches!(e, FetchError::HttpStatus { status: 403, .. }),
                "{e} {log:?}"
            ),
        }
    }
    assert_eq!(env.registry.request_count(&path), 1);
    // The failure is not cached: the next call tries again and succeeds.
    fetcher.fetch(&pkg).await.unwrap();
    assert_eq!(env.registry.request_count(&path), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_drip_trips_the_idle_timeout() {
    let env = Env::new().await;
    let pkg = env.add(simple("dripping"));
    env.registry.inject(Fault::new(
        env.path_of(&pkg),
        FaultKind::SlowDrip {
            bytes: 16,
            every: Duration::from_secs(3),
        },
    ));
    let mut opts = env.options();
    opts.idle_timeout = Duration::from_millis(300);
    opts.retry.retries = 1;
    let (fetcher, writer) = env.fetcher(opts);
    let err = tokio::time::timeout(Duration::from_secs(45), fetcher.fetch(&pkg))
        .await
        .expect("the fetch hung")
        .unwrap_err();
    assert!(matches!(err, FetchError::IdleTimeout { .. }), "{err}");
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_FETCH_TARBALL", "{err}");
    assert!(err.to_string().contains("dripping@1.0.0"), "{err}");
    assert_eq!(retry_reasons(&env).len(), 1);
    let key = fetcher.index_key(&pkg);
    assert!(env.rows(fetcher, writer, &[key]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_but_moving_download_is_not_killed() {
    let env = Env::new().await;
    let pkg =
        env.add(PackageDef::new("trickle", "1.0.0").file("index.js", "x".repeat(2000), 0o644));
    // Each pause is below the idle timeout; the whole download takes longer than it.
    env.registry.inject(Fault::new(
        env.path_of(&pkg),
        FaultKind::SlowDrip {
            bytes: 200,
            every: Duration::from_millis(100),
        },
    ));
    let mut opts = env.options();
    opts.idle_timeout = Duration::from_millis(700);
    opts.retry.retries = 0;
    let (fetcher, _w) = env.fetcher(opts);
    fetcher.fetch(&pkg).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_never_touches_the_network() {
    let env = Env::new().await;
    let pkg = env.add(simple("cached"));
    let mut opts = env.options();
    opts.offline = true;
    let (offline, _w) = env.fetcher(opts.clone());
    let err = offline.fetch(&pkg).await.unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_NO_OFFLINE_TARBALL");
    let msg = err.to_string();
    assert!(
        msg.contains("Failed to fetch tarball for cached@1.0.0") && msg.contains("offline mode"),
        "{msg}"
    );
    drop(offline);

    // Fill the store online, then offline succeeds from it.
    let (online, writer) = env.fetcher(env.options());
    online.fetch(&pkg).await.unwrap();
    let key = online.index_key(&pkg);
    env.rows(online, writer, &[key]);
    let requests_so_far = env.registry.requests().len();
    let (offline, _w) = env.fetcher(opts);
    let row = offline.fetch(&pkg).await.unwrap();
    assert!(row.files.contains_key("index.js"));
    assert_eq!(env.registry.requests().len(), requests_so_far);
    assert_eq!(requests_so_far, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_integrity_is_refused_when_required() {
    let env = Env::new().await;
    let mut pkg = env.add(simple("unpinned"));
    pkg.integrity = None;
    let mut opts = env.options();
    opts.require_integrity = true;
    let (fetcher, _w) = env.fetcher(opts);
    let err = fetcher.fetch(&pkg).await.unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_MISSING_TARBALL_INTEGRITY");
    assert_eq!(env.registry.requests().len(), 0);
    // Without the flag it is fetched (and keyed `<pkgId>\tbuilt`).
    let (fetcher, _w) = env.fetcher(env.options());
    fetcher.fetch(&pkg).await.unwrap();
    assert_eq!(fetcher.index_key(&pkg), "unpinned@1.0.0\tbuilt");
}

/// Bytes that gzip cannot shrink, so the tarball is about as large as they are.
fn incompressible(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A package whose tarball drips in (4 KiB every 10 ms, about 0.15 s in all), with
/// options under which such a body counts as slow after 20 ms.
fn slow_large_body(env: &Env, name: &str) -> (tack_tarball::PackageToFetch, Vec<u8>) {
    let blob = incompressible(56 * 1024);
    let pkg = env.add(
        PackageDef::new(name, "1.0.0")
            .file("blob.bin", blob.clone(), 0o644)
            .file("index.js", "module.exports = 1;\n", 0o644),
    );
    env.registry.inject(Fault::new(
        env.path_of(&pkg),
        FaultKind::SlowDrip {
            bytes: 4096,
            every: Duration::from_millis(10),
        },
    ));
    (pkg, blob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_large_body_is_unpacked_while_it_arrives() {
    let env = Env::new().await;
    let (pkg, blob) = slow_large_body(&env, "slow-large");
    let mut opts = env.options();
    opts.slow_body_min = 1;
    opts.slow_body_after = Duration::from_millis(20);
    let (fetcher, writer) = env.fetcher(opts);
    fetcher.fetch(&pkg).await.unwrap();
    let key = fetcher.index_key(&pkg);
    let rows = env.rows(fetcher, writer, std::slice::from_ref(&key));
    let files = &rows[&key].files;
    assert_eq!(files["blob.bin"].digest, sha512_hex(&blob));
    assert_eq!(files["blob.bin"].size, blob.len() as u64);
    assert_eq!(files["index.js"].size, 20);
    let cas = env.store.cas_path(&files["blob.bin"].digest, false);
    assert_eq!(std::fs::read(cas).unwrap(), blob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_large_body_with_a_wrong_integrity_publishes_no_row() {
    let env = Env::new().await;
    let (mut pkg, _) = slow_large_body(&env, "slow-tampered");
    let other = env.add(simple("other"));
    pkg.integrity = other.integrity.clone();
    let mut opts = env.options();
    opts.slow_body_min = 1;
    opts.slow_body_after = Duration::from_millis(20);
    opts.retry.retries = 0;
    let (fetcher, writer) = env.fetcher(opts);
    let err = fetcher.fetch(&pkg).await.unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_INTEGRITY", "{err}");
    let key = fetcher.index_key(&pkg);
    assert!(env.rows(fetcher, writer, &[key]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_beyond_the_stream_slots_are_read_whole() {
    // One unpack worker gives two stream slots: of four slow bodies, two go on as streams and
    // the others are read whole. Every one must arrive intact either way.
    let env = Env::new().await;
    let pkgs: Vec<_> = (0..4)
        .map(|i| slow_large_body(&env, &format!("slow-many-{i}")))
        .collect();
    let mut opts = env.options();
    opts.unpack_concurrency = 1;
    opts.slow_body_min = 1;
    opts.slow_body_after = Duration::from_millis(20);
    let (fetcher, writer) = env.fetcher(opts);
    let fetches = pkgs.iter().map(|(pkg, _)| fetcher.fetch(pkg));
    for result in futures_util::future::join_all(fetches).await {
        result.unwrap();
    }
    let keys: Vec<String> = pkgs.iter().map(|(pkg, _)| fetcher.index_key(pkg)).collect();
    let rows = env.rows(fetcher, writer, &keys);
    for ((_, blob), key) in pkgs.iter().zip(&keys) {
        assert_eq!(
            rows[key].files["blob.bin"].digest,
            sha512_hex(blob),
            "{key}"
        );
    }
}
