//! `extract_tarball` on its own, into a real store: the pnpm extraction rules.

use tack_store_dir::StoreDir;
use tack_tarball::{
    extract_tarball, unpack_tarball, unpack_tarball_bytes, unpack_verified_group,
    unpack_verified_tarball_bytes, CasSink, CasWriteError, ExtractCaps, FetchError, GroupMember,
    HashedFile, PLACEHOLDER_PACKAGE_JSON,
};

use crate::common::{gzip, raw_tar, sha512_hex, RawEntry};

fn store() -> (tempfile::TempDir, StoreDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    store.ensure_layout().unwrap();
    (dir, store)
}

#[test]
fn later_duplicates_win_and_dirs_are_dropped() {
    let (_d, store) = store();
    let tar = raw_tar(&[
        RawEntry {
            kind: b'5',
            ..RawEntry::file("package/lib/", b"")
        },
        RawEntry::file("package/lib/a.js", b"first"),
        RawEntry::file("package/lib/a.js", b"second"),
        RawEntry::file("package/package.json", br#"{"name":"d","version":"1.0.0"}"#),
    ]);
    let row = extract_tarball(&gzip(&tar)[..], "d@1.0.0", &store, ExtractCaps::default()).unwrap();
    assert_eq!(row.files.len(), 2);
    assert_eq!(row.files["lib/a.js"].digest, sha512_hex(b"second"));
}

#[test]
fn missing_package_json_gets_the_placeholder() {
    let (_d, store) = store();
    let tar = raw_tar(&[RawEntry::file("package/index.js", b"x")]);
    let row = extract_tarball(&gzip(&tar)[..], "n@1.0.0", &store, ExtractCaps::default()).unwrap();
    let pj = &row.files["package.json"];
    assert_eq!(pj.digest, sha512_hex(PLACEHOLDER_PACKAGE_JSON.as_bytes()));
    assert_eq!(
        std::fs::read(store.cas_path(&pj.digest, false)).unwrap(),
        PLACEHOLDER_PACKAGE_JSON.as_bytes()
    );
    assert_eq!(row.manifest, None);
}

#[test]
fn requires_build_from_scripts_and_files() {
    let (_d, store) = store();
    let tar = raw_tar(&[
        RawEntry::file(
            "package/package.json",
            br#"{"name":"g","version":"1.0.0","scripts":{"test":"x"}}"#,
        ),
        RawEntry::file("package/binding.gyp", b"{}"),
    ]);
    let row = extract_tarball(&gzip(&tar)[..], "g@1.0.0", &store, ExtractCaps::default()).unwrap();
    assert_eq!(row.requires_build, Some(true));
    assert_eq!(
        row.manifest.unwrap(),
        serde_json::json!({"name": "g", "version": "1.0.0"})
    );

    let tar = raw_tar(&[RawEntry::file(
        "package/package.json",
        br#"{"name":"p","version":"1.0.0","scripts":{"postinstall":"node x"}}"#,
    )]);
    let row = extract_tarball(&gzip(&tar)[..], "p@1.0.0", &store, ExtractCaps::default()).unwrap();
    assert_eq!(row.requires_build, Some(true));
    let tar = raw_tar(&[RawEntry::file(
        "package/package.json",
        br#"{"name":"q","version":"1.0.0"}"#,
    )]);
    let row = extract_tarball(&gzip(&tar)[..], "q@1.0.0", &store, ExtractCaps::default()).unwrap();
    assert_eq!(row.requires_build, Some(false));
}

#[test]
fn long_names_pax_and_gnu_and_raw_tar() {
    let (_d, store) = store();
    let long = format!("package/{}/file.js", "d".repeat(150));
    let mut builder = tar::Builder::new(Vec::new());
    // GNU long name (tar::Builder emits an `L` entry for paths over 100 bytes).
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    builder.append_data(&mut h, &long, &b"gnu"[..]).unwrap();
    // PAX `path` record.
    let pax_path = format!("package/{}/pax.js", "p".repeat(120));
    builder
        .append_pax_extensions([("path", pax_path.as_bytes())])
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path("package/short-name").unwrap();
    h.set_size(3);
    h.set_mode(0o755);
    h.set_cksum();
    builder.append(&h, &b"pax"[..]).unwrap();
    let tar = builder.into_inner().unwrap();

    let row = extract_tarball(&gzip(&tar)[..], "l@1.0.0", &store, ExtractCaps::default()).unwrap();
    let gnu_key = long.trim_start_matches("package/");
    let pax_key = pax_path.trim_start_matches("package/");
    assert_eq!(row.files[gnu_key].digest, sha512_hex(b"gnu"));
    assert_eq!(row.files[pax_key].digest, sha512_hex(b"pax"));
    assert_eq!(row.files[pax_key].mode, 0o755);
    // An uncompressed tar is accepted too, as pnpm does.
    let row = extract_tarball(&tar[..], "l@1.0.0", &store, ExtractCaps::default()).unwrap();
    assert!(row.files.contains_key(gnu_key));
}

/// Large streamed entries are read into pooled buffers, which the next package reuses: each
/// file must get exactly its own bytes, whatever the buffer held before.
#[test]
fn large_streamed_entries_each_get_their_own_bytes() {
    let (_d, store) = store();
    for (round, fill) in [(1, b'a'), (2, b'z')] {
        let big_a = vec![fill; 300 << 10];
        let big_b = vec![fill + 1; 200 << 10];
        let big_c = vec![fill - 1; 400 << 10];
        let tar = raw_tar(&[
            RawEntry::file(
                "package/package.json",
                br#"{"name":"big","version":"1.0.0"}"#,
            ),
            RawEntry::file("package/a.bin", &big_a),
            RawEntry::file("package/small.js", b"small"),
            RawEntry::file("package/b.bin", &big_b),
            RawEntry::file("package/c.bin", &big_c),
        ]);
        let id = format!("big@{round}.0.0");
        let row = extract_tarball(&gzip(&tar)[..], &id, &store, ExtractCaps::default()).unwrap();
        for (path, bytes) in [
            ("a.bin", &big_a[..]),
            ("small.js", &b"small"[..]),
            ("b.bin", &big_b[..]),
            ("c.bin", &big_c[..]),
        ] {
            let info = &row.files[path];
            assert_eq!(info.digest, sha512_hex(bytes), "{id} {path}");
            assert_eq!(info.size, bytes.len() as u64);
            let on_disk = std::fs::read(store.cas_path(&info.digest, false)).unwrap();
            assert!(on_disk == bytes, "{id} {path} holds other bytes");
        }
    }
}

/// Writes into a store and records the bytes of each batch it is handed.
struct BatchRecorder {
    store: StoreDir,
    batches: std::sync::Mutex<Vec<usize>>,
}

impl CasSink for BatchRecorder {
    fn write(&self, content: &[u8], exec: bool) -> Result<String, CasWriteError> {
        self.store
            .write_cas_file(content, exec)
            .map_err(|e| CasWriteError {
                message: e.to_string(),
                disk_full: false,
            })
    }

    fn write_hashed(&self, files: &[HashedFile<'_>]) -> Vec<Result<String, CasWriteError>> {
        let bytes = files.iter().map(|f| f.content.len()).sum();
        self.batches.lock().unwrap().push(bytes);
        files
            .iter()
            .map(|f| self.write(f.content, f.exec))
            .collect()
    }
}

#[test]
fn a_streamed_archive_is_written_out_a_few_mib_at_a_time() {
    // Streamed files are copies: they go to the CAS every couple of MiB, so a streamed
    // extraction holds little and its files land while the body is still arriving. Five
    // 900 KiB files with small ones in between cross that line once before the end.
    let (_d, store) = store();
    let bigs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'0' + i; 900 << 10]).collect();
    let names: Vec<String> = (0..5).map(|i| format!("package/big{i}.bin")).collect();
    let smalls: Vec<String> = (0..5).map(|i| format!("small {i}")).collect();
    let small_names: Vec<String> = (0..5).map(|i| format!("package/s{i}.js")).collect();
    let mut entries = vec![RawEntry::file(
        "package/package.json",
        br#"{"name":"flushes","version":"1.0.0"}"#,
    )];
    for i in 0..5 {
        entries.push(RawEntry::file(&names[i], &bigs[i]));
        entries.push(RawEntry::file(&small_names[i], smalls[i].as_bytes()));
    }
    let sink = BatchRecorder {
        store: store.clone(),
        batches: Default::default(),
    };
    let tar = gzip(&raw_tar(&entries));
    let unpacked =
        unpack_tarball(&tar[..], "flushes@1.0.0", &sink, &ExtractCaps::default()).unwrap();
    let batches = sink.batches.lock().unwrap().clone();
    assert!(batches.len() >= 2, "{batches:?}");
    assert!(
        batches.iter().all(|b| *b <= (2 << 20) + (900 << 10)),
        "{batches:?}"
    );
    assert_eq!(unpacked.files.len(), 11);
    for i in 0..5 {
        let big = &unpacked.files[&format!("big{i}.bin")];
        assert_eq!(big.digest, sha512_hex(&bigs[i]));
        let on_disk = std::fs::read(store.cas_path(&big.digest, false)).unwrap();
        assert!(on_disk == bigs[i], "big{i}.bin holds other bytes");
        let small = &unpacked.files[&format!("s{i}.js")];
        assert_eq!(small.digest, sha512_hex(smalls[i].as_bytes()));
    }
}

