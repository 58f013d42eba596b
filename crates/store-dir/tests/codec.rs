//! msgpackr records codec against bytes real pnpm 12 wrote into `index.db`
//! (fixtures generated from `file:` tarball installs), plus round trips and garbage.

use sha2::{Digest, Sha512};
use tack_store_dir::msgpackr::{self, decode_value, encode_value, Value};
use tack_store_dir::{CafsFileInfo, PackageFilesIndex, SideEffectsDiff};

const LOCAL_A: &[u8] = include_bytes!("fixtures/pnpm12-local-a.msgpack");
const LOCAL_B: &[u8] = include_bytes!("fixtures/pnpm12-scoped-local-b.msgpack");
const LOCAL_C: &[u8] = include_bytes!("fixtures/pnpm12-side-effects-local-c.msgpack");

fn sha512_hex(bytes: &[u8]) -> String {
    hex::encode(Sha512::digest(bytes))
}

#[test]
fn decodes_pnpm_row_with_bin_and_exec_file() {
    let row = msgpackr::decode(LOCAL_A).unwrap();
    assert_eq!(row.algo, "sha512");
    assert_eq!(row.requires_build, Some(false));
    assert_eq!(
        row.manifest,
        Some(serde_json::json!({
            "version": "1.2.3",
            "bin": {"local-a": "bin/cli.js"},
            "dependencies": {},
            "engines": {"node": ">=18"},
            "name": "local-a"
        }))
    );
    let names: Vec<&str> = row.files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "big.txt",
            "bin/cli.js",
            "empty.txt",
            "index.js",
            "package.json",
            "zero.txt"
        ]
    );
    let cli = &row.files["bin/cli.js"];
    assert_eq!(cli.mode, 0o755);
    assert!(cli.is_executable());
    assert_eq!(
        cli.digest,
        sha512_hex(b"#!/usr/bin/env node\nconsole.log(1)\n")
    );
    assert_eq!(cli.size, 35);
    let index = &row.files["index.js"];
    assert_eq!(index.mode, 0o644);
    assert!(!index.is_executable());
    assert_eq!(index.digest, sha512_hex(b"module.exports = 42\n"));
    assert_eq!(index.size, 20);
    assert_eq!(row.files["zero.txt"].size, 0);
    assert_eq!(row.files["zero.txt"].digest, sha512_hex(b""));
    assert_eq!(row.files["big.txt"].size, 94565);
    // checkedAt is a float64 epoch in milliseconds.
    let checked_at = cli.checked_at.unwrap();
    assert!(checked_at > 1.7e12 && checked_at < 4.0e12, "{checked_at}");
    assert!(row
        .tar_integrity
        .as_deref()
        .unwrap()
        .starts_with("sha512-o8k8"));
    assert!(row.side_effects.is_none());
}

#[test]
fn decodes_pnpm_row_with_scoped_name_and_peer_meta() {
    let row = msgpackr::decode(LOCAL_B).unwrap();
    assert_eq!(
        row.manifest,
        Some(serde_json::json!({
            "version": "0.0.1-beta.1",
            "cpu": ["x64"],
            "name": "@scope/local-b",
            "os": ["linux"],
            "peerDependencies": {"local-a": "*"},
            "peerDependenciesMeta": {"local-a": {"optional": true}}
        }))
    );
    assert_eq!(row.files.len(), 2);
    assert_eq!(row.files["index.js"].digest, sha512_hex(b"x\n"));
    // 0xba = 186 bytes: written as `cc ba` because 0x40..0x7f are record ids.
    assert!(row.files["package.json"].size > 0x7f);
}

#[test]
fn decodes_pnpm_row_with_side_effects() {
    let row = msgpackr::decode(LOCAL_C).unwrap();
    assert_eq!(row.requires_build, Some(true));
    assert_eq!(
        row.manifest.as_ref().unwrap()["scripts"]["postinstall"]
            .as_str()
            .unwrap()
            .len(),
        61
    );
    let side_effects = row.side_effects.as_ref().unwrap();
    assert_eq!(side_effects.len(), 1);
    let (cache_key, diff) = side_effects.first().unwrap();
    assert!(cache_key.starts_with("linux;x64;node"), "{cache_key}");
    assert!(cache_key.contains(";format=2;deps="), "{cache_key}");
    let added = diff.added.as_ref().unwrap();
    assert_eq!(added.len(), 1);
    let built = &added["built.txt"];
    assert_eq!(built.digest, sha512_hex(b"ok"));
    assert_eq!(built.size, 2);
    assert_eq!(built.checked_at, None);
    assert_eq!(diff.deleted, None);
}

