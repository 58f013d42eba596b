//! The streaming API: packages imported from several threads as their files "arrive", then
//! `finish` links the rest (and imports anything the caller did not).

mod common;
use common::*;
use tack_linker::*;

#[test]
fn import_from_threads_then_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let mut plan = LinkPlan::new(&root);
    for i in 0..8 {
        plan.packages
            .push(cas.package(&format!("p{i}"), "1.0.0", "", &[("index.js", "x")]));
    }
    plan.importers = vec![importer(".", &root, &[("p0", dep("p0@1.0.0"))])];
    let importer = PackageImporter::new(ImportMethod::Auto);
    let summary = std::sync::Mutex::new(ImportSummary::default());
    std::thread::scope(|s| {
        for chunk in plan.packages[..6].chunks(2) {
            let (importer, summary, vs) = (&importer, &summary, &plan.virtual_store_dir);
            s.spawn(move || {
                for pkg in chunk {
                    let outcome = import_package(pkg, vs, importer).unwrap();
                    summary.lock().unwrap().record(&pkg.dep_path, outcome);
                }
            });
        }
    });
    let summary = summary.into_inner().unwrap();
    assert_eq!(summary.outcomes.len(), 6);
    let report = finish(&plan, &summary).unwrap();
    assert_eq!(report.imported, 8);
    for i in 0..8 {
        let dir = root.join(format!("node_modules/.pnpm/p{i}@1.0.0/node_modules/p{i}"));
        assert!(dir.join("package.json").is_file(), "{}", dir.display());
    }
    assert_eq!(
        readlink(&root.join("node_modules/p0")),
        ".pnpm/p0@1.0.0/node_modules/p0"
    );
}