/// A verdict that accepts only `expected` and records every digest it was asked about.
struct Judge {
    expected: String,
    asked: std::sync::Mutex<Vec<String>>,
}

impl Judge {
    fn new(expected: String) -> Self {
        Judge {
            expected,
            asked: Default::default(),
        }
    }

    fn judge(&self, digest: &[u8; 64]) -> Result<(), FetchError> {
        let actual = hex::encode(digest);
        self.asked.lock().unwrap().push(actual.clone());
        if actual == self.expected {
            Ok(())
        } else {
            Err(FetchError::Integrity {
                pkg: "judged@1.0.0".into(),
                url: "http://127.0.0.1/judged.tgz".into(),
                expected: self.expected.clone(),
                actual,
            })
        }
    }
}

fn files_in_store(store: &StoreDir) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    Ok(_) => 1,
                    Err(_) => 0,
                })
                .sum()
        })
    }
    walk(&store.root().join("files"))
}

fn many_files_tgz() -> Vec<u8> {
    let contents: Vec<Vec<u8>> = (0..12u8)
        .map(|i| vec![b'a' + i; 300 * usize::from(i + 1)])
        .collect();
    let names: Vec<String> = (0..12).map(|i| format!("package/f{i}.js")).collect();
    let mut entries = vec![RawEntry::file(
        "package/package.json",
        br#"{"name":"judged","version":"1.0.0"}"#,
    )];
    entries.extend(
        names
            .iter()
            .zip(&contents)
            .map(|(n, c)| RawEntry::file(n, c)),
    );
    gzip(&raw_tar(&entries))
}

