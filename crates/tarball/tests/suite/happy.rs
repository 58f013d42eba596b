//! Packages that should simply land in the store.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use tack_tarball::{AuthTable, FetchError};
use tack_test_registry::{sha1_integrity, PackageDef};

use crate::common::{sha512_hex, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_package_lands_in_the_cas_with_its_row() {
    let env = Env::new().await;
    let pkg = env.add(
        PackageDef::new("@acme/widget", "1.2.3")
            .file("index.js", "module.exports = 42\n", 0o644)
            .file("lib/util.js", "exports.x = 1\n", 0o644),
    );
    assert!(
        pkg.tarball_url.contains("/@acme/widget/-/widget-1.2.3.tgz"),
        "{}",
        pkg.tarball_url
    );
    let (fetcher, writer) = env.fetcher(env.options());
    let row = fetcher.fetch(&pkg).await.unwrap();

    let index = &row.files["index.js"];
    assert_eq!(index.digest, sha512_hex(b"module.exports = 42\n"));
    assert_eq!(index.size, 20);
    assert!(index.checked_at.is_some());
    for (path, info) in &row.files {
        let cas = env.store.cas_path(&info.digest, info.mode & 0o111 != 0);
        let content = std::fs::read(&cas).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(sha512_hex(&content), info.digest, "{path}");
    }
    let manifest = row.manifest.as_ref().unwrap();
    assert_eq!(manifest["name"], "@acme/widget");
    assert_eq!(manifest["version"], "1.2.3");
    assert_eq!(row.requires_build, Some(false));
    assert_eq!(row.algo, "sha512");

    let key = fetcher.index_key(&pkg);
    assert!(
        key.starts_with("sha512-") && key.ends_with("\t@acme/widget@1.2.3"),
        "{key}"
    );
    let rows = env.rows(fetcher, writer, std::slice::from_ref(&key));
    assert_eq!(rows[&key].files.len(), row.files.len());
    env.assert_nothing_outside_store();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bins_keep_their_exec_bit_as_exec_cas_files() {
    let env = Env::new().await;
    let pkg = env.add(
        PackageDef::new("with-bin", "1.0.0")
            .file("bin/cli.js", "#!/usr/bin/env node\n", 0o755)
            .file("README.md", "hi\n", 0o644)
            .field("bin", serde_json::json!({"with-bin": "bin/cli.js"})),
    );
    let (fetcher, _writer) = env.fetcher(env.options());
    let row = fetcher.fetch(&pkg).await.unwrap();
    let cli = &row.files["bin/cli.js"];
    assert_eq!(cli.mode, 0o755);
    let exec_path = env.store.cas_path(&cli.digest, true);
    assert!(exec_path.to_string_lossy().ends_with("-exec"));
    let mode = std::fs::metadata(&exec_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "{mode:o}");
    let readme = &row.files["README.md"];
    assert_eq!(readme.mode, 0o644);
    assert!(env.store.cas_path(&readme.digest, false).exists());
    assert!(!env.store.cas_path(&readme.digest, true).exists());
    assert_eq!(
        row.manifest.as_ref().unwrap()["bin"]["with-bin"],
        "bin/cli.js"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_file_package() {
    let env = Env::new().await;
    let mut def = PackageDef::new("many-files", "1.0.0");
    for i in 0..1000 {
        def = def.file(
            format!("lib/f{i:04}.js"),
            format!("module.exports = {i};\n"),
            0o644,
        );
    }
    let pkg = env.add(def);
    // Streamed into the extractor while downloading, then (into a second store) read whole
    // and unpacked from memory: the same row either way.
    let mut streamed = env.options();
    streamed.whole_body_max = 0;
    let (fetcher, _writer) = env.fetcher(streamed);
    let streamed_row = fetcher.fetch(&pkg).await.unwrap();
    let env = Env::with_registry(env.registry).await;
    let (fetcher, writer) = env.fetcher(env.options());
    let row = fetcher.fetch(&pkg).await.unwrap();
    assert_eq!(
        streamed_row.files.keys().collect::<Vec<_>>(),
        row.files.keys().collect::<Vec<_>>()
    );
    for (path, info) in &row.files {
        assert_eq!(info.digest, streamed_row.files[path].digest, "{path}");
        assert_eq!(info.mode, streamed_row.files[path].mode, "{path}");
    }
    assert_eq!(row.files.len(), 1001); // + package.json
    for i in [0, 499, 999] {
        let info = &row.files[format!("lib/f{i:04}.js").as_str()];
        assert_eq!(
            info.digest,
            sha512_hex(format!("module.exports = {i};\n").as_bytes())
        );
        assert!(env.store.cas_path(&info.digest, false).exists());
    }
    let key = fetcher.index_key(&pkg);
    let rows = env.rows(fetcher, writer, std::slice::from_ref(&key));
    assert_eq!(rows[&key].files.len(), 1001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha1_only_integrity_is_verified_with_sha1() {
    let env = Env::new().await;
    let mut pkg = env.add(PackageDef::new("old-pkg", "0.1.0").file("index.js", "old\n", 0o644));
    let tgz = env.registry.tarball("old-pkg", "0.1.0").unwrap();
    pkg.integrity = Some(sha1_integrity(&tgz));
    assert!(pkg.integrity.as_deref().unwrap().starts_with("sha1-"));
    let (fetcher, _writer) = env.fetcher(env.options());
    let row = fetcher.fetch(&pkg).await.unwrap();
    assert!(row.files.contains_key("index.js"));

    // The same package under a wrong sha1 is refused.
    let mut wrong = pkg.clone();
    wrong.pkg_id = "old-pkg@0.1.0-wrong".into();
    wrong.integrity = Some(sha1_integrity(b"something else"));
    let err = fetcher.fetch(&wrong).await.unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_INTEGRITY", "{err}");
}

fn auth(pairs: &[(&str, &str)]) -> AuthTable {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AuthTable::from_npmrc(&map)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_registry_with_auth() {
    let env = Env::new().await;
    let pkg = env.add(PackageDef::new("@private/lib", "1.0.0").file("index.js", "secret\n", 0o644));
    let public = env.add(PackageDef::new("public-lib", "1.0.0").file("index.js", "open\n", 0o644));
    env.registry
        .require_auth_for("/@private/", Some("Bearer good-token".into()));
    let nerf = format!("//127.0.0.1:{}/", env.registry.port());
    let path = env.path_of(&pkg);

    // The right token, keyed by scope: success, and the public package gets no header.
    let mut opts = env.options();
    opts.auth = auth(&[(&format!("{nerf}:@private:_authToken"), "good-token")]);
    let (fetcher, _w) = env.fetcher(opts);
    fetcher.fetch(&pkg).await.unwrap();
    fetcher.fetch(&public).await.unwrap();
    let log = env.registry.requests();
    let private_req = log.iter().find(|r| r.is_for(&path)).unwrap();
    assert_eq!(
        private_req.authorization.as_deref(),
        Some("Bearer good-token")
    );
    let public_req = log
        .iter()
        .find(|r| r.is_for(&env.path_of(&public)))
        .unwrap();
    assert_eq!(
        public_req.authorization, None,
        "a scope's token leaked to another package"
    );

    // A wrong token and no token: 401 at once, one request each, a message that says
    // what to check and never shows the token.
    for (label, table) in [
        (
            "wrong",
            auth(&[(&format!("{nerf}:_authToken"), "bad-token")]),
        ),
        ("absent", AuthTable::default()),
    ] {
        env.registry.clear_requests();
        let mut opts = env.options();
        opts.auth = table;
        let (fetcher, _w) = env.fetcher(opts);
        let err = fetcher.fetch(&pkg).await.unwrap_err();
        assert!(
            matches!(err, FetchError::HttpStatus { status: 401, .. }),
            "{label}: {err}"
        );
        assert_eq!(err.code(), "ERR_PNPM_TARBALL_HTTP_STATUS");
        let msg = err.to_string();
        assert!(
            msg.contains(".npmrc") && msg.contains("@private/lib@1.0.0"),
            "{msg}"
        );
        assert!(!msg.contains("bad-token"), "{msg}");
        assert_eq!(
            env.registry.request_count(&path),
            1,
            "{label}: a 401 must not be retried"
        );
        assert!(env
            .events
            .lock()
            .iter()
            .all(|e| !matches!(e, tack_tarball::FetchEvent::Retry { .. })));
    }
}

/// Forty packages fetched at once through two download slots, one unpack worker and a
/// body budget smaller than any body: bodies read whole wait for the worker without holding
/// a download slot, streamed ones (the larger half) hold a download slot and a stream slot,
/// and all of them land in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_packages_share_few_download_slots_and_one_unpack_worker() {
    let env = Env::new().await;
    // Hex of a pseudo-random stream: it does not compress, so the body is as large as it.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut noise = |len: usize| -> String {
        (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                char::from_digit((seed >> 60) as u32, 16).unwrap_or('0')
            })
            .collect()
    };
    let pkgs: Vec<_> = (0..40)
        .map(|i| {
            let size = if i % 2 == 0 { 5_000 } else { 40_000 };
            env.add(PackageDef::new(format!("slot-{i}"), "1.0.0").file(
                "index.js",
                format!("// {i}\n{}", noise(size)),
                0o644,
            ))
        })
        .collect();
    let mut opts = env.options();
    opts.network_concurrency = 2;
    opts.unpack_concurrency = 1;
    opts.body_budget_kib = 1;
    opts.whole_body_max = 10_000;
    let (fetcher, writer) = env.fetcher(opts);
    let fetches = pkgs.iter().map(|pkg| {
        let fetcher = fetcher.clone();
        let pkg = pkg.clone();
        tokio::spawn(async move { fetcher.fetch(&pkg).await })
    });
    let rows = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        futures_util::future::join_all(fetches),
    )
    .await
    .expect("the fetches finished");
    let mut keys = Vec::new();
    for (pkg, row) in pkgs.iter().zip(rows) {
        let row = row.unwrap().unwrap();
        let info = &row.files["index.js"];
        assert!(
            env.store.cas_path(&info.digest, false).exists(),
            "{}",
            pkg.name
        );
        keys.push(fetcher.index_key(pkg));
    }
    let stored = env.rows(fetcher, writer, &keys);
    assert_eq!(stored.len(), 40);
}