#[test]
fn reencoding_pnpm_rows_gives_identical_bytes() {
    for (name, bytes) in [("a", LOCAL_A), ("b", LOCAL_B), ("c", LOCAL_C)] {
        let row = msgpackr::decode(bytes).unwrap();
        assert_eq!(msgpackr::encode(&row), bytes, "fixture {name}");
        // The generic value codec round-trips too.
        let value = decode_value(bytes).unwrap();
        assert_eq!(encode_value(&value), bytes, "fixture {name} (value level)");
    }
}

#[test]
fn rows_are_records_with_pnpm_layout() {
    let bytes = msgpackr::encode(&sample_row());
    // Top level is a record definition (`d4 72 40`), never a plain map.
    assert_eq!(&bytes[..3], &[0xd4, 0x72, 0x40]);
    let value = decode_value(&bytes).unwrap();
    let Value::Object(fields) = &value else {
        panic!("top level is not an object: {value:?}")
    };
    let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "algo",
            "requiresBuild",
            "manifest",
            "files",
            "sideEffects",
            "tarIntegrity"
        ]
    );
    // `files` is a plain msgpack map (a JS Map for pnpm), its entries are records.
    let files = value.get("files").unwrap();
    assert!(matches!(files, Value::Map(_)), "{files:?}");
    let info = files.get("a.js").unwrap();
    assert!(matches!(info, Value::Object(_)));
    // checkedAt is a float64.
    assert!(matches!(info.get("checkedAt"), Some(Value::F64(_))));
}

fn sample_row() -> PackageFilesIndex {
    let mut files = indexmap::IndexMap::new();
    for (i, name) in ["a.js", "b/c.js", "bin/x"].iter().enumerate() {
        files.insert(
            name.to_string(),
            CafsFileInfo {
                digest: sha512_hex(name.as_bytes()),
                mode: if i == 2 { 0o755 } else { 0o644 },
                size: 64 + i as u64 * 1000,
                checked_at: Some(1_763_740_000_123.0 + i as f64),
            },
        );
    }
    let mut added = indexmap::IndexMap::new();
    added.insert(
        "build/out.node".to_string(),
        CafsFileInfo {
            digest: sha512_hex(b"out"),
            mode: 0o755,
            size: 3,
            checked_at: None,
        },
    );
    let mut side_effects = indexmap::IndexMap::new();
    side_effects.insert(
        "linux;x64;node20;format=2".to_string(),
        SideEffectsDiff {
            added: Some(added),
            deleted: Some(vec!["a.js".into()]),
        },
    );
    PackageFilesIndex {
        manifest: Some(serde_json::json!({
            "name": "sample", "version": "1.0.0", "n": 100, "neg": -5, "big": 5_000_000_000u64,
            "f": 1.5, "nil": null, "arr": [1, "two", {"three": 3}], "bin": {"x": "bin/x"}
        })),
        requires_build: Some(true),
        requires_prepare: None,
        algo: "sha512".into(),
        files,
        side_effects: Some(side_effects),
        tar_integrity: Some("sha512-abc".into()),
    }
}

#[test]
fn row_round_trip() {
    let row = sample_row();
    assert_eq!(msgpackr::decode(&msgpackr::encode(&row)).unwrap(), row);
    let minimal = PackageFilesIndex {
        algo: "sha512".into(),
        ..Default::default()
    };
    assert_eq!(
        msgpackr::decode(&msgpackr::encode(&minimal)).unwrap(),
        minimal
    );
}