#[test]
fn the_archive_digest_is_judged_with_its_first_batch() {
    let (_d, store) = store();
    let tgz = many_files_tgz();
    let judge = Judge::new(sha512_hex(&tgz));
    let verdict = |d: &[u8; 64]| judge.judge(d);
    let caps = ExtractCaps::default();
    let verified =
        unpack_verified_tarball_bytes(&tgz, "judged@1.0.0", &store, &caps, &verdict).unwrap();
    // Asked once, about the archive's own bytes.
    assert_eq!(*judge.asked.lock().unwrap(), vec![sha512_hex(&tgz)]);
    let plain = unpack_tarball_bytes(&tgz, "judged@1.0.0", &store, &caps).unwrap();
    let shape = |u: &tack_tarball::UnpackedPackage| -> Vec<(String, String, u32, u64)> {
        u.files
            .iter()
            .map(|(p, f)| (p.clone(), f.digest.clone(), f.mode, f.size))
            .collect()
    };
    assert_eq!(shape(&verified), shape(&plain));
    assert_eq!(verified.manifest, plain.manifest);
    assert_eq!(files_in_store(&store), 13);
}

#[test]
fn a_wrong_archive_digest_stores_no_file() {
    let (_d, store) = store();
    let tgz = many_files_tgz();
    let judge = Judge::new(sha512_hex(b"what the lockfile says"));
    let verdict = |d: &[u8; 64]| judge.judge(d);
    let err = unpack_verified_tarball_bytes(
        &tgz,
        "judged@1.0.0",
        &store,
        &ExtractCaps::default(),
        &verdict,
    )
    .unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_INTEGRITY", "{err}");
    assert_eq!(
        files_in_store(&store),
        0,
        "files were stored before the verdict"
    );
}

#[test]
fn an_archive_without_files_is_judged_too() {
    let (_d, store) = store();
    let tgz = gzip(&raw_tar(&[RawEntry {
        kind: b'5',
        ..RawEntry::file("package/lib/", b"")
    }]));
    let judge = Judge::new(sha512_hex(b"something else"));
    let verdict = |d: &[u8; 64]| judge.judge(d);
    let err =
        unpack_verified_tarball_bytes(&tgz, "e@1.0.0", &store, &ExtractCaps::default(), &verdict)
            .unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_INTEGRITY", "{err}");
    assert_eq!(*judge.asked.lock().unwrap(), vec![sha512_hex(&tgz)]);
}

