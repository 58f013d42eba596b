//! Criterion micro-benchmarks of the store index hot paths: encoding and decoding one
//! `index.db` row with the msgpackr codec, and the batched read of 900 keys
//! (`StoreIndex::get_many`, one `IN (…)` query) that a warm install starts with.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use indexmap::IndexMap;
use tack_store_dir::{
    msgpackr, store_index_key, CafsFileInfo, PackageFilesIndex, StoreDir, StoreIndex,
};

/// A row shaped like a mid-sized npm package: a trimmed manifest and `files` entries.
fn row(n: u64, files: usize) -> PackageFilesIndex {
    let mut map = IndexMap::new();
    for i in 0..files {
        let path = if i == 0 {
            "package.json".to_string()
        } else {
            format!("lib/module-{i}/index.js")
        };
        map.insert(
            path,
            CafsFileInfo {
                digest: format!("{:0128x}", n * 10_000 + i as u64),
                mode: if i % 7 == 0 { 0o755 } else { 0o644 },
                size: 1000 + i as u64,
                checked_at: Some(1_700_000_000_000.0 + i as f64),
            },
        );
    }
    PackageFilesIndex {
        manifest: Some(serde_json::json!({
            "name": format!("package-{n}"),
            "version": "1.2.3",
            "bin": {"tool": "bin/tool.js"},
            "dependencies": {"a": "^1.0.0", "b": "^2.0.0", "c": "~3.1.0"},
            "engines": {"node": ">=18"},
        })),
        requires_build: Some(false),
        requires_prepare: None,
        algo: "sha512".into(),
        files: map,
        side_effects: None,
        tar_integrity: None,
    }
}

fn codec(c: &mut Criterion) {
    let row = row(1, 40);
    let bytes = msgpackr::encode(&row);
    let mut group = c.benchmark_group("msgpackr_row_40_files");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| msgpackr::encode(black_box(&row))));
    group.bench_function("decode", |b| {
        b.iter(|| msgpackr::decode(black_box(&bytes)).expect("decode"))
    });
    group.finish();
}

fn get_many(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = StoreDir::new(dir.path().join("v11"));
    let index = StoreIndex::open(&store).expect("open index.db");
    let rows: Vec<(String, PackageFilesIndex)> = (0..2000)
        .map(|n| {
            let key = store_index_key(&format!("sha512-{n:086}=="), &format!("pkg-{n}@1.0.0"));
            (key, row(n, 12))
        })
        .collect();
    index.put_many(&rows).expect("fill index.db");
    let keys: Vec<String> = rows
        .iter()
        .step_by(2)
        .take(900)
        .map(|(k, _)| k.clone())
        .collect();
    let mut group = c.benchmark_group("index_db");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("get_many_900", |b| {
        b.iter(|| {
            let got = index.get_many(black_box(&keys)).expect("get_many");
            assert_eq!(got.len(), 900);
            got
        })
    });
    group.finish();
}

criterion_group!(benches, codec, get_many);
criterion_main!(benches);
