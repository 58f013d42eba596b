//! Criterion micro-benchmarks of the lockfile hot paths: parsing the 1,500-entry
//! `tests/fixtures/medium.yaml` (the frozen install's first step; target < 10 ms) and
//! `dep_path_to_filename` over all its snapshot keys (once per package per install).

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tack_lockfile::{dep_path_to_filename, Lockfile, DEFAULT_VIRTUAL_STORE_DIR_MAX_LENGTH};

fn medium() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/medium.yaml");
    std::fs::read_to_string(&path).expect("medium.yaml")
}

fn parse(c: &mut Criterion) {
    let text = medium();
    let path = Path::new("pnpm-lock.yaml");
    let entries = Lockfile::from_str(&text, path)
        .expect("parse")
        .packages
        .len();
    let mut group = c.benchmark_group("lockfile");
    group.throughput(Throughput::Elements(entries as u64));
    group.bench_function("parse_medium", |b| {
        b.iter(|| Lockfile::from_str(black_box(&text), path).expect("parse"))
    });
    group.finish();
}

fn filenames(c: &mut Criterion) {
    let lockfile = Lockfile::from_str(&medium(), Path::new("pnpm-lock.yaml")).expect("parse");
    let keys: Vec<&String> = lockfile.snapshots.keys().collect();
    let mut group = c.benchmark_group("lockfile");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("dep_path_to_filename_medium", |b| {
        b.iter(|| {
            for key in &keys {
                black_box(dep_path_to_filename(
                    black_box(key),
                    DEFAULT_VIRTUAL_STORE_DIR_MAX_LENGTH,
                ));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse, filenames);
criterion_main!(benches);
