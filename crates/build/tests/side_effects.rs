//! Side-effects cache: pnpm's object-hash, the cache key, the diff of a built package and
//! applying a cached entry.

use indexmap::IndexMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tack_build::side_effects::{hash_object, hash_object_without_sorting, HashValue};
use tack_build::{
    apply_side_effects, calc_dep_state, compute_side_effects_diff, engine_name, full_pkg_id,
    DepStateCache, DepStateGraph, DepStateNode,
};
use tack_store_dir::{CafsFileInfo, PackageFilesIndex, SideEffectsDiff, StoreDir};

fn s(v: &str) -> HashValue {
    HashValue::Str(v.to_string())
}

fn obj(entries: Vec<(&str, HashValue)>) -> HashValue {
    HashValue::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

#[test]
fn object_hash_matches_pnpms_test_vectors() {
    // From pnpm's crypto/object-hasher tests.
    let v = obj(vec![
        ("b", HashValue::Number(1.0)),
        ("a", HashValue::Number(2.0)),
    ]);
    assert_eq!(
        hash_object(&v),
        "48AVoXIXcTKcnHt8qVKp5vNw4gyOB5VfztHwtYBRcAQ="
    );
    assert_eq!(
        hash_object_without_sorting(&v),
        "mh+rYklpd1DBj/dg6dnG+yd8BQhU2UiUoRMSXjPV1JA="
    );
}

#[test]
fn object_hash_serialization_matches_node() {
    // object-hash's stream for {id, deps: {b, a}} with sorted keys, hashed by Node itself.
    // Non-ASCII text checks the UTF-16 length prefix.
    let text = "object:2:string:4:deps:object:2:string:1:a:string:2:é1,string:1:b:string:1:x,,string:2:id:string:7:p@1:sha,";
    let out = std::process::Command::new("node")
        .arg("-e")
        .arg("process.stdout.write(require('crypto').createHash('sha256').update(process.argv[1]).digest('base64'))")
        .arg(text)
        .output()
        .unwrap();
    let expected = String::from_utf8(out.stdout).unwrap();
    let v = obj(vec![
        ("id", s("p@1:sha")),
        ("deps", obj(vec![("b", s("x")), ("a", s("é1"))])),
    ]);
    assert_eq!(hash_object(&v), expected);
}

/// `ec-top → ec-a ⇄ ec-b` as the test registry publishes them; pnpm 12.21 built `ec-b` and
/// `ec-top` and recorded the keys the test below expects.
fn cyclic_graph() -> DepStateGraph {
    let mut g = DepStateGraph::new();
    for (name, integrity, child) in [
        ("ec-a", "sha512-jdM8L1gjQpYEYV8GrgqDpeZuykIErippFBt64e2VwoaOCqGTn8s2OmPdwKPibcdqATjxIZgWAINYSZxW7nF9wg==", "ec-b"),
        ("ec-b", "sha512-YiyRZzjj2gAk/05U1JmDhttVUL5/20G605cv1qkzm+T+WuRL163u54/7zB0P3sPYdqZjB2xlar7wGr11XYnmwA==", "ec-a"),
        ("ec-top", "sha512-cBGSuwA6n0RYjThsNyQjW2GdCMpZ+M9FjfZ3I1W/lU2YQRqNHz1/G4ZJwzMQemkhNCE3ZTUxT47dKSDbEVRjzA==", "ec-a"),
    ] {
        let key = format!("{name}@1.0.0");
        let mut children = IndexMap::new();
        children.insert(child.to_string(), format!("{child}@1.0.0"));
        g.insert(
            key.clone(),
            DepStateNode {
                full_pkg_id: full_pkg_id(&key, integrity),
                children,
            },
        );
    }
    g
}

#[test]
fn cache_key_format_and_deps_hash_like_pnpm() {
    let engine = engine_name(20);
    assert!(engine.ends_with(";node20;format=2"), "{engine}");
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        assert_eq!(engine, "linux;x64;node20;format=2");
    }
    let g = cyclic_graph();
    let mut cache = DepStateCache::new();
    for (dep_path, deps) in [
        ("ec-b@1.0.0", "NfK2d98opsVfgqBk4hXO4CXT2JNwr4rB3UkhUabdiFo="),
        (
            "ec-top@1.0.0",
            "J/DrZHPIstrrbH1OL3gNHHlTFPLwOk3HVl/YtDoR4Ho=",
        ),
    ] {
        let key = calc_dep_state(&g, &mut cache, dep_path, &engine, true, None);
        assert_eq!(key, format!("{engine};deps={deps}"), "{dep_path}");
    }
    let expected = "NfK2d98opsVfgqBk4hXO4CXT2JNwr4rB3UkhUabdiFo=";
    let key = calc_dep_state(
        &g,
        &mut DepStateCache::new(),
        "ec-b@1.0.0",
        &engine,
        true,
        Some("abc"),
    );
    assert_eq!(key, format!("{engine};deps={expected};patch=abc"));
    // Only patched, no scripts ran: no deps part.
    let key = calc_dep_state(
        &g,
        &mut DepStateCache::new(),
        "ec-b@1.0.0",
        &engine,
        false,
        Some("abc"),
    );
    assert_eq!(key, format!("{engine};patch=abc"));
}

