//! Criterion micro-benchmark of the warm-install hot loop: importing one large package
//! (2,500 files in 100 directories) from a fake CAS directory into a fresh virtual store
//! with `import_package`, reported in files per second, for hardlinks and for copies.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tack_linker::{import_package, ImportMethod, PackageFiles, PackageImporter, PlannedPackage};

const FILES: usize = 2500;

/// Writes `FILES` small files into `<cas>/files/XX/<hash>` and returns the package's file list.
fn fake_cas(cas: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::with_capacity(FILES);
    for i in 0..FILES {
        let digest = format!("{:0128x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let shard = cas.join("files").join(&digest[126..]);
        std::fs::create_dir_all(&shard).expect("shard");
        let src = shard.join(&digest[..126]);
        std::fs::write(&src, format!("module.exports = {i};\n").repeat(1 + i % 8)).expect("file");
        let rel = if i == 0 {
            "package.json".to_string()
        } else {
            format!("lib/dir-{}/file-{i}.js", i % 100)
        };
        files.push((rel, src));
    }
    files
}

fn plan(files: &[(String, PathBuf)]) -> PlannedPackage {
    PlannedPackage {
        dep_path: "big@1.0.0".into(),
        dir_name: "big@1.0.0".into(),
        name: "big".into(),
        version: "1.0.0".into(),
        files: PackageFiles::Cas(files.to_vec()),
        children: Vec::new(),
        has_bin: false,
        has_bundled_dependencies: false,
        unlinked_optional_children: Vec::new(),
        force_copy: false,
    }
}

fn link(c: &mut Criterion) {
    let cas = tempfile::tempdir().expect("cas dir");
    let pkg = plan(&fake_cas(cas.path()));
    let mut group = c.benchmark_group("import_package_2500_files");
    group.throughput(Throughput::Elements(FILES as u64));
    group.sample_size(10);
    for (label, method) in [
        ("hardlink", ImportMethod::Hardlink),
        ("copy", ImportMethod::Copy),
    ] {
        let importer = PackageImporter::new(method);
        group.bench_function(label, |b| {
            b.iter_batched(
                || tempfile::tempdir_in(cas.path()).expect("virtual store"),
                |vs| {
                    import_package(&pkg, vs.path(), &importer).expect("import");
                    vs // dropped (deleted) outside the measurement
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, link);
criterion_main!(benches);
