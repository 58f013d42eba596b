//! The mirror (tarballs on disk, packuments synthesized), large packages, keep-alive,
//! network shaping and the `tack-registry` binary.

use std::io::BufRead;
use std::time::Duration;

use tack_test_registry::{
    gzip_deflate, pack_tarball, sha512_integrity, tar_bytes, PackageDef, RegistryOptions,
    TestRegistry,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::get;

fn manifest(name: &str, version: &str) -> Vec<u8> {
    format!(r#"{{"name":"{name}","version":"{version}","dependencies":{{"dep":"^1.0.0"}}}}"#)
        .into_bytes()
}

#[tokio::test]
async fn mirror_serves_tarballs_and_synthesizes_packuments() {
    let mirror = tempfile::tempdir().unwrap();
    let dir = mirror.path().join("@mirror-scope/real/-");
    fs_err::create_dir_all(&dir).unwrap();
    // Real deflate compression, as in tarballs from a public registry.
    let v1 = gzip_deflate(&tar_bytes(&[
        (
            "package.json".into(),
            manifest("@mirror-scope/real", "1.0.0"),
            0o644,
        ),
        ("index.js".into(), b"x".to_vec(), 0o644),
    ]));
    let v2 = pack_tarball(&[(
        "package.json".into(),
        manifest("@mirror-scope/real", "2.0.0-rc.1"),
        0o644,
    )]);
    fs_err::write(dir.join("real-1.0.0.tgz"), &v1).unwrap();
    fs_err::write(dir.join("real-2.0.0-rc.1.tgz"), &v2).unwrap();
    let reg = TestRegistry::start(RegistryOptions {
        mirror_dir: Some(mirror.path().to_path_buf()),
        ..RegistryOptions::empty()
    })
    .await
    .unwrap();

    let tgz = get(reg.addr(), "/@mirror-scope/real/-/real-1.0.0.tgz", &[]).await;
    assert_eq!(tgz.status, 200);
    assert_eq!(tgz.body, v1);
    let doc = get(reg.addr(), "/@mirror-scope%2freal", &[]).await.json();
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    let v = &doc["versions"]["1.0.0"];
    assert_eq!(v["dist"]["integrity"], sha512_integrity(&v1));
    assert_eq!(v["dist"]["fileCount"], 2);
    assert_eq!(v["dependencies"]["dep"], "^1.0.0");
    assert_eq!(
        doc["versions"]["2.0.0-rc.1"]["dist"]["integrity"],
        sha512_integrity(&v2)
    );
    assert_eq!(
        get(reg.addr(), "/@mirror-scope/real/-/real-9.0.0.tgz", &[])
            .await
            .status,
        404
    );
    assert_eq!(
        get(reg.addr(), "/@mirror-scope/real/-/../../../etc/passwd", &[])
            .await
            .status,
        404
    );
    assert_eq!(get(reg.addr(), "/not-mirrored", &[]).await.status, 404);
}

#[tokio::test]
async fn thousand_file_package() {
    let reg = TestRegistry::start(RegistryOptions::empty()).await.unwrap();
    let mut def = PackageDef::new("tack-many-files", "1.0.0");
    for i in 0..1000 {
        def = def.file(
            format!("lib/d{}/f{i}.js", i % 10),
            format!("module.exports={i};\n"),
            0o644,
        );
    }
    reg.add_package(def);
    let doc = get(reg.addr(), "/tack-many-files", &[]).await.json();
    assert_eq!(doc["versions"]["1.0.0"]["dist"]["fileCount"], 1001);
    let tgz = get(
        reg.addr(),
        "/tack-many-files/-/tack-many-files-1.0.0.tgz",
        &[],
    )
    .await;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz.body.as_slice()));
    assert_eq!(archive.entries().unwrap().count(), 1001);
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let reg = TestRegistry::start(RegistryOptions::default())
        .await
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(reg.addr()).await.unwrap();
    let req = "GET /is-odd HTTP/1.1\r\nHost: x\r\n\r\nGET /is-number HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    stream.read_to_end(&mut all).await.unwrap();
    let text = String::from_utf8_lossy(&all);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(text.contains("\"name\":\"is-number\""));
    assert_eq!(reg.requests().len(), 2);
}

#[tokio::test]
async fn bandwidth_cap_slows_bodies() {
    let reg = TestRegistry::start(RegistryOptions {
        bandwidth_bytes_per_sec: Some(1000),
        ..RegistryOptions::empty()
    })
    .await
    .unwrap();
    reg.add_package(PackageDef::new("tack-big", "1.0.0").file("blob", vec![7u8; 20_000], 0o644));
    let waited = tokio::time::timeout(
        Duration::from_millis(300),
        get(reg.addr(), "/tack-big/-/tack-big-1.0.0.tgz", &[]),
    )
    .await;
    assert!(waited.is_err(), "20 kB at 1 kB/s must not arrive at once");
}

#[tokio::test]
async fn rtt_delays_every_request() {
    let reg = TestRegistry::start(RegistryOptions {
        rtt: Some(Duration::from_secs(3600)),
        ..RegistryOptions::default()
    })
    .await
    .unwrap();
    let waited =
        tokio::time::timeout(Duration::from_millis(300), get(reg.addr(), "/is-odd", &[])).await;
    assert!(waited.is_err());
}

#[test]
fn binary_prints_its_url_and_serves_fixtures() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tack-registry"))
        .args(["--port", "0", "--rtt", "1ms", "--bandwidth", "1gbit"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
        "{url}"
    );
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt.block_on(get(addr, "/is-odd/-/is-odd-3.0.1.tgz", &[]));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(res.status, 200);
    assert!(sha512_integrity(&res.body).starts_with("sha512-G9aGs9"));
}