fn store_file(store: &StoreDir, content: &[u8], mode: u32) -> CafsFileInfo {
    let digest = store.write_cas_file(content, mode & 0o111 != 0).unwrap();
    CafsFileInfo {
        digest,
        mode,
        size: content.len() as u64,
        checked_at: None,
    }
}

fn write(dir: &Path, rel: &str, content: &[u8], mode: u32) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn diff_finds_added_changed_mode_and_deleted_files_ignoring_node_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let store = StoreDir::new(tmp.path().join("store/v11"));
    store.ensure_layout().unwrap();
    let mut base = IndexMap::new();
    base.insert("package.json".to_string(), store_file(&store, b"{}", 0o644));
    base.insert("same.js".to_string(), store_file(&store, b"same", 0o644));
    base.insert(
        "bin.js".to_string(),
        store_file(&store, b"#!/usr/bin/env node", 0o644),
    );
    base.insert("changed.js".to_string(), store_file(&store, b"v1", 0o644));
    base.insert("gone.js".to_string(), store_file(&store, b"gone", 0o644));
    base.insert(
        "node_modules/bundled/index.js".to_string(),
        store_file(&store, b"bundled", 0o644),
    );
    let pkg = tmp.path().join("pkg");
    write(&pkg, "package.json", b"{}", 0o644);
    write(&pkg, "same.js", b"same", 0o644);
    write(&pkg, "bin.js", b"#!/usr/bin/env node", 0o755);
    write(&pkg, "changed.js", b"v2", 0o644);
    write(&pkg, "build/Release/addon.node", b"\x7fELF", 0o755);
    write(&pkg, "node_modules/.bin/x", b"shim", 0o755);

    let diff = compute_side_effects_diff(&pkg, &base, &store).unwrap();
    let added = diff.added.clone().unwrap();
    let mut keys: Vec<&str> = added.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec!["bin.js", "build/Release/addon.node", "changed.js"]
    );
    assert_eq!(added["bin.js"].mode & 0o777, 0o755);
    assert_eq!(added["bin.js"].digest, base["bin.js"].digest);
    assert_eq!(added["changed.js"].size, 2);
    assert!(added["changed.js"].checked_at.is_some());
    assert_eq!(diff.deleted, Some(vec!["gone.js".to_string()]));
    // The new content is in the CAS, exec files with the -exec suffix.
    let addon = &added["build/Release/addon.node"];
    assert_eq!(
        std::fs::read(store.cas_path(&addon.digest, true)).unwrap(),
        b"\x7fELF"
    );
    let changed = &added["changed.js"];
    assert_eq!(
        std::fs::read(store.cas_path(&changed.digest, false)).unwrap(),
        b"v2"
    );
}

#[test]
fn applying_a_cached_entry_overlays_added_and_removes_deleted() {
    let info = |d: char, mode| CafsFileInfo {
        digest: d.to_string().repeat(128),
        mode,
        size: 1,
        checked_at: None,
    };
    let mut files = IndexMap::new();
    files.insert("package.json".to_string(), info('a', 0o644));
    files.insert("index.js".to_string(), info('b', 0o644));
    files.insert("gone.js".to_string(), info('c', 0o644));
    let mut added = IndexMap::new();
    added.insert("index.js".to_string(), info('d', 0o755));
    added.insert("build/out.node".to_string(), info('e', 0o755));
    let key = "linux;x64;node20;format=2;deps=xyz";
    let mut side_effects = IndexMap::new();
    side_effects.insert(
        key.to_string(),
        SideEffectsDiff {
            added: Some(added),
            deleted: Some(vec!["gone.js".to_string()]),
        },
    );
    let mut row = PackageFilesIndex {
        algo: "sha512".into(),
        files,
        side_effects: Some(side_effects),
        ..PackageFilesIndex::default()
    };
    let out = apply_side_effects(&row, key).unwrap().unwrap();
    let keys: Vec<&str> = out.keys().map(String::as_str).collect();
    assert_eq!(keys, vec!["package.json", "index.js", "build/out.node"]);
    assert_eq!(out["index.js"].digest, "d".repeat(128));
    assert!(apply_side_effects(&row, "linux;x64;node22;format=2")
        .unwrap()
        .is_none());

    for evil in ["../escape.js", "/etc/passwd", "a/../../b"] {
        let entry = row.side_effects.as_mut().unwrap().get_mut(key).unwrap();
        entry
            .added
            .as_mut()
            .unwrap()
            .insert(evil.to_string(), info('f', 0o644));
        let err = apply_side_effects(&row, key).unwrap_err();
        assert_eq!(err.code(), "ERR_TACK_SIDE_EFFECTS_PATH", "{evil}");
        let entry = row.side_effects.as_mut().unwrap().get_mut(key).unwrap();
        entry.added.as_mut().unwrap().shift_remove(evil);
    }
}
