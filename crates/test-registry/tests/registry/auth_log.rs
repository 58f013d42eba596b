//! Auth requirements, the request log, and packages added at run time.

use serde_json::json;
use tack_test_registry::{sha1_hex, sha512_integrity, PackageDef, RegistryOptions, TestRegistry};

use crate::client::get;

const TGZ: &str = "/is-odd/-/is-odd-3.0.1.tgz";

#[tokio::test]
async fn global_auth_rejects_without_and_accepts_with() {
    let reg = TestRegistry::start(RegistryOptions::default())
        .await
        .unwrap();
    assert_eq!(get(reg.addr(), TGZ, &[]).await.status, 200);
    reg.require_auth(Some("s3cret".into()));
    assert_eq!(get(reg.addr(), TGZ, &[]).await.status, 401);
    assert_eq!(
        get(reg.addr(), TGZ, &[("Authorization", "Bearer nope")])
            .await
            .status,
        401
    );
    assert_eq!(
        get(reg.addr(), TGZ, &[("Authorization", "Bearer s3cret")])
            .await
            .status,
        200
    );
    let log = reg.requests();
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200, 401, 401, 200]
    );
    assert_eq!(
        log.iter().map(|r| r.has_auth()).collect::<Vec<_>>(),
        vec![false, false, true, true]
    );
    assert_eq!(log[3].authorization.as_deref(), Some("Bearer s3cret"));
    reg.require_auth(None);
    assert_eq!(get(reg.addr(), TGZ, &[]).await.status, 200);
}

#[tokio::test]
async fn auth_per_path_prefix() {
    let reg = TestRegistry::start(RegistryOptions::default())
        .await
        .unwrap();
    reg.require_auth_for("/@tack-test/", Some("Basic dXNlcjpwYXNz".into()));
    assert_eq!(
        get(reg.addr(), "/@tack-test%2fscoped", &[]).await.status,
        401
    );
    assert_eq!(
        get(reg.addr(), "/@tack-test/scoped/-/scoped-1.0.0.tgz", &[])
            .await
            .status,
        401
    );
    let ok = get(
        reg.addr(),
        "/@tack-test%2fscoped",
        &[("Authorization", "Basic dXNlcjpwYXNz")],
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(get(reg.addr(), "/is-odd", &[]).await.status, 200);
}

#[tokio::test]
async fn request_count_counts_downloads() {
    let reg = TestRegistry::start(RegistryOptions::default())
        .await
        .unwrap();
    for _ in 0..3 {
        get(reg.addr(), TGZ, &[]).await;
    }
    get(reg.addr(), "/@tack-test%2fscoped", &[]).await;
    assert_eq!(reg.request_count(TGZ), 3);
    assert_eq!(reg.request_count("/is-number/-/is-number-6.0.0.tgz"), 0);
    // Both the encoded and the decoded form name the same request.
    assert_eq!(reg.request_count("/@tack-test%2fscoped"), 1);
    assert_eq!(reg.request_count("/@tack-test/scoped"), 1);
    assert_eq!(reg.requests().len(), 4);
    reg.clear_requests();
    assert_eq!(reg.request_count(TGZ), 0);
}

#[test]
fn blocking_registry_serves_added_packages_raw_bytes_and_sha1_only() {
    let reg = TestRegistry::start_blocking(RegistryOptions::empty()).unwrap();
    assert!(reg.packages().is_empty());
    reg.add_package(
        PackageDef::new("tack-added", "2.0.0")
            .file("index.js", "module.exports = 2;\n", 0o644)
            .field("dependencies", json!({ "is-number": "^7.0.0" })),
    );
    reg.add_package(PackageDef::new("tack-sha1", "1.0.0"));
    assert!(reg.set_integrity("tack-sha1", "1.0.0", None));
    reg.serve_raw(
        "/tack-evil/-/tack-evil-1.0.0.tgz",
        b"not a tarball".to_vec(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let doc = get(reg.addr(), "/tack-added", &[]).await.json();
        let v = &doc["versions"]["2.0.0"];
        assert_eq!(v["dependencies"]["is-number"], "^7.0.0");
        let tgz = get(reg.addr(), "/tack-added/-/tack-added-2.0.0.tgz", &[]).await;
        assert_eq!(v["dist"]["integrity"], sha512_integrity(&tgz.body));
        assert_eq!(v["dist"]["fileCount"], 2);
        // The generated package.json carries the fields too.
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz.body.as_slice()));
        let mut names = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().into_owned();
            if p == "package/package.json" {
                let m: serde_json::Value = serde_json::from_reader(&mut e).unwrap();
                assert_eq!(m["dependencies"]["is-number"], "^7.0.0");
            }
            names.push(p);
        }
        assert_eq!(names, vec!["package/index.js", "package/package.json"]);

        let sha1 = get(reg.addr(), "/tack-sha1", &[]).await.json();
        let dist = &sha1["versions"]["1.0.0"]["dist"];
        assert!(dist.get("integrity").is_none(), "{dist}");
        let body = get(reg.addr(), "/tack-sha1/-/tack-sha1-1.0.0.tgz", &[])
            .await
            .body;
        assert_eq!(dist["shasum"], sha1_hex(&body));

        let evil = get(reg.addr(), "/tack-evil/-/tack-evil-1.0.0.tgz", &[]).await;
        assert_eq!(evil.status, 200);
        assert_eq!(evil.body, b"not a tarball");
    });
    assert_eq!(reg.integrity("tack-sha1", "1.0.0"), None);
}
