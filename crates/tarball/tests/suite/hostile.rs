//! Hostile tarballs served by the registry: every escape is refused with an error naming
//! the package, bombs hit the caps, nothing lands outside the store, nothing crashes.

use tack_tarball::{ExtractCaps, FetchError};

use crate::common::{gzip, raw_tar, Env, RawEntry};

async fn fetch_err(env: &Env, name: &str, tgz: Vec<u8>, caps: Option<ExtractCaps>) -> FetchError {
    // Once read whole and unpacked from memory (the default for small bodies), once streamed
    // into the extractor: both paths must refuse the same way.
    let streamed = fetch_err_via(env, &format!("{name}-streamed"), tgz.clone(), caps, 0).await;
    let buffered = fetch_err_via(env, name, tgz, caps, tack_tarball::DEFAULT_WHOLE_BODY_MAX).await;
    assert_eq!(
        streamed.code(),
        buffered.code(),
        "{name}: the streamed path says {streamed}, the buffered one {buffered}"
    );
    buffered
}

async fn fetch_err_via(
    env: &Env,
    name: &str,
    tgz: Vec<u8>,
    caps: Option<ExtractCaps>,
    whole_body_max: u64,
) -> FetchError {
    let pkg = env.raw(name, tgz);
    let mut opts = env.options();
    opts.whole_body_max = whole_body_max;
    if let Some(caps) = caps {
        opts.caps = caps;
    }
    let (fetcher, writer) = env.fetcher(opts);
    let err = fetcher.fetch(&pkg).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!("{name}@1.0.0")),
        "error does not name the package: {err}"
    );
    assert_eq!(
        env.registry.request_count(&env.path_of(&pkg)),
        1,
        "{name}: hostile input must not be retried"
    );
    let key = fetcher.index_key(&pkg);
    assert!(
        env.rows(fetcher, writer, &[key]).is_empty(),
        "{name}: a row was published"
    );
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_paths_are_refused() {
    let env = Env::new().await;
    let cases: [(&str, &[u8]); 6] = [
        ("dotdot", b"package/../evil"),
        ("dotdot-top", b"../evil"),
        ("absolute", b"/abs"),
        ("backslash", b"package/..\\evil"),
        ("drive", b"package/C:evil"),
        ("deep", b"package/a/../../../sentinel/evil"),
    ];
    for (name, path) in cases {
        let tar = raw_tar(&[
            RawEntry::file("package/package.json", br#"{"name":"x","version":"1.0.0"}"#),
            RawEntry {
                path,
                ..RawEntry::file("", b"pwned")
            },
        ]);
        let err = fetch_err(&env, name, gzip(&tar), None).await;
        assert_eq!(err.code(), "ERR_TACK_TARBALL_UNSAFE_PATH", "{name}: {err}");
        let shown = format!("{:?}", String::from_utf8_lossy(path));
        assert!(err.to_string().contains(&shown), "{shown} not in {err}");
    }
    env.assert_nothing_outside_store();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_pointing_outside() {
    let env = Env::new().await;
    // A symlink is dropped whatever it points at: the package installs without it.
    let tar = raw_tar(&[
        RawEntry::file("package/package.json", br#"{"name":"s","version":"1.0.0"}"#),
        RawEntry {
            kind: b'2',
            link: b"../../../../etc/passwd",
            ..RawEntry::file("package/link", b"")
        },
    ]);
    let pkg = env.raw("symlinked", gzip(&tar));
    let (fetcher, _w) = env.fetcher(env.options());
    let row = fetcher.fetch(&pkg).await.unwrap();
    assert_eq!(row.files.keys().collect::<Vec<_>>(), ["package.json"]);

    // A hard link whose target escapes is refused.
    let tar = raw_tar(&[
        RawEntry::file("package/package.json", br#"{"name":"h","version":"1.0.0"}"#),
        RawEntry {
            kind: b'1',
            link: b"package/../../outside",
            ..RawEntry::file("package/hl", b"")
        },
    ]);
    let err = fetch_err(&env, "hardlinked", gzip(&tar), None).await;
    assert_eq!(err.code(), "ERR_TACK_TARBALL_UNSAFE_PATH", "{err}");

    // A hard link inside the package gets the content of the earlier entry.
    let tar = raw_tar(&[
        RawEntry::file("package/package.json", br#"{"name":"i","version":"1.0.0"}"#),
        RawEntry::file("package/real.js", b"real content"),
        RawEntry {
            kind: b'1',
            link: b"package/real.js",
            ..RawEntry::file("package/alias.js", b"")
        },
    ]);
    let pkg = env.raw("inner-link", gzip(&tar));
    let row = fetcher.fetch(&pkg).await.unwrap();
    assert_eq!(row.files["alias.js"], row.files["real.js"]);
    assert_eq!(row.files["alias.js"].size, 12);
    env.assert_nothing_outside_store();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decompression_bomb_hits_the_cap() {
    let env = Env::new().await;
    let zeros = vec![0u8; 20 << 20];
    let tar = raw_tar(&[
        RawEntry::file("package/package.json", br#"{"name":"b","version":"1.0.0"}"#),
        RawEntry::file("package/bomb.bin", &zeros),
    ]);
    let tgz = gzip(&tar);
    assert!(tgz.len() < 40 * 1024, "{}", tgz.len());
    let caps = ExtractCaps {
        max_unpacked_bytes: 8 << 20,
        ..ExtractCaps::default()
    };
    let err = fetch_err(&env, "bomb", tgz.clone(), Some(caps)).await;
    assert_eq!(err.code(), "ERR_TACK_TARBALL_TOO_LARGE", "{err}");

    let caps = ExtractCaps {
        max_entry_bytes: 1 << 20,
        ..ExtractCaps::default()
    };
    let err = fetch_err(&env, "bomb-entry", tgz, Some(caps)).await;
    assert_eq!(err.code(), "ERR_TACK_TARBALL_TOO_LARGE", "{err}");

    // A header that lies about a huge size: refused before any allocation.
    let tar = raw_tar(&[RawEntry {
        claimed_size: Some(100 << 30),
        ..RawEntry::file("package/huge", b"tiny")
    }]);
    let err = fetch_err(&env, "liar", gzip(&tar), None).await;
    assert_eq!(err.code(), "ERR_TACK_TARBALL_TOO_LARGE", "{err}");

    // Many tiny entries: the entry-count cap.
    let names: Vec<String> = (0..50).map(|i| format!("package/f{i}")).collect();
    let entries: Vec<RawEntry<'_>> = names.iter().map(|n| RawEntry::file(n, b"x")).collect();
    let caps = ExtractCaps {
        max_entries: 10,
        ..ExtractCaps::default()
    };
    let err = fetch_err(&env, "swarm", gzip(&raw_tar(&entries)), Some(caps)).await;
    assert_eq!(err.code(), "ERR_TACK_TARBALL_TOO_LARGE", "{err}");
    assert!(err.to_string().contains("entry count"), "{err}");
    env.assert_nothing_outside_store();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_archives() {
    let env = Env::new().await;
    let mut tar = raw_tar(&[RawEntry::file("package/package.json", b"{}")]);
    tar[148] ^= 0x01; // the header checksum field
    let err = fetch_err(&env, "bad-checksum", gzip(&tar), None).await;
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_IO_ERROR", "{err}");

    let err = fetch_err(
        &env,
        "not-gzip",
        b"<html>not a tarball</html>".repeat(40),
        None,
    )
    .await;
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_UNRECOGNIZED", "{err}");

    // A tar that is not gzipped is read as pnpm reads it.
    let plain = raw_tar(&[RawEntry::file("package/package.json", b"{}")]);
    let (fetcher, _writer) = env.fetcher(env.options());
    let row = fetcher.fetch(&env.raw("plain-tar", plain)).await;
    assert!(row.is_ok(), "{row:?}");

    // A gzip stream cut in the middle (with a matching integrity, so only gunzip sees it).
    let whole = gzip(&raw_tar(&[RawEntry::file("package/a.js", &[7u8; 5000])]));
    let err = fetch_err(&env, "cut-gzip", whole[..whole.len() / 2].to_vec(), None).await;
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_IO_ERROR", "{err}");
    env.assert_nothing_outside_store();
}
