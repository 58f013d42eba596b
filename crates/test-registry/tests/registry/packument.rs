//! Packument shape (full and abbreviated), tarball bytes against `dist`, determinism.

use tack_test_registry::{
    pack_tarball, sha1_hex, sha512_integrity, RegistryOptions, TestRegistry, ABBREVIATED_MEDIA_TYPE,
};

use crate::client::get;

/// The integrity of the committed `is-odd@3.0.1` fixture. If this changes, every committed
/// lockfile that uses the fixtures breaks: packing must stay byte-for-byte stable.
const IS_ODD_INTEGRITY: &str =
    "sha512-G9aGs9DeuAeWx9EMTLCrJP1lDEVKXkx9WHHra3syh7G322xSLquxraIaGEZlHKZ2dTQ2/AJsS4bmkq8DkjYcjA==";

#[tokio::test]
async fn full_packument_has_versions_dist_and_old_times() {
    let reg = TestRegistry::start(RegistryOptions::default())
        .await
        .unwrap();
    let res = get(reg.addr(), "/is-number", &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/json"));
    let doc = res.json();
    assert_eq!(doc["name"], "is-number");
    assert_eq!(doc["_id"], "is-number");
    assert_eq!(doc["dist-tags"]["latest"], "7.0.0");
    let v6 = &doc["versions"]["6.0.0"];
    assert_eq!(v6["_id"], "is-number@6.0.0");
    assert_eq!(
        v6["description"],
        "tack test fixture: is the value a number"
    );
    assert_eq!(
        v6["dist"]["tarball"],
        format!("{}is-number/-/is-number-6.0.0.tgz", reg.url())
    );
    assert!(v6["dist"]["integrity"]
        .as_str()
        .unwrap()
        .starts_with("sha512-"));
    assert_eq!(v6["dist"]["shasum"].as_str().unwrap().len(), 40);
    assert_eq!(v6["dist"]["fileCount"], 2);
    assert!(v6["dist"]["unpackedSize"].as_u64().unwrap() > 100);
    assert_eq!(doc["time"]["6.0.0"], "2020-01-01T00:00:00.000Z");
    assert_eq!(doc["time"]["modified"], "2020-01-01T00:00:00.000Z");
}

#[tokio::test]
async fn abbreviated_packument_keeps_install_fields_only() {
    let reg = TestRegistry::start(RegistryOptions::default())
        .await
        .unwrap();
    let res = get(reg.addr(), "/is-odd", &[("Accept", ABBREVIATED_MEDIA_TYPE)]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some(ABBREVIATED_MEDIA_TYPE));
    let doc = res.json();
    assert!(doc.get("_id").is_none());
    assert_eq!(doc["modified"], "2020-01-01T00:00:00.000Z");
    let v = &doc["versions"]["3.0.1"];
    assert_eq!(v["dependencies"]["is-number"], "^6.0.0");
    assert_eq!(v["engines"]["node"], ">=4");
    assert!(
        v.get("description").is_none(),
        "abbreviated drops description: {v}"
    );
    assert!(v.get("main").is_none());
    assert!(v["dist"]["integrity"].is_string());
}

#[tokio::test]
async fn scoped_names_resolve_encoded_and_plain() {
    let reg = TestRegistry::start(RegistryOptions::default())
        .await
        .unwrap();
    for path in [
        "/@tack-test%2fscoped",
        "/@tack-test%2Fscoped",
        "/@tack-test/scoped",
    ] {
        let res = get(reg.addr(), path, &[]).await;
        assert_eq!(res.status, 200, "{path}");
        let doc = res.json();
        assert_eq!(
            doc["versions"]["1.0.0"]["dist"]["tarball"],
            format!("{}@tack-test/scoped/-/scoped-1.0.0.tgz", reg.url())
        );
    }
    let tgz = get(reg.addr(), "/@tack-test/scoped/-/scoped-1.0.0.tgz", &[]).await;
    assert_eq!(tgz.status, 200);
    assert_eq!(
        Some(sha512_integrity(&tgz.body)),
        reg.integrity("@tack-test/scoped", "1.0.0")
    );
    assert_eq!(
        get(reg.addr(), "/@tack-test/missing", &[]).await.status,
        404
    );
    assert_eq!(
        get(reg.addr(), "/is-odd/-/is-odd-9.9.9.tgz", &[])
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn every_fixture_tarball_matches_its_dist() {
    let reg = TestRegistry::start(RegistryOptions::default())
        .await
        .unwrap();
    let packages = reg.packages();
    assert!(packages.len() >= 14, "{packages:?}");
    for (name, version) in packages {
        let doc = get(reg.addr(), &format!("/{}", name.replace('/', "%2f")), &[])
            .await
            .json();
        let dist = &doc["versions"][&version]["dist"];
        let url = dist["tarball"].as_str().unwrap();
        let path = url.strip_prefix(reg.url().trim_end_matches('/')).unwrap();
        let tgz = get(reg.addr(), path, &[]).await;
        assert_eq!(tgz.status, 200, "{url}");
        assert_eq!(
            dist["integrity"],
            sha512_integrity(&tgz.body),
            "{name}@{version}"
        );
        assert_eq!(dist["shasum"], sha1_hex(&tgz.body), "{name}@{version}");
    }
}

#[tokio::test]
async fn uppercase_name_is_served() {
    let reg = TestRegistry::start(RegistryOptions::default())
        .await
        .unwrap();
    let doc = get(reg.addr(), "/UpperCase", &[]).await.json();
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    assert_eq!(get(reg.addr(), "/uppercase", &[]).await.status, 404);
}

#[test]
fn packing_is_deterministic_and_pinned() {
    let files = vec![
        ("b.js".to_string(), b"b".to_vec(), 0o644),
        (
            "package.json".to_string(),
            b"{\"name\":\"x\",\"version\":\"1.0.0\"}".to_vec(),
            0o600,
        ),
        ("bin/a".to_string(), b"#!/bin/sh\n".to_vec(), 0o700),
    ];
    let mut reversed = files.clone();
    reversed.reverse();
    assert_eq!(pack_tarball(&files), pack_tarball(&reversed));
    // Same content via a fresh registry: the committed fixture's integrity is pinned.
    let reg = TestRegistry::start_blocking(RegistryOptions::default()).unwrap();
    assert_eq!(reg.integrity("is-odd", "3.0.1").unwrap(), IS_ODD_INTEGRITY);
}

#[test]
fn tarball_entries_are_normalized() {
    let files = vec![
        ("x.js".to_string(), b"x".to_vec(), 0o600),
        ("bin/run".to_string(), b"#!/bin/sh\n".to_vec(), 0o700),
    ];
    let tgz = pack_tarball(&files);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz.as_slice()));
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        seen.push((
            entry.path().unwrap().to_string_lossy().into_owned(),
            h.mode().unwrap(),
            h.mtime().unwrap(),
            h.uid().unwrap(),
        ));
    }
    assert_eq!(
        seen,
        vec![
            ("package/bin/run".to_string(), 0o755, 499_162_500, 0),
            ("package/x.js".to_string(), 0o644, 499_162_500, 0),
        ]
    );
    // gzip header: no mtime, no file name.
    assert_eq!(&tgz[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
}
