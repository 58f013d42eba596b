//! Gunzip + untar + sha512 + CAS write of a batch of real tarballs, in MB/s of unpacked tar.
//!
//! Tarballs: every `*.tgz` under `$TACK_BENCH_TARBALLS` (e.g. a test-registry mirror, or a
//! temp dir filled with `npm pack <pkg>`), plus tarballs packed at bench time from real
//! source files on disk (the crates in cargo's registry cache), so the bench always runs.
//!
//! Groups: `gunzip` compares flate2 (zlib-rs, streaming) with two one-shot inflaters,
//! zune-inflate and libdeflate (the one the fetcher uses for bodies it holds whole);
//! `pipeline` runs both extraction paths (streamed: `unpack_tarball`; whole body:
//! `unpack_tarball_bytes`) into a memory sink (hash only) and into a fresh on-disk store.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sha2::Digest;
use tack_store_dir::StoreDir;
use tack_tarball::{unpack_tarball, unpack_tarball_bytes, CasSink, CasWriteError, ExtractCaps};

struct HashOnly;

impl CasSink for HashOnly {
    fn write(&self, content: &[u8], _exec: bool) -> Result<String, CasWriteError> {
        Ok(hex::encode(sha2::Sha512::digest(content)))
    }
}

fn find_tgz(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            find_tgz(&p, out);
        } else if p.extension().is_some_and(|x| x == "tgz") {
            out.push(p);
        }
    }
}

/// Packs up to `max_files` files of `dir` (recursively) into an npm-shaped `.tgz`.
fn pack_dir(dir: &Path, max_files: usize) -> Option<Vec<u8>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if files.len() < max_files {
                files.push(p);
            }
        }
    }
    if files.is_empty() {
        return None;
    }
    files.sort();
    let mut builder = tar::Builder::new(Vec::new());
    let mut has_manifest = false;
    for f in &files {
        let data = std::fs::read(f).ok()?;
        let rel = f
            .strip_prefix(dir)
            .ok()?
            .to_string_lossy()
            .replace('\\', "/");
        has_manifest |= rel == "package.json";
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        builder
            .append_data(&mut h, format!("package/{rel}"), &data[..])
            .ok()?;
    }
    if !has_manifest {
        let pj = br#"{"name":"bench","version":"1.0.0"}"#;
        let mut h = tack_header(pj.len());
        builder
            .append_data(&mut h, "package/package.json", &pj[..])
            .ok()?;
    }
    let tar = builder.into_inner().ok()?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&tar).ok()?;
    gz.finish().ok()
}

fn tack_header(len: usize) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(len as u64);
    h.set_mode(0o644);
    h
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os("TACK_BENCH_TARBALLS") {
        let mut paths = Vec::new();
        find_tgz(Path::new(&dir), &mut paths);
        paths.sort();
        for p in paths {
            if let Ok(bytes) = std::fs::read(&p) {
                out.push((p.display().to_string(), bytes));
            }
        }
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(src) = home.map(|h| h.join("registry").join("src")) {
        let mut crates = Vec::new();
        for index in std::fs::read_dir(&src).into_iter().flatten().flatten() {
            for krate in std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                crates.push(krate.path());
            }
        }
        crates.sort();
        // A spread of sizes: small crates and a few big ones, like an npm tree.
        for krate in crates.iter().step_by((crates.len() / 40).max(1)).take(40) {
            if let Some(tgz) = pack_dir(krate, 2000) {
                out.push((krate.display().to_string(), tgz));
            }
        }
    }
    out
}

fn gunzip_flate2(tgz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(tgz)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gunzip_zune(tgz: &[u8]) -> Vec<u8> {
    let opts = zune_inflate::DeflateOptions::default().set_confirm_checksum(false);
    zune_inflate::DeflateDecoder::new_with_options(tgz, opts)
        .decode_gzip()
        .unwrap()
}

/// An empty store in a temp dir (kept alive with it).
fn fresh_store() -> (tempfile::TempDir, StoreDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    store.ensure_layout().unwrap();
    (dir, store)
}

/// libdeflate needs the output size up front: the gzip trailer's ISIZE.
fn gunzip_libdeflate(tgz: &[u8]) -> Vec<u8> {
    let isize = u32::from_le_bytes(tgz[tgz.len() - 4..].try_into().unwrap()) as usize;
    let mut out = vec![0u8; isize];
    let n = libdeflater::Decompressor::new()
        .gzip_decompress(tgz, &mut out)
        .unwrap();
    out.truncate(n);
    out
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    assert!(!corpus.is_empty(), "no tarballs found");
    let compressed: u64 = corpus.iter().map(|(_, t)| t.len() as u64).sum();
    let unpacked: u64 = corpus
        .iter()
        .map(|(_, t)| gunzip_flate2(t).len() as u64)
        .sum();
    eprintln!(
        "corpus: {} tarballs, {:.1} MB compressed, {:.1} MB unpacked",
        corpus.len(),
        compressed as f64 / 1e6,
        unpacked as f64 / 1e6
    );
    for (_, t) in &corpus {
        let reference = gunzip_flate2(t);
        assert_eq!(reference, gunzip_zune(t));
        assert_eq!(reference, gunzip_libdeflate(t));
    }

    let mut g = c.benchmark_group("gunzip");
    g.throughput(Throughput::Bytes(unpacked));
    g.sample_size(10);
    g.bench_function("flate2-zlib-rs-stream", |b| {
        b.iter(|| {
            corpus
                .iter()
                .map(|(_, t)| gunzip_flate2(t).len())
                .sum::<usize>()
        })
    });
    g.bench_function("zune-inflate-oneshot", |b| {
        b.iter(|| {
            corpus
                .iter()
                .map(|(_, t)| gunzip_zune(t).len())
                .sum::<usize>()
        })
    });
    g.bench_function("libdeflate-oneshot", |b| {
        b.iter(|| {
            corpus
                .iter()
                .map(|(_, t)| gunzip_libdeflate(t).len())
                .sum::<usize>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Bytes(unpacked));
    g.sample_size(10);
    let caps = ExtractCaps::default();
    g.bench_function("streamed:gunzip+untar+sha512", |b| {
        b.iter(|| {
            for (name, t) in &corpus {
                unpack_tarball(&t[..], name, &HashOnly, &caps).unwrap();
            }
        })
    });
    g.bench_function("whole-body:gunzip+untar+sha512", |b| {
        b.iter(|| {
            for (name, t) in &corpus {
                unpack_tarball_bytes(t, name, &HashOnly, &caps).unwrap();
            }
        })
    });
    g.bench_function("whole-body:gunzip+untar+sha512+cas-write", |b| {
        b.iter_batched(
            fresh_store,
            |(dir, store)| {
                for (name, t) in &corpus {
                    unpack_tarball_bytes(t, name, &store, &caps).unwrap();
                }
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("streamed:gunzip+untar+sha512+cas-write", |b| {
        b.iter_batched(
            fresh_store,
            |(dir, store)| {
                for (name, t) in &corpus {
                    unpack_tarball(&t[..], name, &store, &caps).unwrap();
                }
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
