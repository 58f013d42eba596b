//! Criterion micro-benchmark of `sha512_many`, the hashing that names every file a cold
//! install writes to the store, against hashing each message alone with `sha2`.
//!
//! The batches imitate npm tarballs: each holds one package's files, mostly a few KiB with
//! a long tail, plus the tarball itself (the integrity hash rides along in the batch), so
//! that the lanes run out of work the way they do in an install.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha2::{Digest, Sha512};
use tack_store_dir::sha512_many;

/// A small deterministic generator: the sizes need a shape, not good randomness.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Roughly log-uniform between 2^lo and 2^hi bytes.
    fn size(&mut self, lo: u32, hi: u32) -> usize {
        let bits = lo + (self.next() % u64::from(hi - lo + 1)) as u32;
        let base = 1usize << bits;
        base + (self.next() as usize % base)
    }
}

/// Package-shaped batches: between 1 and 200 files of 256 B to 256 KiB (a few up to
/// 4 MiB), and a "tarball" of a third of their total.
fn npm_like_batches() -> Vec<Vec<Vec<u8>>> {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    (0..120)
        .map(|_| {
            let files = 1 + (rng.next() % 200) as usize;
            let mut batch: Vec<Vec<u8>> = (0..files)
                .map(|_| {
                    let len = if rng.next().is_multiple_of(100) {
                        rng.size(18, 21)
                    } else {
                        rng.size(8, 15)
                    };
                    vec![(len % 251) as u8; len]
                })
                .collect();
            let total: usize = batch.iter().map(Vec::len).sum();
            batch.push(vec![7; total / 3]);
            batch
        })
        .collect()
}

fn hash(c: &mut Criterion) {
    let batches = npm_like_batches();
    let bytes: usize = batches.iter().flatten().map(Vec::len).sum();
    let mut group = c.benchmark_group("sha512_npm_like");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    group.bench_function("sha512_many", |b| {
        b.iter(|| {
            for batch in &batches {
                let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
                black_box(sha512_many(black_box(&refs)));
            }
        })
    });
    group.bench_function("one_at_a_time", |b| {
        b.iter(|| {
            for message in batches.iter().flatten() {
                black_box(Sha512::digest(black_box(message)));
            }
        })
    });
    group.finish();

    // The end of a batch (a few long messages left, fewer than the lanes), and a full
    // register of eight for comparison.
    for count in [2usize, 3, 4, 8] {
        let messages: Vec<Vec<u8>> = (0..count).map(|i| vec![i as u8; 1 << 20]).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let mut group = c.benchmark_group(format!("sha512_{count}_long"));
        group.throughput(Throughput::Bytes((count << 20) as u64));
        group.sample_size(20);
        group.bench_function("sha512_many", |b| {
            b.iter(|| black_box(sha512_many(black_box(&refs))))
        });
        group.bench_function("one_at_a_time", |b| {
            b.iter(|| {
                for m in &refs {
                    black_box(Sha512::digest(black_box(m)));
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, hash);
criterion_main!(benches);