/// A git dependency's prepared row carries `requiresPrepare`, written right after
/// `requiresBuild` as pnpm 12 writes it, and kept when tack rewrites the row.
#[test]
fn requires_prepare_round_trips_in_pnpm_field_order() {
    let row = PackageFilesIndex {
        requires_prepare: Some(true),
        ..sample_row()
    };
    let bytes = msgpackr::encode(&row);
    assert_eq!(msgpackr::decode(&bytes).unwrap(), row);
    let at = |needle: &[u8]| {
        bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("{} not encoded", String::from_utf8_lossy(needle)))
    };
    assert!(at(b"requiresBuild") < at(b"requiresPrepare"));
    assert!(at(b"requiresPrepare") < at(b"manifest"));
}

#[test]
fn integers_in_record_id_range_survive() {
    for i in [
        0i64,
        63,
        64,
        100,
        127,
        128,
        255,
        256,
        65535,
        65536,
        4294967295,
        -1,
        -32,
        -33,
        -128,
        -129,
        -40000,
        i64::from(i32::MIN),
    ] {
        let v = Value::Array(vec![
            Value::Int(i),
            Value::Object(vec![("k".into(), Value::Int(i))]),
        ]);
        assert_eq!(decode_value(&encode_value(&v)).unwrap(), v, "{i}");
    }
    // 64 written as `cc 40`, never as the bare byte 0x40 (a record reference).
    assert_eq!(encode_value(&Value::Int(64)), [0xcc, 0x40]);
    // Outside the 32-bit ranges a JS number is a float64.
    assert_eq!(encode_value(&Value::Int(5_000_000_000))[0], 0xcb);
}

#[test]
fn more_than_64_record_shapes_wrap_slot_ids() {
    let items: Vec<Value> = (0..150)
        .map(|i| Value::Object(vec![(format!("k{}", i % 100), Value::Int(i))]))
        .collect();
    let v = Value::Array(items);
    let bytes = encode_value(&v);
    assert_eq!(decode_value(&bytes).unwrap(), v);
}

#[test]
fn other_types_round_trip() {
    let v = Value::Object(vec![
        ("u".into(), Value::Undefined),
        ("n".into(), Value::Nil),
        ("t".into(), Value::Bool(true)),
        ("f".into(), Value::F64(0.25)),
        ("f32".into(), Value::F32(1.5)),
        ("bin".into(), Value::Bin(vec![1, 2, 3])),
        ("s".into(), Value::Str("x".repeat(300))),
        ("ü✓".into(), Value::Str("ünïcode ✓".into())),
        (
            "map".into(),
            Value::Map(vec![(Value::Int(1), Value::Str("one".into()))]),
        ),
        ("ext".into(), Value::Ext(5, vec![9; 8])),
        (
            "arr".into(),
            Value::Array((0..20).map(Value::Int).collect()),
        ),
        ("empty".into(), Value::Object(vec![])),
    ]);
    assert_eq!(decode_value(&encode_value(&v)).unwrap(), v);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    // Every truncation of a real row.
    for len in 0..LOCAL_A.len() {
        assert!(
            msgpackr::decode(&LOCAL_A[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
    // Trailing bytes.
    let mut long = LOCAL_A.to_vec();
    long.push(0);
    assert!(msgpackr::decode(&long).is_err());
    // Single byte flips anywhere: must not panic (may or may not decode).
    for i in 0..LOCAL_B.len() {
        let mut b = LOCAL_B.to_vec();
        b[i] ^= 0xff;
        let _ = msgpackr::decode(&b);
    }
    // Hostile lengths and nesting.
    assert!(decode_value(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
    assert!(decode_value(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a']).is_err());
    assert!(decode_value(&vec![0x91; 100_000]).is_err());
    assert!(decode_value(&[0xc1]).is_err());
    // Well-formed msgpack that is not a row.
    assert!(msgpackr::decode(&encode_value(&Value::Int(3))).is_err());
    assert!(msgpackr::decode(&encode_value(&Value::Object(vec![(
        "algo".into(),
        Value::Str("sha512".into())
    )])))
    .is_err());
    let err = msgpackr::decode(&[0x92]).unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_STORE_INDEX_DECODE");
}

#[test]
fn checked_at_is_written_as_whole_milliseconds() {
    let mut row = sample_row();
    row.files[0].checked_at = Some(1_763_740_000_123.75);
    let back = msgpackr::decode(&msgpackr::encode(&row)).unwrap();
    assert_eq!(back.files[0].checked_at, Some(1_763_740_000_123.0));
}