#[test]
fn a_broken_archive_with_a_wrong_digest_is_an_integrity_failure() {
    let (_d, store) = store();
    let mut tgz = many_files_tgz();
    let middle = tgz.len() / 2;
    tgz[middle] ^= 0xff;
    let caps = ExtractCaps::default();
    // Against the lockfile's digest (of the intact archive): the download was damaged.
    let judge = Judge::new(sha512_hex(&many_files_tgz()));
    let verdict = |d: &[u8; 64]| judge.judge(d);
    let err =
        unpack_verified_tarball_bytes(&tgz, "judged@1.0.0", &store, &caps, &verdict).unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_TARBALL_INTEGRITY", "{err}");
    // Against its own digest (a package published broken): the archive's own error.
    let judge = Judge::new(sha512_hex(&tgz));
    let verdict = |d: &[u8; 64]| judge.judge(d);
    let err =
        unpack_verified_tarball_bytes(&tgz, "judged@1.0.0", &store, &caps, &verdict).unwrap_err();
    assert_ne!(err.code(), "ERR_PNPM_TARBALL_INTEGRITY", "{err}");
}

/// A small package whose files are its own: `seed` makes every content unique.
fn small_package_tgz(seed: u8, files: usize) -> Vec<u8> {
    let manifest = format!(r#"{{"name":"p{seed}","version":"1.0.0"}}"#);
    let names: Vec<String> = (0..files).map(|i| format!("package/lib/f{i}.js")).collect();
    let contents: Vec<String> = (0..files)
        .map(|i| format!("// package {seed}, file {i}\n{}", "x".repeat(100 * i)))
        .collect();
    let mut entries = vec![RawEntry::file("package/package.json", manifest.as_bytes())];
    entries.extend(
        names
            .iter()
            .zip(&contents)
            .map(|(n, c)| RawEntry::file(n, c.as_bytes())),
    );
    gzip(&raw_tar(&entries))
}

#[test]
fn a_group_stores_what_each_member_would_alone_and_a_member_fails_alone() {
    let (_d, store) = store();
    let caps = ExtractCaps::default();
    let good = [
        small_package_tgz(1, 9),
        small_package_tgz(2, 3),
        many_files_tgz(),
    ];
    // Not gzip: this member is unpacked on its own, in the same call.
    let raw = raw_tar(&[RawEntry::file("package/raw.js", b"raw tar member")]);
    let wrong = small_package_tgz(3, 5);
    let mut broken = small_package_tgz(4, 40);
    let middle = broken.len() / 2;
    broken[middle] ^= 0xff;

    let judges = [
        Judge::new(sha512_hex(&good[0])),
        Judge::new(sha512_hex(&good[1])),
        Judge::new(sha512_hex(&good[2])),
        Judge::new(sha512_hex(&raw)),
        Judge::new(sha512_hex(b"what the lockfile says")),
        // Against the digest of the intact archive: the download was damaged.
        Judge::new(sha512_hex(&small_package_tgz(4, 40))),
    ];
    let verdicts: Vec<_> = judges
        .iter()
        .map(|judge| move |d: &[u8; 64]| judge.judge(d))
        .collect();
    let bodies: [&[u8]; 6] = [&good[0], &good[1], &good[2], &raw, &wrong, &broken];
    let members: Vec<GroupMember<'_>> = bodies
        .iter()
        .zip(&verdicts)
        .map(|(body, verdict)| GroupMember {
            body,
            pkg: "member@1.0.0",
            sink: &store,
            verdict,
        })
        .collect();
    let results = unpack_verified_group(&members, &caps);
    assert_eq!(results.len(), 6);

    let shape = |u: &tack_tarball::UnpackedPackage| -> Vec<(String, String, u32, u64)> {
        u.files
            .iter()
            .map(|(p, f)| (p.clone(), f.digest.clone(), f.mode, f.size))
            .collect()
    };
    for (i, body) in [&good[0][..], &good[1], &good[2], &raw]
        .into_iter()
        .enumerate()
    {
        let grouped = results[i].as_ref().unwrap();
        let alone = unpack_tarball_bytes(body, "member@1.0.0", &store, &caps).unwrap();
        assert_eq!(shape(grouped), shape(&alone), "member {i}");
        assert_eq!(grouped.manifest, alone.manifest, "member {i}");
        // Each verdict was asked once, about its own archive.
        assert_eq!(*judges[i].asked.lock().unwrap(), vec![sha512_hex(body)]);
    }
    for i in [4, 5] {
        let err = results[i].as_ref().unwrap_err();
        assert_eq!(
            err.code(),
            "ERR_PNPM_TARBALL_INTEGRITY",
            "member {i}: {err}"
        );
    }
    // Only the good members' files are in the store: package.json and 9 files, package.json
    // and 3, the 13 of `many_files_tgz`, and the raw member's file and placeholder manifest.
    assert_eq!(files_in_store(&store), 10 + 4 + 13 + 2);
}
